/* SPDX-License-Identifier: MIT */
/*
 * wait.h - the wait engine's bottom half: what a waiter owns, the sleep a
 * step function asks for, and the two ways to take that sleep.
 *
 * Every wait in pooter (an emitter's outcome, a join waiting for a round to
 * end, a consumer's delivery, an emitter's ring space) is a loop of one step
 * function (await.c) that either says "settled" or fills a struct wait_sleep:
 * sleep while these futex words hold these values, until this time, or until
 * one of these processes (pidfds) dies.  The blocking calls take the sleep
 * with wait_block(), on the waiter's private ring; the io_uring API queues
 * the very same sleep on the application's ring with wait_arm().  So both
 * paths see the same events with the same latency, and a waiter never
 * shares its state: it lives in the emitter or consumer handle.
 *
 * What does not live here: what to wait for (await.c), the futex word
 * encodings (internal.h), liveness itself (liveness.c).
 */
#ifndef POOTER_WAIT_H
#define POOTER_WAIT_H

#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>

#include "pooter.h"

struct io_uring;
struct pidfd_cache;

#define WAIT_WORDS_MAX 2
#define WAIT_FDS_MAX (POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX)

/* One sleep: what a step function asks the engine for. */
struct wait_sleep {
	uint32_t *word[WAIT_WORDS_MAX]; /* sleep while each holds its val */
	uint32_t val[WAIT_WORDS_MAX];	/* (without FUTEX_SLEEPERS) */
	unsigned int nwords;		/* 1 or 2 */
	uint64_t until;			/* CLOCK_MONOTONIC; UINT64_MAX: none */
	bool unwatched;			/* some process to watch had no pidfd */
	unsigned int nfds;
	int fds[WAIT_FDS_MAX]; /* pidfds: a death ends the sleep */
};

/* What a waiter owns: one per emitter handle, one per consumer handle. */
struct waiter {
	struct io_uring *ring;	    /* private, for blocking sleeps (lazy) */
	struct pidfd_cache *pidfds; /* of the processes it watches */
	uint32_t mask;		    /* futex bitset bit of wakes aimed at us */
	bool woken;		    /* slept since the last step */
	bool no_ring;		    /* the private ring could not be had */
};

/*
 * What an armed sleep needs to stay valid until it is submitted (the
 * kernel reads both then): kept in the ticket or the handle.  A sleep on
 * one word needs only ts.
 */
struct wait_arm_buf {
	int64_t ts[2];
	struct futex_waitv waitv[WAIT_WORDS_MAX];
};

/* processes: how many it may watch; lock_fd: see pidfd_cache_new(). */
int waiter_init(struct waiter *w, unsigned int processes, int lock_fd);
void waiter_free(struct waiter *w);

/* Start filling s (no words, no fds, no limit). */
void wait_sleep_init(struct wait_sleep *s);

/* Add a futex word to sleep on while it holds val. */
void wait_sleep_word(struct wait_sleep *s, uint32_t *word, uint32_t val);

/*
 * Watch the process of token (owner of the slot whose liveness lock is
 * byte) during the sleep: 0, or -ESRCH when it is dead
 * already (the step reaps it and looks again).  A process that cannot be
 * watched marks the sleep unwatched: it is then re-checked every
 * LIVENESS_PERIOD_NS instead.
 */
int wait_sleep_watch(struct waiter *w, struct wait_sleep *s, uint64_t token,
		     uint64_t byte);

/* Take the sleep now, on the private ring or with futex(2).  Sets woken. */
void wait_block(struct waiter *w, struct wait_sleep *s);

/*
 * Queue the sleep on ring, its main CQE tagged user_data and every other
 * one user_data | POOTER_CQE_AUX.  Returns the SQEs queued, or -EBUSY with
 * nothing queued when the queue has room for fewer than two; a word that
 * already left its value queues one NOP.  Deaths are watched when the queue
 * has room for two SQEs a process; else the sleep is cut to the liveness
 * period.  s->nfds is left saying how many are watched.
 */
int wait_arm(struct io_uring *ring, struct waiter *w, struct wait_sleep *s,
	     uint64_t user_data, int64_t ts[2], struct futex_waitv *waitv);

/*
 * Queue the cancellation of the death watches of an armed sleep (the CQEs
 * of user_data | POOTER_CQE_AUX), and with main, of the sleep itself.
 * Needs one free SQE each, submitting the queue when full.
 */
void wait_disarm(struct io_uring *ring, uint64_t user_data, bool main);

/* 0 when io_uring can do what the engine needs, else -EOPNOTSUPP. */
int wait_uring_probe(const char **reason);

#endif /* POOTER_WAIT_H */
