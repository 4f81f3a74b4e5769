/* SPDX-License-Identifier: MIT */
/*
 * workloads.c - what the teams of team.c do: pooter rounds, and the
 * baselines they are compared with on the same machine in the same run.
 *
 * pooter      E emitter and C consumer processes, one broker.  Each emitter
 *             makes R emits, each blocking until its round's outcome; each
 *             consumer takes R deliveries, releasing each at once.  Rounds
 *             pipeline through the ring (depth records).  The clock stops
 *             when the last consumer holds the last round (with no
 *             consumers: when the last emitter has its last outcome).
 *             Every emit must return 0 with round number i + 1, and every
 *             consumer must get rounds 1..R in order, each with E payloads
 *             of P bytes that start with the emitter's iteration number.
 * barrier     E + C processes, a pthread_barrier_t (PTHREAD_PROCESS_SHARED)
 *             in MAP_SHARED memory, R waits each.  The clock stops when the
 *             last process is through its last wait.
 * switch      E + C processes, each calling sched_yield() R times, nothing
 *             shared: the process-switch floor.  Its "rounds" are yields
 *             (rounds = (E + C) * R), so ns_per_round is the wall time per
 *             yield over the whole machine and cpu_ns_per_round the CPU per
 *             yield.  With E + C at most the CPUs a yield finds no one to
 *             switch to and returns at once: then it is a syscall's cost.
 * futex       two processes hand a 32-bit word back and forth, sleeping in
 *             FUTEX_WAIT until it changes and waking the other with
 *             FUTEX_WAKE every time: the cost of a blocking hand-off.
 * spin        the same on one cache line, spinning instead of sleeping,
 *             each process pinned to its own CPU: the floor.
 * memcpy      N processes, each copying P-byte blocks from a buffer of its
 *             own into two blocks in turn, as many as make 1 GiB: the
 *             machine's copy bandwidth at that size, on 1 CPU and on all.
 *             Two blocks, as an emitter's copies alternate between two
 *             records when its consumers keep up (the first free record is
 *             reused): the same caches, warm or cold, as pooter's copies.
 *
 * With --loan, pooter's emitters take a loan (pooter_emit_loan()) and fill
 * it with their pattern in place, then commit it, instead of emitting a
 * buffer the library copies.
 *
 * With a URL (pooter-bench --url, see url.c), the pooter workload is the
 * same on a broker named "url_base/NAME": created by the parent with
 * pooter_broker_create_url(), opened by every participant with
 * pooter_broker_open_url() on its own (a zk:// handle is never used across
 * fork), removed by the parent after the run, whatever happened.  Each
 * emitter also records when each of its emits started, so that a round's
 * span (first emitter's call to last emitter's outcome) can be told.
 *
 * CPU time is each participant's own getrusage() delta over the timed part
 * (set-up, joins and exit are not counted), summed over participants.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pooter.h>

#include "bench.h"

/* ---------------------------------------------------------------- pooter */

char bench_segment_path[128];

struct pooter_ctx {
	const struct pooter_params *p;
	const char *broker; /* a name, or with p->url_base the broker's URL */
	uint64_t *lat;	    /* emitters * rounds, shared */
	uint64_t *start;    /* with p->url_base: when each emit began */
};

static int broker_open(const struct pooter_ctx *x, struct pooter_broker **b)
{
	if (x->p->url_base)
		return pooter_broker_open_url(x->broker, NULL, b);
	return pooter_broker_open(x->broker, b);
}

