/* SPDX-License-Identifier: MIT */
/*
 * layout.h - the shared-memory segment, defined once.
 *
 * Everything that lives in /dev/shm/pooter.NAME is declared here, and only
 * layout_compute() turns capacities into offsets.  Nothing outside this
 * header computes an offset into the segment.
 *
 *   +-----------------------------+ 0
 *   | struct shm_header           |  immutable after create
 *   +-----------------------------+ 256
 *   | struct shm_state            |  lock, journal, round, counters
 *   +-----------------------------+ emitters_off
 *   | struct shm_emitter [E]      |  one 128-byte slot per emitter
 *   +-----------------------------+ consumers_off
 *   | struct shm_consumer [C]     |  one 128-byte slot per consumer
 *   +-----------------------------+ records_off
 *   | record [D]                  |  struct shm_record, shm_entry [E],
 *   |                             |  then E payload areas of `stride`,
 *   |                             |  area i belonging to emitter slot i
 *   +-----------------------------+ segment_size
 *
 * Every multi-word update of the state goes through the redo journal (see
 * lock.c), so the words written by a journal entry are all 64-bit.  Futex
 * words are 32-bit mirrors of 64-bit state words, kept in sync by whoever
 * writes the state word (and by repair after a death).
 *
 * The contents are untrusted: a value read from here is read once into a
 * local, checked against the capacities taken at open time, then used.
 */
#ifndef POOTER_LAYOUT_H
#define POOTER_LAYOUT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooter.h"

#define SHM_MAGIC 0x00007265746f6f70ull /* "pooter\0\0", little-endian */
#define SHM_LAYOUT_VERSION 2u		/* 2: payload area per emitter slot */
#define SHM_CACHELINE 64
#define SHM_NAME_LEN 64	     /* POOTER_NAME_MAX + NUL */
#define SHM_JOURNAL_MAX 96   /* >= depth + a handful: see consumer_reap() */
#define SHM_PAYLOAD_ALIGN 64 /* >= _Alignof(max_align_t); one cache line */

#define __shm_aligned __attribute__((aligned(SHM_CACHELINE)))

/* Outcome codes as stored in the segment (small, validated on every read). */
enum shm_outcome {
	SHM_RESOLVED = 0,
	SHM_TIMEDOUT = 1,
	SHM_CANCELED = 2,
	SHM_OWNERDEAD = 3,
	SHM_OUTCOME_MAX = SHM_OWNERDEAD,
};

/* record.state */
enum shm_record_state {
	SHM_RECORD_FREE = 0,
	SHM_RECORD_OPEN = 1,
	SHM_RECORD_PUBLISHED = 2,
};

/*
 * header.flags.  SHM_FLAG_LIVE_LOCKS: every member holds its liveness lock
 * (liveness.c), so a member whose lock is free is dead; a library that
 * predates the locks refuses the segment (unknown flag) rather than take
 * part without one.
 */
#define SHM_FLAG_LIVE_LOCKS 1u
#define SHM_FLAGS_KNOWN SHM_FLAG_LIVE_LOCKS

/*
 * The byte of the segment file whose lock (an OFD read lock, F_OFD_SETLK)
 * a member holds while its process lives: past any segment, one per slot.
 */
#define SHM_LIVE_LOCK_BASE (1ull << 40)

static inline uint64_t shm_live_byte_emitter(uint32_t slot)
{
	return SHM_LIVE_LOCK_BASE + slot;
}

static inline uint64_t shm_live_byte_consumer(uint32_t slot)
{
	return SHM_LIVE_LOCK_BASE + POOTER_EMITTERS_MAX + slot;
}

/* consumer.flags */
#define SHM_CONSUMER_NOTICES 1ull

/* Immutable after create: read once at open and validated as a whole. */
struct shm_header {
	uint64_t magic;	       /* SHM_MAGIC */
	uint32_t version;      /* SHM_LAYOUT_VERSION, at byte 8 */
	uint32_t header_size;  /* sizeof(struct shm_header) */
	uint64_t segment_size; /* == layout_compute(capacities).size */
	uint32_t max_emitters;
	uint32_t max_consumers;
	uint32_t max_payload;
	uint32_t depth;
	uint32_t quorum;
	uint32_t flags;	     /* SHM_FLAG_*; unknown ones refused */
	uint64_t pidns;	     /* inode of the creator's pid namespace */
	uint64_t timens;     /* inode of the creator's time namespace */
	uint64_t created_ns; /* CLOCK_REALTIME at create */
	char name[SHM_NAME_LEN];
	uint8_t reserved[256 - 136];
};

