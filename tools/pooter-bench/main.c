/* SPDX-License-Identifier: MIT */
/*
 * pooter-bench - how fast are pooter's rounds, next to what the same machine
 * does with a pthread barrier, a futex hand-off, a spinning cache line and
 * processes taking turns at the CPUs with sched_yield()?
 *
 *   pooter-bench [-E N] [-C N] [-R ROUNDS] [-P BYTES] [--sweep-emitters LIST]
 *                [--sweep-consumers LIST] [--sweep-payload LIST] [--loan]
 *                [--json] [--no-baselines] ...
 *   pooter-bench --url zk://HOSTS/PATH [-E N] [-C N] [-R ROUNDS] ...
 *
 * For every configuration (E emitters, C consumers) it runs pooter and the
 * barrier and switch-floor baselines with E + C processes; the two
 * ping-pongs (2 processes) run once.  It prints a table, or with --json one
 * JSON document whose configurations each carry ratio_vs_barrier and
 * rounds_in_switches.  Every configuration also says how many MB/s of
 * payload reached each consumer (payload_mb_s), next to a memcpy baseline
 * of the same block size on all CPUs measured in the same run (memcpy_mb_s,
 * ratio_vs_memcpy; on 1 CPU too); with --loan the emitters also run through
 * loans, filling the payload in place.  The exit status is 0 only if
 * every run did what it should (every emit returned 0 in the right round,
 * every consumer got every round, the broker counted R resolved rounds).
 *
 * With --url, the rounds run on a broker kept on a ZooKeeper ensemble
 * instead, next to the ensemble's own floor (url.c); the options are
 * parsed here, and the configurations made.
 *
 * What does not live here: the processes (team.c), what they do
 * (workloads.c), the --url mode (url.c), what both print with (report.c).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <pooter.h>

#include "bench.h"

#define LIST_MAX 32

struct opts {
	unsigned int emitters[LIST_MAX], n_emitters;
	unsigned int consumers[LIST_MAX], n_consumers;
	unsigned int payloads[LIST_MAX], n_payloads;
	uint64_t rounds;
	unsigned int payload, depth, timeout_ms, repeat, watchdog_s;
	bool loan;
	uint64_t pp_iters;
	int max_background;   /* retake runs busier than this %; -1: never */
	unsigned int retakes; /* runs retaken for it */
	bool json, baselines, progress;
	/* --url */
	const char *url;
	unsigned int floor_samples;
	bool rounds_given, members_given, pp_given, watchdog_given;
};

/* --url's defaults: a round costs milliseconds there */
#define URL_ROUNDS 200
#define URL_FLOOR_SAMPLES 200
#define URL_WATCHDOG_S 300

/* a run retaken this often is kept, busy or not (and the table warns) */
#define RETAKE_MAX 10
#define RETAKE_PAUSE_S 5

struct config {
	unsigned int emitters, consumers, payload;
	unsigned int payload_idx; /* into the memcpy baselines */
	struct run_result pooter, barrier;
	struct run_result loan; /* --loan: the same, through loans */
	bool have_loan;
	struct run_result sw; /* switch floor: its rounds are yields */
	bool have_barrier, have_sw;
	bool sw_no_switch; /* E + C <= usable CPUs: a yield switches nothing */
};

static const char usage_text[] =
	"usage: pooter-bench [options]\n"
	"\n"
	"Runs E emitter and C consumer processes through one pooter broker for\n"
	"R rounds of P-byte payloads, and in the same run the baselines: a\n"
	"pthread barrier (PTHREAD_PROCESS_SHARED) across E+C processes, the\n"
	"process-switch floor (E+C processes calling sched_yield() R times\n"
	"each), a futex ping-pong and a spinning ping-pong between two\n"
	"processes.\n"
	"\n"
	"  -E, --emitters N           emitter processes (1..256, default 2)\n"
	"  -C, --consumers N          consumer processes (0..64, default 1)\n"
	"  -R, --rounds N             rounds per run (default 10000)\n"
	"  -P, --payload BYTES        bytes per emit (0..1048576, default 64)\n"
	"  -d, --depth D              broker ring records (1..64, default 16)\n"
	"  -t, --timeout MS           round timeout (default 10000)\n"
	"      --sweep-emitters LIST  e.g. 1,2,4,8,16,32,64 (replaces -E)\n"
	"      --sweep-consumers LIST e.g. 1,2 (replaces -C)\n"
	"      --sweep-payload LIST   e.g. 64,4096,65536,1048576 (replaces -P)\n"
	"      --loan                 also run every configuration through loans\n"
	"                             (the payload written in place, no copy)\n"
	"      --repeat N             run each measurement N times, report the\n"
	"                             median by rate (default 1)\n"
	"      --pingpong-iters N     round trips per ping-pong (default 100000)\n"
	"      --max-background PCT   retake a run (after a pause, up to 10 "
	"times)\n"
	"                             when other work used more than PCT % of\n"
	"                             the machine while it ran (default: never)\n"
	"      --no-baselines         pooter only\n"
	"      --watchdog S           give up on a run after S seconds "
	"(default 600)\n"
	"  -j, --json                 one JSON document on stdout\n"
	"      --url zk://HOSTS/PATH  run the rounds on a ZooKeeper ensemble "
	"instead\n"
	"                             (brokers PATH/pooter-bench-PID-N, removed "
	"after),\n"
	"                             next to the ensemble's own floor; default\n"
	"                             configurations E=2,C=1 and E=8,C=2, -R "
	"200,\n"
	"                             --watchdog 300\n"
	"      --floor-samples N      samples of each floor measurement with "
	"--url\n"
	"                             (default 200)\n"
	"  -h, --help\n"
	"  -V, --version\n"
	"\n"
#ifndef POOTER_BENCH_ZK
	"This pooter-bench was built without the ZooKeeper C client: no "
	"--url.\n\n"
#endif
	"Exit status: 0 when every run completed correctly, 1 when one did "
	"not,\n2 on bad usage.\n";

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("pooter-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'pooter-bench --help'.\n", stderr);
	return 2;
}

