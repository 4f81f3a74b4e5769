/* SPDX-License-Identifier: MIT */
/*
 * loan.c - loans: the emitter's payload area in the open round's record,
 * lent to the caller to write its payload in place, then committed as its
 * emit (blocking, or as a ticket) or given back.  Layer 2, next to emit.c,
 * whose open and commit it shares; the lock is held only to take the loan
 * and to commit it, never while the caller writes.
 *
 * A loan belongs to one round: the round open (or opened) when it was
 * taken.  The area is the emitter slot's own (emit_target() in emit.c says
 * why nobody else reads or writes it while the emit is owed), so the caller
 * may take its time; the round's deadline still runs.  If the round is
 * decided before the commit (its deadline passed, a participant died, an
 * operator cancelled it), the commit settles with that round's outcome and
 * the emit never happened.  A death while holding a loan is a death owing
 * an emit: the round is cancelled with EOWNERDEAD, and the half-written
 * area is never delivered, since no entry names it.
 *
 * What does not live here: the round's rules (round.c), the waits
 * (await.c), the copying emits (emit.c).
 */
#include <string.h>

#include "emit.h"
#include "enter.h"
#include "error.h"
#include "shm.h"

int shm_emit_loan(struct pooter_emitter *em, size_t len, unsigned int flags,
		  void **bufp)
{
	struct pooter_broker *b = em->broker;
	struct round_view v;
	int err;

	if (em->loan_buf)
		return set_error(-EBUSY,
				 "broker %s: emitter %s holds a loan already",
				 b->name, em->name);
	if (len > b->max_payload)
		return set_error(-EMSGSIZE,
				 "broker %s: loan of %zu bytes, limit %u",
				 b->name, len, b->max_payload);
	err = emit_open(em, !(flags & POOTER_LOAN_NOWAIT), -1, &v);
	if (err)
		return err;
	err = round_may_emit(b, em->slot, em->name, &v);
	if (err) {
		broker_unlock(b);
		return err;
	}
	emit_keep_history(em, &v);
	/*
	 * Under the lock, so the opener of the next round sees it and keeps
	 * this round's outcome in our slot (round_open()): a commit after
	 * the round was decided without us settles with it.
	 */
	WRITE_ONCE(shm_emitter(b, em->slot)->loan_round, v.number);
	broker_unlock(b);

	em->loan_buf = shm_payload(b, shm_record(b, v.record), em->slot);
	em->loan_len = len;
	em->loan_round = v.number;
	em->loan_deadline = v.deadline_ns;
	em->loan_record = v.record;
	TEST_POINT("loan-taken");
	*bufp = em->loan_buf;
	return 0;
}

static int loan_check(struct pooter_emitter *em, const void *buf)
{
	if (!em->loan_buf || buf != em->loan_buf)
		return set_error(-EINVAL,
				 "broker %s: emitter %s holds no loan at %p",
				 em->broker->name, em->name, buf);
	return 0;
}

/*
 * Commit the loan as our emit and fill *t (the backend's loan_commit).  A
 * round decided before the commit settles the ticket with its outcome.
 */
int shm_emit_commit(struct pooter_emitter *em, const void *buf, size_t len,
		    struct pooter_ticket *t)
{
	struct pooter_broker *b = em->broker;
	struct round_view v;
	bool decided;
	int err;

	err = loan_check(em, buf);
	if (err)
		return err;
	if (len > em->loan_len)
		return set_error(-EINVAL,
				 "broker %s: commit of %zu bytes from a loan "
				 "of %zu",
				 b->name, len, em->loan_len);
	err = broker_enter(b, &v);
	if (err)
		return err; /* the loan is still held: commit or abort */
	TEST_POINT("loan-commit-locked");
	em->loan_buf = NULL;
	memset(t, 0, sizeof(*t));
	t->emitter = em;
	t->round = em->loan_round;
	t->deadline_ns = em->loan_deadline;
	if (READ_ONCE(shm_emitter(b, em->slot)->owner) != b->token) {
		broker_unlock(b);
		return set_error(-EIDRM, "broker %s: emitter %s was removed",
				 b->name, em->name);
	}
	if (!v.open || v.number != em->loan_round) {
		/* decided without our emit: the loan's round is over */
		broker_unlock(b);
		t->outcome = emitter_outcome(em, em->loan_round);
		return t->outcome == -EPROTO ? -EPROTO : 0;
	}
	if (v.record != em->loan_record) {
		broker_unlock(b);
		return segment_corrupt(b, "open round's record index",
				       v.record);
	}
	err = round_emit(b, em->slot, em->name, len, &v, &decided);
	broker_unlock(b);
	if (err)
		return err;
	t->deadline_ns = v.deadline_ns;
	t->outcome = decided ? 0 : -EINPROGRESS;
	return 0;
}

/*
 * Give the loan back.  No lock: the loan is the handle's, and the emit is
 * still owed, to be made by an emit or a new loan in the same round.
 */
int shm_emit_abort(struct pooter_emitter *em, const void *buf)
{
	int err = loan_check(em, buf);

	if (err)
		return err;
	em->loan_buf = NULL;
	return 0;
}
