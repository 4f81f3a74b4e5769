/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the library's .c files share: handles, atomics, futex
 * wrappers, and the functions one concern offers another.  Not installed.
 */
#ifndef POOTER_INTERNAL_H
#define POOTER_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "liveness.h"
#include "pooter.h"
#include "wait.h"

#define POOTER_API __attribute__((visibility("default")))

#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

/*
 * How often a waiter re-checks the liveness of the participants it waits
 * for when nothing wakes it (the contract allows at most 50 ms).
 */
#define LIVENESS_PERIOD_NS (50 * NSEC_PER_MSEC)

/* Test-only kill points (chaos suite); compiled out of release builds. */
#ifdef POOTER_TEST_HOOKS
void pooter_test_point(const char *name);
#define TEST_POINT(name) pooter_test_point(name)
#else
#define TEST_POINT(name) \
	do {             \
	} while (0)
#endif

/*
 * A broker handle.  Threads may use different handles of it at once, so
 * what the handle holds is either fixed at open, or only touched under the
 * broker's lock (txn_n; the pidfd cache has its own mutex), or an atomic
 * (n_ref, the plan hints).  Waiting state is the waiter's (wait.h).
 */
struct pooter_broker {
	void *base;
	size_t size;
	/* capacities, copied from the header at open and validated */
	uint32_t max_emitters;
	uint32_t max_consumers;
	uint32_t max_payload;
	uint32_t depth;
	uint32_t quorum;
	struct layout layout;
	struct shm_state *st;
	int fd;		    /* the segment file: liveness locks */
	bool live_locks;    /* members hold them (SHM_FLAG_LIVE_LOCKS) */
	uint64_t token;	    /* this process's identity token */
	pid_t pid;	    /* the process that opened the handle */
	unsigned int n_ref; /* the opener's, and one per member */
	unsigned int txn_n; /* journal entries staged, lock held */
	struct pidfd_cache *pidfds; /* for liveness checks under the lock */
	uint64_t plan_until;	    /* members counted until then (atomic) */
	uint32_t plan_members;	    /* for wait_plan() (atomic, a hint) */
	uint32_t plan_emitters;	    /* of plan_members (atomic, a hint) */
	char name[SHM_NAME_LEN];
};

/* Outcomes of earlier rounds kept for tickets not yet settled. */
#define EMITTER_HISTORY 8

/*
 * Waits armed on an application's ring, cancelled when the handle goes: one
 * per unsettled ticket an emitter may have, and its space wait.
 */
#define URING_ARMED_MAX (EMITTER_HISTORY + 1)

struct uring_armed {
	struct io_uring *ring[URING_ARMED_MAX];
	uint64_t user_data[URING_ARMED_MAX];
};

struct pooter_emitter {
	struct pooter_broker *broker;
	uint32_t slot;
	struct waiter waiter;
	struct uring_armed armed;
	uint64_t hist_round[EMITTER_HISTORY];
	int hist_outcome[EMITTER_HISTORY];
	unsigned int hist_next;
	/* the armed space wait (pooter_prep_space_wait()) */
	uint64_t space_deadline;
	uint64_t space_user_data;
	uint32_t space_watches;
	struct wait_arm_buf space_buf;
	char name[SHM_NAME_LEN];
};

/* A consumer's view of one ring record, rebuilt at each delivery. */
struct consumer_view {
	struct pooter_delivery delivery;
	struct pooter_payload *payloads; /* max_emitters */
	char (*names)[SHM_NAME_LEN];	 /* max_emitters */
	bool held;
};

struct pooter_consumer {
	struct pooter_broker *broker;
	uint32_t slot;
	unsigned int flags;
	struct waiter waiter;
	struct uring_armed armed;
	uint64_t async_deadline;       /* of the armed consume wait */
	struct wait_arm_buf async_buf; /* its timeout and words */
	struct consumer_view *views;   /* one per ring record */
	char name[SHM_NAME_LEN];
};

/* --- segment accessors: the only address arithmetic, all from layout --- */

static inline struct shm_emitter *shm_emitter(struct pooter_broker *b,
					      uint32_t i)
{
	return (struct shm_emitter *)((char *)b->base +
				      b->layout.emitters_off) +
	       i;
}

static inline struct shm_consumer *shm_consumer(struct pooter_broker *b,
						uint32_t i)
{
	return (struct shm_consumer *)((char *)b->base +
				       b->layout.consumers_off) +
	       i;
}

static inline struct shm_record *shm_record(struct pooter_broker *b, uint32_t i)
{
	return (struct shm_record *)((char *)b->base + b->layout.records_off +
				     (uint64_t)i * b->layout.record_size);
}

static inline struct shm_entry *shm_entry(struct pooter_broker *b,
					  struct shm_record *r, uint32_t i)
{
	return (struct shm_entry *)((char *)r + b->layout.entries_off) + i;
}

static inline void *shm_payload(struct pooter_broker *b, struct shm_record *r,
				uint32_t i)
{
	return (char *)r + b->layout.payloads_off +
	       (uint64_t)i * b->layout.stride;
}

/* The bits of a bitmap over the ring's records. */
static inline uint64_t depth_mask(const struct pooter_broker *b)
{
	return b->depth >= 64 ? ~0ull : (1ull << b->depth) - 1;
}

