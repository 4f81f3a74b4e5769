// SPDX-License-Identifier: MIT
/*
 * uring-loop - one thread, one io_uring, everything on it: an emitter in two
 * brokers, the consumer of a third, and a timerfd tick, all multiplexed.
 *
 * A program that already runs an io_uring event loop does not want a thread
 * per pooter wait.  With the async API it contributes with
 * pooter_emit_submit(), which does not wait, and puts the waits for the
 * outcome (pooter_prep_round_wait) and for deliveries
 * (pooter_prep_consume_wait) on its own ring, next to its other I/O.  Each
 * CQE is routed by its user_data and handed back to pooter, which turns it
 * into an outcome or a delivery, or re-arms the wait.
 *
 *   broker 1  we and a partner process emit: the round resolves;
 *   broker 2  we emit, our partner there never does: after its 300 ms
 *             timeout the round is cancelled, ETIMEDOUT, enforced by our
 *             own wait's link timeout: nobody else is waiting;
 *   broker 3  a producer process emits a reading every 120 ms, and we
 *             consume each round;
 *   a timerfd ticks every 100 ms, read with IORING_OP_READ.
 *
 * Each completion is printed as it comes.  Exit status 0 when broker 1
 * resolved, broker 2 timed out and all of broker 3's rounds were delivered
 * in order; 77 (skipped) where the async API cannot work, with the reason.
 *
 *   cc -o uring-loop uring-loop.c $(pkg-config --cflags --libs pooter liburing)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timerfd, liburing */
#endif

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h> /* before pooter.h: the async API takes its types */
#include <pooter.h>

#define TICK_MS 100
#define TIMEOUT_1_MS 10000 /* broker 1: its partner emits long before */
#define TIMEOUT_2_MS 300   /* broker 2: its partner never emits */
#define READINGS 5	   /* rounds the producer emits in broker 3 */
#define PRODUCER_PERIOD_MS 120
#define CONSUME_TIMEOUT_MS 10000
#define WATCHDOG_S 30 /* the whole example, whatever happens */
#define EXIT_SKIP 77  /* what test harnesses call "skipped" */

enum { PARTNER, SILENT, PRODUCER, NCHILDREN };

static char names[3][POOTER_NAME_MAX + 1];
static pid_t child_pid[NCHILDREN];
static volatile sig_atomic_t watchdog_fired;