static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_uint(const char *s, unsigned int lo, unsigned int hi,
		       unsigned int *out)
{
	uint64_t v;

	if (!parse_u64(s, lo, hi, &v))
		return false;
	*out = (unsigned int)v;
	return true;
}

static bool parse_list(const char *s, unsigned int lo, unsigned int hi,
		       unsigned int *out, unsigned int *n)
{
	char buf[512], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == LIST_MAX || !parse_uint(tok, lo, hi, &out[*n]))
			return false;
		(*n)++;
	}
	return *n > 0;
}

enum {
	OPT_SWEEP_E = 256,
	OPT_SWEEP_C,
	OPT_REPEAT,
	OPT_PP_ITERS,
	OPT_NO_BASELINES,
	OPT_WATCHDOG,
	OPT_MAX_BACKGROUND,
	OPT_SWEEP_P,
	OPT_LOAN,
	OPT_URL,
	OPT_FLOOR_SAMPLES,
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "emitters", required_argument, NULL, 'E' },
		{ "consumers", required_argument, NULL, 'C' },
		{ "rounds", required_argument, NULL, 'R' },
		{ "payload", required_argument, NULL, 'P' },
		{ "depth", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "sweep-emitters", required_argument, NULL, OPT_SWEEP_E },
		{ "sweep-consumers", required_argument, NULL, OPT_SWEEP_C },
		{ "sweep-payload", required_argument, NULL, OPT_SWEEP_P },
		{ "loan", no_argument, NULL, OPT_LOAN },
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "pingpong-iters", required_argument, NULL, OPT_PP_ITERS },
		{ "no-baselines", no_argument, NULL, OPT_NO_BASELINES },
		{ "watchdog", required_argument, NULL, OPT_WATCHDOG },
		{ "max-background", required_argument, NULL,
		  OPT_MAX_BACKGROUND },
		{ "json", no_argument, NULL, 'j' },
		{ "url", required_argument, NULL, OPT_URL },
		{ "floor-samples", required_argument, NULL, OPT_FLOOR_SAMPLES },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->emitters[0] = 2;
	o->n_emitters = 1;
	o->consumers[0] = 1;
	o->n_consumers = 1;
	o->rounds = 10000;
	o->payload = 64;
	o->payloads[0] = 64;
	o->n_payloads = 1;
	o->depth = 16;
	o->timeout_ms = 10000;
	o->repeat = 1;
	o->watchdog_s = 600;
	o->pp_iters = 100000;
	o->max_background = -1;
	o->baselines = true;
	o->floor_samples = URL_FLOOR_SAMPLES;

	while ((c = getopt_long(argc, argv, "E:C:R:P:d:t:jhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'E':
			if (!parse_uint(optarg, 1, POOTER_EMITTERS_MAX,
					&o->emitters[0]))
				return usage_error("bad emitter count '%s' "
						   "(1..%u)",
						   optarg, POOTER_EMITTERS_MAX);
			o->n_emitters = 1;
			o->members_given = true;
			break;
		case 'C':
			if (!parse_uint(optarg, 0, POOTER_CONSUMERS_MAX,
					&o->consumers[0]))
				return usage_error("bad consumer count '%s' "
						   "(0..%u)",
						   optarg,
						   POOTER_CONSUMERS_MAX);
			o->n_consumers = 1;
			o->members_given = true;
			break;
		case 'R':
			if (!parse_u64(optarg, 1, 100000000, &o->rounds))
				return usage_error("bad round count '%s'",
						   optarg);
			o->rounds_given = true;
			break;
		case 'P':
			if (!parse_uint(optarg, 0, POOTER_PAYLOAD_MAX,
					&o->payload))
				return usage_error("bad payload size '%s' "
						   "(0..%u)",
						   optarg, POOTER_PAYLOAD_MAX);
			o->payloads[0] = o->payload;
			o->n_payloads = 1;
			break;
		case OPT_SWEEP_P:
			if (!parse_list(optarg, 0, POOTER_PAYLOAD_MAX,
					o->payloads, &o->n_payloads))
				return usage_error("bad payload list '%s'",
						   optarg);
			o->payload = o->payloads[0];
			break;
		case OPT_LOAN:
			o->loan = true;
			break;
		case 'd':
			if (!parse_uint(optarg, 1, POOTER_DEPTH_MAX, &o->depth))
				return usage_error("bad depth '%s' (1..%u)",
						   optarg, POOTER_DEPTH_MAX);
			break;
		case 't':
			if (!parse_uint(optarg, 1, POOTER_TIMEOUT_MAX_MS,
					&o->timeout_ms))
				return usage_error("bad timeout '%s'", optarg);
			break;
		case OPT_SWEEP_E:
			if (!parse_list(optarg, 1, POOTER_EMITTERS_MAX,
					o->emitters, &o->n_emitters))
				return usage_error("bad emitter list '%s'",
						   optarg);
			o->members_given = true;
			break;
		case OPT_SWEEP_C:
			if (!parse_list(optarg, 0, POOTER_CONSUMERS_MAX,
					o->consumers, &o->n_consumers))
				return usage_error("bad consumer list '%s'",
						   optarg);
			o->members_given = true;
			break;
		case OPT_REPEAT:
			if (!parse_uint(optarg, 1, 99, &o->repeat))
				return usage_error("bad repeat count '%s'",
						   optarg);
			break;
		case OPT_PP_ITERS:
			if (!parse_u64(optarg, 1, 1000000000, &o->pp_iters))
				return usage_error("bad iteration count '%s'",
						   optarg);
			o->pp_given = true;
			break;
		case OPT_NO_BASELINES:
			o->baselines = false;
			break;
		case OPT_WATCHDOG:
			if (!parse_uint(optarg, 1, 86400, &o->watchdog_s))
				return usage_error("bad watchdog '%s'", optarg);
			o->watchdog_given = true;
			break;
		case OPT_MAX_BACKGROUND: {
			unsigned int pct;

			if (!parse_uint(optarg, 0, 100, &pct))
				return usage_error("bad background share '%s' "
						   "(0..100)",
						   optarg);
			o->max_background = (int)pct;
			break;
		}
		case 'j':
			o->json = true;
			break;
		case OPT_URL:
			o->url = optarg;
			break;
		case OPT_FLOOR_SAMPLES:
			if (!parse_uint(optarg, 1, 1000000, &o->floor_samples))
				return usage_error("bad sample count '%s' "
						   "(1..1000000)",
						   optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("pooter-bench %d.%d.%d (libpooter %s)\n",
			       POOTER_VERSION_MAJOR, POOTER_VERSION_MINOR,
			       POOTER_VERSION_PATCH, pooter_version());
			exit(fflush(stdout) ? 1 : 0);
		default:
			return usage_error("bad option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->url) {
#ifdef POOTER_BENCH_ZK
		const char *why = url_check(o->url);

		if (why)
			return usage_error("--url %s: %s", o->url, why);
#else
		return usage_error("--url: this pooter-bench was built without "
				   "the ZooKeeper C client (zookeeper_st and "
				   "<zookeeper/zookeeper.h>: apt-get install "
				   "libzookeeper-st-dev, then build again)");
#endif
		if (o->loan)
			return usage_error("--loan: zk:// brokers have no "
					   "loans (-EOPNOTSUPP)");
		if (o->max_background >= 0)
			return usage_error("--max-background has no use with "
					   "--url (the ensemble's servers are "
					   "other work by design)");
		if (o->pp_given)
			return usage_error("--pingpong-iters has no use with "
					   "--url");
		if (!o->rounds_given)
			o->rounds = URL_ROUNDS;
		if (!o->watchdog_given)
			o->watchdog_s = URL_WATCHDOG_S;
	}
	/* a latency sample per emit, in shared memory */
	for (unsigned int i = 0; i < o->n_emitters; i++)
		for (unsigned int k = 0; k < o->n_consumers; k++)
			if ((uint64_t)(o->emitters[i] + o->consumers[k]) *
				    o->rounds >
			    (1ull << 28))
				return usage_error(
					"%u processes x %llu rounds "
					"is too many samples",
					o->emitters[i] + o->consumers[k],
					(unsigned long long)o->rounds);
	o->progress = isatty(STDERR_FILENO);
	return 0;
}

static void progress(const struct opts *o, const char *fmt, ...)
{
	va_list ap;

	if (!o->progress)
		return;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static int cmp_run(const void *a, const void *b)
{
	double x = ((const struct run_result *)a)->rounds_per_s;
	double y = ((const struct run_result *)b)->rounds_per_s;

	return x < y ? -1 : x > y;
}

static int cmp_pp(const void *a, const void *b)
{
	double x = ((const struct pingpong_result *)a)->rt_ns;
	double y = ((const struct pingpong_result *)b)->rt_ns;

	return x < y ? -1 : x > y;
}

/*
 * Was a run's machine too busy to keep it?  Then pause (so a burst of other
 * work can pass) and say so; after RETAKE_MAX retakes the run is kept.
 */
static bool retake(struct opts *o, double background_pct, unsigned int *n)
{
	if (o->max_background < 0 || background_pct <= o->max_background ||
	    *n >= RETAKE_MAX)
		return false;
	(*n)++;
	o->retakes++;
	fprintf(stderr,
		"%spooter-bench: machine %.0f%% busy with other work: "
		"retaking the run in %d s (%u/%d)\n",
		o->progress ? "\r\033[K" : "", background_pct, RETAKE_PAUSE_S,
		*n, RETAKE_MAX);
	sleep(RETAKE_PAUSE_S);
	return true;
}

/* Run fn o->repeat times; the median by rate, or the first failure. */
static void median_run(struct opts *o, struct run_result *out,
		       void (*fn)(const void *arg, struct run_result *res),
		       const void *arg)
{
	unsigned int repeat = o->repeat;
	struct run_result *runs = calloc(repeat, sizeof(*runs));

	if (!runs) {
		memset(out, 0, sizeof(*out));
		snprintf(out->err, sizeof(out->err), "out of memory");
		return;
	}
	for (unsigned int i = 0, n = 0; i < repeat; i++) {
		do {
			fn(arg, &runs[i]);
			bench_stop_if_signalled();
		} while (runs[i].ok && retake(o, runs[i].background_pct, &n));
		if (!runs[i].ok) {
			*out = runs[i];
			free(runs);
			return;
		}
	}
	qsort(runs, repeat, sizeof(*runs), cmp_run);
	*out = runs[repeat / 2];
	free(runs);
}

static void do_pooter(const void *arg, struct run_result *res)
{
	run_pooter(arg, res);
}

struct barrier_arg {
	unsigned int procs, watchdog_s;
	uint64_t rounds;
};

static void do_barrier(const void *arg, struct run_result *res)
{
	const struct barrier_arg *a = arg;

	run_barrier(a->procs, a->rounds, a->watchdog_s, res);
}

/* same arguments as the barrier: E + C processes, R yields each */
static void do_switch_floor(const void *arg, struct run_result *res)
{
	const struct barrier_arg *a = arg;

	run_switch_floor(a->procs, a->rounds, a->watchdog_s, res);
}

static void median_pingpong(struct opts *o, bool spin,
			    struct pingpong_result *out)
{
	unsigned int repeat = o->repeat;
	struct pingpong_result *runs = calloc(repeat, sizeof(*runs));

	if (!runs) {
		memset(out, 0, sizeof(*out));
		snprintf(out->err, sizeof(out->err), "out of memory");
		return;
	}
	for (unsigned int i = 0, n = 0; i < repeat; i++) {
		do {
			if (spin)
				run_spin_pingpong(o->pp_iters, o->watchdog_s,
						  &runs[i]);
			else
				run_futex_pingpong(o->pp_iters, o->watchdog_s,
						   &runs[i]);
			bench_stop_if_signalled();
		} while (runs[i].ok && retake(o, runs[i].background_pct, &n));
		if (!runs[i].ok) {
			*out = runs[i];
			free(runs);
			return;
		}
	}
	qsort(runs, repeat, sizeof(*runs), cmp_pp);
	*out = runs[repeat / 2];
	free(runs);
}

/* --- derived figures ----------------------------------------------------- */

/* Time per round of the E=e run with c's consumers and payload, or NAN. */
static double e_ns_per_round(const struct config *cfg, unsigned int n,
			     const struct config *c, unsigned int e, bool loan)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct run_result *r = loan ? &cfg[i].loan :
						    &cfg[i].pooter;

		if (cfg[i].emitters == e && cfg[i].consumers == c->consumers &&
		    cfg[i].payload == c->payload && r->ok &&
		    (!loan || cfg[i].have_loan))
			return r->ns_per_round;
	}
	return NAN;
}

static double e2_ns_per_round(const struct config *cfg, unsigned int n,
			      const struct config *c)
{
	return e_ns_per_round(cfg, n, c, 2, false);
}

/* MB/s of payload each consumer got: every round brings E payloads. */
static double payload_mb_s(const struct config *c, const struct run_result *r)
{
	if (!r->ok || !c->consumers)
		return NAN;
	return r->rounds_per_s * c->emitters * (double)c->payload / 1e6;
}

/* The memcpy baselines of each payload size: on 1 CPU, and on all. */
static struct memcpy_result memcpy_one[LIST_MAX], memcpy_all[LIST_MAX];

static double memcpy_mb_s(const struct config *c)
{
	const struct memcpy_result *m = &memcpy_all[c->payload_idx];

	return m->ok ? m->mb_s : NAN;
}

/*
 * pooter's time per round in process switches: over the switch floor's wall
 * time per yield; NAN when the floor failed or its yields switched nothing.
 */
static double rounds_in_switches(const struct config *c)
{
	if (!c->pooter.ok || !c->have_sw || !c->sw.ok || c->sw_no_switch)
		return NAN;
	return ratio(c->pooter.ns_per_round, c->sw.ns_per_round);
}

/* The largest background share of any run, -1 if none is known. */
static double busiest(const struct config *cfg, unsigned int n,
		      const struct pingpong_result *fx,
		      const struct pingpong_result *sp)
{
	double m = -1;

	if (fx->ok && fx->background_pct > m)
		m = fx->background_pct;
	if (sp->ok && sp->background_pct > m)
		m = sp->background_pct;
	for (unsigned int i = 0; i < n; i++) {
		if (cfg[i].pooter.ok && cfg[i].pooter.background_pct > m)
			m = cfg[i].pooter.background_pct;
		if (cfg[i].barrier.ok && cfg[i].barrier.background_pct > m)
			m = cfg[i].barrier.background_pct;
		if (cfg[i].sw.ok && cfg[i].sw.background_pct > m)
			m = cfg[i].sw.background_pct;
	}
	return m;
}

/* --- table ---------------------------------------------------------------- */

static void fmt_bg(char *buf, size_t len, double pct)
{
	if (pct < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.0f", pct);
}

static void print_row(const struct config *c, const struct run_result *r,
		      bool payload)
{
	char bg[16];

	fmt_bg(bg, sizeof(bg), r->background_pct);
	printf("%4u %3u %12.0f %10.2f %9.2f %9.2f %9.2f %11.2f %8.2f %5s",
	       c->emitters, c->consumers, r->rounds_per_s,
	       r->ns_per_round / 1e3, r->lat.p50_ns / 1e3, r->lat.p99_ns / 1e3,
	       r->lat.p999_ns / 1e3, r->cpu_ns_per_round / 1e3,
	       r->vcsw_per_round, bg);
	if (payload)
		printf(" %8u", c->payload);
	printf("\n");
}

/*
 * Payload bandwidth: MB/s each consumer got, next to the memcpy baselines
 * of that block size, and time per round against E=1 (the copies of
 * several emitters run in parallel, so ideally it stays 1).
 */
static void print_payload_table(const struct opts *o, const struct config *cfg,
				unsigned int n)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32];

	printf("payload: MB/s (10^6 bytes) of payload delivered to each "
	       "consumer; memcpy: the same block size copied by 1 process and "
	       "by one per CPU at once\n");
	printf("%4s %3s %8s %11s %9s %8s %11s %9s %9s %11s %11s\n", "E", "C",
	       "P", "copy MB/s", "x memcpy", "t/t(E=1)",
	       o->loan ? "loan MB/s" : "", o->loan ? "x memcpy" : "",
	       o->loan ? "loan/copy" : "", "memcpy 1", "memcpy all");
	for (unsigned int i = 0; i < n; i++) {
		const struct config *x = &cfg[i];
		const struct memcpy_result *m1 = &memcpy_one[x->payload_idx];
		double e1 = e_ns_per_round(cfg, n, x, 1, false);

		fmt_num(a, sizeof(a), payload_mb_s(x, &x->pooter), "%.0f");
		fmt_num(b, sizeof(b),
			ratio(payload_mb_s(x, &x->pooter), memcpy_mb_s(x)),
			"%.2f");
		fmt_num(c, sizeof(c),
			x->pooter.ok && x->emitters > 1 ?
				ratio(x->pooter.ns_per_round, e1) :
				NAN,
			"%.2f");
		fmt_num(d, sizeof(d),
			x->have_loan ? payload_mb_s(x, &x->loan) : NAN, "%.0f");
		fmt_num(e, sizeof(e),
			x->have_loan ? ratio(payload_mb_s(x, &x->loan),
					     memcpy_mb_s(x)) :
				       NAN,
			"%.2f");
		fmt_num(f, sizeof(f),
			x->have_loan && x->loan.ok && x->pooter.ok ?
				ratio(x->loan.rounds_per_s,
				      x->pooter.rounds_per_s) :
				NAN,
			"%.2f");
		fmt_num(g, sizeof(g), m1->ok ? m1->mb_s : NAN, "%.0f");
		fmt_num(h, sizeof(h), memcpy_mb_s(x), "%.0f");
		printf("%4u %3u %8u %11s %9s %8s %11s %9s %9s %11s %11s\n",
		       x->emitters, x->consumers, x->payload, a, b, c,
		       o->loan ? d : "", o->loan ? e : "", o->loan ? f : "", g,
		       h);
	}
	printf("x memcpy: payload MB/s over the all-CPU memcpy's.  "
	       "loan/copy: rounds/s through loans over rounds/s copying.\n\n");
}

static void print_table(const struct opts *o, const struct utsname *u,
			long cpus, long usable, const struct config *cfg,
			unsigned int n, const struct pingpong_result *fx,
			const struct pingpong_result *sp)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32];

	printf("pooter-bench %d.%d.%d: %ld CPUs, %s %s; R=%llu rounds, "
	       "P=%u bytes, depth %u, timeout %u ms, median of %u\n",
	       POOTER_VERSION_MAJOR, POOTER_VERSION_MINOR, POOTER_VERSION_PATCH,
	       cpus, u->sysname, u->release, (unsigned long long)o->rounds,
	       o->payload, o->depth, o->timeout_ms, o->repeat);
	if (o->max_background >= 0)
		printf("runs with more than %d%% background were retaken: %u "
		       "retakes\n",
		       o->max_background, o->retakes);
	printf("times in microseconds (us); CPU = user + sys of every "
	       "participant, per round; csw = voluntary context switches "
	       "(sleeps) per round;\nbg%% = CPU used by anything else while "
	       "the run ran, %% of the machine (- : run too short to tell)\n\n");

	if (o->baselines) {
		printf("baselines, 2 processes, %llu round trips\n",
		       (unsigned long long)o->pp_iters);
		if (fx->ok)
			printf("  futex ping-pong (blocking):  round trip "
			       "%8.3f us  hand-off %8.3f us  CPU %8.3f "
			       "us/round trip  csw %.2f  bg%% %s\n",
			       fx->rt_ns / 1e3, fx->handoff_ns / 1e3,
			       fx->cpu_ns_per_rt / 1e3, fx->vcsw_per_rt,
			       (fmt_bg(a, sizeof(a), fx->background_pct), a));
		else
			printf("  futex ping-pong: FAILED: %s\n", fx->err);
		if (sp->ok)
			printf("  spin ping-pong (one line):   round trip "
			       "%8.3f us  hand-off %8.3f us  CPU %8.3f "
			       "us/round trip  bg%% %s%s\n",
			       sp->rt_ns / 1e3, sp->handoff_ns / 1e3,
			       sp->cpu_ns_per_rt / 1e3,
			       (fmt_bg(a, sizeof(a), sp->background_pct), a),
			       sp->pinned ? "  (pinned to 2 CPUs)" :
					    "  (one CPU: yielding)");
		else
			printf("  spin ping-pong: FAILED: %s\n", sp->err);
		printf("\n");
	}

	for (int loan = 0; loan <= (int)o->loan; loan++) {
		printf("pooter%s: E emitters + C consumers, one broker%s\n",
		       loan ? " --loan" : "",
		       loan ? ", payloads written in place through loans" : "");
		printf("%4s %3s %12s %10s %9s %9s %9s %11s %8s %5s %8s\n", "E",
		       "C", "rounds/s", "us/round", "emit p50", "p99", "p99.9",
		       "CPU us/rnd", "csw/rnd", "bg%", "P");
		for (unsigned int i = 0; i < n; i++) {
			const struct run_result *r = loan ? &cfg[i].loan :
							    &cfg[i].pooter;

			if (loan && !cfg[i].have_loan)
				continue;
			if (!r->ok) {
				printf("%4u %3u FAILED: %s\n", cfg[i].emitters,
				       cfg[i].consumers, r->err);
				continue;
			}
			print_row(&cfg[i], r, true);
		}
		printf("\n");
	}
	print_payload_table(o, cfg, n);
	if (!o->baselines)
		return;

	printf("pthread barrier: E + C processes, one wait per round\n");
	printf("%4s %3s %12s %10s %9s %9s %9s %11s %8s %5s\n", "E", "C",
	       "rounds/s", "us/round", "wait p50", "p99", "p99.9", "CPU us/rnd",
	       "csw/rnd", "bg%");
	for (unsigned int i = 0; i < n; i++) {
		const struct run_result *r = &cfg[i].barrier;

		if (!cfg[i].have_barrier)
			continue;
		if (!r->ok) {
			printf("%4u %3u FAILED: %s\n", cfg[i].emitters,
			       cfg[i].consumers, r->err);
			continue;
		}
		print_row(&cfg[i], r, false);
	}

	printf("\nprocess-switch floor: E + C processes taking turns with "
	       "sched_yield(), R yields each; per yield over the machine "
	       "(%ld usable CPUs)\n",
	       usable);
	printf("%4s %3s %16s %14s %5s\n", "E", "C", "ns/yield (wall)",
	       "CPU ns/yield", "bg%");
	for (unsigned int i = 0; i < n; i++) {
		const struct run_result *r = &cfg[i].sw;

		if (!cfg[i].have_sw)
			continue;
		if (!r->ok) {
			printf("%4u %3u FAILED: %s\n", cfg[i].emitters,
			       cfg[i].consumers, r->err);
			continue;
		}
		fmt_bg(a, sizeof(a), r->background_pct);
		printf("%4u %3u %16.1f %14.1f %5s%s\n", cfg[i].emitters,
		       cfg[i].consumers, r->ns_per_round, r->cpu_ns_per_round,
		       a,
		       cfg[i].sw_no_switch ? "  (no switch: N <= CPUs)" : "");
	}

	printf("\npooter vs baselines (rate ratios: >1 means pooter is faster; "
	       "CPU ratio: <1 means pooter uses less)\n");
	printf("%4s %3s %10s %10s %10s %10s %14s %12s %9s %8s\n", "E", "C",
	       "x barrier", "CPU ratio", "x futex", "x spin", "p99/hand-off",
	       "t/t(E=2)", "t/switch", "P");
	for (unsigned int i = 0; i < n; i++) {
		const struct run_result *p = &cfg[i].pooter,
					*bar = &cfg[i].barrier;
		double e2 = e2_ns_per_round(cfg, n, &cfg[i]);

		if (!p->ok)
			continue;
		fmt_num(a, sizeof(a),
			bar->ok ? ratio(p->rounds_per_s, bar->rounds_per_s) :
				  NAN,
			"%.2f");
		fmt_num(b, sizeof(b),
			bar->ok ? ratio(p->cpu_ns_per_round,
					bar->cpu_ns_per_round) :
				  NAN,
			"%.2f");
		fmt_num(c, sizeof(c),
			fx->ok ? ratio(p->rounds_per_s, 1e9 / fx->rt_ns) : NAN,
			"%.3f");
		fmt_num(d, sizeof(d),
			sp->ok ? ratio(p->rounds_per_s, 1e9 / sp->rt_ns) : NAN,
			"%.4f");
		fmt_num(e, sizeof(e),
			fx->ok ? ratio(p->lat.p99_ns, fx->handoff_ns) : NAN,
			"%.1f");
		if (isnan(e2) || cfg[i].emitters < 2)
			snprintf(f, sizeof(f), "-");
		else
			snprintf(f, sizeof(f), "%.2f (%u)",
				 p->ns_per_round / e2, cfg[i].emitters / 2);
		fmt_num(g, sizeof(g), rounds_in_switches(&cfg[i]), "%.1f");
		printf("%4u %3u %10s %10s %10s %10s %14s %12s %9s %8u\n",
		       cfg[i].emitters, cfg[i].consumers, a, b, c, d, e, f, g,
		       cfg[i].payload);
	}
	if (busiest(cfg, n, fx, sp) > 10)
		printf("\nWARNING: up to %.0f%% of the machine was busy with "
		       "other work during a run: these figures are suspect.\n",
		       busiest(cfg, n, fx, sp));
	printf("\nx futex / x spin: pooter rounds/s over ping-pong round "
	       "trips/s.  p99/hand-off: pooter's p99 emit latency over one "
	       "futex hand-off.\nt/t(E=2): time per round relative to E=2 with "
	       "the same C; in parentheses the linear bound E/2.\n"
	       "t/switch: pooter's time per round over the switch floor's wall "
	       "ns per yield, i.e. how many process switches' worth of machine "
	       "time a round costs (- : N <= CPUs, no switch to compare with).\n");
}

