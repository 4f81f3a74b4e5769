// SPDX-License-Identifier: MIT
/*
 * test_broker.c - brokers: create, open, bad input, races, stat, foreach,
 * members, gc, check, unlink.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "harness.h"
#include "layout.h"

static void shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/dev/shm/pooter.%s", name);
}

static int is_uuidv7(const char *s)
{
	static const char *pat = "xxxxxxxx-xxxx-7xxx-Vxxx-xxxxxxxxxxxx";
	unsigned int i;

	if (strlen(s) != strlen(pat))
		return 0;
	for (i = 0; pat[i]; i++) {
		char c = s[i];
		int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			  (c >= 'A' && c <= 'F');

		switch (pat[i]) {
		case '-':
		case '7':
			if (c != pat[i])
				return 0;
			break;
		case 'V': /* RFC 9562 variant: 10xx */
			if (!strchr("89abAB", c))
				return 0;
			break;
		default:
			if (!hex)
				return 0;
		}
	}
	return 1;
}

/* --- create, open, stat ------------------------------------------------- */

struct member_seen {
	pid_t pid;
	int emitters;
	int consumers;
	int alive;
	int dead;
};

static int count_members(const struct pooter_member_info *m, void *arg)
{
	struct member_seen *s = arg;

	if (m->pid != s->pid)
		return 0;
	if (m->kind == POOTER_MEMBER_EMITTER && !strcmp(m->name, "e1"))
		s->emitters++;
	if (m->kind == POOTER_MEMBER_CONSUMER && !strcmp(m->name, "c1"))
		s->consumers++;
	if (m->alive)
		s->alive++;
	else
		s->dead++;
	return 0;
}

struct open_child {
	const char *name;
	struct h_pipe ready;
	struct h_gate gate;
};

static int child_open_and_join(void *arg)
{
	struct open_child *oc = arg;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	struct pooter_consumer *c;

	C_EQ(pooter_broker_open(oc->name, &b), 0);
	C_CHECK(!strcmp(pooter_broker_name(b), oc->name));
	C_EQ(pooter_broker_stat(b, &st), 0);
	C_EQ(st.max_emitters, 5);
	C_EQ(st.max_consumers, 3);
	C_EQ(st.max_payload, 100);
	C_EQ(st.depth, 4);
	C_EQ(st.timeout_ms, 1234);
	C_EQ(st.quorum, 2);
	C_EQ(pooter_emitter_join(b, "e1", 0, &e), 0);
	C_CHECK(!strcmp(pooter_emitter_name(e), "e1"));
	C_EQ(pooter_consumer_join(b, "c1", 0, &c), 0);
	C_CHECK(!strcmp(pooter_consumer_name(c), "c1"));
	C_EQ(h_write(oc->ready.wr, "r", 1), 0);
	h_gate_wait(&oc->gate);
	C_EQ(pooter_emitter_leave(e), 0);
	C_EQ(pooter_consumer_leave(c), 0);
	h_close(b);
	return 0;
}

static void test_create_open_stat(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 5,
		    .max_consumers = 3, .max_payload = 100, .depth = 4,
		    .timeout_ms = 1234, .quorum = 2);
	struct pooter_broker_stat st;
	struct member_seen seen;
	char name[H_NAME_LEN];
	struct open_child oc;
	struct pooter_broker *b;
	pid_t pid;
	char c;

	b = h_create(name, &attr);
	assert_string_equal(pooter_broker_name(b), name);
	h_stat(b, &st);
	assert_int_equal(st.max_emitters, 5);
	assert_int_equal(st.max_consumers, 3);
	assert_int_equal(st.max_payload, 100);
	assert_int_equal(st.depth, 4);
	assert_int_equal(st.timeout_ms, 1234);
	assert_int_equal(st.quorum, 2);
	assert_true(st.segment_size > 0);
	assert_int_equal(st.emitters, 0);
	assert_int_equal(st.consumers, 0);
	assert_int_equal(st.round_state, POOTER_ROUND_NONE);
	assert_int_equal(st.round, 0);
	assert_int_equal(st.records_free, 4);
	assert_int_equal(st.rounds_opened, 0);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.emits, 0);
	assert_int_equal(st.deliveries, 0);

	/* the file is at least as big as the segment */
	{
		char path[128];
		struct stat sb;

		shm_path(path, sizeof(path), name);
		assert_int_equal(stat(path, &sb), 0);
		assert_true((uint64_t)sb.st_size >= st.segment_size);
	}

	oc.name = name;
	h_pipe_init(&oc.ready);
	h_gate_init(&oc.gate);
	pid = h_spawn(child_open_and_join, &oc);
	assert_int_equal(h_read(oc.ready.rd, &c, 1, H_LONG_MS), 0);

	h_stat(b, &st);
	assert_int_equal(st.emitters, 1);
	assert_int_equal(st.consumers, 1);
	memset(&seen, 0, sizeof(seen));
	seen.pid = pid;
	assert_int_equal(pooter_broker_foreach_member(b, count_members, &seen),
			 0);
	assert_int_equal(seen.emitters, 1);
	assert_int_equal(seen.consumers, 1);
	assert_int_equal(seen.alive, 2);
	assert_int_equal(seen.dead, 0);

	h_gate_open(&oc.gate);
	h_expect_ok(pid);
	h_stat(b, &st);
	assert_int_equal(st.emitters, 0);
	assert_int_equal(st.consumers, 0);

	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
	assert_int_equal(pooter_broker_open(name, &b), -ENOENT);
	h_pipe_close(&oc.ready);
	h_gate_close(&oc.gate);
}

static void expect_defaults(struct pooter_broker *b)
{
	struct pooter_broker_stat st;

	h_stat(b, &st);
	assert_int_equal(st.max_emitters, POOTER_DEFAULT_EMITTERS);
	assert_int_equal(st.max_consumers, POOTER_DEFAULT_CONSUMERS);
	assert_int_equal(st.max_payload, POOTER_DEFAULT_PAYLOAD);
	assert_int_equal(st.depth, POOTER_DEFAULT_DEPTH);
	assert_int_equal(st.timeout_ms, POOTER_DEFAULT_TIMEOUT_MS);
	assert_int_equal(st.quorum, 0);
}

