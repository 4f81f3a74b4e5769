/* SPDX-License-Identifier: MIT */
/*
 * test_zk_faults.c - deaths and the ensemble's own faults, on the ZooKeeper
 * backend (issue 14):
 *   - a participant SIGKILLed while it owes its emit: the others get
 *     -EOWNERDEAD within the session timeout + 1 s (measured, printed);
 *   - a participant SIGSTOPped past its session timeout, then continued:
 *     the round was cancelled (EOWNERDEAD) for the others, and the stopped
 *     one never learns a different outcome for it, nor opens a round as if
 *     it were still a member; stopped after emitting, it kept its promise:
 *     the round resolves and it learns so when continued;
 *   - the ensemble's leader SIGKILLed in the middle of a round, over
 *     ZK_LEADER_TRIALS trials (default 50): one outcome per round, the same
 *     for every participant and in stat, no round decided or delivered
 *     twice, counters that add up;
 *   - the whole ensemble restarted: the rounds decided before and the
 *     counters are still there, and the broker serves new rounds.
 * Figures (death latencies, trial counts and times) go to stdout.
 *
 * The servers are driven with tests/zk/ensemble.sh (leader, kill,
 * start-one, restart); a test that fails half way starts again what it
 * killed (faults_teardown()).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "zk_common.h"

#define DEATH_SLACK_MS 1000 /* the contract: session timeout + 1 s */
#define KILL_TRIALS 3
#define LEADER_SESSION_MS 8000 /* rides out an election (server max 10000) */
#define LEADER_ANSWER_MS 90000 /* an emit across an election, bounded */

static char killed_server[64]; /* a server this suite killed and owes back */

static int faults_teardown(void **state)
{
	if (killed_server[0]) {
		char out[256];
		int rc = zk_ensemble(out, sizeof(out), "start-one",
				     killed_server);

		fprintf(stderr, "teardown: ensemble.sh start-one %s: exit %d\n",
			killed_server, rc);
		killed_server[0] = '\0';
	}
	zk_opts.session_timeout_ms = ZK_SESSION_MS;
	return zk_teardown(state);
}

static void expect_res(struct zk_peer *p, int rc, uint64_t round,
		       struct zk_res *out, int timeout_ms)
{
	struct zk_res r;

	zk_peer_res(p, &r, timeout_ms);
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

/* --- a participant SIGKILLed while it owes its emit ---------------------- */

static void test_kill_owing(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = 60000);
	struct pooter_broker_stat st;
	struct pooter_consumer *notes;
	struct pooter_broker *b;
	char url[ZK_URL_MAX], name[16];
	double lat[KILL_TRIALS], worst = 0;

	ZK_REQUIRE();
	b = zk_create(url, "kill", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "notes", POOTER_CONSUMER_NOTICES,
				       &notes),
		  0);
	for (int t = 0; t < KILL_TRIALS; t++) {
		const struct pooter_delivery *d;
		struct zk_peer pa, pv;
		struct zk_res r;
		uint64_t t_kill, round = (uint64_t)t + 1;
		unsigned int none = 0;

		zk_peer_start(&pa, url);
		zk_peer_start(&pv, url);
		snprintf(name, sizeof(name), "a%d", t);
		ZK_EXPECT(zk_peer_join_emitter(&pa, name, 0), 0);
		snprintf(name, sizeof(name), "victim%d", t);
		ZK_EXPECT(zk_peer_join_emitter(&pv, name, 0), 0);
		zk_peer_emit_async(&pa, "a");
		wait_emitted(b, round, 1);
		t_kill = h_now_ns();
		zk_peer_kill(&pv);
		expect_res(&pa, -EOWNERDEAD, round, &r, H_LONG_MS);
		lat[t] = (double)(r.t_end_ns - t_kill) / 1e6;
		if (lat[t] > worst)
			worst = lat[t];
		printf("zk: death latency, trial %d: %.1f ms (session "
		       "timeout %u ms)\n",
		       t + 1, lat[t], ZK_SESSION_MS);
		if (lat[t] > ZK_SESSION_MS + DEATH_SLACK_MS)
			fail_msg("trial %d: -EOWNERDEAD %.1f ms after the "
				 "SIGKILL, over the session timeout %u ms + "
				 "%u ms",
				 t + 1, lat[t], ZK_SESSION_MS, DEATH_SLACK_MS);
		zk_stat(b, &st);
		assert_int_equal(st.round, round);
		assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
		assert_int_equal(st.round_outcome, -EOWNERDEAD);
		assert_int_equal(st.rounds_ownerdead, round);
		assert_int_equal(st.rounds_opened, round);
		d = zk_expect_delivery(notes, H_LONG_MS, round, -EOWNERDEAD,
				       "");
		ZK_EXPECT(pooter_release(notes, d), 0);
		zk_peer_stop(&pa);
		/* the dead one's membership went with its session */
		zk_stat_until(b, &st, zk_pred_emitters, &none, H_LONG_MS);
	}
	printf("zk: death latency over %d SIGKILLs: worst %.1f ms (session "
	       "timeout %u ms, allowed %u ms)\n",
	       KILL_TRIALS, worst, ZK_SESSION_MS,
	       ZK_SESSION_MS + DEATH_SLACK_MS);
	ZK_EXPECT(pooter_consumer_leave(notes), 0);
	zk_close(b);
}

