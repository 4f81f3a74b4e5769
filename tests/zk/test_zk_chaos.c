/* SPDX-License-Identifier: MIT */
/*
 * test_zk_chaos.c - emitter processes SIGKILLed at random moments over many
 * rounds on a ZooKeeper broker (issue 14), as tests/test_chaos.c does for
 * shared memory.
 *
 * Each trial forks EMITTERS emitter processes and CONSUMERS consumer
 * processes on one zk:// broker; the parent kills emitters at random
 * moments and starts a new incarnation in the victim's place (under a name
 * of its own: the dead one's stays taken until its session ends).  Every
 * process logs what it saw into shared memory; when all are done the parent
 * asserts:
 *   - no emit waited past the broker timeout plus SLACK_MS from its start;
 *   - every round has exactly one outcome (all its emitters agree, and a
 *     round is delivered only if it resolved, never a cancelled one);
 *   - every payload a consumer saw is whole (checksum) and belongs to the
 *     round it came in (the emitter logged that very round, resolved);
 *   - a consumer never sees a round twice or out of order, and (none is
 *     killed) saw every round an emitter saw resolve after it joined;
 *   - counters add up: opened = resolved + cancelled (by reason) + open,
 *     and resolved covers every round the emitters saw resolve;
 *   - the broker then serves a clean round.
 * Consumer co1 takes cancellation notices too; co0 does not.
 *
 * Deaths are seen when the victim's session ends (ZK_SESSION_MS), so a
 * trial lasts some seconds; CHAOS_TRIALS sets the number of trials
 * (default 12, about a minute here), CHAOS_SEED the seed.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "zk_common.h"

#define EMITTERS 3
#define CONSUMERS 2
#define INCARNATIONS 3	   /* per emitter, per trial */
#define KILLS 2		   /* per trial */
#define EMITS 10	   /* per emitter incarnation */
#define DELIVERIES_MAX 256 /* per consumer */
#define PAYLOAD_MAX 200
#define TIMEOUT_MS 5000 /* the broker's: over a death's detection */
#define SLACK_MS 3000
#define PAYLOAD_MAGIC 0x70a7u
#define DEFAULT_TRIALS 12

struct payload {
	uint16_t magic;
	uint8_t emitter;
	uint8_t incarnation;
	uint32_t seq;
	uint32_t fill_len;
	uint32_t sum;
	uint8_t fill[];
};

struct emit_log {
	uint64_t round;
	int outcome;
	int blocking; /* through pooter_emit() after a -EAGAIN submit */
	uint64_t start_ns;
	uint64_t end_ns;
	char error[128]; /* pooter_last_error() of an unexpected failure */
};

struct emitter_log {
	int joined;
	int n; /* emits completed */
	struct emit_log ent[EMITS];
};

struct delivery_log {
	uint64_t round;
	int outcome;
	int count;
	uint8_t emitter[EMITTERS];
	uint8_t incarnation[EMITTERS];
	uint32_t seq[EMITTERS];
	int bad; /* checksum or framing failure */
};

struct consumer_log {
	int joined;
	uint64_t joined_after; /* stat.round when it had joined */
	int n;
	struct delivery_log ent[DELIVERIES_MAX];
};

struct chaos_shm {
	struct emitter_log em[EMITTERS][INCARNATIONS];
	struct consumer_log co[CONSUMERS];
};

static struct chaos_shm *shm;
static char broker_url[ZK_URL_MAX];
static struct h_gate emitters_done; /* opened when every emitter ended */
static uint64_t total[6];	    /* resolved, timedout, cancelled, ownerdead,
			     deliveries, rounds */

static uint32_t checksum(const struct payload *p)
{
	uint32_t h = 2166136261u;

	h = (h ^ p->emitter) * 16777619u;
	h = (h ^ p->incarnation) * 16777619u;
	h = (h ^ p->seq) * 16777619u;
	for (uint32_t i = 0; i < p->fill_len; i++)
		h = (h ^ p->fill[i]) * 16777619u;
	return h;
}

