// SPDX-License-Identifier: MIT
/*
 * test_async.c - the io_uring API: rounds and deliveries as completions on
 * the application's own ring.
 *
 * One thread and one ring drive an emitter in two brokers at once; an async
 * consumer takes 1000 rounds; a deadline is enforced by the link timeout of
 * the only waiter a round has; handles are closed with waits in flight; and
 * the small print of the API (NOP for decided rounds, EALREADY, EINVAL,
 * EBUSY on a full submission queue, settling a ticket after later rounds);
 * leave cancels all of eight waits armed at once; and the wait for ring
 * space after -EAGAIN (a release, a holder's death, its timeout, a leave).
 * POOTER_TEST_FILTER=PATTERN runs only the matching tests.
 *
 * Every test first asks pooter_uring_supported().  Where the API works it
 * runs on a ring.  Under POOTER_NO_URING=1 the async calls must refuse with
 * -EOPNOTSUPP, and the same scenario is checked through the io_uring-free
 * pooter_emit_submit() / pooter_ticket_wait() / pooter_consume().  Anywhere
 * else (a kernel without IORING_OP_FUTEX_WAIT, io_uring disabled) the test
 * skips, printing why: it never passes without having run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>

#include "harness.h"

/* the broker timeout of rounds that are meant to time out */
#define SHORT_MS 300

/* --- how the test runs -------------------------------------------------- */

static bool no_uring_env(void)
{
	const char *env = getenv("POOTER_NO_URING");

	return env && *env && strcmp(env, "0") != 0;
}

/*
 * true: the async API works, run on a ring.  false: POOTER_NO_URING is set,
 * check the refusal and the io_uring-free path.  Otherwise skip with the
 * reason: the kernel or sandbox lacks what the API needs.
 */
static bool async_mode(void)
{
	int rc = pooter_uring_supported();

	if (rc == 0) {
		if (no_uring_env())
			fail_msg("POOTER_NO_URING is set, yet "
				 "pooter_uring_supported() says yes");
		return true;
	}
	if (rc != -EOPNOTSUPP)
		fail_msg("pooter_uring_supported(): %d (%s), expected 0 or "
			 "-EOPNOTSUPP",
			 rc, pooter_strerror(rc));
	/* the reason is always told */
	assert_true(pooter_last_error()[0] != '\0');
	if (no_uring_env())
		return false;
	print_message("[  SKIPPED ] io_uring API unavailable here: %s\n",
		      pooter_last_error());
	skip();
	return false;
}

/* --- the ring ----------------------------------------------------------- */

struct aloop {
	struct io_uring ring;
	bool real;	   /* io_uring_queue_init() succeeded */
	unsigned int sqes; /* submitted by the test */
	unsigned int cqes; /* reaped */
	unsigned int aux;  /* of which POOTER_CQE_AUX */
};

/*
 * In fallback mode the ring is still set up when the kernel allows it, as an
 * application would; when it does not, the refusals are checked against a
 * zeroed ring, which the library must not touch.
 */
static void loop_init(struct aloop *l, unsigned int entries, bool async)
{
	int rc;

	memset(l, 0, sizeof(*l));
	rc = io_uring_queue_init(entries, &l->ring, 0);
	if (rc < 0 && async)
		fail_msg("io_uring_queue_init: %s", strerror(-rc));
	l->real = rc == 0;
	if (!l->real)
		memset(&l->ring, 0, sizeof(l->ring));
}

static void loop_submit(struct aloop *l)
{
	int rc = io_uring_submit(&l->ring);

	if (rc < 0)
		fail_msg("io_uring_submit: %s", strerror(-rc));
	l->sqes += (unsigned int)rc;
}

/* The next CQE; a completion that never comes fails instead of hanging. */
static struct io_uring_cqe *loop_next(struct aloop *l, int timeout_ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	struct io_uring_cqe *cqe = NULL;
	int rc;

	do
		rc = io_uring_wait_cqe_timeout(&l->ring, &cqe, &ts);
	while (rc == -EINTR);
	if (rc < 0)
		fail_msg("no completion within %d ms (%u submitted, %u "
			 "reaped): %s",
			 timeout_ms, l->sqes, l->cqes, strerror(-rc));
	return cqe;
}

static void loop_seen(struct aloop *l, struct io_uring_cqe *cqe)
{
	if (pooter_cqe_is_aux(cqe))
		l->aux++;
	io_uring_cqe_seen(&l->ring, cqe);
	l->cqes++;
}

/*
 * Reap what is still to come: after every wait settled, only the aux CQEs
 * of link timeouts may be outstanding, one CQE per SQE in all, no more.
 */
static void loop_drain(struct aloop *l)
{
	struct io_uring_cqe *cqe;

	while (l->cqes < l->sqes) {
		cqe = loop_next(l, H_LONG_MS);
		if (!pooter_cqe_is_aux(cqe))
			fail_msg("CQE user_data %#llx res %d after every wait "
				 "settled",
				 (unsigned long long)cqe->user_data, cqe->res);
		loop_seen(l, cqe);
	}
	assert_int_equal(io_uring_peek_cqe(&l->ring, &cqe), -EAGAIN);
}

static void loop_exit(struct aloop *l)
{
	if (l->real)
		io_uring_queue_exit(&l->ring);
	l->real = false;
}

/* --- waits: the address of one is its user_data ------------------------- */

struct await {
	struct pooter_ticket *t;   /* a round wait, or */
	struct pooter_emitter *e;  /* a space wait, or */
	struct pooter_consumer *c; /* a consume wait */
	bool done;
	int rc;	 /* what *_complete() returned */
	int res; /* cqe->res of the settling CQE */
	uint64_t done_ns;
	unsigned int rearms;
};

static uint64_t ud_of(const struct await *w)
{
	uint64_t ud = (uint64_t)(uintptr_t)w;

	assert_int_equal(ud & POOTER_CQE_AUX, 0);
	return ud;
}

/*
 * Route one CQE by its user_data, which must be exactly one of ours (or one
 * of ours | POOTER_CQE_AUX), and hand it to the library.  Aux CQEs are
 * dropped without touching the wait.  Returns the wait it settled, or NULL.
 */
static struct await *dispatch(struct aloop *l, struct await **ws,
			      unsigned int n, struct io_uring_cqe *cqe,
			      const struct pooter_delivery **dp)
{
	uint64_t ud = cqe->user_data;
	struct await *w = NULL;
	unsigned int i;
	int rc;

	for (i = 0; i < n; i++)
		if ((ud & ~POOTER_CQE_AUX) == (uint64_t)(uintptr_t)ws[i])
			w = ws[i];
	if (!w)
		fail_msg("CQE user_data %#llx res %d is none of ours: "
			 "user_data not intact",
			 (unsigned long long)ud, cqe->res);
	if (pooter_cqe_is_aux(cqe)) {
		loop_seen(l, cqe);
		return NULL;
	}
	if (w->done)
		fail_msg("a completion (res %d) for a wait already settled",
			 cqe->res);
	if (w->t)
		rc = pooter_round_complete(&l->ring, w->t, cqe);
	else if (w->e)
		rc = pooter_space_complete(&l->ring, w->e, cqe);
	else
		rc = pooter_consume_complete(&l->ring, w->c, cqe, dp);
	w->res = cqe->res;
	loop_seen(l, cqe);
	if (rc == 0) {
		/* spurious wake or liveness check: re-armed, same user_data */
		w->rearms++;
		loop_submit(l);
		return NULL;
	}
	/* settled: what it queued (its watches' cancellation) goes too */
	loop_submit(l);
	w->done = true;
	w->rc = rc;
	w->done_ns = h_now_ns();
	return w;
}

/* Prep and submit the round waits, then run the ring until all settle. */
static void settle_rounds(struct aloop *l, struct await **ws, unsigned int n)
{
	unsigned int i, left = n;

	for (i = 0; i < n; i++) {
		int rc = pooter_prep_round_wait(&l->ring, ws[i]->t,
						ud_of(ws[i]));

		if (rc < 1)
			fail_msg("pooter_prep_round_wait: %d (%s) %s", rc,
				 pooter_strerror(rc), pooter_last_error());
	}
	loop_submit(l);
	while (left) {
		struct await *w =
			dispatch(l, ws, n, loop_next(l, H_LONG_MS), NULL);

		if (!w)
			continue;
		if (w->rc != 1)
			fail_msg("pooter_round_complete: %d (%s) %s", w->rc,
				 pooter_strerror(w->rc), pooter_last_error());
		left--;
	}
}

