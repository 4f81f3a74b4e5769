// SPDX-License-Identifier: MIT
/*
 * test_delivery.c - deliveries to consumer processes: many rounds, late
 * consumers, ring full (EAGAIN), holding and releasing records, cancellation
 * notices, payload alignment.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* --- 3 emitters x 1000 rounds, 2 consumers ----------------------------- */

#define MANY_ROUNDS 1000
#define MANY_EMITTERS 3
#define MANY_CONSUMERS 2

struct msg {
	char emitter[16];
	uint64_t round;
	uint32_t idx;
	uint32_t len;
	unsigned char fill[];
};

static size_t msg_len(uint64_t round, unsigned int idx)
{
	return sizeof(struct msg) + (size_t)((round * 7 + idx * 13) % 200);
}

static unsigned char msg_byte(uint64_t round, unsigned int idx, size_t i)
{
	return (unsigned char)(round * 31 + idx * 17 + i);
}

struct many {
	const char *name;
	unsigned int idx;
	struct h_pipe ready;
	struct h_gate gate;
};

static int child_many_emitter(void *arg)
{
	struct many *m = arg;
	alignas(max_align_t) unsigned char buf[512];
	struct msg *msg = (struct msg *)buf;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	char en[16];
	uint64_t i;

	snprintf(en, sizeof(en), "em%u", m->idx);
	C_EQ(pooter_broker_open(m->name, &b), 0);
	C_EQ(pooter_emitter_join(b, en, 0, &e), 0);
	C_EQ(h_write(m->ready.wr, "r", 1), 0);
	h_gate_wait(&m->gate);
	for (i = 1; i <= MANY_ROUNDS; i++) {
		size_t len = msg_len(i, m->idx), k;
		uint64_t round = 0;
		int rc;

		memset(msg, 0, sizeof(*msg));
		snprintf(msg->emitter, sizeof(msg->emitter), "%s", en);
		msg->round = i;
		msg->idx = m->idx;
		msg->len = (uint32_t)len;
		for (k = 0; k < len - sizeof(*msg); k++)
			msg->fill[k] = msg_byte(i, m->idx, k);
		rc = pooter_emit(e, buf, len, &round);
		if (rc != 0)
			h_child_fail(__FILE__, __LINE__,
				     "%s: emit %llu: %d (%s)", en,
				     (unsigned long long)i, rc,
				     pooter_strerror(rc));
		C_EQ(round, i);
	}
	C_EQ(pooter_emitter_leave(e), 0);
	h_close(b);
	return 0;
}

static void check_msg(const struct pooter_delivery *d,
		      const struct pooter_payload *p, unsigned int *seen)
{
	const struct msg *msg = p->data;
	unsigned int idx;
	size_t k;

	C_CHECK(p->emitter != NULL);
	C_CHECK(p->data != NULL);
	C_EQ((uintptr_t)p->data % alignof(max_align_t), 0);
	C_CHECK(p->len >= sizeof(*msg));
	C_CHECK(!strncmp(p->emitter, "em", 2));
	idx = (unsigned int)(p->emitter[2] - '0');
	C_CHECK(idx < MANY_EMITTERS && p->emitter[3] == '\0');
	C_EQ(seen[idx], 0);
	seen[idx] = 1;
	if (strcmp(msg->emitter, p->emitter) || msg->round != d->round)
		h_child_fail(__FILE__, __LINE__,
			     "round %llu: payload of %s says %.16s round %llu",
			     (unsigned long long)d->round, p->emitter,
			     msg->emitter, (unsigned long long)msg->round);
	C_EQ(msg->idx, idx);
	C_EQ(p->len, msg_len(d->round, idx));
	C_EQ(msg->len, p->len);
	for (k = 0; k < p->len - sizeof(*msg); k++)
		if (msg->fill[k] != msg_byte(d->round, idx, k))
			h_child_fail(__FILE__, __LINE__,
				     "round %llu: %s payload byte %zu torn",
				     (unsigned long long)d->round, p->emitter,
				     k);
}