struct member_arg {
	int index;
	int incarnation;
	unsigned int seed;
};

static int emitter_main(void *argp)
{
	struct member_arg *a = argp;
	struct emitter_log *log = &shm->em[a->index][a->incarnation];
	unsigned char buf[PAYLOAD_MAX];
	struct payload *p = (struct payload *)buf;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	char name[16];
	int err;

	srand(a->seed);
	ZC_EXPECT(pooter_broker_open_url(broker_url, &zk_opts, &b), 0);
	snprintf(name, sizeof(name), "em%d-%d", a->index, a->incarnation);
	ZC_EXPECT(pooter_emitter_join(b, name, POOTER_JOIN_WAIT, &e), 0);
	log->joined = 1;
	for (int i = 0; i < EMITS; i++) {
		struct pooter_ticket t;
		struct emit_log *l = &log->ent[i];
		uint64_t round = 0;

		p->magic = PAYLOAD_MAGIC;
		p->emitter = (uint8_t)a->index;
		p->incarnation = (uint8_t)a->incarnation;
		p->seq = (uint32_t)i;
		p->fill_len =
			(uint32_t)(rand() % (PAYLOAD_MAX - sizeof(*p) + 1));
		for (uint32_t j = 0; j < p->fill_len; j++)
			p->fill[j] = (uint8_t)rand();
		p->sum = checksum(p);

		l->start_ns = h_now_ns();
		memset(&t, 0, sizeof(t));
		err = pooter_emit_submit(e, p, sizeof(*p) + p->fill_len, &t);
		if (err == 0) {
			err = pooter_ticket_wait(&t);
			round = t.round;
		} else if (err == -EAGAIN) {
			/* no room right now: the blocking emit waits for it */
			l->blocking = 1;
			err = pooter_emit(e, p, sizeof(*p) + p->fill_len,
					  &round);
		}
		l->end_ns = h_now_ns();
		l->round = round;
		l->outcome = err;
		if (!(err == 0 || err == -ETIMEDOUT || err == -ECANCELED ||
		      err == -EOWNERDEAD || err == -EAGAIN))
			snprintf(l->error, sizeof(l->error), "%s",
				 pooter_last_error());
		log->n = i + 1;
		if (l->error[0])
			h_child_fail(__FILE__, __LINE__,
				     "%s emit %d: %d (%s) round %llu: %s", name,
				     i, err, pooter_strerror(err),
				     (unsigned long long)round, l->error);
	}
	pooter_emitter_leave(e);
	pooter_broker_close(b);
	return 0;
}

static int consumer_main(void *argp)
{
	struct member_arg *a = argp;
	struct consumer_log *log = &shm->co[a->index];
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_consumer *c;
	uint64_t last = 0;
	char name[16];

	ZC_EXPECT(pooter_broker_open_url(broker_url, &zk_opts, &b), 0);
	snprintf(name, sizeof(name), "co%d", a->index);
	ZC_EXPECT(pooter_consumer_join(
			  b, name, a->index ? POOTER_CONSUMER_NOTICES : 0, &c),
		  0);
	ZC_EXPECT(pooter_broker_stat(b, &st), 0);
	log->joined_after = st.round;
	log->joined = 1;
	for (bool done = false;;) {
		const struct pooter_delivery *d;
		struct delivery_log *l;
		/* once the emitters are done, drain what is left */
		int err = pooter_consume(c, done ? 1000 : 100, &d);

		if (err == -ETIMEDOUT) {
			if (done)
				break;
			done = h_readable(emitters_done.p.rd);
			continue;
		}
		ZC_EXPECT(err, 0);
		C_CHECK(log->n < DELIVERIES_MAX);
		l = &log->ent[log->n];
		l->round = d->round;
		l->outcome = d->outcome;
		l->count = (int)d->count;
		if (d->round <= last)
			h_child_fail(__FILE__, __LINE__,
				     "%s: round %llu delivered after round "
				     "%llu",
				     name, (unsigned long long)d->round,
				     (unsigned long long)last);
		last = d->round;
		for (unsigned int i = 0; i < d->count && i < EMITTERS; i++) {
			const struct payload *p = d->payloads[i].data;

			if (d->payloads[i].len < sizeof(*p) ||
			    p->magic != PAYLOAD_MAGIC ||
			    d->payloads[i].len != sizeof(*p) + p->fill_len ||
			    p->sum != checksum(p) || p->emitter >= EMITTERS ||
			    p->incarnation >= INCARNATIONS) {
				l->bad = 1;
				continue;
			}
			l->emitter[i] = p->emitter;
			l->incarnation[i] = p->incarnation;
			l->seq[i] = p->seq;
		}
		if (d->count > EMITTERS)
			l->bad = 1;
		log->n++;
		ZC_EXPECT(pooter_release(c, d), 0);
	}
	pooter_consumer_leave(c);
	pooter_broker_close(b);
	return 0;
}

