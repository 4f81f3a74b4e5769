// SPDX-License-Identifier: MIT
/*
 * test_round.c - rounds among emitter processes: resolution, deadlines,
 * quorum, leave, death, operator cancel, join EBUSY / JOIN_WAIT, preemption
 * and signals.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NPEERS 4

struct fixture {
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer p[NPEERS];
	unsigned int npeers;
};

/* Create a broker and start n peers, the first `joined` of them emitters. */
static void setup(struct fixture *f, const struct pooter_broker_attr *attr,
		  unsigned int n, unsigned int joined)
{
	unsigned int i;

	memset(f, 0, sizeof(*f));
	f->b = h_create(f->name, attr);
	f->npeers = n;
	for (i = 0; i < n; i++) {
		char en[16];

		h_peer_start(&f->p[i], f->name);
		if (i < joined) {
			snprintf(en, sizeof(en), "e%u", i);
			assert_int_equal(h_peer_join_emitter(&f->p[i], en, 0),
					 0);
		}
	}
}

static void finish(struct fixture *f)
{
	unsigned int i;

	for (i = 0; i < f->npeers; i++)
		h_peer_stop(&f->p[i]);
	h_close(f->b);
	assert_int_equal(pooter_broker_unlink(f->name), 0);
}

static void wait_emitted(struct fixture *f, struct pooter_broker_stat *st,
			 unsigned int n)
{
	h_stat_until(f->b, st, h_pred_emitted, &n, H_LONG_MS);
}

static void expect_res(struct h_peer *p, int rc, uint64_t round,
		       struct h_res *r)
{
	struct h_res tmp;

	if (!r)
		r = &tmp;
	h_peer_res(p, r, H_LONG_MS);
	assert_int_equal(r->op, H_OP_EMIT);
	if (r->rc != rc || r->round != round)
		fail_msg("peer %d: emit gave %d (%s) round %llu, expected %d "
			 "round %llu",
			 (int)p->pid, r->rc, pooter_strerror(r->rc),
			 (unsigned long long)r->round, rc,
			 (unsigned long long)round);
}

/* --- resolution --------------------------------------------------------- */

static void test_single_emitter(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	uint64_t i;

	setup(&f, &attr, 1, 1);
	for (i = 1; i <= 5; i++) {
		struct h_res r;

		h_peer_emit_async(&f.p[0], "alone");
		expect_res(&f.p[0], 0, i, &r);
		/* at once: nowhere near the round's 10 s deadline */
		assert_true(r.t_end_ns - r.t_start_ns <
			    (uint64_t)H_SLACK_MS * H_NS_PER_MS);
		assert_int_equal(r.st_round_state, POOTER_ROUND_CLOSED);
		assert_int_equal(r.st_round, i);
		assert_int_equal(r.st_round_outcome, 0);
	}
	h_stat(f.b, &st);
	assert_int_equal(st.rounds_opened, 5);
	assert_int_equal(st.rounds_resolved, 5);
	assert_int_equal(st.rounds_timedout, 0);
	assert_int_equal(st.emits, 5);
	finish(&f);
}

static void test_three_resolve(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	uint64_t t0, round;
	unsigned int i;

	setup(&f, &attr, 3, 3);
	t0 = h_now_ns();
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &st, 1);
	round = st.round;
	assert_int_equal(round, 1);
	assert_int_equal(st.round_participants, 3);
	assert_int_equal(st.round_fixed, 1);
	assert_true(st.round_opened_ns >= t0);
	assert_true(st.round_opened_ns <= h_now_ns());
	assert_int_equal(st.round_deadline_ns - st.round_opened_ns,
			 (uint64_t)H_ROUND_LONG_MS * H_NS_PER_MS);
	assert_int_equal(st.records_free, st.depth - 1);
	h_peer_emit_async(&f.p[1], "b");
	wait_emitted(&f, &st, 2);
	assert_false(h_peer_pending(&f.p[0])); /* still waiting */
	h_peer_emit_async(&f.p[2], "c");
	for (i = 0; i < 3; i++)
		expect_res(&f.p[i], 0, round, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, round);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.emits, 3);
	/* no consumer: the record is free again */
	assert_int_equal(st.records_free, st.depth);
	finish(&f);
}

