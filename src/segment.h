/* SPDX-License-Identifier: MIT */
/*
 * segment.h - a broker's segment as this process has it mapped: the broker
 * handle, the only address arithmetic (from layout.h), the rules about
 * records that everyone shares, and the segment's life as a file (create,
 * map, validate, unlink, list: segment.c).  Layer 0.
 */
#ifndef POOTER_SEGMENT_H
#define POOTER_SEGMENT_H

#include <sys/types.h>

#include "base.h"
#include "layout.h"

struct pidfd_cache;
struct backend_ops;

/*
 * A broker handle.  Threads may use different handles of it at once, so
 * what the handle holds is either fixed at open, or only touched under the
 * broker's lock (txn_n; the pidfd cache has its own mutex), or an atomic
 * (n_ref, the plan hints).  Waiting state is the waiter's (wait.h).
 */
struct pooter_broker {
	const struct backend_ops *ops; /* first: the seam (backend.h) */
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

/*
 * The rules on values read from the segment, defined once: the hot path
 * turns a broken one into -EPROTO (segment_corrupt()), check.c into a
 * report.  Each takes the value as the caller read it, once.
 */
#define TIMEOUT_MAX_NS ((uint64_t)POOTER_TIMEOUT_MAX_MS * NSEC_PER_MSEC)

static inline bool timeout_valid(uint64_t ms)
{
	return ms >= 1 && ms <= POOTER_TIMEOUT_MAX_MS;
}

/* A round's deadline: after its opening, by at most the timeout limit. */
static inline bool deadline_valid(uint64_t open_ns, uint64_t deadline_ns)
{
	return deadline_ns >= open_ns &&
	       deadline_ns - open_ns <= TIMEOUT_MAX_NS;
}

static inline bool outcome_code_valid(uint64_t code)
{
	return code <= SHM_OUTCOME_MAX;
}

static inline bool record_state_valid(uint64_t state)
{
	return state <= SHM_RECORD_PUBLISHED;
}

/*
 * A record's words read once, for the readers that look at all of them
 * (check, foreach_record): then checked with the rules below, then used.
 */
struct record_words {
	uint64_t round;
	uint64_t state;
	uint64_t outcome;
	uint64_t pending;
	uint64_t nemitted;
};

static inline void record_read(struct pooter_broker *b, uint32_t i,
			       struct record_words *w)
{
	struct shm_record *rec = shm_record(b, i);

	w->round = READ_ONCE(rec->round);
	w->state = READ_ONCE(rec->state);
	w->outcome = READ_ONCE(rec->outcome);
	w->pending = READ_ONCE(rec->pending);
	w->nemitted = READ_ONCE(rec->nemitted);
}

/* The bits of a bitmap over the consumer slots. */
static inline uint64_t consumers_mask(const struct pooter_broker *b)
{
	return b->max_consumers >= 64 ? ~0ull : (1ull << b->max_consumers) - 1;
}

/* A record's holders (pending bits) are consumer slots that exist. */
static inline bool record_holders_valid(const struct pooter_broker *b,
					uint64_t pending)
{
	return !(pending & ~consumers_mask(b));
}

/* A record holds at most one payload per emitter slot. */
static inline bool record_count_valid(const struct pooter_broker *b, uint64_t n)
{
	return n <= b->max_emitters;
}

/* A consumer holds (received bits) only records that exist. */
static inline bool received_valid(const struct pooter_broker *b,
				  uint64_t received)
{
	return !(received & ~depth_mask(b));
}

/*
 * A value read from the segment that is out of bounds: -EPROTO, and the
 * detail says which (the hot path's way; check.c reports the same rules).
 */
int segment_corrupt(struct pooter_broker *b, const char *what,
		    unsigned long long val);

/* Problems found in a segment: open stops at the first, check lists all. */
struct problems {
	int count;
	void (*report)(const char *problem, void *arg);
	void *arg;
};

void problem(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The capacities and timeout a new segment gets. */
struct segment_attr {
	uint32_t max_emitters;
	uint32_t max_consumers;
	uint32_t max_payload;
	uint32_t depth;
	uint32_t timeout_ms;
	uint32_t quorum;
	uint32_t mode;
};

/*
 * Create /dev/shm/pooter.NAME, whole, and publish it; on success *fdp,
 * *basep, *h and *l describe it, as segment_map() would.
 */
int segment_create(const char *name, const struct segment_attr *a, int *fdp,
		   void **basep, struct shm_header *h, struct layout *l);

/*
 * Map NAME and validate its header; shared by open and check.  On success
 * *fdp is the open segment file, for the members' liveness locks.
 */
int segment_map(const char *name, bool writable, int *fdp, void **basep,
		struct shm_header *h, struct layout *l, struct problems *p);

/* Pids and CLOCK_MONOTONIC deadlines mean other things in other namespaces. */
void namespace_check(const struct shm_header *h, const char *name,
		     struct problems *p);

int segment_unlink(const char *name);
int segment_foreach(int (*cb)(const char *name, void *arg), void *arg);

#endif /* POOTER_SEGMENT_H */