/* --- a participant SIGSTOPped past its session timeout ------------------- */

/*
 * It owes its emit when stopped: the others get EOWNERDEAD; continued, it
 * is told its emit's round had that outcome, or that it is no member any
 * more (-EIDRM, no round), and never that a round resolved, nor does it
 * open a round.
 */
static void test_stop_owing(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = 60000);
	struct pooter_broker_stat st;
	struct pooter_consumer *c;
	struct zk_peer pa, pv;
	struct pooter_broker *b;
	char url[ZK_URL_MAX];
	struct zk_res ra, rv;
	uint64_t t_stop;
	double lat;

	ZK_REQUIRE();
	b = zk_create(url, "stop", &attr);
	ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
	zk_peer_start(&pa, url);
	zk_peer_start(&pv, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pv, "stopped", 0), 0);
	zk_peer_emit_async(&pa, "a1");
	wait_emitted(b, 1, 1);
	t_stop = h_now_ns();
	h_stop(pv.pid);
	expect_res(&pa, -EOWNERDEAD, 1, &ra, H_LONG_MS);
	lat = (double)(ra.t_end_ns - t_stop) / 1e6;
	printf("zk: a SIGSTOPped participant cancelled the round "
	       "(EOWNERDEAD) %.1f ms after the stop (session timeout %u ms)\n",
	       lat, ZK_SESSION_MS);
	if (lat > ZK_SESSION_MS + DEATH_SLACK_MS)
		fail_msg("-EOWNERDEAD %.1f ms after the SIGSTOP, over %u ms",
			 lat, ZK_SESSION_MS + DEATH_SLACK_MS);

	/* its emit was on its way when it stopped: it goes on continued */
	zk_peer_emit_async(&pv, "late");
	h_cont(pv.pid);
	zk_peer_res(&pv, &rv, H_LONG_MS);
	printf("zk: the stopped one, continued, got %d (%s), round %lld: "
	       "\"%s\"\n",
	       rv.rc, pooter_strerror(rv.rc),
	       rv.round == H_ROUND_UNTOUCHED ? -1ll : (long long)rv.round,
	       rv.text);
	if (!(rv.rc == -EOWNERDEAD && rv.round == 1) &&
	    !(rv.rc == -EIDRM && rv.round == H_ROUND_UNTOUCHED))
		fail_msg("the continued participant's emit gave %d (%s) round "
			 "%llu; expected round 1's outcome -EOWNERDEAD, or "
			 "-EIDRM and no round; last_error \"%s\"",
			 rv.rc, pooter_strerror(rv.rc),
			 (unsigned long long)rv.round, rv.text);
	zk_stat(b, &st);
	assert_int_equal(st.round, 1);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, -EOWNERDEAD);
	assert_int_equal(st.rounds_opened, 1); /* it opened nothing */
	assert_int_equal(st.rounds_ownerdead, 1);
	assert_int_equal(st.emits, 1);
	/* removed: what it does now is refused */
	zk_peer_emit_async(&pv, "later");
	zk_peer_res(&pv, &rv, H_LONG_MS);
	ZK_RES_EXPECT(&rv, -EIDRM);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, 1);
	zk_peer_kill(&pv);
	zk_peer_stop(&pa);
	{
		const struct pooter_delivery *d;

		ZK_EXPECT(pooter_consume(c, 300, &d), -ETIMEDOUT);
	}
	ZK_EXPECT(pooter_consumer_leave(c), 0);
	zk_close(b);
}

/*
 * It had emitted when stopped (by pooter_emit, or pooter_emit_submit and a
 * ticket wait after): its promise is kept, the round resolves when the
 * other emits, and, continued, it learns that outcome for that round.
 */