/* --- JSON ----------------------------------------------------------------- */

/* the switch floor: a run_result whose rounds are yields */
static void json_sw(const char *key, const struct config *c)
{
	const struct run_result *r = &c->sw;

	printf("\"%s\":{\"ok\":%s,", key, r->ok ? "true" : "false");
	if (!r->ok) {
		printf("\"error\":");
		json_str(r->err);
		printf("}");
		return;
	}
	printf("\"processes\":%u,\"yields\":%llu,\"no_switch\":%s,", r->procs,
	       (unsigned long long)r->rounds,
	       c->sw_no_switch ? "true" : "false");
	json_num("wall_s", r->wall_ns / 1e9, true);
	json_num("yields_per_s", r->rounds_per_s, true);
	json_num("ns_per_yield", r->ns_per_round, true);
	json_num("cpu_ns_per_yield", r->cpu_ns_per_round, true);
	json_num("user_ns_per_yield", r->user_ns_per_round, true);
	json_num("sys_ns_per_yield", r->sys_ns_per_round, true);
	json_num("voluntary_csw_per_yield", r->vcsw_per_round, true);
	json_num("involuntary_csw_per_yield", r->ivcsw_per_round, true);
	json_num("background_cpu_pct",
		 r->background_pct < 0 ? NAN : r->background_pct, false);
	printf("}");
}