struct member {
	pid_t pid;
	int incarnation;
	int killed[INCARNATIONS];
};

static void spawn(struct member *m, int index, bool emitter, unsigned int *seed)
{
	static struct member_arg arg;

	arg = (struct member_arg){ index, m->incarnation, rand_r(seed) };
	m->pid = h_spawn(emitter ? emitter_main : consumer_main, &arg);
}

/* The outcome every emitter that logged round r saw (1: none logged it). */
static int round_outcome(uint64_t r)
{
	for (int e = 0; e < EMITTERS; e++)
		for (int inc = 0; inc < INCARNATIONS; inc++) {
			struct emitter_log *el = &shm->em[e][inc];

			for (int j = 0; j < el->n; j++)
				if (el->ent[j].round == r &&
				    el->ent[j].outcome != -EAGAIN)
					return el->ent[j].outcome;
		}
	return 1;
}

static void trial_check(struct pooter_broker *b, int trial)
{
	struct pooter_broker_stat st;
	uint64_t max_round = 0, resolved_seen = 0;
	static uint8_t seen_resolved[4096];

	memset(seen_resolved, 0, sizeof(seen_resolved));
	/* 1. bounded waits, and one outcome per round among the emitters */
	for (int e = 0; e < EMITTERS; e++) {
		for (int inc = 0; inc < INCARNATIONS; inc++) {
			struct emitter_log *el = &shm->em[e][inc];

			for (int i = 0; i < el->n; i++) {
				struct emit_log *l = &el->ent[i];
				uint64_t bound =
					(uint64_t)(TIMEOUT_MS * (l->blocking ?
									 2 :
									 1) +
						   SLACK_MS) *
					H_NS_PER_MS;
				int o;

				if (l->outcome == -EAGAIN)
					continue;
				if (l->end_ns - l->start_ns > bound)
					fail_msg("trial %d: em%d-%d emit %d "
						 "(round %llu, %d) took %.1f "
						 "ms",
						 trial, e, inc, i,
						 (unsigned long long)l->round,
						 l->outcome,
						 (double)(l->end_ns -
							  l->start_ns) /
							 1e6);
				if (l->round > max_round)
					max_round = l->round;
				o = round_outcome(l->round);
				if (o != l->outcome)
					fail_msg(
						"trial %d: round %llu: em%d-%d "
						"saw %d (%s), another "
						"emitter %d (%s)",
						trial,
						(unsigned long long)l->round, e,
						inc, l->outcome,
						pooter_strerror(l->outcome), o,
						pooter_strerror(o));
				if (l->outcome == 0 &&
				    l->round < sizeof(seen_resolved) &&
				    !seen_resolved[l->round]) {
					seen_resolved[l->round] = 1;
					resolved_seen++;
				}
			}
		}
	}

	/* 2. deliveries: whole, of their own round, in order, once */
	for (int c = 0; c < CONSUMERS; c++) {
		struct consumer_log *cl = &shm->co[c];

		assert_true(cl->joined);
		for (int i = 0; i < cl->n; i++) {
			struct delivery_log *d = &cl->ent[i];
			int o = round_outcome(d->round);

			if (d->bad)
				fail_msg(
					"trial %d: co%d: round %llu: a torn or "
					"foreign payload",
					trial, c, (unsigned long long)d->round);
			if (i && d->round <= cl->ent[i - 1].round)
				fail_msg("trial %d: co%d: round %llu after "
					 "%llu",
					 trial, c, (unsigned long long)d->round,
					 (unsigned long long)cl->ent[i - 1]
						 .round);
			if (d->outcome != 0) {
				if (c != 1)
					fail_msg("trial %d: co%d (no notices) "
						 "got a notice of round %llu",
						 trial, c,
						 (unsigned long long)d->round);
				assert_int_equal(d->count, 0);
			}
			/* a cancelled round is never delivered as resolved */
			if (o != 1 && o != d->outcome)
				fail_msg("trial %d: co%d: round %llu delivered "
					 "with outcome %d, its emitters saw %d "
					 "(%s)",
					 trial, c, (unsigned long long)d->round,
					 d->outcome, o, pooter_strerror(o));
			for (int k = 0; k < d->count; k++) {
				struct emitter_log *el =
					&shm->em[d->emitter[k]]
						[d->incarnation[k]];

				/* the emit logged (if it lived to log it) got
				   this round, resolved */
				if ((int)d->seq[k] < el->n &&
				    (el->ent[d->seq[k]].round != d->round ||
				     el->ent[d->seq[k]].outcome != 0))
					fail_msg("trial %d: co%d: round %llu "
						 "carries em%d-%d's emit %u, "
						 "which was of round %llu (%d)",
						 trial, c,
						 (unsigned long long)d->round,
						 d->emitter[k],
						 d->incarnation[k], d->seq[k],
						 (unsigned long long)el
							 ->ent[d->seq[k]]
							 .round,
						 el->ent[d->seq[k]].outcome);
			}
		}
	}

	/* 3. counters add up */
	zk_stat(b, &st);
	if (st.rounds_opened !=
	    st.rounds_resolved + st.rounds_timedout + st.rounds_cancelled +
		    st.rounds_ownerdead + (st.round_state == POOTER_ROUND_OPEN))
		fail_msg("trial %d: opened %llu != resolved %llu + timedout "
			 "%llu + cancelled %llu + ownerdead %llu + open %d",
			 trial, (unsigned long long)st.rounds_opened,
			 (unsigned long long)st.rounds_resolved,
			 (unsigned long long)st.rounds_timedout,
			 (unsigned long long)st.rounds_cancelled,
			 (unsigned long long)st.rounds_ownerdead,
			 st.round_state == POOTER_ROUND_OPEN);
	assert_true(st.rounds_opened >= max_round);
	assert_true(st.rounds_resolved >= resolved_seen);
	total[0] += st.rounds_resolved;
	total[1] += st.rounds_timedout;
	total[2] += st.rounds_cancelled;
	total[3] += st.rounds_ownerdead;
	total[4] += st.deliveries;
	total[5] += st.rounds_opened;

	/*
	 * 4. no round lost: every consumer (none is killed) got every round
	 * an emitter saw resolve after the consumer joined.  Checked last,
	 * listing every round lost, so the checks above run whatever this
	 * finds.
	 */
	for (int c = 0; c < CONSUMERS; c++) {
		struct consumer_log *cl = &shm->co[c];
		char lost[512] = "";
		size_t used = 0;
		int nlost = 0;

		for (uint64_t r = cl->joined_after + 1;
		     r < sizeof(seen_resolved) && r <= max_round; r++) {
			bool seen = false;

			if (!seen_resolved[r])
				continue;
			for (int i = 0; i < cl->n; i++)
				seen |= cl->ent[i].round == r;
			if (seen)
				continue;
			nlost++;
			if (used + 24 < sizeof(lost))
				used += (size_t)snprintf(lost + used,
							 sizeof(lost) - used,
							 " %llu",
							 (unsigned long long)r);
		}
		if (nlost)
			fail_msg("trial %d: co%d (joined after round %llu, "
				 "%d deliveries, last round %llu) never got "
				 "%d resolved rounds:%s",
				 trial, c, (unsigned long long)cl->joined_after,
				 cl->n,
				 cl->n ? (unsigned long long)cl->ent[cl->n - 1]
						 .round :
					 0ull,
				 nlost, lost);
	}
}