static int pooter_emitter(struct team *t, unsigned int idx,
			  const struct pooter_ctx *x)
{
	const struct pooter_params *p = x->p;
	struct pooter_broker *b = NULL;
	struct pooter_emitter *em = NULL;
	uint64_t *lat = x->lat + (size_t)idx * p->rounds;
	char name[32], *buf;
	uint64_t i;
	int err;

	buf = malloc(p->payload ? p->payload : 1);
	if (!buf)
		return child_fail(t, idx, -ENOMEM, "emitter %u: out of memory",
				  idx);
	memset(buf, (int)('a' + idx % 26), p->payload ? p->payload : 1);
	team_stage(t, idx,
		   x->p->url_base ? "pooter_broker_open_url()" :
				    "pooter_broker_open()");
	err = broker_open(x, &b);
	if (err)
		return child_fail(t, idx, err, "emitter %u: open %s: %s (%s)",
				  idx, x->broker, pooter_strerror(err),
				  pooter_last_error());
	snprintf(name, sizeof(name), "e%u", idx);
	team_stage(t, idx, "pooter_emitter_join()");
	err = pooter_emitter_join(b, name, 0, &em);
	if (err)
		return child_fail(t, idx, err, "emitter %u: join: %s (%s)", idx,
				  pooter_strerror(err), pooter_last_error());

	team_go(t, idx);
	for (i = 0; i < p->rounds; i++) {
		uint64_t t0, t1, round = 0;

		if (p->payload >= sizeof(i))
			memcpy(buf, &i, sizeof(i));
		t0 = mono_ns();
		if (p->loan) {
			void *loan;

			err = pooter_emit_loan(em, p->payload, 0, &loan);
			if (!err) {
				/* the pattern, written in place of a copy */
				memset(loan, (int)('a' + idx % 26), p->payload);
				if (p->payload >= sizeof(i))
					memcpy(loan, &i, sizeof(i));
				err = pooter_emit_commit(em, loan, p->payload,
							 &round);
			}
		} else {
			err = pooter_emit(em, buf, p->payload, &round);
		}
		t1 = mono_ns();
		lat[i] = t1 - t0;
		if (x->start)
			x->start[(size_t)idx * p->rounds + i] = t0;
		if (err) {
			child_fail(t, idx, err,
				   "emitter %u: emit %llu (round "
				   "%llu): %s (%s)",
				   idx, (unsigned long long)i + 1,
				   (unsigned long long)round,
				   pooter_strerror(err), pooter_last_error());
			break;
		}
		if (round != i + 1) {
			child_fail(t, idx, -EPROTO,
				   "emitter %u: emit %llu was "
				   "in round %llu",
				   idx, (unsigned long long)i + 1,
				   (unsigned long long)round);
			break;
		}
	}
	t->slots[idx].count = i;
	team_done(t, idx);

	/* after a failure, leaving cancels the round the others wait in */
	pooter_emitter_leave(em);
	pooter_broker_close(b);
	free(buf);
	return t->slots[idx].err ? -1 : 0;
}

static int check_delivery(struct team *t, unsigned int idx,
			  const struct pooter_params *p, uint64_t i,
			  const struct pooter_delivery *d)
{
	unsigned int cidx = idx - p->emitters;

	if (d->round != i + 1 || d->outcome != 0 || d->count != p->emitters)
		return child_fail(t, idx, -EPROTO,
				  "consumer %u: delivery %llu "
				  "is round %llu, outcome %d, %u payloads "
				  "(expected round %llu, 0, %u)",
				  cidx, (unsigned long long)i + 1,
				  (unsigned long long)d->round, d->outcome,
				  d->count, (unsigned long long)i + 1,
				  p->emitters);
	for (unsigned int e = 0; e < d->count; e++) {
		const struct pooter_payload *pl = &d->payloads[e];

		if (pl->len != p->payload || (p->payload >= sizeof(i) &&
					      memcmp(pl->data, &i, sizeof(i))))
			return child_fail(t, idx, -EPROTO,
					  "consumer %u: round "
					  "%llu: payload of %s is not the one "
					  "emitted (%zu bytes)",
					  cidx, (unsigned long long)d->round,
					  pl->emitter, pl->len);
	}
	return 0;
}

