/* SPDX-License-Identifier: MIT */
/*
 * async.c - the io_uring calls on zk:// handles.  A wait armed on the
 * application's ring is one IORING_OP_POLL_ADD on an eventfd of the wait's
 * own; the keeper (conn.c), which drives the handle's session between its
 * calls, does the wait's work when the session's watches fire or its time
 * comes (the same steps a blocking call takes: round.c, consumer.c), and
 * writes the eventfd once the wait is settled.  The *_complete() calls read
 * what it found; a completion before that (none is expected) queues the
 * poll again.  Every completion carries the caller's user_data: there are no
 * auxiliary ones on this backend.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "zk.h"

#define RETRY_NS (100 * 1000000ull) /* a session away: look again */
#define IDLE_NS (100 * 1000000ull)  /* a consume wait's look, unprompted */

static void armed_settle(struct zk_armed *a, int outcome)
{
	uint64_t one = 1;

	a->settled = true;
	a->outcome = outcome;
	if (write(a->efd, &one, sizeof(one)) < 0) {
		/* the counter is full: readable already */
	}
}

static void armed_drain(struct zk_armed *a)
{
	uint64_t v;

	if (a->efd > 0 && read(a->efd, &v, sizeof(v)) < 0) {
		/* nothing was written: EAGAIN */
	}
}

/* Queue the poll of a's eventfd, carrying user_data. */
static int armed_queue(struct io_uring *ring, struct zk_armed *a)
{
	struct io_uring_sqe *sqe;

	if (!ring)
		return zk_error(-EINVAL, "ring is NULL");
	sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return zk_error(-EBUSY,
				"no free submission queue entry: submit, then "
				"call again");
	io_uring_prep_poll_add(sqe, a->efd, POLLIN);
	io_uring_sqe_set_data64(sqe, a->user_data);
	a->ring = ring;
	return 1;
}

static int armed_arm(struct io_uring *ring, struct zk_armed *a, int kind,
		     uint64_t user_data)
{
	int err;

	if (user_data & POOTER_CQE_AUX)
		return zk_error(-EINVAL,
				"user_data has bit 0 (POOTER_CQE_AUX) set");
	if (a->efd <= 0) {
		a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (a->efd < 0) {
			a->efd = 0;
			return zk_error(-errno, "eventfd: %s", strerror(errno));
		}
	}
	armed_drain(a);
	a->kind = kind;
	a->user_data = user_data;
	a->settled = false;
	a->outcome = 0;
	a->gen_seen = UINT64_MAX; /* look at once */
	a->wake_ns = 0;
	err = armed_queue(ring, a);
	if (err < 0)
		a->kind = ZK_ARMED_FREE;
	return err;
}

static void armed_free(struct zk_armed *a)
{
	armed_drain(a);
	a->kind = ZK_ARMED_FREE;
	a->t = NULL;
	a->ring = NULL;
}

/*
 * Leave and close: cancel the polls still armed on their rings (their
 * completions, -ECANCELED, must not be passed to the *_complete() calls),
 * and close the eventfds.
 */
void zk_armed_cancel(struct zk_armed *a, int n)
{
	for (int i = 0; i < n; i++) {
		if (a[i].kind != ZK_ARMED_FREE && a[i].ring) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(a[i].ring);

			if (!sqe) {
				io_uring_submit(a[i].ring);
				sqe = io_uring_get_sqe(a[i].ring);
			}
			if (sqe) {
				io_uring_prep_poll_remove(sqe, a[i].user_data);
				io_uring_sqe_set_data64(
					sqe, a[i].user_data | POOTER_CQE_AUX);
				io_uring_submit(a[i].ring);
			}
		}
		if (a[i].efd > 0)
			close(a[i].efd);
		memset(&a[i], 0, sizeof(a[i]));
	}
}

/* Is it time to look again: the watches fired, or the wait's time came? */
static bool armed_due(struct zk_conn *c, struct zk_armed *a, uint64_t now)
{
	if (a->kind == ZK_ARMED_FREE || a->settled)
		return false;
	return a->gen_seen != c->gen || now >= a->wake_ns;
}

/* --- emitters: round waits and the space wait ----------------------------- */

