/* SPDX-License-Identifier: MIT */
/*
 * async.c - io_uring: detection, the blocking path's wait on a private ring,
 * and the asynchronous API on the application's ring.
 *
 * Blocking waits (pooter_emit) sleep on one private ring per broker handle:
 * an IORING_OP_FUTEX_WAIT on the round's ctl word, an absolute timeout, and
 * an IORING_OP_POLL_ADD on the pidfd of every participant that still owes an
 * emit.  Whichever completes first ends the wait; the rest are cancelled and
 * reaped before returning, so the private ring is always empty between
 * waits.  A pidfd turning readable is the kernel telling us a participant
 * died: the waiter reaps it at once, which cancels the round (EOWNERDEAD).
 *
 * Where io_uring is unusable the blocking path is futex(2) with absolute
 * timeouts and a liveness re-check every LIVENESS_PERIOD_NS.
 *
 * The asynchronous API puts the same futex wait, linked to a timeout, on the
 * caller's ring, and turns the CQE back into an outcome; see pooter.h for
 * how the CQEs are tagged.
 */
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "async.h"
#include "await.h"
#include "emit.h"
#include "enter.h"
#include "error.h"
#include "uring_compat.h"
#include "shm.h"

int shm_uring_supported(void)
{
	const char *reason;
	int err = wait_uring_probe(&reason);

	if (err)
		return set_error(err, "%s", reason);
	return 0;
}

/*
 * The library's part of a ticket: in the public struct's reserved space,
 * so a ticket is the caller's memory and another backend fits its own.
 */
struct ticket_priv {
	uint64_t user_data; /* of its armed wait */
	int64_t ts[2];	    /* the wait's link timeout, read at submit */
	uint32_t watches;   /* deaths watched by the armed wait */
	uint32_t reserved;
};

static_assert(sizeof(struct ticket_priv) <=
		      sizeof(((struct pooter_ticket *)0)->priv),
	      "the ticket's reserved space holds the library's part");

static struct ticket_priv *ticket_priv(struct pooter_ticket *t)
{
	return (struct ticket_priv *)t->priv;
}

/* --- waits armed on the application's ring ------------------------------ */

static int armed_add(struct uring_armed *a, struct io_uring *ring,
		     uint64_t user_data)
{
	int free_i = -1;

	for (int i = 0; i < URING_ARMED_MAX; i++) {
		if (a->ring[i] == ring && a->user_data[i] == user_data)
			return 0;
		if (!a->ring[i] && free_i < 0)
			free_i = i;
	}
	if (free_i < 0)
		return set_error(-EBUSY,
				 "%d waits are armed on this handle already: "
				 "settle one first",
				 URING_ARMED_MAX);
	a->ring[free_i] = ring;
	a->user_data[free_i] = user_data;
	return 0;
}

static void armed_del(struct uring_armed *a, struct io_uring *ring,
		      uint64_t user_data)
{
	for (int i = 0; i < URING_ARMED_MAX; i++) {
		if (a->ring[i] == ring && a->user_data[i] == user_data) {
			a->ring[i] = NULL;
			a->user_data[i] = 0;
		}
	}
}

/* Leave: cancel every wait still armed, and its death watches. */
void uring_cancel_armed(struct uring_armed *a)
{
	for (int i = 0; i < URING_ARMED_MAX; i++) {
		struct io_uring *ring = a->ring[i];

		if (!ring)
			continue;
		wait_disarm(ring, a->user_data[i], true);
		io_uring_submit(ring);
		a->ring[i] = NULL;
	}
}

static int async_check(struct io_uring *ring, uint64_t user_data)
{
	int err = shm_uring_supported();

	if (err)
		return err;
	if (!ring || (user_data & POOTER_CQE_AUX))
		return set_error(-EINVAL, "ring is NULL, or user_data has "
					  "bit 0 (POOTER_CQE_AUX) set");
	if (io_uring_sq_space_left(ring) < 2)
		return set_error(-EBUSY, "submission queue full: submit, "
					 "then prep again");
	return 0;
}