/* --- deadlines ---------------------------------------------------------- */

static void test_timeout(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = 300);
	struct pooter_broker_stat st;
	uint64_t round, deadline;
	struct fixture f;
	struct h_res r;
	unsigned int i;

	/* p[2] is a participant that never emits */
	setup(&f, &attr, 3, 3);
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &st, 1);
	round = st.round;
	deadline = st.round_deadline_ns;
	assert_int_equal(deadline - st.round_opened_ns, 300 * H_NS_PER_MS);
	h_peer_emit_async(&f.p[1], "b");
	for (i = 0; i < 2; i++) {
		expect_res(&f.p[i], -ETIMEDOUT, round, &r);
		if (r.t_end_ns < deadline)
			fail_msg("peer %u got -ETIMEDOUT %.3f ms before the "
				 "deadline",
				 i, (double)(deadline - r.t_end_ns) / 1e6);
		assert_true(r.t_end_ns <
			    deadline + (uint64_t)H_SLACK_MS * H_NS_PER_MS);
		assert_int_equal(r.st_round, round);
		assert_int_equal(r.st_round_outcome, -ETIMEDOUT);
	}
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, round);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.rounds_cancelled, 0);
	assert_int_equal(st.rounds_ownerdead, 0);
	assert_int_equal(st.emits, 2);
	assert_int_equal(st.records_free, st.depth);

	/* the next round opens and resolves */
	for (i = 0; i < 3; i++)
		h_peer_emit_async(&f.p[i], "next");
	for (i = 0; i < 3; i++)
		expect_res(&f.p[i], 0, round + 1, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.round_outcome, 0);
	finish(&f);
}

/*
 * The stat's round fields describe "the current round: open, or the last one
 * decided": once closed, they still tell that round's times and members.
 */
static void test_closed_round_stat(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = 300);
	struct pooter_broker_stat st, open;
	struct fixture f;
	unsigned int i;

	setup(&f, &attr, 3, 3);
	/* a timed-out round: two of three emitted */
	h_peer_emit_async(&f.p[0], "a");
	h_peer_emit_async(&f.p[1], "b");
	wait_emitted(&f, &open, 2);
	expect_res(&f.p[0], -ETIMEDOUT, open.round, NULL);
	expect_res(&f.p[1], -ETIMEDOUT, open.round, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, open.round);
	assert_int_equal(st.round_opened_ns, open.round_opened_ns);
	assert_int_equal(st.round_deadline_ns, open.round_deadline_ns);
	assert_int_equal(st.round_participants, 3);
	assert_int_equal(st.round_emitted, 2);
	assert_int_equal(st.round_fixed, 1);

	/* a resolved one */
	assert_int_equal(pooter_broker_set_timeout(f.b, H_ROUND_LONG_MS), 0);
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &open, 1);
	h_peer_emit_async(&f.p[1], "b");
	h_peer_emit_async(&f.p[2], "c");
	for (i = 0; i < 3; i++)
		expect_res(&f.p[i], 0, open.round, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, open.round);
	assert_int_equal(st.round_opened_ns, open.round_opened_ns);
	assert_int_equal(st.round_deadline_ns, open.round_deadline_ns);
	assert_int_equal(st.round_participants, 3);
	assert_int_equal(st.round_emitted, 3);
	finish(&f);
}

/* --- leaving, dying, operator cancel ----------------------------------- */

