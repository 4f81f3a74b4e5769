/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - pooter-shm metrics: every broker's counters and gauges in the
 * Prometheus text exposition format (version 0.0.4), for the node
 * exporter's textfile collector or any scraper that reads a file.
 *
 * Each metric family is written once, # HELP and # TYPE first, with one
 * sample per broker (label broker="NAME"); a broker that cannot be read
 * has pooter_up 0 and no other sample.  With --output FILE the text goes
 * to FILE.tmp.PID first and is renamed over FILE, so a collector never
 * reads half of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

struct metrics_broker {
	char *name;
	int err; /* 0: st and the member counts are valid */
	struct pooter_broker_stat st;
	unsigned int dead_emitters, dead_consumers;
	unsigned int live_emitters, live_consumers;
};

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void family(FILE *out, const char *name, const char *type,
		   const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *out, const char *name, const struct metrics_broker *b,
		   const char *label, const char *value, uint64_t v)
{
	fprintf(out, "%s{broker=\"", name);
	label_value(out, b->name);
	if (label) {
		fprintf(out, "\",%s=\"", label);
		label_value(out, value);
	}
	fprintf(out, "\"} %llu\n", (unsigned long long)v);
}

/* A family with one sample per readable broker, of the field get() reads. */
#define METRIC(out, bs, n, NAME, TYPE, HELP, EXPR)                      \
	do {                                                            \
		family(out, NAME, TYPE, HELP);                          \
		for (size_t i_ = 0; i_ < (n); i_++) {                   \
			const struct metrics_broker *b = &(bs)[i_];     \
			if (!b->err)                                    \
				sample(out, NAME, b, NULL, NULL, EXPR); \
		}                                                       \
	} while (0)

static void metrics_take(struct metrics_broker *b)
{
	struct pooter_broker *broker;
	struct snapshot s = { 0 };

	b->err = url_open(b->name, &broker);
	if (b->err)
		return;
	b->err = snapshot_take(broker, &s);
	pooter_broker_close(broker);
	if (!b->err) {
		b->st = s.st;
		b->dead_emitters =
			snapshot_count(&s, POOTER_MEMBER_EMITTER, true);
		b->dead_consumers =
			snapshot_count(&s, POOTER_MEMBER_CONSUMER, true);
		b->live_emitters =
			snapshot_count(&s, POOTER_MEMBER_EMITTER, false) -
			b->dead_emitters;
		b->live_consumers =
			snapshot_count(&s, POOTER_MEMBER_CONSUMER, false) -
			b->dead_consumers;
	}
	snapshot_free(&s);
}

static void metrics_write(FILE *out, const struct metrics_broker *bs, size_t n)
{
	static const struct {
		const char *reason;
		size_t offset;
	} reasons[] = {
		{ "ETIMEDOUT",
		  offsetof(struct pooter_broker_stat, rounds_timedout) },
		{ "ECANCELED",
		  offsetof(struct pooter_broker_stat, rounds_cancelled) },
		{ "EOWNERDEAD",
		  offsetof(struct pooter_broker_stat, rounds_ownerdead) },
	};
	size_t i, r;

	family(out, "pooter_up", "gauge",
	       "1 when the broker could be read, 0 when not (corrupted, no "
	       "access).");
	for (i = 0; i < n; i++)
		sample(out, "pooter_up", &bs[i], NULL, NULL, !bs[i].err);
	METRIC(out, bs, n, "pooter_rounds_opened_total", "counter",
	       "Rounds opened.", b->st.rounds_opened);
	METRIC(out, bs, n, "pooter_rounds_resolved_total", "counter",
	       "Rounds resolved: every participant emitted.",
	       b->st.rounds_resolved);
	family(out, "pooter_rounds_cancelled_total", "counter",
	       "Rounds cancelled, by reason.");
	for (i = 0; i < n; i++)
		for (r = 0;
		     !bs[i].err && r < sizeof(reasons) / sizeof(*reasons); r++)
			sample(out, "pooter_rounds_cancelled_total", &bs[i],
			       "reason", reasons[r].reason,
			       *(const uint64_t *)((const char *)&bs[i].st +
						   reasons[r].offset));
	METRIC(out, bs, n, "pooter_emits_total", "counter",
	       "Payloads contributed by emitters.", b->st.emits);
	METRIC(out, bs, n, "pooter_deliveries_total", "counter",
	       "Deliveries taken, one per consumer per round.",
	       b->st.deliveries);
	METRIC(out, bs, n, "pooter_round", "gauge",
	       "Number of the open round, or of the last one decided (0: none "
	       "yet).",
	       b->st.round);
	METRIC(out, bs, n, "pooter_round_open", "gauge",
	       "1 while a round is open.",
	       b->st.round_state == POOTER_ROUND_OPEN);
	family(out, "pooter_members", "gauge",
	       "Members joined, by kind and by whether their process lives.");
	for (i = 0; i < n; i++) {
		const struct metrics_broker *b = &bs[i];

		if (b->err)
			continue;
		fprintf(out, "pooter_members{broker=\"");
		label_value(out, b->name);
		fprintf(out,
			"\",kind=\"emitter\",state=\"alive\"} %u\n"
			"pooter_members{broker=\"",
			b->live_emitters);
		label_value(out, b->name);
		fprintf(out,
			"\",kind=\"emitter\",state=\"dead\"} %u\n"
			"pooter_members{broker=\"",
			b->dead_emitters);
		label_value(out, b->name);
		fprintf(out,
			"\",kind=\"consumer\",state=\"alive\"} %u\n"
			"pooter_members{broker=\"",
			b->live_consumers);
		label_value(out, b->name);
		fprintf(out, "\",kind=\"consumer\",state=\"dead\"} %u\n",
			b->dead_consumers);
	}
	METRIC(out, bs, n, "pooter_max_emitters", "gauge",
	       "Capacity: most emitters.", b->st.max_emitters);
	METRIC(out, bs, n, "pooter_max_consumers", "gauge",
	       "Capacity: most consumers.", b->st.max_consumers);
	METRIC(out, bs, n, "pooter_ring_records", "gauge",
	       "Ring records (the depth).", b->st.depth);
	METRIC(out, bs, n, "pooter_ring_records_free", "gauge",
	       "Ring records free for the next round.", b->st.records_free);
	METRIC(out, bs, n, "pooter_quorum", "gauge",
	       "Emitters a round waits for (0: none).", b->st.quorum);
	METRIC(out, bs, n, "pooter_timeout_milliseconds", "gauge",
	       "Timeout of rounds opened from now on.", b->st.timeout_ms);
	METRIC(out, bs, n, "pooter_segment_bytes", "gauge",
	       "Size of the shared-memory segment.", b->st.segment_size);
}

