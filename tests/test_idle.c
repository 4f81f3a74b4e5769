// SPDX-License-Identifier: MIT
/*
 * test_idle.c - a process that waits long costs no CPU (pooter(7)).
 *
 * A waiter with nothing to enforce sleeps until its deadline or an event:
 * no periodic wake-ups where io_uring is available.  Each test puts a child
 * into one such wait, synchronizes on the child's report that it is about to
 * wait and on /proc showing it asleep in a system call, then counts the
 * child's wake-ups (voluntary context switches, all its threads) over a
 * measurement window of IDLE_WINDOW_MS, and asserts fewer than
 * IDLE_MAX_WAKEUPS.
 *
 * Only where the io_uring API works (pooter_uring_supported() == 0): the
 * futex-only path re-checks liveness periodically by design.  Elsewhere the
 * tests skip, saying why.
 *
 * POOTER_TEST_FILTER=PATTERN runs only the matching tests.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "harness.h"

#define IDLE_WINDOW_MS 1000
#define IDLE_MAX_WAKEUPS 5

static void skip_without_uring(void)
{
	if (pooter_uring_supported() == 0)
		return;
	print_message("[  SKIPPED ] the io_uring API is unavailable here (%s): "
		      "the futex-only path wakes to re-check liveness by "
		      "design\n",
		      pooter_last_error());
	skip();
}

/* --- what /proc says about a waiting child ------------------------------ */

struct idle_sample {
	unsigned long long wakeups; /* voluntary context switches, all threads */
	unsigned long long cpu_ns;  /* time on a CPU, all threads (schedstat) */
	unsigned int threads;
};

static unsigned long long task_voluntary(pid_t pid, const char *tid,
					 unsigned long long *cpu_ns)
{
	char path[320], line[128];
	unsigned long long n = 0, ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1)
			break;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid,
		 tid);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llu", &ns) == 1)
			*cpu_ns += ns;
		fclose(f);
	}
	return n;
}

/* The state (field 3 of /proc/PID/stat, after the comm). */
static int proc_state(pid_t pid, char *state)
{
	char path[48], buf[1024], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -EIO;
	*state = p[1] == ' ' ? p[2] : '?';
	return 0;
}

static void idle_sample(pid_t pid, struct idle_sample *s)
{
	char path[48], state;
	struct dirent *de;
	DIR *d;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		fail_msg("%s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		s->wakeups += task_voluntary(pid, de->d_name, &s->cpu_ns);
		s->threads++;
	}
	closedir(d);
	if (proc_state(pid, &state))
		fail_msg("/proc/%d/stat unreadable", (int)pid);
}

/*
 * Wait until pid sleeps (state S) inside a system call other than the
 * write(2) of its "about to wait" report: it is in the library's wait.
 */
static void wait_asleep_in_call(pid_t pid)
{
	uint64_t end = h_now_ns() + (uint64_t)H_LONG_MS * H_NS_PER_MS;
	struct timespec pause = { .tv_nsec = 200000 };
	char path[48], buf[256], state;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (;;) {
		FILE *f = fopen(path, "r");
		long nr = -1;

		if (f) {
			if (!fgets(buf, sizeof(buf), f) ||
			    sscanf(buf, "%ld", &nr) != 1)
				nr = -1; /* "running" */
			fclose(f);
		}
		if (nr >= 0 && nr != SYS_write &&
		    proc_state(pid, &state) == 0 && state == 'S')
			return;
		if (h_now_ns() > end)
			fail_msg("pid %d not seen asleep in a call within %d "
				 "ms",
				 (int)pid, H_LONG_MS);
		/* polling /proc: the state has no event to wait on */
		nanosleep(&pause, NULL);
	}
}