/* Fallback: each async call refuses, queueing nothing. */
static void expect_refused(struct aloop *l, struct pooter_ticket *t,
			   struct pooter_consumer *c)
{
	struct await w = { 0 };

	if (t) {
		assert_int_equal(pooter_prep_round_wait(&l->ring, t, ud_of(&w)),
				 -EOPNOTSUPP);
		assert_true(pooter_last_error()[0] != '\0');
		/* the ticket is untouched: it still settles without a ring */
		assert_true(t->outcome == -EINPROGRESS || t->outcome == 0);
	}
	if (c) {
		assert_int_equal(pooter_prep_consume_wait(&l->ring, c, 100,
							  ud_of(&w)),
				 -EOPNOTSUPP);
		assert_true(pooter_last_error()[0] != '\0');
	}
	if (l->real)
		assert_int_equal(io_uring_sq_ready(&l->ring), 0);
}

static void expect_emit_res(struct h_peer *p, int rc, uint64_t round,
			    struct h_res *r)
{
	h_peer_res(p, r, H_LONG_MS);
	assert_int_equal(r->op, H_OP_EMIT);
	if (r->rc != rc || r->round != round)
		fail_msg("peer %d: emit gave %d (%s) round %llu, expected %d "
			 "round %llu",
			 (int)p->pid, r->rc, pooter_strerror(r->rc),
			 (unsigned long long)r->round, rc,
			 (unsigned long long)round);
}

static void submit_ticket(struct pooter_emitter *e, const char *payload,
			  struct pooter_ticket *t)
{
	int rc;

	memset(t, 0x5a, sizeof(*t)); /* all of it is filled */
	rc = pooter_emit_submit(e, payload, strlen(payload) + 1, t);
	if (rc != 0)
		fail_msg("pooter_emit_submit: %d (%s) %s", rc,
			 pooter_strerror(rc), pooter_last_error());
	assert_ptr_equal(t->emitter, e);
}

static void expect_late_timeout(const char *what, uint64_t done_ns,
				uint64_t deadline_ns)
{
	if (done_ns < deadline_ns)
		fail_msg("%s: -ETIMEDOUT %.3f ms before the round's deadline",
			 what, (double)(deadline_ns - done_ns) / 1e6);
	if (done_ns >= deadline_ns + (uint64_t)H_SLACK_MS * H_NS_PER_MS)
		fail_msg("%s: -ETIMEDOUT %.3f ms after the deadline", what,
			 (double)(done_ns - deadline_ns) / 1e6);
}

/* --- one thread, one ring, an emitter in two brokers -------------------- */

static void test_two_brokers(void **state)
{
	POOTER_OPTS(pooter_broker_attr, ax, .timeout_ms = H_ROUND_LONG_MS);
	POOTER_OPTS(pooter_broker_attr, ay, .timeout_ms = SHORT_MS);
	char nx[H_NAME_LEN], ny[H_NAME_LEN];
	struct pooter_broker *bx, *by;
	struct pooter_emitter *ex, *ey;
	struct pooter_broker_stat st;
	struct pooter_ticket tx, ty;
	struct await wx = { .t = &tx }, wy = { .t = &ty };
	struct await *ws[] = { &wx, &wy };
	struct h_peer px, py;
	struct aloop l;
	struct h_res r;
	uint64_t t0, t1;
	bool async = async_mode();

	/*
	 * Broker X: our emitter and px, which emits: resolves.  Broker Y: our
	 * emitter and py, joined but silent: times out after SHORT_MS.
	 */
	bx = h_create(nx, &ax);
	by = h_create(ny, &ay);
	h_peer_start(&px, nx);
	h_peer_start(&py, ny);
	assert_int_equal(h_peer_join_emitter(&px, "px", 0), 0);
	assert_int_equal(h_peer_join_emitter(&py, "py", 0), 0);
	assert_int_equal(pooter_emitter_join(bx, "ex", 0, &ex), 0);
	assert_int_equal(pooter_emitter_join(by, "ey", 0, &ey), 0);
	loop_init(&l, 16, async);

	submit_ticket(ex, "to-x", &tx);
	t0 = h_now_ns();
	submit_ticket(ey, "to-y", &ty);
	t1 = h_now_ns();
	assert_int_equal(tx.round, 1);
	assert_int_equal(ty.round, 1);
	assert_int_equal(tx.outcome, -EINPROGRESS);
	assert_int_equal(ty.outcome, -EINPROGRESS);
	/* the ticket's deadline is the round's: opening + the timeout */
	h_stat(bx, &st);
	assert_int_equal(st.round_deadline_ns, tx.deadline_ns);
	assert_int_equal(tx.deadline_ns - st.round_opened_ns,
			 H_ROUND_LONG_MS * H_NS_PER_MS);
	/* (no stat of Y: a late one would enforce Y's deadline itself) */
	assert_true(ty.deadline_ns >= t0 + SHORT_MS * H_NS_PER_MS);
	assert_true(ty.deadline_ns <= t1 + SHORT_MS * H_NS_PER_MS);

	if (async) {
		/* px emits once our waits are on the ring */
		unsigned int i;

		/* the wait, its link timeout, the peer's death watch */
		for (i = 0; i < 2; i++)
			assert_int_equal(pooter_prep_round_wait(&l.ring,
								ws[i]->t,
								ud_of(ws[i])),
					 4);
		loop_submit(&l);
		h_peer_emit_async(&px, "from-px");
		while (!wx.done || !wy.done) {
			struct await *w = dispatch(
				&l, ws, 2, loop_next(&l, H_LONG_MS), NULL);

			if (w && w->rc != 1)
				fail_msg("pooter_round_complete: %d (%s) %s",
					 w->rc, pooter_strerror(w->rc),
					 pooter_last_error());
		}
		loop_drain(&l);
		print_message("two brokers: %u CQEs (%u aux), %u re-arms in "
			      "X, %u in Y\n",
			      l.cqes, l.aux, wx.rearms, wy.rearms);
	} else {
		expect_refused(&l, &tx, NULL);
		expect_refused(&l, &ty, NULL);
		h_peer_emit_async(&px, "from-px");
		assert_int_equal(pooter_ticket_wait(&tx), 0);
		wx.done_ns = h_now_ns();
		assert_int_equal(pooter_ticket_wait(&ty), -ETIMEDOUT);
		wy.done_ns = h_now_ns();
	}

	assert_int_equal(tx.outcome, 0);
	assert_int_equal(tx.round, 1);
	assert_int_equal(ty.outcome, -ETIMEDOUT);
	assert_int_equal(ty.round, 1);
	expect_late_timeout("broker Y", wy.done_ns, ty.deadline_ns);
	/* a settled ticket keeps its outcome */
	assert_int_equal(pooter_ticket_wait(&tx), 0);
	assert_int_equal(pooter_ticket_wait(&ty), -ETIMEDOUT);
	expect_emit_res(&px, 0, 1, &r);

	h_stat(bx, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.rounds_timedout, 0);
	assert_int_equal(st.emits, 2);
	h_stat(by, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.emits, 1);

	assert_int_equal(pooter_emitter_leave(ex), 0);
	assert_int_equal(pooter_emitter_leave(ey), 0);
	if (l.real)
		assert_int_equal(io_uring_sq_ready(&l.ring), 0);
	loop_exit(&l);
	h_peer_stop(&px);
	h_peer_stop(&py);
	h_close(bx);
	h_close(by);
	assert_int_equal(pooter_broker_unlink(nx), 0);
	assert_int_equal(pooter_broker_unlink(ny), 0);
}

/* --- an async consumer takes 1000 rounds -------------------------------- */

#define MANY_ROUNDS 1000
#define MANY_EMITTERS 2

struct many {
	const char *name;
	unsigned int idx;
	struct h_pipe ready;
	struct h_gate gate;
};

static void many_payload(char *buf, size_t sz, unsigned int idx, uint64_t round)
{
	snprintf(buf, sz, "em%u:round %llu", idx, (unsigned long long)round);
}