static void json_pp(const char *key, const struct pingpong_result *r,
		    bool comma)
{
	printf("\"%s\":{\"ok\":%s,", key, r->ok ? "true" : "false");
	if (!r->ok) {
		printf("\"error\":");
		json_str(r->err);
	} else {
		printf("\"round_trips\":%llu,\"pinned\":%s,",
		       (unsigned long long)r->iters,
		       r->pinned ? "true" : "false");
		json_num("round_trip_us", r->rt_ns / 1e3, true);
		json_num("handoff_us", r->handoff_ns / 1e3, true);
		json_num("round_trips_per_s", 1e9 / r->rt_ns, true);
		json_num("cpu_us_per_round_trip", r->cpu_ns_per_rt / 1e3, true);
		json_num("voluntary_csw_per_round_trip", r->vcsw_per_rt, true);
		json_num("background_cpu_pct",
			 r->background_pct < 0 ? NAN : r->background_pct,
			 false);
	}
	printf("}%s", comma ? "," : "");
}

static void json_memcpy(const struct memcpy_result *m, bool comma)
{
	printf("{\"ok\":%s,\"payload\":%u,\"processes\":%u,",
	       m->ok ? "true" : "false", m->payload, m->procs);
	if (!m->ok) {
		printf("\"error\":");
		json_str(m->err);
	} else {
		printf("\"copies_per_process\":%llu,",
		       (unsigned long long)m->copies);
		json_num("mb_s", m->mb_s, true);
		json_num("background_cpu_pct",
			 m->background_pct < 0 ? NAN : m->background_pct,
			 false);
	}
	printf("}%s", comma ? "," : "");
}