static void test_leave_owing(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	struct h_res r;
	uint64_t round, t_leave;
	unsigned int i;

	setup(&f, &attr, 3, 3);
	h_peer_emit_async(&f.p[0], "a");
	h_peer_emit_async(&f.p[1], "b");
	wait_emitted(&f, &st, 2);
	round = st.round;
	t_leave = h_now_ns();
	assert_int_equal(h_peer_leave_emitter(&f.p[2]), 0);
	for (i = 0; i < 2; i++) {
		expect_res(&f.p[i], -ECANCELED, round, &r);
		assert_true(r.t_end_ns >= t_leave);
		/* by the leave, not by the 10 s deadline */
		assert_true(r.t_end_ns < st.round_deadline_ns);
	}
	h_stat(f.b, &st);
	assert_int_equal(st.round_outcome, -ECANCELED);
	assert_int_equal(st.rounds_cancelled, 1);
	assert_int_equal(st.rounds_timedout, 0);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.emitters, 2);

	/* the two left resolve the next round between them */
	h_peer_emit_async(&f.p[0], "a2");
	wait_emitted(&f, &st, 1);
	assert_int_equal(st.round_participants, 2);
	h_peer_emit_async(&f.p[1], "b2");
	expect_res(&f.p[0], 0, round + 1, NULL);
	expect_res(&f.p[1], 0, round + 1, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.rounds_cancelled, 1);
	finish(&f);
}

static void test_owner_dead(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	struct h_res r;
	uint64_t round, t_kill;
	unsigned int i;

	setup(&f, &attr, 3, 3);
	h_peer_emit_async(&f.p[0], "a");
	h_peer_emit_async(&f.p[1], "b");
	wait_emitted(&f, &st, 2);
	round = st.round;
	t_kill = h_now_ns();
	h_kill(f.p[2].pid); /* owes its emit */
	for (i = 0; i < 2; i++) {
		expect_res(&f.p[i], -EOWNERDEAD, round, &r);
		assert_true(r.t_end_ns >= t_kill);
		/* promptly (target 100 ms), not at the 10 s deadline */
		assert_true(r.t_end_ns - t_kill <
			    (uint64_t)H_SLACK_MS * H_NS_PER_MS);
	}
	h_stat(f.b, &st);
	assert_int_equal(st.round_outcome, -EOWNERDEAD);
	assert_int_equal(st.rounds_ownerdead, 1);
	assert_int_equal(st.rounds_timedout, 0);
	assert_int_equal(st.rounds_cancelled, 0);

	/* the dead one is reaped: the survivors resolve the next round */
	h_peer_emit_async(&f.p[0], "a2");
	wait_emitted(&f, &st, 1);
	assert_int_equal(st.round_participants, 2);
	h_peer_emit_async(&f.p[1], "b2");
	expect_res(&f.p[0], 0, round + 1, NULL);
	expect_res(&f.p[1], 0, round + 1, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.emitters, 2);
	assert_int_equal(st.rounds_ownerdead, 1);
	assert_int_equal(st.rounds_resolved, 1);

	f.npeers = 2;
	finish(&f);
}

static void test_dead_after_emitting(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	uint64_t round;

	setup(&f, &attr, 3, 3);
	h_peer_emit_async(&f.p[0], "a");
	h_peer_emit_async(&f.p[2], "c");
	wait_emitted(&f, &st, 2);
	round = st.round;
	/* p[2] has kept its promise: its death does not cancel the round */
	h_kill(f.p[2].pid);
	h_peer_emit_async(&f.p[1], "b");
	expect_res(&f.p[0], 0, round, NULL);
	expect_res(&f.p[1], 0, round, NULL);
	h_stat(f.b, &st);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.rounds_ownerdead, 0);
	assert_int_equal(st.emits, 3);

	h_peer_emit_async(&f.p[0], "a2");
	h_peer_emit_async(&f.p[1], "b2");
	expect_res(&f.p[0], 0, round + 1, NULL);
	expect_res(&f.p[1], 0, round + 1, NULL);
	f.npeers = 2;
	finish(&f);
}

