/* SPDX-License-Identifier: MIT */
/*
 * test_zk.c - the scenarios of pooter's contract on the ZooKeeper backend
 * (issue 14): brokers by URL, rounds, timeouts, joins, quorum, cancels,
 * notices, back-pressure, releases, late waiters, counters, names, what the
 * backend does not support, and a missing plugin.
 *
 * Every test makes its own broker zk://HOSTS/pooter-test/NAME (zk_url()),
 * with a short session timeout (ZK_SESSION_MS), and forks real processes:
 * scripted peers (zk_common.h) that each have their own sessions.  Deaths
 * and the ensemble's own faults are test_zk_faults.c's; random kills over
 * many rounds, test_zk_chaos.c's.
 *
 * Processes meet on pipes and on the broker's stat; the only waits on time
 * are bounded checks that something does *not* happen yet (a join that
 * must wait, an emit blocked on a full ring) and the deadlines under test.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <liburing.h>

#include "zk_common.h"

#ifndef offsetofend
#define offsetofend(TYPE, FIELD) \
	(offsetof(TYPE, FIELD) + sizeof(((TYPE *)0)->FIELD))
#endif

/* The backend's payload limit (1 MiB less 64 KiB), as /work/zk-spec.md says */
#define ZK_PAYLOAD_LIMIT 983040u

static void expect_res(struct zk_peer *p, int rc, uint64_t round,
		       struct zk_res *out)
{
	struct zk_res r;

	zk_peer_res(p, &r, H_LONG_MS);
	ZK_RES_EXPECT(&r, rc);
	if (round != H_ROUND_UNTOUCHED && r.round != round)
		fail_msg("peer %d: op %d gave round %llu, expected %llu",
			 (int)p->pid, r.op, (unsigned long long)r.round,
			 (unsigned long long)round);
	if (out)
		*out = r;
}

static void wait_emitted(struct pooter_broker *b, uint64_t round,
			 unsigned int emitted)
{
	struct pooter_broker_stat st;

	zk_stat_until(b, &st, zk_pred_emitted, &emitted, H_LONG_MS);
	if (st.round != round)
		fail_msg("open round is %llu, expected %llu",
			 (unsigned long long)st.round,
			 (unsigned long long)round);
}

static void expect_none(struct pooter_consumer *c, int timeout_ms)
{
	const struct pooter_delivery *d = NULL;
	int rc = pooter_consume(c, timeout_ms, &d);

	if (rc != -ETIMEDOUT)
		fail_msg("pooter_consume: %d (%s), round %llu outcome %d: "
			 "expected nothing (-ETIMEDOUT)",
			 rc, pooter_strerror(rc),
			 rc == 0 && d ? (unsigned long long)d->round : 0ull,
			 rc == 0 && d ? d->outcome : 0);
}

/* --- brokers by URL ------------------------------------------------------ */

static void test_create_open_unlink(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 4,
		    .max_consumers = 3, .max_payload = 1000, .depth = 4,
		    .timeout_ms = 1500, .quorum = 2);
	struct pooter_broker *b, *b2, *b3 = NULL;
	struct pooter_broker_stat st;
	char url[ZK_URL_MAX];
	int rc;

	ZK_REQUIRE();
	b = zk_create(url, "cou", &attr);
	printf("zk: created %s, pooter_broker_name() = \"%s\"\n", url,
	       pooter_broker_name(b));
	ZK_EXPECT(pooter_broker_create_url(url, &attr, &zk_opts, &b3), -EEXIST);
	ZK_EXPECT(pooter_broker_create(url, NULL, &b3), -EEXIST);

	b2 = zk_open(url);
	zk_stat(b2, &st);
	assert_int_equal(st.max_emitters, 4);
	assert_int_equal(st.max_consumers, 3);
	assert_int_equal(st.max_payload, 1000);
	assert_int_equal(st.depth, 4);
	assert_int_equal(st.quorum, 2);
	assert_int_equal(st.timeout_ms, 1500);
	assert_int_equal(st.emitters, 0);
	assert_int_equal(st.consumers, 0);
	assert_int_equal(st.round_state, POOTER_ROUND_NONE);
	assert_int_equal(st.round, 0);
	assert_int_equal(st.rounds_opened, 0);
	assert_int_equal(st.emits, 0);
	assert_int_equal(st.deliveries, 0);

	/* the plain calls take URLs too, with the default options */
	ZK_EXPECT(pooter_broker_open(url, &b3), 0);
	zk_stat(b3, &st);
	assert_int_equal(st.max_consumers, 3);
	pooter_broker_close(b3);
	b3 = NULL;

	ZK_EXPECT(pooter_broker_unlink_url(url, &zk_opts), 0);
	ZK_EXPECT(pooter_broker_open_url(url, &zk_opts, &b3), -ENOENT);
	ZK_EXPECT(pooter_broker_unlink_url(url, &zk_opts), -ENOENT);
	/* handles still attached learn that it is gone */
	rc = pooter_broker_stat(b2, &st);
	if (rc != -ENOENT && rc != -EIDRM)
		fail_msg("stat of an unlinked broker: %d (%s), expected "
			 "-ENOENT or -EIDRM; last_error \"%s\"",
			 rc, pooter_strerror(rc), pooter_last_error());

	/* the name is free again; defaults as for shm */
	ZK_EXPECT(pooter_broker_create(url, NULL, &b3), 0);
	zk_stat(b3, &st);
	assert_int_equal(st.max_emitters, POOTER_DEFAULT_EMITTERS);
	assert_int_equal(st.max_consumers, POOTER_DEFAULT_CONSUMERS);
	assert_int_equal(st.max_payload, POOTER_DEFAULT_PAYLOAD);
	assert_int_equal(st.depth, POOTER_DEFAULT_DEPTH);
	assert_int_equal(st.timeout_ms, POOTER_DEFAULT_TIMEOUT_MS);
	assert_int_equal(st.quorum, 0);
	pooter_broker_close(b3);
	ZK_EXPECT(pooter_broker_unlink(url), 0);
	zk_close(b2);
	zk_close(b);
}

struct names {
	char name[16][POOTER_NAME_MAX + 1];
	int n;
	int stop_after; /* return 7 after this many, 0: never */
};

static int names_cb(const char *name, void *arg)
{
	struct names *ns = arg;

	if (ns->n < 16)
		snprintf(ns->name[ns->n], sizeof(ns->name[0]), "%s", name);
	ns->n++;
	return ns->stop_after && ns->n >= ns->stop_after ? 7 : 0;
}

static bool names_have(const struct names *ns, const char *name)
{
	for (int i = 0; i < ns->n && i < 16; i++)
		if (!strcmp(ns->name[i], name))
			return true;
	return false;
}

static void test_foreach_url(void **state)
{
	static const char *const brokers[] = { "alpha", "beta", "gamma" };
	char dir[ZK_URL_MAX], url[3][ZK_URL_MAX + 64];
	struct pooter_broker *b;
	struct names ns;

	ZK_REQUIRE();
	snprintf(dir, sizeof(dir), "zk://%s/pooter-test/ls-%d-%llu", zk_hosts(),
		 (int)getpid(), (unsigned long long)h_now_ns());
	for (int i = 0; i < 3; i++) {
		snprintf(url[i], sizeof(url[i]), "%s/%s", dir, brokers[i]);
		zk_remember_url(url[i]);
		ZK_EXPECT(pooter_broker_create_url(url[i], NULL, &zk_opts, &b),
			  0);
		pooter_broker_close(b);
	}
	memset(&ns, 0, sizeof(ns));
	ZK_EXPECT(pooter_broker_foreach_url(dir, &zk_opts, names_cb, &ns), 0);
	if (ns.n != 3 || !names_have(&ns, "alpha") ||
	    !names_have(&ns, "beta") || !names_have(&ns, "gamma"))
		fail_msg("foreach_url(%s) listed %d names (%s %s %s ...), "
			 "expected alpha, beta, gamma",
			 dir, ns.n, ns.name[0], ns.name[1], ns.name[2]);

	ZK_EXPECT(pooter_broker_unlink_url(url[1], &zk_opts), 0);
	memset(&ns, 0, sizeof(ns));
	ZK_EXPECT(pooter_broker_foreach_url(dir, &zk_opts, names_cb, &ns), 0);
	if (ns.n != 2 || !names_have(&ns, "alpha") || !names_have(&ns, "gamma"))
		fail_msg("foreach_url(%s) after unlinking beta listed %d names "
			 "(%s %s ...), expected alpha, gamma",
			 dir, ns.n, ns.name[0], ns.name[1]);

	/* a non-zero return from cb stops the walk and is returned */
	memset(&ns, 0, sizeof(ns));
	ns.stop_after = 1;
	ZK_EXPECT(pooter_broker_foreach_url(dir, &zk_opts, names_cb, &ns), 7);
	assert_int_equal(ns.n, 1);

	ZK_EXPECT(pooter_broker_foreach_url(dir, &zk_opts, NULL, NULL),
		  -EINVAL);
}

