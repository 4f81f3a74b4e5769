// SPDX-License-Identifier: MIT
/*
 * test_loan.c - zero-copy emits: loans written in place and committed
 * (blocking and as tickets), aborted, outlived by their round, held by a
 * process that dies; and copying emits of large payloads in parallel,
 * whose bytes must arrive whole.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char bname[H_NAME_LEN];

/* The byte at i of emitter e's payload in round k. */
static unsigned char pattern(unsigned int e, uint64_t k, size_t i)
{
	return (unsigned char)((i * 131u) ^ (e * 29u) ^ (k * 7u) ^ (i >> 8));
}

static void fill(void *buf, size_t len, unsigned int e, uint64_t k)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern(e, k, i);
}

static int whole(const void *buf, size_t len, unsigned int e, uint64_t k)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(e, k, i))
			return 0;
	return 1;
}

/* The index of the payload emitted by name in d, or -1. */
static int payload_of(const struct pooter_delivery *d, const char *name)
{
	for (unsigned int i = 0; i < d->count; i++)
		if (strcmp(d->payloads[i].emitter, name) == 0)
			return (int)i;
	return -1;
}

/* --- a loan, committed -------------------------------------------------- */

struct loan_child {
	struct h_gate joined, go;
	size_t len;
};

/* Emitter "b": loan, fill, blocking commit, in the round "a" opened. */
static int loan_child_main(void *argp)
{
	struct loan_child *a = argp;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	uint64_t round = 0;
	void *buf;

	C_EQ(pooter_broker_open(bname, &b), 0);
	C_EQ(pooter_emitter_join(b, "b", 0, &e), 0);
	h_gate_open(&a->joined);
	h_gate_wait(&a->go);
	C_EQ(pooter_emit_loan(e, a->len, 0, &buf), 0);
	C_EQ((uintptr_t)buf % 64, 0);
	fill(buf, a->len, 1, 1);
	C_EQ(pooter_emit_commit(e, buf, a->len, &round), 0);
	C_EQ(round, 1);
	C_EQ(pooter_emitter_leave(e), 0);
	h_close(b);
	return 0;
}

static void test_loan_resolves(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_payload = 65536, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_broker_stat st;
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	struct pooter_broker *b;
	struct loan_child a = { .len = 40000 };
	struct pooter_ticket t;
	void *buf;
	pid_t pid;
	int i;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	h_gate_init(&a.joined);
	h_gate_init(&a.go);
	pid = h_spawn(loan_child_main, &a);
	h_gate_wait(&a.joined);

	/* the loan opens the round; commit fewer bytes than lent */
	assert_int_equal(pooter_emit_loan(e, 65536, 0, &buf), 0);
	assert_int_equal((uintptr_t)buf % 64, 0);
	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round_emitted, 0);
	fill(buf, 1000, 0, 1);
	assert_int_equal(pooter_emit_commit_submit(e, buf, 1000, &t), 0);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.outcome, -EINPROGRESS);
	h_gate_open(&a.go);
	assert_int_equal(pooter_ticket_wait(&t), 0);
	h_expect_ok(pid);

	assert_int_equal(pooter_consume(c, H_LONG_MS, &d), 0);
	assert_int_equal(d->round, 1);
	assert_int_equal(d->count, 2);
	i = payload_of(d, "a");
	assert_true(i >= 0);
	assert_int_equal(d->payloads[i].len, 1000);
	assert_true(whole(d->payloads[i].data, 1000, 0, 1));
	i = payload_of(d, "b");
	assert_true(i >= 0);
	assert_int_equal(d->payloads[i].len, a.len);
	assert_true(whole(d->payloads[i].data, a.len, 1, 1));
	assert_int_equal(pooter_release(c, d), 0);
	h_stat(b, &st);
	assert_int_equal(st.emits, 2);
	assert_int_equal(st.rounds_resolved, 1);

	pooter_emitter_leave(e);
	pooter_consumer_leave(c);
	h_gate_close(&a.joined);
	h_gate_close(&a.go);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

/* --- the rules ---------------------------------------------------------- */

