/* SPDX-License-Identifier: MIT */
/*
 * round.h - the round's state machine (round.c): read the round, open one,
 * add an emit, decide.  Layer 1: no waiting and no reaping here; the calls
 * above do both, and call in.
 */
#ifndef POOTER_ROUND_H
#define POOTER_ROUND_H

#include "lock.h"

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
/* A free ring record's index, -ENOENT when all are held, or -EPROTO. */
int record_find_free(struct pooter_broker *b);
/* The record to copy into for round k, not yet open, no lock, or -1. */
int record_predict(struct pooter_broker *b, uint64_t k);

/*
 * Open round v->number + 1 in a free record, every registered emitter a
 * participant.  Lock held; the dead reaped first by the caller.  v becomes
 * the open round.  -EAGAIN when every record is held.  prefer: a record to
 * claim if it is free (one an emitter copied into already), or -1.
 */
int round_open(struct pooter_broker *b, struct round_view *v, uint64_t now,
	       int prefer);

/*
 * May the emitter in slot (named name) emit in the open round v now?
 * -EBUSY (no participant), -EALREADY (emitted already).  Lock held.
 */
int round_may_emit(struct pooter_broker *b, uint32_t slot, const char *name,
		   const struct round_view *v);

/*
 * Commit the emit of the emitter in slot to the open round v: its len
 * payload bytes are in its area of the round's record already (copied
 * without the lock, see emit.c); the entry is written and counted, and the
 * round resolved if it was the last.  Lock held, and still held after.
 * *decided: resolved.
 */
int round_emit(struct pooter_broker *b, uint32_t slot, const char *name,
	       size_t len, struct round_view *v, bool *decided);

void round_decide(struct pooter_broker *b, const struct round_view *v,
		  enum shm_outcome code);
/* Lock held.  *v is the round as it stands after the enforcement. */
int round_enforce_deadline(struct pooter_broker *b, uint64_t now,
			   struct round_view *v);
bool emitter_owes(struct pooter_broker *b, uint32_t slot,
		  const struct round_view *v);
int outcome_errno(enum shm_outcome code);
/* Round k's outcome for slot, without the lock; -EINPROGRESS: undecided. */
int round_result(struct pooter_broker *b, uint32_t slot, uint64_t k);

#endif /* POOTER_ROUND_H */