/* Count pid's wake-ups over the window; assert it stays idle. */
static void expect_idle(pid_t pid, const char *what)
{
	struct idle_sample a, b;
	uint64_t t0, t1;

	wait_asleep_in_call(pid);
	idle_sample(pid, &a);
	t0 = h_now_ns();
	/* a measurement window, not a synchronization */
	h_sleep_until_ns(t0 + IDLE_WINDOW_MS * H_NS_PER_MS);
	idle_sample(pid, &b);
	t1 = h_now_ns();
	print_message("%s: %llu wake-ups in %.3f s (%u threads), %.3f ms "
		      "CPU\n",
		      what, b.wakeups - a.wakeups, (double)(t1 - t0) / 1e9,
		      b.threads, (double)(b.cpu_ns - a.cpu_ns) / 1e6);
	if (b.wakeups - a.wakeups >= IDLE_MAX_WAKEUPS)
		fail_msg("%s: %llu wake-ups in %.3f s, expected fewer than "
			 "%d: a wait with nothing to enforce must sleep",
			 what, b.wakeups - a.wakeups, (double)(t1 - t0) / 1e9,
			 IDLE_MAX_WAKEUPS);
}

/* --- the waits ---------------------------------------------------------- */

struct idle_child {
	const char *broker;
	struct h_pipe ready;
};

static int child_consume_forever(void *arg)
{
	struct idle_child *ic = arg;
	const struct pooter_delivery *d;
	struct pooter_broker *b;
	struct pooter_consumer *c;
	int rc;

	C_EQ(pooter_broker_open(ic->broker, &b), 0);
	C_EQ(pooter_consumer_join(b, "idle", 0, &c), 0);
	C_EQ(h_write(ic->ready.wr, "r", 1), 0);
	rc = pooter_consume(c, -1, &d);
	h_child_fail(__FILE__, __LINE__, "pooter_consume(-1) returned %d (%s)",
		     rc, pooter_strerror(rc));
}

/* A consumer waits for a delivery, without limit; no round is open. */
static void test_idle_consume(void **state)
{
	struct idle_child ic;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	char name[H_NAME_LEN], x;
	pid_t pid;

	(void)state;
	skip_without_uring();
	b = h_create(name, NULL);
	ic.broker = name;
	h_pipe_init(&ic.ready);
	pid = h_spawn(child_consume_forever, &ic);
	assert_int_equal(h_read(ic.ready.rd, &x, 1, H_LONG_MS), 0);
	expect_idle(pid, "pooter_consume(c, -1) with no round open");
	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_NONE);
	h_kill(pid);
	h_pipe_close(&ic.ready);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static int child_join_wait(void *arg)
{
	struct idle_child *ic = arg;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	int rc;

	C_EQ(pooter_broker_open(ic->broker, &b), 0);
	C_EQ(h_write(ic->ready.wr, "r", 1), 0);
	rc = pooter_emitter_join(b, "late", POOTER_JOIN_WAIT, &e);
	/* the round was cancelled by the test, after the window */
	C_EQ(rc, 0);
	C_EQ(pooter_emitter_leave(e), 0);
	pooter_broker_close(b);
	return 0;
}

/* A POOTER_JOIN_WAIT join waits for an open round to end. */
static void test_idle_join_wait(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_LONG_MS);
	struct idle_child ic;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct h_peer opener, silent;
	char name[H_NAME_LEN], x;
	unsigned int one = 1;
	struct h_res r;
	pid_t pid;

	(void)state;
	skip_without_uring();
	b = h_create(name, &attr);
	h_peer_start(&opener, name);
	h_peer_start(&silent, name);
	assert_int_equal(h_peer_join_emitter(&opener, "opener", 0), 0);
	assert_int_equal(h_peer_join_emitter(&silent, "silent", 0), 0);
	h_peer_emit_async(&opener, "open");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);

	ic.broker = name;
	h_pipe_init(&ic.ready);
	pid = h_spawn(child_join_wait, &ic);
	assert_int_equal(h_read(ic.ready.rd, &x, 1, H_LONG_MS), 0);
	expect_idle(pid, "POOTER_JOIN_WAIT join on an open round");

	/* the round is still the one open, then ends; the join goes through */
	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round, 1);
	assert_int_equal(pooter_round_cancel(b), 0);
	h_peer_res(&opener, &r, H_LONG_MS);
	assert_int_equal(r.rc, -ECANCELED);
	h_expect_ok(pid);
	h_pipe_close(&ic.ready);
	h_peer_stop(&opener);
	h_peer_stop(&silent);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_idle_consume, h_teardown),
		cmocka_unit_test_teardown(test_idle_join_wait, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
