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

#include "internal.h"

#define SPIN_NS (50 * 1000ull)		    /* see wait_plan() */
#define YIELD_NS (1000 * 1000ull)	    /* see wait_plan() */
#define PLAN_REFRESH_NS (1 * NSEC_PER_MSEC) /* see wait_plan() */
#define SPIN_FIRST_NS (5 * 1000ull)	    /* see wait_plan_outcome() */
#define ROUND_NUMBER_LIMIT (1ull << 55)

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

static int corrupt(struct pooter_broker *b, const char *what,
		   unsigned long long val)
{
	return set_error(-EPROTO, "broker %s: %s (%llu) is out of bounds",
			 b->name, what, val);
}

/*
 * Read the round's words once and check them; lock held.  now is
 * CLOCK_MONOTONIC read since the lock was taken.
 */
int round_load_at(struct pooter_broker *b, struct round_view *v, uint64_t now)
{
	struct shm_round *r = &b->st->round;
	uint64_t word = READ_ONCE(r->word);
	uint64_t rec, nparts, nemitted, open_ns, deadline_ns, timeout_ns;
	struct shm_record *record;

	memset(v, 0, sizeof(*v));
	v->number = word >> 1;
	v->open = word & 1;
	/* outcome words keep number << 8: beyond 2^55 rounds it is a lie */
	if (v->number >= ROUND_NUMBER_LIMIT)
		return corrupt(b, "round number", v->number);
	if (!v->open)
		return 0;

	rec = READ_ONCE(r->record);
	if (rec >= b->depth)
		return corrupt(b, "open round's record index", rec);
	nparts = READ_ONCE(r->nparts);
	if (nparts == 0 || nparts > b->max_emitters)
		return corrupt(b, "open round's participant count", nparts);
	record = shm_record(b, (uint32_t)rec);
	if (READ_ONCE(record->round) != v->number ||
	    READ_ONCE(record->state) != SHM_RECORD_OPEN)
		return corrupt(b, "open round's record state",
			       READ_ONCE(record->state));
	nemitted = READ_ONCE(record->nemitted);
	if (nemitted > nparts)
		return corrupt(b, "open round's emit count", nemitted);
	open_ns = READ_ONCE(r->open_ns);
	deadline_ns = READ_ONCE(r->deadline_ns);
	timeout_ns = (uint64_t)POOTER_TIMEOUT_MAX_MS * NSEC_PER_MSEC;
	/* nobody may wait past the documented limit on a segment's word */
	if (deadline_ns < open_ns || deadline_ns - open_ns > timeout_ns ||
	    deadline_ns > now + timeout_ns)
		return corrupt(b, "open round's deadline", deadline_ns);

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
	txn_set(b, &r->outcome, (v->number << 8) | code);
	/* last: the round word is what lock-free readers key on */
	d->word = v->number << 1;
	txn_set(b, &r->word, d->word);
	d->published = mask != 0;
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
 * The index of a free ring record, -ENOENT when every one is held, -EPROTO
 * for a record state outside the enum.  Lock held.  A record is free once
 * no *joined* consumer has yet to release it (record_is_free()).
 */
int record_find_free(struct pooter_broker *b)
{
	uint64_t joined = consumers_joined(b);

	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *c = shm_record(b, i);
		uint64_t state = READ_ONCE(c->state);

		if (state > SHM_RECORD_PUBLISHED)
			return corrupt(b, "record state", state);
		/*
		 * acquire: pairs with the SEQ_CST clear in pooter_release(),
		 * so what the consumer read of the record came before.
		 */
		if (record_is_free(state, load_acquire(&c->pending), joined))
			return (int)i;
	}
	return -ENOENT;
}

/*
 * Open round v->number + 1: reap the dead, claim a free record, make every
 * registered emitter a participant.  Lock held; v is the closed round and
 * becomes the open one.  -EAGAIN when every record is held.
 */
static int round_open(struct pooter_broker *b, struct round_view *v,
		      uint64_t now)
{
	struct shm_round *r = &b->st->round;
	struct shm_stats *s = &b->st->stats;
	uint64_t k = v->number + 1, last, timeout_ms;
	uint32_t n = 0;
	int rec;
	struct shm_record *record;

	members_reap_dead(b, true, true);
	rec = record_find_free(b);
	if (rec < 0)
		return rec == -ENOENT ? -EAGAIN : rec;

	timeout_ms = READ_ONCE(s->timeout_ms);
	if (timeout_ms == 0 || timeout_ms > POOTER_TIMEOUT_MAX_MS)
		return corrupt(b, "timeout", timeout_ms);

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
		if (READ_ONCE(e->emit_round) == k - 1 && (last >> 8) == k - 1)
			store_release(&e->result, last);
		WRITE_ONCE(e->part_round, k);
		n++;
	}
	if (n == 0)
		return corrupt(b, "emitter count", 0);

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
	txn_set(b, &r->word, (k << 1) | 1);
	txn_commit(b);
	futex_publish(&r->ctl, ctl_of((k << 1) | 1));
	TEST_POINT("round-opened");
	return round_load_at(b, v, now);
}

