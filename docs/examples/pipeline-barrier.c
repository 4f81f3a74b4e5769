// SPDX-License-Identifier: MIT
/*
 * pipeline-barrier - three pipeline stages, each a process, that meet at a
 * barrier after every step: no stage starts step N+1 before all three have
 * finished step N.
 *
 * The barrier is a broker with quorum 3.  Each stage joins it as an emitter
 * and, when it has finished a step, emits its result for the step and
 * waits.  The first emit of a step opens a round; the round resolves when
 * all three stages have emitted, and then every stage's pooter_emit()
 * returns 0 with the round's number: the barrier opens.  The quorum keeps
 * the first round's participant set open until three emitters have joined,
 * so a stage that starts late is waited for rather than left out.  Had a
 * stage died or stalled past the timeout, the round would be cancelled
 * and every stage would learn it from pooter_emit().
 *
 * The parent, which created the broker, is also its consumer: each round
 * delivers the three stages' results for one step, which it checks at the
 * end.  The stages work for unequal times, so that they reach the barrier
 * at different moments, and tell the parent "finished step n" just before
 * they emit and "starting step n" when the barrier lets them through; the
 * parent checks that no stage started a step before every stage had
 * finished the one before.
 *
 * Exit status 0 when the barrier held and every round carried every
 * stage's result.  Uses include/pooter.h and nothing else of pooter:
 *
 *   cc -o pipeline-barrier pipeline-barrier.c $(pkg-config --cflags --libs pooter)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
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

#define STAGES 3
#define STEPS 4
#define ROUND_TIMEOUT_MS 10000 /* the slowest stage's step, and then some */
#define WATCHDOG_S 60	       /* the whole example, whatever happens */

/* What a stage contributes to a round: its result for the step. */
struct step_result {
	int stage;
	int step;
	long value;
};

/* What a stage tells the parent, in one write(2) to a shared pipe. */
enum { EV_START, EV_DONE, EV_FAILED };

struct event {
	int stage;
	int kind;
	int step;
	int err;
	uint64_t round;
};

static char broker_name[POOTER_NAME_MAX + 1];
static pid_t stage_pid[STAGES];