static void test_stop_emitted(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .timeout_ms = 60000);

	ZK_REQUIRE();
	for (int ticket = 0; ticket < 2; ticket++) {
		const struct pooter_delivery *d;
		struct pooter_broker_stat st;
		struct pooter_consumer *c;
		struct zk_peer pa, pv;
		struct pooter_broker *b;
		char url[ZK_URL_MAX];
		struct zk_res rv;
		unsigned int one = 1;
		uint64_t t_stop;

		b = zk_create(url, ticket ? "stop-ticket" : "stop-emit", &attr);
		ZK_EXPECT(pooter_consumer_join(b, "sink", 0, &c), 0);
		zk_peer_start(&pa, url);
		zk_peer_start(&pv, url);
		ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
		ZK_EXPECT(zk_peer_join_emitter(&pv, "v", 0), 0);
		if (ticket) {
			zk_peer_submit_async(&pv, 0, "v1");
			expect_res(&pv, 0, 1, &rv, H_LONG_MS);
			assert_int_equal(rv.outcome, -EINPROGRESS);
			zk_peer_ticket_wait_async(&pv, 0);
		} else {
			zk_peer_emit_async(&pv, "v1");
			wait_emitted(b, 1, 1);
		}
		t_stop = h_now_ns();
		h_stop(pv.pid);
		/* its session ends: its membership goes (an event, bounded) */
		zk_stat_until(b, &st, zk_pred_emitters, &one,
			      ZK_SESSION_MS + H_SLACK_MS);
		printf("zk: %s: the stopped emitter's membership went %.1f "
		       "ms after the stop\n",
		       ticket ? "ticket" : "emit",
		       (double)(h_now_ns() - t_stop) / 1e6);
		assert_int_equal(st.round_state, POOTER_ROUND_OPEN);
		assert_int_equal(st.round_emitted, 1);
		/* it kept its promise: the round resolves */
		zk_peer_emit_async(&pa, "a2");
		expect_res(&pa, 0, 1, NULL, H_LONG_MS);
		h_cont(pv.pid);
		zk_peer_res(&pv, &rv, H_LONG_MS);
		if (rv.rc != 0 || rv.round != 1)
			fail_msg("%s: the continued emitter got %d (%s) round "
				 "%llu, expected round 1 resolved (0); "
				 "last_error \"%s\"",
				 ticket ? "ticket wait" : "emit", rv.rc,
				 pooter_strerror(rv.rc),
				 (unsigned long long)rv.round, rv.text);
		d = zk_expect_delivery(c, H_LONG_MS, 1, 0, "a=a2;v=v1");
		ZK_EXPECT(pooter_release(c, d), 0);
		/* removed: its next emit is refused, and opens nothing */
		zk_peer_emit_async(&pv, "v2");
		zk_peer_res(&pv, &rv, H_LONG_MS);
		ZK_RES_EXPECT(&rv, -EIDRM);
		zk_stat(b, &st);
		assert_int_equal(st.rounds_opened, 1);
		assert_int_equal(st.rounds_resolved, 1);
		assert_int_equal(st.emits, 2);
		zk_peer_kill(&pv);
		zk_peer_stop(&pa);
		ZK_EXPECT(pooter_consumer_leave(c), 0);
		zk_close(b);
	}
}

/* --- the leader killed mid-round ----------------------------------------- */

static void kill_server(const char *n)
{
	snprintf(killed_server, sizeof(killed_server), "%s", n);
	zk_ensemble_ok(NULL, 0, "kill", n);
}

static void start_server(const char *n)
{
	zk_ensemble_ok(NULL, 0, "start-one", n);
	killed_server[0] = '\0';
}