static int prep_nop(struct io_uring *ring, uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_nop(sqe);
	sqe->user_data = user_data;
	return 1;
}

/*
 * Arm sleep s for a wait of user_data on ring, registered in a; *watches
 * says whether deaths are watched (their cancellation is then due).
 */
static int arm(struct io_uring *ring, struct waiter *w, struct uring_armed *a,
	       struct wait_sleep *s, uint64_t user_data, int64_t ts[2],
	       struct futex_waitv *waitv, uint32_t *watches)
{
	int err = armed_add(a, ring, user_data);

	if (err)
		return err;
	/* the kernel reads ts and waitv at submission: they live on */
	err = wait_arm(ring, w, s, user_data, ts, waitv);
	if (err < 0) {
		armed_del(a, ring, user_data);
		return err;
	}
	*watches = s->nfds;
	return err;
}

/*
 * Contribute and fill *t (the backend's contribute): the round, its
 * deadline, and the outcome if this emit decided it, else -EINPROGRESS.
 */
int shm_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		   bool wait_space, struct pooter_ticket *t)
{
	struct round_view v;
	bool decided;
	int err;

	err = emit_contribute(em, payload, len, wait_space, &v, &decided);
	if (err)
		return err;
	memset(t, 0, sizeof(*t));
	t->emitter = em;
	t->round = v.number;
	t->deadline_ns = v.deadline_ns;
	t->outcome = decided ? 0 : -EINPROGRESS;
	return 0;
}

/* Block until the ticket's round is decided (the backend's outcome wait). */
int shm_outcome_wait(struct pooter_ticket *t)
{
	if (t->outcome == -EINPROGRESS)
		t->outcome = emit_wait(t->emitter, t->round, t->deadline_ns);
	return t->outcome;
}

/*
 * One step of the ticket's wait (await_round_step()): 1 with the ticket
 * settled, 0 with *s the sleep to arm, or a negative errno.
 */
static int ticket_step(struct pooter_ticket *t, struct wait_sleep *s)
{
	struct pooter_emitter *em = t->emitter;
	int err;

	if (t->outcome == -EINPROGRESS)
		t->outcome = emitter_result(em, t->round);
	if (t->outcome != -EINPROGRESS)
		return 1;
	err = await_round_step(em->broker, &em->waiter, t->round,
			       t->deadline_ns, s);
	if (err < 0)
		return err;
	if (err == 0) {
		t->outcome = emitter_outcome(em, t->round);
		return 1;
	}
	return 0;
}

static int ticket_arm(struct io_uring *ring, struct pooter_ticket *t,
		      uint64_t user_data)
{
	struct ticket_priv *tp = ticket_priv(t);
	struct wait_sleep s;
	int err;

	tp->user_data = user_data;
	tp->watches = 0;
	err = ticket_step(t, &s);
	if (err < 0)
		return err;
	if (err)
		return prep_nop(ring, user_data);
	return arm(ring, &t->emitter->waiter, &t->emitter->armed, &s, user_data,
		   tp->ts, NULL, &tp->watches);
}

int shm_prep_round_wait(struct io_uring *ring, struct pooter_ticket *t,
			uint64_t user_data)
{
	int err;

	if (!t || !t->emitter)
		return set_error(-EINVAL, "ticket is NULL or empty");
	err = async_check(ring, user_data);
	if (err)
		return err;
	return ticket_arm(ring, t, user_data);
}

/*
 * What a wait's CQE may say: woken (0), the word had already changed
 * (-EAGAIN), the link timeout fired (-ECANCELED, -ETIME), or a signal.
 * Anything else (-EINVAL from an IOPOLL ring, say) is an error: re-arming
 * would only get it again.
 */
static bool cqe_is_wake(const struct io_uring_cqe *cqe)
{
	return cqe->res >= 0 || cqe->res == -EAGAIN || cqe->res == -ECANCELED ||
	       cqe->res == -ETIME || cqe->res == -EINTR;
}