static uint64_t emitter_work(struct zk_conn *c, void *owner)
{
	struct zk_emitter *em = owner;
	struct zk_broker *b = zkb(em->broker);
	uint64_t next = UINT64_MAX;

	for (int i = 0; i < ZK_ARMED_MAX; i++) {
		struct zk_armed *a = &em->armed[i];
		uint64_t now = zc_now(), wake = UINT64_MAX;
		int outcome, r;

		if (!armed_due(c, a, now)) {
			if (a->kind != ZK_ARMED_FREE && !a->settled &&
			    a->wake_ns < next)
				next = a->wake_ns;
			continue;
		}
		a->gen_seen = c->gen;
		if (a->kind == ZK_ARMED_ROUND) {
			r = zk_round_step(c, b, a->round, &outcome, &wake);
			if (r == 1)
				armed_settle(a, outcome);
			else if (!r)
				a->wake_ns = wake;
		} else {
			r = zk_space_room(em, true);
			if (r == 1)
				armed_settle(a, 0);
			else if (!r && now >= a->deadline_ns)
				armed_settle(a, -ETIMEDOUT);
			else if (!r)
				a->wake_ns = a->deadline_ns;
		}
		if (r < 0) {
			if (r == -ENOTCONN || r == -ECONNRESET ||
			    r == -ESTALE || r == -EHOSTUNREACH) {
				if (r == -ECONNRESET)
					zk_retry(c, r, &em->gone);
				a->wake_ns = now + RETRY_NS;
			} else {
				armed_settle(a, r);
			}
		}
		if (!a->settled && a->wake_ns < next)
			next = a->wake_ns;
	}
	return next;
}

static struct zk_armed *armed_find(struct zk_emitter *em, int kind,
				   const struct pooter_ticket *t)
{
	for (int i = 0; i < ZK_ARMED_MAX; i++)
		if (em->armed[i].kind == kind &&
		    (kind != ZK_ARMED_ROUND || em->armed[i].t == t))
			return &em->armed[i];
	return NULL;
}

int zk_prep_round_wait(struct io_uring *ring, struct pooter_ticket *t,
		       uint64_t user_data)
{
	struct zk_emitter *em = (struct zk_emitter *)t->emitter;
	struct zk_armed *a;
	int err;

	if (!ring)
		return zk_error(-EINVAL, "ring is NULL");
	if (t->outcome != -EINPROGRESS) {
		/* settled already: a completion at once */
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		if (user_data & POOTER_CQE_AUX)
			return zk_error(-EINVAL, "user_data has bit 0 set");
		if (!sqe)
			return zk_error(-EBUSY, "no free submission queue "
						"entry: submit, then call "
						"again");
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, user_data);
		return 1;
	}
	a = armed_find(em, ZK_ARMED_ROUND, t);
	if (!a)
		a = armed_find(em, ZK_ARMED_FREE, NULL);
	if (!a)
		return zk_error(-EBUSY,
				"emitter %s has %d waits armed: settle "
				"one first",
				em->name, ZK_ARMED_MAX);
	a->t = t;
	a->round = t->round;
	err = armed_arm(ring, a, ZK_ARMED_ROUND, user_data);
	if (err < 0) {
		a->t = NULL;
		return err;
	}
	em->conn.work = emitter_work;
	em->conn.owner = em;
	zc_kick();
	return err;
}

/* A completion's error that is no wake: returned as is (the man page). */
static int cqe_error(const struct io_uring_cqe *cqe)
{
	return cqe->res < 0 && cqe->res != -ECANCELED && cqe->res != -EINTR ?
		       cqe->res :
		       0;
}

int zk_round_complete(struct io_uring *ring, struct pooter_ticket *t,
		      const struct io_uring_cqe *cqe)
{
	struct zk_emitter *em = (struct zk_emitter *)t->emitter;
	struct zk_armed *a;
	int err;

	if (pooter_cqe_is_aux(cqe))
		return 0;
	a = armed_find(em, ZK_ARMED_ROUND, t);
	if (!a)
		return t->outcome != -EINPROGRESS ?
			       1 :
			       zk_error(-EINVAL, "no round wait is armed for "
						 "this ticket");
	if ((err = cqe_error(cqe))) {
		armed_free(a);
		return err;
	}
	if (!a->settled)
		return armed_queue(ring, a) < 0 ? -EBUSY : 0;
	err = a->outcome;
	armed_free(a);
	if (err && err != -ETIMEDOUT && err != -ECANCELED && err != -EOWNERDEAD)
		return err; /* the wait failed: the ticket is not settled */
	t->outcome = err;
	return 1;
}