static int pooter_consumer(struct team *t, unsigned int idx,
			   const struct pooter_ctx *x)
{
	const struct pooter_params *p = x->p;
	unsigned int cidx = idx - p->emitters;
	/* longer than a round's timeout: a stuck round shows in the emits */
	int timeout_ms = (int)p->timeout_ms + 5000;
	struct pooter_broker *b = NULL;
	struct pooter_consumer *c = NULL;
	char name[32];
	uint64_t i;
	int err;

	team_stage(t, idx,
		   x->p->url_base ? "pooter_broker_open_url()" :
				    "pooter_broker_open()");
	err = broker_open(x, &b);
	if (err)
		return child_fail(t, idx, err, "consumer %u: open %s: %s (%s)",
				  cidx, x->broker, pooter_strerror(err),
				  pooter_last_error());
	snprintf(name, sizeof(name), "c%u", cidx);
	team_stage(t, idx, "pooter_consumer_join()");
	err = pooter_consumer_join(b, name, 0, &c);
	if (err)
		return child_fail(t, idx, err, "consumer %u: join: %s (%s)",
				  cidx, pooter_strerror(err),
				  pooter_last_error());

	team_go(t, idx);
	for (i = 0; i < p->rounds; i++) {
		const struct pooter_delivery *d;

		err = pooter_consume(c, timeout_ms, &d);
		if (err) {
			child_fail(t, idx, err,
				   "consumer %u: delivery %llu: %s (%s)", cidx,
				   (unsigned long long)i + 1,
				   pooter_strerror(err), pooter_last_error());
			break;
		}
		if (i + 1 == p->rounds)
			t->slots[idx].mark_ns = mono_ns();
		if (check_delivery(t, idx, p, i, d))
			break;
		err = pooter_release(c, d);
		if (err) {
			child_fail(t, idx, err,
				   "consumer %u: release round "
				   "%llu: %s (%s)",
				   cidx, (unsigned long long)i + 1,
				   pooter_strerror(err), pooter_last_error());
			break;
		}
	}
	t->slots[idx].count = i;
	team_done(t, idx);

	pooter_consumer_leave(c);
	pooter_broker_close(b);
	return t->slots[idx].err ? -1 : 0;
}

static int pooter_child(struct team *t, unsigned int idx, void *arg)
{
	const struct pooter_ctx *x = arg;

	if (idx < x->p->emitters)
		return pooter_emitter(t, idx, x);
	return pooter_consumer(t, idx, x);
}

static void result_fail(char *err, size_t len, const char *what,
			const char *why)
{
	snprintf(err, len, "%.40s: %s", what, why);
}

/* CPU and context switches of every slot, per round */
static void sum_cpu(const struct team *t, uint64_t rounds,
		    struct run_result *res)
{
	double u = 0, s = 0, v = 0, iv = 0;

	for (unsigned int i = 0; i < t->n; i++) {
		u += (double)t->slots[i].utime_ns;
		s += (double)t->slots[i].stime_ns;
		v += (double)t->slots[i].nvcsw;
		iv += (double)t->slots[i].nivcsw;
	}
	res->user_ns_per_round = u / (double)rounds;
	res->sys_ns_per_round = s / (double)rounds;
	res->cpu_ns_per_round = (u + s) / (double)rounds;
	res->vcsw_per_round = v / (double)rounds;
	res->ivcsw_per_round = iv / (double)rounds;
}

static void set_rate(struct run_result *res, uint64_t start, uint64_t end)
{
	res->wall_ns = end > start ? (double)(end - start) : 1;
	res->ns_per_round = res->wall_ns / (double)res->rounds;
	res->rounds_per_s = (double)res->rounds * 1e9 / res->wall_ns;
}

/*
 * A team that ran to its end: the clock stops when its last process is
 * done; CPU and background over the timed part.
 */
static void team_measure(const struct team *t, uint64_t rounds,
			 struct run_result *res)
{
	uint64_t end = 0;