static int child_many_consumer(void *arg)
{
	struct many *m = arg;
	const struct pooter_delivery *d;
	struct pooter_broker *b;
	struct pooter_consumer *c;
	char cn[16];
	uint64_t want;

	snprintf(cn, sizeof(cn), "co%u", m->idx);
	C_EQ(pooter_broker_open(m->name, &b), 0);
	C_EQ(pooter_consumer_join(b, cn, 0, &c), 0);
	C_EQ(h_write(m->ready.wr, "r", 1), 0);
	for (want = 1; want <= MANY_ROUNDS; want++) {
		unsigned int seen[MANY_EMITTERS] = { 0 }, i;
		int rc = pooter_consume(c, H_LONG_MS, &d);

		if (rc != 0)
			h_child_fail(__FILE__, __LINE__,
				     "%s: consume, want round %llu: %d (%s)",
				     cn, (unsigned long long)want, rc,
				     pooter_strerror(rc));
		if (d->round != want)
			h_child_fail(__FILE__, __LINE__,
				     "%s: got round %llu, want %llu", cn,
				     (unsigned long long)d->round,
				     (unsigned long long)want);
		C_EQ(d->outcome, 0);
		C_EQ(d->count, MANY_EMITTERS);
		for (i = 0; i < d->count; i++)
			check_msg(d, &d->payloads[i], seen);
		C_EQ(pooter_release(c, d), 0);
	}
	/* nothing more, nothing twice */
	C_EQ(pooter_consume(c, 0, &d), -ETIMEDOUT);
	C_EQ(pooter_consumer_leave(c), 0);
	h_close(b);
	return 0;
}