int zk_prep_space_wait(struct io_uring *ring, struct pooter_emitter *pem,
		       int timeout_ms, uint64_t user_data)
{
	struct zk_emitter *em = (struct zk_emitter *)pem;
	struct zk_armed *a;
	int err;

	if (armed_find(em, ZK_ARMED_SPACE, NULL))
		return zk_error(-EBUSY, "emitter %s has a space wait armed",
				em->name);
	a = armed_find(em, ZK_ARMED_FREE, NULL);
	if (!a)
		return zk_error(-EBUSY,
				"emitter %s has %d waits armed: settle "
				"one first",
				em->name, ZK_ARMED_MAX);
	a->deadline_ns = timeout_ms < 0 ?
				 UINT64_MAX :
				 zc_now() + (uint64_t)timeout_ms * 1000000ull;
	err = armed_arm(ring, a, ZK_ARMED_SPACE, user_data);
	if (err < 0)
		return err;
	em->conn.work = emitter_work;
	em->conn.owner = em;
	zc_kick();
	return err;
}

int zk_space_complete(struct io_uring *ring, struct pooter_emitter *pem,
		      const struct io_uring_cqe *cqe)
{
	struct zk_emitter *em = (struct zk_emitter *)pem;
	struct zk_armed *a;
	int err;

	if (pooter_cqe_is_aux(cqe))
		return 0;
	a = armed_find(em, ZK_ARMED_SPACE, NULL);
	if (!a)
		return zk_error(-EINVAL, "no space wait is armed");
	if ((err = cqe_error(cqe))) {
		armed_free(a);
		return err;
	}
	if (!a->settled)
		return armed_queue(ring, a) < 0 ? -EBUSY : 0;
	err = a->outcome;
	armed_free(a);
	return err ? err : 1;
}

/* --- consumers ------------------------------------------------------------ */

uint64_t zk_consumer_work(struct zk_conn *c, void *owner)
{
	struct zk_consumer *cs = owner;
	struct zk_armed *a = &cs->wait;
	uint64_t now = zc_now();
	const struct pooter_delivery *d;
	int r;

	/* a release whose report failed: again, until it goes */
	if (cs->dirty && zk_cursor_flush(cs) && a->kind == ZK_ARMED_FREE)
		return now + RETRY_NS;
	if (!armed_due(c, a, now))
		return a->kind != ZK_ARMED_FREE && !a->settled ? a->wake_ns :
								 UINT64_MAX;
	a->gen_seen = c->gen;
	r = zk_consume((struct pooter_consumer *)cs, 0, &d);
	if (!r) {
		cs->ready = d;
		armed_settle(a, 0);
	} else if (r == -ETIMEDOUT) {
		if (now >= a->deadline_ns)
			armed_settle(a, -ETIMEDOUT);
		else
			a->wake_ns = now + IDLE_NS < a->deadline_ns ?
					     now + IDLE_NS :
					     a->deadline_ns;
	} else if (r == -ENOTCONN || r == -EHOSTUNREACH) {
		a->wake_ns = now + RETRY_NS;
	} else {
		armed_settle(a, r);
	}
	return a->settled ? UINT64_MAX : a->wake_ns;
}

int zk_prep_consume_wait(struct io_uring *ring, struct pooter_consumer *pc,
			 int timeout_ms, uint64_t user_data)
{
	struct zk_consumer *cs = (struct zk_consumer *)pc;
	struct zk_broker *b = zkb(cs->broker);
	int err;

	if (cs->wait.kind != ZK_ARMED_FREE)
		return zk_error(-EBUSY, "consumer %s has a consume wait armed",
				cs->name);
	if (cs->nheld >= b->cf.depth)
		return zk_error(-ENOBUFS,
				"consumer %s holds %u deliveries (the depth); "
				"release one",
				cs->name, cs->nheld);
	cs->wait.deadline_ns =
		timeout_ms < 0 ? UINT64_MAX :
				 zc_now() + (uint64_t)timeout_ms * 1000000ull;
	err = armed_arm(ring, &cs->wait, ZK_ARMED_CONSUME, user_data);
	if (err < 0)
		return err;
	cs->conn.work = zk_consumer_work;
	cs->conn.owner = cs;
	zc_kick();
	return err;
}

int zk_consume_complete(struct io_uring *ring, struct pooter_consumer *pc,
			const struct io_uring_cqe *cqe,
			const struct pooter_delivery **deliveryp)
{
	struct zk_consumer *cs = (struct zk_consumer *)pc;
	struct zk_armed *a = &cs->wait;
	int err;

	if (pooter_cqe_is_aux(cqe))
		return 0;
	if (a->kind != ZK_ARMED_CONSUME)
		return zk_error(-EINVAL, "no consume wait is armed");
	if ((err = cqe_error(cqe))) {
		armed_free(a);
		return err;
	}
	if (!a->settled)
		return armed_queue(ring, a) < 0 ? -EBUSY : 0;
	err = a->outcome;
	armed_free(a);
	if (err)
		return err;
	*deliveryp = cs->ready;
	cs->ready = NULL;
	return 1;
}
