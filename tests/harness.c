// SPDX-License-Identifier: MIT
/*
 * harness.c - fork, pipe and peer helpers of the pooter test suites.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"

#define H_MAX_CHILDREN 512
#define H_MAX_BROKERS 512

static pid_t h_children[H_MAX_CHILDREN];
static unsigned int h_nchildren;
static char h_brokers[H_MAX_BROKERS][H_NAME_LEN];
static unsigned int h_nbrokers;
static struct pooter_broker *h_handles[H_MAX_BROKERS];
static unsigned int h_nhandles;
static unsigned int h_counter;
static int h_in_child;

void h_child_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[child %d] %s:%d: ", (int)getpid(), file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

/* --- running a suite ---------------------------------------------------- */

static unsigned int h_skipped;

void h_skip(const char *file, int line)
{
	h_skipped++;
	_skip(file, line);
}

static bool h_selected(const char *name, const char *filter)
{
	char glob[256];
	const char *p = filter, *end;

	do {
		size_t len;

		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len && len < sizeof(glob)) {
			memcpy(glob, p, len);
			glob[len] = '\0';
			if (fnmatch(glob, name, 0) == 0)
				return true;
		}
		p = end + 1;
	} while (end);
	return false;
}

int h_run_group(const char *group, const struct CMUnitTest *tests, size_t n,
		int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : getenv("POOTER_TEST_FILTER");
	struct CMUnitTest *run;
	size_t nrun = 0;
	int failed;

	if (filter && !*filter)
		filter = NULL;
	run = calloc(n ? n : 1, sizeof(*run));
	assert_non_null(run);
	for (size_t i = 0; i < n; i++)
		if (!filter || h_selected(tests[i].name, filter))
			run[nrun++] = tests[i];
	if (!nrun) {
		print_message("[  SKIPPED ] %s: no test matches \"%s\"\n",
			      program_invocation_short_name, filter);
		free(run);
		return H_EXIT_SKIP;
	}
	if (filter)
		print_message(
			"[  FILTER  ] %s: %zu of %zu tests match \"%s\"\n",
			program_invocation_short_name, nrun, n, filter);
	failed = _cmocka_run_group_tests(group, run, nrun, NULL, NULL);
	free(run);
	if (failed)
		return 1; /* a count could wrap to 0, or be 77 */
	if (h_skipped == nrun) {
		print_message(
			"[  SKIPPED ] %s: all %zu tests skipped: exit %d\n",
			program_invocation_short_name, nrun, H_EXIT_SKIP);
		return H_EXIT_SKIP;
	}
	return 0;
}

/* --- time, names -------------------------------------------------------- */

uint64_t h_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void h_sleep_until_ns(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t / 1000000000ull),
		.tv_nsec = (long)(t % 1000000000ull),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

void h_remember_broker(const char *name)
{
	if (h_in_child || h_nbrokers == H_MAX_BROKERS)
		return;
	snprintf(h_brokers[h_nbrokers++], H_NAME_LEN, "%s", name);
}

void h_name(char buf[H_NAME_LEN])
{
	snprintf(buf, H_NAME_LEN, "t-%d-%u", (int)getpid(), ++h_counter);
	/* a stale one from an earlier run with the same pid */
	pooter_broker_unlink(buf);
	h_remember_broker(buf);
}

struct pooter_broker *h_create(char name[H_NAME_LEN],
			       const struct pooter_broker_attr *attr)
{
	struct pooter_broker *b = NULL;
	int rc;

	h_name(name);
	rc = pooter_broker_create(name, attr, &b);
	if (rc != 0)
		fail_msg("pooter_broker_create(%s): %d (%s) %s", name, rc,
			 pooter_strerror(rc), pooter_last_error());
	assert_non_null(b);
	if (!h_in_child && h_nhandles < H_MAX_BROKERS)
		h_handles[h_nhandles++] = b;
	return b;
}

void h_close(struct pooter_broker *b)
{
	unsigned int i;

	for (i = 0; i < h_nhandles; i++) {
		if (h_handles[i] == b) {
			h_handles[i] = h_handles[--h_nhandles];
			break;
		}
	}
	pooter_broker_close(b);
}

void h_stat(struct pooter_broker *b, struct pooter_broker_stat *st)
{
	int rc;

	memset(st, 0, sizeof(*st));
	rc = pooter_broker_stat(b, st);
	if (rc != 0)
		fail_msg("pooter_broker_stat: %d (%s)", rc,
			 pooter_strerror(rc));
}

