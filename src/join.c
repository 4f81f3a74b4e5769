/* SPDX-License-Identifier: MIT */
/*
 * join.c - emitter and consumer handles: join (waiting out an open round
 * with POOTER_JOIN_WAIT), name, leave.  Layer 2; the slots are member.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "await.h"
#include "enter.h"
#include "error.h"
#include "liveness.h"
#include "shm.h"

int shm_emitter_join(struct pooter_broker *b, const char *name,
		     unsigned int flags, struct pooter_emitter **emitterp)
{
	struct pooter_emitter *em;
	struct round_view v;
	int err, slot;

	if (!b || !emitterp || (flags & ~POOTER_JOIN_WAIT))
		return set_error(-EINVAL, "invalid argument to emitter_join");
	em = calloc(1, sizeof(*em));
	if (!em)
		return -ENOMEM;
	err = waiter_init(&em->waiter, b->max_emitters + b->max_consumers,
			  b->live_locks ? b->fd : -1);
	if (err)
		goto err_free;
	err = member_name(name, em->name);
	if (err)
		goto err_free;
	em->broker = b;

	for (;;) {
		struct wait_sleep s;

		err = broker_enter(b, &v);
		if (err)
			goto err_free;
		if (!v.open || !v.fixed)
			break;
		if (!(flags & POOTER_JOIN_WAIT)) {
			err = set_error(-EBUSY,
					"broker %s: round %llu is open; join "
					"when it is over",
					b->name, (unsigned long long)v.number);
			goto err_unlock;
		}
		/* wait for the round to end, doing what a waiter must */
		broker_unlock(b);
		while ((err = await_round_step(b, &em->waiter, v.number,
					       v.deadline_ns, &s)) > 0)
			wait_block(&em->waiter, &s);
		if (err)
			goto err_free;
	}

	slot = slot_find(b, true, em->name);
	if (slot < 0) {
		err = slot;
		goto err_unlock;
	}
	/* reaping in slot_find may have closed the round: look again */
	err = round_load(b, &v);
	if (err)
		goto err_unlock;
	em->slot = (uint32_t)slot;
	err = emitter_claim(b, em->slot, em->name, &v);
	if (err)
		goto err_unlock;
	broker_unlock(b);
	em->broker = broker_ref(b);
	*emitterp = em;
	return 0;

err_unlock:
	broker_unlock(b);
err_free:
	waiter_free(&em->waiter);
	free(em);
	return err;
}

const char *shm_emitter_name(const struct pooter_emitter *em)
{
	return em ? em->name : NULL;
}

int shm_emitter_leave(struct pooter_emitter *em)
{
	struct pooter_broker *b;
	int err;

	if (!em)
		return -EINVAL;
	b = em->broker;
	/*
	 * After fork the ring, the liveness lock and the slot are the
	 * parent's: a child frees its copy of the handle and nothing else.
	 */
	err = broker_check_handle(b);
	if (err) {
		waiter_free(&em->waiter);
		free(em);
		broker_unref(b);
		return err;
	}
	uring_cancel_armed(&em->armed);
	err = broker_enter(b, NULL);
	if (!err) {
		if (READ_ONCE(shm_emitter(b, em->slot)->owner) == b->token)
			emitter_remove(b, em->slot, SHM_CANCELED);
		broker_unlock(b);
	}
	/* after the slot is gone: until then we must not look dead */
	live_lock_drop(b->fd, shm_live_byte_emitter(em->slot));
	waiter_free(&em->waiter);
	free(em);
	broker_unref(b);
	return err;
}

static void consumer_free(struct pooter_consumer *c)
{
	waiter_free(&c->waiter);
	if (c->views) {
		for (uint32_t i = 0; i < c->broker->depth; i++) {
			free(c->views[i].payloads);
			free(c->views[i].names);
		}
	}
	free(c->views);
	free(c);
}

int shm_consumer_join(struct pooter_broker *b, const char *name,
		      unsigned int flags, struct pooter_consumer **consumerp)
{
	struct pooter_consumer *c;
	int err, slot;

	if (!b || !consumerp || (flags & ~POOTER_CONSUMER_NOTICES))
		return set_error(-EINVAL, "invalid argument to consumer_join");
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->broker = b;
	c->flags = flags;
	err = waiter_init(&c->waiter, 0, -1);
	if (err)
		goto err_free;
	c->views = calloc(b->depth, sizeof(*c->views));
	if (!c->views) {
		err = -ENOMEM;
		goto err_free;
	}
	for (uint32_t i = 0; i < b->depth; i++) {
		c->views[i].payloads =
			calloc(b->max_emitters, sizeof(struct pooter_payload));
		c->views[i].names = calloc(b->max_emitters, SHM_NAME_LEN);
		if (!c->views[i].payloads || !c->views[i].names) {
			err = -ENOMEM;
			goto err_free;
		}
	}
	err = member_name(name, c->name);
	if (err)
		goto err_free;

	err = broker_enter(b, NULL);
	if (err)
		goto err_free;
	slot = slot_find(b, false, c->name);
	if (slot < 0) {
		err = slot;
		broker_unlock(b);
		goto err_free;
	}
	c->slot = (uint32_t)slot;
	err = consumer_claim(b, c->slot, c->name,
			     flags & POOTER_CONSUMER_NOTICES);
	if (err) {
		broker_unlock(b);
		goto err_free;
	}
	broker_unlock(b);
	broker_ref(b);
	*consumerp = c;
	return 0;

err_free:
	consumer_free(c);
	return err;
}

const char *shm_consumer_name(const struct pooter_consumer *c)
{
	return c ? c->name : NULL;
}

int shm_consumer_leave(struct pooter_consumer *c)
{
	struct pooter_broker *b;
	int err;

	if (!c)
		return -EINVAL;
	b = c->broker;
	err = broker_check_handle(b);
	if (err) {
		consumer_free(c);
		broker_unref(b);
		return err;
	}
	uring_cancel_armed(&c->armed);
	err = broker_enter(b, NULL);
	if (!err) {
		if (READ_ONCE(shm_consumer(b, c->slot)->owner) == b->token)
			consumer_reap(b, c->slot);
		broker_unlock(b);
	}
	live_lock_drop(b->fd, shm_live_byte_consumer(c->slot));
	consumer_free(c);
	broker_unref(b);
	return err;
}