static unsigned int file_mode(const char *name)
{
	char path[128];
	struct stat sb;

	shm_path(path, sizeof(path), name);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static void test_defaults_and_mode(void **state)
{
	POOTER_OPTS(pooter_broker_attr, zero);
	POOTER_OPTS(pooter_broker_attr, m, .mode = 0640);
	char n1[H_NAME_LEN], n2[H_NAME_LEN], n3[H_NAME_LEN];
	struct pooter_broker *b1, *b2, *b3;
	mode_t old = umask(022);

	b1 = h_create(n1, NULL);
	expect_defaults(b1);
	assert_int_equal(file_mode(n1), POOTER_DEFAULT_MODE);
	b2 = h_create(n2, &zero);
	expect_defaults(b2);
	assert_int_equal(file_mode(n2), POOTER_DEFAULT_MODE);
	b3 = h_create(n3, &m);
	assert_int_equal(file_mode(n3), 0640);
	umask(old);

	h_close(b1);
	h_close(b2);
	h_close(b3);
	assert_int_equal(pooter_broker_unlink(n1), 0);
	assert_int_equal(pooter_broker_unlink(n2), 0);
	assert_int_equal(pooter_broker_unlink(n3), 0);
}

static void test_generated_names(void **state)
{
	struct pooter_broker *b1, *b2, *o;
	struct pooter_emitter *e1, *e2;
	struct pooter_consumer *c;
	char n1[H_NAME_LEN], n2[H_NAME_LEN];
	struct pooter_broker_stat st;

	assert_int_equal(pooter_broker_create(NULL, NULL, &b1), 0);
	snprintf(n1, sizeof(n1), "%s", pooter_broker_name(b1));
	h_remember_broker(n1);
	assert_int_equal(pooter_broker_create(NULL, NULL, &b2), 0);
	snprintf(n2, sizeof(n2), "%s", pooter_broker_name(b2));
	h_remember_broker(n2);
	assert_true(is_uuidv7(n1));
	assert_true(is_uuidv7(n2));
	assert_string_not_equal(n1, n2);

	assert_int_equal(pooter_broker_open(n1, &o), 0);
	assert_string_equal(pooter_broker_name(o), n1);

	assert_int_equal(pooter_emitter_join(o, NULL, 0, &e1), 0);
	assert_int_equal(pooter_emitter_join(o, NULL, 0, &e2), 0);
	assert_true(is_uuidv7(pooter_emitter_name(e1)));
	assert_true(is_uuidv7(pooter_emitter_name(e2)));
	assert_string_not_equal(pooter_emitter_name(e1),
				pooter_emitter_name(e2));
	assert_int_equal(pooter_consumer_join(o, NULL, 0, &c), 0);
	assert_true(is_uuidv7(pooter_consumer_name(c)));
	h_stat(b1, &st);
	assert_int_equal(st.emitters, 2);
	assert_int_equal(st.consumers, 1);
	assert_int_equal(pooter_emitter_leave(e1), 0);
	assert_int_equal(pooter_emitter_leave(e2), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);

	h_close(o);
	h_close(b1);
	h_close(b2);
	assert_int_equal(pooter_broker_unlink(n1), 0);
	assert_int_equal(pooter_broker_unlink(n2), 0);
}

/* --- bad input ---------------------------------------------------------- */

static const char *const bad_names[] = {
	"",	 ".",	       ".hidden",   "a/b",
	"a b",	 "tab\there",  "new\nline", "caf\xc3\xa9",
	"star*", "semi;colon", "../escape", "pooter/x",
};

static void test_bad_names(void **state)
{
	char toolong[POOTER_NAME_MAX + 2], longest[POOTER_NAME_MAX + 1];
	char name[H_NAME_LEN], okname[H_NAME_LEN];
	struct pooter_broker *b, *x = NULL;
	struct pooter_emitter *e = NULL;
	struct pooter_consumer *c = NULL;
	unsigned int i;
	size_t n;

	b = h_create(name, NULL);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		const char *bad = bad_names[i];

		if (pooter_broker_create(bad, NULL, &x) != -EINVAL)
			fail_msg("create \"%s\" not -EINVAL", bad);
		if (pooter_broker_open(bad, &x) != -EINVAL)
			fail_msg("open \"%s\" not -EINVAL", bad);
		if (pooter_emitter_join(b, bad, 0, &e) != -EINVAL)
			fail_msg("emitter_join \"%s\" not -EINVAL", bad);
		if (pooter_consumer_join(b, bad, 0, &c) != -EINVAL)
			fail_msg("consumer_join \"%s\" not -EINVAL", bad);
	}

	/* 64 bytes: too long; 63 bytes: the longest name */
	n = (size_t)snprintf(longest, sizeof(longest), "t-%d-long-", getpid());
	memset(longest + n, 'x', sizeof(longest) - 1 - n);
	longest[POOTER_NAME_MAX] = '\0';
	memcpy(toolong, longest, POOTER_NAME_MAX);
	toolong[POOTER_NAME_MAX] = 'y';
	toolong[POOTER_NAME_MAX + 1] = '\0';
	assert_int_equal(strlen(longest), 63);
	assert_int_equal(strlen(toolong), 64);

	assert_int_equal(pooter_broker_create(toolong, NULL, &x),
			 -ENAMETOOLONG);
	assert_int_equal(pooter_broker_open(toolong, &x), -ENAMETOOLONG);
	assert_int_equal(pooter_emitter_join(b, toolong, 0, &e), -ENAMETOOLONG);
	assert_int_equal(pooter_consumer_join(b, toolong, 0, &c),
			 -ENAMETOOLONG);

	h_remember_broker(longest);
	pooter_broker_unlink(longest);
	assert_int_equal(pooter_broker_create(longest, NULL, &x), 0);
	assert_string_equal(pooter_broker_name(x), longest);
	h_close(x);
	assert_int_equal(pooter_broker_open(longest, &x), 0);
	h_close(x);
	assert_int_equal(pooter_broker_unlink(longest), 0);

	/* every allowed character class, and a leading '-' or '_' */
	snprintf(okname, sizeof(okname), "-t_%d.A-z.9", getpid());
	h_remember_broker(okname);
	assert_int_equal(pooter_broker_create(okname, NULL, &x), 0);
	h_close(x);
	assert_int_equal(pooter_broker_unlink(okname), 0);

	assert_int_equal(pooter_emitter_join(b, longest, 0, &e), 0);
	assert_string_equal(pooter_emitter_name(e), longest);
	assert_int_equal(pooter_consumer_join(b, "_c.0-Z", 0, &c), 0);
	assert_int_equal(pooter_emitter_leave(e), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);

	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void expect_create_einval(const struct pooter_broker_attr *attr,
				 const char *what)
{
	char name[H_NAME_LEN];
	struct pooter_broker *b = NULL;
	int rc;

	h_name(name);
	rc = pooter_broker_create(name, attr, &b);
	if (rc != -EINVAL)
		fail_msg("create with %s: %d (%s), expected -EINVAL", what, rc,
			 pooter_strerror(rc));
	/* nothing was left behind */
	rc = pooter_broker_open(name, &b);
	if (rc != -ENOENT)
		fail_msg("after a failed create with %s, open: %d", what, rc);
}

static void expect_create_ok(const struct pooter_broker_attr *attr,
			     const char *what)
{
	char name[H_NAME_LEN];
	struct pooter_broker *b = NULL;
	struct pooter_broker_stat st;
	int rc;

	h_name(name);
	rc = pooter_broker_create(name, attr, &b);
	if (rc != 0)
		fail_msg("create with %s: %d (%s) %s", what, rc,
			 pooter_strerror(rc), pooter_last_error());
	h_stat(b, &st);
	assert_true(st.segment_size <= POOTER_SEGMENT_MAX);
	h_close(b);
	/* and it opens again: the checks at open agree with create */
	rc = pooter_broker_open(name, &b);
	if (rc != 0)
		fail_msg("open after create with %s: %d (%s) %s", what, rc,
			 pooter_strerror(rc), pooter_last_error());
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_capacities(void **state)
{
	/* over each documented limit, and absurdly over it */
	POOTER_OPTS(pooter_broker_attr, e1,
		    .max_emitters = POOTER_EMITTERS_MAX + 1);
	POOTER_OPTS(pooter_broker_attr, e2, .max_emitters = UINT_MAX);
	POOTER_OPTS(pooter_broker_attr, c1,
		    .max_consumers = POOTER_CONSUMERS_MAX + 1);
	POOTER_OPTS(pooter_broker_attr, c2, .max_consumers = UINT_MAX);
	POOTER_OPTS(pooter_broker_attr, p1,
		    .max_payload = POOTER_PAYLOAD_MAX + 1);
	POOTER_OPTS(pooter_broker_attr, p2, .max_payload = UINT_MAX);
	POOTER_OPTS(pooter_broker_attr, d1, .depth = POOTER_DEPTH_MAX + 1);
	POOTER_OPTS(pooter_broker_attr, d2, .depth = UINT_MAX);
	POOTER_OPTS(pooter_broker_attr, t1,
		    .timeout_ms = POOTER_TIMEOUT_MAX_MS + 1);
	POOTER_OPTS(pooter_broker_attr, t2, .timeout_ms = UINT_MAX);
	POOTER_OPTS(pooter_broker_attr, q1, .max_emitters = 4, .quorum = 5);
	POOTER_OPTS(pooter_broker_attr, q2, .quorum = UINT_MAX);
	/* each within its limit, but the segment they imply is over the cap */
	POOTER_OPTS(pooter_broker_attr, s1, .max_emitters = POOTER_EMITTERS_MAX,
		    .max_payload = POOTER_PAYLOAD_MAX,
		    .depth = POOTER_DEPTH_MAX);
	/* at the limits */
	POOTER_OPTS(pooter_broker_attr, ok1,
		    .max_emitters = POOTER_EMITTERS_MAX,
		    .max_consumers = POOTER_CONSUMERS_MAX, .max_payload = 64,
		    .depth = POOTER_DEPTH_MAX,
		    .timeout_ms = POOTER_TIMEOUT_MAX_MS,
		    .quorum = POOTER_EMITTERS_MAX);
	POOTER_OPTS(pooter_broker_attr, ok2, .max_emitters = 1,
		    .max_consumers = 1, .max_payload = POOTER_PAYLOAD_MAX,
		    .depth = 1, .timeout_ms = 1, .quorum = 1);

	expect_create_einval(&e1, "max_emitters = MAX + 1");
	expect_create_einval(&e2, "max_emitters = UINT_MAX");
	expect_create_einval(&c1, "max_consumers = MAX + 1");
	expect_create_einval(&c2, "max_consumers = UINT_MAX");
	expect_create_einval(&p1, "max_payload = MAX + 1");
	expect_create_einval(&p2, "max_payload = UINT_MAX");
	expect_create_einval(&d1, "depth = MAX + 1");
	expect_create_einval(&d2, "depth = UINT_MAX");
	expect_create_einval(&t1, "timeout_ms = MAX + 1");
	expect_create_einval(&t2, "timeout_ms = UINT_MAX");
	expect_create_einval(&q1, "quorum > max_emitters");
	expect_create_einval(&q2, "quorum = UINT_MAX");
	expect_create_einval(&s1, "a segment over POOTER_SEGMENT_MAX");
	expect_create_ok(&ok1, "the largest counts");
	expect_create_ok(&ok2, "the largest payload, the smallest counts");
}

/* the end of the last field this library knows: mode */
#define ATTR_KNOWN_END                               \
	(offsetof(struct pooter_broker_attr, mode) + \
	 sizeof(((struct pooter_broker_attr *)0)->mode))

/*
 * Bytes past the last known field must be zero, padding included: a newer
 * header may put a field there (libbpf's offsetofend rule).
 */
static void test_attr_trailing_bytes(void **state)
{
	union {
		struct pooter_broker_attr a;
		unsigned char bytes[sizeof(struct pooter_broker_attr) + 8];
	} u;
	char what[64];

	(void)state;
	/* every byte past mode, in the padding and in a larger struct */
	for (size_t off = ATTR_KNOWN_END; off < sizeof(u.bytes); off++) {
		memset(&u, 0, sizeof(u));
		u.a.sz = off < sizeof(u.a) ? sizeof(u.a) : sizeof(u.bytes);
		u.bytes[off] = 1;
		snprintf(what, sizeof(what), "byte %zu of %zu non-zero", off,
			 (size_t)u.a.sz);
		expect_create_einval(&u.a, what);
	}
	/* up to the last known field, or further with zeros: accepted */
	memset(&u, 0, sizeof(u));
	u.a.sz = ATTR_KNOWN_END;
	expect_create_ok(&u.a, "sz at the end of mode");
	u.a.sz = sizeof(u.bytes);
	expect_create_ok(&u.a, "a larger struct, zero past mode");
}

/* leave non-zero bytes where the next call's locals will be */
static __attribute__((noinline)) void stack_dirty(void)
{
	volatile unsigned char junk[2048];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5;
}

/*
 * Every field named, from values known only at run time: unoptimized, gcc
 * and clang build such an initializer field by field and leave the padding
 * as the stack had it, unless POOTER_OPTS zeroes the struct first.
 */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("O0")))