static void test_operator_cancel(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	struct h_res r;
	uint64_t round;

	setup(&f, &attr, 2, 2);
	assert_int_equal(pooter_round_cancel(f.b), -ENOENT);
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &st, 1);
	round = st.round;
	assert_int_equal(pooter_round_cancel(f.b), 0);
	expect_res(&f.p[0], -ECANCELED, round, &r);
	assert_true(r.t_end_ns < st.round_deadline_ns);
	assert_int_equal(pooter_round_cancel(f.b), -ENOENT);
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, -ECANCELED);
	assert_int_equal(st.rounds_cancelled, 1);

	h_peer_emit_async(&f.p[1], "b");
	h_peer_emit_async(&f.p[0], "a");
	expect_res(&f.p[0], 0, round + 1, NULL);
	expect_res(&f.p[1], 0, round + 1, NULL);
	finish(&f);
}

static void test_name_reuse_after_death(void **state)
{
	struct pooter_emitter *e;
	struct fixture f;

	setup(&f, NULL, 1, 0);
	assert_int_equal(h_peer_join_emitter(&f.p[0], "same", 0), 0);
	assert_int_equal(pooter_emitter_join(f.b, "same", 0, &e), -EEXIST);
	h_kill(f.p[0].pid);
	/* the holder is dead, so the name is no longer taken */
	assert_int_equal(pooter_emitter_join(f.b, "same", 0, &e), 0);
	assert_int_equal(pooter_emitter_leave(e), 0);
	f.npeers = 0;
	finish(&f);
}

/* --- joining while a round is open ------------------------------------- */

static void test_join_busy_and_wait(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct pooter_emitter *e;
	struct h_cmd c;
	struct h_res r, rd;
	uint64_t round, t_close, last_end;
	struct fixture f;

	setup(&f, &attr, 4, 2); /* p[0], p[1] joined; p[2], p[3] not */
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &st, 1);
	round = st.round;
	assert_int_equal(h_peer_join_emitter(&f.p[2], "late", 0), -EBUSY);
	assert_int_equal(pooter_emitter_join(f.b, "late2", 0, &e), -EBUSY);
	h_stat(f.b, &st);
	assert_int_equal(st.emitters, 2);
	assert_int_equal(st.round_participants, 2);
	h_peer_emit_async(&f.p[1], "b");
	expect_res(&f.p[0], 0, round, NULL);
	expect_res(&f.p[1], 0, round, NULL);

	/* the round is over: the join succeeds, and it takes part */
	assert_int_equal(h_peer_join_emitter(&f.p[2], "late", 0), 0);
	/* no round open: a waiting join returns at once */
	{
		struct pooter_emitter *w;

		assert_int_equal(
			pooter_emitter_join(f.b, "w", POOTER_JOIN_WAIT, &w), 0);
		assert_int_equal(pooter_emitter_leave(w), 0);
	}

	h_peer_emit_async(&f.p[0], "a2");
	wait_emitted(&f, &st, 1);
	round = st.round;
	assert_int_equal(st.round_participants, 3);

	/* a waiting join blocks until the round is over */
	memset(&c, 0, sizeof(c));
	c.op = H_OP_JOIN_EMITTER;
	c.flags = POOTER_JOIN_WAIT;
	snprintf(c.name, sizeof(c.name), "waiter");
	h_peer_send(&f.p[3], &c);
	h_blocked_in_call(f.p[3].pid, 2000);
	assert_false(h_peer_pending(&f.p[3]));
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round, round);

	t_close = h_now_ns(); /* the round cannot close before this */
	h_peer_emit_async(&f.p[1], "b2");
	h_peer_emit_async(&f.p[2], "c2");
	expect_res(&f.p[0], 0, round, &r);
	last_end = r.t_end_ns;
	expect_res(&f.p[1], 0, round, &r);
	if (r.t_end_ns > last_end)
		last_end = r.t_end_ns;
	expect_res(&f.p[2], 0, round, &r);
	if (r.t_end_ns > last_end)
		last_end = r.t_end_ns;

	h_peer_res(&f.p[3], &rd, H_LONG_MS);
	assert_int_equal(rd.op, H_OP_JOIN_EMITTER);
	assert_int_equal(rd.rc, 0);
	/* after the round closed ... */
	assert_true(rd.t_end_ns >= t_close);
	assert_int_equal(rd.st_round, round);
	assert_int_equal(rd.st_round_state, POOTER_ROUND_CLOSED);
	/* ... and as soon as it did, not at its deadline */
	assert_true(rd.t_end_ns <
		    last_end + (uint64_t)H_SLACK_MS * H_NS_PER_MS);
	assert_true(rd.t_end_ns < st.round_deadline_ns);

	/* the waiter is a participant of the next round */
	h_peer_emit_async(&f.p[3], "d3");
	wait_emitted(&f, &st, 1);
	assert_int_equal(st.round_participants, 4);
	h_peer_emit_async(&f.p[0], "a3");
	h_peer_emit_async(&f.p[1], "b3");
	h_peer_emit_async(&f.p[2], "c3");
	expect_res(&f.p[0], 0, round + 1, NULL);
	expect_res(&f.p[1], 0, round + 1, NULL);
	expect_res(&f.p[2], 0, round + 1, NULL);
	expect_res(&f.p[3], 0, round + 1, NULL);
	finish(&f);
}