static void test_bad_urls(void **state)
{
	/* %s: the hosts */
	static const char *const bad[] = {
		"zk://",
		"zk:///pooter-test/x",
		"zk://%s",
		"zk://%s/",
		"zk://%s/pooter-test/",
		"zk://%s/pooter-test//x",
		"zk://%s//x",
		"zk://%s/pooter-test/.x",
		"zk://%s/pooter-test/a b",
		"zk://%s/pooter-test/a*b",
		"zk://%s/poo ter/x",
		"zk://127.0.0.1:notaport/pooter-test/x",
		"zk://127.0.0.1:99999/pooter-test/x",
		"zk://%s,/pooter-test/x",
	};
	/* a URL wrongly taken tries to connect: not for long */
	POOTER_OPTS(pooter_url_opts, quick, .session_timeout_ms = ZK_SESSION_MS,
		    .connect_timeout_ms = 1000);
	char url[ZK_URL_MAX], longname[POOTER_NAME_MAX + 2];
	struct pooter_broker *b = NULL;
	int rc, failures = 0;

	ZK_REQUIRE();
	/* every URL is tried before failing, so that one report lists all */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc_open, rc_unlink;

		snprintf(url, sizeof(url), bad[i], zk_hosts());
		zk_remember_url(url); /* in case one is wrongly made */
		rc = pooter_broker_create_url(url, NULL, &quick, &b);
		printf("zk: create_url(\"%s\") = %d: %s\n", url, rc,
		       pooter_last_error());
		if (rc == 0)
			pooter_broker_close(b);
		rc_open = pooter_broker_open_url(url, &quick, &b);
		if (rc_open == 0)
			pooter_broker_close(b);
		rc_unlink = pooter_broker_unlink_url(url, &quick);
		if (rc != -EINVAL || rc_open != -EINVAL ||
		    rc_unlink != -EINVAL) {
			fprintf(stderr,
				"bad URL \"%s\": create_url %d (%s), "
				"open_url %d, unlink_url %d; expected "
				"-EINVAL (%d) from each\n",
				url, rc, pooter_strerror(rc), rc_open,
				rc_unlink, -EINVAL);
			failures++;
		}
	}
	if (failures)
		fail_msg("%d bad URLs not refused with -EINVAL (listed above)",
			 failures);
	/* a name of 64 bytes */
	memset(longname, 'n', POOTER_NAME_MAX + 1);
	longname[POOTER_NAME_MAX + 1] = '\0';
	snprintf(url, sizeof(url), "zk://%s/pooter-test/%s", zk_hosts(),
		 longname);
	zk_remember_url(url);
	ZK_EXPECT(pooter_broker_create_url(url, NULL, &zk_opts, &b),
		  -ENAMETOOLONG);
	ZK_EXPECT(pooter_broker_open_url(url, &zk_opts, &b), -ENAMETOOLONG);
	/* ... and of 63, fine */
	longname[POOTER_NAME_MAX] = '\0';
	snprintf(url, sizeof(url), "zk://%s/pooter-test/%s", zk_hosts(),
		 longname);
	zk_remember_url(url);
	pooter_broker_unlink_url(url, &zk_opts);
	ZK_EXPECT(pooter_broker_create_url(url, NULL, &zk_opts, &b), 0);
	pooter_broker_close(b);
	ZK_EXPECT(pooter_broker_unlink_url(url, &zk_opts), 0);

	ZK_EXPECT(pooter_broker_open_url(NULL, &zk_opts, &b), -EINVAL);
	snprintf(url, sizeof(url), "zq://%s/pooter-test/x", zk_hosts());
	ZK_EXPECT(pooter_broker_open_url(url, &zk_opts, &b), -EPROTONOSUPPORT);
}

static void test_bad_opts(void **state)
{
	struct {
		struct pooter_url_opts o;
		char more[16];
	} big;
	const size_t sizes[] = {
		0, 1, offsetofend(struct pooter_url_opts, auth) - 1
	};
	struct pooter_url_opts o;
	struct pooter_broker *b = NULL;
	char url[ZK_URL_MAX];
	struct names ns;

	ZK_REQUIRE();
	memset(&ns, 0, sizeof(ns));
	zk_url(url, "opts");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		o = zk_opts;
		o.sz = sizes[i];
		ZK_EXPECT(pooter_broker_create_url(url, NULL, &o, &b), -EINVAL);
		ZK_EXPECT(pooter_broker_open_url(url, &o, &b), -EINVAL);
		ZK_EXPECT(pooter_broker_unlink_url(url, &o), -EINVAL);
		ZK_EXPECT(pooter_broker_foreach_url(url, &o, names_cb, &ns),
			  -EINVAL);
	}
	/* a larger struct: its unknown tail must be zero (libbpf-style) */
	memset(&big, 0, sizeof(big));
	big.o = zk_opts;
	big.o.sz = sizeof(big);
	big.more[3] = 1;
	ZK_EXPECT(pooter_broker_create_url(url, NULL, &big.o, &b), -EINVAL);
	ZK_EXPECT(pooter_broker_open_url(url, &big.o, &b), -EINVAL);
	big.more[3] = 0;
	ZK_EXPECT(pooter_broker_create_url(url, NULL, &big.o, &b), 0);
	pooter_broker_close(b);
	ZK_EXPECT(pooter_broker_unlink_url(url, &big.o), 0);

	/* an auth scheme ZooKeeper's digest is not; auth without a scheme */
	o = zk_opts;
	o.auth_scheme = "kerberos";
	o.auth = "user:password";
	{
		int rc = pooter_broker_create_url(url, NULL, &o, &b);

		/* refused by the library, or by the ensemble (docs/hosts.md) */
		printf("zk: auth scheme kerberos: %d (%s): %s\n", rc,
		       pooter_strerror(rc), pooter_last_error());
		if (rc != -EINVAL && rc != -EACCES)
			fail_msg("auth scheme kerberos: %d (%s), expected "
				 "-EINVAL or -EACCES; last_error \"%s\"",
				 rc, pooter_strerror(rc), pooter_last_error());
	}
	o.auth_scheme = NULL;
	ZK_EXPECT(pooter_broker_create_url(url, NULL, &o, &b), -EINVAL);

	/* the exact size of the known fields is fine */
	o = zk_opts;
	o.sz = offsetofend(struct pooter_url_opts, auth);
	ZK_EXPECT(pooter_broker_create_url(url, NULL, &o, &b), 0);
	pooter_broker_close(b);
	ZK_EXPECT(pooter_broker_open_url(url, NULL, &b), 0);
	pooter_broker_close(b);
}

static void test_bad_attr(void **state)
{
	struct {
		unsigned int field; /* index below */
		unsigned int value;
	} bad[] = {
		{ 0, POOTER_EMITTERS_MAX + 1 },
		{ 1, POOTER_CONSUMERS_MAX + 1 },
		{ 2, ZK_PAYLOAD_LIMIT + 1 },
		{ 2, POOTER_PAYLOAD_MAX },
		{ 3, POOTER_DEPTH_MAX + 1 },
		{ 4, POOTER_TIMEOUT_MAX_MS + 1 },
		{ 5, POOTER_DEFAULT_EMITTERS + 1 }, /* quorum > max_emitters */
	};
	struct pooter_broker *b = NULL;
	char url[ZK_URL_MAX];

	ZK_REQUIRE();
	zk_url(url, "attr");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		POOTER_OPTS(pooter_broker_attr, attr);
		unsigned int *f[] = { &attr.max_emitters, &attr.max_consumers,
				      &attr.max_payload,  &attr.depth,
				      &attr.timeout_ms,	  &attr.quorum };
		int rc;

		*f[bad[i].field] = bad[i].value;
		rc = pooter_broker_create_url(url, &attr, &zk_opts, &b);
		if (rc != -EINVAL)
			fail_msg("create_url with field %u = %u: %d (%s), "
				 "expected -EINVAL; last_error \"%s\"",
				 bad[i].field, bad[i].value, rc,
				 pooter_strerror(rc), pooter_last_error());
		if (bad[i].field == 2)
			printf("zk: max_payload %u: %s\n", bad[i].value,
			       pooter_last_error());
		assert_true(pooter_last_error()[0] != '\0');
	}
	{
		POOTER_OPTS(pooter_broker_attr, attr);

		attr.sz = 0;
		ZK_EXPECT(pooter_broker_create_url(url, &attr, &zk_opts, &b),
			  -EINVAL);
	}
	/* nothing was made of those */
	ZK_EXPECT(pooter_broker_open_url(url, &zk_opts, &b), -ENOENT);
}