#endif
static __attribute__((noinline)) int
create_all_fields(const char *name, volatile unsigned int v)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = v,
		    .max_consumers = v, .max_payload = 64 * v, .depth = v,
		    .timeout_ms = 100 * v, .quorum = v, .mode = 0300 * v);
	struct pooter_broker *b = NULL;
	int rc;

	rc = pooter_broker_create(name, &attr, &b);
	if (rc == 0)
		h_close(b);
	return rc;
}

static void test_attr_opts_padding(void **state)
{
	char name[H_NAME_LEN];
	int rc;

	(void)state;
	h_name(name);
	stack_dirty();
	rc = create_all_fields(name, 2);
	if (rc)
		fail_msg("create with every field set through POOTER_OPTS: "
			 "%d (%s) \"%s\"",
			 rc, pooter_strerror(rc), pooter_last_error());
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_emsgsize(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_payload = 16,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer p;
	uint64_t round;

	b = h_create(name, &attr);
	h_peer_start(&p, name);
	assert_int_equal(h_peer_join_emitter(&p, "e", 0), 0);
	assert_int_equal(h_peer_emit(&p, "0123456789abcdefX", &round),
			 -EMSGSIZE);
	assert_true(round == H_ROUND_UNTOUCHED);
	h_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_NONE);
	assert_int_equal(st.rounds_opened, 0);
	assert_int_equal(st.emits, 0);

	/* exactly max_payload is fine */
	assert_int_equal(h_peer_emit(&p, "0123456789abcdef", &round), 0);
	assert_int_equal(round, 1);
	h_peer_stop(&p);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_exist_noent_nospc(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1);
	struct pooter_broker *b, *x = NULL;
	struct pooter_emitter *e;
	struct pooter_consumer *c, *c2;
	struct pooter_broker_stat st;
	char name[H_NAME_LEN], other[H_NAME_LEN];
	struct h_peer p;

	b = h_create(name, &attr);
	assert_int_equal(pooter_broker_create(name, NULL, &x), -EEXIST);
	/* the first one is untouched */
	h_stat(b, &st);
	assert_int_equal(st.max_emitters, 2);

	h_name(other);
	assert_int_equal(pooter_broker_open(other, &x), -ENOENT);
	assert_int_equal(pooter_broker_unlink(other), -ENOENT);

	/* member names held by a live member of another process */
	h_peer_start(&p, name);
	assert_int_equal(h_peer_join_emitter(&p, "taken", 0), 0);
	assert_int_equal(h_peer_join_consumer(&p, "ctaken", 0), 0);
	assert_int_equal(pooter_emitter_join(b, "taken", 0, &e), -EEXIST);
	assert_int_equal(pooter_consumer_join(b, "ctaken", 0, &c), -EEXIST);

	/* capacities: one emitter slot left, no consumer slot */
	assert_int_equal(pooter_emitter_join(b, "second", 0, &e), 0);
	{
		struct pooter_emitter *e3;

		assert_int_equal(pooter_emitter_join(b, "third", 0, &e3),
				 -ENOSPC);
	}
	assert_int_equal(pooter_consumer_join(b, "c2", 0, &c2), -ENOSPC);

	/* leaving frees the name and the slot */
	assert_int_equal(h_peer_leave_emitter(&p), 0);
	assert_int_equal(h_peer_leave_consumer(&p), 0);
	{
		struct pooter_emitter *e2;

		assert_int_equal(pooter_emitter_join(b, "taken", 0, &e2), 0);
		assert_int_equal(pooter_consumer_join(b, "ctaken", 0, &c), 0);
		assert_int_equal(pooter_emitter_leave(e2), 0);
		assert_int_equal(pooter_consumer_leave(c), 0);
	}
	assert_int_equal(pooter_emitter_leave(e), 0);
	h_peer_stop(&p);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

/* --- corrupted segments: opened in a child, so a crash is a failure ------ */

struct open_expect {
	const char *name;
	int rc;
};

static int child_open_expect(void *arg)
{
	struct open_expect *oe = arg;
	struct pooter_broker *b = NULL;
	int rc = pooter_broker_open(oe->name, &b);

	if (rc != oe->rc)
		h_child_fail(__FILE__, __LINE__,
			     "open %s: %d (%s), expected %d; last error \"%s\"",
			     oe->name, rc, pooter_strerror(rc), oe->rc,
			     pooter_last_error());
	if (rc == -EPROTO)
		C_CHECK(pooter_last_error()[0] != '\0');
	if (rc == 0) {
		struct pooter_broker_stat st;

		C_EQ(pooter_broker_stat(b, &st), 0);
		h_close(b);
	}
	return 0;
}

static void expect_open(const char *name, int rc)
{
	struct open_expect oe = { .name = name, .rc = rc };

	h_expect_ok(h_spawn(child_open_expect, &oe));
}

static void test_eproto_truncated(void **state)
{
	struct pooter_broker_stat st;
	char name[H_NAME_LEN], path[128];
	struct pooter_broker *b;

	b = h_create(name, NULL);
	h_stat(b, &st);
	h_close(b);
	shm_path(path, sizeof(path), name);
	expect_open(name, 0);

	assert_int_equal(truncate(path, (off_t)st.segment_size - 1), 0);
	expect_open(name, -EPROTO);
	assert_int_equal(truncate(path, (off_t)st.segment_size / 2), 0);
	expect_open(name, -EPROTO);
	assert_int_equal(truncate(path, 12), 0);
	expect_open(name, -EPROTO);
	assert_int_equal(truncate(path, 7), 0);
	expect_open(name, -EPROTO);
	assert_int_equal(truncate(path, 0), 0);
	expect_open(name, -EPROTO);

	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void patch(const char *path, off_t off, const void *bytes, size_t len,
		  void *old)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	if (old)
		assert_int_equal(pread(fd, old, len, off), (ssize_t)len);
	assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
	close(fd);
}

struct problems {
	unsigned int n;
	int empty;
};

static void on_problem(const char *problem, void *arg)
{
	struct problems *p = arg;

	p->n++;
	if (!problem || !problem[0])
		p->empty++;
}

static void test_eproto_magic_version(void **state)
{
	char name[H_NAME_LEN], path[128], magic[8], other[H_NAME_LEN];
	struct problems probs;
	struct pooter_broker *b;
	uint32_t version, bumped;

	b = h_create(name, NULL);
	h_close(b);
	shm_path(path, sizeof(path), name);

	memset(&probs, 0, sizeof(probs));
	assert_int_equal(pooter_broker_check(name, on_problem, &probs), 0);
	assert_int_equal(probs.n, 0);

	patch(path, 0, "NOTPOOTR", 8, magic);
	expect_open(name, -EPROTO);
	memset(&probs, 0, sizeof(probs));
	assert_true(pooter_broker_check(name, on_problem, &probs) > 0);
	assert_true(probs.n > 0);
	assert_int_equal(probs.empty, 0);
	patch(path, 0, magic, 8, NULL);
	expect_open(name, 0); /* it was the magic, nothing else */

	{
		int fd = open(path, O_RDONLY);

		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &version, 4, 8), 4);
		close(fd);
	}
	bumped = version + 1;
	patch(path, 8, &bumped, 4, NULL);
	expect_open(name, -EPROTO);
	memset(&probs, 0, sizeof(probs));
	assert_true(pooter_broker_check(name, on_problem, &probs) > 0);
	bumped = version - 1;
	patch(path, 8, &bumped, 4, NULL);
	expect_open(name, -EPROTO);
	patch(path, 8, &version, 4, NULL);
	expect_open(name, 0);

	h_name(other);
	assert_int_equal(pooter_broker_check(other, on_problem, &probs),
			 -ENOENT);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static int child_open_as_nobody(void *arg)
{
	struct pooter_broker *b;

	C_EQ(setresgid(65534, 65534, 65534), 0);
	C_EQ(setresuid(65534, 65534, 65534), 0);
	C_EQ(pooter_broker_open((const char *)arg, &b), -EACCES);
	C_EQ(pooter_broker_check((const char *)arg, NULL, NULL), -EACCES);
	return 0;
}