static void print_json(const struct opts *o, const struct utsname *u, long cpus,
		       long usable, const struct config *cfg, unsigned int n,
		       const struct pingpong_result *fx,
		       const struct pingpong_result *sp, bool ok)
{
	printf("{\"tool\":\"pooter-bench\",\"version\":\"%d.%d.%d\",",
	       POOTER_VERSION_MAJOR, POOTER_VERSION_MINOR,
	       POOTER_VERSION_PATCH);
	printf("\"ok\":%s,", ok ? "true" : "false");
	json_num("max_background_cpu_pct",
		 busiest(cfg, n, fx, sp) < 0 ? NAN : busiest(cfg, n, fx, sp),
		 true);
	printf("\"machine\":{\"cpus\":%ld,\"usable_cpus\":%ld,\"kernel\":",
	       cpus, usable);
	json_str(u->release);
	printf(",\"arch\":");
	json_str(u->machine);
	printf("},");
	printf("\"params\":{\"rounds\":%llu,\"payload\":%u,\"payloads\":[",
	       (unsigned long long)o->rounds, o->payload);
	for (unsigned int i = 0; i < o->n_payloads; i++)
		printf("%s%u", i ? "," : "", o->payloads[i]);
	printf("],\"loan\":%s,\"depth\":%u,"
	       "\"timeout_ms\":%u,\"repeat\":%u,\"pingpong_iters\":%llu,"
	       "\"max_background_pct\":%d,\"retakes\":%u,"
	       "\"baselines\":%s},",
	       o->loan ? "true" : "false", o->depth, o->timeout_ms, o->repeat,
	       (unsigned long long)o->pp_iters, o->max_background, o->retakes,
	       o->baselines ? "true" : "false");
	printf("\"baselines\":");
	if (o->baselines) {
		printf("{");
		json_pp("futex_pingpong", fx, true);
		json_pp("spin_pingpong", sp, true);
		printf("\"memcpy\":[");
		for (unsigned int i = 0; i < o->n_payloads; i++) {
			printf("%s", i ? "," : "");
			json_memcpy(&memcpy_one[i], true);
			json_memcpy(&memcpy_all[i], false);
		}
		printf("]},");
	} else {
		printf("null,");
	}
	printf("\"configs\":[");
	for (unsigned int i = 0; i < n; i++) {
		const struct run_result *p = &cfg[i].pooter,
					*bar = &cfg[i].barrier;
		bool both = p->ok && bar->ok && cfg[i].have_barrier;
		double e2 = e2_ns_per_round(cfg, n, &cfg[i]);

		const struct config *x = &cfg[i];
		const struct memcpy_result *m1 = &memcpy_one[x->payload_idx];
		double e1 = e_ns_per_round(cfg, n, x, 1, false);

		printf("%s{\"emitters\":%u,\"consumers\":%u,\"payload\":%u,",
		       i ? "," : "", cfg[i].emitters, cfg[i].consumers,
		       cfg[i].payload);
		json_run("pooter", p);
		printf(",");
		json_num("payload_mb_s", payload_mb_s(x, p), true);
		json_num("memcpy_mb_s", memcpy_mb_s(x), true);
		json_num("memcpy_1cpu_mb_s", m1->ok ? m1->mb_s : NAN, true);
		json_num("ratio_vs_memcpy",
			 ratio(payload_mb_s(x, p), memcpy_mb_s(x)), true);
		json_num("time_per_round_vs_e1",
			 p->ok && x->emitters > 1 ? ratio(p->ns_per_round, e1) :
						    NAN,
			 true);
		if (x->have_loan) {
			json_run("loan", &x->loan);
			printf(",");
			json_num("loan_payload_mb_s", payload_mb_s(x, &x->loan),
				 true);
			json_num("loan_ratio_vs_memcpy",
				 ratio(payload_mb_s(x, &x->loan),
				       memcpy_mb_s(x)),
				 true);
			json_num("loan_vs_copy",
				 x->loan.ok && p->ok ?
					 ratio(x->loan.rounds_per_s,
					       p->rounds_per_s) :
					 NAN,
				 true);
		}
		if (cfg[i].have_barrier) {
			json_run("barrier", bar);
			printf(",");
		}
		if (cfg[i].have_sw) {
			json_sw("switch_floor", &cfg[i]);
			printf(",");
		}
		json_num("ratio_vs_barrier",
			 both ? ratio(p->rounds_per_s, bar->rounds_per_s) : NAN,
			 true);
		json_num("rounds_in_switches", rounds_in_switches(&cfg[i]),
			 true);
		json_num("cpu_ratio_vs_barrier",
			 both ? ratio(p->cpu_ns_per_round,
				      bar->cpu_ns_per_round) :
				NAN,
			 true);
		json_num("ratio_vs_futex",
			 p->ok && fx->ok ?
				 ratio(p->rounds_per_s, 1e9 / fx->rt_ns) :
				 NAN,
			 true);
		json_num("ratio_vs_spin",
			 p->ok && sp->ok ?
				 ratio(p->rounds_per_s, 1e9 / sp->rt_ns) :
				 NAN,
			 true);
		json_num("p99_vs_futex_handoff",
			 p->ok && fx->ok ?
				 ratio(p->lat.p99_ns, fx->handoff_ns) :
				 NAN,
			 true);
		json_num("time_per_round_vs_e2",
			 p->ok && cfg[i].emitters >= 2 ?
				 ratio(p->ns_per_round, e2) :
				 NAN,
			 true);
		json_num("linear_bound_vs_e2",
			 cfg[i].emitters >= 2 ? cfg[i].emitters / 2.0 : NAN,
			 false);
		printf("}");
	}
	printf("]}\n");
}

