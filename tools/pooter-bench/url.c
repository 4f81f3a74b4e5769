/* SPDX-License-Identifier: MIT */
/*
 * url.c - pooter-bench --url zk://HOSTS/PATH: pooter's rounds on a broker
 * kept on a ZooKeeper ensemble, in units of the ensemble's own round trips.
 *
 * In one run: the ensemble's floor (zk_floor.c: a write on one session
 * until a data watch fires on another, and a two-op multi, with the same C
 * client the plugin uses), then for each configuration a broker
 * PATH/pooter-bench-PID-N, created, run through by E emitter and C consumer
 * processes (workloads.c, each process opening the broker itself), checked
 * and removed, then the floor again: an ensemble's round trip moves with
 * its disks and its load, so the ratios are to the mean of the two, and
 * both are shown.  The table says, per configuration, a round's p50 and p90,
 * rounds/s, and the round p50 over each floor; and where the E=2, C=1
 * round stands against issue 14's target of 3 write->watch round trips, as
 * a measurement (the exit status judges correctness only, never speed).
 *
 * What does not live here: the rounds themselves (workloads.c), the floor
 * (zk_floor.c), the shared-memory mode and its baselines (main.c).  Built
 * only with the ZooKeeper C client (zk_floor.c needs it); without it main.c
 * refuses --url.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <pooter.h>

#include "bench.h"
#include "zk_floor.h"

#define URL_MAX 400	    /* leaves room for "/pooter-bench-PID-N" */
#define TARGET_VS_WATCH 3.0 /* issue 14: E=2, C=1 within 3 write->watch */
#define TARGET_E 2
#define TARGET_C 1

struct url_floor {
	bool measured, ok;
	unsigned int samples;
	double watch_at[2], multi_at[2]; /* p50s, before and after the runs */
	double watch_us, multi_us;	 /* their means: what ratios are to */
	char err[512];
};

const char *url_check(const char *url)
{
	const char *hosts, *slash;
	size_t len = strlen(url);

	if (strncmp(url, "zk://", 5) != 0)
		return "only zk:// URLs are measured with --url (without it, "
		       "the brokers are this machine's shared memory)";
	if (len >= URL_MAX)
		return "URL too long";
	hosts = url + 5;
	slash = strchr(hosts, '/');
	if (slash == hosts || !*hosts)
		return "no HOST:PORT list after zk://";
	if (url[len - 1] == '/')
		return "URL ends in '/' (give zk://HOSTS/PATH, without a "
		       "broker name: the benchmark makes its own)";
	return NULL;
}

/* HOST:PORT,... of a checked URL: what the floor's sessions connect to */
static void url_hosts(const char *url, char *buf, size_t len)
{
	const char *hosts = url + 5, *slash = strchr(hosts, '/');
	size_t n = slash ? (size_t)(slash - hosts) : strlen(hosts);

	snprintf(buf, len, "%.*s", (int)n, hosts);
}

/* Outside a team: note the signal, finish the step, clean up, then die. */
static void on_stop_signal(int sig)
{
	team_stop_signal = sig;
	signal(sig, SIG_DFL); /* a second one is not waited for */
}