static void test_eacces(void **state)
{
	char name[H_NAME_LEN];
	struct pooter_broker *b;

	if (geteuid() != 0)
		skip();		  /* needs to become another user */
	b = h_create(name, NULL); /* mode 0600, owned by root */
	h_expect_ok(h_spawn(child_open_as_nobody, name));
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void expect_texts_differ(int a, int b)
{
	char ta[256];

	snprintf(ta, sizeof(ta), "%s", pooter_strerror(a));
	assert_string_not_equal(ta, pooter_strerror(b));
}

/* --- namespaces -------------------------------------------------------- */

struct ns_child {
	const char *name;
	int flag;
};

static int child_open_in_new_ns(void *arg)
{
	struct ns_child *nc = arg;
	int status;
	pid_t pid;

	if (unshare(nc->flag) != 0)
		return 77; /* not permitted here: skip */
	/* the new pid or time namespace is for the children */
	pid = fork();
	if (pid == 0) {
		struct pooter_broker *b;
		const char *ns = nc->flag == CLONE_NEWPID ? "pid" : "time";
		int rc = pooter_broker_open(nc->name, &b);
		char want[32];

		if (rc != -EXDEV) {
			fprintf(stderr,
				"open from another %s namespace: %d "
				"(%s), expected -EXDEV\n",
				ns, rc, pooter_strerror(rc));
			_exit(1);
		}
		/* the reason names the namespace */
		snprintf(want, sizeof(want), "%s namespace", ns);
		if (!strstr(pooter_last_error(), want)) {
			fprintf(stderr,
				"open from another %s namespace: last error "
				"\"%s\" does not say \"%s\"\n",
				ns, pooter_last_error(), want);
			_exit(1);
		}
		_exit(0);
	}
	C_CHECK(pid > 0);
	C_EQ(waitpid(pid, &status, 0), pid);
	C_CHECK(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * A header naming another namespace, as a segment created there would: the
 * same EXDEV and reason, where unshare() is not permitted too.
 */
static void expect_exdev_patched(const char *name, const char *path, size_t off,
				 const char *want)
{
	struct pooter_broker *b = NULL;
	uint64_t ino, other;
	int fd, rc;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &ino, sizeof(ino), (off_t)off),
			 (ssize_t)sizeof(ino));
	close(fd);
	if (!ino)
		return; /* no namespace inode here: nothing is compared */
	other = ino + 1;
	patch(path, (off_t)off, &other, sizeof(other), NULL);
	rc = pooter_broker_open(name, &b);
	if (rc != -EXDEV)
		fail_msg("open of a segment from another %s: %d (%s), "
			 "expected -EXDEV",
			 want, rc, pooter_strerror(rc));
	if (!strstr(pooter_last_error(), want))
		fail_msg("EXDEV: last error \"%s\" does not say \"%s\"",
			 pooter_last_error(), want);
	patch(path, (off_t)off, &ino, sizeof(ino), NULL);
	assert_int_equal(pooter_broker_open(name, &b), 0);
	h_close(b);
}

static void test_exdev(void **state)
{
	char name[H_NAME_LEN], path[128];
	struct pooter_broker *b;
	struct ns_child nc;
	unsigned int ran = 0;
	int status;

	b = h_create(name, NULL);
	nc.name = name;
#ifdef CLONE_NEWTIME
	int flags[] = { CLONE_NEWPID, CLONE_NEWTIME };
#else
	int flags[] = { CLONE_NEWPID };
#endif
	for (unsigned int i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		nc.flag = flags[i];
		status = h_wait(h_spawn(child_open_in_new_ns, &nc), H_LONG_MS);
		assert_true(status != -1 && WIFEXITED(status));
		if (WEXITSTATUS(status) == 77)
			continue;
		assert_int_equal(WEXITSTATUS(status), 0);
		ran++;
	}
	shm_path(path, sizeof(path), name);
	expect_exdev_patched(name, path, offsetof(struct shm_header, pidns),
			     "pid namespace");
	expect_exdev_patched(name, path, offsetof(struct shm_header, timens),
			     "time namespace");
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
	if (!ran)
		print_message("note: no unshare() here: namespaces checked "
			      "through patched headers only\n");
}

static void test_strerror(void **state)
{
	static const int codes[] = {
		0,	   EEXIST,     EINVAL,	   ENAMETOOLONG, EACCES,
		ENOSPC,	   ENOENT,     EPROTO,	   EXDEV,	 EBUSY,
		ETIMEDOUT, ECANCELED,  EOWNERDEAD, EMSGSIZE,	 EAGAIN,
		ENOBUFS,   EOPNOTSUPP, ENOMEM,	   EPERM,	 EFAULT,
		EBADF,	   EINTR,      12345,
	};
	static const int extremes[] = {
		INT_MIN, INT_MIN + 1, -INT_MAX, INT_MAX, INT_MAX - 1,
		1 << 30, -(1 << 30),  4096,	-4096,
	};
	char unknown[256];
	unsigned int i;

	/*
	 * Like strerror(3), the text may live in a buffer the next call
	 * reuses: copy it before asking again.
	 */
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *t = pooter_strerror(-codes[i]);

		if (!t || !t[0])
			fail_msg("pooter_strerror(%d) gives no text",
				 -codes[i]);
		t = pooter_strerror(codes[i]);
		if (!t || !t[0])
			fail_msg("pooter_strerror(%d) gives no text", codes[i]);
	}
	/* any int has a text, even one whose negation overflows */
	for (i = 0; i < sizeof(extremes) / sizeof(extremes[0]); i++) {
		const char *t = pooter_strerror(extremes[i]);

		if (!t || !t[0])
			fail_msg("pooter_strerror(%d) gives no text",
				 extremes[i]);
	}
	/* no errno is that large: both are unknown, alike */
	snprintf(unknown, sizeof(unknown), "%s", pooter_strerror(INT_MAX));
	assert_string_equal(pooter_strerror(INT_MIN), unknown);
	/* the pooter-specific meanings differ from one another */
	expect_texts_differ(-EPROTO, -ETIMEDOUT);
	expect_texts_differ(-EBUSY, -EAGAIN);
	expect_texts_differ(-ECANCELED, -EOWNERDEAD);
}