/*
 * The start of every *_complete(): the CQE of an armed wait ended its sleep;
 * its death watches go, and the waiter's next step checks what happened.
 */
static int complete_begin(struct io_uring *ring, struct waiter *w,
			  struct uring_armed *a, uint64_t user_data,
			  uint32_t *watches, const struct io_uring_cqe *cqe)
{
	int err = shm_uring_supported();

	if (err)
		return err;
	if (*watches) {
		wait_disarm(ring, user_data, false);
		*watches = 0;
	}
	if (!cqe_is_wake(cqe)) {
		armed_del(a, ring, user_data);
		return set_error(cqe->res, "wait failed on the ring: %s",
				 strerror(-cqe->res));
	}
	w->woken = true;
	return 0;
}

int shm_round_complete(struct io_uring *ring, struct pooter_ticket *t,
		       const struct io_uring_cqe *cqe)
{
	struct ticket_priv *tp;
	struct pooter_emitter *em;
	struct wait_sleep s;
	int err;

	if (!cqe || !t || !t->emitter)
		return set_error(-EINVAL, "ticket or cqe is NULL");
	if (pooter_cqe_is_aux(cqe))
		return 0;
	em = t->emitter;
	tp = ticket_priv(t);
	err = complete_begin(ring, &em->waiter, &em->armed, tp->user_data,
			     &tp->watches, cqe);
	if (err)
		return err;
	err = ticket_step(t, &s);
	if (err < 0)
		t->outcome = err;
	if (err) {
		armed_del(&em->armed, ring, tp->user_data);
		return 1;
	}
	err = arm(ring, &em->waiter, &em->armed, &s, tp->user_data, tp->ts,
		  NULL, &tp->watches);
	return err < 0 ? err : 0;
}

/* Queue the consumer's wait: a NOP if a delivery is already there. */
static int consume_arm(struct io_uring *ring, struct pooter_consumer *c,
		       uint64_t user_data)
{
	struct pooter_broker *b = c->broker;
	struct wait_sleep s;
	uint32_t seq, watches;
	bool ready;
	int err;

	err = broker_enter(b, NULL);
	if (err)
		return err;
	/* read before looking, so a publication after it fails the wait */
	seq = futex_value(&b->st->round.pub);
	ready = delivery_next(b, c->slot) >= 0;
	broker_unlock(b);
	if (ready)
		return prep_nop(ring, user_data);
	await_delivery_sleep(c, seq, c->async_deadline, &s);
	return arm(ring, &c->waiter, &c->armed, &s, user_data, c->async_buf.ts,
		   c->async_buf.waitv, &watches);
}

int shm_prep_consume_wait(struct io_uring *ring, struct pooter_consumer *c,
			  int timeout_ms, uint64_t user_data)
{
	int err;

	if (!c)
		return set_error(-EINVAL, "consumer is NULL");
	err = async_check(ring, user_data);
	if (err)
		return err;
	/* its deadline and buffers are the handle's: one at a time */
	if (c->async_armed)
		return set_error(-EBUSY,
				 "a consume wait is armed on consumer %s "
				 "already",
				 c->name);
	c->async_deadline = timeout_ms < 0 ? UINT64_MAX :
					     now_ns() + (uint64_t)timeout_ms *
								NSEC_PER_MSEC;
	err = consume_arm(ring, c, user_data);
	c->async_armed = err > 0;
	return err;
}

int shm_consume_complete(struct io_uring *ring, struct pooter_consumer *c,
			 const struct io_uring_cqe *cqe,
			 const struct pooter_delivery **dp)
{
	uint32_t watches = 0;
	int err;

	if (!cqe || !c || !dp)
		return set_error(-EINVAL, "consumer, cqe or delivery is NULL");
	if (pooter_cqe_is_aux(cqe))
		return 0;
	err = complete_begin(ring, &c->waiter, &c->armed, cqe->user_data,
			     &watches, cqe);
	if (err == 0) {
		err = shm_consume(c, 0, dp);
		if (err == 0)
			err = 1;
	}
	if (err == -ETIMEDOUT && now_ns() < c->async_deadline) {
		err = io_uring_sq_space_left(ring) < 2 ?
			      set_error(
				      -EBUSY,
				      "submission queue full: cannot re-arm") :
			      consume_arm(ring, c, cqe->user_data);
		if (err > 0)
			return 0;
	}
	/* settled, or not re-armed: the wait is over */
	armed_del(&c->armed, ring, cqe->user_data);
	c->async_armed = false;
	return err;
}