int cmd_metrics(const struct shm_cmd *cmd, int argc, char **argv)
{
	const char *output = NULL;
	const struct shm_opt opts[] = {
		SHM_OPT_STR("output", 'o', &output),
		{ .name = NULL },
	};
	struct metrics_broker *bs = NULL;
	struct name_list l = { 0 };
	char tmp[4096];
	FILE *out = stdout;
	int i, ret;
	size_t k;

	if (shm_getopt(cmd, argc, argv, opts, &ret))
		return ret;
	for (i = optind; i < argc; i++) {
		ret = url_check(cmd, argv[i]);
		if (ret)
			return ret;
	}
	if (argc - optind) {
		for (i = optind; i < argc; i++)
			if (name_list_add(argv[i], &l)) {
				ret = SHM_EXIT_OSERR;
				goto out;
			}
	} else {
		ret = shm_result(cmd, NULL,
				 pooter_broker_foreach(name_list_add, &l));
		if (ret)
			goto out;
	}
	if (l.n)
		qsort(l.names, l.n, sizeof(*l.names), name_cmp);
	bs = calloc(l.n ? l.n : 1, sizeof(*bs));
	if (!bs) {
		shm_error(cmd, NULL, "%s", strerror(ENOMEM));
		ret = SHM_EXIT_OSERR;
		goto out;
	}
	for (k = 0; k < l.n; k++) {
		bs[k].name = l.names[k];
		metrics_take(&bs[k]);
	}

	if (output) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", output,
				     (int)getpid()) >= sizeof(tmp)) {
			ret = shm_usage_error(cmd, "--output: path too long");
			goto out;
		}
		out = fopen(tmp, "w");
		if (!out) {
			shm_error(cmd, NULL, "%s: %s", tmp, strerror(errno));
			ret = SHM_EXIT_CANTCREAT;
			goto out;
		}
	}
	metrics_write(out, bs, l.n);
	if (!output) {
		ret = shm_flush(cmd, stdout);
		goto out;
	}
	if (fflush(out) || ferror(out) || fsync(fileno(out))) {
		shm_error(cmd, NULL, "%s: %s", tmp, strerror(errno));
		fclose(out);
		unlink(tmp);
		ret = SHM_EXIT_IOERR;
		goto out;
	}
	fclose(out);
	if (rename(tmp, output)) {
		shm_error(cmd, NULL, "%s: %s", output, strerror(errno));
		unlink(tmp);
		ret = SHM_EXIT_CANTCREAT;
		goto out;
	}
	ret = SHM_EXIT_OK;
out:
	free(bs);
	for (k = 0; k < l.n; k++)
		free(l.names[k]);
	free(l.names);
	return ret;
}