/* --- quorum ------------------------------------------------------------- */

struct quorum_seen {
	unsigned int fixed_seen;
	unsigned int ebusy_checked;
};

static void run_quorum_order(struct fixture *f, const char *order,
			     struct h_peer *extra, struct quorum_seen *qs)
{
	struct pooter_broker_stat st;
	unsigned int joined = 0, emitted = 0, i;
	uint64_t emits, round_before;
	struct h_res r;
	uint64_t round = 0;

	h_stat(f->b, &st);
	emits = st.emits;
	round_before = st.round;
	for (i = 0; order[i]; i += 2) {
		unsigned int who = (unsigned int)(order[i + 1] - '0');
		char en[16];

		if (order[i] == 'J') {
			snprintf(en, sizeof(en), "q%u", who);
			if (h_peer_join_emitter(&f->p[who], en, 0) != 0)
				fail_msg("order %s: join of %u failed", order,
					 who);
			joined++;
		} else {
			h_peer_emit_async(&f->p[who], "q");
			emits++;
			emitted++;
			h_stat_until(f->b, &st, h_pred_emits, &emits,
				     H_LONG_MS);
		}
		h_stat(f->b, &st);
		if (emitted == 0 || emitted == 3)
			continue;
		/* a round is open */
		assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
		assert_int_equal(st.round, round_before + 1);
		assert_int_equal(st.round_participants, joined);
		assert_int_equal(st.round_fixed, joined >= 3);
		if (joined >= 3) {
			qs->fixed_seen++;
			/* the set is fixed: nobody else gets in */
			if (h_peer_join_emitter(extra, "q-extra", 0) != -EBUSY)
				fail_msg("order %s: join into a fixed round "
					 "not -EBUSY",
					 order);
			qs->ebusy_checked++;
		}
	}
	for (i = 0; i < 3; i++) {
		h_peer_res(&f->p[i], &r, H_LONG_MS);
		assert_int_equal(r.op, H_OP_EMIT);
		if (r.rc != 0)
			fail_msg("order %s: peer %u got %d (%s)", order, i,
				 r.rc, pooter_strerror(r.rc));
		if (i == 0)
			round = r.round;
		if (r.round != round)
			fail_msg("order %s: peers met in different rounds "
				 "%llu and %llu",
				 order, (unsigned long long)round,
				 (unsigned long long)r.round);
	}
	assert_int_equal(round, round_before + 1);
	h_stat(f->b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, round);
	assert_int_equal(st.round_outcome, 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(h_peer_leave_emitter(&f->p[i]), 0);
}

/* every interleaving of J0 E0 J1 E1 J2 E2 with each Ji before its Ei */
static unsigned int quorum_orders(char orders[][13], unsigned int max)
{
	static const char *ev[6] = { "J0", "E0", "J1", "E1", "J2", "E2" };
	unsigned int n = 0, perm[6], used, k;

	/* enumerate permutations of 6 by index vectors */
	for (unsigned int code = 0; code < 46656 && n < max; code++) {
		unsigned int c = code, ok = 1;

		used = 0;
		for (k = 0; k < 6; k++) {
			perm[k] = c % 6;
			c /= 6;
			if (used & (1u << perm[k]))
				ok = 0;
			used |= 1u << perm[k];
		}
		if (!ok)
			continue;
		for (k = 0; k < 6 && ok; k++) {
			/* an E must come after its J */
			if (perm[k] % 2 == 1) {
				unsigned int j, seen = 0;

				for (j = 0; j < k; j++)
					if (perm[j] == perm[k] - 1)
						seen = 1;
				ok = seen;
			}
		}
		if (!ok)
			continue;
		for (k = 0; k < 6; k++)
			memcpy(orders[n] + 2 * k, ev[perm[k]], 2);
		orders[n][12] = '\0';
		n++;
	}
	return n;
}

static void test_quorum(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .quorum = 3,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct quorum_seen qs = { 0 };
	char orders[90][13];
	struct fixture f;
	unsigned int n, i;

	n = quorum_orders(orders, 90);
	assert_int_equal(n, 90);
	setup(&f, &attr, 4, 0);
	/* every third of the 90 orders, which covers each first move */
	for (i = 0; i < n; i += 3)
		run_quorum_order(&f, orders[i], &f.p[3], &qs);
	/* the scripts did reach a fixed set more than once */
	assert_true(qs.fixed_seen > 0);
	assert_int_equal(qs.ebusy_checked, qs.fixed_seen);
	finish(&f);
}

/* Three independent processes, each joining and emitting on its own. */
struct quorum_child {
	const char *name;
	unsigned int idx;
	struct h_gate gate;
};

static int child_quorum(void *arg)
{
	struct quorum_child *qc = arg;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	uint64_t round;
	char en[16];
	int rc;

	h_gate_wait(&qc->gate);
	C_EQ(pooter_broker_open(qc->name, &b), 0);
	snprintf(en, sizeof(en), "free%u", qc->idx);
	C_EQ(pooter_emitter_join(b, en, 0, &e), 0);
	rc = pooter_emit(e, en, strlen(en), &round);
	if (rc != 0)
		h_child_fail(__FILE__, __LINE__, "emit: %d (%s)", rc,
			     pooter_strerror(rc));
	C_EQ(pooter_emitter_leave(e), 0);
	h_close(b);
	/* report the round number through the exit status (1: failure) */
	return 100 + (int)(round & 0x7f);
}

static void test_quorum_free_running(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .quorum = 3,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct quorum_child qc[3];
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	unsigned int it, i;

	b = h_create(name, &attr);
	for (it = 1; it <= 10; it++) {
		pid_t pid[3];

		for (i = 0; i < 3; i++) {
			qc[i].name = name;
			qc[i].idx = i;
			h_gate_init(&qc[i].gate);
			pid[i] = h_spawn(child_quorum, &qc[i]);
		}
		/* start them in a varied order */
		for (i = 0; i < 3; i++)
			h_gate_open(&qc[(i + it) % 3].gate);
		for (i = 0; i < 3; i++)
			h_expect_exit(pid[i], 100 + (int)it, H_LONG_MS);
		for (i = 0; i < 3; i++)
			h_gate_close(&qc[i].gate);
		h_stat(b, &st);
		assert_int_equal(st.rounds_resolved, it);
		assert_int_equal(st.rounds_opened, it);
		assert_int_equal(st.emitters, 0);
	}
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- preemption --------------------------------------------------------- */

static void two_later_rounds_time_out(struct fixture *f, uint64_t first)
{
	uint64_t round;

	for (round = first; round < first + 2; round++) {
		h_peer_emit_async(&f->p[1], "b");
		h_peer_emit_async(&f->p[2], "c");
		expect_res(&f->p[1], -ETIMEDOUT, round, NULL);
		expect_res(&f->p[2], -ETIMEDOUT, round, NULL);
	}
}

static void test_preempted_resolved(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct fixture f;
	struct h_res r;
	uint64_t round, t_cont;
	unsigned int i;

	setup(&f, &attr, 3, 3);
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &st, 1);
	round = st.round;
	/* stopped while it waits for the outcome it is owed */
	h_blocked_in_call(f.p[0].pid, 2000);
	h_stop(f.p[0].pid);
	h_peer_emit_async(&f.p[1], "b");
	h_peer_emit_async(&f.p[2], "c");
	expect_res(&f.p[1], 0, round, NULL);
	expect_res(&f.p[2], 0, round, NULL);

	/* two later rounds pass; p[0] owes them both, so they time out */
	assert_int_equal(pooter_broker_set_timeout(f.b, 200), 0);
	two_later_rounds_time_out(&f, round + 1);
	h_stat(f.b, &st);
	assert_int_equal(st.round, round + 2);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.rounds_timedout, 2);
	assert_false(h_peer_pending(&f.p[0]));

