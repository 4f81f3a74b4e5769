/* SPDX-License-Identifier: MIT */
/*
 * test_chaos.c - trials that kill emitters and consumers at random moments,
 * and, in a -DPOOTER_TEST_HOOKS=ON build, at named points inside the
 * library (POOTER_KILL_AT, see src/testhook.c).
 *
 * Each trial forks EMITTERS emitter processes and CONSUMERS consumer
 * processes on one broker; the parent kills some of them at random moments
 * and starts a new incarnation under the same name.  Every process logs what
 * it saw into shared memory; when all are done the parent asserts:
 *   - no survivor waited past its round's deadline plus SLACK_MS;
 *   - every round has exactly one outcome (all its emitters agree, and a
 *     round is delivered only if it resolved);
 *   - every payload a consumer saw is whole (checksum) and belongs to the
 *     round it came in (the emitter logged that very round);
 *   - a consumer never sees a round twice or out of order, and one that was
 *     never killed saw every round an emitter saw resolve after it joined;
 *   - counters add up: opened = resolved + cancelled (by reason) + open;
 *   - the broker then serves a clean round.
 * A third of the emits go through loans (pooter_emit_loan(), filled in
 * place, committed as a ticket), so deaths land inside those too.
 *
 * test_kill_in_copy kills an emitter at each point of the payload copy,
 * which runs with no lock held, and checks that the emit never happened:
 * the round is cancelled with EOWNERDEAD and nothing of it is delivered.
 *
 * CHAOS_TRIALS sets the number of trials (default 40); CHAOS_SEED the seed.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"

#define EMITTERS 3
#define CONSUMERS 2
#define INCARNATIONS 4	   /* per member name, per trial */
#define EMITS 12	   /* per emitter incarnation */
#define DELIVERIES_MAX 256 /* per consumer incarnation */
#define PAYLOAD_MAX 200
#define TIMEOUT_MS 300
#define SLACK_MS 1500
#define PAYLOAD_MAGIC 0x70a7u

/* Test-only hook: present only in a POOTER_TEST_HOOKS build. */
extern void pooter_test_point(const char *name) __attribute__((weak));

static const char *const kill_points[] = {
	"locked",	   "txn-committed",   "journal-apply",
	"emit-copied",	   "emit-copy-begin", "emit-copy-half",
	"emit-copy-done",  "loan-taken",      "loan-commit-locked",
	"round-opened",	   "emitter-joined",  "emitter-remove-decided",
	"release-cleared",
};

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
	int ticket; /* deadline known: came through a ticket */
	uint64_t end_ns;
	uint64_t deadline_ns;
};

struct emitter_log {
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
	int joined;	       /* join succeeded */
	uint64_t joined_after; /* stat.round when it had joined */
	int n;
	struct delivery_log ent[DELIVERIES_MAX];
};

struct chaos_shm {
	struct emitter_log em[EMITTERS][INCARNATIONS];
	struct consumer_log co[CONSUMERS][INCARNATIONS];
};

static struct chaos_shm *shm;
static char broker_name[H_NAME_LEN];
static struct h_gate emitters_done; /* opened when every emitter ended */
static int hooks;
static uint64_t
	total[5]; /* resolved, timedout, cancelled, ownerdead, deliveries */

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
	const char *kill_at;
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

	if (a->kill_at)
		setenv("POOTER_KILL_AT", a->kill_at, 1);
	srand(a->seed);
	C_EQ(pooter_broker_open(broker_name, &b), 0);
	snprintf(name, sizeof(name), "em%d", a->index);
	err = pooter_emitter_join(b, name, POOTER_JOIN_WAIT, &e);
	C_EQ(err, 0);
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

		if (i % 3 == 1) {
			void *loan;

			/* in place: the same bytes, written into the loan */
			err = pooter_emit_loan(e, PAYLOAD_MAX,
					       POOTER_LOAN_NOWAIT, &loan);
			if (err == 0) {
				memcpy(loan, p, sizeof(*p) + p->fill_len);
				err = pooter_emit_commit_submit(
					e, loan, sizeof(*p) + p->fill_len, &t);
			}
		} else {
			err = pooter_emit_submit(e, p, sizeof(*p) + p->fill_len,
						 &t);
		}
		if (err == 0) {
			err = pooter_ticket_wait(&t);
			l->ticket = 1;
			l->deadline_ns = t.deadline_ns;
			round = t.round;
		} else if (err == -EAGAIN) {
			/* ring full right now: the blocking emit waits for room */
			err = pooter_emit(e, p, sizeof(*p) + p->fill_len,
					  &round);
		}
		l->end_ns = h_now_ns();
		l->round = round;
		l->outcome = err;
		C_CHECK(err == 0 || err == -ETIMEDOUT || err == -ECANCELED ||
			err == -EOWNERDEAD || err == -EAGAIN);
		log->n = i + 1;
	}
	pooter_emitter_leave(e);
	pooter_broker_close(b);
	return 0;
}