static void progress(const struct url_bench *ub, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void progress(const struct url_bench *ub, const char *fmt, ...)
{
	va_list ap;

	if (!ub->progress)
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

/*
 * ub->repeat runs of one configuration; the median by rate, or the first
 * failure.  No retakes for background work: the ensemble's servers are
 * other work on this machine by design, when they run on it.
 */
static void median_run(const struct url_bench *ub,
		       const struct pooter_params *p, struct run_result *out)
{
	struct run_result *runs = calloc(ub->repeat, sizeof(*runs));

	memset(out, 0, sizeof(*out));
	if (!runs) {
		snprintf(out->err, sizeof(out->err), "out of memory");
		return;
	}
	for (unsigned int i = 0; i < ub->repeat; i++) {
		run_pooter(p, &runs[i]);
		/* run_pooter() removed its broker: nothing is left behind */
		bench_stop_if_signalled();
		if (!runs[i].ok) {
			*out = runs[i];
			free(runs);
			return;
		}
	}
	qsort(runs, ub->repeat, sizeof(*runs), cmp_run);
	*out = runs[ub->repeat / 2];
	free(runs);
}

static double vs_watch(const struct url_floor *f, const struct run_result *r)
{
	return f->ok && r->ok ? ratio(r->span.p50_ns / 1e3, f->watch_us) : NAN;
}

static double vs_multi(const struct url_floor *f, const struct run_result *r)
{
	return f->ok && r->ok ? ratio(r->span.p50_ns / 1e3, f->multi_us) : NAN;
}

static int count_broker(const char *name, void *arg)
{
	(void)name;
	(*(unsigned int *)arg)++;
	return 0;
}

/*
 * Can this process reach zk:// brokers at all?  A missing plugin fails
 * every run the same way: say so once, and how to point at it, before
 * spending the floor's time.  Other errors (a PATH not made yet) are the
 * runs' to tell.
 */
static int url_probe(const struct url_bench *ub)
{
	unsigned int n = 0;
	int err = pooter_broker_foreach_url(ub->url, NULL, count_broker, &n);

	if (err != -EPROTONOSUPPORT)
		return 0;
	fprintf(stderr, "pooter-bench: %s: %s (%s)\n", ub->url,
		pooter_strerror(err), pooter_last_error());
	if (!getenv("POOTER_PLUGIN_DIR"))
		fprintf(stderr,
			"pooter-bench: it is linked statically, so the "
			"plugin is looked for through POOTER_PLUGIN_DIR and "
			"the loader's path only: set POOTER_PLUGIN_DIR to the "
			"directory of libpooter-zk.so.0 (in a build tree: "
			"BUILD/src)\n");
	return err;
}

/* The first E=2, C=1 run (of any payload), ok or not; NULL if none */
static const struct run_result *target_run(const struct url_bench *ub,
					   const struct run_result *res)
{
	for (unsigned int i = 0; i < ub->n_configs; i++)
		if (ub->configs[i].emitters == TARGET_E &&
		    ub->configs[i].consumers == TARGET_C)
			return &res[i];
	return NULL;
}

/* --- table ---------------------------------------------------------------- */

static void print_table(const struct url_bench *ub, const struct utsname *u,
			long cpus, const struct url_floor *f,
			const struct run_result *res)
{
	const struct run_result *t = target_run(ub, res);
	char a[32], b[32];

	printf("pooter-bench %d.%d.%d --url %s\n", POOTER_VERSION_MAJOR,
	       POOTER_VERSION_MINOR, POOTER_VERSION_PATCH, ub->url);
	printf("%ld CPUs, %s %s; R=%llu rounds, depth %u, timeout %u ms, "
	       "median of %u\n",
	       cpus, u->sysname, u->release, (unsigned long long)ub->rounds,
	       ub->depth, ub->timeout_ms, ub->repeat);
	printf("times in milliseconds (ms); each emitter and consumer is a "
	       "process of its own, with its own broker handle and sessions\n\n");

	if (!f->measured)
		printf("ZooKeeper's floor: not measured (--no-baselines)\n\n");
	else if (!f->ok)
		printf("ZooKeeper's floor: FAILED: %s\n\n", f->err);
	else
		printf("ZooKeeper's floor, same C client (libzookeeper_st), "
		       "%u samples each, p50: before the runs, after, mean\n"
		       "  write->watch (zoo_aset on one session to the data "
		       "watch event on another): %8.3f %8.3f %8.3f ms\n"
		       "  multi (one zoo_amulti: create sequential + check):   "
		       "                     %8.3f %8.3f %8.3f ms\n\n",
		       f->samples, f->watch_at[0] / 1e3, f->watch_at[1] / 1e3,
		       f->watch_us / 1e3, f->multi_at[0] / 1e3,
		       f->multi_at[1] / 1e3, f->multi_us / 1e3);

	printf("pooter rounds on the ensemble: E emitters + C consumers, one "
	       "broker per configuration\n");
	printf("%4s %3s %7s %10s %9s %10s %8s %8s %9s %10s %8s %8s\n", "E", "C",
	       "P", "rounds/s", "ms/round", "round p50", "p90", "p99",
	       "emit p50", "CPU ms/rnd", "x watch", "x multi");
	for (unsigned int i = 0; i < ub->n_configs; i++) {
		const struct url_config *c = &ub->configs[i];
		const struct run_result *r = &res[i];

		if (!r->ok) {
			printf("%4u %3u %7u FAILED: %s\n", c->emitters,
			       c->consumers, c->payload, r->err);
			continue;
		}
		fmt_num(a, sizeof(a), vs_watch(f, r), "%.2f");
		fmt_num(b, sizeof(b), vs_multi(f, r), "%.2f");
		printf("%4u %3u %7u %10.1f %9.3f %10.3f %8.3f %8.3f %9.3f "
		       "%10.3f %8s %8s\n",
		       c->emitters, c->consumers, c->payload, r->rounds_per_s,
		       r->ns_per_round / 1e6, r->span.p50_ns / 1e6,
		       r->span.p90_ns / 1e6, r->span.p99_ns / 1e6,
		       r->lat.p50_ns / 1e6, r->cpu_ns_per_round / 1e6, a, b);
	}
	printf("\nround: from the first emitter's pooter_emit() call to the "
	       "last emitter's return with the outcome.\n"
	       "ms/round: wall time over R rounds (the clock stops when the "
	       "last consumer holds the last round).  emit p50: one emitter's "
	       "pooter_emit().\n"
	       "CPU ms/rnd: user + sys of every participant, per round (the "
	       "servers' not counted).\n"
	       "x watch, x multi: round p50 over the floor's write->watch p50 "
	       "and multi p50 (the means).\n\n");

	printf("target (issue 14): an E=%d, C=%d round within %.0f write->watch "
	       "round trips (p50)\n",
	       TARGET_E, TARGET_C, TARGET_VS_WATCH);
	if (!t)
		printf("  measured: - (no E=%d, C=%d run in this one)\n",
		       TARGET_E, TARGET_C);
	else if (!t->ok)
		printf("  measured: - (the E=%d, C=%d run failed)\n", TARGET_E,
		       TARGET_C);
	else if (!f->ok)
		printf("  measured: round p50 %.3f ms; no floor to compare "
		       "with\n",
		       t->span.p50_ns / 1e6);
	else
		printf("  measured: %.2f x write->watch (round p50 %.3f ms, "
		       "write->watch p50 %.3f ms; %.2f x multi)\n",
		       vs_watch(f, t), t->span.p50_ns / 1e6, f->watch_us / 1e3,
		       vs_multi(f, t));
}

/* --- JSON ----------------------------------------------------------------- */

static void print_json(const struct url_bench *ub, const struct utsname *u,
		       long cpus, const struct url_floor *f,
		       const struct run_result *res, bool ok)
{
	const struct run_result *t = target_run(ub, res);

	printf("{\"tool\":\"pooter-bench\",\"version\":\"%d.%d.%d\","
	       "\"mode\":\"url\",\"url\":",
	       POOTER_VERSION_MAJOR, POOTER_VERSION_MINOR,
	       POOTER_VERSION_PATCH);
	json_str(ub->url);
	printf(",\"ok\":%s,", ok ? "true" : "false");
	printf("\"machine\":{\"cpus\":%ld,\"kernel\":", cpus);
	json_str(u->release);
	printf(",\"arch\":");
	json_str(u->machine);
	printf("},");
	printf("\"params\":{\"rounds\":%llu,\"depth\":%u,\"timeout_ms\":%u,"
	       "\"repeat\":%u,\"floor_samples\":%u},",
	       (unsigned long long)ub->rounds, ub->depth, ub->timeout_ms,
	       ub->repeat, ub->floor_samples);
	printf("\"floor\":");
	if (!f->measured) {
		printf("null,");
	} else if (!f->ok) {
		printf("{\"ok\":false,\"error\":");
		json_str(f->err);
		printf("},");
	} else {
		printf("{\"ok\":true,\"samples\":%u,", f->samples);
		json_num("write_watch_p50_us", f->watch_us, true);
		json_num("multi_p50_us", f->multi_us, true);
		json_num("write_watch_p50_us_before", f->watch_at[0], true);
		json_num("write_watch_p50_us_after", f->watch_at[1], true);
		json_num("multi_p50_us_before", f->multi_at[0], true);
		json_num("multi_p50_us_after", f->multi_at[1], false);
		printf("},");
	}
	printf("\"configs\":[");
	for (unsigned int i = 0; i < ub->n_configs; i++) {
		const struct url_config *c = &ub->configs[i];
		const struct run_result *r = &res[i];

		printf("%s{\"emitters\":%u,\"consumers\":%u,\"payload\":%u,",
		       i ? "," : "", c->emitters, c->consumers, c->payload);
		json_run("pooter", r);
		printf(",");
		json_num("rounds_per_s", r->ok ? r->rounds_per_s : NAN, true);
		json_num("round_p50_us", r->ok ? r->span.p50_ns / 1e3 : NAN,
			 true);
		json_num("round_p90_us", r->ok ? r->span.p90_ns / 1e3 : NAN,
			 true);
		json_num("ratio_vs_write_watch", vs_watch(f, r), true);
		json_num("ratio_vs_multi", vs_multi(f, r), true);
		json_num("us_per_round_vs_write_watch",
			 f->ok && r->ok ?
				 ratio(r->ns_per_round / 1e3, f->watch_us) :
				 NAN,
			 false);
		printf("}");
	}
	printf("],\"target\":{\"emitters\":%d,\"consumers\":%d,", TARGET_E,
	       TARGET_C);
	json_num("max_ratio_vs_write_watch", TARGET_VS_WATCH, true);
	json_num("ratio_vs_write_watch", t ? vs_watch(f, t) : NAN, false);
	printf("}}\n");
}

/* The floor, before (at 0) or after (1) the runs; f->ok false on failure */
static void measure_floor(const struct url_bench *ub, struct url_floor *f,
			  int at)
{
	char hosts[URL_MAX];
	int rc;

	url_hosts(ub->url, hosts, sizeof(hosts));
	progress(ub, "ZooKeeper floor, %s the runs (%u samples each) ...",
		 at ? "after" : "before", ub->floor_samples);
	rc = zk_floor_measure(hosts, ub->floor_samples, &f->multi_at[at],
			      &f->watch_at[at], f->err, sizeof(f->err));
	if (rc) {
		f->ok = false;
		fprintf(stderr,
			"%spooter-bench: floor %s the runs, on %s: %s "
			"(%s)\n",
			ub->progress ? "\r\033[K" : "", at ? "after" : "before",
			hosts, f->err, strerror(-rc));
	}
	bench_stop_if_signalled();
}

int url_bench_run(const struct url_bench *ub)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct url_floor f = { .samples = ub->floor_samples };
	struct run_result *res;
	struct utsname u;
	bool ok = true;
	long cpus;

	for (unsigned int i = 0; i < 3; i++)
		signal(sigs[i], on_stop_signal);
	if (uname(&u) < 0)
		memset(&u, 0, sizeof(u));
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	res = calloc(ub->n_configs, sizeof(*res));
	if (!res) {
		fprintf(stderr, "pooter-bench: out of memory\n");
		return 1;
	}

	if (url_probe(ub)) {
		free(res);
		return 1;
	}
	if (ub->floor_samples) {
		f.measured = f.ok = true;
		measure_floor(ub, &f, 0);
		ok = f.ok;
	}

	for (unsigned int i = 0; i < ub->n_configs; i++) {
		const struct url_config *c = &ub->configs[i];
		struct pooter_params p = {
			.emitters = c->emitters,
			.consumers = c->consumers,
			.payload = c->payload,
			.depth = ub->depth,
			.timeout_ms = ub->timeout_ms,
			.rounds = ub->rounds,
			.watchdog_s = ub->watchdog_s,
			.url_base = ub->url,
		};

		progress(ub, "E=%u C=%u P=%u: pooter on %s ...", c->emitters,
			 c->consumers, c->payload, ub->url);
		median_run(ub, &p, &res[i]);
		ok = ok && res[i].ok;
		if (!res[i].ok)
			fprintf(stderr, "%spooter-bench: E=%u C=%u P=%u: %s\n",
				ub->progress ? "\r\033[K" : "", c->emitters,
				c->consumers, c->payload, res[i].err);
	}
	if (f.ok) {
		measure_floor(ub, &f, 1);
		ok = ok && f.ok;
		f.watch_us = (f.watch_at[0] + f.watch_at[1]) / 2;
		f.multi_us = (f.multi_at[0] + f.multi_at[1]) / 2;
	}
	progress(ub, "%s", "");

	if (ub->json)
		print_json(ub, &u, cpus, &f, res, ok);
	else
		print_table(ub, &u, cpus, &f, res);
	free(res);
	if (fflush(stdout) != 0)
		return 1;
	return ok ? 0 : 1;
}