static void test_thousand_rounds(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_payload = 500, .depth = 8,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct many em[MANY_EMITTERS], co[MANY_CONSUMERS];
	pid_t epid[MANY_EMITTERS], cpid[MANY_CONSUMERS];
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_gate gate;
	unsigned int i;
	char c;

	b = h_create(name, &attr);
	h_gate_init(&gate);
	for (i = 0; i < MANY_CONSUMERS; i++) {
		co[i].name = name;
		co[i].idx = i;
		h_pipe_init(&co[i].ready);
		cpid[i] = h_spawn(child_many_consumer, &co[i]);
		assert_int_equal(h_read(co[i].ready.rd, &c, 1, H_LONG_MS), 0);
	}
	for (i = 0; i < MANY_EMITTERS; i++) {
		em[i].name = name;
		em[i].idx = i;
		em[i].gate = gate;
		h_pipe_init(&em[i].ready);
		epid[i] = h_spawn(child_many_emitter, &em[i]);
		assert_int_equal(h_read(em[i].ready.rd, &c, 1, H_LONG_MS), 0);
	}
	/* all joined before anyone emits: every round has all three */
	h_stat(b, &st);
	assert_int_equal(st.emitters, MANY_EMITTERS);
	assert_int_equal(st.consumers, MANY_CONSUMERS);
	h_gate_open(&gate);
	for (i = 0; i < MANY_EMITTERS; i++)
		h_expect_exit(epid[i], 0, 100000);
	for (i = 0; i < MANY_CONSUMERS; i++)
		h_expect_exit(cpid[i], 0, 100000);

	h_stat(b, &st);
	assert_int_equal(st.rounds_opened, MANY_ROUNDS);
	assert_int_equal(st.rounds_resolved, MANY_ROUNDS);
	assert_int_equal(st.rounds_timedout + st.rounds_cancelled +
				 st.rounds_ownerdead,
			 0);
	assert_int_equal(st.emits, MANY_ROUNDS * MANY_EMITTERS);
	/* counted per round or per consumer, but counted */
	assert_true(st.deliveries == MANY_ROUNDS ||
		    st.deliveries == MANY_ROUNDS * MANY_CONSUMERS);
	assert_int_equal(st.records_free, 8);

	for (i = 0; i < MANY_CONSUMERS; i++)
		h_pipe_close(&co[i].ready);
	for (i = 0; i < MANY_EMITTERS; i++)
		h_pipe_close(&em[i].ready);
	h_gate_close(&gate);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- scripted scenarios ------------------------------------------------- */

static void expect_delivery(struct h_peer *p, uint64_t round, int outcome,
			    unsigned int count)
{
	struct h_res r;

	h_peer_consume(p, H_LONG_MS, &r);
	if (r.rc != 0)
		fail_msg("peer %d: consume, want round %llu: %d (%s)",
			 (int)p->pid, (unsigned long long)round, r.rc,
			 pooter_strerror(r.rc));
	if (r.round != round || r.outcome != outcome || r.count != count)
		fail_msg("peer %d: got round %llu outcome %d count %u, want "
			 "round %llu outcome %d count %u",
			 (int)p->pid, (unsigned long long)r.round, r.outcome,
			 r.count, (unsigned long long)round, outcome, count);
	assert_true(r.aligned);
}

static void expect_nothing(struct h_peer *p)
{
	struct h_res r;

	h_peer_consume(p, 0, &r);
	if (r.rc != -ETIMEDOUT)
		fail_msg("peer %d: expected nothing more, consume gave %d "
			 "round %llu",
			 (int)p->pid, r.rc, (unsigned long long)r.round);
}

static void consume_release(struct h_peer *p, uint64_t round, int outcome,
			    unsigned int count)
{
	expect_delivery(p, round, outcome, count);
	assert_int_equal(h_peer_release(p, round), 0);
}

static void test_late_consumer(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct h_peer e, f, c, d;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	uint64_t round, i;
	unsigned int one = 1;
	struct h_res r;

	b = h_create(name, &attr);
	h_peer_start(&e, name);
	h_peer_start(&f, name);
	h_peer_start(&c, name);
	h_peer_start(&d, name);
	assert_int_equal(h_peer_join_emitter(&e, "e", 0), 0);
	for (i = 1; i <= 3; i++) {
		assert_int_equal(h_peer_emit(&e, "early", &round), 0);
		assert_int_equal(round, i);
	}
	assert_int_equal(h_peer_join_consumer(&c, "c", 0), 0);
	expect_nothing(&c); /* rounds before it joined are not its */
	for (i = 4; i <= 6; i++) {
		assert_int_equal(h_peer_emit(&e, "later", &round), 0);
		assert_int_equal(round, i);
	}

	/* a consumer joining while a round is open gets that round */
	assert_int_equal(h_peer_join_emitter(&f, "f", 0), 0);
	h_peer_emit_async(&e, "seven");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);
	assert_int_equal(st.round, 7);
	assert_int_equal(h_peer_join_consumer(&d, "d", 0), 0);
	assert_int_equal(h_peer_emit(&f, "seven", &round), 0);
	assert_int_equal(round, 7);
	h_peer_res(&e, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.round, 7);

	for (i = 4; i <= 6; i++)
		consume_release(&c, i, 0, 1);
	consume_release(&c, 7, 0, 2);
	expect_nothing(&c);
	consume_release(&d, 7, 0, 2);
	expect_nothing(&d);

	h_peer_stop(&e);
	h_peer_stop(&f);
	h_peer_stop(&c);
	h_peer_stop(&d);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_ring_full_eagain(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .depth = 3, .timeout_ms = 300);
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer e, c;
	struct h_res r;
	uint64_t round, i;

	b = h_create(name, &attr);
	h_peer_start(&e, name);
	h_peer_start(&c, name);
	assert_int_equal(h_peer_join_emitter(&e, "e", 0), 0);
	assert_int_equal(h_peer_join_consumer(&c, "c", 0), 0);

	assert_int_equal(h_peer_emit(&e, "r1", &round), 0);
	assert_int_equal(round, 1);
	expect_delivery(&c, 1, 0, 1); /* and hold it */
	for (i = 2; i <= 3; i++) {
		assert_int_equal(h_peer_emit(&e, "rN", &round), 0);
		assert_int_equal(round, i);
	}
	h_stat(b, &st);
	assert_int_equal(st.records_free, 0);

	/* the next-but-depth emit: no record for a whole timeout */
	h_peer_emit_async(&e, "r4");
	h_peer_res(&e, &r, H_LONG_MS);
	assert_int_equal(r.rc, -EAGAIN);
	assert_true(r.round == H_ROUND_UNTOUCHED);
	assert_true(r.t_end_ns - r.t_start_ns >= 300 * H_NS_PER_MS);
	assert_true(r.t_end_ns - r.t_start_ns <
		    (300 + H_SLACK_MS) * H_NS_PER_MS);
	h_stat(b, &st);
	assert_int_equal(st.rounds_opened, 3);
	assert_int_equal(st.round, 3);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.emits, 3);

	/* releasing lets rounds go on, and nothing was lost */
	assert_int_equal(h_peer_release(&c, 1), 0);
	assert_int_equal(h_peer_emit(&e, "r4", &round), 0);
	assert_int_equal(round, 4);
	for (i = 2; i <= 4; i++)
		consume_release(&c, i, 0, 1);
	for (i = 5; i <= 8; i++) {
		assert_int_equal(h_peer_emit(&e, "rN", &round), 0);
		assert_int_equal(round, i);
		consume_release(&c, i, 0, 1);
	}
	expect_nothing(&c);
	h_stat(b, &st);
	assert_int_equal(st.rounds_resolved, 8);
	assert_int_equal(st.records_free, 3);

	h_peer_stop(&e);
	h_peer_stop(&c);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_ring_release_wakes_emitter(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .depth = 2,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer e, c;
	uint64_t round, t_release;
	struct h_res r;

	b = h_create(name, &attr);
	h_peer_start(&e, name);
	h_peer_start(&c, name);
	assert_int_equal(h_peer_join_emitter(&e, "e", 0), 0);
	assert_int_equal(h_peer_join_consumer(&c, "c", 0), 0);
	assert_int_equal(h_peer_emit(&e, "r1", &round), 0);
	expect_delivery(&c, 1, 0, 1);
	assert_int_equal(h_peer_emit(&e, "r2", &round), 0);

	/* the ring is full: this emit waits for a record */
	h_peer_emit_async(&e, "r3");
	h_blocked_in_call(e.pid, 2000);
	assert_false(h_peer_pending(&e));
	h_stat(b, &st);
	assert_int_equal(st.rounds_opened, 2);

	t_release = h_now_ns();
	assert_int_equal(h_peer_release(&c, 1), 0);
	h_peer_res(&e, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.round, 3);
	assert_true(r.t_end_ns >= t_release);
	/* woken by the release, not by its 10 s timeout */
	assert_true(r.t_end_ns - r.t_start_ns <
		    (uint64_t)H_ROUND_LONG_MS * H_NS_PER_MS);
	consume_release(&c, 2, 0, 1);
	consume_release(&c, 3, 0, 1);
	expect_nothing(&c);

	h_peer_stop(&e);
	h_peer_stop(&c);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_hold_many_release_any_order(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .depth = 4,
		    .timeout_ms = H_ROUND_LONG_MS);
	static const uint64_t order[] = { 3, 1, 4, 2 };
	struct pooter_broker_stat st;
	struct h_cmd cmd;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer e, c;
	struct h_res r;
	uint64_t i;

	b = h_create(name, &attr);
	h_peer_start(&e, name);
	h_peer_start(&c, name);
	assert_int_equal(h_peer_join_emitter(&e, "e", 0), 0);
	assert_int_equal(h_peer_join_consumer(&c, "c", 0), 0);
	for (i = 1; i <= 4; i++) {
		assert_int_equal(h_peer_emit(&e, "x", NULL), 0);
		expect_delivery(&c, i, 0, 1); /* held, all four */
	}
	h_peer_consume(&c, 1000, &r);
	assert_int_equal(r.rc, -ENOBUFS);
	h_stat(b, &st);
	assert_int_equal(st.records_free, 0);

	for (i = 0; i < 4; i++)
		assert_int_equal(h_peer_release(&c, order[i]), 0);
	/* releasing what it no longer holds */
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = H_OP_RELEASE;
	cmd.flags = 1;
	h_peer_send(&c, &cmd);
	h_peer_res(&c, &r, H_LONG_MS);
	assert_int_equal(r.rc, -EINVAL);
	h_stat(b, &st);
	assert_int_equal(st.records_free, 4);

	assert_int_equal(h_peer_emit(&e, "x", NULL), 0);
	consume_release(&c, 5, 0, 1);
	expect_nothing(&c);

	h_peer_stop(&e);
	h_peer_stop(&c);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_notices(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer a, e, n, p;
	unsigned int one = 1;
	struct h_res r;
	uint64_t round;

	b = h_create(name, &attr);
	h_peer_start(&a, name);
	h_peer_start(&e, name);
	h_peer_start(&n, name);
	h_peer_start(&p, name);
	assert_int_equal(h_peer_join_consumer(&n, "notices",
					      POOTER_CONSUMER_NOTICES),
			 0);
	assert_int_equal(h_peer_join_consumer(&p, "plain", 0), 0);
	assert_int_equal(h_peer_join_emitter(&a, "a", 0), 0);
	assert_int_equal(h_peer_join_emitter(&e, "b", 0), 0);

	/* 1: resolved */
	h_peer_emit_async(&a, "a1");
	assert_int_equal(h_peer_emit(&e, "b1", &round), 0);
	assert_int_equal(round, 1);
	h_peer_res(&a, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	/* 2: timed out, b never emits */
	assert_int_equal(pooter_broker_set_timeout(b, 300), 0);
	assert_int_equal(h_peer_emit(&a, "a2", &round), -ETIMEDOUT);
	assert_int_equal(round, 2);
	assert_int_equal(pooter_broker_set_timeout(b, H_ROUND_LONG_MS), 0);

	/* 3: resolved */
	h_peer_emit_async(&a, "a3");
	assert_int_equal(h_peer_emit(&e, "b3", &round), 0);
	assert_int_equal(round, 3);
	h_peer_res(&a, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	/* 4: cancelled by an operator */
	h_peer_emit_async(&a, "a4");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);
	assert_int_equal(pooter_round_cancel(b), 0);
	h_peer_res(&a, &r, H_LONG_MS);
	assert_int_equal(r.rc, -ECANCELED);
	assert_int_equal(r.round, 4);

	/* 5: resolved */
	h_peer_emit_async(&a, "a5");
	assert_int_equal(h_peer_emit(&e, "b5", &round), 0);
	assert_int_equal(round, 5);
	h_peer_res(&a, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	/* 6: b dies owing its emit */
	h_peer_emit_async(&a, "a6");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);
	h_kill(e.pid);
	h_peer_res(&a, &r, H_LONG_MS);
	assert_int_equal(r.rc, -EOWNERDEAD);
	assert_int_equal(r.round, 6);

	/* 7: a alone */
	assert_int_equal(h_peer_emit(&a, "a7", &round), 0);
	assert_int_equal(round, 7);

	consume_release(&n, 1, 0, 2);
	consume_release(&n, 2, -ETIMEDOUT, 0);
	consume_release(&n, 3, 0, 2);
	consume_release(&n, 4, -ECANCELED, 0);
	consume_release(&n, 5, 0, 2);
	consume_release(&n, 6, -EOWNERDEAD, 0);
	consume_release(&n, 7, 0, 1);
	expect_nothing(&n);

	consume_release(&p, 1, 0, 2);
	consume_release(&p, 3, 0, 2);
	consume_release(&p, 5, 0, 2);
	consume_release(&p, 7, 0, 1);
	expect_nothing(&p);

	h_stat(b, &st);
	assert_int_equal(st.rounds_resolved, 4);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.rounds_cancelled, 1);
	assert_int_equal(st.rounds_ownerdead, 1);

	h_peer_stop(&a);
	h_peer_stop(&n);
	h_peer_stop(&p);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- alignment ---------------------------------------------------------- */

#define ALIGN_ROUNDS 24
#define ALIGN_EMITTERS 3

static size_t align_len(uint64_t round, unsigned int idx)
{
	/* odd and irregular lengths, so no payload ends on a boundary */
	return 1 + (size_t)((round * 5 + idx * 11) % 97) * 2;
}

static void align_payload(char *buf, uint64_t round, unsigned int idx)
{
	size_t len = align_len(round, idx), i;

	for (i = 0; i < len; i++)
		buf[i] = (char)('a' + (round + idx + i) % 26);
	buf[len] = '\0';
}

struct align_child {
	const char *name;
	struct h_pipe ready;
};

static int child_align_consumer(void *arg)
{
	struct align_child *ac = arg;
	const struct pooter_delivery *d;
	struct pooter_broker *b;
	struct pooter_consumer *c;
	uint64_t want;

	C_EQ(pooter_broker_open(ac->name, &b), 0);
	C_EQ(pooter_consumer_join(b, "aligned", 0, &c), 0);
	C_EQ(h_write(ac->ready.wr, "r", 1), 0);
	for (want = 1; want <= ALIGN_ROUNDS; want++) {
		unsigned int i;

		C_EQ(pooter_consume(c, H_LONG_MS, &d), 0);
		C_EQ(d->round, want);
		C_EQ(d->count, ALIGN_EMITTERS);
		/* payloads array itself is usable, every payload aligned */
		for (i = 0; i < d->count; i++) {
			const struct pooter_payload *p = &d->payloads[i];
			char expect[256];
			unsigned int idx;

			if ((uintptr_t)p->data % alignof(max_align_t))
				h_child_fail(__FILE__, __LINE__,
					     "round %llu: payload of %s at %p "
					     "not aligned to %zu",
					     (unsigned long long)d->round,
					     p->emitter, p->data,
					     alignof(max_align_t));
			C_CHECK(p->emitter[0] == 'a' && p->emitter[1] >= '0' &&
				p->emitter[1] < '0' + ALIGN_EMITTERS);
			idx = (unsigned int)(p->emitter[1] - '0');
			align_payload(expect, d->round, idx);
			C_EQ(p->len, strlen(expect));
			C_CHECK(!memcmp(p->data, expect, p->len));
		}
		C_EQ(pooter_release(c, d), 0);
	}
	C_EQ(pooter_consumer_leave(c), 0);
	h_close(b);
	return 0;
}

static void run_alignment(unsigned int max_payload)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_payload = max_payload,
		    .depth = 4, .timeout_ms = H_ROUND_LONG_MS);
	struct h_peer em[ALIGN_EMITTERS];
	struct align_child ac;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	unsigned int i;
	uint64_t round;
	pid_t pid;
	char c;

	b = h_create(name, &attr);
	ac.name = name;
	h_pipe_init(&ac.ready);
	pid = h_spawn(child_align_consumer, &ac);
	assert_int_equal(h_read(ac.ready.rd, &c, 1, H_LONG_MS), 0);
	for (i = 0; i < ALIGN_EMITTERS; i++) {
		char en[8];

		snprintf(en, sizeof(en), "a%u", i);
		h_peer_start(&em[i], name);
		assert_int_equal(h_peer_join_emitter(&em[i], en, 0), 0);
	}
	for (round = 1; round <= ALIGN_ROUNDS; round++) {
		for (i = 0; i < ALIGN_EMITTERS; i++) {
			char buf[256];

			align_payload(buf, round, i);
			h_peer_emit_async(&em[i], buf);
		}
		for (i = 0; i < ALIGN_EMITTERS; i++) {
			struct h_res r;

			h_peer_res(&em[i], &r, H_LONG_MS);
			assert_int_equal(r.rc, 0);
			assert_int_equal(r.round, round);
		}
	}
	h_expect_ok(pid);
	for (i = 0; i < ALIGN_EMITTERS; i++)
		h_peer_stop(&em[i]);
	h_pipe_close(&ac.ready);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_alignment(void **state)
{
	/* capacities that are not multiples of the alignment, and one that is */
	run_alignment(193);
	run_alignment(200);
	run_alignment(257);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_thousand_rounds, h_teardown),
		cmocka_unit_test_teardown(test_late_consumer, h_teardown),
		cmocka_unit_test_teardown(test_ring_full_eagain, h_teardown),
		cmocka_unit_test_teardown(test_ring_release_wakes_emitter,
					  h_teardown),
		cmocka_unit_test_teardown(test_hold_many_release_any_order,
					  h_teardown),
		cmocka_unit_test_teardown(test_notices, h_teardown),
		cmocka_unit_test_teardown(test_alignment, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
