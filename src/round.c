/* SPDX-License-Identifier: MIT */
/*
 * round.c - the round's state machine: open, emit, decide, and the wait for
 * an outcome.
 *
 *   closed --emit, record free--> open(k) --last participant emits--> closed
 *                                   |       (resolved: record published)
 *                                   +--deadline / owner dead / leave / cancel
 *                                           --> closed (record freed, or
 *                                               published as a notice)
 *
 * Every transition happens under the broker's lock as one journaled update
 * whose last entry is the round word; the futex mirror ctl is stored after
 * it, and outcome waiters sleep on ctl without the lock.  The outcome of
 * round k stays in round.outcome until round k+1 is decided, and round
 * k+1's opening copies it into the slots of k's emitters first, so a waiter
 * that wakes late still finds its own round's outcome.
 *
 * What does not live here: joins and deaths (member.c), deliveries
 * (consume.c), the lock and journal (lock.c).
 */
#include <string.h>

#include "error.h"
#include "round.h"
#include "wait.h"

struct decision {
	uint64_t word;
	bool published;
};

int outcome_errno(enum shm_outcome code)
{
	switch (code) {
	case SHM_RESOLVED:
		return 0;
	case SHM_TIMEDOUT:
		return -ETIMEDOUT;
	case SHM_CANCELED:
		return -ECANCELED;
	case SHM_OWNERDEAD:
		return -EOWNERDEAD;
	}
	return -EPROTO;
}

/*
 * Read the round's words once and check them; lock held.  now is
 * CLOCK_MONOTONIC read since the lock was taken.
 */
int round_load_at(struct pooter_broker *b, struct round_view *v, uint64_t now)
{
	struct shm_round *r = &b->st->round;
	uint64_t word = READ_ONCE(r->word);
	uint64_t rec, nparts, nemitted, open_ns, deadline_ns;
	struct shm_record *record;

	memset(v, 0, sizeof(*v));
	v->number = round_word_number(word);
	v->open = round_word_open(word);
	/* outcome words keep number << 8: beyond 2^55 rounds it is a lie */
	if (v->number >= SHM_ROUND_LIMIT)
		return segment_corrupt(b, "round number", v->number);
	if (!v->open)
		return 0;

	rec = READ_ONCE(r->record);
	if (rec >= b->depth)
		return segment_corrupt(b, "open round's record index", rec);
	nparts = READ_ONCE(r->nparts);
	if (nparts == 0 || !record_count_valid(b, nparts))
		return segment_corrupt(b, "open round's participant count",
				       nparts);
	record = shm_record(b, (uint32_t)rec);
	if (READ_ONCE(record->round) != v->number ||
	    READ_ONCE(record->state) != SHM_RECORD_OPEN)
		return segment_corrupt(b, "open round's record state",
				       READ_ONCE(record->state));
	nemitted = READ_ONCE(record->nemitted);
	if (nemitted > nparts)
		return segment_corrupt(b, "open round's emit count", nemitted);
	open_ns = READ_ONCE(r->open_ns);
	deadline_ns = READ_ONCE(r->deadline_ns);
	/* nobody may wait past the documented limit on a segment's word */
	if (!deadline_valid(open_ns, deadline_ns) ||
	    deadline_ns > now + TIMEOUT_MAX_NS)
		return segment_corrupt(b, "open round's deadline", deadline_ns);

	v->record = (uint32_t)rec;
	v->nparts = (uint32_t)nparts;
	v->nemitted = (uint32_t)nemitted;
	v->fixed = READ_ONCE(r->fixed) != 0;
	v->open_ns = open_ns;
	v->deadline_ns = deadline_ns;
	return 0;
}

bool emitter_owes(struct pooter_broker *b, uint32_t slot,
		  const struct round_view *v)
{
	struct shm_emitter *e = shm_emitter(b, slot);

	return v->open && READ_ONCE(e->owner) != 0 &&
	       READ_ONCE(e->part_round) == v->number &&
	       READ_ONCE(e->emit_round) != v->number;
}

/*
 * Stage the decision of the open round v in the journal; the caller may add
 * entries of its own, then commits and calls round_finish().  A resolved
 * round goes to every consumer; a cancelled one only to those that asked for
 * notices, and if nobody did its record is free at once.
 */