	for (unsigned int i = 0; i < t->n; i++)
		if (t->slots[i].done_ns > end)
			end = t->slots[i].done_ns;
	set_rate(res, t->start_ns, end);
	sum_cpu(t, rounds, res);
	res->background_pct = team_background_pct(t);
}

/*
 * Per round, from the first emitter's call to the last emitter's return
 * with the outcome: what one round costs when the rounds do not pipeline
 * (an emit waits for its outcome, so the next round opens after it).
 */
static int round_spans(const struct pooter_ctx *x, struct latency *out)
{
	const struct pooter_params *p = x->p;
	uint64_t *span = malloc(p->rounds * sizeof(*span));

	if (!span)
		return -ENOMEM;
	for (uint64_t i = 0; i < p->rounds; i++) {
		uint64_t first = UINT64_MAX, last = 0;

		for (unsigned int e = 0; e < p->emitters; e++) {
			size_t k = (size_t)e * p->rounds + i;

			if (x->start[k] < first)
				first = x->start[k];
			if (x->start[k] + x->lat[k] > last)
				last = x->start[k] + x->lat[k];
		}
		span[i] = last - first;
	}
	latency_of(span, p->rounds, out);
	free(span);
	return 0;
}

/* A broker of a generated name: shared memory, or under p->url_base. */
static int broker_create(const struct pooter_params *p,
			 const struct pooter_broker_attr *attr, char *url,
			 size_t url_len, struct pooter_broker **b)
{
	static unsigned int seq;

	if (!p->url_base)
		return pooter_broker_create(NULL, attr, b);
	if ((size_t)snprintf(url, url_len, "%s/pooter-bench-%ld-%u",
			     p->url_base, (long)getpid(), ++seq) >= url_len)
		return -ENAMETOOLONG;
	return pooter_broker_create_url(url, attr, NULL, b);
}

void run_pooter(const struct pooter_params *p, struct run_result *res)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = p->emitters,
		    .max_consumers = p->consumers ? p->consumers : 1,
		    .max_payload = p->payload ? p->payload : 1,
		    .depth = p->depth, .timeout_ms = p->timeout_ms);
	size_t lat_size = (size_t)p->emitters * p->rounds * sizeof(uint64_t);
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct pooter_ctx x = { .p = p };
	struct team t;
	char url[512];
	uint64_t end = 0;
	int err;

	memset(res, 0, sizeof(*res));
	res->procs = p->emitters + p->consumers;
	res->rounds = p->rounds;
	err = broker_create(p, &attr, url, sizeof(url), &b);
	if (err) {
		snprintf(res->err, sizeof(res->err),
			 "pooter: create %.300s: %s (%s)",
			 p->url_base ? url : "", pooter_strerror(err),
			 pooter_last_error());
		return;
	}
	if (p->url_base) {
		x.broker = url;
	} else {
		x.broker = pooter_broker_name(b);
		snprintf(bench_segment_path, sizeof(bench_segment_path),
			 "/dev/shm/pooter.%s", x.broker);
	}
	x.lat = shared_alloc(lat_size);
	if (p->url_base)
		x.start = shared_alloc(lat_size);
	if (!x.lat || (p->url_base && !x.start)) {
		result_fail(res->err, sizeof(res->err), "pooter",
			    "no memory for the latency samples");
		goto out;
	}

	if (team_run(&t, res->procs, pooter_child, &x, p->watchdog_s)) {
		result_fail(res->err, sizeof(res->err), "pooter", t.err);
		team_free(&t);
		goto out;
	}
	for (unsigned int i = 0; i < t.n; i++) {
		uint64_t e = i < p->emitters ? t.slots[i].done_ns :
					       t.slots[i].mark_ns;

		/* with consumers, the clock stops at their last receipt */
		if (p->consumers && i < p->emitters)
			continue;
		if (e > end)
			end = e;
	}
	set_rate(res, t.start_ns, end);
	sum_cpu(&t, p->rounds, res);
	res->background_pct = team_background_pct(&t);
	if (x.start) {
		if (round_spans(&x, &res->span)) {
			result_fail(res->err, sizeof(res->err), "pooter",
				    "no memory for the round spans");
			team_free(&t);
			goto out;
		}
		res->have_span = true;
	}
	latency_of(x.lat, (size_t)p->emitters * p->rounds, &res->lat);
	team_free(&t);

	/* the broker's own count must agree: R rounds, all resolved */
	err = pooter_broker_stat(b, &st);
	if (err) {
		snprintf(res->err, sizeof(res->err), "pooter: stat: %s (%s)",
			 pooter_strerror(err), pooter_last_error());
		goto out;
	}
	if (st.rounds_resolved != p->rounds || st.rounds_opened != p->rounds ||
	    st.rounds_timedout || st.rounds_cancelled || st.rounds_ownerdead) {
		snprintf(res->err, sizeof(res->err),
			 "pooter: broker counted %llu rounds opened, %llu "
			 "resolved, %llu timed out, %llu cancelled, %llu owner "
			 "dead; expected %llu resolved",
			 (unsigned long long)st.rounds_opened,
			 (unsigned long long)st.rounds_resolved,
			 (unsigned long long)st.rounds_timedout,
			 (unsigned long long)st.rounds_cancelled,
			 (unsigned long long)st.rounds_ownerdead,
			 (unsigned long long)p->rounds);
		goto out;
	}
	res->ok = true;
