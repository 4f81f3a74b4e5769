/* SPDX-License-Identifier: MIT */
/*
 * consume.c - deliveries: a consumer takes the next published record in
 * round order and releases it when done.
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

#include "internal.h"

/*
 * Build the consumer's view of record i from the segment, checking every
 * value against the capacities.  Our pending bit keeps the record still.
 */
static int view_build(struct pooter_consumer *c, uint32_t i)
{
	struct pooter_broker *b = c->broker;
	struct consumer_view *view = &c->views[i];
	struct shm_record *rec = shm_record(b, i);
	uint64_t outcome = READ_ONCE(rec->outcome);
	uint64_t n = READ_ONCE(rec->nemitted);

	if (outcome > SHM_OUTCOME_MAX)
		return set_error(-EPROTO, "broker %s: record %u outcome %llu",
				 b->name, i, (unsigned long long)outcome);
	if (n > b->max_emitters)
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
		view->payloads[e].data = shm_payload(b, rec, e);
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
	uint64_t last = load_acquire(&b->st->round.outcome) >> 8;
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

/* Is a delivery waiting for c? */
bool consumer_has_delivery(struct pooter_consumer *c)
{
	struct pooter_broker *b = c->broker;
	uint64_t received = READ_ONCE(shm_consumer(b, c->slot)->received);

	return record_next(b, c->slot, received) >= 0;
}

POOTER_API int pooter_consume(struct pooter_consumer *c, int timeout_ms,
			      const struct pooter_delivery **deliveryp)
{
	struct pooter_broker *b;
	struct shm_consumer *sc;
	uint64_t deadline = UINT64_MAX;
	bool eager = true;
	int err;

	if (!c || !deliveryp)
		return set_error(-EINVAL,
				 "consumer or delivery pointer is NULL");
	b = c->broker;
	sc = shm_consumer(b, c->slot);
	if (timeout_ms >= 0)
		deadline = now_ns() + (uint64_t)timeout_ms * NSEC_PER_MSEC;

	for (;;) {
		uint64_t received, now;
		struct wait_plan plan;
		struct wait_sleep s;
		uint32_t seq;
		int i;

		err = broker_enforce_overdue(b);
		if (err)
			return err;
		if (READ_ONCE(sc->owner) != b->token)
			return set_error(-EIDRM,
					 "broker %s: consumer %s was removed",
					 b->name, c->name);
		/* read before looking, so a publication after it wakes us */
		seq = futex_value(&b->st->round.pub);
		received = READ_ONCE(sc->received);
		i = record_next(b, c->slot, received);
		if (i >= 0) {
			err = view_build(c, (uint32_t)i);
			if (err)
				return err;
			/*
			 * Our own words: received first, so a death between
			 * the two leaves the count short by a delivery that
			 * never reached anyone.
			 */
			store_release(&sc->received, received | (1ull << i));
			WRITE_ONCE(sc->delivered, READ_ONCE(sc->delivered) + 1);
			c->views[i].held = true;
			*deliveryp = &c->views[i].delivery;
			return 0;
		}
		if (__builtin_popcountll(received & depth_mask(b)) >= b->depth)
			return set_error(-ENOBUFS,
					 "broker %s: consumer %s holds all %u "
					 "records; release one",
					 b->name, c->name, b->depth);

		now = now_ns();
		if (timeout_ms == 0 || now >= deadline)
			return -ETIMEDOUT;
		/*
		 * Spin or yield first, but only until one such wait runs
		 * out: an idle consumer must not burn a CPU now and then.
		 */
		if (eager) {
			wait_plan_delivery(c, now, &plan);
			if (wait_while(&b->st->round.pub, seq, &plan, now,
				       deadline))
				continue;
			eager = false;
		}
		/* until a delivery, or a deadline we may have to enforce */
		await_delivery_sleep(c, seq, deadline, &s);
		wait_block(&c->waiter, &s);
	}
}

POOTER_API int pooter_release(struct pooter_consumer *c,
			      const struct pooter_delivery *d)
{
	struct pooter_broker *b;
	struct shm_consumer *sc;
	struct shm_record *rec;
	uint64_t pending, received, rbit, cbit;
	uint32_t i;
	int err;

	if (!c || !d)
		return set_error(-EINVAL, "consumer or delivery is NULL");
	b = c->broker;
	/* d must be one of our views, and held */
	for (i = 0; i < b->depth; i++)
		if (d == &c->views[i].delivery)
			break;
	if (i == b->depth || !c->views[i].held)
		return set_error(-EINVAL,
				 "broker %s: delivery not held by "
				 "consumer %s",
				 b->name, c->name);

	err = broker_enforce_overdue(b);
	if (err)
		return err;
	sc = shm_consumer(b, c->slot);
	rec = shm_record(b, i);
	rbit = 1ull << i;
	cbit = 1ull << c->slot;
	received = READ_ONCE(sc->received);
	c->views[i].held = false;
	if (READ_ONCE(sc->owner) != b->token || !(received & rbit))
		return set_error(-EIDRM,
				 "broker %s: consumer %s no longer "
				 "holds round %llu",
				 b->name, c->name,
				 (unsigned long long)d->round);
	/* seq_cst: the clear is what frees the record for round_open() */
	pending = __atomic_fetch_and(&rec->pending, ~cbit, __ATOMIC_SEQ_CST);
	TEST_POINT("release-cleared");
	store_release(&sc->received, received & ~rbit);
	if ((pending & cbit) && !(pending & ~cbit))
		wake_counter(&b->st->round.space);
	return 0;
}