/* max_payload at the backend's limit: taken, and a payload that big goes
   through whole; one byte more is refused at create and at emit */
static void test_payload_limit(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 1,
		    .max_consumers = 1, .max_payload = ZK_PAYLOAD_LIMIT,
		    .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	unsigned char *buf;
	uint64_t round = 0, t0;

	ZK_REQUIRE();
	buf = malloc(ZK_PAYLOAD_LIMIT + 1);
	assert_non_null(buf);
	for (unsigned int i = 0; i <= ZK_PAYLOAD_LIMIT; i++)
		buf[i] = (unsigned char)(i * 131u + (i >> 12));
	b = zk_create(url, "big", &attr);
	zk_stat(b, &st);
	assert_int_equal(st.max_payload, ZK_PAYLOAD_LIMIT);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	ZK_EXPECT(pooter_emitter_join(b, "big", 0, &e), 0);

	ZK_EXPECT(pooter_emit(e, buf, ZK_PAYLOAD_LIMIT + 1, &round), -EMSGSIZE);
	assert_int_equal(round, 0);
	t0 = h_now_ns();
	ZK_EXPECT(pooter_emit(e, buf, ZK_PAYLOAD_LIMIT, &round), 0);
	printf("zk: an emit of %u bytes took %llu ms\n", ZK_PAYLOAD_LIMIT,
	       (unsigned long long)zk_ms_since(t0));
	assert_int_equal(round, 1);
	ZK_EXPECT(pooter_consume(c, H_LONG_MS, &d), 0);
	assert_int_equal(d->round, 1);
	assert_int_equal(d->count, 1);
	assert_string_equal(d->payloads[0].emitter, "big");
	assert_int_equal(d->payloads[0].len, ZK_PAYLOAD_LIMIT);
	assert_memory_equal(d->payloads[0].data, buf, ZK_PAYLOAD_LIMIT);
	ZK_EXPECT(pooter_release(c, d), 0);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.emits, 1);
	ZK_EXPECT(pooter_emitter_leave(e), 0);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
	free(buf);
}

/* --- rounds -------------------------------------------------------------- */

/* E=2, C=1: both payloads, with the emitters' names, exactly once */
static void test_round_resolved(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 2, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_broker_stat st;
	struct pooter_consumer *c, *late;
	struct zk_peer pa, pb;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];

	ZK_REQUIRE();
	b = zk_create(url, "round", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "alpha", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "beta", 0), 0);

	zk_peer_emit_async(&pa, "payload-of-alpha");
	wait_emitted(b, 1, 1);
	zk_stat(b, &st);
	assert_int_equal(st.round_participants, 2);
	assert_int_equal(st.round_emitted, 1);
	assert_false(zk_peer_pending(&pa));
	zk_peer_emit_async(&pb, "payload-of-beta");
	expect_res(&pa, 0, 1, NULL);
	expect_res(&pb, 0, 1, NULL);

	d = zk_expect_delivery(c, H_LONG_MS, 1, 0,
			       "alpha=payload-of-alpha;beta=payload-of-beta");
	assert_int_equal(d->count, 2);
	ZK_EXPECT(pooter_release(c, d), 0);
	ZK_EXPECT(pooter_release(c, d), -EINVAL);
	expect_none(c, 500);

	/* a consumer joined after the round gets nothing of it */
	ZK_EXPECT(pooter_consumer_join(b, "late", 0, &late), 0);
	expect_none(late, 300);

	zk_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.rounds_timedout + st.rounds_cancelled +
				 st.rounds_ownerdead,
			 0);
	assert_int_equal(st.emits, 2);
	assert_int_equal(st.deliveries, 1);
	assert_int_equal(st.emitters, 2);
	assert_int_equal(st.consumers, 2);

	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	ZK_EXPECT(pooter_consumer_leave(late), 0);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

#define ORDER_ROUNDS 40

struct order_arg {
	const char *url;
	const char *name;
	int rounds;
	int ready_wr;
	struct h_gate *go;
};

static int order_emitter(void *argp)
{
	const struct order_arg *a = argp;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	char buf[64];

	ZC_EXPECT(pooter_broker_open_url(a->url, &zk_opts, &b), 0);
	ZC_EXPECT(pooter_emitter_join(b, a->name, 0, &e), 0);
	C_EQ(h_write(a->ready_wr, "j", 1), 0);
	h_gate_wait(a->go);
	for (int i = 0; i < a->rounds; i++) {
		uint64_t round = 0;
		int len = snprintf(buf, sizeof(buf), "%s-%d", a->name, i);

		ZC_EXPECT(pooter_emit(e, buf, (size_t)len, &round), 0);
		C_EQ(round, i + 1);
	}
	ZC_EXPECT(pooter_emitter_leave(e), 0);
	pooter_broker_close(b);
	return 0;
}

static void test_rounds_in_order(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .depth = 16,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct order_arg args[2];
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct pooter_broker *b;
	struct h_pipe ready;
	struct h_gate go;
	char url[ZK_URL_MAX], want[128], byte;
	pid_t pids[2];
	uint64_t t0;

	ZK_REQUIRE();
	b = zk_create(url, "order", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	h_pipe_init(&ready);
	h_gate_init(&go);
	for (int i = 0; i < 2; i++) {
		args[i] = (struct order_arg){ url, i ? "b" : "a", ORDER_ROUNDS,
					      ready.wr, &go };
		pids[i] = h_spawn(order_emitter, &args[i]);
	}
	for (int i = 0; i < 2; i++) {
		if (h_read(ready.rd, &byte, 1, H_LONG_MS) == 0)
			continue;
		zk_debug_pid(pids[0], "not ready");
		zk_debug_pid(pids[1], "not ready");
		fail_msg("%d of 2 emitters opened and joined within %d ms "
			 "(ZK_DEBUG_HANG=1 prints their backtraces)",
			 i, H_LONG_MS);
	}
	t0 = h_now_ns();
	h_gate_open(&go);
	for (int i = 0; i < ORDER_ROUNDS; i++) {
		const struct pooter_delivery *d;

		snprintf(want, sizeof(want), "a=a-%d;b=b-%d", i, i);
		d = zk_expect_delivery(c, H_LONG_MS, (uint64_t)i + 1, 0, want);
		ZK_EXPECT(pooter_release(c, d), 0);
	}
	printf("zk: %d rounds of 2 emitters in %llu ms\n", ORDER_ROUNDS,
	       (unsigned long long)zk_ms_since(t0));
	for (int i = 0; i < 2; i++)
		h_expect_ok(pids[i]);
	expect_none(c, 300);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, ORDER_ROUNDS);
	assert_int_equal(st.rounds_resolved, ORDER_ROUNDS);
	assert_int_equal(st.emits, 2 * ORDER_ROUNDS);
	assert_int_equal(st.deliveries, ORDER_ROUNDS);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	h_pipe_close(&ready);
	h_gate_close(&go);
	zk_close(b);
}

/* One participant never emits: ETIMEDOUT, not before the timeout */
static void test_timeout(void **state)
{
	const unsigned int timeout_ms = 1500;
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .timeout_ms = timeout_ms);
	struct pooter_broker_stat st;
	struct zk_peer pa, pb;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res r;
	uint64_t took;

	ZK_REQUIRE();
	b = zk_create(url, "timeout", &attr);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	zk_peer_emit_async(&pa, "a1");
	expect_res(&pa, -ETIMEDOUT, 1, &r);
	took = r.t_end_ns - r.t_start_ns;
	printf("zk: ETIMEDOUT after %.1f ms (timeout %u ms)\n",
	       (double)took / 1e6, timeout_ms);
	if (took < (uint64_t)timeout_ms * H_NS_PER_MS)
		fail_msg("the emit gave -ETIMEDOUT after %.3f ms, before the "
			 "timeout of %u ms",
			 (double)took / 1e6, timeout_ms);
	if (took > (uint64_t)(timeout_ms + H_SLACK_MS) * H_NS_PER_MS)
		fail_msg("the emit gave -ETIMEDOUT only after %.3f ms "
			 "(timeout %u ms)",
			 (double)took / 1e6, timeout_ms);
	zk_stat(b, &st);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.rounds_timedout, 1);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.emits, 1);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_close(b);
}