static void test_loan_errors(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_payload = 256, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_emitter *e, *other;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_ticket t;
	char local[16];
	void *buf, *buf2;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	assert_int_equal(pooter_emitter_join(b, "b", 0, &other), 0);

	assert_int_equal(pooter_emit_loan(NULL, 1, 0, &buf), -EINVAL);
	assert_int_equal(pooter_emit_loan(e, 1, 0, NULL), -EINVAL);
	assert_int_equal(pooter_emit_loan(e, 1, 0x80, &buf), -EINVAL);
	assert_int_equal(pooter_emit_loan(e, 257, 0, &buf), -EMSGSIZE);
	h_stat(b, &st);
	assert_int_equal(st.rounds_opened, 0); /* EMSGSIZE opens nothing */

	assert_int_equal(pooter_emit_loan(e, 256, 0, &buf), 0);
	assert_int_equal(pooter_emit_loan(e, 16, 0, &buf2), -EBUSY);
	assert_int_equal(pooter_emit_submit(e, "x", 1, &t), -EBUSY);
	assert_int_equal(pooter_emit_commit_submit(e, local, 1, &t), -EINVAL);
	assert_int_equal(pooter_emit_commit_submit(e, buf, 257, &t), -EINVAL);
	assert_int_equal(pooter_emit_abort(e, local), -EINVAL);
	assert_int_equal(pooter_emit_abort(e, buf), 0);
	assert_int_equal(pooter_emit_abort(e, buf), -EINVAL);
	assert_int_equal(pooter_emit_commit_submit(e, buf, 1, &t), -EINVAL);

	/* aborted: the emit is still owed, and a copy may make it */
	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round_emitted, 0);
	assert_int_equal(pooter_emit_submit(e, "x", 1, &t), 0);
	assert_int_equal(t.round, 1);
	assert_int_equal(pooter_emit_loan(e, 16, 0, &buf), -EALREADY);

	/* the other emitter's loan of zero bytes resolves the round */
	assert_int_equal(pooter_emit_loan(other, 0, 0, &buf2), 0);
	assert_int_equal(pooter_emit_commit_submit(other, buf2, 0, &t), 0);
	assert_int_equal(t.outcome, 0);
	h_stat(b, &st);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.emits, 2);

	pooter_emitter_leave(e);
	pooter_emitter_leave(other);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