/* --- races -------------------------------------------------------------- */

struct race {
	const char *name;
	struct h_gate gate;
	struct pooter_broker_attr attr;
};

static int child_create(void *arg)
{
	struct race *r = arg;
	struct pooter_broker *b = NULL;
	int rc;

	h_gate_wait(&r->gate);
	rc = pooter_broker_create(r->name, &r->attr, &b);
	if (rc == 0) {
		h_close(b);
		return 10; /* won */
	}
	if (rc == -EEXIST)
		return 11; /* lost */
	h_child_fail(__FILE__, __LINE__, "create: %d (%s)", rc,
		     pooter_strerror(rc));
}

static void test_create_race(void **state)
{
	struct race r;
	int i;

	h_gate_init(&r.gate);
	for (i = 0; i < 40; i++) {
		char name[H_NAME_LEN];
		struct pooter_broker *b;
		int s1, s2;

		h_name(name);
		r.name = name;
		memset(&r.attr, 0, sizeof(r.attr));
		r.attr.sz = sizeof(r.attr);
		pid_t a = h_spawn(child_create, &r);
		pid_t c = h_spawn(child_create, &r);

		h_gate_open(&r.gate);
		s1 = h_wait(a, H_LONG_MS);
		s2 = h_wait(c, H_LONG_MS);
		assert_true(s1 != -1 && s2 != -1);
		assert_true(WIFEXITED(s1) && WIFEXITED(s2));
		if (!((WEXITSTATUS(s1) == 10 && WEXITSTATUS(s2) == 11) ||
		      (WEXITSTATUS(s1) == 11 && WEXITSTATUS(s2) == 10)))
			fail_msg("iteration %d: exit codes %d and %d, expected "
				 "one winner (10) and one -EEXIST (11)",
				 i, WEXITSTATUS(s1), WEXITSTATUS(s2));
		assert_int_equal(pooter_broker_open(name, &b), 0);
		h_close(b);
		assert_int_equal(pooter_broker_unlink(name), 0);
		/* drain what the gate left over for the next iteration */
		{
			char buf[64];

			while (h_readable(r.gate.p.rd) &&
			       read(r.gate.p.rd, buf, sizeof(buf)) > 0)
				;
		}
	}
	h_gate_close(&r.gate);
}