static void kill_stages(int sig)
{
	int i;

	(void)sig;
	for (i = 0; i < STAGES; i++)
		if (stage_pid[i] > 0)
			kill(stage_pid[i], SIGKILL);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void tell(int fd, int stage, int kind, int step, int err, uint64_t round)
{
	struct event ev = { .stage = stage,
			    .kind = kind,
			    .step = step,
			    .err = err,
			    .round = round };
	ssize_t n;

	do
		n = write(fd, &ev, sizeof(ev));
	while (n < 0 && errno == EINTR);
}

/* The pretend work of one step: unequal for every stage and step. */
static long work(int stage, int step)
{
	sleep_ms(10 + 25 * ((stage + step) % STAGES));
	return (long)(stage + 1) * 100 + step;
}

static int stage_main(int stage, int fd)
{
	struct pooter_broker *broker;
	struct pooter_emitter *emitter;
	struct step_result result;
	char name[POOTER_NAME_MAX + 1];
	uint64_t round;
	int step, err;

	/* A child opens its own handle: handles do not cross fork(). */
	err = pooter_broker_open(broker_name, &broker);
	if (err) {
		tell(fd, stage, EV_FAILED, 0, err, 0);
		return 1;
	}
	snprintf(name, sizeof(name), "stage-%d", stage);
	err = pooter_emitter_join(broker, name, 0, &emitter);
	if (err) {
		tell(fd, stage, EV_FAILED, 0, err, 0);
		pooter_broker_close(broker);
		return 1;
	}

	for (step = 1; step <= STEPS; step++) {
		tell(fd, stage, EV_START, step, 0, 0);
		result = (struct step_result){ .stage = stage,
					       .step = step,
					       .value = work(stage, step) };
		tell(fd, stage, EV_DONE, step, 0, 0);

		/* The barrier: back when all three have emitted. */
		round = 0;
		err = pooter_emit(emitter, &result, sizeof(result), &round);
		if (err) {
			tell(fd, stage, EV_FAILED, step, err, round);
			break;
		}
	}

	pooter_emitter_leave(emitter);
	pooter_broker_close(broker);
	return err ? 1 : 0;
}

/*
 * Reads the stages' events until every stage has closed the pipe, and
 * checks the barrier: a stage may start step n only once all stages have
 * finished step n - 1.  Returns the number of violations seen.
 */
static int watch_stages(int fd)
{
	int done[STEPS + 2] = { 0 };
	int started[STAGES] = { 0 };
	int i, bad = 0;
	struct event ev;
	ssize_t n;

	for (;;) {
		n = read(fd, &ev, sizeof(ev));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (n != (ssize_t)sizeof(ev) || ev.stage < 0 ||
		    ev.stage >= STAGES || ev.step < 0 || ev.step > STEPS) {
			fprintf(stderr, "a garbled event from a stage\n");
			return bad + 1;
		}
		switch (ev.kind) {
		case EV_START:
			printf("stage %d starts step %d\n", ev.stage, ev.step);
			if (ev.step > 1 && done[ev.step - 1] != STAGES) {
				printf("  BARRIER BROKEN: only %d of %d stages "
				       "had finished step %d\n",
				       done[ev.step - 1], STAGES, ev.step - 1);
				bad++;
			}
			if (ev.step != started[ev.stage] + 1) {
				printf("  stage %d skipped a step\n", ev.stage);
				bad++;
			}
			started[ev.stage] = ev.step;
			break;
		case EV_DONE:
			printf("stage %d finished step %d, waits at the "
			       "barrier\n",
			       ev.stage, ev.step);
			done[ev.step]++;
			break;
		default:
			printf("stage %d FAILED at step %d: %s (round %llu)\n",
			       ev.stage, ev.step, pooter_strerror(ev.err),
			       (unsigned long long)ev.round);
			bad++;
			break;
		}
		fflush(stdout);
	}
	for (i = 0; i < STAGES; i++) {
		if (started[i] != STEPS) {
			printf("stage %d got to step %d of %d\n", i, started[i],
			       STEPS);
			bad++;
		}
	}
	return bad;
}

/* Every round must carry the three stages' results for one step. */
static int check_deliveries(struct pooter_consumer *consumer)
{
	const struct pooter_delivery *d;
	const struct step_result *r;
	int step, bad = 0, err;
	unsigned int i, seen;

	for (step = 1; step <= STEPS; step++) {
		err = pooter_consume(consumer, 0, &d);
		if (err) {
			printf("delivery for step %d: %s\n", step,
			       pooter_strerror(err));
			return bad + 1;
		}
		seen = 0;
		for (i = 0; i < d->count; i++) {
			if (d->payloads[i].len != sizeof(*r))
				continue;
			/* Payloads are aligned for any C type. */
			r = d->payloads[i].data;
			if (r->step == step && r->stage >= 0 &&
			    r->stage < STAGES &&
			    r->value == (long)(r->stage + 1) * 100 + step)
				seen |= 1u << r->stage;
		}
		printf("round %llu: %u results for step %d%s\n",
		       (unsigned long long)d->round, d->count, step,
		       seen == (1u << STAGES) - 1 ? "" : ", NOT ALL STAGES'");
		if (d->outcome != 0 || seen != (1u << STAGES) - 1)
			bad++;
		pooter_release(consumer, d);
	}
	return bad;
}

int main(void)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = STAGES,
		    .quorum = STAGES, .max_consumers = 1,
		    .max_payload = sizeof(struct step_result),
		    .depth = STEPS + 1, .timeout_ms = ROUND_TIMEOUT_MS);
	struct sigaction sa = { .sa_handler = kill_stages };
	struct pooter_broker *broker;
	struct pooter_consumer *consumer;
	int pipefd[2], i, status, bad = 0, err;

	snprintf(broker_name, sizeof(broker_name), "pipeline-barrier-%d",
		 (int)getpid());
	err = pooter_broker_create(broker_name, &attr, &broker);
	if (err) {
		fprintf(stderr, "pooter_broker_create(%s): %s %s\n",
			broker_name, pooter_strerror(err), pooter_last_error());
		return 1;
	}
	/* Joined before any round opens, so it gets every round. */
	err = pooter_consumer_join(broker, "parent", 0, &consumer);
	if (err) {
		fprintf(stderr, "pooter_consumer_join: %s\n",
			pooter_strerror(err));
		goto out_unlink;
	}
	if (pipe(pipefd)) {
		perror("pipe");
		err = -errno;
		goto out_leave;
	}

	sigaction(SIGALRM, &sa, NULL);
	alarm(WATCHDOG_S);
	fflush(stdout);
	for (i = 0; i < STAGES; i++) {
		stage_pid[i] = fork();
		if (stage_pid[i] == 0) {
			close(pipefd[0]);
			_exit(stage_main(i, pipefd[1]));
		}
		if (stage_pid[i] < 0) {
			perror("fork");
			bad++;
		}
	}
	close(pipefd[1]);

	bad += watch_stages(pipefd[0]);
	close(pipefd[0]);
	for (i = 0; i < STAGES; i++) {
		if (stage_pid[i] <= 0)
			continue;
		while (waitpid(stage_pid[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			printf("stage %d did not exit cleanly\n", i);
			bad++;
		}
		stage_pid[i] = 0;
	}
	alarm(0);
	bad += check_deliveries(consumer);

out_leave:
	pooter_consumer_leave(consumer);
out_unlink:
	pooter_broker_close(broker);
	pooter_broker_unlink(broker_name);
	if (err || bad) {
		printf("pipeline-barrier: FAILED\n");
		return 1;
	}
	printf("pipeline-barrier: %d stages went through %d steps in "
	       "lockstep\n",
	       STAGES, STEPS);
	return 0;
}