void h_stat_until(struct pooter_broker *b, struct pooter_broker_stat *st,
		  int (*pred)(const struct pooter_broker_stat *st, void *arg),
		  void *arg, int timeout_ms)
{
	uint64_t end = h_now_ns() + (uint64_t)timeout_ms * H_NS_PER_MS;
	struct timespec pause = { .tv_nsec = 200000 };

	for (;;) {
		h_stat(b, st);
		if (pred(st, arg))
			return;
		if (h_now_ns() > end)
			fail_msg("broker state not reached within %d ms "
				 "(round %llu state %d emitted %u/%u, "
				 "emitters %u)",
				 timeout_ms, (unsigned long long)st->round,
				 st->round_state, st->round_emitted,
				 st->round_participants, st->emitters);
		/* not a synchronization: just do not hog one of two cores */
		nanosleep(&pause, NULL);
	}
}

int h_pred_emitted(const struct pooter_broker_stat *st, void *arg)
{
	return st->round_state == POOTER_ROUND_OPEN &&
	       st->round_emitted >= *(unsigned int *)arg;
}

int h_pred_emitters(const struct pooter_broker_stat *st, void *arg)
{
	return st->emitters == *(unsigned int *)arg;
}

int h_pred_closed(const struct pooter_broker_stat *st, void *arg)
{
	uint64_t r = *(uint64_t *)arg;

	return st->round > r ||
	       (st->round == r && st->round_state == POOTER_ROUND_CLOSED);
}

int h_pred_emits(const struct pooter_broker_stat *st, void *arg)
{
	return st->emits >= *(uint64_t *)arg;
}

/* --- processes ---------------------------------------------------------- */

static int h_is_pipe_wait(long nr)
{
	if (nr == SYS_read)
		return 1;
#ifdef SYS_poll
	if (nr == SYS_poll)
		return 1;
#endif
#ifdef SYS_ppoll
	if (nr == SYS_ppoll)
		return 1;
#endif
	return 0;
}

int h_blocked_in_call(pid_t pid, int timeout_ms)
{
	uint64_t end = h_now_ns() + (uint64_t)timeout_ms * H_NS_PER_MS;
	struct timespec pause = { .tv_nsec = 200000 };
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	do {
		FILE *f = fopen(path, "r");
		long nr;

		if (!f)
			return 0;
		if (fgets(buf, sizeof(buf), f) &&
		    sscanf(buf, "%ld", &nr) == 1 && nr >= 0 &&
		    !h_is_pipe_wait(nr)) {
			fclose(f);
			return 1;
		}
		fclose(f);
		nanosleep(&pause, NULL);
	} while (h_now_ns() < end);
	fprintf(stderr,
		"note: did not see pid %d block in its call within "
		"%d ms; going on\n",
		(int)pid, timeout_ms);
	return 0;
}

static void h_forget(pid_t pid)
{
	unsigned int i;

	for (i = 0; i < h_nchildren; i++) {
		if (h_children[i] == pid) {
			h_children[i] = h_children[--h_nchildren];
			return;
		}
	}
}

static pid_t h_fork(void)
{
	pid_t ppid = getpid();
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/*
		 * cmocka's handlers would longjmp into the child's copy of
		 * the test runner: a crashing child must just die.
		 */
		static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL,  SIGFPE,
					    SIGABRT, SIGSYS, SIGUSR1, SIGUSR2 };
		unsigned int i;

		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		h_in_child = 1;
		h_nchildren = 0;
		h_nbrokers = 0;
		h_nhandles = 0;
		/* no orphans when the runner dies (ctest timeout, crash) */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ppid)
			_exit(99);
		return 0;
	}
	if (h_nchildren < H_MAX_CHILDREN)
		h_children[h_nchildren++] = pid;
	return pid;
}

pid_t h_spawn(int (*fn)(void *arg), void *arg)
{
	pid_t pid = h_fork();

	if (pid == 0) {
		int rc = fn(arg);

		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	return pid;
}

int h_wait(pid_t pid, int timeout_ms)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	uint64_t end = h_now_ns() + (uint64_t)timeout_ms * H_NS_PER_MS;
	int status;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			if (fd >= 0)
				close(fd);
			h_forget(pid);
			return status;
		}
		if (w < 0 && errno != EINTR) {
			if (fd >= 0)
				close(fd);
			fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
		}
		uint64_t now = h_now_ns();

		if (now > end) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (fd >= 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };

			poll(&pfd, 1, (int)((end - now) / H_NS_PER_MS) + 1);
		} else {
			/* no pidfd: poll waitpid (the event), not a delay */
			struct timespec pause = { .tv_nsec = 1000000 };

			nanosleep(&pause, NULL);
		}
	}
}

