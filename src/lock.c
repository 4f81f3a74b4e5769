/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the broker's lock, its recovery after a death, and the redo
 * journal that makes every multi-step update of the segment atomic.
 *
 * The lock word holds the identity token of its holder.  A waiter that finds
 * the holder dead takes the lock over (a CAS from the dead token to its own)
 * and repairs the segment before doing anything else: a multi-step update
 * the dead holder had committed to the journal is applied again (every entry
 * is a plain store, so applying twice is applying once), and the futex
 * mirrors of state words are re-synchronized.  An update that was not yet
 * committed left no trace that anyone reads (see the callers: they write only
 * to words nobody reads until the commit names them).
 *
 * What does not live here: what the updates are (round.c, member.c).
 */
#include <string.h>

#include "error.h"
#include "liveness.h"
#include "lock.h"
#include "wait.h"

#define LOCK_SPINS 64
#define LOCK_SLEEP_NS (20 * NSEC_PER_MSEC)
/*
 * Critical sections are short and never block: one live holder keeping the
 * lock this long is stopped (SIGSTOP, a debugger) or a hostile segment names
 * a live process that never took it.  Either way the caller gets an error
 * rather than a wait with no end.
 */
#define LOCK_PATIENCE_NS (10 * NSEC_PER_SEC)

static void journal_apply(struct pooter_broker *b, uint64_t from, uint64_t n)
{
	struct shm_journal *j = &b->st->journal;

	for (uint64_t i = from; i < n; i++) {
		uint64_t raw = READ_ONCE(j->ent[i].off);
		uint64_t off = raw & ~SHM_JOURNAL_CLEAR;
		uint64_t val = READ_ONCE(j->ent[i].val);
		uint64_t *word = (uint64_t *)((char *)b->base + off);

		/* untrusted after a death: only aligned words past the header */
		if (off < b->layout.state_off || off > b->size - 8 || off % 8)
			continue;
		/*
		 * Release: a lock-free reader that sees a later entry (the
		 * round word comes last) sees the earlier ones too.  A clear
		 * is atomic: consumers clear their own pending bits unlocked.
		 */
		if (raw & SHM_JOURNAL_CLEAR)
			__atomic_fetch_and(word, ~val, __ATOMIC_SEQ_CST);
		else
			store_release(word, val);
		/*
		 * Progress, so a repair resumes after this entry: consumers
		 * act on published records without the lock, and must never
		 * see an entry they already acted on (a pending bitmap they
		 * already cleared) applied again.  Re-applying the one entry
		 * in flight at a death is safe: entries are ordered so that
		 * nobody acts on one before the next is applied.
		 */
		store_release(&j->applied, i + 1);
		if (i == 0)
			TEST_POINT("journal-apply");
	}
}

/*
 * After taking the lock over from a dead holder: finish its committed update
 * and make the futex mirrors agree with the words they mirror, waking every
 * sleeper so each re-reads the state it waits on.
 */
static void broker_repair(struct pooter_broker *b)
{
	struct shm_journal *j = &b->st->journal;
	struct shm_round *r = &b->st->round;
	/* acquire: the entries were written before the count named them */
	uint64_t n = load_acquire(&j->committed);

	if (n) {
		uint64_t from = load_acquire(&j->applied);

		if (n > SHM_JOURNAL_MAX)
			n = SHM_JOURNAL_MAX;
		journal_apply(b, from < n ? from : n, n);
		store_release(&j->committed, 0);
	}
	b->txn_n = 0;
	/* pairs with the acquire load of ctl in the outcome waiters */
	__atomic_store_n(&r->ctl, ctl_of(READ_ONCE(r->word)), __ATOMIC_SEQ_CST);
	futex_wake_all(&r->ctl);
	wake_counter(&r->pub);
	wake_counter(&r->space);
}