out:
	shared_free(x.lat, lat_size);
	shared_free(x.start, lat_size);
	if (p->url_base) {
		/* a broker left on the ensemble is a failure of the run */
		err = pooter_broker_unlink_url(url, NULL);
		if (err) {
			char why[480];

			snprintf(why, sizeof(why), "unlink %.300s: %s (%s)",
				 url, pooter_strerror(err),
				 pooter_last_error());
			if (res->ok) {
				res->ok = false;
				result_fail(res->err, sizeof(res->err),
					    "pooter", why);
			} else {
				fprintf(stderr, "pooter-bench: %s\n", why);
			}
		}
	} else {
		pooter_broker_unlink(pooter_broker_name(b));
		bench_segment_path[0] = '\0';
	}
	pooter_broker_close(b);
}

/* ---------------------------------------------------------------- memcpy */

#define MEMCPY_BYTES (1ull << 30) /* per process */

struct memcpy_ctx {
	unsigned int payload, depth;
	uint64_t copies;
};

static int memcpy_child(struct team *t, unsigned int idx, void *arg)
{
	const struct memcpy_ctx *x = arg;
	size_t p = x->payload ? x->payload : 1;
	char *src = malloc(p), *dst = malloc(p * x->depth);
	uint64_t i;

	if (!src || !dst)
		return child_fail(t, idx, -ENOMEM, "memcpy %u: out of memory",
				  idx);
	memset(src, 'a' + (int)idx, p);
	memset(dst, 0, p * x->depth); /* faulted in before the clock */
	team_go(t, idx);
	for (i = 0; i < x->copies; i++) {
		char *to = dst + (i % x->depth) * p;

		memcpy(to, src, p);
		/* the copy must happen: the compiler cannot see who reads */
		__asm__ __volatile__("" : : "r"(to) : "memory");
	}
	t->slots[idx].count = i;
	team_done(t, idx);
	free(src);
	free(dst);
	return 0;
}