static int child_many_emitter(void *arg)
{
	struct many *m = arg;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	char en[16], buf[64];
	uint64_t i;

	snprintf(en, sizeof(en), "em%u", m->idx);
	C_EQ(pooter_broker_open(m->name, &b), 0);
	C_EQ(pooter_emitter_join(b, en, 0, &e), 0);
	C_EQ(h_write(m->ready.wr, "r", 1), 0);
	h_gate_wait(&m->gate);
	for (i = 1; i <= MANY_ROUNDS; i++) {
		uint64_t round = 0;
		int rc;

		many_payload(buf, sizeof(buf), m->idx, i);
		rc = pooter_emit(e, buf, strlen(buf) + 1, &round);
		if (rc != 0)
			h_child_fail(__FILE__, __LINE__,
				     "%s: emit %llu: %d (%s)", en,
				     (unsigned long long)i, rc,
				     pooter_strerror(rc));
		C_EQ(round, i);
	}
	C_EQ(pooter_emitter_leave(e), 0);
	pooter_broker_close(b);
	return 0;
}

static void check_delivery(const struct pooter_delivery *d, uint64_t round)
{
	unsigned int seen = 0, i;
	char want[64];

	if (d->round != round)
		fail_msg("delivery of round %llu, expected round %llu "
			 "(in order, exactly once)",
			 (unsigned long long)d->round,
			 (unsigned long long)round);
	assert_int_equal(d->outcome, 0);
	assert_int_equal(d->count, MANY_EMITTERS);
	for (i = 0; i < d->count; i++) {
		const struct pooter_payload *p = &d->payloads[i];
		unsigned int idx;

		assert_non_null(p->emitter);
		assert_int_equal(strncmp(p->emitter, "em", 2), 0);
		idx = (unsigned int)(p->emitter[2] - '0');
		assert_true(idx < MANY_EMITTERS && p->emitter[3] == '\0');
		assert_false(seen & (1u << idx));
		seen |= 1u << idx;
		many_payload(want, sizeof(want), idx, round);
		assert_int_equal(p->len, strlen(want) + 1);
		assert_memory_equal(p->data, want, p->len);
	}
}

struct consumer_count {
	const char *name;
	uint64_t delivered;
	unsigned int held;
};

static int count_cb(const struct pooter_member_info *m, void *arg)
{
	struct consumer_count *cc = arg;

	if (m->kind == POOTER_MEMBER_CONSUMER && !strcmp(m->name, cc->name)) {
		cc->delivered = m->delivered;
		cc->held = m->held;
	}
	return 0;
}

static void test_consumer_many(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct many m[MANY_EMITTERS];
	const struct pooter_delivery *d = NULL;
	struct consumer_count cc = { .name = "async-c" };
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct pooter_broker *b;
	struct await wc = { 0 };
	struct await *ws[] = { &wc };
	char name[H_NAME_LEN];
	pid_t pids[MANY_EMITTERS];
	uint64_t next = 1;
	unsigned int i, rearms = 0;
	struct aloop l;
	bool async = async_mode();

	b = h_create(name, &attr);
	assert_int_equal(pooter_consumer_join(b, cc.name, 0, &c), 0);
	wc.c = c;
	loop_init(&l, 8, async);
	for (i = 0; i < MANY_EMITTERS; i++) {
		char x;

		m[i].name = name;
		m[i].idx = i;
		h_pipe_init(&m[i].ready);
		h_gate_init(&m[i].gate);
		pids[i] = h_spawn(child_many_emitter, &m[i]);
		assert_int_equal(h_read(m[i].ready.rd, &x, 1, H_LONG_MS), 0);
	}
	/* both joined before the first round opens, then go */
	for (i = 0; i < MANY_EMITTERS; i++)
		h_gate_open(&m[i].gate);

	if (async) {
		while (next <= MANY_ROUNDS) {
			struct await *w;
			/*
			 * Both kinds of wait: with a link timeout, and none
			 * (but a round's deadline, when one is open).
			 */
			int tmo = next & 1 ? -1 : H_LONG_MS;
			int rc = pooter_prep_consume_wait(&l.ring, c, tmo,
							  ud_of(&wc));

			if (rc != 1 && rc != 2)
				fail_msg("pooter_prep_consume_wait: %d (%s) %s",
					 rc, pooter_strerror(rc),
					 pooter_last_error());
			/* one consume wait at a time: a second is refused */
			assert_int_equal(
				pooter_prep_consume_wait(&l.ring, c, tmo,
							 ud_of(&wc) + 2),
				-EBUSY);
			loop_submit(&l);
			wc.done = false;
			do
				w = dispatch(&l, ws, 1,
					     loop_next(&l, H_LONG_MS), &d);
			while (!w);
			if (w->rc != 1)
				fail_msg("round %llu: pooter_consume_complete: "
					 "%d (%s) %s",
					 (unsigned long long)next, w->rc,
					 pooter_strerror(w->rc),
					 pooter_last_error());
			check_delivery(d, next);
			assert_int_equal(pooter_release(c, d), 0);
			next++;
		}
		loop_drain(&l);
		rearms = wc.rearms;
	} else {
		expect_refused(&l, NULL, c);
		while (next <= MANY_ROUNDS) {
			int rc = pooter_consume(c, H_LONG_MS, &d);

			if (rc != 0)
				fail_msg("round %llu: pooter_consume: %d (%s)",
					 (unsigned long long)next, rc,
					 pooter_strerror(rc));
			check_delivery(d, next);
			assert_int_equal(pooter_release(c, d), 0);
			next++;
		}
	}
	if (async)
		print_message("async consumer: %u rounds, %u CQEs (%u aux), "
			      "%u re-arms\n",
			      MANY_ROUNDS, l.cqes, l.aux, rearms);

	for (i = 0; i < MANY_EMITTERS; i++) {
		h_expect_ok(pids[i]);
		h_pipe_close(&m[i].ready);
		h_gate_close(&m[i].gate);
	}
	/* exactly once: nothing more to take */
	assert_int_equal(pooter_consume(c, 0, &d), -ETIMEDOUT);
	assert_int_equal(pooter_broker_foreach_member(b, count_cb, &cc), 0);
	assert_int_equal(cc.delivered, MANY_ROUNDS);
	assert_int_equal(cc.held, 0);
	h_stat(b, &st);
	assert_int_equal(st.rounds_resolved, MANY_ROUNDS);
	assert_int_equal(st.deliveries, MANY_ROUNDS);
	assert_int_equal(st.records_free, st.depth);
	assert_int_equal(pooter_consumer_leave(c), 0);
	loop_exit(&l);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* A consume wait with nothing delivered ends at its timeout. */
static void test_consume_timeout(void **state)
{
	const struct pooter_delivery *d = NULL;
	struct pooter_consumer *c;
	struct pooter_broker *b;
	struct await wc = { 0 };
	struct await *ws[] = { &wc };
	char name[H_NAME_LEN];
	struct aloop l;
	uint64_t t0;
	bool async = async_mode();

	b = h_create(name, NULL);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	wc.c = c;
	loop_init(&l, 4, async);
	t0 = h_now_ns();
	if (async) {
		assert_int_equal(pooter_prep_consume_wait(&l.ring, c, SHORT_MS,
							  ud_of(&wc)),
				 2);
		loop_submit(&l);
		while (!dispatch(&l, ws, 1, loop_next(&l, H_LONG_MS), &d))
			;
		assert_int_equal(wc.rc, -ETIMEDOUT);
		loop_drain(&l);
	} else {
		expect_refused(&l, NULL, c);
		assert_int_equal(pooter_consume(c, SHORT_MS, &d), -ETIMEDOUT);
		wc.done_ns = h_now_ns();
	}
	expect_late_timeout("consume wait", wc.done_ns,
			    t0 + SHORT_MS * H_NS_PER_MS);
	assert_int_equal(pooter_consumer_leave(c), 0);
	loop_exit(&l);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- the deadline fires through the io_uring timeout -------------------- */

static void test_deadline_only_waiter(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = SHORT_MS);
	struct pooter_broker_stat st;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct pooter_ticket t;
	struct await w = { .t = &t };
	struct await *ws[] = { &w };
	char name[H_NAME_LEN];
	struct h_peer absent;
	struct aloop l;
	bool async = async_mode();

	/*
	 * Two participants: ours, async, and `absent`, joined but idle in its
	 * command read.  Nobody else touches the broker until our wait is
	 * settled (no stat either: a stat enforces overdue deadlines), so only
	 * the link timeout of our wait can end the round.
	 */
	b = h_create(name, &attr);
	h_peer_start(&absent, name);
	assert_int_equal(h_peer_join_emitter(&absent, "absent", 0), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	loop_init(&l, 4, async);
	submit_ticket(e, "a", &t);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.outcome, -EINPROGRESS);
	if (async) {
		settle_rounds(&l, ws, 1);
		/* the futex wait ended by its link timeout, not by a wake */
		assert_int_equal(w.res, -ECANCELED);
		loop_drain(&l);
		print_message("deadline: settled after %u re-arms, %u CQEs "
			      "(%u aux)\n",
			      w.rearms, l.cqes, l.aux);
	} else {
		expect_refused(&l, &t, NULL);
		assert_int_equal(pooter_ticket_wait(&t), -ETIMEDOUT);
		w.done_ns = h_now_ns();
	}
	assert_int_equal(t.outcome, -ETIMEDOUT);
	assert_int_equal(t.round, 1);
	expect_late_timeout("async waiter", w.done_ns, t.deadline_ns);

	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.emits, 1);
	assert_int_equal(st.records_free, st.depth);

	assert_int_equal(pooter_emitter_leave(e), 0);
	loop_exit(&l);
	h_peer_stop(&absent);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_deadline_with_blocking(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = SHORT_MS);
	struct pooter_broker_stat st;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct pooter_ticket t;
	struct await w = { .t = &t };
	struct await *ws[] = { &w };
	char name[H_NAME_LEN];
	struct h_peer blk, absent;
	unsigned int one = 1;
	struct aloop l;
	struct h_res r;
	bool async = async_mode();

	/* blk emits first and blocks in pooter_emit; ours is async; absent */
	b = h_create(name, &attr);
	h_peer_start(&blk, name);
	h_peer_start(&absent, name);
	assert_int_equal(h_peer_join_emitter(&blk, "blk", 0), 0);
	assert_int_equal(h_peer_join_emitter(&absent, "absent", 0), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	loop_init(&l, 4, async);

	h_peer_emit_async(&blk, "blk");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_participants, 3);
	submit_ticket(e, "a", &t);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.deadline_ns, st.round_deadline_ns);
	assert_int_equal(t.outcome, -EINPROGRESS);
	if (async) {
		settle_rounds(&l, ws, 1);
		loop_drain(&l);
	} else {
		expect_refused(&l, &t, NULL);
		assert_int_equal(pooter_ticket_wait(&t), -ETIMEDOUT);
		w.done_ns = h_now_ns();
	}
	assert_int_equal(t.outcome, -ETIMEDOUT);
	expect_late_timeout("async waiter", w.done_ns, t.deadline_ns);
	expect_emit_res(&blk, -ETIMEDOUT, 1, &r);
	expect_late_timeout("blocking emitter", r.t_end_ns, t.deadline_ns);
	assert_int_equal(r.st_round, 1);
	assert_int_equal(r.st_round_outcome, -ETIMEDOUT);

	h_stat(b, &st);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.emits, 2);
	assert_int_equal(pooter_emitter_leave(e), 0);
	loop_exit(&l);
	h_peer_stop(&blk);
	h_peer_stop(&absent);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/*
 * The other two ways a round ends reach an async waiter too: an operator's
 * cancel wakes the futex (ECANCELED); a participant that dies owing its emit
 * is found by the waiter's periodic liveness check (EOWNERDEAD).
 */
