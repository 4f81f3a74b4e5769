// SPDX-License-Identifier: MIT
/*
 * test_liveness.c - who is alive, exactly, when pids are reused.
 *
 * The contract says liveness is safe against pid reuse.  A member that dies
 * and whose pid goes to a new process started within the same clock tick
 * (the resolution of /proc/PID/stat's start time) must still count as dead:
 * its name is free again and a round it owed an emit ends -EOWNERDEAD, not
 * -ETIMEDOUT.
 *
 * Hitting that on purpose takes a pid namespace of our own: as root, a
 * child unshares CLONE_NEWPID | CLONE_NEWNS, and its child, pid 1 of the new
 * namespace, mounts a /proc of it, creates the broker (a broker created
 * outside would give EXDEV inside), and drives the scenario with
 * /proc/sys/kernel/ns_last_pid to hand a dead member's pid to the next fork.
 * Everything runs inside; the test process only reads the report.  The test
 * skips, saying why, when not root, when the namespace or ns_last_pid is
 * unavailable, or when REUSE_TRIES tries never put the two forks in one
 * clock tick.
 *
 * And a death early in a wait is seen at once, on both wait paths: the
 * median over EARLY_TRIALS kills 0-5 ms into the wait stays under
 * EARLY_MEDIAN_MS (a median, so a loaded machine's outliers cannot fail it;
 * the p99 is pooter-death-latency's to measure).
 *
 * POOTER_TEST_FILTER=PATTERN runs only the matching tests.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "harness.h"

#define REUSE_TRIES 200
/* a round's timeout: long beside "promptly", short enough to fail in time */
#define REUSE_TIMEOUT_MS 5000
/* EOWNERDEAD this long after the check began is prompt */
#define REUSE_PROMPT_MS 2000

enum reuse_verdict {
	REUSE_RAN = 0,
	REUSE_SKIP = 77,
	REUSE_BROKEN = 1, /* the scenario itself failed: a test failure */
};

struct reuse_report {
	int verdict;
	unsigned int tries;	  /* until the same tick was hit */
	unsigned int pid_missed;  /* tries where B did not get A's pid */
	pid_t pid;		  /* A's and B's, inside the namespace */
	unsigned long long start; /* their start time, clock ticks */
	/*
	 * A fresh process's POOTER_JOIN_WAIT join of "a" while B lives: (a)
	 * its result, (b) how the round dead A owed an emit ended, and when
	 */
	int join_rc;
	double join_ms;
	uint64_t round; /* the owed round */
	int round_state;
	int round_outcome;
	/* our own ticket for that round, settled afterwards */
	int ticket_outcome;
	char msg[240];
};

struct reuse_arg {
	char name[H_NAME_LEN];
	int report_wr;
};

/* --- inside the namespace: no cmocka, reports only ---------------------- */