/* The liveness lock byte of a member's slot (layout.h). */
static inline uint64_t member_live_byte(bool emitter, uint32_t slot)
{
	return emitter ? shm_live_byte_emitter(slot) :
			 shm_live_byte_consumer(slot);
}

/* The consumer slots that are joined, as a bitmap. */
static inline uint64_t consumers_joined(struct pooter_broker *b)
{
	uint64_t joined = 0;

	for (uint32_t i = 0; i < b->max_consumers; i++)
		if (READ_ONCE(shm_consumer(b, i)->owner))
			joined |= 1ull << i;
	return joined;
}

/*
 * Is a record in this state free to reuse?  The one definition, for the
 * rounds, stat, and the inspection calls: free, or published with nobody
 * joined left to release it (a pending bit of a free slot, from a corrupted
 * word or a consumer gone, must not jam the ring).
 */
static inline bool record_is_free(uint64_t state, uint64_t pending,
				  uint64_t joined)
{
	return state == SHM_RECORD_FREE ||
	       (state == SHM_RECORD_PUBLISHED && !(pending & joined));
}

/* --- time and futexes --------------------------------------------------- */

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

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
#define FUTEX_SLEEPERS 0x80000000u

/* A futex word's value, without the sleepers bit (acquire). */
static inline uint32_t futex_value(uint32_t *word)
{
	return load_acquire(word) & ~FUTEX_SLEEPERS;
}

/* The ctl futex value mirroring a round word. */
static inline uint32_t ctl_of(uint64_t round_word)
{
	return (uint32_t)round_word & ~FUTEX_SLEEPERS;
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

/* --- error.c --- */
int set_error(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void clear_error(void);

/* --- name.c --- */
int name_check(const char *name);
void name_generate(char out[SHM_NAME_LEN]);

/* --- lock.c: the lock and the redo journal --- */
int broker_lock(struct pooter_broker *b);
void broker_unlock(struct pooter_broker *b);
void txn_set(struct pooter_broker *b, uint64_t *word, uint64_t val);
void txn_clear_bits(struct pooter_broker *b, uint64_t *word, uint64_t mask);
void txn_commit(struct pooter_broker *b);
int broker_enforce_overdue(struct pooter_broker *b);
struct round_view;
int broker_enter(struct pooter_broker *b, struct round_view *v);

/* --- round.c --- */

/* The round's words read once, checked against the broker's capacities. */
struct round_view {
	uint64_t number;
	bool open;
	uint32_t record;
	uint32_t nparts;
	uint32_t nemitted;
	bool fixed;
	uint64_t open_ns;
	uint64_t deadline_ns;
};

int round_load_at(struct pooter_broker *b, struct round_view *v, uint64_t now);

static inline int round_load(struct pooter_broker *b, struct round_view *v)
{
	return round_load_at(b, v, now_ns());
}
int record_find_free(struct pooter_broker *b);
void round_decide(struct pooter_broker *b, const struct round_view *v,
		  enum shm_outcome code);
int round_enforce_deadline(struct pooter_broker *b, uint64_t now,
			   struct round_view *v);
bool emitter_owes(struct pooter_broker *b, uint32_t slot,
		  const struct round_view *v);
int outcome_errno(enum shm_outcome code);
int round_result(struct pooter_broker *b, uint32_t slot, uint64_t k);
int emitter_result(struct pooter_emitter *em, uint64_t k);
int emitter_outcome(struct pooter_emitter *em, uint64_t k);
int round_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		     bool wait_space, struct round_view *v, bool *decided);
int round_wait(struct pooter_emitter *em, uint64_t k, uint64_t deadline_ns);

void wait_plan(struct pooter_broker *b, uint64_t now, struct wait_plan *plan);
void wait_plan_outcome(struct pooter_emitter *em, uint64_t k, uint64_t now,
		       struct wait_plan *plan);
void wait_plan_delivery(struct pooter_consumer *c, uint64_t now,
			struct wait_plan *plan);

/* --- uring.c --- */
void uring_cancel_armed(struct uring_armed *armed);

/* --- await.c: the step functions of every wait --- */
int await_round_step(struct pooter_broker *b, struct waiter *w, uint64_t k,
		     uint64_t deadline_ns, struct wait_sleep *s);
int await_space_sleep(struct pooter_broker *b, struct waiter *w, uint32_t seq,
		      uint64_t until, struct wait_sleep *s);
void await_delivery_sleep(struct pooter_consumer *c, uint32_t seq,
			  uint64_t until, struct wait_sleep *s);

/* --- member.c --- */
void emitter_reap(struct pooter_broker *b, uint32_t slot,
		  const struct round_view *v);
void consumer_reap(struct pooter_broker *b, uint32_t slot);
int members_reap_dead(struct pooter_broker *b, bool emitters, bool consumers);

/* --- consume.c --- */
bool consumer_has_delivery(struct pooter_consumer *c);

/* --- broker.c --- */
int broker_check_handle(struct pooter_broker *b);
struct pooter_broker *broker_ref(struct pooter_broker *b);
void broker_unref(struct pooter_broker *b);

#endif /* POOTER_INTERNAL_H */