static void watchdog(int sig)
{
	int i;

	(void)sig;
	watchdog_fired = 1;
	for (i = 0; i < NCHILDREN; i++)
		if (child_pid[i] > 0)
			kill(child_pid[i], SIGKILL);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* --- the other processes ------------------------------------------------ */

/* What the producer emits in broker 3: aligned for any C type in delivery. */
struct reading {
	unsigned int seq;
	int celsius;
};

/* Block until the parent closes its end of the pipe. */
static void wait_eof(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

/*
 * A child opens its own handle (handles do not cross fork()), joins, says
 * it is ready, and waits for the go: every participant must be joined
 * before the round opens, or it would not be one.
 */
static int child_join(unsigned int which, const char *broker, const char *who,
		      int ready_fd, struct pooter_broker **b,
		      struct pooter_emitter **e)
{
	int err;

	err = pooter_broker_open(broker, b);
	if (err) {
		fprintf(stderr, "%s: pooter_broker_open: %s\n", who,
			pooter_strerror(err));
		return err;
	}
	err = pooter_emitter_join(*b, who, 0, e);
	if (err) {
		fprintf(stderr, "%s: pooter_emitter_join: %s\n", who,
			pooter_strerror(err));
		pooter_broker_close(*b);
		return err;
	}
	if (write(ready_fd, &which, 1) != 1)
		return -EPIPE;
	close(ready_fd);
	return 0;
}

static int child_main(unsigned int which, int ready_fd, int go_fd)
{
	static const char *const who[NCHILDREN] = { "partner-1", "silent-2",
						    "producer-3" };
	struct pooter_broker *b;
	struct pooter_emitter *e;
	uint64_t round = 0;
	int err = 0;

	if (child_join(which, names[which], who[which], ready_fd, &b, &e))
		return 1;
	wait_eof(go_fd);
	switch (which) {
	case PARTNER:
		/* blocking emit: this process has nothing else to do */
		err = pooter_emit(e, "partner-1 is in", 16, &round);
		if (err)
			fprintf(stderr, "partner-1: round %llu: %s\n",
				(unsigned long long)round,
				pooter_strerror(err));
		break;
	case SILENT:
		/* joined, so a participant, but never emits: a stuck peer */
		break;
	case PRODUCER:
		for (unsigned int i = 1; i <= READINGS && !err; i++) {
			struct reading r = { .seq = i, .celsius = 19 + (int)i };

			/* the time it takes to read the sensor */
			sleep_ms(PRODUCER_PERIOD_MS);
			err = pooter_emit(e, &r, sizeof(r), &round);
			if (err)
				fprintf(stderr, "producer-3: reading %u: %s\n",
					i, pooter_strerror(err));
		}
		break;
	}
	pooter_emitter_leave(e);
	pooter_broker_close(b);
	return err ? 1 : 0;
}

/* --- the loop ----------------------------------------------------------- */

/*
 * One per kind of completion; its address is the user_data of its SQEs.
 * pooter keeps bit 0 of user_data for itself (POOTER_CQE_AUX), and these
 * addresses, being aligned, have it clear.
 */
struct source {
	const char *label;
	struct pooter_ticket ticket; /* a round wait */
	bool settled;
};

struct loop {
	struct io_uring ring;
	uint64_t t0;
	struct source round1, round2, consume3, tick;
	struct pooter_consumer *consumer;
	unsigned int delivered; /* rounds of broker 3 so far */
	int timer_fd;
	uint64_t expirations; /* the timerfd read's buffer */
	unsigned int ticks;
	int failed;
};

static uint64_t ud(struct source *s)
{
	return (uint64_t)(uintptr_t)s;
}

static unsigned long long since(struct loop *l)
{
	return (unsigned long long)(now_ms() - l->t0);
}

/* Queue the next timerfd read; the tick lives on the same ring. */
static void prep_tick(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	/* the ring is sized for all our SQEs at once: never NULL here */
	io_uring_prep_read(sqe, l->timer_fd, &l->expirations,
			   sizeof(l->expirations), 0);
	io_uring_sqe_set_data64(sqe, ud(&l->tick));
}

static int prep_consume(struct loop *l)
{
	int ret = pooter_prep_consume_wait(
		&l->ring, l->consumer, CONSUME_TIMEOUT_MS, ud(&l->consume3));

	if (ret < 0)
		fprintf(stderr, "pooter_prep_consume_wait: %s (%s)\n",
			pooter_strerror(ret), pooter_last_error());
	return ret < 0 ? ret : 0;
}

static void on_tick(struct loop *l, const struct io_uring_cqe *cqe)
{
	if (cqe->res != sizeof(l->expirations)) {
		fprintf(stderr, "timerfd read: %s\n", strerror(-cqe->res));
		l->failed = 1;
		return;
	}
	l->ticks++;
	printf("[tick] %u (at %llu ms)\n", l->ticks, since(l));
	prep_tick(l);
}

static void on_round(struct loop *l, struct source *s,
		     const struct io_uring_cqe *cqe)
{
	int ret = pooter_round_complete(&l->ring, &s->ticket, cqe);

	if (ret == 0)
		return; /* re-armed on the ring: the next submit */
	if (ret < 0) {
		fprintf(stderr, "%s: pooter_round_complete: %s\n", s->label,
			pooter_strerror(ret));
		l->failed = 1;
		s->settled = true;
		return;
	}
	s->settled = true;
	if (s->ticket.outcome == 0)
		printf("[%s] round %llu resolved (at %llu ms)\n", s->label,
		       (unsigned long long)s->ticket.round, since(l));
	else if (s->ticket.outcome == -ETIMEDOUT)
		printf("[%s] round %llu timed out (at %llu ms)\n", s->label,
		       (unsigned long long)s->ticket.round, since(l));
	else
		printf("[%s] round %llu cancelled: %s (at %llu ms)\n", s->label,
		       (unsigned long long)s->ticket.round,
		       pooter_strerror(s->ticket.outcome), since(l));
}

static void on_delivery(struct loop *l, const struct io_uring_cqe *cqe)
{
	const struct pooter_delivery *d;
	const struct reading *r;
	int ret;

	ret = pooter_consume_complete(&l->ring, l->consumer, cqe, &d);
	if (ret == 0)
		return; /* re-armed */
	if (ret < 0) {
		fprintf(stderr, "[broker-3] no delivery: %s\n",
			pooter_strerror(ret));
		l->failed = 1;
		l->consume3.settled = true;
		return;
	}
	r = d->payloads[0].data;
	if (d->count != 1 || d->payloads[0].len != sizeof(*r) ||
	    d->round != l->delivered + 1 || r->seq != d->round) {
		fprintf(stderr,
			"[broker-3] unexpected delivery of round "
			"%llu\n",
			(unsigned long long)d->round);
		l->failed = 1;
	} else {
		printf("[broker-3] delivery round %llu: %s says reading %u "
		       "is %d C (at %llu ms)\n",
		       (unsigned long long)d->round, d->payloads[0].emitter,
		       r->seq, r->celsius, since(l));
	}
	l->delivered++;
	/* the record goes back to the ring as soon as we are done with it */
	pooter_release(l->consumer, d);
	if (l->delivered < READINGS && !l->failed) {
		if (prep_consume(l))
			l->failed = 1;
	}
	if (l->delivered == READINGS || l->failed)
		l->consume3.settled = true;
}

static void dispatch(struct loop *l, const struct io_uring_cqe *cqe)
{
	struct source *s =
		(struct source *)(uintptr_t)(cqe->user_data & ~POOTER_CQE_AUX);

	/*
	 * The link timeout of a pooter wait completes too, tagged: it says
	 * nothing the wait's own CQE does not, and its ticket may be settled
	 * and gone by now.  Drop it unread.
	 */
	if (pooter_cqe_is_aux(cqe))
		return;
	if (s == &l->tick)
		on_tick(l, cqe);
	else if (s == &l->round1 || s == &l->round2)
		on_round(l, s, cqe);
	else if (s == &l->consume3)
		on_delivery(l, cqe);
	else
		fprintf(stderr, "a CQE of nobody's: %#llx\n",
			(unsigned long long)cqe->user_data);
}

static bool done(struct loop *l)
{
	return l->failed ||
	       (l->round1.settled && l->round2.settled && l->consume3.settled);
}

static int run(struct loop *l, struct pooter_emitter *e1,
	       struct pooter_emitter *e2, int *go_fd)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = TICK_MS * 1000000L },
		.it_value = { .tv_nsec = TICK_MS * 1000000L },
	};
	int ret;

	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (l->timer_fd < 0 || timerfd_settime(l->timer_fd, 0, &its, NULL)) {
		perror("timerfd");
		return 1;
	}
	prep_tick(l);

	/*
	 * Contribute to both rounds without waiting; we open them, so the
	 * partners' emits below go into the same rounds.
	 */
	ret = pooter_emit_submit(e1, "main-1 is in", 13, &l->round1.ticket);
	if (!ret)
		ret = pooter_emit_submit(e2, "main-2 is in", 13,
					 &l->round2.ticket);
	if (ret) {
		fprintf(stderr, "pooter_emit_submit: %s\n",
			pooter_strerror(ret));
		return 1;
	}
	printf("[broker-1] emitted in round %llu, deadline in %d ms\n",
	       (unsigned long long)l->round1.ticket.round, TIMEOUT_1_MS);
	printf("[broker-2] emitted in round %llu, deadline in %d ms\n",
	       (unsigned long long)l->round2.ticket.round, TIMEOUT_2_MS);

	/* 2 SQEs each at most (the wait, its link timeout); the ring has 16 */
	if (pooter_prep_round_wait(&l->ring, &l->round1.ticket,
				   ud(&l->round1)) < 0 ||
	    pooter_prep_round_wait(&l->ring, &l->round2.ticket,
				   ud(&l->round2)) < 0 ||
	    prep_consume(l)) {
		fprintf(stderr, "pooter_prep_round_wait: %s\n",
			pooter_last_error());
		return 1;
	}
	/* all armed: let the partner and the producer go */
	close(*go_fd);
	*go_fd = -1;

	while (!done(l)) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;

		/* submits what the handlers queued, then sleeps for a CQE */
		ret = io_uring_submit_and_wait(&l->ring, 1);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n",
				strerror(-ret));
			return 1;
		}
		if (watchdog_fired) {
			fprintf(stderr, "watchdog: gave up after %d s\n",
				WATCHDOG_S);
			return 1;
		}
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			dispatch(l, cqe);
			n++;
		}
		io_uring_cq_advance(&l->ring, n);
	}
	return l->failed;
}

