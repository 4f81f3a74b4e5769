// SPDX-License-Identifier: MIT
/*
 * gather-then-act - N workers, each a process, report a partial result; a
 * consumer process acts only when one delivery carries all N reports.
 *
 * The broker has quorum N.  Each worker joins it as an emitter, does its
 * share of the work and emits its report.  The first report opens a round
 * whose participant set stays open until N workers have joined, so a
 * worker that starts late still belongs to it; the round resolves when all
 * N have reported, and the consumer gets the N reports as one delivery.
 * Nobody polls, nobody counts: the delivery is the "all reported" event.
 *
 * Had a worker died before reporting (EOWNERDEAD), or not reported before
 * the deadline (ETIMEDOUT), the round would have been cancelled.  The
 * consumer asked for cancellation notices, so it would be told, and would
 * not act on a partial gather.
 *
 * The work: the sum of the squares of 1..M, in N slices.  The consumer's
 * act is to add the partial sums and check the total, M(M+1)(2M+1)/6.
 *
 * Exit status 0 when the consumer acted on all N reports and the total is
 * right.  Uses include/pooter.h and nothing else of pooter:
 *
 *   cc -o gather-then-act gather-then-act.c $(pkg-config --cflags --libs pooter)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pooter.h>

#define WORKERS 5
#define M 100000ULL	       /* sum of squares of 1..M */
#define ROUND_TIMEOUT_MS 10000 /* how long the slowest worker may take */
#define CONSUME_TIMEOUT_MS 30000
#define WATCHDOG_S 60 /* the whole example, whatever happens */

/* A worker's report: aligned for any C type in the delivery. */
struct report {
	unsigned int worker;
	uint64_t first, last; /* its slice of 1..M */
	uint64_t sum;	      /* of the squares in the slice */
};

static char broker_name[POOTER_NAME_MAX + 1];
static pid_t child_pid[WORKERS + 1]; /* [WORKERS] is the consumer */