/*
 * The CPUs this process may run on (its affinity mask, e.g. a container's
 * cpuset): what the switch floor's processes share.  Online CPUs if unknown.
 */
static long usable_cpus(long online)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return online;
}

#ifdef POOTER_BENCH_ZK
/*
 * --url: every configuration of the lists, or without -E, -C or a sweep
 * the two of issue 14, E=2 C=1 and E=8 C=2 (not their product), each for
 * every payload.
 */
static int url_main(const struct opts *o)
{
	static const struct url_config pairs[] = { { 2, 1, 0 }, { 8, 2, 0 } };
	unsigned int n = 0,
		     max = o->n_payloads *
			   (o->members_given ? o->n_emitters * o->n_consumers :
					       2);
	struct url_config *cfg = calloc(max, sizeof(*cfg));
	struct url_bench ub = {
		.url = o->url,
		.rounds = o->rounds,
		.depth = o->depth,
		.timeout_ms = o->timeout_ms,
		.repeat = o->repeat,
		.watchdog_s = o->watchdog_s,
		.floor_samples = o->baselines ? o->floor_samples : 0,
		.json = o->json,
		.progress = o->progress,
	};
	int rc;

	if (!cfg) {
		fprintf(stderr, "pooter-bench: out of memory\n");
		return 1;
	}
	for (unsigned int q = 0; q < o->n_payloads; q++) {
		if (!o->members_given) {
			for (unsigned int i = 0; i < 2; i++) {
				cfg[n] = pairs[i];
				cfg[n++].payload = o->payloads[q];
			}
			continue;
		}
		for (unsigned int k = 0; k < o->n_consumers; k++)
			for (unsigned int i = 0; i < o->n_emitters; i++)
				cfg[n++] = (struct url_config){
					.emitters = o->emitters[i],
					.consumers = o->consumers[k],
					.payload = o->payloads[q],
				};
	}
	ub.configs = cfg;
	ub.n_configs = n;
	rc = url_bench_run(&ub);
	free(cfg);
	return rc;
}
#endif