static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	POOTER_OPTS(pooter_broker_attr, attr1, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = TIMEOUT_1_MS);
	POOTER_OPTS(pooter_broker_attr, attr2, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = TIMEOUT_2_MS);
	POOTER_OPTS(pooter_broker_attr, attr3, .max_emitters = 1,
		    .max_consumers = 1, .max_payload = sizeof(struct reading),
		    .timeout_ms = TIMEOUT_1_MS);
	const struct pooter_broker_attr *attrs[3] = { &attr1, &attr2, &attr3 };
	struct sigaction sa = { .sa_handler = watchdog };
	struct pooter_broker *b[3] = { NULL };
	struct pooter_emitter *e1 = NULL, *e2 = NULL;
	struct loop l = {
		.round1.label = "broker-1",
		.round2.label = "broker-2",
		.consume3.label = "broker-3",
		.tick.label = "tick",
		.timer_fd = -1,
	};
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 }, hold[2] = { -1, -1 };
	int bad = 1, err, i;
	char c;

	/* Before anything: where the kernel lacks it, say why and skip. */
	err = pooter_uring_supported();
	if (err) {
		printf("uring-loop: skipped: the io_uring API is unavailable "
		       "here: %s\n",
		       pooter_last_error());
		return EXIT_SKIP;
	}
	err = io_uring_queue_init(16, &l.ring, 0);
	if (err) {
		printf("uring-loop: skipped: io_uring_queue_init: %s\n",
		       strerror(-err));
		return EXIT_SKIP;
	}

	for (i = 0; i < 3; i++) {
		snprintf(names[i], sizeof(names[i]), "uring-loop-%d-%d",
			 (int)getpid(), i + 1);
		err = pooter_broker_create(names[i], attrs[i], &b[i]);
		if (err) {
			fprintf(stderr, "pooter_broker_create(%s): %s %s\n",
				names[i], pooter_strerror(err),
				pooter_last_error());
			goto out;
		}
	}
	if ((err = pooter_emitter_join(b[0], "main-1", 0, &e1)) ||
	    (err = pooter_emitter_join(b[1], "main-2", 0, &e2)) ||
	    /* joined before the producer starts: we get every round */
	    (err = pooter_consumer_join(b[2], "main-3", 0, &l.consumer))) {
		fprintf(stderr, "join: %s\n", pooter_strerror(err));
		goto out;
	}

	if (pipe(ready) || pipe(go) || pipe(hold)) {
		perror("pipe");
		goto out;
	}
	sigaction(SIGALRM, &sa, NULL);
	alarm(WATCHDOG_S);
	fflush(stdout);
	for (i = 0; i < NCHILDREN; i++) {
		child_pid[i] = fork();
		if (child_pid[i] == 0) {
			/*
			 * The silent one waits on hold, closed only at the
			 * end, so it stays a live participant that owes its
			 * emit: what makes broker 2's round time out rather
			 * than be cancelled by its death.
			 */
			int wait_fd = i == SILENT ? hold[0] : go[0];

			close(ready[0]);
			close(go[1]);
			close(hold[1]);
			_exit(child_main((unsigned int)i, ready[1], wait_fd));
		}
		if (child_pid[i] < 0) {
			perror("fork");
			goto out_children;
		}
	}
	close(ready[1]);
	close(go[0]);
	close(hold[0]);
	ready[1] = go[0] = hold[0] = -1;
	for (i = 0; i < NCHILDREN; i++) {
		if (read(ready[0], &c, 1) != 1) {
			fprintf(stderr, "a child did not get ready\n");
			goto out_children;
		}
	}

	l.t0 = now_ms();
	bad = run(&l, e1, e2, &go[1]);
	if (!bad &&
	    (l.round1.ticket.outcome != 0 ||
	     l.round2.ticket.outcome != -ETIMEDOUT || l.delivered != READINGS))
		bad = 1;