/* --- ring space --------------------------------------------------------- */

/*
 * Can pooter_emit_submit() go ahead without -EAGAIN: a round open, or a
 * record free?  Reaps dead holders first when woken.  Sets *seq to the space
 * counter as read before looking.
 */
static int space_ready(struct pooter_emitter *em, uint32_t *seq)
{
	struct pooter_broker *b = em->broker;
	struct round_view v;
	int err, rec;

	err = broker_enter(b, &v);
	if (err)
		return err;
	*seq = futex_value(&b->st->round.space);
	if (em->waiter.woken) {
		em->waiter.woken = false;
		members_reap_dead(b, false, true);
	}
	rec = v.open ? 0 : record_find_free(b);
	broker_unlock(b);
	if (rec == -ENOENT)
		return 0;
	return rec < 0 ? rec : 1;
}

static int space_arm(struct io_uring *ring, struct pooter_emitter *em,
		     uint64_t user_data)
{
	struct wait_sleep s;
	uint32_t seq, watches;
	int err;

	err = space_ready(em, &seq);
	if (err)
		return err < 0 ? err : prep_nop(ring, user_data);
	/*
	 * A holder dead already: the completion reaps it.  If the reaper
	 * thought it alive last time, the sleep (cut to the liveness period)
	 * settles it instead of NOPs without end.
	 */
	if (await_space_sleep(em->broker, &em->waiter, seq, em->space_deadline,
			      &s) &&
	    !em->space_retried) {
		em->space_retried = true;
		return prep_nop(ring, user_data);
	}
	em->space_retried = false;
	err = arm(ring, &em->waiter, &em->armed, &s, user_data,
		  em->space_buf.ts, NULL, &watches);
	em->space_watches = watches;
	return err;
}

int shm_prep_space_wait(struct io_uring *ring, struct pooter_emitter *em,
			int timeout_ms, uint64_t user_data)
{
	int err;

	if (!em)
		return set_error(-EINVAL, "emitter is NULL");
	err = async_check(ring, user_data);
	if (err)
		return err;
	/* its deadline and timespec are the handle's: one at a time */
	if (em->space_armed)
		return set_error(-EBUSY,
				 "a space wait is armed on emitter %s "
				 "already",
				 em->name);
	em->space_user_data = user_data;
	em->space_deadline = timeout_ms < 0 ? UINT64_MAX :
					      now_ns() + (uint64_t)timeout_ms *
								 NSEC_PER_MSEC;
	em->space_retried = false;
	err = space_arm(ring, em, user_data);
	em->space_armed = err > 0;
	return err;
}

int shm_space_complete(struct io_uring *ring, struct pooter_emitter *em,
		       const struct io_uring_cqe *cqe)
{
	uint32_t seq;
	int err;

	if (!cqe || !em)
		return set_error(-EINVAL, "emitter or cqe is NULL");
	if (pooter_cqe_is_aux(cqe))
		return 0;
	err = complete_begin(ring, &em->waiter, &em->armed, em->space_user_data,
			     &em->space_watches, cqe);
	if (err == 0)
		err = space_ready(em, &seq);
	if (err == 0 && now_ns() >= em->space_deadline)
		err = set_error(-ETIMEDOUT,
				"broker %s: every ring record is still held "
				"by consumers",
				em->broker->name);
	if (err == 0) {
		err = space_arm(ring, em, em->space_user_data);
		if (err > 0)
			return 0;
	}
	/* settled, or not re-armed: the wait is over */
	armed_del(&em->armed, ring, em->space_user_data);
	em->space_armed = false;
	return err;
}