/* A deadline nobody waits on is enforced by the next call (a stat) */
static void test_deadline_enforced(void **state)
{
	const unsigned int timeout_ms = 1000;
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .timeout_ms = timeout_ms);
	struct pooter_broker_stat st;
	struct zk_peer pa, pb;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res r;

	ZK_REQUIRE();
	b = zk_create(url, "enforce", &attr);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	zk_peer_submit_async(&pa, 0, "a1");
	expect_res(&pa, 0, 1, &r);
	assert_int_equal(r.outcome, -EINPROGRESS);
	/* only time passes: nobody is waiting on the round */
	h_sleep_until_ns(r.t_end_ns + (timeout_ms + 300) * H_NS_PER_MS);
	zk_stat(b, &st);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, -ETIMEDOUT);
	assert_int_equal(st.rounds_timedout, 1);
	zk_peer_ticket_wait_async(&pa, 0);
	expect_res(&pa, -ETIMEDOUT, 1, &r);
	assert_int_equal(r.outcome, -ETIMEDOUT);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_close(b);
}

/* --- joining ------------------------------------------------------------- */

static void test_join_busy(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 4,
		    .max_consumers = 1, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_consumer *c;
	struct zk_peer p[4];
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res rb, rd;

	ZK_REQUIRE();
	b = zk_create(url, "busy", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	for (int i = 0; i < 4; i++)
		zk_peer_start(&p[i], url);
	ZK_EXPECT(zk_peer_join_emitter(&p[0], "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&p[1], "b", 0), 0);
	zk_peer_emit_async(&p[0], "a1");
	wait_emitted(b, 1, 1);

	ZK_EXPECT(zk_peer_join_emitter(&p[2], "c", 0), -EBUSY);
	zk_peer_join_emitter_async(&p[3], "d", POOTER_JOIN_WAIT);
	/* it waits for the round to end (a bounded look that it does) */
	if (zk_peer_try_res(&p[3], &rd, 500) == 0)
		fail_msg("a POOTER_JOIN_WAIT join returned %d (%s) while "
			 "round 1 was open; text \"%s\"",
			 rd.rc, pooter_strerror(rd.rc), rd.text);
	zk_peer_emit_async(&p[1], "b1");
	expect_res(&p[0], 0, 1, NULL);
	expect_res(&p[1], 0, 1, &rb);
	expect_res(&p[3], 0, H_ROUND_UNTOUCHED, &rd);
	assert_true(rd.t_end_ns >= rb.t_start_ns);
	d = zk_expect_delivery(c, H_LONG_MS, 1, 0, "a=a1;b=b1");
	ZK_EXPECT(pooter_release(c, d), 0);

	/* no round open: c joins; round 2 needs all four */
	ZK_EXPECT(zk_peer_join_emitter(&p[2], "c", 0), 0);
	for (int i = 0; i < 4; i++) {
		char pl[8];

		snprintf(pl, sizeof(pl), "%c2", 'a' + i);
		zk_peer_emit_async(&p[i], pl);
	}
	for (int i = 0; i < 4; i++)
		expect_res(&p[i], 0, 2, NULL);
	d = zk_expect_delivery(c, H_LONG_MS, 2, 0, "a=a2;b=b2;c=c2;d=d2");
	ZK_EXPECT(pooter_release(c, d), 0);
	for (int i = 0; i < 4; i++)
		zk_peer_stop(&p[i]);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/* A barrier of 3 processes that join one by one */
static void test_quorum(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 5,
		    .max_consumers = 1, .quorum = 3,
		    .timeout_ms = H_ROUND_LONG_MS);
	static const char *const names[] = { "one", "two", "three", "four",
					     "five" };
	const struct pooter_delivery *d;
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct zk_peer p[5];
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res r;

	ZK_REQUIRE();
	b = zk_create(url, "quorum", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	for (int i = 0; i < 5; i++)
		zk_peer_start(&p[i], url);

	ZK_EXPECT(zk_peer_join_emitter(&p[0], names[0], 0), 0);
	zk_peer_emit_async(&p[0], "p-one");
	wait_emitted(b, 1, 1);
	zk_stat(b, &st);
	assert_int_equal(st.round_fixed, 0);

	/* the participant set is open until 3 are joined */
	ZK_EXPECT(zk_peer_join_emitter(&p[1], names[1], 0), 0);
	zk_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round_participants, 2);
	assert_int_equal(st.round_fixed, 0);
	zk_peer_emit_async(&p[1], "p-two");
	wait_emitted(b, 1, 2);
	/* two of two emitted, but no quorum yet: not resolved */
	if (zk_peer_try_res(&p[0], &r, 300) == 0)
		fail_msg("round 1 ended (%d, %s) with 2 of a quorum of 3", r.rc,
			 pooter_strerror(r.rc));

	ZK_EXPECT(zk_peer_join_emitter(&p[2], names[2], 0), 0);
	zk_stat(b, &st);
	assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
	assert_int_equal(st.round_participants, 3);
	assert_int_equal(st.round_fixed, 1);
	/* fixed now: others are busy, or wait */
	ZK_EXPECT(zk_peer_join_emitter(&p[3], names[3], 0), -EBUSY);
	zk_peer_join_emitter_async(&p[4], names[4], POOTER_JOIN_WAIT);
	zk_peer_emit_async(&p[2], "p-three");
	for (int i = 0; i < 3; i++)
		expect_res(&p[i], 0, 1, NULL);
	expect_res(&p[4], 0, H_ROUND_UNTOUCHED, NULL);
	d = zk_expect_delivery(c, H_LONG_MS, 1, 0,
			       "one=p-one;three=p-three;two=p-two");
	ZK_EXPECT(pooter_release(c, d), 0);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_resolved, 1);
	assert_int_equal(st.emits, 3);
	assert_int_equal(st.emitters, 4);
	for (int i = 0; i < 5; i++)
		zk_peer_stop(&p[i]);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/* --- cancelling ---------------------------------------------------------- */

static void test_cancel(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = H_ROUND_LONG_MS);
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct zk_peer pa, pb, op;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	unsigned int one = 1;

	ZK_REQUIRE();
	b = zk_create(url, "cancel", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	zk_peer_start(&op, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);

	/* an owing participant leaves */
	zk_peer_emit_async(&pa, "a1");
	wait_emitted(b, 1, 1);
	ZK_EXPECT(zk_peer_leave_emitter(&pb), 0);
	expect_res(&pa, -ECANCELED, 1, NULL);
	zk_stat_until(b, &st, zk_pred_emitters, &one, H_LONG_MS);
	assert_int_equal(st.round_outcome, -ECANCELED);
	assert_int_equal(st.rounds_cancelled, 1);

	/* its name is free again; an operator in another process cancels */
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	zk_peer_emit_async(&pa, "a2");
	wait_emitted(b, 2, 1);
	ZK_EXPECT(zk_peer_cancel(&op), 0);
	expect_res(&pa, -ECANCELED, 2, NULL);
	ZK_EXPECT(pooter_round_cancel(b), -ENOENT);
	ZK_EXPECT(zk_peer_cancel(&op), -ENOENT);

	/* and one with this process's handle */
	zk_peer_emit_async(&pb, "b3");
	wait_emitted(b, 3, 1);
	ZK_EXPECT(pooter_round_cancel(b), 0);
	expect_res(&pb, -ECANCELED, 3, NULL);

	expect_none(c, 300);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, 3);
	assert_int_equal(st.rounds_cancelled, 3);
	assert_int_equal(st.rounds_resolved, 0);
	assert_int_equal(st.emits, 3);
	assert_int_equal(st.deliveries, 0);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_peer_stop(&op);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/* Notices: the cancelled rounds' numbers and reasons, in round order */
static void test_notices(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 2, .timeout_ms = 5000);
	const struct pooter_delivery *d;
	struct pooter_broker_stat st;
	struct pooter_consumer *notes;
	struct zk_peer pa, pb, plain;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res r;
	uint64_t took;

	ZK_REQUIRE();
	b = zk_create(url, "notices", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "notes", POOTER_CONSUMER_NOTICES,
				       &notes),
		  0);
	zk_peer_start(&plain, url);
	ZK_EXPECT(zk_peer_join_consumer(&plain, "plain", 0), 0);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);

	/* 1: cancelled by the operator */
	zk_peer_emit_async(&pa, "a1");
	wait_emitted(b, 1, 1);
	ZK_EXPECT(pooter_round_cancel(b), 0);
	expect_res(&pa, -ECANCELED, 1, NULL);
	/* 2: resolved */
	zk_peer_emit_async(&pa, "a2");
	zk_peer_emit_async(&pb, "b2");
	expect_res(&pa, 0, 2, NULL);
	expect_res(&pb, 0, 2, NULL);
	/* 3: timed out, with a shorter timeout set for it */
	ZK_EXPECT(pooter_broker_set_timeout(b, POOTER_TIMEOUT_MAX_MS + 1),
		  -EINVAL);
	ZK_EXPECT(pooter_broker_set_timeout(b, 1000), 0);
	zk_stat(b, &st);
	assert_int_equal(st.timeout_ms, 1000);
	zk_peer_emit_async(&pa, "a3");
	expect_res(&pa, -ETIMEDOUT, 3, &r);
	took = r.t_end_ns - r.t_start_ns;
	printf("zk: round 3 timed out after %.1f ms (timeout 1000 ms)\n",
	       (double)took / 1e6);
	assert_true(took >= 1000 * H_NS_PER_MS);
	assert_true(took < 5000 * H_NS_PER_MS);
	ZK_EXPECT(pooter_broker_set_timeout(b, 5000), 0);
	/* 4: resolved */
	zk_peer_emit_async(&pb, "b4");
	zk_peer_emit_async(&pa, "a4");
	expect_res(&pa, 0, 4, NULL);
	expect_res(&pb, 0, 4, NULL);

	d = zk_expect_delivery(notes, H_LONG_MS, 1, -ECANCELED, "");
	ZK_EXPECT(pooter_release(notes, d), 0);
	d = zk_expect_delivery(notes, H_LONG_MS, 2, 0, "a=a2;b=b2");
	ZK_EXPECT(pooter_release(notes, d), 0);
	d = zk_expect_delivery(notes, H_LONG_MS, 3, -ETIMEDOUT, "");
	ZK_EXPECT(pooter_release(notes, d), 0);
	d = zk_expect_delivery(notes, H_LONG_MS, 4, 0, "a=a4;b=b4");
	ZK_EXPECT(pooter_release(notes, d), 0);
	expect_none(notes, 300);

	zk_peer_consume(&plain, H_LONG_MS, &r);
	ZK_RES_EXPECT(&r, 0);
	assert_int_equal(r.round, 2);
	assert_int_equal(r.outcome, 0);
	assert_string_equal(r.text, "a=a2;b=b2");
	ZK_EXPECT(zk_peer_release(&plain, 2), 0);
	zk_peer_consume(&plain, H_LONG_MS, &r);
	ZK_RES_EXPECT(&r, 0);
	assert_int_equal(r.round, 4);
	assert_string_equal(r.text, "a=a4;b=b4");
	ZK_EXPECT(zk_peer_release(&plain, 4), 0);
	zk_peer_consume(&plain, 300, &r);
	ZK_RES_EXPECT(&r, -ETIMEDOUT);

	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_peer_stop(&plain);
	ZK_EXPECT(pooter_consumer_leave(notes), 0);
	zk_close(b);
}