static int trial(int n, unsigned int seed)
{
	POOTER_OPTS(pooter_broker_attr, attr,
		    .max_emitters = EMITTERS * INCARNATIONS,
		    .max_consumers = CONSUMERS + 1, .max_payload = PAYLOAD_MAX,
		    .depth = 4, .timeout_ms = TIMEOUT_MS);
	struct member ems[EMITTERS] = { 0 }, cos[CONSUMERS] = { 0 };
	const struct pooter_delivery *d;
	struct pooter_consumer *c;
	struct pooter_emitter *e;
	struct pooter_broker *b;
	int kills = 0, running;
	uint64_t round;

	memset(shm, 0, sizeof(*shm));
	h_gate_init(&emitters_done);
	b = zk_create(broker_url, "chaos", &attr);
	for (int i = 0; i < CONSUMERS; i++)
		spawn(&cos[i], i, false, &seed);
	/* the consumers are in before the first round */
	for (uint64_t end = h_now_ns() + H_LONG_MS * H_NS_PER_MS;;) {
		struct pooter_broker_stat st;
		struct timespec pause = { .tv_nsec = 5 * 1000000 };

		zk_stat(b, &st);
		if (st.consumers == CONSUMERS)
			break;
		if (h_now_ns() > end) {
			for (int i = 0; i < CONSUMERS; i++)
				zk_debug_pid(cos[i].pid, "not joined");
			fail_msg("trial %d: %u of %d consumers joined within "
				 "%d ms",
				 n, st.consumers, CONSUMERS, H_LONG_MS);
		}
		nanosleep(&pause, NULL); /* not a sync: a bounded look */
	}
	for (int i = 0; i < EMITTERS; i++)
		spawn(&ems[i], i, true, &seed);

	/* kill at random moments; a victim comes back, another incarnation */
	do {
		int victim = rand_r(&seed) % EMITTERS;
		struct member *m = &ems[victim];
		uint64_t until =
			h_now_ns() +
			(uint64_t)(50 + rand_r(&seed) % 400) * H_NS_PER_MS;
		int status;

		h_sleep_until_ns(until); /* lets time pass: not a sync */
		if (m->pid && kills < KILLS &&
		    m->incarnation + 1 < INCARNATIONS) {
			/* whether or not it had ended: a failure still shows */
			kill(m->pid, SIGKILL);
			status = h_wait(m->pid, H_LONG_MS);
			assert_true(status != -1);
			if (WIFEXITED(status))
				assert_int_equal(WEXITSTATUS(status), 0);
			m->killed[m->incarnation] = 1;
			kills++;
			m->incarnation++;
			spawn(m, victim, true, &seed);
		}
		/* reap members that ended by themselves */
		running = 0;
		for (int i = 0; i < EMITTERS; i++) {
			m = &ems[i];
			if (!m->pid)
				continue;
			status = h_wait(m->pid, 0);
			if (status == -1) {
				running++;
				continue;
			}
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				fail_msg("trial %d: em%d-%d ended with status "
					 "%#x (see its message above)",
					 n, i, m->incarnation, status);
			m->pid = 0;
		}
	} while (running && kills < KILLS);

	/* no more kills: let everyone finish, the consumers last */
	for (int i = 0; i < EMITTERS + CONSUMERS; i++) {
		struct member *m = i < EMITTERS ? &ems[i] : &cos[i - EMITTERS];
		int status;

		if (i == EMITTERS)
			h_gate_open(&emitters_done);
		if (!m->pid)
			continue;
		status = h_wait(m->pid, 120000);
		if (status == -1)
			fail_msg("trial %d: %s%d did not end in 120 s", n,
				 i < EMITTERS ? "em" : "co",
				 i < EMITTERS ? i : i - EMITTERS);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("trial %d: %s%d ended with status %#x (see "
				 "its message above)",
				 n, i < EMITTERS ? "em" : "co",
				 i < EMITTERS ? i : i - EMITTERS, status);
	}
	h_gate_close(&emitters_done);
	trial_check(b, n);

	/* the broker serves a clean round afterwards */
	ZK_EXPECT(pooter_consumer_join(b, "after-c", 0, &c), 0);
	ZK_EXPECT(pooter_emitter_join(b, "after-e", POOTER_JOIN_WAIT, &e), 0);
	/* the dead ones' sessions may still be there: their rounds end */
	for (int tries = 0;; tries++) {
		int rc = pooter_emit(e, "x", 1, &round);

		if (rc == 0)
			break;
		if (tries > 3 || (rc != -EOWNERDEAD && rc != -ETIMEDOUT))
			fail_msg("trial %d: the clean round: %d (%s) round "
				 "%llu; last_error \"%s\"",
				 n, rc, pooter_strerror(rc),
				 (unsigned long long)round,
				 pooter_last_error());
	}
	ZK_EXPECT(pooter_consume(c, H_LONG_MS, &d), 0);
	assert_int_equal(d->round, round);
	assert_int_equal(d->count, 1);
	ZK_EXPECT(pooter_release(c, d), 0);
	pooter_emitter_leave(e);
	pooter_consumer_leave(c);
	zk_close(b);
	pooter_broker_unlink_url(broker_url, &zk_opts);
	return kills;
}

