/* SPDX-License-Identifier: MIT */
/*
 * delivery.c - deliveries: a consumer takes the next published record in
 * round order and releases it when done.  Layer 1.
 *
 * A record published by round k carries a pending bitmap of the consumers
 * that have yet to release it; a consumer's received bitmap says which of
 * those it has taken.  The next delivery is the published record with the
 * consumer's pending bit, not yet received, of the lowest round.  A record
 * is free again once no joined consumer's pending bit is left.
 *
 * Neither consume nor release takes the broker's lock.  While a consumer's
 * pending bit is set nobody may reuse the record, so what it reads there is
 * stable; received and delivered are its own words; and releasing is an
 * atomic clear of its own bit, which commutes with the reaper's clears (a
 * SHM_JOURNAL_CLEAR entry) and with other consumers' releases.
 */
#include <string.h>

#include "delivery.h"
#include "error.h"
#include "round.h"
#include "wait.h"

/*
 * Build the consumer's view of record i from the segment, checking every
 * value against the capacities.  Our pending bit keeps the record still.
 */
static int view_build(struct pooter_broker *b, uint32_t i,
		      struct consumer_view *view)
{
	struct shm_record *rec = shm_record(b, i);
	uint64_t outcome = READ_ONCE(rec->outcome);
	uint64_t n = READ_ONCE(rec->nemitted);

	if (!outcome_code_valid(outcome))
		return set_error(-EPROTO, "broker %s: record %u outcome %llu",
				 b->name, i, (unsigned long long)outcome);
	if (!record_count_valid(b, n))
		return set_error(-EPROTO,
				 "broker %s: record %u holds %llu "
				 "payloads, capacity %u",
				 b->name, i, (unsigned long long)n,
				 b->max_emitters);
	if (outcome != SHM_RESOLVED)
		n = 0; /* a notice: the round's number and reason only */

	for (uint32_t e = 0; e < n; e++) {
		struct shm_entry *ent = shm_entry(b, rec, e);
		uint64_t len = READ_ONCE(ent->len);
		uint64_t area = READ_ONCE(ent->slot);

		/* the payload is in the area of the slot that emitted it */
		if (area >= b->max_emitters)
			return set_error(-EPROTO,
					 "broker %s: record %u payload %u from "
					 "emitter slot %llu, capacity %u",
					 b->name, i, e,
					 (unsigned long long)area,
					 b->max_emitters);
		if (len > b->max_payload)
			return set_error(-EPROTO,
					 "broker %s: record %u payload %u of "
					 "%llu bytes, limit %u",
					 b->name, i, e, (unsigned long long)len,
					 b->max_payload);
		/* a copy, so a hostile segment cannot unterminate it later */
		memcpy(view->names[e], ent->name, SHM_NAME_LEN);
		view->names[e][SHM_NAME_LEN - 1] = '\0';
		view->payloads[e].emitter = view->names[e];
		view->payloads[e].data = shm_payload(b, rec, (uint32_t)area);
		view->payloads[e].len = (size_t)len;
	}
	view->delivery.round = READ_ONCE(rec->round);
	view->delivery.outcome = outcome_errno((enum shm_outcome)outcome);
	view->delivery.count = (unsigned int)n;
	view->delivery.payloads = view->payloads;
	return 0;
}

/* The record to deliver next to consumer slot, or -1.  No lock needed. */
static int record_next(struct pooter_broker *b, uint32_t slot,
		       uint64_t received)
{
	uint64_t bit = 1ull << slot, best_round = UINT64_MAX;
	/*
	 * Only rounds up to the last decided one: a scan without the lock
	 * could otherwise pass round k's record while k is still open, and
	 * then find k+1 published in another.  acquire: the decision's
	 * journal stores the outcome word after the record's state.
	 */
	uint64_t last = outcome_word_round(load_acquire(&b->st->round.outcome));
	int best = -1;

	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *rec = shm_record(b, i);
		uint64_t round;

		if (received & (1ull << i))
			continue;
		/*
		 * acquire: pairs with the journal's release of the state, so
		 * the entries and payloads published with it are visible
		 */
		if (load_acquire(&rec->state) != SHM_RECORD_PUBLISHED ||
		    !(READ_ONCE(rec->pending) & bit))
			continue;
		round = READ_ONCE(rec->round);
		if (round <= last && round < best_round) {
			best_round = round;
			best = (int)i;
		}
	}
	return best;
}

/*
 * The record to deliver next to consumer slot, or -1.  acquire: received is
 * our own word, but a reaper clears it through the journal (release).
 */
int delivery_next(struct pooter_broker *b, uint32_t slot)
{
	uint64_t received = load_acquire(&shm_consumer(b, slot)->received);

	return record_next(b, slot, received);
}

int delivery_take(struct pooter_broker *b, uint32_t slot, uint32_t i,
		  struct consumer_view *view)
{
	struct shm_consumer *sc = shm_consumer(b, slot);
	uint64_t received = READ_ONCE(sc->received);
	int err = view_build(b, i, view);

	if (err)
		return err;
	/*
	 * Our own words: received first, so a death between the two leaves
	 * the count short by a delivery that never reached anyone.  release:
	 * pairs with the acquire in delivery_next() and the reaper's read.
	 */
	store_release(&sc->received, received | (1ull << i));
	WRITE_ONCE(sc->delivered, READ_ONCE(sc->delivered) + 1);
	view->held = true;
	return 0;
}

int delivery_release(struct pooter_broker *b, uint32_t slot, uint32_t i)
{
	struct shm_consumer *sc = shm_consumer(b, slot);
	struct shm_record *rec = shm_record(b, i);
	uint64_t rbit = 1ull << i, cbit = 1ull << slot, pending, received;

	received = load_acquire(&sc->received);
	if (READ_ONCE(sc->owner) != b->token || !(received & rbit))
		return -EIDRM;
	/*
	 * seq_cst: the clear is what frees the record; pairs with the
	 * acquire load of pending in record_find_free().
	 */
	pending = __atomic_fetch_and(&rec->pending, ~cbit, __ATOMIC_SEQ_CST);
	TEST_POINT("release-cleared");
	store_release(&sc->received, received & ~rbit);
	if ((pending & cbit) && !(pending & ~cbit))
		wake_counter(&b->st->round.space);
	return 0;
}