/* A full ring: at once with POOTER_LOAN_NOWAIT. */
static void test_loan_nowait(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 1, .depth = 1,
		    .max_payload = 64, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	void *buf;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	assert_int_equal(pooter_emit(e, "1", 1, NULL), 0);
	assert_int_equal(pooter_consume(c, 0, &d), 0); /* holds the record */
	assert_int_equal(pooter_emit_loan(e, 8, POOTER_LOAN_NOWAIT, &buf),
			 -EAGAIN);
	assert_int_equal(pooter_release(c, d), 0);
	assert_int_equal(pooter_emit_loan(e, 8, POOTER_LOAN_NOWAIT, &buf), 0);
	memcpy(buf, "loaned!", 8);
	assert_int_equal(pooter_emit_commit(e, buf, 8, NULL), 0);
	assert_int_equal(pooter_consume(c, 0, &d), 0);
	assert_int_equal(d->count, 1);
	assert_string_equal(d->payloads[0].data, "loaned!");
	assert_int_equal(pooter_release(c, d), 0);
	pooter_emitter_leave(e);
	pooter_consumer_leave(c);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

/*
 * The loan's round times out, and two more rounds come and go, before the
 * commit: it settles with round 1's outcome, kept in the slot for it.
 */
static void test_loan_outlived(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_payload = 64, .timeout_ms = 50);
	struct pooter_emitter *e, *other;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_ticket t, t2;
	uint64_t round = 0;
	void *buf;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	assert_int_equal(pooter_emitter_join(b, "b", 0, &other), 0);
	assert_int_equal(pooter_emit_loan(e, 8, 0, &buf), 0);
	memcpy(buf, "late", 5);
	/* "b" emits in round 1; it times out without "a" */
	assert_int_equal(pooter_emit_submit(other, "b1", 2, &t2), 0);
	assert_int_equal(t2.round, 1);
	assert_int_equal(pooter_ticket_wait(&t2), -ETIMEDOUT);
	/* rounds 2 and 3: opened by "b", timed out too */
	for (uint64_t k = 2; k <= 3; k++) {
		assert_int_equal(pooter_emit_submit(other, "b", 1, &t2), 0);
		assert_int_equal(t2.round, k);
		assert_int_equal(pooter_ticket_wait(&t2), -ETIMEDOUT);
	}
	assert_int_equal(pooter_emit_commit(e, buf, 5, &round), -ETIMEDOUT);
	assert_int_equal(round, 1);
	h_stat(b, &st);
	assert_int_equal(st.emits, 3); /* the loan never counted */
	assert_int_equal(st.rounds_timedout, 3);

	/* the loan is used up; a new one is in a new round */
	assert_int_equal(pooter_emit_commit_submit(e, buf, 5, &t), -EINVAL);
	assert_int_equal(pooter_emit_loan(e, 8, 0, &buf), 0);
	assert_int_equal(pooter_emit_commit_submit(e, buf, 1, &t), 0);
	assert_int_equal(t.round, 4);
	assert_int_equal(pooter_emit_submit(other, "b", 1, &t2), 0);
	assert_int_equal(pooter_ticket_wait(&t2), 0);
	assert_int_equal(pooter_ticket_wait(&t), 0);

	pooter_emitter_leave(e);
	pooter_emitter_leave(other);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

/* --- death while holding a loan ----------------------------------------- */

struct dying {
	struct h_gate joined, go;
	struct h_pipe wrote;
};

/* Takes a loan in the open round, writes half of it, dies. */
static int dying_main(void *argp)
{
	struct dying *a = argp;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	void *buf;

	C_EQ(pooter_broker_open(bname, &b), 0);
	C_EQ(pooter_emitter_join(b, "dying", 0, &e), 0);
	h_gate_open(&a->joined);
	h_gate_wait(&a->go);
	C_EQ(pooter_emit_loan(e, 4096, 0, &buf), 0);
	fill(buf, 2048, 2, 1);
	C_EQ(h_write(a->wrote.wr, "w", 1), 0);
	raise(SIGKILL);
	return 1;
}

static void test_loan_death(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_payload = 4096, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct pooter_ticket t;
	struct dying a;
	int status;
	char byte;
	pid_t pid;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
	h_gate_init(&a.joined);
	h_gate_init(&a.go);
	h_pipe_init(&a.wrote);
	pid = h_spawn(dying_main, &a);
	h_gate_wait(&a.joined);
	assert_int_equal(pooter_emit_submit(e, "a1", 3, &t), 0);
	assert_int_equal(t.round, 1);
	h_gate_open(&a.go);
	assert_int_equal(h_read(a.wrote.rd, &byte, 1, H_LONG_MS), 0);
	/* it dies holding the loan: the round is cancelled, not delivered */
	assert_int_equal(pooter_ticket_wait(&t), -EOWNERDEAD);
	status = h_wait(pid, H_LONG_MS);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(pooter_consume(c, 0, &d), -ETIMEDOUT);
	h_stat(b, &st);
	assert_int_equal(st.rounds_ownerdead, 1);
	assert_int_equal(st.emits, 1);

	/* the next round, without it, is whole */
	assert_int_equal(pooter_emit(e, "a2", 3, NULL), 0);
	assert_int_equal(pooter_consume(c, 0, &d), 0);
	assert_int_equal(d->round, 2);
	assert_int_equal(d->count, 1);
	assert_string_equal(d->payloads[0].data, "a2");
	assert_int_equal(pooter_release(c, d), 0);

	pooter_emitter_leave(e);
	pooter_consumer_leave(c);
	h_gate_close(&a.joined);
	h_gate_close(&a.go);
	h_pipe_close(&a.wrote);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

/* --- large copies in parallel, and a slot given out mid-round ----------- */

#define BIG (1u << 20)
#define BIG_ROUNDS 40

struct big {
	unsigned int index;
	int loans; /* emit through loans */
	struct h_pipe *joined;
	struct h_gate *go;
};

static int big_emitter_main(void *argp)
{
	struct big *a = argp;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	unsigned char *src = malloc(BIG);
	char name[8];

	C_CHECK(src);
	C_EQ(pooter_broker_open(bname, &b), 0);
	snprintf(name, sizeof(name), "e%u", a->index);
	C_EQ(pooter_emitter_join(b, name, 0, &e), 0);
	C_EQ(h_write(a->joined->wr, "j", 1), 0);
	h_gate_wait(a->go);
	for (uint64_t k = 1; k <= BIG_ROUNDS; k++) {
		/* lengths vary, so a torn or stale area shows */
		size_t len = BIG - (size_t)((k * 4099u + a->index) % 8192u);
		uint64_t round = 0;

		if (a->loans && k % 2) {
			void *buf;

			C_EQ(pooter_emit_loan(e, len, 0, &buf), 0);
			fill(buf, len, a->index, k);
			C_EQ(pooter_emit_commit(e, buf, len, &round), 0);
		} else {
			fill(src, len, a->index, k);
			C_EQ(pooter_emit(e, src, len, &round), 0);
		}
		C_EQ(round, k);
	}
	C_EQ(pooter_emitter_leave(e), 0);
	h_close(b);
	free(src);
	return 0;
}

static void big_run(int loans)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_payload = BIG, .depth = 4,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_consumer *c;
	struct pooter_broker *b;
	struct h_pipe joined;
	struct h_gate go;
	struct big a[2];
	pid_t pid[2];
	char byte;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	h_pipe_init(&joined);
	h_gate_init(&go);
	for (unsigned int i = 0; i < 2; i++) {
		a[i] = (struct big){ i, loans && i == 1, &joined, &go };
		pid[i] = h_spawn(big_emitter_main, &a[i]);
	}
	for (unsigned int i = 0; i < 2; i++)
		assert_int_equal(h_read(joined.rd, &byte, 1, H_LONG_MS), 0);
	h_gate_open(&go);
	for (uint64_t k = 1; k <= BIG_ROUNDS; k++) {
		const struct pooter_delivery *d;

		assert_int_equal(pooter_consume(c, H_LONG_MS, &d), 0);
		assert_int_equal(d->round, k);
		assert_int_equal(d->outcome, 0);
		assert_int_equal(d->count, 2);
		for (unsigned int i = 0; i < 2; i++) {
			char name[8];
			size_t len = BIG - (size_t)((k * 4099u + i) % 8192u);
			int j;

			snprintf(name, sizeof(name), "e%u", i);
			j = payload_of(d, name);
			assert_true(j >= 0);
			assert_int_equal(d->payloads[j].len, len);
			assert_int_equal((uintptr_t)d->payloads[j].data % 64,
					 0);
			if (!whole(d->payloads[j].data, len, i, k))
				fail_msg("round %llu: %s's payload is torn",
					 (unsigned long long)k, name);
		}
		assert_int_equal(pooter_release(c, d), 0);
	}
	for (unsigned int i = 0; i < 2; i++)
		h_expect_ok(pid[i]);
	pooter_consumer_leave(c);
	h_pipe_close(&joined);
	h_gate_close(&go);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

static void test_big_copies_whole(void **state)
{
	big_run(0);
}

static void test_big_loans_whole(void **state)
{
	big_run(1);
}

/*
 * Quorum 3: "x" emits in round 1 and leaves while the round is open and
 * taking joins.  Its entry names its slot's area, so a joiner must not get
 * that slot while round 1 is open, or its copy would overwrite x's payload.
 */
static void test_slot_reuse_mid_round(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 3, .quorum = 3,
		    .max_payload = 64, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_emitter *x, *y, *z, *w;
	const struct pooter_delivery *d;
	struct pooter_consumer *c;
	struct pooter_broker *b;
	struct pooter_ticket ty, tz;
	int i;

	b = h_create(bname, &attr);
	assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
	assert_int_equal(pooter_emitter_join(b, "x", 0, &x), 0);
	assert_int_equal(pooter_emit_submit(x, "from x", 7, &ty), 0);
	assert_int_equal(pooter_emitter_leave(x), 0);
	assert_int_equal(pooter_emitter_join(b, "y", 0, &y), 0);
	assert_int_equal(pooter_emit_submit(y, "from y", 7, &ty), 0);
	assert_int_equal(pooter_emitter_join(b, "z", 0, &z), 0);
	/* every free slot left held x's payload: not before round 1 ends */
	assert_int_equal(pooter_emitter_join(b, "w", 0, &w), -EBUSY);
	assert_int_equal(pooter_emit_submit(z, "from z", 7, &tz), 0);
	assert_int_equal(tz.outcome, 0);
	assert_int_equal(pooter_ticket_wait(&ty), 0);

	assert_int_equal(pooter_consume(c, 0, &d), 0);
	assert_int_equal(d->count, 3);
	i = payload_of(d, "x");
	assert_true(i >= 0);
	assert_string_equal(d->payloads[i].data, "from x");
	i = payload_of(d, "y");
	assert_true(i >= 0);
	assert_string_equal(d->payloads[i].data, "from y");
	assert_int_equal(pooter_release(c, d), 0);
	pooter_emitter_leave(y);
	pooter_emitter_leave(z);
	pooter_consumer_leave(c);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(bname), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_loan_resolves, h_teardown),
		cmocka_unit_test_teardown(test_loan_errors, h_teardown),
		cmocka_unit_test_teardown(test_loan_nowait, h_teardown),
		cmocka_unit_test_teardown(test_loan_outlived, h_teardown),
		cmocka_unit_test_teardown(test_loan_death, h_teardown),
		cmocka_unit_test_teardown(test_big_copies_whole, h_teardown),
		cmocka_unit_test_teardown(test_big_loans_whole, h_teardown),
		cmocka_unit_test_teardown(test_slot_reuse_mid_round,
					  h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