/*
 * The CPUs this process may run on: the online ones, fewer if its affinity
 * (taskset, a cpuset) says so.  Read once per process.
 */
static long online_cpus(void)
{
	static long cached;
	long cpus = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	cpu_set_t set;

	if (!cpus) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
		    CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < cpus)
			cpus = CPU_COUNT(&set);
		if (cpus < 1)
			cpus = 1;
		__atomic_store_n(&cached, cpus, __ATOMIC_RELAXED);
	}
	return cpus;
}

/*
 * How a waiter waits before it sleeps (see wait_while()); returns how many
 * of the broker's members are emitters, for the refinements below.
 *
 * While every member of the broker can have a CPU of its own, spin: the
 * event is at most microseconds away on another CPU, and a sleep and a wake
 * cost far more.  When members outnumber the CPUs, the one we wait for is
 * likely waiting for a CPU, perhaps ours: spinning would only burn its
 * time, and sleeping would make every round pay a wake-up per member.  So
 * hand the CPU over with sched_yield() instead, for a bounded time: the
 * members then take turns at the CPUs, each emitting as its turn comes, with
 * no wake-up and no idle CPU.  (Measured: at 8 emitters and 2 consumers on
 * 2 CPUs, a 5 us spin then a sleep spent 69 us a round; yielding, 11 us.)
 * Past the bound, the wait is long anyway, and a sleep costs nothing more.
 * With one CPU only, yield at once: who we wait for needs that CPU.
 *
 * The member count is a hint: the slots' owner words, read unlocked, and
 * counted again at most once per PLAN_REFRESH_NS, since every emit waits.
 * The handle's cache words are relaxed atomics (threads may share a handle);
 * they pair with nothing, and a torn view of them is just an older hint.
 */
static uint32_t plan_for(struct pooter_broker *b, uint64_t now,
			 struct wait_plan *plan)
{
	uint32_t members, emitters, consumers = 0;

	if (now < __atomic_load_n(&b->plan_until, __ATOMIC_RELAXED)) {
		members = __atomic_load_n(&b->plan_members, __ATOMIC_RELAXED);
		emitters = __atomic_load_n(&b->plan_emitters, __ATOMIC_RELAXED);
	} else {
		emitters = 0;
		for (uint32_t i = 0; i < b->max_emitters; i++)
			emitters += READ_ONCE(shm_emitter(b, i)->owner) != 0;
		for (uint32_t i = 0; i < b->max_consumers; i++)
			consumers += READ_ONCE(shm_consumer(b, i)->owner) != 0;
		members = emitters + consumers;
		__atomic_store_n(&b->plan_members, members, __ATOMIC_RELAXED);
		__atomic_store_n(&b->plan_emitters, emitters, __ATOMIC_RELAXED);
		__atomic_store_n(&b->plan_until, now + PLAN_REFRESH_NS,
				 __ATOMIC_RELAXED);
	}
	if (online_cpus() >= 2 && members <= (uint64_t)online_cpus()) {
		plan->spin_ns = SPIN_NS;
		plan->yield_ns = 0;
	} else {
		plan->spin_ns = 0;
		plan->yield_ns = YIELD_NS;
	}
	return emitters;
}

void wait_plan(struct pooter_broker *b, uint64_t now, struct wait_plan *plan)
{
	plan_for(b, now, plan);
}

/*
 * Did an emitter other than slot skip last emit on cpu?  With k, only one
 * that owes round k counts.  emitter.cpu is a hint from the segment,
 * compared for equality and nothing else.
 */
static bool emitter_on_cpu(struct pooter_broker *b, int cpu, uint32_t skip,
			   uint64_t k)
{
	for (uint32_t i = 0; i < b->max_emitters; i++) {
		struct shm_emitter *e = shm_emitter(b, i);

		if (i == skip || !READ_ONCE(e->owner) ||
		    READ_ONCE(e->cpu) != (uint64_t)cpu + 1)
			continue;
		if (!k || (READ_ONCE(e->part_round) == k &&
			   READ_ONCE(e->emit_round) != k))
			return true;
	}
	return false;
}

/*
 * The plan for an emitter waiting for the outcome of round k.  Consumers
 * take deliveries in batches and wait on their own word: when the emitters
 * alone fit the CPUs, the outcome is an emit on another CPU away, unless
 * one we wait for last emitted on our CPU (it is not running, then: we
 * are).  So spin first, unless so; yield if the spin runs out.  (Measured:
 * 2 emitters and a consumer on 2 CPUs, 2.5 us a round yielding at once,
 * 1.6 us spinning first; spinning also when the two emitters shared a CPU
 * made some runs 4 us.)
 */
void wait_plan_outcome(struct pooter_emitter *em, uint64_t k, uint64_t now,
		       struct wait_plan *plan)
{
	uint32_t emitters = plan_for(em->broker, now, plan);
	int cpu;

	if (plan->spin_ns || online_cpus() < 2 ||
	    emitters > (uint64_t)online_cpus())
		return;
	cpu = sched_getcpu();
	if (cpu >= 0 && !emitter_on_cpu(em->broker, cpu, em->slot, k))
		plan->spin_ns = SPIN_FIRST_NS;
}