static void test_cancel_and_death(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct pooter_ticket t;
	struct await w = { .t = &t };
	struct await *ws[] = { &w };
	char name[H_NAME_LEN];
	struct h_peer victim;
	uint64_t t_kill;
	struct aloop l;
	bool async = async_mode();

	b = h_create(name, &attr);
	h_peer_start(&victim, name);
	assert_int_equal(h_peer_join_emitter(&victim, "victim", 0), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	loop_init(&l, 4, async);

	/* round 1: cancelled by an operator once our wait is in the kernel */
	submit_ticket(e, "a1", &t);
	assert_int_equal(t.round, 1);
	if (async) {
		/* the wait, its link timeout, the victim's death watch */
		assert_int_equal(pooter_prep_round_wait(&l.ring, &t, ud_of(&w)),
				 4);
		loop_submit(&l);
		assert_int_equal(pooter_round_cancel(b), 0);
		while (!dispatch(&l, ws, 1, loop_next(&l, H_LONG_MS), NULL))
			;
		assert_int_equal(w.rc, 1);
		loop_drain(&l);
	} else {
		expect_refused(&l, &t, NULL);
		assert_int_equal(pooter_round_cancel(b), 0);
		assert_int_equal(pooter_ticket_wait(&t), -ECANCELED);
	}
	assert_int_equal(t.outcome, -ECANCELED);

	/* round 2: the other participant is killed owing its emit */
	submit_ticket(e, "a2", &t);
	assert_int_equal(t.round, 2);
	assert_int_equal(t.outcome, -EINPROGRESS);
	memset(&w, 0, sizeof(w));
	w.t = &t;
	if (async) {
		/* the wait, its link timeout, the victim's death watch */
		assert_int_equal(pooter_prep_round_wait(&l.ring, &t, ud_of(&w)),
				 4);
		loop_submit(&l);
		t_kill = h_now_ns();
		h_kill(victim.pid);
		while (!dispatch(&l, ws, 1, loop_next(&l, H_LONG_MS), NULL))
			;
		assert_int_equal(w.rc, 1);
		loop_drain(&l);
	} else {
		t_kill = h_now_ns();
		h_kill(victim.pid);
		assert_int_equal(pooter_ticket_wait(&t), -EOWNERDEAD);
		w.done_ns = h_now_ns();
	}
	assert_int_equal(t.outcome, -EOWNERDEAD);
	print_message("death seen %.1f ms after the kill\n",
		      (double)(w.done_ns - t_kill) / 1e6);
	assert_true(w.done_ns - t_kill < (uint64_t)H_SLACK_MS * H_NS_PER_MS);

	h_stat(b, &st);
	assert_int_equal(st.rounds_cancelled, 1);
	assert_int_equal(st.rounds_ownerdead, 1);
	assert_int_equal(st.emitters, 1);
	assert_int_equal(pooter_emitter_leave(e), 0);
	loop_exit(&l);
	/* the peer is gone: close its pipes without asking it to quit */
	close(victim.cmd_wr);
	close(victim.res_rd);
	close(victim.ack_rd);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- closing handles with waits in flight ------------------------------- */

/*
 * A round wait and a consume wait are on the ring, submitted or only
 * queued; the emitter and the consumer leave and the broker is closed
 * (unmapped); the ticket is freed.  Then every CQE is reaped, none of them
 * handed to the library: each wait ends -ECANCELED, plus the aux CQEs of the
 * link timeouts, the round wait's death watch, and the cancellations.  Under ASan a
 * kernel or library access to the freed handles or the unmapped segment
 * would show.
 */
static void close_in_flight(bool submitted)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct pooter_ticket *t;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct await wr = { 0 }, wc = { 0 };
	char name[H_NAME_LEN];
	struct h_peer absent;
	unsigned int r_main = 0, c_main = 0, r_aux = 0, c_aux = 0, n = 0;
	struct io_uring_cqe *cqe;
	struct aloop l;
	bool async = async_mode();

	b = h_create(name, &attr);
	h_peer_start(&absent, name);
	assert_int_equal(h_peer_join_emitter(&absent, "absent", 0), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	loop_init(&l, 8, async);
	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	submit_ticket(e, "a", t);
	assert_int_equal(t->outcome, -EINPROGRESS);

	if (!async) {
		expect_refused(&l, t, c);
		assert_int_equal(pooter_emitter_leave(e), 0);
		assert_int_equal(pooter_consumer_leave(c), 0);
		free(t);
		h_close(b);
		if (l.real)
			assert_int_equal(io_uring_peek_cqe(&l.ring, &cqe),
					 -EAGAIN);
		goto out;
	}

	/* the wait, its link timeout, absent's death watch (poll + wake) */
	assert_int_equal(pooter_prep_round_wait(&l.ring, t, ud_of(&wr)), 4);
	/* no timeout, but the open round's deadline is ours to enforce */
	assert_int_equal(pooter_prep_consume_wait(&l.ring, c, -1, ud_of(&wc)),
			 2);
	if (submitted) {
		loop_submit(&l);
		assert_int_equal(l.sqes, 6);
		assert_int_equal(io_uring_peek_cqe(&l.ring, &cqe), -EAGAIN);
	}
	assert_int_equal(pooter_emitter_leave(e), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);
	free(t);
	h_close(b);

	/*
	 * Each wait's main CQE; aux: each link timeout, the death watch's
	 * poll and wake, and leave's two cancellations per wait.
	 */
	while (n < 10) {
		uint64_t ud;

		cqe = loop_next(&l, H_LONG_MS);
		ud = cqe->user_data;
		if (ud == ud_of(&wr)) {
			r_main++;
			assert_int_equal(cqe->res, -ECANCELED);
		} else if (ud == ud_of(&wc)) {
			c_main++;
			assert_int_equal(cqe->res, -ECANCELED);
		} else if (ud == (ud_of(&wr) | POOTER_CQE_AUX)) {
			r_aux++;
		} else if (ud == (ud_of(&wc) | POOTER_CQE_AUX)) {
			c_aux++;
		} else {
			fail_msg("CQE user_data %#llx res %d is none of ours",
				 (unsigned long long)ud, cqe->res);
		}
		io_uring_cqe_seen(&l.ring, cqe);
		n++;
	}
	assert_int_equal(r_main, 1);
	assert_int_equal(c_main, 1);
	assert_int_equal(r_aux, 5);
	assert_int_equal(c_aux, 3);
	assert_int_equal(io_uring_peek_cqe(&l.ring, &cqe), -EAGAIN);
	assert_int_equal(io_uring_sq_ready(&l.ring), 0);

out:
	loop_exit(&l);
	/*
	 * We had emitted, so leaving kept the promise: round 1 is still open,
	 * waiting for `absent`; only our handles are gone.
	 */
	assert_int_equal(pooter_broker_open(name, &b), 0);
	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_emitted, 1);
	assert_int_equal(st.rounds_cancelled, 0);
	assert_int_equal(st.emitters, 1);
	assert_int_equal(st.consumers, 0);
	pooter_broker_close(b);
	h_peer_stop(&absent);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_close_in_flight(void **state)
{
	close_in_flight(true);
}

static void test_close_queued(void **state)
{
	close_in_flight(false);
}

/* --- the small print ---------------------------------------------------- */

static void test_api_edges(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d = NULL;
	struct pooter_emitter *solo, *e;
	struct pooter_consumer *c;
	struct pooter_broker *b1, *b2;
	struct pooter_ticket t, t2, t3;
	struct await w = { .t = &t }, wc = { 0 };
	struct await *ws[] = { &w, &wc };
	char n1[H_NAME_LEN], n2[H_NAME_LEN];
	struct h_peer peer;
	struct aloop l, small;
	struct h_res r;
	bool async = async_mode();

	/* b1: a lone emitter resolves every round by itself */
	b1 = h_create(n1, &attr);
	assert_int_equal(pooter_emitter_join(b1, "solo", 0, &solo), 0);
	loop_init(&l, 8, async);
	submit_ticket(solo, "solo", &t);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.outcome, 0);
	if (async) {
		struct io_uring_cqe *cqe;

		/* bit 0 of user_data is the library's; a NULL ring */
		assert_int_equal(pooter_prep_round_wait(&l.ring, &t,
							ud_of(&w) | 1),
				 -EINVAL);
		assert_int_equal(pooter_prep_round_wait(NULL, &t, ud_of(&w)),
				 -EINVAL);
		assert_int_equal(io_uring_sq_ready(&l.ring), 0);
		/* decided already: one NOP, settled by its CQE */
		assert_int_equal(pooter_prep_round_wait(&l.ring, &t, ud_of(&w)),
				 1);
		loop_submit(&l);
		cqe = loop_next(&l, H_LONG_MS);
		assert_int_equal(cqe->user_data, ud_of(&w));
		assert_int_equal(pooter_round_complete(&l.ring, &t, cqe), 1);
		loop_seen(&l, cqe);
		assert_int_equal(t.outcome, 0);
		loop_drain(&l);
	} else {
		expect_refused(&l, &t, NULL);
		assert_int_equal(pooter_ticket_wait(&t), 0);
	}
	submit_ticket(solo, "solo", &t);
	assert_int_equal(t.round, 2);
	assert_int_equal(t.outcome, 0);
	assert_int_equal(pooter_emitter_leave(solo), 0);

	/* b2: ours and a peer's */
	b2 = h_create(n2, &attr);
	h_peer_start(&peer, n2);
	assert_int_equal(h_peer_join_emitter(&peer, "peer", 0), 0);
	assert_int_equal(pooter_emitter_join(b2, "e", 0, &e), 0);
	assert_int_equal(pooter_consumer_join(b2, "c", 0, &c), 0);
	wc.c = c;
	submit_ticket(e, "e1", &t);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.outcome, -EINPROGRESS);
	/* one emit per round: the ticket is left as it was */
	t2 = t;
	assert_int_equal(pooter_emit_submit(e, "again", 6, &t2), -EALREADY);
	assert_memory_equal(&t2, &t, sizeof(t));

	if (async) {
		/*
		 * A full submission queue: a ring of 2 entries holds one timed
		 * wait; the next prep queues nothing and says -EBUSY.
		 */
		loop_init(&small, 2, true);
		assert_int_equal(
			pooter_prep_round_wait(&small.ring, &t, ud_of(&w)), 2);
		assert_int_equal(pooter_prep_consume_wait(
					 &small.ring, c, H_LONG_MS, ud_of(&wc)),
				 -EBUSY);
		assert_int_equal(io_uring_sq_ready(&small.ring), 2);
		loop_submit(&small);
		assert_int_equal(pooter_prep_consume_wait(
					 &small.ring, c, H_LONG_MS, ud_of(&wc)),
				 2);
		loop_submit(&small);
		h_peer_emit_async(&peer, "p1");
		while (!w.done || !wc.done) {
			struct await *x = dispatch(&small, ws, 2,
						   loop_next(&small, H_LONG_MS),
						   &d);

			if (x)
				assert_int_equal(x->rc, 1);
		}
		assert_int_equal(t.outcome, 0);
		assert_int_equal(d->round, 1);
		assert_int_equal(d->count, 2);
		assert_int_equal(pooter_release(c, d), 0);
		loop_drain(&small);
		loop_exit(&small);
	} else {
		expect_refused(&l, &t, c);
		h_peer_emit_async(&peer, "p1");
		assert_int_equal(pooter_ticket_wait(&t), 0);
		assert_int_equal(pooter_consume(c, H_LONG_MS, &d), 0);
		assert_int_equal(d->round, 1);
		assert_int_equal(pooter_release(c, d), 0);
	}
	expect_emit_res(&peer, 0, 1, &r);

	/*
	 * A ticket settled after later rounds began still gets its own round's
	 * outcome: round 2 resolves, then the peer opens round 3 and waits
	 * for us, and only then do we look at round 2's ticket.
	 */
	submit_ticket(e, "e2", &t2);
	assert_int_equal(t2.round, 2);
	assert_int_equal(h_peer_emit(&peer, "p2", NULL), 0);
	h_peer_emit_async(&peer, "p3");
	{
		unsigned int one = 1;
		struct pooter_broker_stat st;

		h_stat_until(b2, &st, h_pred_emitted, &one, H_LONG_MS);
		assert_int_equal(st.round, 3);
	}
	if (async) {
		struct await w2 = { .t = &t2 };
		struct await *ws2[] = { &w2 };

		assert_int_equal(t2.outcome, -EINPROGRESS);
		/* decided long ago: a NOP */
		assert_int_equal(
			pooter_prep_round_wait(&l.ring, &t2, ud_of(&w2)), 1);
		loop_submit(&l);
		while (!dispatch(&l, ws2, 1, loop_next(&l, H_LONG_MS), NULL))
			;
		assert_int_equal(w2.rc, 1);
		loop_drain(&l);
	} else {
		assert_int_equal(pooter_ticket_wait(&t2), 0);
	}
	assert_int_equal(t2.outcome, 0);
	assert_int_equal(t2.round, 2);
	submit_ticket(e, "e3", &t3);
	assert_int_equal(t3.round, 3);
	assert_int_equal(t3.outcome, 0); /* ours was the last emit */
	expect_emit_res(&peer, 0, 3, &r);

	assert_int_equal(pooter_emitter_leave(e), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);
	loop_exit(&l);
	h_peer_stop(&peer);
	h_close(b1);
	h_close(b2);
	assert_int_equal(pooter_broker_unlink(n1), 0);
	assert_int_equal(pooter_broker_unlink(n2), 0);
}

