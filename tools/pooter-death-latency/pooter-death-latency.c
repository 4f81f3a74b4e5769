/* SPDX-License-Identifier: MIT */
/*
 * pooter-death-latency - how long from a participant's SIGKILL to the
 * wake-up of the emitter waiting on it.
 *
 * Each trial: a broker with a long timeout (30 s by default, so the deadline
 * cannot be what wakes anyone), a victim process that joins and then sleeps
 * without emitting, and the measuring process that emits and waits.  A
 * killer process waits until the round is open, lets the waiter settle into
 * its wait, reads CLOCK_MONOTONIC and SIGKILLs the victim; the waiter reads
 * the clock when pooter_emit() returns EOWNERDEAD.  The difference is the
 * death-to-wakeup latency.  Prints p50, p99 and max over the trials, for the
 * path in use (io_uring with pidfds, or POOTER_NO_URING=1: futex(2) with
 * periodic liveness checks).
 *
 *   pooter-death-latency [-n TRIALS] [-t TIMEOUT_MS] [--json]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pooter.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "pooter-death-latency: %s: %s (%s)\n", what,
		pooter_strerror(err), pooter_last_error());
	exit(1);
}

/* Child: join as the victim, say so, and wait to be killed. */
static void victim_main(const char *broker, int ready_fd)
{
	struct pooter_broker *b;
	struct pooter_emitter *e;
	int err;

	err = pooter_broker_open(broker, &b);
	if (!err)
		err = pooter_emitter_join(b, "victim", 0, &e);
	if (err)
		_exit(2);
	if (write(ready_fd, "v", 1) != 1)
		_exit(2);
	for (;;)
		pause();
}

/* Child: wait for the round to open and the waiter to sleep, then kill. */
static void killer_main(const char *broker, pid_t victim, int out_fd)
{
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	uint64_t t;

	if (pooter_broker_open(broker, &b))
		_exit(2);
	do {
		if (pooter_broker_stat(b, &st))
			_exit(2);
	} while (st.round_state != POOTER_ROUND_OPEN);
	/* give the waiter time to reach its sleep: not a sync, a setting */
	usleep(20000);
	t = now_ns();
	kill(victim, SIGKILL);
	if (write(out_fd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(2);
	_exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trials", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int trials = 200, timeout_ms = 30000, json = 0, c;
	const char *path;
	uint64_t *lat;

	while ((c = getopt_long(argc, argv, "n:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			trials = atoi(optarg);
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'j':
			json = 1;
			break;
		default:
			printf("usage: %s [-n TRIALS] [-t TIMEOUT_MS] [--json]\n"
			       "Measures SIGKILL-to-wakeup latency of a waiting "
			       "emitter.\nPOOTER_NO_URING=1 measures the "
			       "futex-only fallback.\n",
			       argv[0]);
			return c == 'h' ? 0 : 64;
		}
	}
	if (trials < 1 || timeout_ms < 1000) {
		fprintf(stderr,
			"pooter-death-latency: need -n >= 1, -t >= 1000\n");
		return 64;
	}
	path = pooter_uring_supported() == 0 ?
		       "io_uring (pidfd polls)" :
		       "futex(2) with liveness re-checks";
	lat = calloc((size_t)trials, sizeof(*lat));
	if (!lat)
		return 1;

	for (int i = 0; i < trials; i++) {
		POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
			    .timeout_ms = (unsigned int)timeout_ms);
		struct pooter_broker *b;
		struct pooter_emitter *e;
		char name[64], ch;
		int ready[2], killed[2], err;
		pid_t victim, killer;
		uint64_t t_kill, t_wake, round;

		snprintf(name, sizeof(name), "death-latency-%d", (int)getpid());
		pooter_broker_unlink(name);
		err = pooter_broker_create(name, &attr, &b);
		if (err)
			die("create", err);
		err = pooter_emitter_join(b, "waiter", 0, &e);
		if (err)
			die("join", err);
		if (pipe(ready) || pipe(killed))
			return 1;
		victim = fork();
		if (victim == 0)
			victim_main(name, ready[1]);
		if (read(ready[0], &ch, 1) != 1)
			die("victim did not join", -EPIPE);
		killer = fork();
		if (killer == 0)
			killer_main(name, victim, killed[1]);

		err = pooter_emit(e, "x", 1, &round);
		t_wake = now_ns();
		if (read(killed[0], &t_kill, sizeof(t_kill)) != sizeof(t_kill))
			die("killer", -EPIPE);
		if (err != -EOWNERDEAD)
			die("emit did not report the death", err);
		lat[i] = t_wake > t_kill ? t_wake - t_kill : 0;
		waitpid(victim, NULL, 0);
		waitpid(killer, NULL, 0);
		close(ready[0]);
		close(ready[1]);
		close(killed[0]);
		close(killed[1]);
		pooter_emitter_leave(e);
		pooter_broker_close(b);
		pooter_broker_unlink(name);
	}

	qsort(lat, (size_t)trials, sizeof(*lat), cmp_u64);
	{
		double p50 = lat[trials / 2] / 1e6;
		double p99 =
			lat[(trials * 99) / 100 < trials ? (trials * 99) / 100 :
							   trials - 1] /
			1e6;
		double max = lat[trials - 1] / 1e6;

		if (json)
			printf("{\"path\": \"%s\", \"trials\": %d, "
			       "\"timeout_ms\": %d, \"p50_ms\": %.3f, "
			       "\"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
			       path, trials, timeout_ms, p50, p99, max);
		else
			printf("death-to-wakeup over %d trials (%s, round "
			       "timeout %d ms): p50 %.3f ms, p99 %.3f ms, "
			       "max %.3f ms\n",
			       trials, path, timeout_ms, p50, p99, max);
	}
	free(lat);
	return 0;
}
