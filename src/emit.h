/* SPDX-License-Identifier: MIT */
/*
 * emit.h - emits and their outcomes (emit.c), for the blocking and the
 * io_uring calls alike.  Layer 2.
 */
#ifndef POOTER_EMIT_H
#define POOTER_EMIT_H

#include "handle.h"

/*
 * Contribute payload to the open round, opening one if none is open.  With
 * wait_space, a full ring is waited out for up to the timeout; without, it
 * is -EAGAIN at once.  On success *v is the round as our emit left it and
 * *decided says whether our emit resolved it.
 */
int emit_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		    bool wait_space, struct round_view *v, bool *decided);

/*
 * Take the lock with a round open: the one open, or one we open (waiting
 * out a full ring as wait_space says, else -EAGAIN), and our slot still
 * ours (-EIDRM).  Returns with the lock held and *v the open round, or an
 * error without the lock.  prefer: the record to open it in if that one is
 * free (where the payload was copied already), or -1.
 */
int emit_open(struct pooter_emitter *em, bool wait_space, int prefer,
	      struct round_view *v);

/* Before we emit or take a loan in v: keep the last outcome (lock held). */
void emit_keep_history(struct pooter_emitter *em, const struct round_view *v);

/* Block until round k, in which we emitted, is decided: its outcome. */
int emit_wait(struct pooter_emitter *em, uint64_t k, uint64_t deadline_ns);

/* Round k's outcome: from the handle's history, else the segment. */
int emitter_result(struct pooter_emitter *em, uint64_t k);
/* The same, for a round known to be over: -EPROTO if there is none. */
int emitter_outcome(struct pooter_emitter *em, uint64_t k);

#endif /* POOTER_EMIT_H */