static void test_zk_chaos(void **state)
{
	const char *env = getenv("CHAOS_TRIALS");
	const char *seed_env = getenv("CHAOS_SEED");
	int trials = env ? atoi(env) : DEFAULT_TRIALS, kills = 0;
	unsigned int seed = seed_env ?
				    (unsigned int)strtoul(seed_env, NULL, 0) :
				    (unsigned int)getpid();
	uint64_t t0;

	ZK_REQUIRE();
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shm != MAP_FAILED);
	printf("zk chaos: %d trials, seed %u (CHAOS_TRIALS, CHAOS_SEED)\n",
	       trials, seed);
	t0 = h_now_ns();
	for (int t = 0; t < trials; t++) {
		uint64_t t1 = h_now_ns(), opened = total[5];
		int k = trial(t + 1, seed + (unsigned int)t * 7919u);

		kills += k;
		printf("zk chaos: trial %d: %llu rounds, %d kills, %.1f s\n",
		       t + 1, (unsigned long long)(total[5] - opened), k,
		       (double)(h_now_ns() - t1) / 1e9);
	}
	printf("zk chaos: %d trials, %d kills, %.1f s, every check held\n",
	       trials, kills, (double)(h_now_ns() - t0) / 1e9);
	printf("zk chaos: rounds %llu: resolved %llu, timed out %llu, "
	       "cancelled %llu, owner dead %llu; deliveries %llu\n",
	       (unsigned long long)total[5], (unsigned long long)total[0],
	       (unsigned long long)total[1], (unsigned long long)total[2],
	       (unsigned long long)total[3], (unsigned long long)total[4]);
	munmap(shm, sizeof(*shm));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_zk_chaos, zk_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