static int consumer_main(void *argp)
{
	struct member_arg *a = argp;
	struct consumer_log *log = &shm->co[a->index][a->incarnation];
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_consumer *c;
	uint64_t last = 0;
	char name[16];

	if (a->kill_at)
		setenv("POOTER_KILL_AT", a->kill_at, 1);
	C_EQ(pooter_broker_open(broker_name, &b), 0);
	snprintf(name, sizeof(name), "co%d", a->index);
	C_EQ(pooter_consumer_join(b, name,
				  a->index ? POOTER_CONSUMER_NOTICES : 0, &c),
	     0);
	C_EQ(pooter_broker_stat(b, &st), 0);
	log->joined_after = st.round;
	log->joined = 1;
	for (bool done = false;;) {
		const struct pooter_delivery *d;
		struct delivery_log *l;
		int err = pooter_consume(c, done ? 0 : 100, &d);

		if (err == -ETIMEDOUT) {
			if (done)
				break; /* drained after the emitters ended */
			done = h_readable(emitters_done.p.rd);
			continue;
		}
		C_EQ(err, 0);
		C_CHECK(log->n < DELIVERIES_MAX);
		l = &log->ent[log->n];
		l->round = d->round;
		l->outcome = d->outcome;
		l->count = (int)d->count;
		C_CHECK(d->round > last);
		last = d->round;
		for (unsigned int i = 0; i < d->count && i < EMITTERS; i++) {
			const struct payload *p = d->payloads[i].data;

			if (d->payloads[i].len < sizeof(*p) ||
			    p->magic != PAYLOAD_MAGIC ||
			    d->payloads[i].len != sizeof(*p) + p->fill_len ||
			    p->sum != checksum(p)) {
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
		C_EQ(pooter_release(c, d), 0);
	}
	pooter_consumer_leave(c);
	h_close(b);
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
	const char *kill_at = NULL;
	static char spec[80];

	/* a third of the incarnations die at a named point inside the library */
	if (hooks && rand_r(seed) % 3 == 0) {
		snprintf(spec, sizeof(spec), "%s:%d",
			 kill_points[rand_r(seed) % (sizeof(kill_points) /
						     sizeof(kill_points[0]))],
			 1 + rand_r(seed) % 8);
		kill_at = spec;
	}
	arg = (struct member_arg){ index, m->incarnation, rand_r(seed),
				   kill_at };
	m->pid = h_spawn(emitter ? emitter_main : consumer_main, &arg);
}

/* Every check of one trial's logs. */
static void trial_check(struct pooter_broker *b, struct member *ems,
			struct member *cos)
{
	struct pooter_broker_stat st;
	uint64_t max_round = 0;

	/* 1. deadlines and one outcome per round, among the emitters */
	for (int e = 0; e < EMITTERS; e++) {
		for (int inc = 0; inc <= ems[e].incarnation; inc++) {
			struct emitter_log *el = &shm->em[e][inc];

			for (int i = 0; i < el->n; i++) {
				struct emit_log *l = &el->ent[i];

				if (l->ticket && l->outcome != -EAGAIN)
					assert_true(
						l->end_ns <=
						l->deadline_ns +
							SLACK_MS * H_NS_PER_MS);
				if (l->round > max_round)
					max_round = l->round;
				for (int e2 = 0; e2 < EMITTERS; e2++)
					for (int inc2 = 0; inc2 < INCARNATIONS;
					     inc2++) {
						struct emitter_log *o =
							&shm->em[e2][inc2];

						for (int j = 0; j < o->n; j++)
							if (o->ent[j].round ==
								    l->round &&
							    l->outcome !=
								    -EAGAIN &&
							    o->ent[j].outcome !=
								    -EAGAIN)
								assert_int_equal(
									o->ent[j]
										.outcome,
									l->outcome);
					}
			}
		}
	}

	/* 2. deliveries: whole, of their own round, in order, exactly once */
	for (int c = 0; c < CONSUMERS; c++) {
		for (int inc = 0; inc <= cos[c].incarnation; inc++) {
			struct consumer_log *cl = &shm->co[c][inc];

			for (int i = 0; i < cl->n; i++) {
				struct delivery_log *d = &cl->ent[i];

				assert_int_equal(d->bad, 0);
				if (i)
					assert_true(d->round >
						    cl->ent[i - 1].round);
				if (d->outcome != 0) {
					assert_int_equal(
						c, 1); /* notices: co1 only */
					assert_int_equal(d->count, 0);
				}
				for (int k = 0; k < d->count; k++) {
					struct emitter_log *el =
						&shm->em[d->emitter[k]]
							[d->incarnation[k]];

					/* the emit logged (if it lived to log it)
					   got this round, resolved */
					if ((int)d->seq[k] < el->n) {
						assert_int_equal(
							el->ent[d->seq[k]].round,
							d->round);
						assert_int_equal(
							el->ent[d->seq[k]]
								.outcome,
							d->outcome);
					}
				}
				/* a cancelled round is never delivered as resolved */
				for (int e = 0; e < EMITTERS; e++)
					for (int ei = 0; ei < INCARNATIONS;
					     ei++) {
						struct emitter_log *el =
							&shm->em[e][ei];

						for (int j = 0; j < el->n; j++)
							if (el->ent[j].round ==
								    d->round &&
							    el->ent[j].outcome !=
								    -EAGAIN)
								assert_int_equal(
									el->ent[j]
										.outcome,
									d->outcome);
					}
			}

			/* never killed: saw every resolved round after its join */
			if (cos[c].killed[inc] || !cl->joined)
				continue;
			for (int e = 0; e < EMITTERS; e++)
				for (int ei = 0; ei < INCARNATIONS; ei++) {
					struct emitter_log *el =
						&shm->em[e][ei];

					for (int j = 0; j < el->n; j++) {
						bool seen = false;

						if (el->ent[j].outcome != 0 ||
						    el->ent[j].round <=
							    cl->joined_after)
							continue;
						for (int i = 0; i < cl->n; i++)
							seen |= cl->ent[i]
									.round ==
								el->ent[j].round;
						assert_true(seen);
					}
				}
		}
	}

	/* 3. counters add up, derived so that a death cannot break them */
	h_stat(b, &st);
	assert_int_equal(st.rounds_opened,
			 st.rounds_resolved + st.rounds_timedout +
				 st.rounds_cancelled + st.rounds_ownerdead +
				 (st.round_state == POOTER_ROUND_OPEN));
	assert_true(st.rounds_opened >= max_round);
	total[0] += st.rounds_resolved;
	total[1] += st.rounds_timedout;
	total[2] += st.rounds_cancelled;
	total[3] += st.rounds_ownerdead;
	total[4] += st.deliveries;
}

static int trial(unsigned int seed)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = EMITTERS + 1,
		    .max_consumers = CONSUMERS + 1, .max_payload = PAYLOAD_MAX,
		    .depth = 4, .timeout_ms = TIMEOUT_MS);
	struct member ems[EMITTERS] = { 0 }, cos[CONSUMERS] = { 0 };
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	const struct pooter_delivery *d;
	struct pooter_broker *b;
	int kills = 0, running;
	uint64_t round;

	memset(shm, 0, sizeof(*shm));
	h_gate_init(&emitters_done);
	b = h_create(broker_name, &attr);
	for (int i = 0; i < CONSUMERS; i++)
		spawn(&cos[i], i, false, &seed);
	for (int i = 0; i < EMITTERS; i++)
		spawn(&ems[i], i, true, &seed);

	/* kill at random moments; a victim comes back under its name */
	do {
		struct member *m;
		int victim = rand_r(&seed) % (EMITTERS + CONSUMERS);
		bool is_emitter = victim < EMITTERS;
		uint64_t until = h_now_ns() +
				 (uint64_t)(rand_r(&seed) % 40) * H_NS_PER_MS;
		int status;

		h_sleep_until_ns(until); /* lets time pass: not a sync */
		m = is_emitter ? &ems[victim] : &cos[victim - EMITTERS];
		if (m->pid && m->incarnation + 1 < INCARNATIONS) {
			/* whether or not it had ended: a failure still shows */
			kill(m->pid, SIGKILL);
			status = h_wait(m->pid, H_LONG_MS);
			assert_true(status >= 0);
			if (WIFEXITED(status))
				assert_int_equal(WEXITSTATUS(status), 0);
			m->killed[m->incarnation] = 1;
			kills++;
			m->incarnation++;
			spawn(m, is_emitter ? victim : victim - EMITTERS,
			      is_emitter, &seed);
		}
		/* reap members that ended by themselves (or at a kill point) */
		running = 0;
		for (int i = 0; i < EMITTERS + CONSUMERS; i++) {
			m = i < EMITTERS ? &ems[i] : &cos[i - EMITTERS];
			if (!m->pid)
				continue;
			status = h_wait(m->pid, 0);
			if (status < 0) {
				running += i < EMITTERS;
				continue;
			}
			if (WIFSIGNALED(status) &&
			    WTERMSIG(status) == SIGKILL) {
				m->killed[m->incarnation] = 1;
				kills++;
			} else {
				assert_true(WIFEXITED(status));
				assert_int_equal(WEXITSTATUS(status), 0);
			}
			m->pid = 0;
		}
	} while (running && kills < 3);

	/* no more kills: let everyone finish, the consumers last */
	for (int i = 0; i < EMITTERS + CONSUMERS; i++) {
		struct member *m = i < EMITTERS ? &ems[i] : &cos[i - EMITTERS];
		int status;

		if (i == EMITTERS)
			h_gate_open(&emitters_done);
		if (!m->pid)
			continue;
		status = h_wait(m->pid, H_LONG_MS);
		assert_true(status >= 0);
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			m->killed[m->incarnation] = 1; /* at a kill point */
			kills++;
		} else {
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
		}
	}

	h_gate_close(&emitters_done);
	trial_check(b, ems, cos);

	/* the broker serves a clean round afterwards */
	assert_true(pooter_broker_gc(b) >= 0);
	assert_int_equal(pooter_consumer_join(b, "after-c", 0, &c), 0);
	assert_int_equal(
		pooter_emitter_join(b, "after-e", POOTER_JOIN_WAIT, &e), 0);
	assert_int_equal(pooter_emit(e, "x", 1, &round), 0);
	assert_int_equal(pooter_consume(c, H_LONG_MS, &d), 0);
	assert_int_equal(d->round, round);
	assert_int_equal(d->count, 1);
	assert_int_equal(pooter_release(c, d), 0);
	pooter_emitter_leave(e);
	pooter_consumer_leave(c);
	h_close(b);
	pooter_broker_unlink(broker_name);
	return kills;
}