/*
 * The lock: owner is the identity token (liveness.c) of the process holding
 * it, 0 when free.  seq is the futex sleepers wait on; unlock bumps it when
 * waiters is non-zero.
 */
struct shm_lock {
	uint64_t owner;
	uint32_t seq;
	uint32_t waiters;
} __shm_aligned;

/*
 * A journal entry sets a word to val, or, with SHM_JOURNAL_CLEAR in off,
 * clears the bits of val in it (an atomic and-not: idempotent too, and it
 * commutes with a consumer clearing its own bit without the lock).
 */
#define SHM_JOURNAL_CLEAR (1ull << 63)

struct shm_journal_entry {
	uint64_t off; /* byte offset of a 64-bit word in the segment */
	uint64_t val;
};

/*
 * Redo journal: committed is the number of entries to apply, 0 when no
 * multi-step update is in flight.  Written only by the lock holder.
 */
struct shm_journal {
	uint64_t committed;
	uint64_t applied; /* entries [0, applied) are applied: repair
				   resumes there, so an entry is never applied
				   again once a later one may have been acted on */
	struct shm_journal_entry ent[SHM_JOURNAL_MAX];
} __shm_aligned;

/*
 * The round.  word is (number << 1) | open; ctl is its low 32 bits, the
 * futex every outcome waiter sleeps on.  outcome is (number << 8) | code of
 * the last decided round.  pub and space are wake-up counters (futexes) for
 * consumers and for emitters waiting for a free ring record.
 */
struct shm_round {
	uint32_t ctl;
	uint32_t pub;
	uint32_t space;
	uint32_t guess; /* the record emitters copy into for the next
				 round, a hint only: round_guess_word() */
	uint64_t word;
	uint64_t outcome;
	uint64_t record;      /* ring record of the open round */
	uint64_t nparts;      /* participants of the open round */
	uint64_t fixed;	      /* participant set fixed (quorum reached) */
	uint64_t open_ns;     /* CLOCK_MONOTONIC */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC, absolute */
} __shm_aligned;

/*
 * Counters.  Each is set through the journal in the same update as the
 * outcome it counts, so a death cannot make them disagree.  emits and
 * deliveries hold what decided rounds and departed consumers contributed;
 * stat adds the open round's and the live consumers' share.
 */
struct shm_stats {
	uint64_t timeout_ms; /* for rounds opened from now on */
	uint64_t count[SHM_OUTCOME_MAX + 1];
	uint64_t emits;
	uint64_t deliveries;
} __shm_aligned;

struct shm_state {
	struct shm_lock lock;
	struct shm_round round;
	struct shm_stats stats;
	struct shm_journal journal;
};

struct shm_emitter {
	uint64_t owner;	     /* identity token, 0 when the slot is free */
	uint64_t part_round; /* round it is a participant of */
	uint64_t emit_round; /* last round it emitted in */
	uint64_t result;     /* (round << 8) | code, copied for late waiters */
	char name[SHM_NAME_LEN];
	uint64_t cpu; /* CPU of its last emit + 1, 0 unknown: a hint only */
	uint64_t loan_round; /* round it holds a loan in (or 0): see emit.c */
	uint8_t reserved[128 - 112];
} __shm_aligned;

struct shm_consumer {
	uint64_t owner;
	uint64_t flags;	   /* SHM_CONSUMER_NOTICES */
	uint64_t received; /* bitmap of records received, not released */
	uint64_t delivered;
	char name[SHM_NAME_LEN];
	uint8_t reserved[128 - 96];
} __shm_aligned;

struct shm_record {
	uint64_t round;
	uint64_t state;	   /* enum shm_record_state */
	uint64_t outcome;  /* enum shm_outcome, once published */
	uint64_t pending;  /* bitmap of consumers yet to release it */
	uint64_t nemitted; /* entries [0, nemitted) are committed */
	uint8_t reserved[64 - 40];
} __shm_aligned;

/*
 * One emitted payload, in commit order; its bytes are in the payload area of
 * its emitter's slot, which only that slot's owner writes (and only while
 * no committed entry names it: see emit.c), so the bytes can be copied in
 * without the lock and the entry committed after.
 */
struct shm_entry {
	uint64_t slot; /* emitter slot that emitted it: its payload area */
	uint64_t len;
	char name[SHM_NAME_LEN]; /* copied: the slot may be reused later */
};

static_assert(sizeof(struct shm_header) == 256, "header is 256 bytes");
static_assert(offsetof(struct shm_header, version) == 8, "version at byte 8");
static_assert(offsetof(struct shm_header, name) == 72, "header layout");
static_assert(sizeof(struct shm_lock) == SHM_CACHELINE, "lock has its line");
static_assert(sizeof(struct shm_round) == 2 * SHM_CACHELINE, "round lines");
static_assert(offsetof(struct shm_state, round) == SHM_CACHELINE,
	      "round words do not share the lock's line");