	t_cont = h_now_ns();
	h_cont(f.p[0].pid);
	expect_res(&f.p[0], 0, round, &r); /* its own round's outcome */
	assert_true(r.t_end_ns >= t_cont);

	/* and it is in step with the others */
	assert_int_equal(pooter_broker_set_timeout(f.b, H_ROUND_LONG_MS), 0);
	for (i = 0; i < 3; i++)
		h_peer_emit_async(&f.p[i], "again");
	for (i = 0; i < 3; i++)
		expect_res(&f.p[i], 0, round + 3, NULL);
	finish(&f);
}

static void test_preempted_timedout(void **state)
{
	/* long enough to see it waiting before the round times out */
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = 1000);
	struct pooter_broker_stat st;
	struct fixture f;
	struct h_res r;
	uint64_t round, deadline;
	unsigned int i;

	setup(&f, &attr, 3, 3);
	h_peer_emit_async(&f.p[0], "a");
	wait_emitted(&f, &st, 1);
	round = st.round;
	deadline = st.round_deadline_ns;
	h_blocked_in_call(f.p[0].pid, 2000);
	h_stop(f.p[0].pid);

	/*
	 * Nobody else is waiting on this round: its deadline is enforced by
	 * the next call that touches the broker, here a stat.
	 */
	h_sleep_until_ns(deadline + H_NS_PER_MS);
	h_stat(f.b, &st);
	assert_int_equal(st.round, round);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_timedout, 1);

	assert_int_equal(pooter_broker_set_timeout(f.b, 200), 0);
	two_later_rounds_time_out(&f, round + 1);
	h_stat(f.b, &st);
	assert_int_equal(st.rounds_timedout, 3);
	assert_false(h_peer_pending(&f.p[0]));

	h_cont(f.p[0].pid);
	expect_res(&f.p[0], -ETIMEDOUT, round, &r);
	assert_true(r.t_end_ns >= deadline);

	assert_int_equal(pooter_broker_set_timeout(f.b, H_ROUND_LONG_MS), 0);
	for (i = 0; i < 3; i++)
		h_peer_emit_async(&f.p[i], "again");
	for (i = 0; i < 3; i++)
		expect_res(&f.p[i], 0, round + 3, NULL);
	finish(&f);
}