/* --- consumers: back-pressure and releases ------------------------------- */

static void test_backpressure(void **state)
{
	const unsigned int timeout_ms = 1500;
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 1,
		    .max_consumers = 1, .depth = 1, .timeout_ms = timeout_ms);
	const struct pooter_delivery *d1, *d;
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct zk_peer pa;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res r;
	uint64_t took, t_release;

	ZK_REQUIRE();
	b = zk_create(url, "depth", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "slow", 0, &c), 0);
	zk_peer_start(&pa, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_emit(&pa, "r1", &r), 0);
	assert_int_equal(r.round, 1);

	/* the consumer holds round 1: no round may open */
	d1 = zk_expect_delivery(c, H_LONG_MS, 1, 0, "a=r1");
	assert_int_equal(zk_peer_emit(&pa, "r2", &r), -EAGAIN);
	assert_int_equal(r.round, H_ROUND_UNTOUCHED);
	took = r.t_end_ns - r.t_start_ns;
	printf("zk: EAGAIN after %.1f ms (timeout %u ms)\n", (double)took / 1e6,
	       timeout_ms);
	if (took < (uint64_t)timeout_ms * H_NS_PER_MS ||
	    took > (uint64_t)(timeout_ms + H_SLACK_MS) * H_NS_PER_MS)
		fail_msg("EAGAIN after %.3f ms, expected the timeout of %u ms",
			 (double)took / 1e6, timeout_ms);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, 1);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);

	/* a release wakes an emit waiting for room */
	zk_peer_emit_async(&pa, "r2");
	if (zk_peer_try_res(&pa, &r, 300) == 0)
		fail_msg("an emit with the ring full returned %d (%s) in "
			 "300 ms",
			 r.rc, pooter_strerror(r.rc));
	t_release = h_now_ns();
	ZK_EXPECT(pooter_release(c, d1), 0);
	expect_res(&pa, 0, 2, &r);
	printf("zk: the emit went on %.1f ms after the release\n",
	       (double)(r.t_end_ns - t_release) / 1e6);

	/* a round resolved and not yet consumed holds room too */
	assert_int_equal(zk_peer_emit(&pa, "r3", &r), -EAGAIN);
	d = zk_expect_delivery(c, H_LONG_MS, 2, 0, "a=r2");
	ZK_EXPECT(pooter_release(c, d), 0);
	ZK_EXPECT(zk_peer_emit(&pa, "r3", &r), 0);
	assert_int_equal(r.round, 3);
	d = zk_expect_delivery(c, H_LONG_MS, 3, 0, "a=r3");
	ZK_EXPECT(pooter_release(c, d), 0);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, 3);
	assert_int_equal(st.rounds_resolved, 3);
	assert_int_equal(st.emits, 3);
	zk_peer_stop(&pa);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

static void test_release_out_of_order(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 1,
		    .max_consumers = 1, .depth = 4,
		    .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d[6], *dd;
	struct pooter_consumer *c;
	struct zk_peer pa;
	struct pooter_broker *b;
	char url[ZK_URL_MAX], pl[16], want[32];
	struct zk_res r;

	ZK_REQUIRE();
	b = zk_create(url, "release", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "c", 0, &c), 0);
	zk_peer_start(&pa, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	for (int i = 1; i <= 4; i++) {
		snprintf(pl, sizeof(pl), "r%d", i);
		ZK_EXPECT(zk_peer_emit(&pa, pl, &r), 0);
		assert_int_equal(r.round, i);
		snprintf(want, sizeof(want), "a=r%d", i);
		d[i] = zk_expect_delivery(c, H_LONG_MS, (uint64_t)i, 0, want);
	}
	/* holding depth deliveries */
	ZK_EXPECT(pooter_consume(c, 0, &dd), -ENOBUFS);
	/* and the ring is full for round 5 until one is released */
	zk_peer_emit_async(&pa, "r5");
	if (zk_peer_try_res(&pa, &r, 300) == 0)
		fail_msg("emit with depth 4 rounds held returned %d (%s)", r.rc,
			 pooter_strerror(r.rc));
	ZK_EXPECT(pooter_release(c, d[2]), 0);
	zk_peer_res(&pa, &r, H_LONG_MS);
	printf("zk: the emit of round 5, after releasing round 2 of 1..4: "
	       "%d (%s) round %lld after %.1f ms: \"%s\"\n",
	       r.rc, pooter_strerror(r.rc),
	       r.round == H_ROUND_UNTOUCHED ? -1ll : (long long)r.round,
	       (double)(r.t_end_ns - r.t_start_ns) / 1e6, r.text);
	ZK_RES_EXPECT(&r, 0);
	assert_int_equal(r.round, 5);
	/* the others are still whole */
	for (int i = 1; i <= 4; i++) {
		if (i == 2)
			continue;
		snprintf(pl, sizeof(pl), "r%d", i);
		assert_int_equal(d[i]->round, i);
		assert_int_equal(d[i]->count, 1);
		assert_int_equal(d[i]->payloads[0].len, strlen(pl));
		assert_memory_equal(d[i]->payloads[0].data, pl, strlen(pl));
	}
	ZK_EXPECT(pooter_release(c, d[4]), 0);
	ZK_EXPECT(pooter_release(c, d[1]), 0);
	ZK_EXPECT(pooter_release(c, d[3]), 0);
	ZK_EXPECT(pooter_release(c, d[2]), -EINVAL);
	d[5] = zk_expect_delivery(c, H_LONG_MS, 5, 0, "a=r5");
	ZK_EXPECT(pooter_release(c, d[5]), 0);
	expect_none(c, 300);
	zk_peer_stop(&pa);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/* --- tickets: late waiters ----------------------------------------------- */

static void test_late_waiter(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .timeout_ms = H_ROUND_LONG_MS);
	struct zk_peer pa, pb;
	struct pooter_broker *b;
	char url[ZK_URL_MAX], pl[16];
	struct zk_res r;

	ZK_REQUIRE();
	b = zk_create(url, "late", &attr);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);

	/* round 1: a submits (ticket 0), b resolves it */
	zk_peer_submit_async(&pa, 0, "a1");
	expect_res(&pa, 0, 1, &r);
	assert_int_equal(r.outcome, -EINPROGRESS);
	ZK_EXPECT(zk_peer_emit(&pb, "b1", &r), 0);
	assert_int_equal(r.round, 1);
	/* round 2: a submits (ticket 1), the operator cancels */
	zk_peer_submit_async(&pa, 1, "a2");
	expect_res(&pa, 0, 2, &r);
	assert_int_equal(r.outcome, -EINPROGRESS);
	ZK_EXPECT(pooter_round_cancel(b), 0);
	/* round 3: b opens it, a's submit (ticket 2) resolves it */
	zk_peer_emit_async(&pb, "b3");
	wait_emitted(b, 3, 1);
	zk_peer_submit_async(&pa, 2, "a3");
	expect_res(&pa, 0, 3, &r);
	assert_int_equal(r.outcome, 0);
	expect_res(&pb, 0, 3, NULL);
	/* rounds 4..8 happen meanwhile */
	for (int i = 4; i <= 8; i++) {
		snprintf(pl, sizeof(pl), "a%d", i);
		zk_peer_emit_async(&pa, pl);
		snprintf(pl, sizeof(pl), "b%d", i);
		zk_peer_emit_async(&pb, pl);
		expect_res(&pa, 0, (uint64_t)i, NULL);
		expect_res(&pb, 0, (uint64_t)i, NULL);
	}
	/* the waits, late and out of order: each its own round's outcome */
	zk_peer_ticket_wait_async(&pa, 1);
	expect_res(&pa, -ECANCELED, 2, &r);
	assert_int_equal(r.outcome, -ECANCELED);
	zk_peer_ticket_wait_async(&pa, 0);
	expect_res(&pa, 0, 1, &r);
	assert_int_equal(r.outcome, 0);
	zk_peer_ticket_wait_async(&pa, 2);
	expect_res(&pa, 0, 3, NULL);
	zk_peer_ticket_wait_async(&pa, 1); /* settled: the same again */
	expect_res(&pa, -ECANCELED, 2, NULL);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_close(b);
}

