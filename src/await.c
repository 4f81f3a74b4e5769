/* SPDX-License-Identifier: MIT */
/*
 * await.c - the step functions of the waits: what a waiter does between
 * two sleeps, and which sleep it takes next.
 *
 *   await_round_step()    an emitter's outcome, and a join waiting for a
 *                         round to end: settled, or sleep on ctl, watching
 *                         every participant that still owes its emit
 *   await_space_sleep()   an emitter waiting for a ring record: sleep on
 *                         the space counter, watching the consumers that
 *                         hold records
 *   await_delivery_sleep() a consumer: sleep on pub, and on ctl so that a
 *                         round opened meanwhile has its deadline enforced
 *
 * The blocking calls loop { step; wait_block() }; the io_uring calls do one
 * step at prep time and one per CQE, with wait_arm() in between.  Nothing
 * here sleeps, and nothing here is the waiter's but the waiter it is given.
 *
 * A sleep has an end only when something is due then: the round's deadline,
 * the caller's timeout, or the liveness period for a process that could not
 * be watched.  A waiter with nothing to enforce sleeps until an event.
 */
#include "await.h"
#include "enter.h"
#include "error.h"

/* Enforce the deadline and reap the dead, then make ctl tell the truth. */
static int round_check_locked(struct pooter_broker *b)
{
	struct shm_round *r = &b->st->round;
	int err = broker_enter(b, NULL);

	if (err)
		return err;
	members_reap_dead(b, true, true);
	futex_publish(&r->ctl, ctl_of(READ_ONCE(r->word)));
	broker_unlock(b);
	return 0;
}

int await_round_step(struct pooter_broker *b, struct waiter *w, uint64_t k,
		     uint64_t deadline_ns, struct wait_sleep *s)
{
	struct shm_round *r = &b->st->round;
	uint64_t open_word = round_word(k, 1);
	uint32_t target = ctl_of(open_word);
	bool checked = false;
	int err;

	for (;;) {
		uint64_t now;
		bool dead = false;

		/*
		 * acquire: pairs with the exchange in round_finish(); and the
		 * word's, with the journal's release of it.  ctl left alone
		 * while the word moved on is out of step: the check repairs it.
		 */
		if (futex_value(&r->ctl) != target) {
			if (load_acquire(&r->word) != open_word) {
				/* over: what woke us is no longer news */
				w->woken = false;
				return 0;
			}
			w->woken = true;
		}
		now = now_ns();
		if (w->woken || now >= deadline_ns) {
			/* a wake without a change: a death, or the deadline */
			w->woken = false;
			err = round_check_locked(b);
			if (err)
				return err;
			if (load_acquire(&r->word) != open_word)
				return 0;
			if (now >= deadline_ns)
				return set_error(-EPROTO,
						 "broker %s: round %llu still "
						 "open past its deadline",
						 b->name,
						 (unsigned long long)k);
			checked = true;
		}

		wait_sleep_init(s);
		wait_sleep_word(s, &r->ctl, target);
		s->until = deadline_ns;
		for (uint32_t i = 0; i < b->max_emitters; i++) {
			struct shm_emitter *e = shm_emitter(b, i);
			uint64_t owner = READ_ONCE(e->owner);

			if (!owner || owner == b->token ||
			    READ_ONCE(e->part_round) != k ||
			    READ_ONCE(e->emit_round) == k)
				continue;
			if (wait_sleep_watch(w, s, owner,
					     shm_live_byte_emitter(i)) ==
			    -ESRCH)
				dead = true;
		}
		if (!dead)
			return 1;
		/*
		 * Dead already: reap it now.  If the check just ran and the
		 * reaper still thinks it alive, the period settles it.
		 */
		if (checked) {
			s->unwatched = true;
			return 1;
		}
		w->woken = true;
	}
}

int await_space_sleep(struct pooter_broker *b, struct waiter *w, uint32_t seq,
		      uint64_t until, struct wait_sleep *s)
{
	uint64_t held = 0;
	int dead = 0;

	wait_sleep_init(s);
	wait_sleep_word(s, &b->st->round.space, seq);
	s->until = until;
	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *rec = shm_record(b, i);

		if (READ_ONCE(rec->state) == SHM_RECORD_PUBLISHED)
			held |= READ_ONCE(rec->pending);
	}
	for (uint32_t i = 0; i < b->max_consumers; i++) {
		uint64_t owner = READ_ONCE(shm_consumer(b, i)->owner);

		if (!(held & (1ull << i)) || !owner || owner == b->token)
			continue;
		if (wait_sleep_watch(w, s, owner, shm_live_byte_consumer(i)) ==
		    -ESRCH)
			dead = 1;
	}
	if (dead)
		s->unwatched = true;
	return dead;
}

void await_delivery_sleep(struct pooter_consumer *c, uint32_t seq,
			  uint64_t until, struct wait_sleep *s)
{
	struct shm_round *r = &c->broker->st->round;
	/* ctl first: a round opened after it wakes us, before it we see */
	uint32_t ctl = futex_value(&r->ctl);
	uint64_t word = load_acquire(&r->word);

	wait_sleep_init(s);
	wait_sleep_word(s, &r->pub, seq);
	wait_sleep_word(s, &r->ctl, ctl);
	s->until = until;
	if (round_word_open(word) && ctl == ctl_of(word)) {
		/*
		 * Untrusted: a deadline past the documented limit is cut to
		 * it, and found out by the enforcement that follows.
		 */
		uint64_t limit = now_ns() + TIMEOUT_MAX_NS;
		uint64_t d = READ_ONCE(r->deadline_ns);

		if (d > limit)
			d = limit;
		if (d < s->until)
			s->until = d;
	}
}