void run_memcpy(unsigned int procs, unsigned int payload, unsigned int depth,
		unsigned int watchdog_s, struct memcpy_result *res)
{
	struct memcpy_ctx x = { .payload = payload,
				.depth = depth < 2 ? 1 : 2 };
	struct run_result r;
	struct team t;

	memset(res, 0, sizeof(*res));
	res->procs = procs;
	res->payload = payload;
	x.copies = MEMCPY_BYTES / (payload ? payload : 1);
	res->copies = x.copies;
	if (team_run(&t, procs, memcpy_child, &x, watchdog_s)) {
		result_fail(res->err, sizeof(res->err), "memcpy", t.err);
		team_free(&t);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.rounds = x.copies;
	team_measure(&t, x.copies, &r);
	team_free(&t);
	res->mb_s =
		(double)procs * (double)x.copies * payload / r.wall_ns * 1e3;
	res->background_pct = r.background_pct;
	res->ok = true;
}

/* --------------------------------------------------------------- barrier */

struct barrier_ctx {
	pthread_barrier_t *bar;
	uint64_t rounds;
	uint64_t *lat; /* procs * rounds, shared */
};

static int barrier_child(struct team *t, unsigned int idx, void *arg)
{
	const struct barrier_ctx *x = arg;
	uint64_t *lat = x->lat + (size_t)idx * x->rounds, i;

	team_go(t, idx);
	for (i = 0; i < x->rounds; i++) {
		uint64_t t0 = mono_ns();
		int r = pthread_barrier_wait(x->bar);

		lat[i] = mono_ns() - t0;
		if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD) {
			child_fail(t, idx, -r, "barrier wait %llu: %s",
				   (unsigned long long)i + 1, strerror(r));
			break;
		}
	}
	t->slots[idx].count = i;
	team_done(t, idx);
	return t->slots[idx].err ? -1 : 0;
}

void run_barrier(unsigned int procs, uint64_t rounds, unsigned int watchdog_s,
		 struct run_result *res)
{
	size_t lat_size = (size_t)procs * rounds * sizeof(uint64_t);
	struct barrier_ctx x = { .rounds = rounds };
	pthread_barrierattr_t ba;
	struct team t;
	int r;

	memset(res, 0, sizeof(*res));
	res->procs = procs;
	res->rounds = rounds;
	x.bar = shared_alloc(sizeof(*x.bar));
	x.lat = shared_alloc(lat_size);
	if (!x.bar || !x.lat) {
		result_fail(res->err, sizeof(res->err), "barrier",
			    "out of shared memory");
		goto out;
	}
	pthread_barrierattr_init(&ba);
	r = pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	if (!r)
		r = pthread_barrier_init(x.bar, &ba, procs);
	pthread_barrierattr_destroy(&ba);
	if (r) {
		result_fail(res->err, sizeof(res->err), "barrier: init",
			    strerror(r));
		goto out;
	}
	if (team_run(&t, procs, barrier_child, &x, watchdog_s)) {
		result_fail(res->err, sizeof(res->err), "barrier", t.err);
		team_free(&t);
		goto out; /* a killed waiter: do not destroy */
	}
	team_measure(&t, rounds, res);
	latency_of(x.lat, (size_t)procs * rounds, &res->lat);
	team_free(&t);
	pthread_barrier_destroy(x.bar);
	res->ok = true;
out:
	shared_free(x.lat, lat_size);
	shared_free(x.bar, sizeof(*x.bar));
}

/* ---------------------------------------------------------- switch floor */

static int switch_child(struct team *t, unsigned int idx, void *arg)
{
	const uint64_t *rounds = arg;
	uint64_t i;

	team_go(t, idx);
	for (i = 0; i < *rounds; i++) {
		if (sched_yield()) {
			child_fail(t, idx, -errno, "sched_yield %llu: %s",
				   (unsigned long long)i + 1, strerror(errno));
			break;
		}
	}
	t->slots[idx].count = i;
	team_done(t, idx);
	return t->slots[idx].err ? -1 : 0;
}