void h_expect_exit(pid_t pid, int code, int timeout_ms)
{
	int status = h_wait(pid, timeout_ms);

	if (status == -1)
		fail_msg("child %d did not exit within %d ms", (int)pid,
			 timeout_ms);
	if (WIFSIGNALED(status))
		fail_msg("child %d killed by signal %d (%s)", (int)pid,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != code)
		fail_msg("child %d exited with %d, expected %d", (int)pid,
			 WEXITSTATUS(status), code);
}

void h_stop(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGSTOP), 0);
	while (waitpid(pid, &status, WUNTRACED) < 0)
		assert_int_equal(errno, EINTR);
	if (!WIFSTOPPED(status)) {
		h_forget(pid);
		fail_msg("child %d did not stop (status %#x)", (int)pid,
			 status);
	}
}

void h_cont(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGCONT), 0);
	while (waitpid(pid, &status, WCONTINUED) < 0)
		assert_int_equal(errno, EINTR);
	if (!WIFCONTINUED(status)) {
		h_forget(pid);
		fail_msg("child %d did not continue (status %#x)", (int)pid,
			 status);
	}
}

void h_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	h_forget(pid);
}

int h_teardown(void **state)
{
	unsigned int i;

	(void)state;
	while (h_nchildren) {
		pid_t pid = h_children[h_nchildren - 1];

		kill(pid, SIGKILL);
		kill(pid, SIGCONT);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		h_nchildren--;
	}
	/* handles of a test that failed half way (members may leak) */
	while (h_nhandles)
		pooter_broker_close(h_handles[--h_nhandles]);
	for (i = 0; i < h_nbrokers; i++)
		pooter_broker_unlink(h_brokers[i]);
	h_nbrokers = 0;
	return 0;
}

/* --- pipes -------------------------------------------------------------- */

void h_pipe_init(struct h_pipe *p)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	p->rd = fds[0];
	p->wr = fds[1];
}

void h_pipe_close(struct h_pipe *p)
{
	if (p->rd >= 0)
		close(p->rd);
	if (p->wr >= 0)
		close(p->wr);
	p->rd = p->wr = -1;
}