/* Record the verdict and why; returns -1, for "return reuse_say(...)". */
static int __attribute__((format(printf, 3, 4)))
reuse_say(struct reuse_report *r, int verdict, const char *fmt, ...)
{
	va_list ap;

	r->verdict = verdict;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Field 22 of /proc/PID/stat, the start time in clock ticks; 0 if gone. */
static unsigned long long proc_start(pid_t pid)
{
	char path[48], buf[1024], *p;
	unsigned long long st = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p += 2; /* field 3 */
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu", &st) != 1)
		return 0;
	return st;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* A: join as "a", say how it went, then wait to be killed. */
static void __attribute__((noreturn)) member_a(const char *name, int wr)
{
	struct pooter_broker *b;
	struct pooter_emitter *e;
	int rc = pooter_broker_open(name, &b);

	if (!rc)
		rc = pooter_emitter_join(b, "a", 0, &e);
	if (h_write(wr, &rc, sizeof(rc)))
		_exit(2);
	for (;;)
		pause();
}

struct joiner_res {
	int rc;
	double ms;
	uint64_t round;
	int round_state;
	int round_outcome;
};

/*
 * C: a fresh process, with nothing cached about A, joins "a" while B lives.
 * The round A owes is open, so it joins with POOTER_JOIN_WAIT: the join
 * ends when the round does, and then takes A's name.
 */
static void __attribute__((noreturn)) joiner_c(const char *name, int wr)
{
	struct joiner_res res = { .round_state = -1 };
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	uint64_t t0;

	res.rc = pooter_broker_open(name, &b);
	if (!res.rc) {
		t0 = h_now_ns();
		res.rc = pooter_emitter_join(b, "a", POOTER_JOIN_WAIT, &e);
		res.ms = (double)(h_now_ns() - t0) / 1e6;
		memset(&st, 0, sizeof(st));
		if (pooter_broker_stat(b, &st) == 0) {
			res.round = st.round;
			res.round_state = st.round_state;
			res.round_outcome = st.round_outcome;
		}
		if (!res.rc)
			pooter_emitter_leave(e);
		pooter_broker_close(b);
	}
	_exit(h_write(wr, &res, sizeof(res)) ? 2 : 0);
}

static int write_last_pid(pid_t pid)
{
	char buf[24];
	int fd, len, ok;

	fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%d", (int)pid);
	ok = write(fd, buf, (size_t)len) == len;
	close(fd);
	return ok ? 0 : -EIO;
}

/*
 * One try: A joins, our ticket opens a round A owes, A is killed and
 * reaped, B is forked onto A's pid.  Returns 1 with *bp when B got A's pid
 * and start time (B left alive), 0 when not (cleaned up: the round ended),
 * -1 on a failure (in r).
 */
static int reuse_try(const char *name, struct pooter_broker *br,
		     struct pooter_emitter *w, struct pooter_ticket *t,
		     struct reuse_report *r, pid_t *bp)
{
	unsigned long long start_a, start_b;
	int fds[2], rc, joined;
	pid_t a, b;

	if (pipe(fds))
		return reuse_say(r, REUSE_BROKEN, "pipe: %s", strerror(errno));
	a = fork();
	if (a == 0) {
		close(fds[0]);
		member_a(name, fds[1]);
	}
	close(fds[1]);
	rc = h_read(fds[0], &joined, sizeof(joined), H_LONG_MS);
	close(fds[0]);
	if (rc || joined) {
		reap(a);
		return reuse_say(r, REUSE_BROKEN,
				 "A: join of \"a\": %d (%s), report %d", joined,
				 pooter_strerror(joined), rc);
	}
	start_a = proc_start(a);
	rc = pooter_emit_submit(w, "w", 1, t);
	if (rc || t->outcome != -EINPROGRESS) {
		reap(a);
		return reuse_say(r, REUSE_BROKEN,
				 "emit_submit: %d (%s), outcome %d", rc,
				 pooter_strerror(rc), t->outcome);
	}
	/* A dies owing its emit; B is forked onto its pid at once */
	reap(a);
	rc = write_last_pid(a - 1);
	b = fork();
	if (b == 0) {
		for (;;)
			pause();
	}
	if (rc) {
		reap(b);
		return reuse_say(r, REUSE_SKIP, "ns_last_pid: %s",
				 strerror(-rc));
	}
	start_b = proc_start(b);
	if (b == a && start_b == start_a && start_a) {
		r->pid = a;
		r->start = start_a;
		*bp = b;
		return 1;
	}
	if (b != a)
		r->pid_missed++;
	reap(b);
	/* not the same process as far as anyone can tell: A is reaped */
	pooter_broker_gc(br);
	rc = pooter_ticket_wait(t);
	if (rc != -EOWNERDEAD)
		return reuse_say(r, REUSE_BROKEN,
				 "try %u: A (pid %d) dead, B pid %d start "
				 "%llu vs %llu: round ended %d (%s), not "
				 "EOWNERDEAD",
				 r->tries, (int)a, (int)b, start_b, start_a, rc,
				 pooter_strerror(rc));
	return 0;
}

static int reuse_ns_init(const struct reuse_arg *arg, struct reuse_report *r)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 4,
		    .timeout_ms = REUSE_TIMEOUT_MS);
	struct pooter_broker *b;
	struct pooter_emitter *w;
	struct pooter_ticket t;
	struct joiner_res res;
	int rc, fds[2];
	pid_t pb = -1, pc;

	if (getpid() != 1)
		return reuse_say(r, REUSE_BROKEN, "pid %d, not 1",
				 (int)getpid());
	/* our own /proc, so /proc/PID names this namespace's pids */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL))
		return reuse_say(r, REUSE_SKIP, "mounting /proc: %s",
				 strerror(errno));
	if (access("/proc/sys/kernel/ns_last_pid", W_OK))
		return reuse_say(r, REUSE_SKIP,
				 "/proc/sys/kernel/ns_last_pid: %s",
				 strerror(errno));
	rc = pooter_broker_create(arg->name, &attr, &b);
	if (rc)
		return reuse_say(r, REUSE_BROKEN, "create: %d (%s) %s", rc,
				 pooter_strerror(rc), pooter_last_error());
	rc = pooter_emitter_join(b, "w", 0, &w);
	if (rc) {
		reuse_say(r, REUSE_BROKEN, "join of \"w\": %d (%s)", rc,
			  pooter_strerror(rc));
		goto out_close;
	}
	for (r->tries = 1; r->tries <= REUSE_TRIES; r->tries++) {
		rc = reuse_try(arg->name, b, w, &t, r, &pb);
		if (rc < 0)
			goto out_leave;
		if (rc > 0)
			break;
	}
	if (pb < 0) {
		reuse_say(r, REUSE_SKIP,
			  "the same clock tick was not hit in %d tries "
			  "(%u of them without A's pid)",
			  REUSE_TRIES, r->pid_missed);
		goto out_leave;
	}

	/* B lives, with dead A's pid and start time: (a), then (b) */
	if (pipe(fds)) {
		reuse_say(r, REUSE_BROKEN, "pipe: %s", strerror(errno));
		goto out_b;
	}
	pc = fork();
	if (pc == 0) {
		close(fds[0]);
		joiner_c(arg->name, fds[1]);
	}
	close(fds[1]);
	rc = h_read(fds[0], &res, sizeof(res), H_LONG_MS);
	close(fds[0]);
	reap(pc);
	if (rc) {
		reuse_say(r, REUSE_BROKEN, "C did not report: %d", rc);
		goto out_b;
	}
	r->join_rc = res.rc;
	r->join_ms = res.ms;
	r->round_state = res.round_state;
	r->round_outcome = res.round == t.round ? res.round_outcome : 1;
	r->round = t.round;
	r->ticket_outcome = pooter_ticket_wait(&t);
	if (proc_start(pb) != r->start)
		reuse_say(r, REUSE_BROKEN,
			  "B (pid %d) did not live through "
			  "the checks",
			  (int)pb);
	else
		r->verdict = REUSE_RAN;