static void test_chaos(void **state)
{
	const char *env = getenv("CHAOS_TRIALS");
	const char *seed_env = getenv("CHAOS_SEED");
	int trials = env ? atoi(env) : 40, kills = 0;
	unsigned int seed = seed_env ?
				    (unsigned int)strtoul(seed_env, NULL, 0) :
				    (unsigned int)getpid();

	hooks = pooter_test_point != NULL;
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shm != MAP_FAILED);
	printf("chaos: %d trials, seed %u, kill points %s\n", trials, seed,
	       hooks ? "compiled in" : "not compiled in (random kills only)");
	for (int t = 0; t < trials; t++)
		kills += trial(seed + (unsigned int)t * 7919u);
	printf("chaos: %d trials, %d kills, every check held\n", trials, kills);
	printf("chaos: rounds resolved %llu, timed out %llu, cancelled %llu, "
	       "owner dead %llu; deliveries %llu\n",
	       (unsigned long long)total[0], (unsigned long long)total[1],
	       (unsigned long long)total[2], (unsigned long long)total[3],
	       (unsigned long long)total[4]);
	munmap(shm, sizeof(*shm));
}

/* --- a death in the middle of the copy, at each point ------------------ */

#define COPY_LEN 65536

static const char *copy_kill_at;
static struct h_pipe copy_joined;
static struct h_gate copy_go;

