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
 * Also here: the futex words' sleepers protocol, and the wait plan (spin,
 * yield, then sleep).  Layer 0.  What does not live here: what to wait
 * for (await.c), liveness itself (liveness.c).
 */
#ifndef POOTER_WAIT_H
#define POOTER_WAIT_H

#include <linux/futex.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <stdint.h>

#include "segment.h"

struct io_uring;
struct pidfd_cache;

/* --- futex words --------------------------------------------------------- */

/*
 * Sleep while *word == val, until woken or CLOCK_MONOTONIC reaches abs_ns
 * (UINT64_MAX: no limit).  Returns 0 (woken, or the word differs, or a
 * signal: callers re-check), or -ETIMEDOUT.
 */
static inline int futex_wait_abs(uint32_t *word, uint32_t val, uint64_t abs_ns)
{
	struct timespec ts, *tsp = NULL;
	long ret;

	if (abs_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(abs_ns / NSEC_PER_SEC);
		ts.tv_nsec = (long)(abs_ns % NSEC_PER_SEC);
		tsp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout. */
	ret = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, val, tsp, NULL,
		      FUTEX_BITSET_MATCH_ANY);
	if (ret < 0 && errno == ETIMEDOUT)
		return -ETIMEDOUT;
	return 0;
}

static inline void futex_wake_all(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static inline void futex_wake_one(uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * Futex words carry FUTEX_SLEEPERS in bit 31: a sleeper sets it (CAS) before
 * it sleeps on the word, and whoever changes the word exchanges it and makes
 * the wake syscall only if the bit was set.  No sleeper, no syscall.  The
 * CAS and the exchange are both SEQ_CST on the same word, so either the
 * sleeper's CAS fails (the word changed: it does not sleep) or the exchange
 * returns the bit (it wakes).
 */
/* FUTEX_SLEEPERS: layout.h, with the words' encodings */

/* A futex word's value, without the sleepers bit (acquire). */
static inline uint32_t futex_value(uint32_t *word)
{
	return load_acquire(word) & ~FUTEX_SLEEPERS;
}

/* Store val (without the bit) and wake the sleepers, if any. */
static inline void futex_publish(uint32_t *word, uint32_t val)
{
	if (__atomic_exchange_n(word, val, __ATOMIC_SEQ_CST) & FUTEX_SLEEPERS)
		futex_wake_all(word);
}

/* Bump a wake-up counter and wake its sleepers, if any. */
static inline void wake_counter(uint32_t *word)
{
	uint32_t old = __atomic_load_n(word, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(word, &old,
					    (old + 1) & ~FUTEX_SLEEPERS, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
	if (old & FUTEX_SLEEPERS)
		futex_wake_all(word);
}

/* Announce a sleeper on word while it holds val; false once it changed. */
static inline bool futex_mark_sleeper(uint32_t *word, uint32_t val)
{
	uint32_t cur = val;

	if (__atomic_compare_exchange_n(word, &cur, val | FUTEX_SLEEPERS, false,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return true;
	return cur == (val | FUTEX_SLEEPERS);
}

/* Sleep while *word holds val (see futex_wait_abs() for the returns). */
static inline int futex_sleep(uint32_t *word, uint32_t val, uint64_t abs_ns)
{
	if (!futex_mark_sleeper(word, val))
		return 0;
	return futex_wait_abs(word, val | FUTEX_SLEEPERS, abs_ns);
}

/* No yielding this close to a deadline (see wait_while()). */
#define YIELD_GUARD_NS (10 * NSEC_PER_MSEC)

/*
 * How a waiter waits for a word to change before it sleeps on it: a sleep
 * costs the waker a syscall and the sleeper a trip through the scheduler (on
 * a virtual machine, tens of microseconds to get an idle CPU going), while
 * most waits end within microseconds.  See wait_plan() for the choice.
 */
struct wait_plan {
	uint64_t spin_ns;  /* busy-wait this long, */
	uint64_t yield_ns; /* then hand the CPU to others this long */
};

/*
 * Wait while *word holds val, as plan says, from now (CLOCK_MONOTONIC, just
 * read) but not past until_ns; true once it changed, false when the plan
 * ran out (the caller then sleeps, or enforces the deadline).
 */
static inline bool wait_while(uint32_t *word, uint32_t val,
			      const struct wait_plan *plan, uint64_t now,
			      uint64_t until_ns)
{
	uint64_t spin_end, yield_end;

	if (futex_value(word) != val)
		return true;
	if (!plan->spin_ns && !plan->yield_ns)
		return false;
	spin_end = now + plan->spin_ns;
	yield_end = spin_end + plan->yield_ns;
	if (spin_end > until_ns)
		spin_end = until_ns;
	/*
	 * A yield to a CPU-bound process may not come back for a scheduler
	 * tick or more: stop yielding well before the caller's deadline, so
	 * the deadline is met by the timed sleep that follows.
	 */
	if (until_ns < YIELD_GUARD_NS)
		yield_end = 0;
	else if (yield_end > until_ns - YIELD_GUARD_NS)
		yield_end = until_ns - YIELD_GUARD_NS;
	while (now < spin_end) {
		for (int i = 0; i < 64; i++) {
			if (futex_value(word) != val)
				return true;
			cpu_relax();
		}
		now = now_ns();
	}
	while (now < yield_end) {
		sched_yield();
		if (futex_value(word) != val)
			return true;
		now = now_ns();
	}
	return false;
}

/* The plans: what a waiter does before it sleeps (wait.c). */
void wait_plan(struct pooter_broker *b, uint64_t now, struct wait_plan *plan);
void wait_plan_outcome(struct pooter_broker *b, uint32_t slot, uint64_t k,
		       uint64_t now, struct wait_plan *plan);
void wait_plan_delivery(struct pooter_broker *b, uint64_t now,
			struct wait_plan *plan);

/* --- the engine's sleeps --------------------------------------------------- */

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