/* --- signals ------------------------------------------------------------ */

static void signal_peer(struct h_peer *p, unsigned int n)
{
	unsigned int i;
	char c;

	for (i = 0; i < n; i++) {
		assert_int_equal(kill(p->pid, SIGUSR1), 0);
		/* the handler ran: the wait was interrupted */
		assert_int_equal(h_read(p->ack_rd, &c, 1, H_LONG_MS), 0);
	}
}

static void test_signals_resolved(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct h_cmd c = { .op = H_OP_SIGNALS };
	struct fixture f;
	struct h_res r;
	uint64_t round;

	setup(&f, &attr, 2, 2);
	h_peer_send(&f.p[1], &c);
	h_peer_res(&f.p[1], &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	h_peer_emit_async(&f.p[1], "b");
	wait_emitted(&f, &st, 1);
	round = st.round;
	h_blocked_in_call(f.p[1].pid, 2000);
	signal_peer(&f.p[1], 20);
	/* the emit is still waiting for the round */
	assert_false(h_peer_pending(&f.p[1]));
	h_stat(f.b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round_emitted, 1);

	h_peer_emit_async(&f.p[0], "a");
	expect_res(&f.p[0], 0, round, NULL);
	expect_res(&f.p[1], 0, round, &r);
	assert_int_equal(r.signals, 20);
	h_stat(f.b, &st);
	assert_int_equal(st.emits, 2); /* never made twice */
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.rounds_resolved, 1);
	finish(&f);
}