int h_write(int fd, const void *buf, size_t len)
{
	const char *c = buf;

	while (len) {
		ssize_t n = write(fd, c, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

int h_read(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t end = h_now_ns() + (uint64_t)timeout_ms * H_NS_PER_MS;
	char *c = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = -1;

		if (timeout_ms >= 0) {
			uint64_t now = h_now_ns();

			if (now > end)
				return -ETIMEDOUT;
			wait = (int)((end - now) / H_NS_PER_MS) + 1;
		}
		int n = poll(&pfd, 1, wait);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		ssize_t got = read(fd, c, len);

		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (got == 0)
			return -EPIPE;
		c += got;
		len -= (size_t)got;
	}
	return 0;
}

int h_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

void h_gate_init(struct h_gate *g)
{
	h_pipe_init(&g->p);
}

void h_gate_wait(struct h_gate *g)
{
	char c;

	if (h_read(g->p.rd, &c, 1, H_LONG_MS) != 0)
		h_child_fail(__FILE__, __LINE__, "gate never opened");
}

void h_gate_open(struct h_gate *g)
{
	/* one byte per waiter is plenty; 64 covers every use */
	static const char bytes[64];

	assert_int_equal(h_write(g->p.wr, bytes, sizeof(bytes)), 0);
}

void h_gate_close(struct h_gate *g)
{
	h_pipe_close(&g->p);
}

/* --- scripted peers ----------------------------------------------------- */

static volatile sig_atomic_t peer_signals;
static int peer_ack_wr = -1;

static void peer_on_signal(int sig)
{
	int saved = errno;
	char c = 's';

	(void)sig;
	peer_signals++;
	if (write(peer_ack_wr, &c, 1) < 0) {
		/* nothing to do in a handler */
	}
	errno = saved;
}

static void peer_reply(int fd, struct h_res *r)
{
	r->signals = (unsigned int)peer_signals;
	if (h_write(fd, r, sizeof(*r)) != 0)
		_exit(4);
}

static void peer_stat(struct pooter_broker *b, struct h_res *r)
{
	struct pooter_broker_stat st;

	memset(&st, 0, sizeof(st));
	if (pooter_broker_stat(b, &st) != 0) {
		r->st_round_state = -1;
		return;
	}
	r->st_round_state = st.round_state;
	r->st_round = st.round;
	r->st_round_outcome = st.round_outcome;
	r->st_round_deadline_ns = st.round_deadline_ns;
}

static void __attribute__((noreturn))
peer_main(const char *broker, int cmd_rd, int res_wr, int ack_wr)
{
	const struct pooter_delivery *held[2 * POOTER_DEPTH_MAX];
	const struct pooter_delivery *last_released = NULL;
	struct pooter_emitter *em = NULL;
	struct pooter_consumer *co = NULL;
	struct pooter_broker *b = NULL;
	unsigned int nheld = 0, i;
	struct h_res r;
	struct h_cmd c;

	peer_ack_wr = ack_wr;
	memset(&r, 0, sizeof(r));
	r.op = H_OP_OPEN;
	r.rc = pooter_broker_open(broker, &b);
	peer_reply(res_wr, &r);
	if (r.rc != 0)
		_exit(2);

	for (;;) {
		if (h_read(cmd_rd, &c, sizeof(c), -1) != 0)
			_exit(3); /* the parent went away */
		memset(&r, 0, sizeof(r));
		r.op = c.op;
		r.round = H_ROUND_UNTOUCHED;
		const char *name = c.name[0] ? c.name : NULL;

		r.t_start_ns = h_now_ns();
		switch (c.op) {
		case H_OP_JOIN_EMITTER:
			r.rc = em ? -EALREADY :
				    pooter_emitter_join(b, name, c.flags, &em);
			break;
		case H_OP_EMIT:
			r.rc = em ? pooter_emit(em, c.data, c.len, &r.round) :
				    -ENOTCONN;
			break;
		case H_OP_LEAVE_EMITTER:
			r.rc = em ? pooter_emitter_leave(em) : -ENOTCONN;
			em = NULL;
			break;
		case H_OP_JOIN_CONSUMER:
			r.rc = co ? -EALREADY :
				    pooter_consumer_join(b, name, c.flags, &co);
			break;
		case H_OP_CONSUME: {
			const struct pooter_delivery *d = NULL;

			r.rc = co ? pooter_consume(co, c.timeout_ms, &d) :
				    -ENOTCONN;
			if (r.rc < 0)
				break;
			if (!d || nheld == sizeof(held) / sizeof(held[0])) {
				r.rc = -EFAULT;
				break;
			}
			held[nheld++] = d;
			r.round = d->round;
			r.outcome = d->outcome;
			r.count = d->count;
			r.aligned = 1;
			for (i = 0; i < d->count; i++) {
				if ((uintptr_t)d->payloads[i].data %
				    _Alignof(max_align_t))
					r.aligned = 0;
			}
			break;
		}
		case H_OP_RELEASE:
			if (c.flags & 1) { /* release the last one again */
				r.rc = last_released ?
					       pooter_release(co,
							      last_released) :
					       -ESRCH;
				break;
			}
			r.rc = -ESRCH;
			for (i = 0; i < nheld; i++) {
				if (held[i]->round != c.round)
					continue;
				last_released = held[i];
				r.rc = pooter_release(co, held[i]);
				if (r.rc == 0)
					held[i] = held[--nheld];
				break;
			}
			break;
		case H_OP_LEAVE_CONSUMER:
			r.rc = co ? pooter_consumer_leave(co) : -ENOTCONN;
			co = NULL;
			nheld = 0;
			break;
		case H_OP_SIGNALS: {
			struct sigaction sa;

			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = peer_on_signal;
			sa.sa_flags = 0; /* no SA_RESTART */
			sigemptyset(&sa.sa_mask);
			r.rc = sigaction(SIGUSR1, &sa, NULL) ? -errno : 0;
			break;
		}
		case H_OP_QUIT:
			if (em)
				pooter_emitter_leave(em);
			if (co)
				pooter_consumer_leave(co);
			pooter_broker_close(b);
			peer_reply(res_wr, &r);
			_exit(0);
		default:
			r.rc = -ENOSYS;
			break;
		}
		r.t_end_ns = h_now_ns();
		peer_stat(b, &r);
		peer_reply(res_wr, &r);
	}
}

void h_peer_start(struct h_peer *p, const char *broker)
{
	struct h_pipe cmd, res, ack;
	struct h_res r;

	memset(p, 0, sizeof(*p));
	snprintf(p->broker, sizeof(p->broker), "%s", broker);
	h_pipe_init(&cmd);
	h_pipe_init(&res);
	h_pipe_init(&ack);
	p->pid = h_fork();
	if (p->pid == 0) {
		close(cmd.wr);
		close(res.rd);
		close(ack.rd);
		peer_main(broker, cmd.rd, res.wr, ack.wr);
	}
	close(cmd.rd);
	close(res.wr);
	close(ack.wr);
	p->cmd_wr = cmd.wr;
	p->res_rd = res.rd;
	p->ack_rd = ack.rd;
	h_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, H_OP_OPEN);
	if (r.rc != 0)
		fail_msg("peer %d: pooter_broker_open(%s): %d (%s)",
			 (int)p->pid, broker, r.rc, pooter_strerror(r.rc));
}

void h_peer_send(struct h_peer *p, const struct h_cmd *c)
{
	assert_int_equal(h_write(p->cmd_wr, c, sizeof(*c)), 0);
}

void h_peer_res(struct h_peer *p, struct h_res *r, int timeout_ms)
{
	int rc = h_read(p->res_rd, r, sizeof(*r), timeout_ms);

	if (rc == -ETIMEDOUT)
		fail_msg("peer %d: no answer within %d ms", (int)p->pid,
			 timeout_ms);
	if (rc != 0) {
		int status = h_wait(p->pid, H_LONG_MS);

		fail_msg("peer %d died (read %d, wait status %#x)", (int)p->pid,
			 rc, status);
	}
}

int h_peer_pending(struct h_peer *p)
{
	return h_readable(p->res_rd);
}

void h_peer_stop(struct h_peer *p)
{
	struct h_cmd c = { .op = H_OP_QUIT };
	struct h_res r;

	h_peer_send(p, &c);
	h_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, H_OP_QUIT);
	h_expect_ok(p->pid);
	close(p->cmd_wr);
	close(p->res_rd);
	close(p->ack_rd);
	p->cmd_wr = p->res_rd = p->ack_rd = -1;
}