static void round_stage_decision(struct pooter_broker *b,
				 const struct round_view *v,
				 enum shm_outcome code, struct decision *d)
{
	struct shm_stats *s = &b->st->stats;
	struct shm_round *r = &b->st->round;
	struct shm_record *rec = shm_record(b, v->record);
	uint64_t mask = 0;

	for (uint32_t i = 0; i < b->max_consumers; i++) {
		struct shm_consumer *c = shm_consumer(b, i);

		if (!READ_ONCE(c->owner))
			continue;
		if (code == SHM_RESOLVED ||
		    (READ_ONCE(c->flags) & SHM_CONSUMER_NOTICES))
			mask |= 1ull << i;
	}

	txn_set(b, &s->count[code], READ_ONCE(s->count[code]) + 1);
	txn_set(b, &s->emits, READ_ONCE(s->emits) + v->nemitted);
	if (mask) {
		txn_set(b, &rec->outcome, code);
		txn_set(b, &rec->pending, mask);
		txn_set(b, &rec->state, SHM_RECORD_PUBLISHED);
	} else {
		txn_set(b, &rec->state, SHM_RECORD_FREE);
	}
	txn_set(b, &r->outcome, outcome_word(v->number, code));
	/* last: the round word is what lock-free readers key on */
	d->word = round_word(v->number, 0);
	txn_set(b, &r->word, d->word);
	d->published = mask != 0;
	POOTER_PROBE_DECISION(b->name, v->number, code);
}

/* After the commit: publish the new round word to the futex and wake. */
static void round_finish(struct pooter_broker *b, const struct decision *d)
{
	struct shm_round *r = &b->st->round;

	/* pairs with the acquire load of ctl in round_wait(): one wake, all */
	futex_publish(&r->ctl, ctl_of(d->word));
	/* a published record wakes consumers; a freed one, emitters */
	wake_counter(d->published ? &r->pub : &r->space);
}

void round_decide(struct pooter_broker *b, const struct round_view *v,
		  enum shm_outcome code)
{
	struct decision d;

	round_stage_decision(b, v, code, &d);
	txn_commit(b);
	round_finish(b, &d);
}

/* Lock held.  *v is the round as it stands after the enforcement. */
int round_enforce_deadline(struct pooter_broker *b, uint64_t now,
			   struct round_view *v)
{
	int err = round_load_at(b, v, now);

	if (err || !v->open || now < v->deadline_ns)
		return err;
	round_decide(b, v, SHM_TIMEDOUT);
	return round_load_at(b, v, now);
}

/*
 * The first free ring record, -ENOENT when every one is held, or -EPROTO
 * (with *badp the state) for a state outside the enum.  Safe without the
 * lock: every load is of one word, and a record is free once no *joined*
 * consumer has yet to release it (record_is_free()).
 */
static int record_scan_free(struct pooter_broker *b, uint64_t *badp)
{
	uint64_t joined = consumers_joined(b);

	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *c = shm_record(b, i);
		/*
		 * acquire: pairs with the journal's release of the state (a
		 * record's other words are written before it).
		 */
		uint64_t state = load_acquire(&c->state);

		if (!record_state_valid(state)) {
			*badp = state;
			return -EPROTO;
		}
		/*
		 * acquire: pairs with the SEQ_CST clear in pooter_release(),
		 * so what the consumer read of the record came before.
		 */
		if (record_is_free(state, load_acquire(&c->pending), joined))
			return (int)i;
	}
	return -ENOENT;
}

/* The index of a free ring record (see round.h).  Lock held. */
int record_find_free(struct pooter_broker *b)
{
	uint64_t bad = 0;
	int i = record_scan_free(b, &bad);

	if (i == -EPROTO)
		return segment_corrupt(b, "record state", bad);
	return i;
}

/* Is record i free now, read without the lock (as record_scan_free())? */
static bool record_free_now(struct pooter_broker *b, uint32_t i)
{
	struct shm_record *c = shm_record(b, i);

	/* acquire: as in record_scan_free() */
	return i < b->depth &&
	       record_is_free(load_acquire(&c->state),
			      load_acquire(&c->pending), consumers_joined(b));
}