out_b:
	reap(pb);
out_leave:
	pooter_emitter_leave(w);
out_close:
	pooter_broker_close(b);
	pooter_broker_unlink(arg->name);
	return 0;
}

/* The test's child: a new pid namespace for its own child to be init of. */
static int child_reuse_outer(void *p)
{
	const struct reuse_arg *arg = p;
	struct reuse_report r;
	int status;
	pid_t init;

	memset(&r, 0, sizeof(r));
	reuse_say(&r, REUSE_BROKEN, "the namespace's init did not finish");
	if (unshare(CLONE_NEWPID | CLONE_NEWNS)) {
		reuse_say(&r, REUSE_SKIP,
			  "unshare(CLONE_NEWPID|CLONE_NEWNS): %s",
			  strerror(errno));
		return h_write(arg->report_wr, &r, sizeof(r)) ? 2 : 0;
	}
	init = fork();
	if (init < 0) {
		reuse_say(&r, REUSE_BROKEN, "fork: %s", strerror(errno));
		return h_write(arg->report_wr, &r, sizeof(r)) ? 2 : 0;
	}
	if (init == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		reuse_ns_init(arg, &r);
		_exit(h_write(arg->report_wr, &r, sizeof(r)) ? 2 : 0);
	}
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

/*
 * Issue 11, defect 9: a member's pid reused within one clock tick of its
 * start time.  While B (dead A's pid and start time) lives, a fresh process
 * joins A's name with POOTER_JOIN_WAIT: (a) the join succeeds, not -EEXIST,
 * and (b) the round A owed an emit has ended -EOWNERDEAD within
 * REUSE_PROMPT_MS, not -ETIMEDOUT at its REUSE_TIMEOUT_MS timeout.
 */
static void test_pid_reuse_same_tick(void **state)
{
	struct reuse_report r;
	struct reuse_arg arg;
	struct h_pipe rep;
	pid_t pid;
	int rc;

	(void)state;
	if (geteuid() != 0) {
		print_message("[  SKIPPED ] pid reuse on purpose needs root "
			      "(a pid namespace and its ns_last_pid)\n");
		skip();
	}
	h_name(arg.name);
	h_pipe_init(&rep);
	arg.report_wr = rep.wr;
	pid = h_spawn(child_reuse_outer, &arg);
	memset(&r, 0, sizeof(r));
	rc = h_read(rep.rd, &r, sizeof(r), H_LONG_MS + REUSE_TIMEOUT_MS);
	h_expect_exit(pid, 0, H_LONG_MS);
	h_pipe_close(&rep);
	if (rc)
		fail_msg("no report from the namespace: %d", rc);
	if (r.verdict == REUSE_SKIP) {
		print_message("[  SKIPPED ] %s\n", r.msg);
		skip();
	}
	if (r.verdict != REUSE_RAN)
		fail_msg("the pid reuse scenario failed: %s", r.msg);
	print_message("pid %d reused within tick %llu after %u tries (%u "
		      "without the pid); a fresh join of the dead member's "
		      "name: %d (%s) after %.1f ms; the round it owed (%llu) "
		      "then %s, %d (%s); our ticket %d\n",
		      (int)r.pid, r.start, r.tries, r.pid_missed, r.join_rc,
		      pooter_strerror(r.join_rc), r.join_ms,
		      (unsigned long long)r.round,
		      r.round_state == POOTER_ROUND_CLOSED ? "closed" : "open",
		      r.round_outcome, pooter_strerror(r.round_outcome),
		      r.ticket_outcome);
	if (r.join_rc != 0)
		fail_msg("join of dead member a's name while a live process "
			 "has its pid and start time: %d (%s) after %.1f ms, "
			 "expected 0",
			 r.join_rc, pooter_strerror(r.join_rc), r.join_ms);
	if (r.round_state != POOTER_ROUND_CLOSED ||
	    r.round_outcome != -EOWNERDEAD || r.join_ms > REUSE_PROMPT_MS)
		fail_msg("the round dead member a owed an emit: %s, %d (%s) "
			 "when the join returned after %.1f ms; expected "
			 "-EOWNERDEAD within %d ms",
			 r.round_state == POOTER_ROUND_CLOSED ? "closed" :
								"open",
			 r.round_outcome, pooter_strerror(r.round_outcome),
			 r.join_ms, REUSE_PROMPT_MS);
	assert_int_equal(r.ticket_outcome, -EOWNERDEAD);
}

/* --- a death early in the wait (issue 11, defect 7) --------------------- */

#define EARLY_TRIALS 21
#define EARLY_SPAN_NS (5 * H_NS_PER_MS) /* kills 0-5 ms into the wait */
#define EARLY_MEDIAN_MS 5.0

struct early_killer {
	const char *broker;
	pid_t victim;
	uint64_t delay;
	struct h_pipe go;   /* the waiter's t_wait */
	struct h_pipe done; /* our t_kill */
};

/*
 * Sleep until t_wait + delay (the deliberate delay under test), make sure
 * the waiter's emit is in the open round (the blocking call contributes
 * just after saying it waits), then kill the victim and report when.
 */
static int child_early_killer(void *arg)
{
	struct early_killer *k = arg;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	uint64_t t_wait, t, give_up;

	C_EQ(pooter_broker_open(k->broker, &b), 0);
	C_EQ(h_read(k->go.rd, &t_wait, sizeof(t_wait), H_LONG_MS), 0);
	h_sleep_until_ns(t_wait + k->delay);
	give_up = h_now_ns() + (uint64_t)H_LONG_MS * H_NS_PER_MS;
	for (;;) {
		C_EQ(pooter_broker_stat(b, &st), 0);
		if (st.round_state == POOTER_ROUND_OPEN &&
		    st.round_emitted >= 1)
			break;
		C_CHECK(h_now_ns() < give_up);
		sched_yield();
	}
	t = h_now_ns();
	C_EQ(kill(k->victim, SIGKILL), 0);
	C_EQ(h_write(k->done.wr, &t, sizeof(t)), 0);
	pooter_broker_close(b);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One path: EARLY_TRIALS kills; returns the median latency in ms. */
static double early_deaths(bool async, double *max_ms)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .timeout_ms = H_LONG_MS);
	double lat[EARLY_TRIALS];
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct io_uring ring;
	char name[H_NAME_LEN];
	uint64_t ud = 0;
	int i, rc;

	b = h_create(name, &attr);
	assert_int_equal(pooter_emitter_join(b, "waiter", 0, &e), 0);
	if (async)
		assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	for (i = 0; i < EARLY_TRIALS; i++) {
		struct early_killer k = { .broker = name };
		struct h_peer victim;
		uint64_t t_wait, t_kill, t_done;
		pid_t killer;

		h_peer_start(&victim, name);
		assert_int_equal(h_peer_join_emitter(&victim, "victim", 0), 0);
		k.victim = victim.pid;
		k.delay = EARLY_SPAN_NS * (uint64_t)i / (EARLY_TRIALS - 1);
		h_pipe_init(&k.go);
		h_pipe_init(&k.done);
		killer = h_spawn(child_early_killer, &k);
		if (async) {
			struct pooter_ticket t;
			struct io_uring_cqe *cqe;
			struct __kernel_timespec ts = { .tv_sec = H_LONG_MS /
								  1000 };

			assert_int_equal(pooter_emit_submit(e, "w", 1, &t), 0);
			assert_int_equal(t.outcome, -EINPROGRESS);
			ud += 2;
			rc = pooter_prep_round_wait(&ring, &t, ud);
			assert_true(rc >= 1);
			assert_true(io_uring_submit(&ring) >= 0);
			t_wait = h_now_ns();
			assert_int_equal(
				h_write(k.go.wr, &t_wait, sizeof(t_wait)), 0);
			for (;;) {
				rc = io_uring_wait_cqe_timeout(&ring, &cqe,
							       &ts);
				if (rc == -EINTR)
					continue;
				if (rc < 0)
					fail_msg("no CQE within %d ms: %s",
						 H_LONG_MS, strerror(-rc));
				if (pooter_cqe_is_aux(cqe) ||
				    cqe->user_data != ud) {
					io_uring_cqe_seen(&ring, cqe);
					continue;
				}
				rc = pooter_round_complete(&ring, &t, cqe);
				io_uring_cqe_seen(&ring, cqe);
				if (rc == 1)
					break;
				assert_int_equal(rc, 0);
				assert_true(io_uring_submit(&ring) >= 0);
			}
			t_done = h_now_ns();
			rc = t.outcome;
		} else {
			t_wait = h_now_ns();
			assert_int_equal(
				h_write(k.go.wr, &t_wait, sizeof(t_wait)), 0);
			rc = pooter_emit(e, "w", 1, NULL);
			t_done = h_now_ns();
		}
		assert_int_equal(h_read(k.done.rd, &t_kill, sizeof(t_kill),
					H_LONG_MS),
				 0);
		h_expect_ok(killer);
		if (rc != -EOWNERDEAD)
			fail_msg("%s wait, kill %.2f ms into it: %d (%s), "
				 "expected -EOWNERDEAD",
				 async ? "io_uring" : "blocking",
				 (double)(t_kill - t_wait) / 1e6, rc,
				 pooter_strerror(rc));
		lat[i] = (double)(t_done - t_kill) / 1e6;
		/* the victim is gone: reap it, close its pipes */
		h_kill(victim.pid);
		close(victim.cmd_wr);
		close(victim.res_rd);
		close(victim.ack_rd);
		h_pipe_close(&k.go);
		h_pipe_close(&k.done);
	}
	if (async)
		io_uring_queue_exit(&ring);
	assert_int_equal(pooter_emitter_leave(e), 0);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
	qsort(lat, EARLY_TRIALS, sizeof(lat[0]), cmp_double);
	*max_ms = lat[EARLY_TRIALS - 1];
	return lat[EARLY_TRIALS / 2];
}