static void kill_children(int sig)
{
	int i;

	(void)sig;
	for (i = 0; i <= WORKERS; i++)
		if (child_pid[i] > 0)
			kill(child_pid[i], SIGKILL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int worker_main(unsigned int worker)
{
	struct pooter_broker *broker;
	struct pooter_emitter *emitter;
	struct report r = { .worker = worker };
	char name[POOTER_NAME_MAX + 1];
	uint64_t i, round = 0;
	int err;

	/* A child opens its own handle: handles do not cross fork(). */
	err = pooter_broker_open(broker_name, &broker);
	if (err) {
		fprintf(stderr, "worker %u: pooter_broker_open: %s\n", worker,
			pooter_strerror(err));
		return 1;
	}
	snprintf(name, sizeof(name), "worker-%u", worker);
	err = pooter_emitter_join(broker, name, 0, &emitter);
	if (err) {
		fprintf(stderr, "worker %u: pooter_emitter_join: %s\n", worker,
			pooter_strerror(err));
		pooter_broker_close(broker);
		return 1;
	}

	/* Workers take unequal times: the last one is 100 ms late. */
	sleep_ms(25L * worker);
	r.first = M * worker / WORKERS + 1;
	r.last = M * (worker + 1) / WORKERS;
	for (i = r.first; i <= r.last; i++)
		r.sum += i * i;

	err = pooter_emit(emitter, &r, sizeof(r), &round);
	if (err)
		fprintf(stderr, "worker %u: round %llu cancelled: %s\n", worker,
			(unsigned long long)round, pooter_strerror(err));
	else
		printf("worker %u reported squares %llu..%llu; round %llu "
		       "resolved\n",
		       worker, (unsigned long long)r.first,
		       (unsigned long long)r.last, (unsigned long long)round);
	fflush(stdout);
	pooter_emitter_leave(emitter);
	pooter_broker_close(broker);
	return err ? 1 : 0;
}

/* The act, on the whole gather: add up and check. */
static int act(const struct pooter_delivery *d)
{
	const uint64_t want = M * (M + 1) * (2 * M + 1) / 6;
	unsigned int i, reported = 0;
	uint64_t total = 0, covered = 0;

	if (d->count != WORKERS) {
		printf("consumer: %u reports, not %d: not acting\n", d->count,
		       WORKERS);
		return 1;
	}
	for (i = 0; i < d->count; i++) {
		const struct report *r = d->payloads[i].data;

		if (d->payloads[i].len != sizeof(*r) || r->worker >= WORKERS ||
		    r->first > r->last) {
			printf("consumer: a malformed report from %s\n",
			       d->payloads[i].emitter);
			return 1;
		}
		reported |= 1u << r->worker;
		total += r->sum;
		covered += r->last - r->first + 1;
	}
	if (reported != (1u << WORKERS) - 1 || covered != M) {
		printf("consumer: the reports do not cover 1..%llu\n",
		       (unsigned long long)M);
		return 1;
	}
	printf("consumer: round %llu brought all %d reports; acting: the "
	       "sum of squares of 1..%llu is %llu (%s)\n",
	       (unsigned long long)d->round, WORKERS, (unsigned long long)M,
	       (unsigned long long)total, total == want ? "right" : "WRONG");
	return total == want ? 0 : 1;
}

static int consumer_main(int ready_fd)
{
	struct pooter_broker *broker;
	struct pooter_consumer *consumer;
	const struct pooter_delivery *d;
	int err, status = 1;

	err = pooter_broker_open(broker_name, &broker);
	if (err) {
		fprintf(stderr, "consumer: pooter_broker_open: %s\n",
			pooter_strerror(err));
		return 1;
	}
	/* With notices: a cancelled gather is told, not silently missing. */
	err = pooter_consumer_join(broker, "consumer", POOTER_CONSUMER_NOTICES,
				   &consumer);
	if (err) {
		fprintf(stderr, "consumer: pooter_consumer_join: %s\n",
			pooter_strerror(err));
		pooter_broker_close(broker);
		return 1;
	}
	/* Joined: rounds resolved from now on come here.  Workers may start. */
	if (write(ready_fd, "R", 1) != 1)
		goto out;
	close(ready_fd);

	err = pooter_consume(consumer, CONSUME_TIMEOUT_MS, &d);
	if (err) {
		printf("consumer: no delivery: %s\n", pooter_strerror(err));
		goto out;
	}
	if (d->outcome != 0)
		printf("consumer: round %llu cancelled (%s): not acting\n",
		       (unsigned long long)d->round,
		       pooter_strerror(d->outcome));
	else
		status = act(d);
	fflush(stdout);
	pooter_release(consumer, d);
out:
	pooter_consumer_leave(consumer);
	pooter_broker_close(broker);
	return status;
}

static int reap(pid_t pid, const char *who, unsigned int i)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	printf("%s %u did not exit cleanly\n", who, i);
	return 1;
}

int main(void)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = WORKERS,
		    .quorum = WORKERS, .max_consumers = 1,
		    .max_payload = sizeof(struct report),
		    .timeout_ms = ROUND_TIMEOUT_MS);
	struct sigaction sa = { .sa_handler = kill_children };
	struct pooter_broker *broker;
	int ready[2], bad = 0, err;
	unsigned int i;
	char c;

	snprintf(broker_name, sizeof(broker_name), "gather-then-act-%d",
		 (int)getpid());
	err = pooter_broker_create(broker_name, &attr, &broker);
	if (err) {
		fprintf(stderr, "pooter_broker_create(%s): %s %s\n",
			broker_name, pooter_strerror(err), pooter_last_error());
		return 1;
	}
	if (pipe(ready)) {
		perror("pipe");
		bad++;
		goto out;
	}
	sigaction(SIGALRM, &sa, NULL);
	alarm(WATCHDOG_S);
	fflush(stdout);

	/* The consumer first: it must be joined before the round resolves. */
	child_pid[WORKERS] = fork();
	if (child_pid[WORKERS] == 0) {
		close(ready[0]);
		_exit(consumer_main(ready[1]));
	}
	close(ready[1]);
	if (child_pid[WORKERS] < 0 || read(ready[0], &c, 1) != 1) {
		printf("the consumer did not get ready\n");
		bad++;
		goto out_reap;
	}

	for (i = 0; i < WORKERS; i++) {
		child_pid[i] = fork();
		if (child_pid[i] == 0)
			_exit(worker_main(i));
		if (child_pid[i] < 0) {
			perror("fork");
			bad++;
		}
	}
	for (i = 0; i < WORKERS; i++)
		if (child_pid[i] > 0)
			bad += reap(child_pid[i], "worker", i);
out_reap:
	if (child_pid[WORKERS] > 0)
		bad += reap(child_pid[WORKERS], "consumer", 0);
	alarm(0);
	close(ready[0]);
out:
	pooter_broker_close(broker);
	pooter_broker_unlink(broker_name);
	if (bad) {
		printf("gather-then-act: FAILED\n");
		return 1;
	}
	printf("gather-then-act: the consumer acted once, on all %d reports\n",
	       WORKERS);
	return 0;
}
