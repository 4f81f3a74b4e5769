/* SPDX-License-Identifier: MIT */
/*
 * consume.c - a consumer's calls: wait for the next delivery (spinning or
 * yielding first, then the engine's sleep), and release one.  Layer 2; the
 * deliveries themselves are delivery.c's.  Neither call takes the lock but
 * to enforce an overdue deadline.
 */
#include "await.h"
#include "enter.h"
#include "error.h"
#include "shm.h"

int shm_consume(struct pooter_consumer *c, int timeout_ms,
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
		i = delivery_next(b, c->slot);
		if (i >= 0) {
			err = delivery_take(b, c->slot, (uint32_t)i,
					    &c->views[i]);
			if (err)
				return err;
			*deliveryp = &c->views[i].delivery;
			POOTER_PROBE_DELIVER(c, *deliveryp);
			return 0;
		}
		received = READ_ONCE(sc->received);
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
			wait_plan_delivery(b, now, &plan);
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

int shm_release(struct pooter_consumer *c, const struct pooter_delivery *d)
{
	struct pooter_broker *b;
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
	c->views[i].held = false;
	err = delivery_release(b, c->slot, i);
	if (err)
		return set_error(err,
				 "broker %s: consumer %s no longer "
				 "holds round %llu",
				 b->name, c->name,
				 (unsigned long long)d->round);
	return 0;
}