/* --- counters ------------------------------------------------------------ */

static void expect_counters(const struct pooter_broker_stat *st,
			    const struct pooter_broker_stat *want)
{
	if (st->rounds_opened != want->rounds_opened ||
	    st->rounds_resolved != want->rounds_resolved ||
	    st->rounds_timedout != want->rounds_timedout ||
	    st->rounds_cancelled != want->rounds_cancelled ||
	    st->rounds_ownerdead != want->rounds_ownerdead ||
	    st->emits != want->emits || st->deliveries != want->deliveries)
		fail_msg("counters opened %llu resolved %llu timedout %llu "
			 "cancelled %llu ownerdead %llu emits %llu deliveries "
			 "%llu; expected %llu %llu %llu %llu %llu %llu %llu",
			 (unsigned long long)st->rounds_opened,
			 (unsigned long long)st->rounds_resolved,
			 (unsigned long long)st->rounds_timedout,
			 (unsigned long long)st->rounds_cancelled,
			 (unsigned long long)st->rounds_ownerdead,
			 (unsigned long long)st->emits,
			 (unsigned long long)st->deliveries,
			 (unsigned long long)want->rounds_opened,
			 (unsigned long long)want->rounds_resolved,
			 (unsigned long long)want->rounds_timedout,
			 (unsigned long long)want->rounds_cancelled,
			 (unsigned long long)want->rounds_ownerdead,
			 (unsigned long long)want->emits,
			 (unsigned long long)want->deliveries);
}

static void test_stat_counters(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = 1500);
	const struct pooter_delivery *d;
	struct pooter_broker_stat st, want;
	struct pooter_consumer *c;
	struct zk_peer pa, pb;
	struct pooter_broker *b, *b2;
	char url[ZK_URL_MAX];

	ZK_REQUIRE();
	b = zk_create(url, "counters", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	/* 1: resolved */
	zk_peer_emit_async(&pa, "a1");
	zk_peer_emit_async(&pb, "b1");
	expect_res(&pa, 0, 1, NULL);
	expect_res(&pb, 0, 1, NULL);
	/* 2: timed out */
	zk_peer_emit_async(&pa, "a2");
	expect_res(&pa, -ETIMEDOUT, 2, NULL);
	/* 3: cancelled */
	zk_peer_emit_async(&pa, "a3");
	wait_emitted(b, 3, 1);
	ZK_EXPECT(pooter_round_cancel(b), 0);
	expect_res(&pa, -ECANCELED, 3, NULL);
	/* 4: cancelled by a leave; b comes back */
	zk_peer_emit_async(&pa, "a4");
	wait_emitted(b, 4, 1);
	ZK_EXPECT(zk_peer_leave_emitter(&pb), 0);
	expect_res(&pa, -ECANCELED, 4, NULL);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	/* 5: resolved */
	zk_peer_emit_async(&pb, "b5");
	zk_peer_emit_async(&pa, "a5");
	expect_res(&pa, 0, 5, NULL);
	expect_res(&pb, 0, 5, NULL);
	d = zk_expect_delivery(c, H_LONG_MS, 1, 0, "a=a1;b=b1");
	ZK_EXPECT(pooter_release(c, d), 0);
	d = zk_expect_delivery(c, H_LONG_MS, 5, 0, "a=a5;b=b5");
	ZK_EXPECT(pooter_release(c, d), 0);

	memset(&want, 0, sizeof(want));
	want.rounds_opened = 5;
	want.rounds_resolved = 2;
	want.rounds_timedout = 1;
	want.rounds_cancelled = 2;
	want.emits = 7;
	want.deliveries = 2;
	zk_stat(b, &st);
	expect_counters(&st, &want);
	assert_int_equal(st.round, 5);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.emitters, 2);
	assert_int_equal(st.consumers, 1);
	/* the same from a fresh handle and from another process */
	b2 = zk_open(url);
	zk_stat(b2, &st);
	expect_counters(&st, &want);
	zk_close(b2);
	zk_peer_stat(&pa, &st);
	expect_counters(&st, &want);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/* --- names --------------------------------------------------------------- */

/*
 * ACLs: with digest auth, a broker of mode 0600 is its creator's alone (its
 * credentials: open, join, unlink); 0644 lets others read (open, stat) but
 * not take part.
 */
static void test_acl(void **state)
{
	POOTER_OPTS(pooter_broker_attr, own, .mode = 0600);
	POOTER_OPTS(pooter_broker_attr, readable, .mode = 0644);
	struct pooter_url_opts alice = zk_opts, bob = zk_opts;
	char url[ZK_URL_MAX], url2[ZK_URL_MAX];
	struct pooter_broker_stat st;
	struct pooter_broker *b, *o;
	struct pooter_emitter *e;

	ZK_REQUIRE();
	alice.auth_scheme = "digest";
	alice.auth = "alice:secret";
	bob.auth_scheme = "digest";
	bob.auth = "bob:other";

	zk_url(url, "acl");
	ZK_EXPECT(pooter_broker_create_url(url, &own, &alice, &b), 0);
	ZK_EXPECT(pooter_broker_open_url(url, &zk_opts, &o), -EACCES);
	ZK_EXPECT(pooter_broker_open_url(url, &bob, &o), -EACCES);
	ZK_EXPECT(pooter_broker_open_url(url, &alice, &o), 0);
	ZK_EXPECT(pooter_emitter_join(o, "a", 0, &e), 0);
	ZK_EXPECT(pooter_emitter_leave(e), 0);
	pooter_broker_close(o);
	ZK_EXPECT(pooter_broker_unlink_url(url, &bob), -EACCES);
	ZK_EXPECT(pooter_broker_unlink_url(url, &alice), 0);
	pooter_broker_close(b);

	zk_url(url2, "acl-read");
	ZK_EXPECT(pooter_broker_create_url(url2, &readable, &alice, &b), 0);
	ZK_EXPECT(pooter_broker_open_url(url2, &zk_opts, &o), 0);
	ZK_EXPECT(pooter_broker_stat(o, &st), 0);
	assert_int_equal(st.emitters, 0);
	ZK_EXPECT(pooter_emitter_join(o, "b", 0, &e), -EACCES);
	pooter_broker_close(o);
	ZK_EXPECT(pooter_broker_unlink_url(url2, &alice), 0);
	pooter_broker_close(b);
}

