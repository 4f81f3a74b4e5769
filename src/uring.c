/* SPDX-License-Identifier: MIT */
/*
 * uring.c - io_uring: detection, the blocking path's wait on a private ring,
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

#include "internal.h"
#include "uring_compat.h"

/* liveness re-check while pidfds watch the participants for us */
#define WATCHED_PERIOD_NS (1000 * NSEC_PER_MSEC)

enum {
	UD_FUTEX = 1,
	UD_TIMEOUT,
	UD_PIDFD,
	UD_CANCEL,
};

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_err;
static char probe_reason[160];

static void uring_probe(void)
{
	static const struct {
		int op;
		const char *name;
	} needed[] = {
		{ POOTER_OP_FUTEX_WAIT, "IORING_OP_FUTEX_WAIT (Linux 6.7)" },
		{ IORING_OP_LINK_TIMEOUT, "IORING_OP_LINK_TIMEOUT" },
		{ IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT" },
		{ IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD" },
		{ IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL" },
	};
	const char *env = getenv("POOTER_NO_URING");
	struct io_uring_probe *p;
	struct io_uring ring;
	int ret;

	probe_err = -EOPNOTSUPP;
	if (env && *env && strcmp(env, "0") != 0) {
		snprintf(probe_reason, sizeof(probe_reason),
			 "io_uring not used: POOTER_NO_URING=%s is set", env);
		return;
	}
	ret = io_uring_queue_init(2, &ring, 0);
	if (ret < 0) {
		snprintf(probe_reason, sizeof(probe_reason),
			 "io_uring_setup failed: %s (disabled by "
			 "kernel.io_uring_disabled or a seccomp filter?)",
			 strerror(-ret));
		return;
	}
	p = io_uring_get_probe_ring(&ring);
	if (!p) {
		snprintf(probe_reason, sizeof(probe_reason),
			 "io_uring probe failed (kernel older than 5.6?)");
		goto out;
	}
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (!io_uring_opcode_supported(p, needed[i].op)) {
			snprintf(probe_reason, sizeof(probe_reason),
				 "the kernel's io_uring lacks %s",
				 needed[i].name);
			goto out_probe;
		}
	}
	probe_err = 0;
out_probe:
	io_uring_free_probe(p);
out:
	io_uring_queue_exit(&ring);
}

POOTER_API int pooter_uring_supported(void)
{
	pthread_once(&probe_once, uring_probe);
	if (probe_err)
		return set_error(probe_err, "%s", probe_reason);
	return 0;
}

static bool uring_usable(void)
{
	pthread_once(&probe_once, uring_probe);
	return probe_err == 0;
}

/* --- the blocking path's private ring ----------------------------------- */

static struct io_uring *wait_ring_get(struct pooter_broker *b)
{
	struct io_uring *ring;

	if (b->wait_ring)
		return b->wait_ring;
	if (!uring_usable())
		return NULL;
	ring = calloc(1, sizeof(*ring));
	if (!ring)
		return NULL;
	/* futex + timeout + one poll per participant + the cancel */
	if (io_uring_queue_init(b->max_emitters + 4, ring, 0) < 0) {
		free(ring);
		return NULL;
	}
	b->wait_ring = ring;
	return ring;
}

void uring_broker_free(struct pooter_broker *b)
{
	if (!b->wait_ring)
		return;
	io_uring_queue_exit(b->wait_ring);
	free(b->wait_ring);
	b->wait_ring = NULL;
}

uint64_t wait_liveness_period(struct pooter_broker *b)
{
	return uring_usable() && !b->unwatched ? WATCHED_PERIOD_NS :
						 LIVENESS_PERIOD_NS;
}

static void abs_timespec(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / NSEC_PER_SEC);
	ts->tv_nsec = (long long)(ns % NSEC_PER_SEC);
}

/*
 * Sleep until round k's ctl word leaves target, until_ns passes, or a
 * participant that owes round k an emit dies.  Lock not held: the owing set
 * is read racily, which is fine, since the caller re-checks everything.
 */
enum wait_event wait_round_event(struct pooter_broker *b, uint64_t k,
				 uint32_t target, uint64_t until_ns)
{
	struct shm_round *r = &b->st->round;
	struct io_uring *ring = wait_ring_get(b);
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	unsigned int queued = 0, reaped = 0;
	bool death = false;
	int fds[POOTER_EMITTERS_MAX], nfds = 0;

	if (!ring) {
		/* nothing watches the participants: check every 50 ms */
		b->unwatched = true;
		futex_sleep(&r->ctl, target, until_ns);
		return WAIT_WOKEN;
	}

	b->unwatched = false;
	pidfd_scan_begin(b);
	for (uint32_t i = 0; i < b->max_emitters; i++) {
		struct shm_emitter *e = shm_emitter(b, i);
		uint64_t owner = READ_ONCE(e->owner);
		int fd;

		if (!owner || owner == b->token ||
		    READ_ONCE(e->part_round) != k ||
		    READ_ONCE(e->emit_round) == k)
			continue;
		fd = pidfd_for_token(b, owner);
		if (fd == -ESRCH)
			return WAIT_DEATH;
		if (fd < 0)
			b->unwatched = true;
		else
			fds[nfds++] = fd;
	}

	if (!futex_mark_sleeper(&r->ctl, target))
		return WAIT_WOKEN;
	sqe = io_uring_get_sqe(ring);
	pooter_prep_futex_wait(sqe, &r->ctl, target | FUTEX_SLEEPERS,
			       FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32, 0);
	sqe->user_data = UD_FUTEX;
	queued++;
	abs_timespec(&ts, until_ns);
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_ABS);
	sqe->user_data = UD_TIMEOUT;
	queued++;
	for (int i = 0; i < nfds; i++) {
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_poll_add(sqe, fds[i], POLLIN);
		sqe->user_data = UD_PIDFD;
		queued++;
	}

	/* -EINTR from the wait still submitted everything: fall through */
	if (io_uring_submit_and_wait(ring, 1) < 0 &&
	    io_uring_sq_ready(ring) == queued) {
		/* nothing was submitted: drop what we queued, futex instead */
		io_uring_queue_exit(ring);
		free(ring);
		b->wait_ring = NULL;
		futex_sleep(&r->ctl, target, until_ns);
		return WAIT_WOKEN;
	}

	/* one wins; cancel the rest and reap every CQE, ours alone */
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->user_data = UD_CANCEL;
	queued++;
	io_uring_submit(ring);
	while (reaped < queued) {
		int ret = io_uring_wait_cqe(ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;
		if (cqe->user_data == UD_PIDFD && cqe->res > 0)
			death = true;
		io_uring_cqe_seen(ring, cqe);
		reaped++;
	}
	return death ? WAIT_DEATH : WAIT_WOKEN;
}

/* --- waits armed on the application's ring ------------------------------ */

static void armed_add(struct uring_armed *a, struct io_uring *ring,
		      uint64_t user_data)
{
	int free_i = -1;

	for (int i = 0; i < URING_ARMED_MAX; i++) {
		if (a->ring[i] == ring && a->user_data[i] == user_data)
			return;
		if (!a->ring[i] && free_i < 0)
			free_i = i;
	}
	/* full: the oldest entry goes; its wait is cancelled by the deadline */
	if (free_i < 0) {
		memmove(&a->ring[0], &a->ring[1],
			sizeof(a->ring[0]) * (URING_ARMED_MAX - 1));
		memmove(&a->user_data[0], &a->user_data[1],
			sizeof(a->user_data[0]) * (URING_ARMED_MAX - 1));
		free_i = URING_ARMED_MAX - 1;
	}
	a->ring[free_i] = ring;
	a->user_data[free_i] = user_data;
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

void uring_cancel_armed(struct uring_armed *a)
{
	for (int i = 0; i < URING_ARMED_MAX; i++) {
		struct io_uring *ring = a->ring[i];
		struct io_uring_sqe *sqe;

		if (!ring)
			continue;
		sqe = io_uring_get_sqe(ring);
		if (!sqe) {
			io_uring_submit(ring);
			sqe = io_uring_get_sqe(ring);
		}
		if (sqe) {
			io_uring_prep_cancel64(sqe, a->user_data[i],
					       IORING_ASYNC_CANCEL_ALL);
			sqe->user_data = a->user_data[i] | POOTER_CQE_AUX;
			io_uring_submit(ring);
		}
		a->ring[i] = NULL;
	}
}

static int async_check(struct io_uring *ring, uint64_t user_data)
{
	int err = pooter_uring_supported();

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

static int prep_nop(struct io_uring *ring, uint64_t user_data);

/*
 * Queue a futex wait for *word to leave val, linked to a timeout at abs_ns
 * (UINT64_MAX: none), or a NOP if it already left.  ts must live until the
 * SQEs are submitted.
 */
static int prep_futex_wait(struct io_uring *ring, uint32_t *word, uint32_t val,
			   uint64_t abs_ns, int64_t ts_store[2],
			   uint64_t user_data)
{
	struct __kernel_timespec *ts = (struct __kernel_timespec *)ts_store;
	struct io_uring_sqe *sqe;

	/* the waker wakes only if told someone sleeps: tell it */
	if (!futex_mark_sleeper(word, val))
		return prep_nop(ring, user_data);
	sqe = io_uring_get_sqe(ring);
	pooter_prep_futex_wait(sqe, word, val | FUTEX_SLEEPERS,
			       FUTEX_BITSET_MATCH_ANY, FUTEX2_SIZE_U32, 0);
	sqe->user_data = user_data;
	if (abs_ns == UINT64_MAX)
		return 1;
	sqe->flags |= IOSQE_IO_LINK;
	abs_timespec(ts, abs_ns);
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_link_timeout(sqe, ts, IORING_TIMEOUT_ABS);
	sqe->user_data = user_data | POOTER_CQE_AUX;
	return 2;
}

static int prep_nop(struct io_uring *ring, uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	io_uring_prep_nop(sqe);
	sqe->user_data = user_data;
	return 1;
}

static_assert(sizeof(((struct pooter_ticket *)0)->priv_ts) ==
		      sizeof(struct __kernel_timespec),
	      "ticket holds a kernel timespec");

POOTER_API int pooter_emit_submit(struct pooter_emitter *em,
				  const void *payload, size_t len,
				  struct pooter_ticket *t)
{
	struct round_view v;
	bool decided;
	int err;

	if (!t)
		return set_error(-EINVAL, "ticket is NULL");
	err = round_contribute(em, payload, len, false, &v, &decided);
	if (err)
		return err;
	memset(t, 0, sizeof(*t));
	t->emitter = em;
	t->round = v.number;
	t->deadline_ns = v.deadline_ns;
	t->outcome = decided ? 0 : -EINPROGRESS;
	t->priv_wait = ctl_of((v.number << 1) | 1);
	t->priv_next_check = now_ns() + LIVENESS_PERIOD_NS;
	return 0;
}

POOTER_API int pooter_ticket_wait(struct pooter_ticket *t)
{
	if (!t || !t->emitter)
		return set_error(-EINVAL, "ticket is NULL or empty");
	if (t->outcome == -EINPROGRESS)
		t->outcome = round_wait(t->emitter, t->round, t->deadline_ns);
	return t->outcome;
}

POOTER_API int pooter_prep_round_wait(struct io_uring *ring,
				      struct pooter_ticket *t,
				      uint64_t user_data)
{
	struct pooter_broker *b;
	uint64_t until;
	int err, ret;

	if (!t || !t->emitter)
		return set_error(-EINVAL, "ticket is NULL or empty");
	err = async_check(ring, user_data);
	if (err)
		return err;
	b = t->emitter->broker;
	t->priv_user_data = user_data;
	if (t->outcome == -EINPROGRESS)
		t->outcome = emitter_result(t->emitter, t->round);
	if (t->outcome != -EINPROGRESS)
		return prep_nop(ring, user_data);

	/* the deadline, or the next liveness re-check if that comes first */
	until = t->deadline_ns < t->priv_next_check ? t->deadline_ns :
						      t->priv_next_check;
	ret = prep_futex_wait(ring, &b->st->round.ctl, t->priv_wait, until,
			      t->priv_ts, user_data);
	armed_add(&t->emitter->armed, ring, user_data);
	return ret;
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

POOTER_API int pooter_round_complete(struct io_uring *ring,
				     struct pooter_ticket *t,
				     const struct io_uring_cqe *cqe)
{
	struct pooter_broker *b;
	struct shm_round *r;
	uint64_t now;
	int err;

	if (!cqe || !t || !t->emitter)
		return set_error(-EINVAL, "ticket or cqe is NULL");
	if (pooter_cqe_is_aux(cqe))
		return 0;
	err = pooter_uring_supported();
	if (err)
		return err;
	if (!cqe_is_wake(cqe)) {
		armed_del(&t->emitter->armed, ring, t->priv_user_data);
		return set_error(cqe->res, "round wait failed on the ring: %s",
				 strerror(-cqe->res));
	}
	b = t->emitter->broker;
	r = &b->st->round;

	if (t->outcome == -EINPROGRESS) {
		/* a word out of step with the round would spin: repair it */
		if (futex_value(&r->ctl) != t->priv_wait &&
		    emitter_result(t->emitter, t->round) == -EINPROGRESS) {
			err = broker_lock(b);
			if (err) {
				t->outcome = err;
				goto settled;
			}
			futex_publish(&r->ctl, ctl_of(READ_ONCE(r->word)));
			broker_unlock(b);
		}
		now = now_ns();
		if (now >= t->deadline_ns || now >= t->priv_next_check) {
			/* enforces the deadline: this waiter cancels the round */
			err = broker_enter(b, NULL);
			if (err) {
				t->outcome = err;
				goto settled;
			}
			if (now >= t->priv_next_check) {
				members_reap_dead(b, true, true);
				t->priv_next_check = now + LIVENESS_PERIOD_NS;
			}
			broker_unlock(b);
		}
		t->outcome = emitter_result(t->emitter, t->round);
		/* over, yet no outcome: corrupt, not a reason to re-arm */
		if (t->outcome == -EINPROGRESS &&
		    load_acquire(&r->word) != ((t->round << 1) | 1))
			t->outcome = set_error(-EPROTO,
					       "broker %s: round %llu over "
					       "without an outcome",
					       b->name,
					       (unsigned long long)t->round);
	}
	if (t->outcome != -EINPROGRESS)
		goto settled;
	err = pooter_prep_round_wait(ring, t, t->priv_user_data);
	return err < 0 ? err : 0;

settled:
	armed_del(&t->emitter->armed, ring, t->priv_user_data);
	return 1;
}

/* Queue the consumer's wait: a NOP if a delivery is already there. */
static int consume_arm(struct io_uring *ring, struct pooter_consumer *c,
		       uint64_t user_data)
{
	struct pooter_broker *b = c->broker;
	bool ready;
	uint32_t seq;
	int err, ret;

	err = broker_enter(b, NULL);
	if (err)
		return err;
	/* read before looking, so a publication after it fails the wait */
	seq = futex_value(&b->st->round.pub);
	ready = consumer_has_delivery(c);
	broker_unlock(b);
	if (ready)
		return prep_nop(ring, user_data);
	ret = prep_futex_wait(ring, &b->st->round.pub, seq, c->async_deadline,
			      c->async_ts, user_data);
	armed_add(&c->armed, ring, user_data);
	return ret;
}

POOTER_API int pooter_prep_consume_wait(struct io_uring *ring,
					struct pooter_consumer *c,
					int timeout_ms, uint64_t user_data)
{
	int err;

	if (!c)
		return set_error(-EINVAL, "consumer is NULL");
	err = async_check(ring, user_data);
	if (err)
		return err;
	c->async_deadline = timeout_ms < 0 ? UINT64_MAX :
					     now_ns() + (uint64_t)timeout_ms *
								NSEC_PER_MSEC;
	return consume_arm(ring, c, user_data);
}

POOTER_API int pooter_consume_complete(struct io_uring *ring,
				       struct pooter_consumer *c,
				       const struct io_uring_cqe *cqe,
				       const struct pooter_delivery **dp)
{
	int err;

	if (!cqe || !c || !dp)
		return set_error(-EINVAL, "consumer, cqe or delivery is NULL");
	if (pooter_cqe_is_aux(cqe))
		return 0;
	err = pooter_uring_supported();
	if (err)
		return err;
	if (!cqe_is_wake(cqe)) {
		armed_del(&c->armed, ring, cqe->user_data);
		return set_error(cqe->res,
				 "consume wait failed on the ring: %s",
				 strerror(-cqe->res));
	}
	err = pooter_consume(c, 0, dp);
	if (err != -ETIMEDOUT) {
		armed_del(&c->armed, ring, cqe->user_data);
		return err ? err : 1;
	}
	if (now_ns() >= c->async_deadline) {
		armed_del(&c->armed, ring, cqe->user_data);
		return -ETIMEDOUT;
	}
	if (io_uring_sq_space_left(ring) < 2)
		return set_error(-EBUSY,
				 "submission queue full: cannot re-arm");
	err = consume_arm(ring, c, cqe->user_data);
	return err < 0 ? err : 0;
}