static_assert(sizeof(struct shm_emitter) == 128, "emitter slot size");
static_assert(sizeof(struct shm_consumer) == 128, "consumer slot size");
static_assert(sizeof(struct shm_record) == SHM_CACHELINE, "record header");
static_assert(sizeof(struct shm_entry) == 80, "entry size");
static_assert(SHM_PAYLOAD_ALIGN % _Alignof(max_align_t) == 0,
	      "payloads aligned for any C type");
static_assert(POOTER_DEPTH_MAX <= 64, "received bitmap is one word");
static_assert(POOTER_CONSUMERS_MAX <= 64, "pending bitmap is one word");
static_assert(SHM_JOURNAL_MAX >= POOTER_DEPTH_MAX + 8,
	      "consumer_reap() journals one entry per record");

/*
 * The encodings of the round's words, each defined here once:
 *   round.word     (number << 1) | open
 *   round.outcome  (number << 8) | enum shm_outcome, of the last decided
 *   emitter.result the same, copied for late waiters
 * Round numbers stay below SHM_ROUND_LIMIT, so both fit 64 bits.
 */
#define SHM_ROUND_LIMIT (1ull << 55)

static inline uint64_t round_word(uint64_t number, int open)
{
	return (number << 1) | (open ? 1 : 0);
}

static inline uint64_t round_word_number(uint64_t word)
{
	return word >> 1;
}

static inline int round_word_open(uint64_t word)
{
	return (int)(word & 1);
}

static inline uint64_t outcome_word(uint64_t number, enum shm_outcome code)
{
	return (number << 8) | (uint64_t)code;
}

static inline uint64_t outcome_word_round(uint64_t o)
{
	return o >> 8;
}

/* The code as stored: callers check it against SHM_OUTCOME_MAX. */
static inline uint64_t outcome_word_code(uint64_t o)
{
	return o & 0xff;
}

/*
 * round.guess: (low 24 bits of the round number << 8) | record index, the
 * record the first emitter to copy before round k opens guessed for it, so
 * the others copy into the same one.  A hint, checked before any use.
 */
static inline uint32_t round_guess_word(uint64_t number, uint32_t record)
{
	return (uint32_t)((number & 0xffffff) << 8) | (record & 0xff);
}

static inline bool round_guess_for(uint32_t g, uint64_t number)
{
	return g >> 8 == (uint32_t)(number & 0xffffff);
}

static inline uint32_t round_guess_record(uint32_t g)
{
	return g & 0xff;
}

/*
 * Futex words carry FUTEX_SLEEPERS in bit 31 (see wait.h).  round.ctl is
 * the low bits of round.word: ctl_of() makes one from the other.
 */
#define FUTEX_SLEEPERS 0x80000000u

static inline uint32_t ctl_of(uint64_t word)
{
	return (uint32_t)word & ~FUTEX_SLEEPERS;
}

/* Offsets and sizes implied by a set of capacities. */
struct layout {
	uint64_t state_off;
	uint64_t emitters_off;
	uint64_t consumers_off;
	uint64_t records_off;
	uint64_t entries_off;  /* within a record */
	uint64_t payloads_off; /* within a record */
	uint64_t stride;       /* payload area size */
	uint64_t record_size;
	uint64_t size; /* whole segment */
};

static inline uint64_t layout_align(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * Capacities are checked against their limits by the caller, so nothing here
 * can overflow 64 bits (the largest is 64 * 256 * 1 MiB).
 */
static inline void layout_compute(struct layout *l, uint32_t emitters,
				  uint32_t consumers, uint32_t payload,
				  uint32_t depth)
{
	l->state_off = sizeof(struct shm_header);
	l->emitters_off = layout_align(l->state_off + sizeof(struct shm_state),
				       SHM_CACHELINE);
	l->consumers_off = l->emitters_off +
			   (uint64_t)emitters * sizeof(struct shm_emitter);
	l->records_off = l->consumers_off +
			 (uint64_t)consumers * sizeof(struct shm_consumer);
	l->entries_off = sizeof(struct shm_record);
	l->payloads_off = layout_align(
		l->entries_off + (uint64_t)emitters * sizeof(struct shm_entry),
		SHM_PAYLOAD_ALIGN);
	l->stride = layout_align(payload, SHM_PAYLOAD_ALIGN);
	l->record_size = l->payloads_off + (uint64_t)emitters * l->stride;
	l->size = l->records_off + (uint64_t)depth * l->record_size;
}

#endif /* POOTER_LAYOUT_H */