static int h_peer_simple(struct h_peer *p, int op, const char *name,
			 unsigned int flags)
{
	struct h_cmd c;
	struct h_res r;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.flags = flags;
	if (name)
		snprintf(c.name, sizeof(c.name), "%s", name);
	h_peer_send(p, &c);
	h_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, op);
	return r.rc;
}

int h_peer_join_emitter(struct h_peer *p, const char *name, unsigned int flags)
{
	return h_peer_simple(p, H_OP_JOIN_EMITTER, name, flags);
}

int h_peer_join_consumer(struct h_peer *p, const char *name, unsigned int flags)
{
	return h_peer_simple(p, H_OP_JOIN_CONSUMER, name, flags);
}

int h_peer_leave_emitter(struct h_peer *p)
{
	return h_peer_simple(p, H_OP_LEAVE_EMITTER, NULL, 0);
}

int h_peer_leave_consumer(struct h_peer *p)
{
	return h_peer_simple(p, H_OP_LEAVE_CONSUMER, NULL, 0);
}

void h_peer_emit_async(struct h_peer *p, const char *payload)
{
	struct h_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = H_OP_EMIT;
	c.len = (unsigned int)strlen(payload);
	assert_true(c.len <= sizeof(c.data));
	memcpy(c.data, payload, c.len);
	h_peer_send(p, &c);
}

int h_peer_emit(struct h_peer *p, const char *payload, uint64_t *round)
{
	struct h_res r;

	h_peer_emit_async(p, payload);
	h_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, H_OP_EMIT);
	if (round)
		*round = r.round;
	return r.rc;
}

void h_peer_consume(struct h_peer *p, int timeout_ms, struct h_res *r)
{
	struct h_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = H_OP_CONSUME;
	c.timeout_ms = timeout_ms;
	h_peer_send(p, &c);
	h_peer_res(p, r, timeout_ms < 0 ? H_LONG_MS : timeout_ms + H_LONG_MS);
	assert_int_equal(r->op, H_OP_CONSUME);
}

int h_peer_release(struct h_peer *p, uint64_t round)
{
	struct h_cmd c;
	struct h_res r;

	memset(&c, 0, sizeof(c));
	c.op = H_OP_RELEASE;
	c.round = round;
	h_peer_send(p, &c);
	h_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, H_OP_RELEASE);
	return r.rc;
}