static void test_signals_timedout(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = 400);
	struct pooter_broker_stat st;
	struct h_cmd c = { .op = H_OP_SIGNALS };
	struct fixture f;
	struct h_res r;
	uint64_t round, deadline;
	unsigned int sent = 0, during = 0;

	setup(&f, &attr, 2, 2);
	h_peer_send(&f.p[1], &c);
	h_peer_res(&f.p[1], &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	h_peer_emit_async(&f.p[1], "b");
	wait_emitted(&f, &st, 1);
	round = st.round;
	deadline = st.round_deadline_ns;
	/* signal it as long as it waits, right up to the deadline */
	while (!h_peer_pending(&f.p[1]) && sent < 5000) {
		signal_peer(&f.p[1], 1);
		sent++;
		/* acknowledged before the deadline: it hit the wait */
		if (h_now_ns() < deadline)
			during++;
		else
			break;
	}
	expect_res(&f.p[1], -ETIMEDOUT, round, &r);
	assert_true(r.t_end_ns >= deadline);
	assert_true(during > 0);
	assert_true(r.signals >= during && r.signals <= sent);
	h_stat(f.b, &st);
	assert_int_equal(st.emits, 1);
	assert_int_equal(st.rounds_timedout, 1);
	finish(&f);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_single_emitter, h_teardown),
		cmocka_unit_test_teardown(test_three_resolve, h_teardown),
		cmocka_unit_test_teardown(test_timeout, h_teardown),
		cmocka_unit_test_teardown(test_closed_round_stat, h_teardown),
		cmocka_unit_test_teardown(test_leave_owing, h_teardown),
		cmocka_unit_test_teardown(test_owner_dead, h_teardown),
		cmocka_unit_test_teardown(test_dead_after_emitting, h_teardown),
		cmocka_unit_test_teardown(test_operator_cancel, h_teardown),
		cmocka_unit_test_teardown(test_name_reuse_after_death,
					  h_teardown),
		cmocka_unit_test_teardown(test_join_busy_and_wait, h_teardown),
		cmocka_unit_test_teardown(test_quorum, h_teardown),
		cmocka_unit_test_teardown(test_quorum_free_running, h_teardown),
		cmocka_unit_test_teardown(test_preempted_resolved, h_teardown),
		cmocka_unit_test_teardown(test_preempted_timedout, h_teardown),
		cmocka_unit_test_teardown(test_signals_resolved, h_teardown),
		cmocka_unit_test_teardown(test_signals_timedout, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