void run_switch_floor(unsigned int procs, uint64_t rounds,
		      unsigned int watchdog_s, struct run_result *res)
{
	struct team t;

	memset(res, 0, sizeof(*res));
	res->procs = procs;
	res->rounds = (uint64_t)procs * rounds; /* yields, machine-wide */
	if (team_run(&t, procs, switch_child, &rounds, watchdog_s)) {
		result_fail(res->err, sizeof(res->err), "switch floor", t.err);
		team_free(&t);
		return;
	}
	team_measure(&t, res->rounds, res);
	team_free(&t);
	res->ok = true;
}

/* ------------------------------------------------------------ ping-pongs */

struct pp_ctx {
	uint32_t *word; /* alone on its cache line (page) */
	uint64_t iters;
	bool spin;
	bool pin;
	int cpu[2];
};

static void futex_wait(uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/*
 * Process 0 serves (0 -> 1) and waits for the return (1 -> 0); process 1
 * the mirror image.  Blocking: never spin, always wake; spinning: never
 * sleep.
 */
static int pp_child(struct team *t, unsigned int idx, void *arg)
{
	const struct pp_ctx *x = arg;
	uint32_t *w = x->word, mine = idx == 0 ? 0 : 1, theirs = 1 - mine;
	uint64_t i;

	if (x->pin) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(x->cpu[idx], &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			return child_fail(t, idx, -errno, "pin to CPU %d: %s",
					  x->cpu[idx], strerror(errno));
	}
	team_go(t, idx);
	for (i = 0; i < x->iters; i++) {
		/* wait for our turn: the word says mine */
		while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != mine) {
			if (!x->spin)
				futex_wait(w, theirs);
			else if (!x->pin)
				sched_yield(); /* one CPU: let the other run */
			else
				cpu_relax();
		}
		__atomic_store_n(w, theirs, __ATOMIC_RELEASE);
		if (!x->spin)
			futex_wake(w);
	}
	t->slots[idx].count = i;
	team_done(t, idx);
	return 0;
}

static void run_pingpong(bool spin, uint64_t iters, unsigned int watchdog_s,
			 struct pingpong_result *res)
{
	struct pp_ctx x = { .iters = iters, .spin = spin };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct team t;
	uint64_t end = 0;
	double cpu = 0, vcsw = 0;

	memset(res, 0, sizeof(*res));
	res->iters = iters;
	if (spin) {
		cpu_set_t set;
		int n = 0;

		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
				if (CPU_ISSET(c, &set))
					x.cpu[n++] = c;
		x.pin = n == 2;
	}
	res->pinned = x.pin;
	x.word = shared_alloc(page);
	if (!x.word) {
		result_fail(res->err, sizeof(res->err), "ping-pong",
			    "out of shared memory");
		return;
	}
	/* process 0 starts: the word says 0 */
	if (team_run(&t, 2, pp_child, &x, watchdog_s)) {
		result_fail(res->err, sizeof(res->err),
			    spin ? "spin ping-pong" : "futex ping-pong", t.err);
		team_free(&t);
		shared_free(x.word, page);
		return;
	}
	for (unsigned int i = 0; i < 2; i++) {
		if (t.slots[i].done_ns > end)
			end = t.slots[i].done_ns;
		cpu += (double)(t.slots[i].utime_ns + t.slots[i].stime_ns);
		vcsw += (double)t.slots[i].nvcsw;
	}
	res->rt_ns = (double)(end - t.start_ns) / (double)iters;
	res->handoff_ns = res->rt_ns / 2;
	res->cpu_ns_per_rt = cpu / (double)iters;
	res->vcsw_per_rt = vcsw / (double)iters;
	res->background_pct = team_background_pct(&t);
	res->ok = true;
	team_free(&t);
	shared_free(x.word, page);
}

void run_futex_pingpong(uint64_t iters, unsigned int watchdog_s,
			struct pingpong_result *res)
{
	run_pingpong(false, iters, watchdog_s, res);
}

void run_spin_pingpong(uint64_t iters, unsigned int watchdog_s,
		       struct pingpong_result *res)
{
	run_pingpong(true, iters, watchdog_s, res);
}
