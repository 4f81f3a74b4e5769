/* SPDX-License-Identifier: MIT */
/*
 * report.c - what the table and the JSON of both modes print with: ratios
 * that may be unknown, numbers that may be missing, JSON strings and
 * numbers, and a pooter run as a JSON object.  What is printed, and in
 * which order, is the modes' own: main.c (shared memory) and url.c (a
 * broker named by URL).
 */
#include <math.h>
#include <stdio.h>

#include "bench.h"

double ratio(double a, double b)
{
	return b > 0 && a > 0 ? a / b : NAN;
}

void fmt_num(char *buf, size_t len, double v, const char *fmt)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, v);
}

void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

void json_num(const char *key, double v, bool comma)
{
	printf("\"%s\":", key);
	if (isnan(v) || isinf(v))
		printf("null");
	else
		printf("%.6g", v);
	if (comma)
		putchar(',');
}

void json_run(const char *key, const struct run_result *r)
{
	printf("\"%s\":{\"ok\":%s,", key, r->ok ? "true" : "false");
	if (!r->ok) {
		printf("\"error\":");
		json_str(r->err);
		printf("}");
		return;
	}
	printf("\"processes\":%u,\"rounds\":%llu,", r->procs,
	       (unsigned long long)r->rounds);
	json_num("wall_s", r->wall_ns / 1e9, true);
	json_num("rounds_per_s", r->rounds_per_s, true);
	json_num("us_per_round", r->ns_per_round / 1e3, true);
	json_num("latency_p50_us", r->lat.p50_ns / 1e3, true);
	json_num("latency_p90_us", r->lat.p90_ns / 1e3, true);
	json_num("latency_p99_us", r->lat.p99_ns / 1e3, true);
	json_num("latency_p999_us", r->lat.p999_ns / 1e3, true);
	json_num("latency_max_us", r->lat.max_ns / 1e3, true);
	json_num("latency_mean_us", r->lat.mean_ns / 1e3, true);
	if (r->have_span) {
		json_num("round_p50_us", r->span.p50_ns / 1e3, true);
		json_num("round_p90_us", r->span.p90_ns / 1e3, true);
		json_num("round_p99_us", r->span.p99_ns / 1e3, true);
		json_num("round_max_us", r->span.max_ns / 1e3, true);
		json_num("round_mean_us", r->span.mean_ns / 1e3, true);
	}
	json_num("cpu_us_per_round", r->cpu_ns_per_round / 1e3, true);
	json_num("user_us_per_round", r->user_ns_per_round / 1e3, true);
	json_num("sys_us_per_round", r->sys_ns_per_round / 1e3, true);
	json_num("voluntary_csw_per_round", r->vcsw_per_round, true);
	json_num("involuntary_csw_per_round", r->ivcsw_per_round, true);
	json_num("background_cpu_pct",
		 r->background_pct < 0 ? NAN : r->background_pct, false);
	printf("}");
}