static void test_names_unique(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 3,
		    .max_consumers = 3);
	char url[ZK_URL_MAX], longname[POOTER_NAME_MAX + 2];
	struct pooter_emitter *ex, *eg, *e;
	struct pooter_consumer *c, *cx;
	struct pooter_broker *b;
	struct zk_peer p;
	const char *gen;

	ZK_REQUIRE();
	b = zk_create(url, "names", &attr);
	zk_peer_start(&p, url);
	ZK_EXPECT(pooter_emitter_join(b, "x", 0, &ex), 0);
	ZK_EXPECT(pooter_consumer_join(b, "x", 0, &c), -EEXIST);
	ZK_EXPECT(zk_peer_join_emitter(&p, "x", 0), -EEXIST);
	ZK_EXPECT(zk_peer_join_consumer(&p, "x", 0), -EEXIST);
	ZK_EXPECT(zk_peer_join_consumer(&p, "y", 0), 0);
	ZK_EXPECT(pooter_emitter_join(b, "y", 0, &e), -EEXIST);
	ZK_EXPECT(pooter_consumer_join(b, "y", 0, &c), -EEXIST);

	ZK_EXPECT(pooter_emitter_join(b, ".x", 0, &e), -EINVAL);
	ZK_EXPECT(pooter_emitter_join(b, "a b", 0, &e), -EINVAL);
	ZK_EXPECT(pooter_emitter_join(b, "", 0, &e), -EINVAL);
	ZK_EXPECT(pooter_consumer_join(b, "a/b", 0, &c), -EINVAL);
	memset(longname, 'l', POOTER_NAME_MAX + 1);
	longname[POOTER_NAME_MAX + 1] = '\0';
	ZK_EXPECT(pooter_emitter_join(b, longname, 0, &e), -ENAMETOOLONG);
	ZK_EXPECT(pooter_consumer_join(b, longname, 0, &c), -ENAMETOOLONG);

	/* NULL: a generated UUIDv7 */
	ZK_EXPECT(pooter_emitter_join(b, NULL, 0, &eg), 0);
	gen = pooter_emitter_name(eg);
	assert_non_null(gen);
	printf("zk: generated emitter name %s\n", gen);
	assert_int_equal(strlen(gen), 36);
	assert_int_equal(gen[14], '7');
	ZK_EXPECT(pooter_consumer_join(b, gen, 0, &c), -EEXIST);

	/* a name left is free, for the other kind too */
	ZK_EXPECT(pooter_emitter_leave(ex), 0);
	ZK_EXPECT(pooter_consumer_join(b, "x", 0, &cx), 0);
	ZK_EXPECT(pooter_consumer_leave(cx), 0);
	ZK_EXPECT(pooter_emitter_leave(eg), 0);
	zk_peer_stop(&p);
	zk_close(b);
}

/* --- what the backend does not do ---------------------------------------- */

static void check_report(const char *problem, void *arg)
{
	(void)problem;
	(*(int *)arg)++;
}

static int record_cb(const struct pooter_record_info *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

static void test_unsupported(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 1,
		    .max_consumers = 1, .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	int calls = 0;
	void *loan = NULL;
	uint64_t round = 0;

	ZK_REQUIRE();
	b = zk_create(url, "unsup", &attr);
	ZK_EXPECT(pooter_broker_check(url, check_report, &calls), -EOPNOTSUPP);
	assert_true(pooter_last_error()[0] != '\0');
	ZK_EXPECT(pooter_broker_foreach_record(b, record_cb, &calls),
		  -EOPNOTSUPP);
	assert_true(pooter_last_error()[0] != '\0');
	assert_int_equal(calls, 0);
	ZK_EXPECT(pooter_consumer_join(b, "c", 0, &c), 0);
	ZK_EXPECT(pooter_emitter_join(b, "e", 0, &e), 0);
	ZK_EXPECT(pooter_emit_loan(e, 8, 0, &loan), -EOPNOTSUPP);
	ZK_EXPECT(pooter_emit_loan(e, 8, POOTER_LOAN_NOWAIT, &loan),
		  -EOPNOTSUPP);
	assert_null(loan);
	ZK_EXPECT(pooter_emit_commit(e, "x", 1, &round), -EOPNOTSUPP);
	ZK_EXPECT(pooter_emit_abort(e, "x"), -EOPNOTSUPP);
	/* nothing of those opened a round; the emit works */
	ZK_EXPECT(pooter_emit(e, "x", 1, &round), 0);
	assert_int_equal(round, 1);
	d = zk_expect_delivery(c, H_LONG_MS, 1, 0, "e=x");
	ZK_EXPECT(pooter_release(c, d), 0);
	ZK_EXPECT(pooter_emitter_leave(e), 0);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/* --- io_uring waits on zk handles (docs/hosts.md) ------------------------ */

/*
 * The next CQE within timeout_ms (asserted).  Every completion of a zk
 * wait carries the caller's user_data: no auxiliary ones on this backend.
 */
static struct io_uring_cqe *uring_next(struct io_uring *ring, int timeout_ms,
				       uint64_t user_data)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (long long)(timeout_ms % 1000) * 1000000,
	};
	struct io_uring_cqe *cqe = NULL;
	int rc;

	assert_true(io_uring_submit(ring) >= 0);
	do
		rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	while (rc == -EINTR);
	if (rc != 0)
		fail_msg("no completion within %d ms (%d)", timeout_ms, rc);
	if (cqe->user_data != user_data)
		fail_msg("a completion with user_data %#llx (res %d), expected "
			 "%#llx",
			 (unsigned long long)cqe->user_data, cqe->res,
			 (unsigned long long)user_data);
	assert_false(pooter_cqe_is_aux(cqe));
	return cqe;
}

static void uring_none(struct io_uring *ring)
{
	struct io_uring_cqe *cqe = NULL;

	assert_true(io_uring_submit(ring) >= 0);
	if (io_uring_peek_cqe(ring, &cqe) == 0)
		fail_msg("an early completion: user_data %#llx res %d",
			 (unsigned long long)cqe->user_data, cqe->res);
}

static int round_settle(struct io_uring *ring, struct pooter_ticket *t,
			uint64_t ud)
{
	for (int i = 0; i < 100; i++) {
		struct io_uring_cqe *cqe = uring_next(ring, H_LONG_MS, ud);
		int rc = pooter_round_complete(ring, t, cqe);

		io_uring_cqe_seen(ring, cqe);
		if (rc != 0)
			return rc;
	}
	fail_msg("round wait re-armed 100 times");
	return 0;
}

static int consume_settle(struct io_uring *ring, struct pooter_consumer *c,
			  uint64_t ud, const struct pooter_delivery **d)
{
	for (int i = 0; i < 100; i++) {
		struct io_uring_cqe *cqe = uring_next(ring, H_LONG_MS, ud);
		int rc = pooter_consume_complete(ring, c, cqe, d);

		io_uring_cqe_seen(ring, cqe);
		if (rc != 0)
			return rc;
	}
	fail_msg("consume wait re-armed 100 times");
	return 0;
}

static int space_settle(struct io_uring *ring, struct pooter_emitter *e,
			uint64_t ud)
{
	for (int i = 0; i < 100; i++) {
		struct io_uring_cqe *cqe = uring_next(ring, H_LONG_MS, ud);
		int rc = pooter_space_complete(ring, e, cqe);

		io_uring_cqe_seen(ring, cqe);
		if (rc != 0)
			return rc;
	}
	fail_msg("space wait re-armed 100 times");
	return 0;
}

