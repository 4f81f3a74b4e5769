/* SPDX-License-Identifier: MIT */
/*
 * enter.c - how every call that touches a broker starts: the handle is
 * checked, the lock taken, and a deadline nobody enforced is enforced
 * before anything else (the contract's rule 6).  Layer 2: it is here, not
 * in the lock, that the lock meets the round.
 */
#include "enter.h"
#include "error.h"
#include "liveness.h"

int broker_check_handle(struct pooter_broker *b)
{
	if (!b)
		return set_error(-EINVAL, "broker handle is NULL");
	if (b->pid != self_pid())
		return set_error(-EBADFD,
				 "broker %s: handle opened by process %d, used "
				 "by %d (after fork, open your own)",
				 b->name, (int)b->pid, (int)self_pid());
	return 0;
}

/*
 * Every call that touches the broker starts here: take the lock, then
 * enforce a deadline nobody enforced.  *v (if not NULL) gets the round as
 * it then stands, read and checked once for the caller.
 */
int broker_enter(struct pooter_broker *b, struct round_view *v)
{
	uint64_t now;

	return broker_enter_at(b, v, &now);
}

/* The same, and *nowp the CLOCK_MONOTONIC time read after locking. */
int broker_enter_at(struct pooter_broker *b, struct round_view *v,
		    uint64_t *nowp)
{
	struct round_view local;
	int err = broker_check_handle(b);

	if (err)
		return err;
	err = broker_lock(b);
	if (err)
		return err;
	*nowp = now_ns();
	err = round_enforce_deadline(b, *nowp, v ? v : &local);
	if (err < 0) {
		broker_unlock(b);
		return err;
	}
	return 0;
}

/*
 * For the calls that need no lock (consume, release): enforce an overdue
 * deadline as every call must, taking the lock only when one is overdue.
 */
int broker_enforce_overdue(struct pooter_broker *b)
{
	struct shm_round *r = &b->st->round;
	int err = broker_check_handle(b);

	if (err)
		return err;
	/*
	 * acquire: pairs with the journal's release of the round word.  An
	 * update in flight is waited out (or finished, if its maker died):
	 * consumers may be the only ones left to take the lock.
	 */
	if (!load_acquire(&b->st->journal.committed) &&
	    (!(load_acquire(&r->word) & 1) ||
	     now_ns() < READ_ONCE(r->deadline_ns)))
		return 0;
	err = broker_enter(b, NULL);
	if (!err)
		broker_unlock(b);
	return err;
}