static void test_leader_killed(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .depth = 4, .timeout_ms = 60000);
	const char *env = getenv("ZK_LEADER_TRIALS");
	int trials = env ? atoi(env) : 50;
	unsigned int seed = (unsigned int)getpid();
	uint64_t outcomes[4] = { 0 }; /* 0, ETIMEDOUT, ECANCELED, EOWNERDEAD */
	struct pooter_broker_stat st;
	struct zk_peer pa, pb, pq;
	struct pooter_broker *b;
	char url[ZK_URL_MAX], leader[64], pl[32], want[64];
	uint64_t t0, emits = 0;
	double answer_max = 0, restore_total = 0;

	ZK_REQUIRE();
	if (env && getenv("ZK_LEADER_SEED"))
		seed = (unsigned int)strtoul(getenv("ZK_LEADER_SEED"), NULL, 0);
	printf("zk: leader kills: %d trials, seed %u\n", trials, seed);
	zk_opts.session_timeout_ms = LEADER_SESSION_MS;
	b = zk_create(url, "leader", &attr);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	zk_peer_start(&pq, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	ZK_EXPECT(zk_peer_join_consumer(&pq, "q", 0), 0);
	t0 = h_now_ns();
	for (int t = 1; t <= trials; t++) {
		int mode = rand_r(&seed) % 4, idx = 0;
		struct zk_res ra, rb, rq;
		uint64_t t_kill = 0, t_restore;
		double answer;

		zk_ensemble_ok(leader, sizeof(leader), "leader", NULL);
		snprintf(pl, sizeof(pl), "a%d", t);
		switch (mode) {
		case 0: /* both emits during the election */
			t_kill = h_now_ns();
			kill_server(leader);
			zk_peer_emit_async(&pa, pl);
			pl[0] = 'b';
			zk_peer_emit_async(&pb, pl);
			break;
		case 1: /* the round opened, the kill on its way */
			zk_peer_emit_async(&pa, pl);
			t_kill = h_now_ns();
			kill_server(leader);
			pl[0] = 'b';
			zk_peer_emit_async(&pb, pl);
			break;
		case 2: /* one emit in, the other racing the kill */
			zk_peer_emit_async(&pa, pl);
			wait_emitted(b, (uint64_t)t, 1);
			pl[0] = 'b';
			zk_peer_emit_async(&pb, pl);
			t_kill = h_now_ns();
			kill_server(leader);
			break;
		default: { /* both on their way, the kill a moment later */
			struct timespec ts = {
				.tv_nsec = (long)(rand_r(&seed) % 20) * 1000000l
			};

			zk_peer_emit_async(&pa, pl);
			pl[0] = 'b';
			zk_peer_emit_async(&pb, pl);
			nanosleep(&ts, NULL); /* a random moment: not a sync */
			t_kill = h_now_ns();
			kill_server(leader);
			break;
		}
		}
		zk_peer_res(&pa, &ra, LEADER_ANSWER_MS);
		zk_peer_res(&pb, &rb, LEADER_ANSWER_MS);
		/* signed: a round may be answered before the kill lands */
		answer = ((double)(ra.t_end_ns > rb.t_end_ns ? ra.t_end_ns :
							       rb.t_end_ns) -
			  (double)t_kill) /
			 1e6;
		if (answer > answer_max)
			answer_max = answer;
		if (ra.rc != rb.rc || ra.round != rb.round ||
		    ra.round != (uint64_t)t)
			fail_msg("trial %d (mode %d, leader %s killed): a got "
				 "%d (%s) round %llu after %.1f ms (%.1f ms "
				 "after the kill) \"%s\", b got %d (%s) "
				 "round %llu after %.1f ms (%.1f ms after the "
				 "kill) \"%s\"; expected one outcome of "
				 "round %d",
				 t, mode, leader, ra.rc, pooter_strerror(ra.rc),
				 (unsigned long long)ra.round,
				 (double)(ra.t_end_ns - ra.t_start_ns) / 1e6,
				 ((double)ra.t_end_ns - (double)t_kill) / 1e6,
				 ra.text, rb.rc, pooter_strerror(rb.rc),
				 (unsigned long long)rb.round,
				 (double)(rb.t_end_ns - rb.t_start_ns) / 1e6,
				 ((double)rb.t_end_ns - (double)t_kill) / 1e6,
				 rb.text, t);
		switch (ra.rc) {
		case 0:
			idx = 0;
			break;
		case -ETIMEDOUT:
			idx = 1;
			break;
		case -ECANCELED:
			idx = 2;
			break;
		case -EOWNERDEAD:
			idx = 3;
			break;
		default:
			fail_msg("trial %d (mode %d): the round's outcome is "
				 "%d (%s): \"%s\"",
				 t, mode, ra.rc, pooter_strerror(ra.rc),
				 ra.text);
		}
		outcomes[idx]++;
		emits += 2; /* both emitted, whatever the outcome */

		t_restore = h_now_ns();
		start_server(leader);
		restore_total += (double)(h_now_ns() - t_restore) / 1e6;

		zk_stat(b, &st);
		if (st.round != (uint64_t)t ||
		    st.round_state != POOTER_ROUND_CLOSED ||
		    st.round_outcome != ra.rc ||
		    st.rounds_opened != (uint64_t)t ||
		    st.rounds_resolved != outcomes[0] ||
		    st.rounds_timedout != outcomes[1] ||
		    st.rounds_cancelled != outcomes[2] ||
		    st.rounds_ownerdead != outcomes[3] || st.emits != emits)
			fail_msg("trial %d (mode %d): stat says round %llu "
				 "state %d outcome %d, opened %llu resolved "
				 "%llu timedout %llu cancelled %llu ownerdead "
				 "%llu emits %llu; the participants saw round "
				 "%d end %d, and outcomes %llu/%llu/%llu/%llu, "
				 "emits %llu",
				 t, mode, (unsigned long long)st.round,
				 st.round_state, st.round_outcome,
				 (unsigned long long)st.rounds_opened,
				 (unsigned long long)st.rounds_resolved,
				 (unsigned long long)st.rounds_timedout,
				 (unsigned long long)st.rounds_cancelled,
				 (unsigned long long)st.rounds_ownerdead,
				 (unsigned long long)st.emits, t, ra.rc,
				 (unsigned long long)outcomes[0],
				 (unsigned long long)outcomes[1],
				 (unsigned long long)outcomes[2],
				 (unsigned long long)outcomes[3],
				 (unsigned long long)emits);
		/* delivered once if resolved, else not at all */
		if (ra.rc == 0) {
			zk_peer_consume(&pq, H_LONG_MS, &rq);
			ZK_RES_EXPECT(&rq, 0);
			snprintf(want, sizeof(want), "a=a%d;b=b%d", t, t);
			if (rq.round != (uint64_t)t || rq.outcome != 0 ||
			    strcmp(rq.text, want))
				fail_msg("trial %d: delivery round %llu "
					 "outcome %d \"%s\", expected round %d "
					 "\"%s\"",
					 t, (unsigned long long)rq.round,
					 rq.outcome, rq.text, t, want);
			ZK_EXPECT(zk_peer_release(&pq, rq.round), 0);
		}
		zk_peer_consume(&pq, 0, &rq);
		if (rq.rc != -ETIMEDOUT)
			fail_msg("trial %d: a second delivery: %d (%s) round "
				 "%llu outcome %d",
				 t, rq.rc, pooter_strerror(rq.rc),
				 (unsigned long long)rq.round, rq.outcome);
		if (t % 10 == 0 || t == trials)
			printf("zk: leader kills: %d trials in %.1f s\n", t,
			       (double)(h_now_ns() - t0) / 1e9);
	}
	zk_stat(b, &st);
	assert_int_equal(st.deliveries, outcomes[0]);
	printf("zk: leader kills: %d trials, %.1f s; outcomes: resolved "
	       "%llu, timed out %llu, cancelled %llu, owner dead %llu; "
	       "answers at most %.1f ms after the kill; start-one %.1f s "
	       "on average\n",
	       trials, (double)(h_now_ns() - t0) / 1e9,
	       (unsigned long long)outcomes[0], (unsigned long long)outcomes[1],
	       (unsigned long long)outcomes[2], (unsigned long long)outcomes[3],
	       answer_max, trials ? restore_total / trials / 1000 : 0.0);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_peer_stop(&pq);
	zk_close(b);
}