static int child_create_only(void *arg)
{
	struct race *r = arg;
	struct pooter_broker *b = NULL;

	h_gate_wait(&r->gate);
	C_EQ(pooter_broker_create(r->name, &r->attr, &b), 0);
	h_close(b);
	return 0;
}

static int child_open_spin(void *arg)
{
	struct race *r = arg;
	struct pooter_broker_stat st;
	struct pooter_broker *b = NULL;
	uint64_t end;
	int rc;

	h_gate_wait(&r->gate);
	end = h_now_ns() + (uint64_t)H_LONG_MS * H_NS_PER_MS;
	do {
		rc = pooter_broker_open(r->name, &b);
		C_CHECK(h_now_ns() < end);
	} while (rc == -ENOENT);
	if (rc != 0)
		h_child_fail(__FILE__, __LINE__,
			     "open racing create: %d (%s) \"%s\"", rc,
			     pooter_strerror(rc), pooter_last_error());
	C_EQ(pooter_broker_stat(b, &st), 0);
	C_EQ(st.max_emitters, r->attr.max_emitters);
	C_EQ(st.max_consumers, r->attr.max_consumers);
	C_EQ(st.max_payload, r->attr.max_payload);
	C_EQ(st.depth, r->attr.depth);
	C_EQ(st.timeout_ms, r->attr.timeout_ms);
	C_EQ(st.records_free, r->attr.depth);
	C_EQ(st.round_state, POOTER_ROUND_NONE);
	h_close(b);
	return 0;
}

static void test_open_race(void **state)
{
	struct race r;
	unsigned int i;

	h_gate_init(&r.gate);
	for (i = 0; i < 300; i++) {
		char name[H_NAME_LEN];
		char buf[64];

		h_name(name);
		r.name = name;
		memset(&r.attr, 0, sizeof(r.attr));
		r.attr.sz = sizeof(r.attr);
		r.attr.max_emitters = 1 + (i * 37) % POOTER_EMITTERS_MAX;
		r.attr.max_consumers = 1 + (i * 7) % POOTER_CONSUMERS_MAX;
		r.attr.max_payload = 8 + (i * 13) % 200;
		r.attr.depth = 1 + i % POOTER_DEPTH_MAX;
		r.attr.timeout_ms = 100 + i;
		pid_t opener = h_spawn(child_open_spin, &r);
		pid_t creator = h_spawn(child_create_only, &r);

		h_gate_open(&r.gate);
		h_expect_ok(creator);
		h_expect_ok(opener);
		assert_int_equal(pooter_broker_unlink(name), 0);
		while (h_readable(r.gate.p.rd) &&
		       read(r.gate.p.rd, buf, sizeof(buf)) > 0)
			;
	}
	h_gate_close(&r.gate);
}

