/* SPDX-License-Identifier: MIT */
/*
 * await.h - the step functions of every wait (await.c).  Layer 2.
 */
#ifndef POOTER_AWAIT_H
#define POOTER_AWAIT_H

#include "handle.h"

/*
 * One step of a wait for round k to be over: 0 once it is (the caller reads
 * its outcome), 1 with *s the sleep to take, or a negative errno.  On the
 * way it does what a waiter must: enforce the deadline, reap a participant
 * that died owing its emit.
 */
int await_round_step(struct pooter_broker *b, struct waiter *w, uint64_t k,
		     uint64_t deadline_ns, struct wait_sleep *s);

/*
 * The sleep of an emitter waiting for a ring record (seq: the space counter
 * read before looking), watching the consumers that hold records.  Returns
 * 1 when one of them is dead already: try again at once, which reaps it.
 */
int await_space_sleep(struct pooter_broker *b, struct waiter *w, uint32_t seq,
		      uint64_t until, struct wait_sleep *s);

/* The sleep of a consumer waiting for a delivery (seq: pub, read before). */
void await_delivery_sleep(struct pooter_consumer *c, uint32_t seq,
			  uint64_t until, struct wait_sleep *s);

#endif /* POOTER_AWAIT_H */