/*
 * The plan for a consumer waiting for a delivery, when members outnumber
 * CPUs.  If an emitter last emitted on our CPU, yield to it, as wait_plan()
 * says.  If none did, nobody we wait for needs our CPU: yielding would keep
 * it busy for nothing, and the scheduler would never move an emitter here
 * from a CPU they crowd.  So spin briefly, then sleep.  (Measured: with 2
 * emitters sharing one of 2 CPUs and the consumer alone on the other, runs
 * took 2.7 us a round instead of 1.6 us.)
 */
void wait_plan_delivery(struct pooter_consumer *c, uint64_t now,
			struct wait_plan *plan)
{
	int cpu;

	plan_for(c->broker, now, plan);
	if (plan->spin_ns || online_cpus() < 2)
		return;
	cpu = sched_getcpu();
	if (cpu >= 0 && !emitter_on_cpu(c->broker, cpu, UINT32_MAX, 0)) {
		plan->spin_ns = SPIN_FIRST_NS;
		plan->yield_ns = 0;
	}
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

	if ((o >> 8) < k)
		return -EINPROGRESS;
	if ((o >> 8) > k) {
		/* round k+1 was opened since: k's outcome is in our slot */
		o = load_acquire(&shm_emitter(b, slot)->result);
		if ((o >> 8) != k)
			return set_error(
				-EPROTO,
				"broker %s: outcome of round %llu lost",
				b->name, (unsigned long long)k);
	}
	if ((o & 0xff) > SHM_OUTCOME_MAX)
		return corrupt(b, "outcome code", o & 0xff);
	return outcome_errno((enum shm_outcome)(o & 0xff));
}

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
int round_wait(struct pooter_emitter *em, uint64_t k, uint64_t deadline_ns)
{
	struct pooter_broker *b = em->broker;
	uint64_t start = now_ns();
	struct wait_plan plan;
	struct wait_sleep s;
	int err;

	wait_plan_outcome(em, k, start, &plan);
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
int round_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		     bool wait_space, struct round_view *vp, bool *decidedp)
{
	struct pooter_broker *b;
	struct round_view v;
	struct shm_emitter *slot;
	struct shm_record *rec;
	struct shm_entry *ent;
	struct decision d;
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
		err = v.open ? 0 : round_open(b, &v, now_ns());
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

			if (timeout_ms == 0 ||
			    timeout_ms > POOTER_TIMEOUT_MAX_MS) {
				broker_unlock(b);
				return corrupt(b, "timeout", timeout_ms);
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

	if (READ_ONCE(slot->part_round) != v.number) {
		broker_unlock(b);
		return set_error(-EBUSY,
				 "broker %s: emitter %s is not a participant "
				 "of round %llu",
				 b->name, em->name,
				 (unsigned long long)v.number);
	}
	if (READ_ONCE(slot->emit_round) == v.number) {
		broker_unlock(b);
		return set_error(-EALREADY,
				 "broker %s: emitter %s already emitted in "
				 "round %llu",
				 b->name, em->name,
				 (unsigned long long)v.number);
	}
	/* we still owe: so fewer have emitted than take part, or it lies */
	if (v.nemitted >= v.nparts) {
		broker_unlock(b);
		return corrupt(b, "open round's emit count", v.nemitted);
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

	/*
	 * Entry v.nemitted is past the committed ones: nobody reads it until
	 * the commit below counts it, so a death while copying leaves only
	 * bytes nobody will read.
	 */
	rec = shm_record(b, v.record);
	ent = shm_entry(b, rec, v.nemitted);
	if (len)
		memcpy(shm_payload(b, rec, v.nemitted), payload, len);
	WRITE_ONCE(ent->slot, em->slot);
	/* a hint for the waiters' plans, +1 so 0 says "unknown" */
	WRITE_ONCE(slot->cpu, (uint64_t)(sched_getcpu() + 1));
	WRITE_ONCE(ent->len, len);
	memcpy(ent->name, em->name, sizeof(ent->name));
	TEST_POINT("emit-copied");

	txn_set(b, &rec->nemitted, v.nemitted + 1);
	txn_set(b, &slot->emit_round, v.number);
	v.nemitted++;
	decided = v.fixed && v.nemitted == v.nparts;
	if (decided)
		round_stage_decision(b, &v, SHM_RESOLVED, &d);
	txn_commit(b);
	if (decided)
		round_finish(b, &d);
	broker_unlock(b);
	*vp = v;
	*decidedp = decided;
	return 0;
}

POOTER_API int pooter_emit(struct pooter_emitter *em, const void *payload,
			   size_t len, uint64_t *roundp)
{
	struct round_view v;
	bool decided;
	int err;

	err = round_contribute(em, payload, len, true, &v, &decided);
	if (err)
		return err;
	if (roundp)
		*roundp = v.number;
	if (decided)
		return 0;
	return round_wait(em, v.number, v.deadline_ns);
}

POOTER_API int pooter_round_cancel(struct pooter_broker *b)
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