/* --- the whole ensemble restarted ---------------------------------------- */

static void test_ensemble_restart(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 2, .timeout_ms = 1500);
	struct pooter_broker_stat before, st;
	struct zk_peer pa, pb, pq;
	struct pooter_broker *b;
	char url[ZK_URL_MAX], hosts[512];
	struct zk_res r;
	uint64_t t0;

	ZK_REQUIRE();
	b = zk_create(url, "restart", &attr);
	zk_peer_start(&pq, url);
	ZK_EXPECT(zk_peer_join_consumer(&pq, "keeper", 0), 0);
	zk_peer_start(&pa, url);
	zk_peer_start(&pb, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "a", 0), 0);
	ZK_EXPECT(zk_peer_join_emitter(&pb, "b", 0), 0);
	/* 1 resolved, 2 timed out, 3 cancelled, 4 resolved */
	zk_peer_emit_async(&pa, "a1");
	zk_peer_emit_async(&pb, "b1");
	expect_res(&pa, 0, 1, NULL, H_LONG_MS);
	expect_res(&pb, 0, 1, NULL, H_LONG_MS);
	zk_peer_emit_async(&pa, "a2");
	expect_res(&pa, -ETIMEDOUT, 2, NULL, H_LONG_MS);
	zk_peer_emit_async(&pa, "a3");
	wait_emitted(b, 3, 1);
	ZK_EXPECT(pooter_round_cancel(b), 0);
	expect_res(&pa, -ECANCELED, 3, NULL, H_LONG_MS);
	zk_peer_emit_async(&pa, "a4");
	zk_peer_emit_async(&pb, "b4");
	expect_res(&pa, 0, 4, NULL, H_LONG_MS);
	expect_res(&pb, 0, 4, NULL, H_LONG_MS);
	for (int round = 1; round <= 4; round += 3) {
		zk_peer_consume(&pq, H_LONG_MS, &r);
		ZK_RES_EXPECT(&r, 0);
		assert_int_equal(r.round, round);
		ZK_EXPECT(zk_peer_release(&pq, r.round), 0);
	}
	zk_stat(b, &before);
	assert_int_equal(before.rounds_opened, 4);
	assert_int_equal(before.rounds_resolved, 2);
	assert_int_equal(before.rounds_timedout, 1);
	assert_int_equal(before.rounds_cancelled, 1);
	assert_int_equal(before.emits, 6);
	assert_int_equal(before.deliveries, 2);
	zk_peer_stop(&pa);
	zk_peer_stop(&pb);
	zk_peer_stop(&pq);
	zk_close(b);

	t0 = h_now_ns();
	zk_ensemble_ok(hosts, sizeof(hosts), "restart", NULL);
	printf("zk: ensemble restarted in %.1f s (%s)\n",
	       (double)(h_now_ns() - t0) / 1e9, hosts);

	b = zk_open(url);
	zk_stat(b, &st);
	printf("zk: after the restart: round %llu state %d outcome %d, "
	       "opened %llu resolved %llu timedout %llu cancelled %llu "
	       "emits %llu deliveries %llu\n",
	       (unsigned long long)st.round, st.round_state, st.round_outcome,
	       (unsigned long long)st.rounds_opened,
	       (unsigned long long)st.rounds_resolved,
	       (unsigned long long)st.rounds_timedout,
	       (unsigned long long)st.rounds_cancelled,
	       (unsigned long long)st.emits, (unsigned long long)st.deliveries);
	assert_int_equal(st.round, 4);
	assert_int_equal(st.round_state, POOTER_ROUND_CLOSED);
	assert_int_equal(st.round_outcome, 0);
	assert_int_equal(st.rounds_opened, before.rounds_opened);
	assert_int_equal(st.rounds_resolved, before.rounds_resolved);
	assert_int_equal(st.rounds_timedout, before.rounds_timedout);
	assert_int_equal(st.rounds_cancelled, before.rounds_cancelled);
	assert_int_equal(st.rounds_ownerdead, before.rounds_ownerdead);
	assert_int_equal(st.emits, before.emits);
	assert_int_equal(st.deliveries, before.deliveries);
	assert_int_equal(st.max_emitters, 2);
	assert_int_equal(st.timeout_ms, 1500);
	/* and a new round */
	zk_peer_start(&pq, url);
	ZK_EXPECT(zk_peer_join_consumer(&pq, "keeper2", 0), 0);
	zk_peer_start(&pa, url);
	ZK_EXPECT(zk_peer_join_emitter(&pa, "c", 0), 0);
	ZK_EXPECT(zk_peer_emit(&pa, "c5", &r), 0);
	assert_int_equal(r.round, 5);
	zk_peer_consume(&pq, H_LONG_MS, &r);
	ZK_RES_EXPECT(&r, 0);
	assert_int_equal(r.round, 5);
	assert_string_equal(r.text, "c=c5");
	ZK_EXPECT(zk_peer_release(&pq, 5), 0);
	zk_stat(b, &st);
	assert_int_equal(st.rounds_opened, 5);
	assert_int_equal(st.rounds_resolved, 3);
	assert_int_equal(st.emits, 7);
	assert_int_equal(st.deliveries, 3);
	zk_peer_stop(&pa);
	zk_peer_stop(&pq);
	zk_close(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill_owing, faults_teardown),
		cmocka_unit_test_teardown(test_stop_owing, faults_teardown),
		cmocka_unit_test_teardown(test_stop_emitted, faults_teardown),
		cmocka_unit_test_teardown(test_leader_killed, faults_teardown),
		cmocka_unit_test_teardown(test_ensemble_restart,
					  faults_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