/*
 * Interrupted: remove the broker being measured (the children die with us,
 * see team.c), then die of the same signal.
 */
static void on_signal(int sig)
{
	if (bench_segment_path[0])
		unlink(bench_segment_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	struct pingpong_result fx = { 0 }, sp = { 0 };
	struct config *cfg;
	struct utsname u;
	struct opts o;
	unsigned int n = 0;
	long cpus, usable;
	bool ok = true;
	int rc;

	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc;
#ifdef POOTER_BENCH_ZK
	if (o.url)
		return url_main(&o);
#endif
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	usable = usable_cpus(cpus);
	cfg = calloc((size_t)o.n_emitters * o.n_consumers * o.n_payloads,
		     sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "pooter-bench: out of memory\n");
		return 1;
	}

	if (o.baselines) {
		progress(&o, "futex ping-pong ...");
		median_pingpong(&o, false, &fx);
		progress(&o, "spin ping-pong ...");
		median_pingpong(&o, true, &sp);
		ok = fx.ok && sp.ok;
		for (unsigned int q = 0; q < o.n_payloads; q++) {
			progress(&o, "memcpy P=%u ...", o.payloads[q]);
			run_memcpy(1, o.payloads[q], o.depth, o.watchdog_s,
				   &memcpy_one[q]);
			run_memcpy((unsigned int)usable, o.payloads[q], o.depth,
				   o.watchdog_s, &memcpy_all[q]);
			bench_stop_if_signalled();
			ok = ok && memcpy_one[q].ok && memcpy_all[q].ok;
		}
	}
	for (unsigned int q = 0; q < o.n_payloads; q++)
		for (unsigned int k = 0; k < o.n_consumers; k++) {
			for (unsigned int i = 0; i < o.n_emitters; i++) {
				struct config *c = &cfg[n++];
				struct pooter_params p = {
					.emitters = o.emitters[i],
					.consumers = o.consumers[k],
					.payload = o.payloads[q],
					.depth = o.depth,
					.timeout_ms = o.timeout_ms,
					.rounds = o.rounds,
					.watchdog_s = o.watchdog_s,
				};
				struct barrier_arg ba = {
					.procs = p.emitters + p.consumers,
					.rounds = o.rounds,
					.watchdog_s = o.watchdog_s,
				};

				c->emitters = p.emitters;
				c->consumers = p.consumers;
				c->payload = p.payload;
				c->payload_idx = q;
				progress(&o, "E=%u C=%u P=%u: pooter ...",
					 p.emitters, p.consumers, p.payload);
				median_run(&o, &c->pooter, do_pooter, &p);
				ok = ok && c->pooter.ok;
				if (!c->pooter.ok)
					fprintf(stderr,
						"%spooter-bench: E=%u C=%u: %s\n",
						o.progress ? "\r\033[K" : "",
						p.emitters, p.consumers,
						c->pooter.err);
				if (o.loan) {
					p.loan = true;
					progress(
						&o,
						"E=%u C=%u P=%u: pooter --loan ...",
						p.emitters, p.consumers,
						p.payload);
					c->have_loan = true;
					median_run(&o, &c->loan, do_pooter, &p);
					ok = ok && c->loan.ok;
					if (!c->loan.ok)
						fprintf(stderr,
							"%spooter-bench: E=%u C=%u "
							"--loan: %s\n",
							o.progress ?
								"\r\033[K" :
								"",
							p.emitters, p.consumers,
							c->loan.err);
				}
				/* the baselines do not depend on the payload */
				if (!o.baselines || q > 0)
					continue;
				progress(&o, "E=%u C=%u: barrier ...",
					 p.emitters, p.consumers);
				c->have_barrier = true;
				median_run(&o, &c->barrier, do_barrier, &ba);
				ok = ok && c->barrier.ok;
				if (!c->barrier.ok)
					fprintf(stderr,
						"%spooter-bench: E=%u C=%u: %s\n",
						o.progress ? "\r\033[K" : "",
						p.emitters, p.consumers,
						c->barrier.err);
				progress(&o, "E=%u C=%u: switch floor ...",
					 p.emitters, p.consumers);
				c->have_sw = true;
				c->sw_no_switch = (long)ba.procs <= usable;
				median_run(&o, &c->sw, do_switch_floor, &ba);
				ok = ok && c->sw.ok;
				if (!c->sw.ok)
					fprintf(stderr,
						"%spooter-bench: E=%u C=%u: %s\n",
						o.progress ? "\r\033[K" : "",
						p.emitters, p.consumers,
						c->sw.err);
			}
		}
	progress(&o, "");

	if (o.json)
		print_json(&o, &u, cpus, usable, cfg, n, &fx, &sp, ok);
	else
		print_table(&o, &u, cpus, usable, cfg, n, &fx, &sp);
	free(cfg);
	if (fflush(stdout) != 0)
		return 1;
	return ok ? 0 : 1;
}