out_children:
	/* the producer and partner exit on their own; release the silent */
	for (i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (hold[i] >= 0)
			close(hold[i]);
	}
	for (i = 0; i < NCHILDREN; i++) {
		if (child_pid[i] <= 0)
			continue;
		if (bad)
			kill(child_pid[i], SIGKILL);
		if (reap(child_pid[i]) && !bad) {
			fprintf(stderr, "child %d did not exit cleanly\n", i);
			bad = 1;
		}
	}
	alarm(0);
out:
	/*
	 * Leave before the ring goes: a wait still armed would be cancelled
	 * on it.  Ours are all settled, so this queues nothing.
	 */
	if (e1)
		pooter_emitter_leave(e1);
	if (e2)
		pooter_emitter_leave(e2);
	if (l.consumer)
		pooter_consumer_leave(l.consumer);
	/* the pending timerfd read and stray link timeouts go with the ring */
	io_uring_queue_exit(&l.ring);
	if (l.timer_fd >= 0)
		close(l.timer_fd);
	for (i = 0; i < 3; i++) {
		if (b[i]) {
			pooter_broker_close(b[i]);
			pooter_broker_unlink(names[i]);
		}
	}
	for (i = 0; i < 2; i++)
		if (ready[i] >= 0)
			close(ready[i]);
	if (bad) {
		printf("uring-loop: FAILED\n");
		return 1;
	}
	printf("uring-loop: %u ticks; broker 1 resolved, broker 2 timed out, "
	       "%d readings from broker 3, all on one ring\n",
	       l.ticks, READINGS);
	return 0;
}