/*
 * The record to copy into for round k, not open yet, read without the lock,
 * or -1: a guess for emitters to copy into before they lock (emit.c says
 * why that is safe), which round_open() then prefers.  The first emitter to
 * guess for k publishes its guess in round.guess and the others take it
 * while it is free, so all copy into the record that opens: each guessing
 * the first free record alone, two emitters disagreed whenever a consumer
 * released a record between their guesses, and one copied twice.
 * round.guess is a hint (relaxed: it pairs with nothing), checked for
 * freeness here like any guess.
 */
int record_predict(struct pooter_broker *b, uint64_t k)
{
	uint32_t *hint = &b->st->round.guess;
	uint32_t g = __atomic_load_n(hint, __ATOMIC_RELAXED);
	uint64_t bad;
	int i;

	if (round_guess_for(g, k) && record_free_now(b, round_guess_record(g)))
		return (int)round_guess_record(g);
	i = record_scan_free(b, &bad);
	if (i < 0)
		return -1;
	if (!__atomic_compare_exchange_n(
		    hint, &g, round_guess_word(k, (uint32_t)i), false,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
	    round_guess_for(g, k) && record_free_now(b, round_guess_record(g)))
		return (int)round_guess_record(g); /* another's, just now */
	return i;
}

/*
 * Open round v->number + 1: reap the dead, claim a free record, make every
 * registered emitter a participant.  Lock held; v is the closed round and
 * becomes the open one.  -EAGAIN when every record is held.
 */
int round_open(struct pooter_broker *b, struct round_view *v, uint64_t now,
	       int prefer)
{
	struct shm_round *r = &b->st->round;
	struct shm_stats *s = &b->st->stats;
	uint64_t k = v->number + 1, last, timeout_ms;
	uint32_t n = 0;
	int rec;
	struct shm_record *record;

	/*
	 * The record an emitter copied its payload into already, if it is
	 * still free: any free record does, and that one saves a copy.
	 */
	if (prefer >= 0 && (uint32_t)prefer < b->depth &&
	    record_is_free(
		    READ_ONCE(shm_record(b, (uint32_t)prefer)->state),
		    load_acquire(&shm_record(b, (uint32_t)prefer)->pending),
		    consumers_joined(b)))
		rec = prefer;
	else
		rec = record_find_free(b);
	if (rec < 0)
		return rec == -ENOENT ? -EAGAIN : rec;

	timeout_ms = READ_ONCE(s->timeout_ms);
	if (!timeout_valid(timeout_ms))
		return segment_corrupt(b, "timeout", timeout_ms);

	/*
	 * Plain stores before the commit: nobody reads result or part_round
	 * of round k before round k exists, and an open that dies here is
	 * simply done again by the next emitter with the same k.
	 */
	last = READ_ONCE(r->outcome);
	for (uint32_t i = 0; i < b->max_emitters; i++) {
		struct shm_emitter *e = shm_emitter(b, i);

		if (!READ_ONCE(e->owner))
			continue;
		/*
		 * The emitters of k-1, and those that held a loan in it (a
		 * commit after k-1 was decided without them returns its
		 * outcome): their next emit saved any older outcome they may
		 * still need in their handle first (emit_contribute()).
		 */
		if ((READ_ONCE(e->emit_round) == k - 1 ||
		     READ_ONCE(e->loan_round) == k - 1) &&
		    outcome_word_round(last) == k - 1)
			store_release(&e->result, last);
		WRITE_ONCE(e->part_round, k);
		n++;
	}
	if (n == 0)
		return segment_corrupt(b, "emitter count", 0);

	record = shm_record(b, (uint32_t)rec);
	txn_set(b, &record->round, k);
	txn_set(b, &record->nemitted, 0);
	txn_set(b, &record->pending, 0);
	txn_set(b, &record->state, SHM_RECORD_OPEN);
	txn_set(b, &r->record, (uint64_t)rec);
	txn_set(b, &r->nparts, n);
	txn_set(b, &r->fixed, b->quorum == 0 || n >= b->quorum);
	txn_set(b, &r->open_ns, now);
	txn_set(b, &r->deadline_ns, now + timeout_ms * NSEC_PER_MSEC);
	txn_set(b, &r->word, round_word(k, 1));
	txn_commit(b);
	futex_publish(&r->ctl, ctl_of(round_word(k, 1)));
	POOTER_PROBE(round_open, b->name, k, n);
	TEST_POINT("round-opened");
	return round_load_at(b, v, now);
}

/*
 * The outcome of round k for the emitter in slot, without the lock, or
 * -EINPROGRESS while it is undecided.
 */
int round_result(struct pooter_broker *b, uint32_t slot, uint64_t k)
{
	struct shm_round *r = &b->st->round;
	/* acquire: pairs with the release stores of the journal apply */
	uint64_t o = load_acquire(&r->outcome);

	if (outcome_word_round(o) < k)
		return -EINPROGRESS;
	if (outcome_word_round(o) > k) {
		/* round k+1 was opened since: k's outcome is in our slot */
		o = load_acquire(&shm_emitter(b, slot)->result);
		if (outcome_word_round(o) != k)
			return set_error(
				-EPROTO,
				"broker %s: outcome of round %llu lost",
				b->name, (unsigned long long)k);
	}
	if (!outcome_code_valid(outcome_word_code(o)))
		return segment_corrupt(b, "outcome code", outcome_word_code(o));
	return outcome_errno((enum shm_outcome)outcome_word_code(o));
}

/*
 * May the emitter in slot emit in the open round *v now?  -EBUSY if it is
 * no participant, -EALREADY if it emitted already.  Lock held.
 */
int round_may_emit(struct pooter_broker *b, uint32_t slot, const char *name,
		   const struct round_view *v)
{
	struct shm_emitter *e = shm_emitter(b, slot);

	if (READ_ONCE(e->part_round) != v->number)
		return set_error(-EBUSY,
				 "broker %s: emitter %s is not a participant "
				 "of round %llu",
				 b->name, name, (unsigned long long)v->number);
	if (READ_ONCE(e->emit_round) == v->number)
		return set_error(-EALREADY,
				 "broker %s: emitter %s already emitted in "
				 "round %llu",
				 b->name, name, (unsigned long long)v->number);
	/* we still owe: so fewer have emitted than take part, or it lies */
	if (v->nemitted >= v->nparts)
		return segment_corrupt(b, "open round's emit count",
				       v->nemitted);
	return 0;
}

/*
 * Commit the emit of the emitter in slot to the open round *v (see
 * round.h): its len bytes are in its payload area of the round's record
 * already, written without the lock.  Lock held.
 */
int round_emit(struct pooter_broker *b, uint32_t slot, const char *name,
	       size_t len, struct round_view *v, bool *decidedp)
{
	struct shm_emitter *e = shm_emitter(b, slot);
	struct shm_record *rec;
	struct shm_entry *ent;
	struct decision d;
	bool decided;
	int err;

	err = round_may_emit(b, slot, name, v);
	if (err)
		return err;

	/*
	 * Entry v->nemitted is past the committed ones: nobody reads it until
	 * the commit below counts it, so a death here leaves only bytes
	 * nobody will read.  The payload is already in our slot's area,
	 * which no committed entry names yet.
	 */
	rec = shm_record(b, v->record);
	ent = shm_entry(b, rec, v->nemitted);
	WRITE_ONCE(ent->slot, slot);
	/* a hint for the waiters' plans, +1 so 0 says "unknown" */
	WRITE_ONCE(e->cpu, (uint64_t)(sched_getcpu() + 1));
	WRITE_ONCE(ent->len, len);
	memcpy(ent->name, name, sizeof(ent->name));
	TEST_POINT("emit-copied");

	txn_set(b, &rec->nemitted, v->nemitted + 1);
	txn_set(b, &e->emit_round, v->number);
	v->nemitted++;
	POOTER_PROBE(emit, b->name, v->number, name, len);
	decided = v->fixed && v->nemitted == v->nparts;
	if (decided)
		round_stage_decision(b, v, SHM_RESOLVED, &d);
	txn_commit(b);
	if (decided)
		round_finish(b, &d);
	*decidedp = decided;
	return 0;
}