/* --- foreach, set_timeout, unlink, gc, records --------------------------- */

struct seen_names {
	const char *want[3];
	int found[3];
	int prefixed;
	unsigned int calls;
	int stop;
};

static int collect(const char *name, void *arg)
{
	struct seen_names *s = arg;
	unsigned int i;

	s->calls++;
	if (!strncmp(name, "pooter.", 7))
		s->prefixed++;
	for (i = 0; i < 3; i++)
		if (!strcmp(name, s->want[i]))
			s->found[i]++;
	return s->stop;
}

static void test_foreach(void **state)
{
	char n[3][H_NAME_LEN], path[128];
	struct seen_names s;
	struct pooter_broker *b;
	unsigned int i;
	int fd;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < 3; i++) {
		b = h_create(n[i], NULL);
		h_close(b);
		s.want[i] = n[i];
	}
	/* a file in /dev/shm that is not a broker's */
	snprintf(path, sizeof(path), "/dev/shm/notpooter-%d", getpid());
	fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(pooter_broker_foreach(collect, &s), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(s.found[i], 1);
	assert_int_equal(s.prefixed, 0);
	assert_true(s.calls >= 3);

	/* a non-zero return stops the walk and is returned */
	memset(s.found, 0, sizeof(s.found));
	s.calls = 0;
	s.stop = 42;
	assert_int_equal(pooter_broker_foreach(collect, &s), 42);
	assert_int_equal(s.calls, 1);

	s.stop = 0;
	s.calls = 0;
	for (i = 0; i < 3; i++)
		assert_int_equal(pooter_broker_unlink(n[i]), 0);
	memset(s.found, 0, sizeof(s.found));
	assert_int_equal(pooter_broker_foreach(collect, &s), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(s.found[i], 0);
	unlink(path);
}

struct timeout_child {
	const char *name;
	unsigned int want;
};

static int child_check_timeout(void *arg)
{
	struct timeout_child *tc = arg;
	struct pooter_broker_stat st;
	struct pooter_broker *b;

	C_EQ(pooter_broker_open(tc->name, &b), 0);
	C_EQ(pooter_broker_stat(b, &st), 0);
	C_EQ(st.timeout_ms, tc->want);
	h_close(b);
	return 0;
}

static void test_set_timeout(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = 3000);
	struct pooter_broker_stat st;
	struct timeout_child tc;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct h_peer p1, p2;
	struct h_res r;
	unsigned int one = 1;
	uint64_t round;

	b = h_create(name, &attr);
	assert_int_equal(pooter_broker_set_timeout(b, 0), -EINVAL);
	assert_int_equal(pooter_broker_set_timeout(b,
						   POOTER_TIMEOUT_MAX_MS + 1),
			 -EINVAL);
	assert_int_equal(pooter_broker_set_timeout(b, UINT_MAX), -EINVAL);
	h_stat(b, &st);
	assert_int_equal(st.timeout_ms, 3000);

	assert_int_equal(pooter_broker_set_timeout(b, 20000), 0);
	tc.name = name;
	tc.want = 20000;
	h_expect_ok(h_spawn(child_check_timeout, &tc));

	/* a round opened now runs 20 s; changing it later does not move it */
	h_peer_start(&p1, name);
	h_peer_start(&p2, name);
	assert_int_equal(h_peer_join_emitter(&p1, "a", 0), 0);
	assert_int_equal(h_peer_join_emitter(&p2, "b", 0), 0);
	h_peer_emit_async(&p1, "a1");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);
	assert_int_equal(st.round_deadline_ns - st.round_opened_ns,
			 20000ull * H_NS_PER_MS);
	round = st.round;
	assert_int_equal(pooter_broker_set_timeout(b, 7000), 0);
	h_stat(b, &st);
	assert_int_equal(st.round, round);
	assert_int_equal(st.round_deadline_ns - st.round_opened_ns,
			 20000ull * H_NS_PER_MS);
	assert_int_equal(st.timeout_ms, 7000);
	assert_int_equal(h_peer_emit(&p2, "b1", NULL), 0);
	h_peer_res(&p1, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	h_peer_emit_async(&p2, "b2");
	h_stat_until(b, &st, h_pred_emitted, &one, H_LONG_MS);
	assert_int_equal(st.round, round + 1);
	assert_int_equal(st.round_deadline_ns - st.round_opened_ns,
			 7000ull * H_NS_PER_MS);
	assert_int_equal(h_peer_emit(&p1, "a2", NULL), 0);
	h_peer_res(&p2, &r, H_LONG_MS);
	assert_int_equal(r.rc, 0);

	h_peer_stop(&p1);
	h_peer_stop(&p2);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_unlink_keeps_members(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	char name[H_NAME_LEN];
	struct pooter_broker *b, *x;
	struct h_peer p;
	uint64_t round;

	b = h_create(name, &attr);
	h_peer_start(&p, name);
	assert_int_equal(h_peer_join_emitter(&p, "e", 0), 0);
	assert_int_equal(h_peer_emit(&p, "one", &round), 0);
	assert_int_equal(round, 1);

	assert_int_equal(pooter_broker_unlink(name), 0);
	assert_int_equal(pooter_broker_open(name, &x), -ENOENT);
	assert_int_equal(pooter_broker_unlink(name), -ENOENT);

	/* the old segment goes on working for those attached */
	assert_int_equal(h_peer_emit(&p, "two", &round), 0);
	assert_int_equal(round, 2);
	h_stat(b, &st);
	assert_int_equal(st.rounds_resolved, 2);

	/* the name is free for a new, distinct broker */
	assert_int_equal(pooter_broker_create(name, NULL, &x), 0);
	h_stat(x, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_NONE);
	assert_int_equal(st.emitters, 0);
	assert_int_equal(h_peer_emit(&p, "three", &round), 0);
	assert_int_equal(round, 3);
	h_stat(x, &st);
	assert_int_equal(st.rounds_opened, 0);

	h_peer_stop(&p);
	h_close(x);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

struct dead_child {
	const char *name;
	struct h_pipe ready;
};

/* Join, take a delivery, and die without leaving or releasing. */
static int child_die_holding(void *arg)
{
	struct dead_child *dc = arg;
	const struct pooter_delivery *d;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	uint64_t round;

	C_EQ(pooter_broker_open(dc->name, &b), 0);
	C_EQ(pooter_consumer_join(b, "dying-c", 0, &c), 0);
	C_EQ(pooter_emitter_join(b, "dying-e", 0, &e), 0);
	C_EQ(pooter_emit(e, "x", 1, &round), 0); /* alone: resolves */
	C_EQ(pooter_consume(c, H_LONG_MS, &d), 0);
	C_EQ(d->round, round);
	C_EQ(h_write(dc->ready.wr, "r", 1), 0);
	_exit(0);
}

struct dead_seen {
	unsigned int dead;
	unsigned int alive;
};

static int count_dead(const struct pooter_member_info *m, void *arg)
{
	struct dead_seen *s = arg;

	if (m->alive)
		s->alive++;
	else
		s->dead++;
	return 0;
}

static int count_records(const struct pooter_record_info *r, void *arg)
{
	unsigned int *n = arg;

	(void)r;
	(*n)++;
	return 0;
}

/*
 * Broker names that are URLs go to the backend of their scheme; none but
 * shm is built in, so each call is -EPROTONOSUPPORT and says why, and no
 * file appears in /dev/shm.
 */
static void test_url_names(void **state)
{
	static const char *const urls[] = { "zk://127.0.0.1:2181/pooter/x",
					    "foo://x" };
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = 1000);
	struct pooter_broker *b = NULL;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		assert_int_equal(pooter_broker_create(urls[i], &attr, &b),
				 -EPROTONOSUPPORT);
		assert_null(b);
		assert_non_null(strstr(pooter_last_error(), "://"));
		assert_int_equal(pooter_broker_open(urls[i], &b),
				 -EPROTONOSUPPORT);
		assert_int_equal(pooter_broker_unlink(urls[i]),
				 -EPROTONOSUPPORT);
		assert_int_equal(pooter_broker_check(urls[i], NULL, NULL),
				 -EPROTONOSUPPORT);
	}
	assert_non_null(
		strstr((pooter_broker_open(urls[0], &b), pooter_last_error()),
		       "zk://"));
}