static void test_uring_waits(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .depth = 1,
		    .timeout_ms = H_ROUND_LONG_MS);
	const struct pooter_delivery *d = NULL;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	struct pooter_ticket t, t2;
	struct io_uring ring;
	struct zk_peer pb;
	char url[ZK_URL_MAX], text[ZK_TEXT_MAX];
	uint64_t t0;
	int rc;

	ZK_REQUIRE();
	rc = pooter_uring_supported();
	if (rc != 0) {
		printf("zk: io_uring waits not supported here: %s\n",
		       pooter_last_error());
		skip();
	}
	if (io_uring_queue_init(32, &ring, 0) != 0) {
		printf("zk: no io_uring ring here\n");
		skip();
	}
	b = zk_create(url, "uring", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "c", 0, &c), 0);
	ZK_EXPECT(pooter_emitter_join(b, "e", 0, &e), 0);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);

	/* a round wait, settled when the other emits */
	memset(&t, 0, sizeof(t));
	ZK_EXPECT(pooter_emit_submit(e, "e1", 2, &t), 0);
	assert_int_equal(t.round, 1);
	assert_int_equal(t.outcome, -EINPROGRESS);
	ZK_EXPECT(pooter_prep_round_wait(&ring, &t, 3), -EINVAL); /* bit 0 */
	rc = pooter_prep_round_wait(&ring, &t, 0x100);
	if (rc < 1)
		fail_msg("prep_round_wait: %d (%s) \"%s\"", rc,
			 pooter_strerror(rc), pooter_last_error());
	uring_none(&ring);
	ZK_EXPECT(zk_peer_emit(&pb, "b1", NULL), 0);
	ZK_EXPECT(round_settle(&ring, &t, 0x100), 1);
	assert_int_equal(t.outcome, 0);

	/* a consume wait: its delivery */
	rc = pooter_prep_consume_wait(&ring, c, H_LONG_MS, 0x200);
	if (rc < 1)
		fail_msg("prep_consume_wait: %d (%s) \"%s\"", rc,
			 pooter_strerror(rc), pooter_last_error());
	ZK_EXPECT(consume_settle(&ring, c, 0x200, &d), 1);
	assert_non_null(d);
	zk_delivery_text(d, text, sizeof(text));
	assert_int_equal(d->round, 1);
	assert_string_equal(text, "b=b1;e=e1");

	/* the ring full (depth 1, held): a space wait, settled by a release */
	memset(&t2, 0, sizeof(t2));
	ZK_EXPECT(pooter_emit_submit(e, "e2", 2, &t2), -EAGAIN);
	rc = pooter_prep_space_wait(&ring, e, H_LONG_MS, 0x300);
	if (rc < 1)
		fail_msg("prep_space_wait: %d (%s) \"%s\"", rc,
			 pooter_strerror(rc), pooter_last_error());
	uring_none(&ring);
	ZK_EXPECT(pooter_release(c, d), 0);
	ZK_EXPECT(space_settle(&ring, e, 0x300), 1);
	ZK_EXPECT(pooter_emit_submit(e, "e2", 2, &t2), 0);
	assert_int_equal(t2.round, 2);

	/* a consume wait that times out */
	t0 = h_now_ns();
	ZK_EXPECT(pooter_prep_consume_wait(&ring, c, 300, 0x400) >= 1, 1);
	ZK_EXPECT(consume_settle(&ring, c, 0x400, &d), -ETIMEDOUT);
	assert_true(h_now_ns() - t0 >= 300 * H_NS_PER_MS);

	/* the round wait of a round the other resolves meanwhile */
	ZK_EXPECT(zk_peer_emit(&pb, "b2", NULL), 0);
	ZK_EXPECT(pooter_prep_round_wait(&ring, &t2, 0x500) >= 1, 1);
	ZK_EXPECT(round_settle(&ring, &t2, 0x500), 1);
	assert_int_equal(t2.outcome, 0);
	ZK_EXPECT(pooter_ticket_wait(&t2), 0);

	zk_peer_stop(&pb);
	ZK_EXPECT(pooter_emitter_leave(e), 0);
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	io_uring_queue_exit(&ring);
	zk_close(b);
}

/* An ensemble nobody answers for: -EHOSTUNREACH after connect_timeout_ms */
static void test_unreachable(void **state)
{
	POOTER_OPTS(pooter_url_opts, o, .session_timeout_ms = ZK_SESSION_MS,
		    .connect_timeout_ms = 1000);
	struct pooter_broker *b = NULL;
	uint64_t t0, took;

	ZK_REQUIRE();
	t0 = h_now_ns();
	ZK_EXPECT(pooter_broker_open_url("zk://127.0.0.1:1/pooter-test/x", &o,
					 &b),
		  -EHOSTUNREACH);
	took = h_now_ns() - t0;
	printf("zk: -EHOSTUNREACH after %.1f ms (connect timeout 1000 ms): "
	       "%s\n",
	       (double)took / 1e6, pooter_last_error());
	assert_true(took >= 1000 * H_NS_PER_MS);
	assert_true(took <= (1000 + H_SLACK_MS) * H_NS_PER_MS);
}

/* --- no plugin ----------------------------------------------------------- */

#define NOPLUGIN_ENV "POOTER_ZK_TEST_NOPLUGIN"

/*
 * The plugin is loaded once per process: this runs in a process of its own
 * (the suite executed again, with NOPLUGIN_ENV set), whose first zk:// call
 * is made with POOTER_PLUGIN_DIR naming an empty directory.
 */
static int noplugin_main(void)
{
	struct pooter_broker *b = NULL;
	char url[ZK_URL_MAX];
	struct names ns;
	int rc, bad = 0;

	snprintf(url, sizeof(url), "zk://%s/pooter-test/noplugin",
		 getenv("POOTER_ZK_HOSTS") ? getenv("POOTER_ZK_HOSTS") :
					     "127.0.0.1:22181");
	for (int i = 0; i < 5; i++) {
		static const char *const what[] = { "open_url", "create_url",
						    "unlink_url", "foreach_url",
						    "open" };

		switch (i) {
		case 0:
			rc = pooter_broker_open_url(url, &zk_opts, &b);
			break;
		case 1:
			rc = pooter_broker_create_url(url, NULL, &zk_opts, &b);
			break;
		case 2:
			rc = pooter_broker_unlink_url(url, &zk_opts);
			break;
		case 3:
			rc = pooter_broker_foreach_url(url, &zk_opts, names_cb,
						       &ns);
			break;
		default:
			rc = pooter_broker_open(url, &b);
			break;
		}
		printf("zk: no plugin: %s = %d (%s): \"%s\"\n", what[i], rc,
		       pooter_strerror(rc), pooter_last_error());
		if (rc != -EPROTONOSUPPORT ||
		    !strstr(pooter_last_error(), "libpooter-zk0")) {
			fprintf(stderr,
				"no plugin: %s = %d (%s), expected "
				"-EPROTONOSUPPORT and a last_error naming "
				"libpooter-zk0; last_error \"%s\"\n",
				what[i], rc, pooter_strerror(rc),
				pooter_last_error());
			bad = 1;
		}
	}
	/* shared memory still works without it */
	rc = pooter_broker_foreach_url("shm:", NULL, names_cb, &ns);
	if (rc < 0) {
		fprintf(stderr, "no plugin: foreach_url(shm:) = %d\n", rc);
		bad = 1;
	}
	fflush(stdout);
	return bad;
}

static char noplugin_dir[64];

static int noplugin_exec(void *arg)
{
	(void)arg;
	setenv(NOPLUGIN_ENV, "1", 1);
	setenv("POOTER_PLUGIN_DIR", noplugin_dir, 1);
	execl("/proc/self/exe", program_invocation_name, (char *)NULL);
	fprintf(stderr, "exec /proc/self/exe: %s\n", strerror(errno));
	return 127;
}

static void test_no_plugin(void **state)
{
	pid_t pid;

	ZK_REQUIRE();
	snprintf(noplugin_dir, sizeof(noplugin_dir),
		 "/tmp/pooter-noplugin-XXXXXX");
	assert_non_null(mkdtemp(noplugin_dir));
	pid = h_spawn(noplugin_exec, NULL);
	h_expect_exit(pid, 0, H_LONG_MS);
	rmdir(noplugin_dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_open_unlink, zk_teardown),
		cmocka_unit_test_teardown(test_foreach_url, zk_teardown),
		cmocka_unit_test_teardown(test_bad_urls, zk_teardown),
		cmocka_unit_test_teardown(test_bad_opts, zk_teardown),
		cmocka_unit_test_teardown(test_bad_attr, zk_teardown),
		cmocka_unit_test_teardown(test_payload_limit, zk_teardown),
		cmocka_unit_test_teardown(test_round_resolved, zk_teardown),
		cmocka_unit_test_teardown(test_rounds_in_order, zk_teardown),
		cmocka_unit_test_teardown(test_timeout, zk_teardown),
		cmocka_unit_test_teardown(test_deadline_enforced, zk_teardown),
		cmocka_unit_test_teardown(test_join_busy, zk_teardown),
		cmocka_unit_test_teardown(test_quorum, zk_teardown),
		cmocka_unit_test_teardown(test_cancel, zk_teardown),
		cmocka_unit_test_teardown(test_notices, zk_teardown),
		cmocka_unit_test_teardown(test_backpressure, zk_teardown),
		cmocka_unit_test_teardown(test_release_out_of_order,
					  zk_teardown),
		cmocka_unit_test_teardown(test_late_waiter, zk_teardown),
		cmocka_unit_test_teardown(test_stat_counters, zk_teardown),
		cmocka_unit_test_teardown(test_acl, zk_teardown),
		cmocka_unit_test_teardown(test_names_unique, zk_teardown),
		cmocka_unit_test_teardown(test_unsupported, zk_teardown),
		cmocka_unit_test_teardown(test_uring_waits, zk_teardown),
		cmocka_unit_test_teardown(test_unreachable, zk_teardown),
		cmocka_unit_test_teardown(test_no_plugin, zk_teardown),
	};

	if (getenv(NOPLUGIN_ENV))
		return noplugin_main();
	return h_run_tests(tests, argc, argv);
}
