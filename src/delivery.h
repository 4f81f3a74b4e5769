/* SPDX-License-Identifier: MIT */
/*
 * delivery.h - deliveries (delivery.c): the next published record for a
 * consumer, its view, and the release of it.  Layer 1.  None of it takes
 * the broker's lock.
 */
#ifndef POOTER_DELIVERY_H
#define POOTER_DELIVERY_H

#include "segment.h"

/* A consumer's view of one ring record, rebuilt at each delivery. */
struct consumer_view {
	struct pooter_delivery delivery;
	struct pooter_payload *payloads; /* max_emitters */
	char (*names)[SHM_NAME_LEN];	 /* max_emitters */
	bool held;
};

/* The record to deliver next to consumer slot, or -1. */
int delivery_next(struct pooter_broker *b, uint32_t slot);

/*
 * Take record i for consumer slot: build *view from the segment, checking
 * every value against the capacities, and mark it received.
 */
int delivery_take(struct pooter_broker *b, uint32_t slot, uint32_t i,
		  struct consumer_view *view);

/* Hand record i back; -EIDRM when the slot no longer holds it. */
int delivery_release(struct pooter_broker *b, uint32_t slot, uint32_t i);

#endif /* POOTER_DELIVERY_H */