int broker_lock(struct pooter_broker *b)
{
	struct shm_lock *l = &b->st->lock;
	uint64_t self = b->token, seen = 0, since = 0, check_at = 0;
	uint64_t yield_until = 0;
	uint32_t seen_seq = 0;

	for (unsigned int spin = 0;; spin++) {
		uint64_t owner = 0, now;
		uint32_t seq;

		/* acquire: pairs with the release in broker_unlock() */
		if (__atomic_compare_exchange_n(&l->owner, &owner, self, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			break;
		if (spin < LOCK_SPINS) {
			cpu_relax();
			continue;
		}

		/*
		 * Is the holder dead?  Asked once per LOCK_SLEEP_NS, on the
		 * clock rather than on a timed-out sleep, so a stream of
		 * signals cannot keep us from ever asking.
		 */
		now = now_ns();
		if (!check_at)
			check_at = now + LOCK_SLEEP_NS;
		if (now >= check_at) {
			check_at = now + LOCK_SLEEP_NS;
			if (owner != self &&
			    !token_alive(b->pidfds, owner, 0)) {
				if (__atomic_compare_exchange_n(
					    &l->owner, &owner, self, false,
					    __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
					POOTER_PROBE_TAKEOVER(b, owner);
					broker_repair(b);
					return 0;
				}
				continue;
			}
		}

		/*
		 * The same live holder all along, with no unlock in between
		 * (seq moves at every unlock while we wait), for too long.
		 */
		seq = __atomic_load_n(&l->seq, __ATOMIC_RELAXED);
		if (owner != seen || seq != seen_seq || !since) {
			seen = owner;
			seen_seq = seq;
			since = now;
		} else if (now - since > LOCK_PATIENCE_NS) {
			return set_error(-EDEADLK,
					 "broker %s: lock held by live process "
					 "%d for over %llu s (stopped, or a "
					 "corrupted segment)",
					 b->name, (int)token_pid(owner),
					 LOCK_PATIENCE_NS / NSEC_PER_SEC);
		}

		/*
		 * Members outnumber CPUs: the holder is likely waiting for
		 * one.  Hand ours over for a while rather than sleep (see
		 * wait_plan()).
		 */
		if (!yield_until) {
			struct wait_plan plan;

			wait_plan(b, now, &plan);
			yield_until = now + plan.yield_ns;
		}
		if (now < yield_until) {
			sched_yield();
			continue;
		}

		__atomic_fetch_add(&l->waiters, 1, __ATOMIC_SEQ_CST);
		seq = __atomic_load_n(&l->seq, __ATOMIC_SEQ_CST);
		owner = __atomic_load_n(&l->owner, __ATOMIC_SEQ_CST);
		/*
		 * Dekker with broker_unlock(): it stores owner = 0 and then
		 * reads waiters; we raised waiters and then read owner, so
		 * one of us sees the other.
		 */
		/* a sleep that ran to its end: the check is due, on any clock */
		if (owner != 0 &&
		    futex_wait_abs(&l->seq, seq, check_at) == -ETIMEDOUT)
			check_at = now;
		__atomic_fetch_sub(&l->waiters, 1, __ATOMIC_SEQ_CST);
	}
	TEST_POINT("locked");
	/*
	 * A journal left committed with the lock free can only come from a
	 * hostile segment (a holder frees the lock after clearing it): the
	 * same repair makes it harmless.
	 */
	if (load_acquire(&b->st->journal.committed))
		broker_repair(b);
	return 0;
}

void broker_unlock(struct pooter_broker *b)
{
	struct shm_lock *l = &b->st->lock;

	b->txn_n = 0;
	/* pairs with the acquire CAS in broker_lock() */
	__atomic_store_n(&l->owner, 0, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&l->waiters, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_add(&l->seq, 1, __ATOMIC_SEQ_CST);
		futex_wake_one(&l->seq);
	}
}

static void txn_stage(struct pooter_broker *b, uint64_t *word, uint64_t val,
		      uint64_t kind)
{
	struct shm_journal *j = &b->st->journal;
	unsigned int n = b->txn_n;

	/* callers bound their updates (see SHM_JOURNAL_MAX); never exceeded */
	if (n >= SHM_JOURNAL_MAX)
		__builtin_trap();
	WRITE_ONCE(j->ent[n].off,
		   (uint64_t)((char *)word - (char *)b->base) | kind);
	WRITE_ONCE(j->ent[n].val, val);
	b->txn_n = n + 1;
}

/* Stage *word = val; nothing is written to word before txn_commit(). */
void txn_set(struct pooter_broker *b, uint64_t *word, uint64_t val)
{
	txn_stage(b, word, val, 0);
}

/* Stage clearing the bits of mask in *word (see SHM_JOURNAL_CLEAR). */
void txn_clear_bits(struct pooter_broker *b, uint64_t *word, uint64_t mask)
{
	txn_stage(b, word, mask, SHM_JOURNAL_CLEAR);
}

/*
 * Commit point: once committed is non-zero, the update will happen, by us or
 * by whoever recovers the lock after our death.
 */
void txn_commit(struct pooter_broker *b)
{
	struct shm_journal *j = &b->st->journal;
	unsigned int n = b->txn_n;

	if (!n)
		return;
	/* release: the entries are visible before the count that names them */
	WRITE_ONCE(j->applied, 0);
	store_release(&j->committed, n);
	TEST_POINT("txn-committed");
	journal_apply(b, 0, n);
	store_release(&j->committed, 0);
	b->txn_n = 0;
}
