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
 * Where our payload would go if we emitted now, found without the lock:
 * our slot's payload area in a record, and *recp the record; NULL if there
 * is no good guess.  The copy into it is a guess that the commit checks
 * (emit_contribute()); what makes writing there safe even when the guess
 * is wrong is that the area is ours and no committed entry names it:
 *
 * - A slot's area in any record is written only by the slot's owner
 *   (emits and loans; one thread at a time per handle), and read only
 *   through a committed entry naming the slot, while the record is held.
 * - A record whose round is k was claimed for k by round_open(), which
 *   found it free: nobody was to read any of its entries again.  Round k
 *   cannot resolve (publish entries) without our emit, since we take part
 *   in every round opened while we are joined (a round open and fixed
 *   before our join made the join fail), and a later round needs the
 *   record claimed again, free.  So while we have not emitted in k
 *   (emit_round, our own word, written only by our commits), the open
 *   round's record holds no entry of ours, and no one else's for our slot:
 *   slot_find() does not give out a slot whose last owner emitted in the
 *   open round.
 * - A free record (record_predict()) holds no entry anyone will read, and
 *   can only hold ours again through our commit, for the same reasons.
 *
 * The loads: the round word with acquire, pairing with the journal's
 * release of it (the round word is the last entry of an open), so the
 * record index and the record's words of that open are visible; the
 * record's state with acquire too, then its round.  A round read as k
 * means the record was claimed for k at some point: that is all the
 * argument above needs, however stale the other words are.
 */
static void *emit_target(struct pooter_emitter *em, uint32_t *recp)
{
	struct pooter_broker *b = em->broker;
	struct shm_round *r = &b->st->round;
	uint64_t word = load_acquire(&r->word), k = round_word_number(word);
	uint64_t rec;
	int guess;

	if (!round_word_open(word)) {
		guess = record_predict(b, k + 1);
		if (guess < 0)
			return NULL;
		rec = (uint64_t)guess;
	} else {
		struct shm_record *open;

		if (READ_ONCE(shm_emitter(b, em->slot)->emit_round) == k)
			return NULL; /* emitted already: EALREADY, under lock */
		rec = READ_ONCE(r->record);
		if (rec >= b->depth)
			return NULL;
		open = shm_record(b, (uint32_t)rec);
		if (load_acquire(&open->state) != SHM_RECORD_OPEN ||
		    READ_ONCE(open->round) != k)
			return NULL;
	}
	*recp = (uint32_t)rec;
	return shm_payload(b, shm_record(b, (uint32_t)rec), em->slot);
}

/*
 * The payload copy, with no lock held.  The chaos suite kills it at the
 * start, half way and at the end: the bytes are nobody's until the commit.
 */
static void emit_copy(void *area, const void *payload, size_t len)
{
#ifdef POOTER_TEST_HOOKS
	size_t half = len / 2;

	TEST_POINT("emit-copy-begin");
	memcpy(area, payload, half);
	TEST_POINT("emit-copy-half");
	memcpy((char *)area + half, (const char *)payload + half, len - half);
	TEST_POINT("emit-copy-done");
#else
	memcpy(area, payload, len);
#endif
}

/*
 * Take the lock with a round open, opening one if none is (see emit.h).
 * Returns with the lock held and *vp the open round, or an error without.
 */
int emit_open(struct pooter_emitter *em, bool wait_space, int prefer,
	      struct round_view *vp)
{
	struct pooter_broker *b = em->broker;
	struct shm_emitter *slot = shm_emitter(b, em->slot);
	uint64_t now, space_deadline = 0;
	bool eager = true, retried = false;
	int err;

	for (;;) {
		struct wait_plan plan;
		struct wait_sleep s;
		uint32_t space_seq;

		err = broker_enter_at(b, vp, &now);
		if (err)
			return err;
		if (READ_ONCE(slot->owner) != b->token) {
			broker_unlock(b);
			return set_error(-EIDRM,
					 "broker %s: emitter %s was removed",
					 b->name, em->name);
		}
		if (vp->open)
			return 0;
		/* read before looking for a record, so no release is missed */
		space_seq = futex_value(&b->st->round.space);
		/*
		 * The dead first: they may hold records, or be owed.  The
		 * clock read at the lock is the open time: the reap is one
		 * epoll_wait() when nobody died.
		 */
		members_reap_dead(b, true, true);
		err = round_open(b, vp, now, prefer);
		if (err != -EAGAIN) {
			if (err)
				broker_unlock(b);
			return err;
		}
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
}

/*
 * Our emit (or loan) in round v will make the segment forget the outcome
 * of the round we emitted in before (the slot keeps one): keep it in the
 * handle, for a ticket of that round still to be settled.  Lock held.
 */
void emit_keep_history(struct pooter_emitter *em, const struct round_view *v)
{
	struct pooter_broker *b = em->broker;
	uint64_t prev = READ_ONCE(shm_emitter(b, em->slot)->emit_round);
	int out;

	if (!prev || prev >= v->number)
		return;
	for (unsigned int i = 0; i < EMITTER_HISTORY; i++)
		if (em->hist_round[i] == prev)
			return;
	out = round_result(b, em->slot, prev);
	if (out != -EINPROGRESS) {
		unsigned int i = em->hist_next++ % EMITTER_HISTORY;

		em->hist_round[i] = prev;
		em->hist_outcome[i] = out;
	}
}

/*
 * Contribute payload to the open round, opening one if none is open.  With
 * wait_space, a full ring is waited out for up to the timeout; without, it
 * is -EAGAIN at once.  On success *v is the round as our emit left it and
 * *decided says whether our emit resolved it.
 *
 * The payload is copied with no lock held: into where emit_target() says
 * it will go, then, under the lock, the round is checked to use that very
 * record, and the entry committed.  If the guess was wrong (a round opened
 * elsewhere, or was decided meanwhile) the copy is done again into the
 * open round's record, lock dropped, and checked again.  The emit takes
 * effect at the commit, so a round decided during the copy is one this
 * emit never reached, as if it had come a little later; a death during
 * the copy leaves the emit owed, and the round is cancelled EOWNERDEAD.
 */
int emit_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		    bool wait_space, struct round_view *vp, bool *decidedp)
{
	struct pooter_broker *b;
	struct round_view v;
	uint32_t rec = 0;
	void *area = NULL;
	bool decided;
	int err;

	if (!em || (!payload && len))
		return set_error(-EINVAL, "emitter or payload is NULL");
	b = em->broker;
	if (len > b->max_payload)
		return set_error(-EMSGSIZE,
				 "broker %s: payload of %zu bytes, limit %u",
				 b->name, len, b->max_payload);
	if (em->loan_buf)
		return set_error(-EBUSY,
				 "broker %s: emitter %s holds a loan; commit "
				 "or abort it first",
				 b->name, em->name);

	if (len) {
		area = emit_target(em, &rec);
		if (area)
			emit_copy(area, payload, len);
	}
	for (;;) {
		err = emit_open(em, wait_space, area ? (int)rec : -1, &v);
		if (err)
			return err;
		err = round_may_emit(b, em->slot, em->name, &v);
		if (err) {
			broker_unlock(b);
			return err;
		}
		if (!len || (area && rec == v.record))
			break;
		/* not where we copied: copy again, into the open round's */
		rec = v.record;
		area = shm_payload(b, shm_record(b, rec), em->slot);
		broker_unlock(b);
		emit_copy(area, payload, len);
	}
	emit_keep_history(em, &v);
	err = round_emit(b, em->slot, em->name, len, &v, &decided);
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