/*
 * Emitter "victim": once round 1 is open, emits COPY_LEN bytes into it, and
 * dies at copy_kill_at.
 */
static int copy_victim_main(void *arg)
{
	unsigned char *buf = malloc(COPY_LEN);
	struct pooter_broker *b;
	struct pooter_emitter *e;

	(void)arg;
	C_CHECK(buf);
	memset(buf, 0xee, COPY_LEN);
	setenv("POOTER_KILL_AT", copy_kill_at, 1);
	C_EQ(pooter_broker_open(broker_name, &b), 0);
	C_EQ(pooter_emitter_join(b, "victim", 0, &e), 0);
	C_EQ(h_write(copy_joined.wr, "j", 1), 0);
	h_gate_wait(&copy_go);
	pooter_emit(e, buf, COPY_LEN, NULL);
	return 1; /* it should have died at the kill point */
}

static void test_kill_in_copy(void **state)
{
	static const char *const points[] = { "emit-copy-begin",
					      "emit-copy-half",
					      "emit-copy-done" };
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_payload = COPY_LEN, .timeout_ms = 10000);

	if (pooter_test_point == NULL) {
		skip(); /* needs -DPOOTER_TEST_HOOKS=ON */
		return;
	}
	for (unsigned int i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		const struct pooter_delivery *d;
		struct pooter_broker_stat st;
		struct pooter_consumer *c;
		struct pooter_emitter *e;
		struct pooter_broker *b;
		struct pooter_ticket t;
		int status;
		char byte;
		pid_t pid;

		b = h_create(broker_name, &attr);
		assert_int_equal(pooter_consumer_join(b, "c", 0, &c), 0);
		assert_int_equal(pooter_emitter_join(b, "a", 0, &e), 0);
		h_pipe_init(&copy_joined);
		h_gate_init(&copy_go);
		copy_kill_at = points[i];
		pid = h_spawn(copy_victim_main, NULL);
		assert_int_equal(h_read(copy_joined.rd, &byte, 1, H_LONG_MS),
				 0);
		/* "a" opens round 1, so the victim copies into its record */
		assert_int_equal(pooter_emit_submit(e, "a", 2, &t), 0);
		assert_int_equal(t.round, 1);
		h_gate_open(&copy_go);
		status = h_wait(pid, H_LONG_MS);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		assert_int_equal(pooter_ticket_wait(&t), -EOWNERDEAD);
		assert_int_equal(pooter_consume(c, 0, &d), -ETIMEDOUT);
		h_stat(b, &st);
		assert_int_equal(st.rounds_ownerdead, 1);
		assert_int_equal(st.emits, 1);
		/* the broker goes on, whole */
		assert_int_equal(pooter_emit(e, "a2", 3, NULL), 0);
		assert_int_equal(pooter_consume(c, 0, &d), 0);
		assert_int_equal(d->round, 2);
		assert_int_equal(d->count, 1);
		assert_string_equal(d->payloads[0].data, "a2");
		assert_int_equal(pooter_release(c, d), 0);
		pooter_emitter_leave(e);
		pooter_consumer_leave(c);
		h_pipe_close(&copy_joined);
		h_gate_close(&copy_go);
		h_close(b);
		assert_int_equal(pooter_broker_unlink(broker_name), 0);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill_in_copy, h_teardown),
		cmocka_unit_test_teardown(test_chaos, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