/*
 * A full ring of records: pooter_emit_submit() does not wait for one as
 * pooter_emit() would, it says -EAGAIN at once and opens no round.
 */
static void test_submit_ring_full(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .depth = 1,
		    .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d = NULL;
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct pooter_ticket t, t2;
	char name[H_NAME_LEN];
	uint64_t t0;

	/* io_uring-free: the same in both modes */
	b = h_create(name, &attr);
	assert_int_equal(pooter_emitter_join(b, "e", 0, &e), 0);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	submit_ticket(e, "one", &t);
	assert_int_equal(t.outcome, 0); /* resolved, delivered to c */
	t2 = t;
	t0 = h_now_ns();
	assert_int_equal(pooter_emit_submit(e, "two", 4, &t2), -EAGAIN);
	assert_true(h_now_ns() - t0 < (uint64_t)H_SLACK_MS * H_NS_PER_MS);
	assert_memory_equal(&t2, &t, sizeof(t));
	h_stat(b, &st);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	/* the consumer hands the record back: room for round 2 */
	assert_int_equal(pooter_consume(c, 0, &d), 0);
	assert_int_equal(d->round, 1);
	assert_int_equal(pooter_release(c, d), 0);
	submit_ticket(e, "two", &t2);
	assert_int_equal(t2.round, 2);
	assert_int_equal(t2.outcome, 0);
	assert_int_equal(pooter_consumer_leave(c), 0);
	assert_int_equal(pooter_emitter_leave(e), 0);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- leave cancels every armed wait (issue 11, defect 3) ---------------- */

#define ARMED_ROUNDS 8 /* the handle keeps the outcomes of 8 rounds */
#define ARMED_WAITS 8
/* after the last expected CQE, this long without one: the ring is drained */
#define QUIET_MS 500

/*
 * Eight tickets across eight rounds, left unsettled while the emitter
 * contributes again (as pooter_emit_submit() allows): rounds 1..7 resolve
 * through a peer's emit, round 8 stays open, owed by the peer.  The seven
 * old tickets still settle, each to its own round's outcome, through one
 * NOP.
 *
 * Then eight waits are armed at once on the open round, one per party
 * interested in it (the open round's ticket and seven copies, each with its
 * own user_data): only a wait on an undecided round stays armed in the
 * kernel, and an emitter has one undecided round at a time.  The emitter
 * leaves and the broker is closed, the tickets are freed, and from then on
 * every CQE for those user_data values must be a cancel (-ECANCELED) or an
 * aux CQE, never a timeout that fired (-ETIME on an aux CQE: the wait was
 * still armed and ended by itself).  A cancel-any of our own, submitted
 * right after the leave, must find nothing left to cancel (0), and
 * the ring must then drain: no CQE for QUIET_MS.
 */
static void test_leave_cancels_eight_waits(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_ticket *old, *t;
	struct await wo[ARMED_ROUNDS - 1], w[ARMED_WAITS], probe = { 0 };
	struct await *ws[ARMED_ROUNDS - 1];
	unsigned int main_cqes[ARMED_WAITS] = { 0 }, aux_cqes = 0, fired = 0;
	int main_res[ARMED_WAITS], probe_res = 1;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	char name[H_NAME_LEN];
	struct h_peer peer;
	struct aloop l;
	uint64_t t_leave, t_last = 0, round;
	unsigned int i, k, seen = 0;
	bool async = async_mode();

	if (!async) {
		print_message(
			"[  SKIPPED ] io_uring API unavailable here: %s\n",
			pooter_last_error());
		skip();
	}
	b = h_create(name, &attr);
	h_peer_start(&peer, name);
	assert_int_equal(h_peer_join_emitter(&peer, "p", 0), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	loop_init(&l, 64, true);
	old = calloc(ARMED_ROUNDS, sizeof(*old));
	t = calloc(ARMED_WAITS, sizeof(*t));
	assert_non_null(old);
	assert_non_null(t);

	/* rounds 1..8, ours first; the peer resolves 1..7 */
	for (k = 0; k < ARMED_ROUNDS; k++) {
		submit_ticket(e, "a", &old[k]);
		assert_int_equal(old[k].round, k + 1);
		assert_int_equal(old[k].outcome, -EINPROGRESS);
		if (k == ARMED_ROUNDS - 1)
			break;
		assert_int_equal(h_peer_emit(&peer, "p", &round), 0);
		assert_int_equal(round, k + 1);
	}

	/* the seven decided ones: a NOP each, their own outcome */
	for (k = 0; k < ARMED_ROUNDS - 1; k++) {
		memset(&wo[k], 0, sizeof(wo[k]));
		wo[k].t = &old[k];
		ws[k] = &wo[k];
	}
	for (k = 0; k < ARMED_ROUNDS - 1; k++)
		assert_int_equal(pooter_prep_round_wait(&l.ring, &old[k],
							ud_of(&wo[k])),
				 1);
	loop_submit(&l);
	for (k = 0; k < ARMED_ROUNDS - 1;) {
		struct await *x = dispatch(&l, ws, ARMED_ROUNDS - 1,
					   loop_next(&l, H_LONG_MS), NULL);

		if (!x)
			continue;
		assert_int_equal(x->rc, 1);
		assert_int_equal(x->t->outcome, 0);
		k++;
	}
	assert_int_equal(io_uring_peek_cqe(&l.ring, &cqe), -EAGAIN);

	/* eight waits on round 8, armed and submitted */
	for (i = 0; i < ARMED_WAITS; i++) {
		int rc;

		t[i] = old[ARMED_ROUNDS - 1];
		memset(&w[i], 0, sizeof(w[i]));
		w[i].t = &t[i];
		main_res[i] = 1;
		rc = pooter_prep_round_wait(&l.ring, &t[i], ud_of(&w[i]));
		if (rc < 1)
			fail_msg("pooter_prep_round_wait %u: %d (%s) %s", i, rc,
				 pooter_strerror(rc), pooter_last_error());
	}
	loop_submit(&l);
	assert_int_equal(pooter_emitter_leave(e), 0);
	t_leave = h_now_ns();
	/* whatever is still armed now, leave forgot */
	sqe = io_uring_get_sqe(&l.ring);
	assert_non_null(sqe);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->user_data = ud_of(&probe);
	loop_submit(&l);
	h_close(b);
	free(t);
	free(old);

	/* reap: every wait's CQE and the probe's, then QUIET_MS of nothing */
	for (;;) {
		struct __kernel_timespec ts = { .tv_nsec =
							QUIET_MS * 1000000ll };
		bool all = probe_res != 1;
		uint64_t ud;
		int rc;

		for (i = 0; i < ARMED_WAITS; i++)
			all = all && main_cqes[i];
		if (!all &&
		    h_now_ns() - t_leave > (uint64_t)H_LONG_MS * H_NS_PER_MS)
			fail_msg("%u CQEs within %d ms of the leave, not yet "
				 "one per wait and the probe's",
				 seen, H_LONG_MS);
		rc = io_uring_wait_cqe_timeout(&l.ring, &cqe, &ts);
		if (rc == -EINTR)
			continue;
		if (rc == -ETIME) {
			if (all)
				break;
			continue;
		}
		if (rc < 0)
			fail_msg("io_uring_wait_cqe_timeout: %s",
				 strerror(-rc));
		ud = cqe->user_data;
		seen++;
		t_last = h_now_ns();
		if (ud == ud_of(&probe)) {
			probe_res = cqe->res;
		} else {
			for (i = 0; i < ARMED_WAITS; i++)
				if ((ud & ~POOTER_CQE_AUX) == ud_of(&w[i]))
					break;
			if (i == ARMED_WAITS)
				fail_msg("CQE user_data %#llx res %d is none "
					 "of ours",
					 (unsigned long long)ud, cqe->res);
			if (ud & POOTER_CQE_AUX) {
				aux_cqes++;
				if (cqe->res == -ETIME)
					fired++;
			} else {
				main_cqes[i]++;
				main_res[i] = cqe->res;
			}
		}
		io_uring_cqe_seen(&l.ring, cqe);
	}
	print_message("leave with %d waits armed: %u CQEs (%u aux, %u of "
		      "them fired timeouts), the last %.1f ms after the "
		      "leave; the probe's cancel-any: %d\n",
		      ARMED_WAITS, seen, aux_cqes, fired,
		      (double)(t_last - t_leave) / 1e6, probe_res);
	/* the count cancelled: 0 (or -ENOENT) when nothing was left */
	if (probe_res > 0)
		fail_msg("pooter_emitter_leave() left %d of %d waits armed: "
			 "a cancel-any after it found them",
			 probe_res, ARMED_WAITS);
	if (probe_res != 0 && probe_res != -ENOENT)
		fail_msg("the probe's cancel-any: %d (%s)", probe_res,
			 strerror(-probe_res));
	for (i = 0; i < ARMED_WAITS; i++) {
		if (main_cqes[i] != 1 || main_res[i] != -ECANCELED)
			fail_msg("wait %u: %u CQEs, res %d; expected one, "
				 "-ECANCELED",
				 i, main_cqes[i], main_res[i]);
	}
	if (fired)
		fail_msg("%u timeouts fired after the leave: waits it did "
			 "not cancel",
			 fired);
	assert_int_equal(io_uring_peek_cqe(&l.ring, &cqe), -EAGAIN);
	assert_int_equal(io_uring_sq_ready(&l.ring), 0);
	loop_exit(&l);
	h_peer_stop(&peer);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- waiting for ring space (issue 11, defect 4) ------------------------ */

/*
 * A depth-1 broker whose only record is held: our emitter (the only one, so
 * each of its emits resolves a round at once) resolved round 1, and the
 * holder, a peer process or our own consumer handle, consumed it and holds
 * it.  pooter_emit_submit() then says -EAGAIN: the state every space wait
 * starts from.
 */
struct space_fixture {
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct pooter_emitter *e;
	struct pooter_consumer *c; /* the holder, when it is ours */
	const struct pooter_delivery *d;
	struct h_peer peer; /* the holder, when it is a peer */
	bool peer_holds;
};

static void space_fill(struct space_fixture *f, bool peer)
{
	POOTER_OPTS(pooter_broker_attr, attr, .depth = 1,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct pooter_ticket t, t2;
	struct h_res r;

	memset(f, 0, sizeof(*f));
	f->peer_holds = peer;
	f->b = h_create(f->name, &attr);
	if (peer) {
		h_peer_start(&f->peer, f->name);
		assert_int_equal(h_peer_join_consumer(&f->peer, "holder", 0),
				 0);
	} else {
		assert_int_equal(pooter_consumer_join(f->b, "holder", 0, &f->c),
				 0);
	}
	assert_int_equal(pooter_emitter_join(f->b, "e", 0, &f->e), 0);
	submit_ticket(f->e, "one", &t);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.outcome, 0);
	if (peer) {
		h_peer_consume(&f->peer, 0, &r);
		assert_int_equal(r.rc, 0);
		assert_int_equal(r.round, 1);
	} else {
		assert_int_equal(pooter_consume(f->c, 0, &f->d), 0);
		assert_int_equal(f->d->round, 1);
	}
	t2 = t;
	assert_int_equal(pooter_emit_submit(f->e, "two", 4, &t2), -EAGAIN);
	assert_memory_equal(&t2, &t, sizeof(t));
	h_stat(f->b, &st);
	assert_int_equal(st.records_free, 0);
	assert_int_equal(st.rounds_opened, 1);
}

/* Room again: round 2 opens and, ours being the only emitter, resolves. */
static void space_expect_room(struct space_fixture *f)
{
	struct pooter_ticket t;

	submit_ticket(f->e, "two", &t);
	assert_int_equal(t.round, 2);
	assert_int_equal(t.outcome, 0);
}

static void space_done(struct space_fixture *f)
{
	if (f->e)
		assert_int_equal(pooter_emitter_leave(f->e), 0);
	if (f->c)
		assert_int_equal(pooter_consumer_leave(f->c), 0);
	if (f->peer_holds && f->peer.pid)
		h_peer_stop(&f->peer);
	h_close(f->b);
	assert_int_equal(pooter_broker_unlink(f->name), 0);
}

/* Arm the space wait, submit it, and run the ring until it settles. */
static void space_settle(struct aloop *l, struct await *w, int queued,
			 int timeout_ms, void (*meanwhile)(void *), void *arg)
{
	struct await *ws[] = { w };
	int rc = pooter_prep_space_wait(&l->ring, w->e, timeout_ms, ud_of(w));

	unsigned int ready;

	if (rc != queued)
		fail_msg("pooter_prep_space_wait: %d (%s) %s, expected %d "
			 "SQEs",
			 rc, pooter_strerror(rc), pooter_last_error(), queued);
	/* one space wait per emitter at a time: a second queues nothing */
	ready = io_uring_sq_ready(&l->ring);
	assert_int_equal(pooter_prep_space_wait(&l->ring, w->e, timeout_ms,
						ud_of(w) + 2),
			 -EBUSY);
	assert_int_equal(io_uring_sq_ready(&l->ring), ready);
	loop_submit(l);
	if (meanwhile)
		meanwhile(arg);
	while (!dispatch(l, ws, 1, loop_next(l, H_LONG_MS), NULL))
		;
	loop_drain(l);
}

static void space_release(void *arg)
{
	struct space_fixture *f = arg;

	if (f->peer_holds)
		assert_int_equal(h_peer_release(&f->peer, 1), 0);
	else
		assert_int_equal(pooter_release(f->c, f->d), 0);
}

/*
 * (a) The holder releases while the wait is in the kernel: the release's
 * wake completes it, pooter_space_complete() says 1, and the emit goes.
 */
static void space_wait_release(bool peer)
{
	struct space_fixture f;
	struct await w = { 0 };
	struct aloop l;
	bool async = async_mode();

	space_fill(&f, peer);
	w.e = f.e;
	loop_init(&l, 8, async);
	if (async) {
		/*
		 * The wait and its link timeout; a peer holder adds its
		 * death watch (poll + wake), our own handle is not watched.
		 */
		space_settle(&l, &w, peer ? 4 : 2, H_LONG_MS, space_release,
			     &f);
		if (w.rc != 1)
			fail_msg("pooter_space_complete: %d (%s) %s", w.rc,
				 pooter_strerror(w.rc), pooter_last_error());
		print_message("space wait (%s holder released): %u CQEs (%u "
			      "aux), %u re-arms\n",
			      peer ? "peer" : "own", l.cqes, l.aux, w.rearms);
	} else {
		assert_int_equal(pooter_prep_space_wait(&l.ring, f.e, H_LONG_MS,
							ud_of(&w)),
				 -EOPNOTSUPP);
		assert_true(pooter_last_error()[0] != '\0');
		if (l.real)
			assert_int_equal(io_uring_sq_ready(&l.ring), 0);
		space_release(&f);
	}
	space_expect_room(&f);
	loop_exit(&l);
	space_done(&f);
}

static void test_space_wait_release_own(void **state)
{
	space_wait_release(false);
}

static void test_space_wait_release_peer(void **state)
{
	space_wait_release(true);
}

struct space_kill {
	pid_t pid;
	uint64_t t_kill;
};

static void space_kill_holder(void *arg)
{
	struct space_kill *k = arg;

	k->t_kill = h_now_ns();
	assert_int_equal(kill(k->pid, SIGKILL), 0);
}

/*
 * (b) The holder is SIGKILLed with the record held: its death watch wakes
 * the wait at once (no 50 ms liveness period), the completion reaps it,
 * which frees the record, and says 1.  No timeout: nothing is due.
 */
static void test_space_wait_holder_killed(void **state)
{
	struct pooter_broker_stat st;
	struct space_fixture f;
	struct space_kill k;
	struct await w = { 0 };
	struct aloop l;
	double ms;

	if (!async_mode()) {
		print_message(
			"[  SKIPPED ] io_uring API unavailable here: %s\n",
			pooter_last_error());
		skip();
	}
	space_fill(&f, true);
	w.e = f.e;
	k.pid = f.peer.pid;
	loop_init(&l, 8, true);
	/* the wait and the holder's death watch (poll + wake), no timeout */
	space_settle(&l, &w, 3, -1, space_kill_holder, &k);
	ms = (double)(w.done_ns - k.t_kill) / 1e6;
	print_message("space wait: holder's death seen %.3f ms after the "
		      "kill, %u re-arms, %u CQEs (%u aux)\n",
		      ms, w.rearms, l.cqes, l.aux);
	if (w.rc != 1)
		fail_msg("pooter_space_complete: %d (%s) %s", w.rc,
			 pooter_strerror(w.rc), pooter_last_error());
	/* generous: the 50 ms period would do too, but not a whole second */
	if (w.done_ns - k.t_kill >= 1000 * H_NS_PER_MS)
		fail_msg("holder's death seen only %.1f ms after the kill", ms);
	h_kill(f.peer.pid); /* reap it */
	/* the peer is gone: close its pipes without asking it to quit */
	close(f.peer.cmd_wr);
	close(f.peer.res_rd);
	close(f.peer.ack_rd);
	f.peer.pid = 0;
	h_stat(f.b, &st);
	assert_int_equal(st.consumers, 0);
	assert_int_equal(st.records_free, 1);
	space_expect_room(&f);
	loop_exit(&l);
	space_done(&f);
}

/*
 * (c) Nobody releases: -ETIMEDOUT, never before timeout_ms from the prep,
 * and the ring is still full afterwards.
 */
static void test_space_wait_timeout(void **state)
{
	struct space_fixture f;
	struct await w = { 0 };
	struct pooter_ticket t;
	struct aloop l;
	uint64_t t0;

	if (!async_mode()) {
		print_message(
			"[  SKIPPED ] io_uring API unavailable here: %s\n",
			pooter_last_error());
		skip();
	}
	space_fill(&f, true);
	w.e = f.e;
	loop_init(&l, 8, true);
	t0 = h_now_ns();
	/* the wait, its link timeout, the holder's death watch */
	space_settle(&l, &w, 4, SHORT_MS, NULL, NULL);
	print_message("space wait: -ETIMEDOUT %.3f ms after the prep "
		      "(timeout %d ms), %u re-arms\n",
		      (double)(w.done_ns - t0) / 1e6, SHORT_MS, w.rearms);
	if (w.rc != -ETIMEDOUT)
		fail_msg("pooter_space_complete: %d (%s) %s, expected "
			 "-ETIMEDOUT",
			 w.rc, pooter_strerror(w.rc), pooter_last_error());
	expect_late_timeout("space wait", w.done_ns,
			    t0 + SHORT_MS * H_NS_PER_MS);
	assert_int_equal(pooter_emit_submit(f.e, "two", 4, &t), -EAGAIN);
	space_release(&f);
	space_expect_room(&f);
	loop_exit(&l);
	space_done(&f);
}

/*
 * (d) Leave with a space wait armed: the wait's CQE is -ECANCELED and is
 * not handed to the library (the emitter is gone); no timeout of it fires
 * later (its timeout is shorter than the quiet time we watch for), and a
 * cancel-any of our own finds nothing left.
 */
static void test_space_wait_leave(void **state)
{
	struct space_fixture f;
	struct await w = { 0 }, probe = { 0 };
	unsigned int main_cqes = 0, aux_cqes = 0, fired = 0;
	int main_res = 1, probe_res = 1;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct aloop l;
	uint64_t t_leave;
	int rc;

	if (!async_mode()) {
		print_message(
			"[  SKIPPED ] io_uring API unavailable here: %s\n",
			pooter_last_error());
		skip();
	}
	space_fill(&f, true);
	loop_init(&l, 16, true);
	rc = pooter_prep_space_wait(&l.ring, f.e, SHORT_MS, ud_of(&w));
	assert_int_equal(rc, 4);
	loop_submit(&l);
	assert_int_equal(io_uring_peek_cqe(&l.ring, &cqe), -EAGAIN);
	assert_int_equal(pooter_emitter_leave(f.e), 0);
	f.e = NULL;
	t_leave = h_now_ns();
	sqe = io_uring_get_sqe(&l.ring);
	assert_non_null(sqe);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	sqe->user_data = ud_of(&probe);
	loop_submit(&l);

	for (;;) {
		struct __kernel_timespec ts = { .tv_nsec =
							QUIET_MS * 1000000ll };

		if ((!main_cqes || probe_res == 1) &&
		    h_now_ns() - t_leave > (uint64_t)H_LONG_MS * H_NS_PER_MS)
			fail_msg("no CQE of the wait or the probe within %d "
				 "ms of the leave",
				 H_LONG_MS);
		rc = io_uring_wait_cqe_timeout(&l.ring, &cqe, &ts);
		if (rc == -EINTR)
			continue;
		if (rc == -ETIME) {
			if (main_cqes && probe_res != 1)
				break;
			continue;
		}
		if (rc < 0)
			fail_msg("io_uring_wait_cqe_timeout: %s",
				 strerror(-rc));
		if (cqe->user_data == ud_of(&probe)) {
			probe_res = cqe->res;
		} else if (cqe->user_data == ud_of(&w)) {
			main_cqes++;
			main_res = cqe->res;
		} else if (cqe->user_data == (ud_of(&w) | POOTER_CQE_AUX)) {
			aux_cqes++;
			if (cqe->res == -ETIME)
				fired++;
		} else {
			fail_msg("CQE user_data %#llx res %d is none of ours",
				 (unsigned long long)cqe->user_data, cqe->res);
		}
		io_uring_cqe_seen(&l.ring, cqe);
	}
	print_message("leave with a space wait armed: main CQE res %d, %u aux "
		      "(%u fired timeouts); the probe's cancel-any: %d\n",
		      main_res, aux_cqes, fired, probe_res);
	if (main_cqes != 1 || main_res != -ECANCELED)
		fail_msg("the space wait: %u CQEs, res %d; expected one, "
			 "-ECANCELED",
			 main_cqes, main_res);
	if (fired)
		fail_msg("the space wait's timeout fired after the leave");
	if (probe_res > 0)
		fail_msg("pooter_emitter_leave() left the space wait armed: a "
			 "cancel-any after it found %d",
			 probe_res);
	if (probe_res != 0 && probe_res != -ENOENT)
		fail_msg("the probe's cancel-any: %d (%s)", probe_res,
			 strerror(-probe_res));
	assert_int_equal(io_uring_sq_ready(&l.ring), 0);
	loop_exit(&l);
	space_done(&f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_two_brokers, h_teardown),
		cmocka_unit_test_teardown(test_consumer_many, h_teardown),
		cmocka_unit_test_teardown(test_consume_timeout, h_teardown),
		cmocka_unit_test_teardown(test_deadline_only_waiter,
					  h_teardown),
		cmocka_unit_test_teardown(test_deadline_with_blocking,
					  h_teardown),
		cmocka_unit_test_teardown(test_cancel_and_death, h_teardown),
		cmocka_unit_test_teardown(test_close_in_flight, h_teardown),
		cmocka_unit_test_teardown(test_close_queued, h_teardown),
		cmocka_unit_test_teardown(test_api_edges, h_teardown),
		cmocka_unit_test_teardown(test_submit_ring_full, h_teardown),
		cmocka_unit_test_teardown(test_leave_cancels_eight_waits,
					  h_teardown),
		cmocka_unit_test_teardown(test_space_wait_release_own,
					  h_teardown),
		cmocka_unit_test_teardown(test_space_wait_release_peer,
					  h_teardown),
		cmocka_unit_test_teardown(test_space_wait_holder_killed,
					  h_teardown),
		cmocka_unit_test_teardown(test_space_wait_timeout, h_teardown),
		cmocka_unit_test_teardown(test_space_wait_leave, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