/*
 * Issue 11, defect 7: a participant killed 0-5 ms into a wait for its emit
 * is seen by the blocking and by the io_uring wait within EARLY_MEDIAN_MS,
 * median over EARLY_TRIALS (the target is 2 ms p99, measured by
 * pooter-death-latency).  Where io_uring is available only: the futex-only
 * path re-checks liveness every 50 ms by design.
 */
static void test_death_early_in_wait(void **state)
{
	double med[2], max[2];

	(void)state;
	if (pooter_uring_supported() != 0) {
		print_message("[  SKIPPED ] the io_uring API is unavailable "
			      "here (%s): the futex-only path re-checks "
			      "liveness every 50 ms by design\n",
			      pooter_last_error());
		skip();
	}
	med[0] = early_deaths(false, &max[0]);
	med[1] = early_deaths(true, &max[1]);
	print_message("death 0-5 ms into the wait, %d kills per path: "
		      "blocking median %.3f ms (max %.3f), io_uring median "
		      "%.3f ms (max %.3f)\n",
		      EARLY_TRIALS, med[0], max[0], med[1], max[1]);
	if (med[0] >= EARLY_MEDIAN_MS || med[1] >= EARLY_MEDIAN_MS)
		fail_msg("a death 0-5 ms into the wait is seen after a median "
			 "of %.3f ms (blocking) and %.3f ms (io_uring), "
			 "expected under %.0f ms on both",
			 med[0], med[1], EARLY_MEDIAN_MS);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pid_reuse_same_tick, h_teardown),
		cmocka_unit_test_teardown(test_death_early_in_wait, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