/* A child after fork leaves the parent's handles: -EBADFD, parent untouched. */
struct fork_leave {
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	const char *name;
};

static int fork_leave_child(void *arg)
{
	struct fork_leave *f = arg;
	struct pooter_broker *b;
	int n;

	C_EQ(pooter_emitter_leave(f->e), -EBADFD);
	C_EQ(pooter_consumer_leave(f->c), -EBADFD);
	/* a handle of our own sees the parent's members alive, locks held */
	C_EQ(pooter_broker_open(f->name, &b), 0);
	n = pooter_broker_gc(b);
	pooter_broker_close(b);
	return n == 0 ? 0 : 1;
}

static void test_leave_after_fork(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	char name[H_NAME_LEN];
	struct fork_leave f;

	(void)state;
	b = h_create(name, &attr);
	assert_int_equal(pooter_emitter_join(b, "fe", 0, &f.e), 0);
	assert_int_equal(pooter_consumer_join(b, "fc", 0, &f.c), 0);
	f.name = name;
	assert_int_equal(h_wait(h_spawn(fork_leave_child, &f), H_LONG_MS), 0);
	h_stat(b, &st);
	assert_int_equal(st.emitters, 1);
	assert_int_equal(st.consumers, 1);
	assert_int_equal(pooter_emitter_leave(f.e), 0);
	assert_int_equal(pooter_consumer_leave(f.c), 0);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

static void test_gc_dead_members(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .depth = 4,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct dead_child dc;
	struct dead_seen seen;
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	unsigned int records = 0;
	pid_t pid;
	char ch;
	int rc;

	b = h_create(name, &attr);
	dc.name = name;
	h_pipe_init(&dc.ready);
	pid = h_spawn(child_die_holding, &dc);
	assert_int_equal(h_read(dc.ready.rd, &ch, 1, H_LONG_MS), 0);
	h_expect_ok(pid);

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pooter_broker_foreach_member(b, count_dead, &seen), 0);
	assert_int_equal(seen.alive, 0);
	assert_true(seen.dead <= 2);
	assert_int_equal(
		pooter_broker_foreach_record(b, count_records, &records), 0);
	assert_int_equal(records, 4);

	rc = pooter_broker_gc(b);
	/* both, unless something reaped them already */
	assert_int_equal(rc, (int)seen.dead);
	h_stat(b, &st);
	assert_int_equal(st.emitters, 0);
	assert_int_equal(st.consumers, 0);
	assert_int_equal(st.records_free, 4);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(pooter_broker_gc(b), 0);

	/* the names are free again */
	assert_int_equal(pooter_emitter_join(b, "dying-e", 0, &e), 0);
	assert_int_equal(pooter_consumer_join(b, "dying-c", 0, &c), 0);
	assert_int_equal(pooter_emitter_leave(e), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);
	h_pipe_close(&dc.ready);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_open_stat, h_teardown),
		cmocka_unit_test_teardown(test_defaults_and_mode, h_teardown),
		cmocka_unit_test_teardown(test_generated_names, h_teardown),
		cmocka_unit_test_teardown(test_bad_names, h_teardown),
		cmocka_unit_test_teardown(test_capacities, h_teardown),
		cmocka_unit_test_teardown(test_attr_trailing_bytes, h_teardown),
		cmocka_unit_test_teardown(test_attr_opts_padding, h_teardown),
		cmocka_unit_test_teardown(test_emsgsize, h_teardown),
		cmocka_unit_test_teardown(test_exist_noent_nospc, h_teardown),
		cmocka_unit_test_teardown(test_eproto_truncated, h_teardown),
		cmocka_unit_test_teardown(test_eproto_magic_version,
					  h_teardown),
		cmocka_unit_test_teardown(test_eacces, h_teardown),
		cmocka_unit_test_teardown(test_exdev, h_teardown),
		cmocka_unit_test_teardown(test_strerror, h_teardown),
		cmocka_unit_test_teardown(test_create_race, h_teardown),
		cmocka_unit_test_teardown(test_open_race, h_teardown),
		cmocka_unit_test_teardown(test_foreach, h_teardown),
		cmocka_unit_test_teardown(test_set_timeout, h_teardown),
		cmocka_unit_test_teardown(test_unlink_keeps_members,
					  h_teardown),
		cmocka_unit_test_teardown(test_url_names, h_teardown),
		cmocka_unit_test_teardown(test_leave_after_fork, h_teardown),
		cmocka_unit_test_teardown(test_gc_dead_members, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
