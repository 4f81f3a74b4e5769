/* SPDX-License-Identifier: MIT */
/*
 * emit.c - an emit: contribute (waiting for ring space if need be), then
 * wait for the round's outcome; and the operator's cancel.  Layer 2: the
 * reaping before a round opens, and every wait, are here, around the state
 * machine's calls.
 */
#include <string.h>

#include "await.h"
#include "emit.h"
#include "enter.h"
#include "error.h"
#include "shm.h"

/*
 * The outcome of round k for this emitter: from the handle's history when
 * a later contribution took it there, else from the segment.
 */
int emitter_result(struct pooter_emitter *em, uint64_t k)
{
	for (unsigned int i = 0; i < EMITTER_HISTORY; i++)
		if (em->hist_round[i] == k)
			return em->hist_outcome[i];
	return round_result(em->broker, em->slot, k);
}

/* The outcome of round k, known to be over: one, or the segment lies. */
int emitter_outcome(struct pooter_emitter *em, uint64_t k)
{
	int err = emitter_result(em, k);

	if (err == -EINPROGRESS)
		return set_error(-EPROTO,
				 "broker %s: round %llu over without an "
				 "outcome",
				 em->broker->name, (unsigned long long)k);
	return err;
}

/*
 * Wait for the outcome of round k, in which we emitted: spin or yield as the
 * plan says, then the engine's steps and sleeps (await.c, wait.c), which
 * enforce the deadline and watch every participant still owing its emit.
 * Signals end a sleep; the loop just takes the next.
 */
int emit_wait(struct pooter_emitter *em, uint64_t k, uint64_t deadline_ns)
{
	struct pooter_broker *b = em->broker;
	uint64_t start = now_ns();
	struct wait_plan plan;
	struct wait_sleep s;
	int err;

	/* a space wait before left its mark: this wait starts afresh */
	em->waiter.woken = false;
	wait_plan_outcome(b, em->slot, k, start, &plan);
	wait_while(&b->st->round.ctl, ctl_of(round_word(k, 1)), &plan, start,
		   deadline_ns);
	while ((err = await_round_step(b, &em->waiter, k, deadline_ns, &s)) > 0)
		wait_block(&em->waiter, &s);
	if (err)
		return err;
	return emitter_outcome(em, k);
}

/*
 * Contribute payload to the open round, opening one if none is open.  With
 * wait_space, a full ring is waited out for up to the timeout; without, it
 * is -EAGAIN at once.  On success *v is the round as our emit left it and
 * *decided says whether our emit resolved it.
 */
int emit_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		    bool wait_space, struct round_view *vp, bool *decidedp)
{
	struct pooter_broker *b;
	struct round_view v;
	struct shm_emitter *slot;
	uint64_t now, space_deadline = 0, prev;
	bool decided, eager = true, retried = false;
	int err;

	if (!em || (!payload && len))
		return set_error(-EINVAL, "emitter or payload is NULL");
	b = em->broker;
	if (len > b->max_payload)
		return set_error(-EMSGSIZE,
				 "broker %s: payload of %zu bytes, limit %u",
				 b->name, len, b->max_payload);
	slot = shm_emitter(b, em->slot);

	for (;;) {
		struct wait_plan plan;
		struct wait_sleep s;
		uint32_t space_seq;

		err = broker_enter(b, &v);
		if (err)
			return err;
		if (READ_ONCE(slot->owner) != b->token) {
			broker_unlock(b);
			return set_error(-EIDRM,
					 "broker %s: emitter %s was removed",
					 b->name, em->name);
		}
		/* read before looking for a record, so no release is missed */
		space_seq = futex_value(&b->st->round.space);
		if (!v.open) {
			/* the dead first: they may hold records, or be owed */
			members_reap_dead(b, true, true);
			err = round_open(b, &v, now_ns());
		} else {
			err = 0;
		}
		if (err != -EAGAIN)
			break;
		if (!wait_space) {
			broker_unlock(b);
			return set_error(
				-EAGAIN,
				"broker %s: every ring record is still "
				"held by consumers",
				b->name);
		}

		/* every record held: wait for one, up to the timeout */
		now = now_ns();
		if (!space_deadline) {
			uint64_t timeout_ms =
				READ_ONCE(b->st->stats.timeout_ms);

			if (!timeout_valid(timeout_ms)) {
				broker_unlock(b);
				return segment_corrupt(b, "timeout",
						       timeout_ms);
			}
			space_deadline = now + timeout_ms * NSEC_PER_MSEC;
		}
		broker_unlock(b);
		if (now >= space_deadline)
			return set_error(
				-EAGAIN,
				"broker %s: every ring record is still "
				"held by consumers",
				b->name);
		/*
		 * The consumers may need our CPU to release one; once such a
		 * wait runs out, sleep (see pooter_consume()), watching the
		 * holders: a dead one is reaped by the next try, at once.
		 */
		if (eager) {
			wait_plan(b, now, &plan);
			if (wait_while(&b->st->round.space, space_seq, &plan,
				       now, space_deadline))
				continue;
			eager = false;
		}
		if (await_space_sleep(b, &em->waiter, space_seq, space_deadline,
				      &s) &&
		    !retried) {
			retried = true;
			continue;
		}
		retried = false;
		wait_block(&em->waiter, &s);
	}
	if (err) {
		broker_unlock(b);
		return err;
	}

	/*
	 * Our emit in this round will make the segment forget the outcome of
	 * the round we emitted in before (the slot keeps one): keep it in the
	 * handle, for a ticket of that round still to be settled.
	 */
	prev = READ_ONCE(slot->emit_round);
	if (prev && prev < v.number) {
		int out = round_result(b, em->slot, prev);

		if (out != -EINPROGRESS) {
			unsigned int i = em->hist_next++ % EMITTER_HISTORY;

			em->hist_round[i] = prev;
			em->hist_outcome[i] = out;
		}
	}

	err = round_emit(b, em->slot, em->name, payload, len, &v, &decided);
	broker_unlock(b);
	if (err)
		return err;
	*vp = v;
	*decidedp = decided;
	return 0;
}

int shm_round_cancel(struct pooter_broker *b)
{
	struct round_view v;
	int err;

	err = broker_enter(b, &v);
	if (err)
		return err;
	if (!v.open)
		err = set_error(-ENOENT, "broker %s: no round is open",
				b->name);
	if (!err)
		round_decide(b, &v, SHM_CANCELED);
	broker_unlock(b);
	return err;
}
