/* SPDX-License-Identifier: MIT */
/*
 * inspect.c - the commands that look without touching: ls, show and watch,
 * and the snapshot of a broker they are drawn from.
 *
 * A snapshot is three reads through the public inspection API (stat, the
 * members, the ring), not one atomic picture: a member may join between
 * them.  That is the price of knowing nothing of the layout, and fine for
 * a tool a human reads.  A backend may not list its ring records
 * (pooter_broker_foreach_record() is -EOPNOTSUPP on zk://): the snapshot
 * then says so, and the rest is shown all the same.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"

/* --- snapshots ---------------------------------------------------------- */

static int snapshot_add_member(const struct pooter_member_info *m, void *arg)
{
	struct snapshot *s = arg;
	struct pooter_member_info *members;

	/* A walk that never ends is the library's bug; do not grow forever. */
	if (s->nmembers >= POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX)
		return -EPROTO;
	members = shm_grow(s->members, &s->members_cap, s->nmembers,
			   sizeof(*members), 16);
	if (!members)
		return -ENOMEM;
	s->members = members;
	s->members[s->nmembers] = *m;
	/* Never trust a name to be terminated. */
	s->members[s->nmembers].name[POOTER_NAME_MAX] = '\0';
	s->nmembers++;
	return 0;
}

static int snapshot_add_record(const struct pooter_record_info *r, void *arg)
{
	struct snapshot *s = arg;
	struct pooter_record_info *records;

	if (s->nrecords >= POOTER_DEPTH_MAX)
		return -EPROTO;
	records = shm_grow(s->records, &s->records_cap, s->nrecords,
			   sizeof(*records), 8);
	if (!records)
		return -ENOMEM;
	s->records = records;
	s->records[s->nrecords++] = *r;
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	const struct pooter_member_info *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int record_cmp(const void *a, const void *b)
{
	const struct pooter_record_info *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

int snapshot_take(struct pooter_broker *broker, struct snapshot *s)
{
	int ret;

	s->nmembers = 0;
	s->nrecords = 0;
	s->records_listed = true;
	/* stat first: it enforces an overdue deadline, as the others may not. */
	ret = pooter_broker_stat(broker, &s->st);
	if (ret < 0)
		return ret;
	s->now_ns = shm_now_ns();
	ret = pooter_broker_foreach_member(broker, snapshot_add_member, s);
	if (ret < 0)
		return ret;
	ret = pooter_broker_foreach_record(broker, snapshot_add_record, s);
	if (ret == -EOPNOTSUPP) {
		s->records_listed = false;
		s->nrecords = 0;
	} else if (ret < 0) {
		return ret;
	}
	if (s->nmembers)
		qsort(s->members, s->nmembers, sizeof(*s->members), member_cmp);
	if (s->nrecords)
		qsort(s->records, s->nrecords, sizeof(*s->records), record_cmp);
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	free(s->members);
	free(s->records);
	memset(s, 0, sizeof(*s));
}

static const struct pooter_member_info *
snapshot_consumer(const struct snapshot *s, unsigned int slot)
{
	unsigned int i;

	for (i = 0; i < s->nmembers; i++)
		if (s->members[i].kind == POOTER_MEMBER_CONSUMER &&
		    s->members[i].slot == slot)
			return &s->members[i];
	return NULL;
}

unsigned int snapshot_count(const struct snapshot *s, int kind, bool dead_only)
{
	unsigned int i, n = 0;

	for (i = 0; i < s->nmembers; i++)
		if (s->members[i].kind == kind &&
		    (!dead_only || !s->members[i].alive))
			n++;
	return n;
}

/* The word for a kind of member, in show's text and JSON alike. */
static const char *members_name(int kind)
{
	return kind == POOTER_MEMBER_EMITTER ? "emitters" : "consumers";
}

static const char *round_state_name(int state)
{
	switch (state) {
	case POOTER_ROUND_NONE:
		return "none";
	case POOTER_ROUND_OPEN:
		return "open";
	case POOTER_ROUND_CLOSED:
		return "closed";
	default:
		return "unknown";
	}
}

static const char *record_state_name(int state)
{
	switch (state) {
	case POOTER_RECORD_FREE:
		return "free";
	case POOTER_RECORD_OPEN:
		return "open";
	case POOTER_RECORD_PUBLISHED:
		return "published";
	default:
		return "unknown";
	}
}

uint64_t rounds_cancelled(const struct pooter_broker_stat *st)
{
	return st->rounds_timedout + st->rounds_cancelled +
	       st->rounds_ownerdead;
}

/* Signed milliseconds from b to a, for ages and deadlines. */
static long long ms_between(uint64_t a, uint64_t b)
{
	return a >= b ? (long long)((a - b) / 1000000) :
			-(long long)((b - a) / 1000000);
}

/* --- show, as text ------------------------------------------------------ */

/* The members of one kind: how many, then a table of them if any. */
static void show_text_members(FILE *out, const struct snapshot *s, int kind)
{
	const struct pooter_broker_stat *st = &s->st;
	bool emitters = kind == POOTER_MEMBER_EMITTER;
	bool open = st->round_state == POOTER_ROUND_OPEN;
	unsigned int i, n = snapshot_count(s, kind, false);
	unsigned int dead = snapshot_count(s, kind, true);

	fprintf(out, "%s: %u of %u", members_name(kind), n,
		emitters ? st->max_emitters : st->max_consumers);
	if (dead)
		fprintf(out, ", %u dead", dead);
	fputc('\n', out);
	if (n && emitters)
		fprintf(out, "  %-5s %-8s %-6s %-8s %s\n", "SLOT", "PID",
			"STATE", "ROUND", "NAME");
	else if (n)
		fprintf(out, "  %-5s %-8s %-6s %-5s %-8s %-10s %-8s %s\n",
			"SLOT", "PID", "STATE", "HELD", "PENDING", "DELIVERED",
			"NOTICES", "NAME");
	for (i = 0; i < s->nmembers; i++) {
		const struct pooter_member_info *m = &s->members[i];
		const char *standing = "-";

		if (m->kind != kind)
			continue;
		/* pid 0: a member of another host (zk), its pid unknown */
		if (m->pid > 0)
			fprintf(out, "  %-5u %-8d ", m->slot, (int)m->pid);
		else
			fprintf(out, "  %-5u %-8s ", m->slot, "-");
		fprintf(out, "%-6s ", m->alive ? "alive" : "dead");
		if (emitters) {
			if (open && m->participant)
				standing = m->emitted ? "emitted" : "owes";
			fprintf(out, "%-8s ", standing);
		} else {
			fprintf(out, "%-5u %-8u %-10llu %-8s ", m->held,
				m->pending, (unsigned long long)m->delivered,
				m->notices ? "yes" : "no");
		}
		shm_print_clean(out, m->name);
		fputc('\n', out);
	}
}

static void show_text_round_members(FILE *out, const struct snapshot *s,
				    const char *label, bool emitted)
{
	unsigned int i, n = 0;

	fprintf(out, "  %-8s", label);
	for (i = 0; i < s->nmembers; i++) {
		const struct pooter_member_info *m = &s->members[i];

		if (m->kind != POOTER_MEMBER_EMITTER || !m->participant ||
		    !m->emitted != !emitted)
			continue;
		fputs(n++ ? ", " : " ", out);
		shm_print_clean(out, m->name);
		if (!m->alive)
			fputs(" (dead)", out);
	}
	fputs(n ? "\n" : " -\n", out);
}

static void show_text_round(FILE *out, const struct snapshot *s)
{
	const struct pooter_broker_stat *st = &s->st;

	switch (st->round_state) {
	case POOTER_ROUND_NONE:
		fputs("round: none opened yet\n", out);
		return;
	case POOTER_ROUND_CLOSED:
		fprintf(out, "round %llu: closed, ",
			(unsigned long long)st->round);
		shm_print_outcome(out, st->round_outcome);
		fputc('\n', out);
		return;
	case POOTER_ROUND_OPEN:
		break;
	default:
		fprintf(out, "round %llu: unknown state %d\n",
			(unsigned long long)st->round, st->round_state);
		return;
	}
	fprintf(out,
		"round %llu: open for %lld ms, deadline in %lld ms, %u of %u "
		"emitted, participants %s",
		(unsigned long long)st->round,
		ms_between(s->now_ns, st->round_opened_ns),
		ms_between(st->round_deadline_ns, s->now_ns), st->round_emitted,
		st->round_participants, st->round_fixed ? "fixed" : "open");
	if (st->quorum && !st->round_fixed)
		fprintf(out, " (quorum %u)", st->quorum);
	fputc('\n', out);
	show_text_round_members(out, s, "emitted", true);
	show_text_round_members(out, s, "owes", false);
}

static void show_text_ring(FILE *out, const char *backend,
			   const struct snapshot *s)
{
	unsigned int i, bit;

	fprintf(out, "ring: %u records, %u free\n", s->st.depth,
		s->st.records_free);
	if (!s->records_listed)
		fprintf(out, "  records are not listed on this backend (%s)\n",
			backend);
	if (s->nrecords)
		fprintf(out, "  %-4s %-10s %-8s %-11s %-9s %s\n", "REC",
			"STATE", "ROUND", "OUTCOME", "PAYLOADS", "HELD BY");
	for (i = 0; i < s->nrecords; i++) {
		const struct pooter_record_info *r = &s->records[i];
		unsigned int n = 0;

		fprintf(out, "  %-4u %-10s ", r->index,
			record_state_name(r->state));
		if (r->state == POOTER_RECORD_FREE) {
			fprintf(out, "%-8s %-11s %-9s -\n", "-", "-", "-");
			continue;
		}
		fprintf(out, "%-8llu %-11s %-9u", (unsigned long long)r->round,
			r->state == POOTER_RECORD_PUBLISHED ?
				shm_outcome_name(r->outcome) :
				"-",
			r->payloads);
		for (bit = 0; bit < 64; bit++) {
			const struct pooter_member_info *c;

			if (!(r->holders >> bit & 1))
				continue;
			fputs(n++ ? ", " : " ", out);
			c = snapshot_consumer(s, bit);
			if (c)
				shm_print_clean(out, c->name);
			else
				fprintf(out, "#%u", bit);
		}
		fputs(n ? "\n" : " -\n", out);
	}
}

/* show's broker, as the command line named it: NAME, shm:NAME or a URL. */
static void show_text(FILE *out, const char *arg, const struct snapshot *s)
{
	const struct pooter_broker_stat *st = &s->st;
	const char *name = url_name(arg);
	char backend[16];

	url_backend(arg, backend, sizeof(backend));
	fputs("broker ", out);
	shm_print_clean(out, name);
	if (url_is_shm(arg)) {
		fprintf(out, "\n  segment     /dev/shm/pooter.");
		shm_print_clean(out, name);
		fprintf(out, ", %zu bytes\n", st->segment_size);
	} else {
		fputs("\n  url         ", out);
		shm_print_clean(out, arg);
		fputc('\n', out);
	}
	fprintf(out,
		"  capacities  %u emitters, %u consumers, %u payload bytes, "
		"ring depth %u\n",
		st->max_emitters, st->max_consumers, st->max_payload,
		st->depth);
	if (st->quorum)
		fprintf(out, "  quorum      %u\n", st->quorum);
	else
		fputs("  quorum      none\n", out);
	fprintf(out, "  timeout     %u ms\n", st->timeout_ms);
	show_text_members(out, s, POOTER_MEMBER_EMITTER);
	show_text_members(out, s, POOTER_MEMBER_CONSUMER);
	show_text_round(out, s);
	show_text_ring(out, backend, s);
	fprintf(out,
		"counters\n"
		"  rounds      %llu opened, %llu resolved, %llu cancelled "
		"(%llu timed out, %llu ECANCELED, %llu owner dead)\n"
		"  emits       %llu\n"
		"  deliveries  %llu\n",
		(unsigned long long)st->rounds_opened,
		(unsigned long long)st->rounds_resolved,
		(unsigned long long)rounds_cancelled(st),
		(unsigned long long)st->rounds_timedout,
		(unsigned long long)st->rounds_cancelled,
		(unsigned long long)st->rounds_ownerdead,
		(unsigned long long)st->emits,
		(unsigned long long)st->deliveries);
}

/* --- show, as JSON ------------------------------------------------------ */

void json_counters(struct json *j, const struct pooter_broker_stat *st)
{
	json_object_begin(j, "counters");
	json_uint(j, "rounds_opened", st->rounds_opened);
	json_uint(j, "rounds_resolved", st->rounds_resolved);
	json_uint(j, "rounds_cancelled", rounds_cancelled(st));
	json_uint(j, "cancelled_etimedout", st->rounds_timedout);
	json_uint(j, "cancelled_ecanceled", st->rounds_cancelled);
	json_uint(j, "cancelled_eownerdead", st->rounds_ownerdead);
	json_uint(j, "emits", st->emits);
	json_uint(j, "deliveries", st->deliveries);
	json_object_end(j);
}

static void json_round_members(struct json *j, const char *key,
			       const struct snapshot *s, bool emitted)
{
	unsigned int i;

	json_array_begin(j, key);
	for (i = 0; s->st.round_state == POOTER_ROUND_OPEN && i < s->nmembers;
	     i++) {
		const struct pooter_member_info *m = &s->members[i];

		if (m->kind == POOTER_MEMBER_EMITTER && m->participant &&
		    !m->emitted == !emitted)
			json_string(j, NULL, m->name);
	}
	json_array_end(j);
}

/*
 * The round object: the state of show's snapshot s, or without s, what ls
 * tells of st: the same fields, less those only a snapshot has.
 */
void json_round(struct json *j, const struct pooter_broker_stat *st,
		const struct snapshot *s)
{
	bool open = st->round_state == POOTER_ROUND_OPEN;

	json_object_begin(j, "round");
	json_string(j, "state", round_state_name(st->round_state));
	json_uint(j, "number", st->round);
	if (st->round_state == POOTER_ROUND_CLOSED)
		json_string(j, "outcome", shm_outcome_name(st->round_outcome));
	else
		json_null(j, "outcome");
	if (s && open) {
		json_int(j, "age_ms",
			 ms_between(s->now_ns, st->round_opened_ns));
		json_int(j, "deadline_in_ms",
			 ms_between(st->round_deadline_ns, s->now_ns));
	} else if (s) {
		json_null(j, "age_ms");
		json_null(j, "deadline_in_ms");
	}
	json_uint(j, "participants", open ? st->round_participants : 0);
	json_uint(j, "emitted", open ? st->round_emitted : 0);
	if (s) {
		json_bool(j, "fixed", open && st->round_fixed);
		json_round_members(j, "have_emitted", s, true);
		json_round_members(j, "owe", s, false);
	}
	json_object_end(j);
}

static void json_members(struct json *j, const struct snapshot *s, int kind)
{
	unsigned int i;

	json_array_begin(j, members_name(kind));
	for (i = 0; i < s->nmembers; i++) {
		const struct pooter_member_info *m = &s->members[i];

		if (m->kind != kind)
			continue;
		json_object_begin(j, NULL);
		json_uint(j, "slot", m->slot);
		json_string(j, "name", m->name);
		if (m->pid > 0)
			json_int(j, "pid", m->pid);
		else
			json_null(j, "pid");
		json_bool(j, "alive", m->alive);
		if (kind == POOTER_MEMBER_EMITTER) {
			json_bool(j, "participant",
				  s->st.round_state == POOTER_ROUND_OPEN &&
					  m->participant);
			json_bool(j, "emitted",
				  s->st.round_state == POOTER_ROUND_OPEN &&
					  m->participant && m->emitted);
		} else {
			json_bool(j, "notices", m->notices);
			json_uint(j, "held", m->held);
			json_uint(j, "pending", m->pending);
			json_uint(j, "delivered", m->delivered);
		}
		json_object_end(j);
	}
	json_array_end(j);
}

static void json_ring(struct json *j, const struct snapshot *s)
{
	unsigned int i, bit;

	json_object_begin(j, "ring");
	json_uint(j, "depth", s->st.depth);
	json_uint(j, "free", s->st.records_free);
	/* Not listed is not the same as none: null, and a flag to say so. */
	json_bool(j, "records_listed", s->records_listed);
	if (!s->records_listed) {
		json_null(j, "records");
		json_object_end(j);
		return;
	}
	json_array_begin(j, "records");
	for (i = 0; i < s->nrecords; i++) {
		const struct pooter_record_info *r = &s->records[i];
		bool used = r->state != POOTER_RECORD_FREE;

		json_object_begin(j, NULL);
		json_uint(j, "index", r->index);
		json_string(j, "state", record_state_name(r->state));
		if (used)
			json_uint(j, "round", r->round);
		else
			json_null(j, "round");
		if (r->state == POOTER_RECORD_PUBLISHED)
			json_string(j, "outcome", shm_outcome_name(r->outcome));
		else
			json_null(j, "outcome");
		json_uint(j, "payloads", used ? r->payloads : 0);
		json_array_begin(j, "holders");
		for (bit = 0; used && bit < 64; bit++) {
			const struct pooter_member_info *c;

			if (!(r->holders >> bit & 1))
				continue;
			c = snapshot_consumer(s, bit);
			json_object_begin(j, NULL);
			json_uint(j, "slot", bit);
			if (c)
				json_string(j, "name", c->name);
			else
				json_null(j, "name");
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void show_json(FILE *out, const char *arg, const struct snapshot *s)
{
	const struct pooter_broker_stat *st = &s->st;
	char backend[16];
	struct json j;

	url_backend(arg, backend, sizeof(backend));
	json_init(&j, out);
	json_object_begin(&j, NULL);
	url_json(&j, "name", arg);
	json_string(&j, "backend", backend);
	json_uint(&j, "segment_size", st->segment_size);
	json_object_begin(&j, "capacities");
	json_uint(&j, "max_emitters", st->max_emitters);
	json_uint(&j, "max_consumers", st->max_consumers);
	json_uint(&j, "max_payload", st->max_payload);
	json_uint(&j, "depth", st->depth);
	json_object_end(&j);
	json_uint(&j, "quorum", st->quorum);
	json_uint(&j, "timeout_ms", st->timeout_ms);
	json_members(&j, s, POOTER_MEMBER_EMITTER);
	json_members(&j, s, POOTER_MEMBER_CONSUMER);
	json_round(&j, st, s);
	json_ring(&j, s);
	json_counters(&j, st);
	json_object_end(&j);
	json_end(&j);
}

/* --- show --------------------------------------------------------------- */

int cmd_show(const struct shm_cmd *cmd, int argc, char **argv)
{
	bool json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct pooter_broker *broker;
	struct snapshot s = { 0 };
	const char *name;
	int ret;

	if (shm_parse_open(cmd, argc, argv, opts, &name, &broker, &ret))
		return ret;
	ret = shm_result(cmd, name, snapshot_take(broker, &s));
	if (!ret) {
		if (json)
			show_json(stdout, name, &s);
		else
			show_text(stdout, name, &s);
		ret = shm_flush(cmd, stdout);
	}
	snapshot_free(&s);
	pooter_broker_close(broker);
	return ret;
}

/* --- ls ----------------------------------------------------------------- */

int name_list_add(const char *name, void *arg)
{
	struct name_list *l = arg;
	char **names;

	names = shm_grow(l->names, &l->cap, l->n, sizeof(*names), 16);
	if (!names)
		return -ENOMEM;
	l->names = names;
	l->names[l->n] = strdup(name);
	if (!l->names[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ls_json_one(struct json *j, const char *url,
			struct pooter_broker_stat *st, int err,
			const char *detail)
{
	json_object_begin(j, NULL);
	/* the name as listed, and where: shm:NAME, or the URL it was opened by */
	url_json(j, "name", url);
	json_bool(j, "ok", !err);
	if (err) {
		json_string(j, "errno", shm_errno_name(err));
		json_string(j, "error", detail);
		json_object_end(j);
		return;
	}
	json_uint(j, "emitters", st->emitters);
	json_uint(j, "max_emitters", st->max_emitters);
	json_uint(j, "consumers", st->consumers);
	json_uint(j, "max_consumers", st->max_consumers);
	json_uint(j, "quorum", st->quorum);
	json_uint(j, "timeout_ms", st->timeout_ms);
	json_round(j, st, NULL);
	json_counters(j, st);
	json_object_end(j);
}

static void ls_text_one(FILE *out, int width, const char *name,
			struct pooter_broker_stat *st, int err,
			const char *detail)
{
	char members[32], round[48];
	int len;

	shm_print_clean(out, name);
	len = strlen(name);
	fprintf(out, "%*s", width - len + 2, "");
	if (err) {
		fputs("error: ", out);
		shm_print_clean(out, detail);
		fputc('\n', out);
		return;
	}
	snprintf(members, sizeof(members), "%u/%u %u/%u", st->emitters,
		 st->max_emitters, st->consumers, st->max_consumers);
	if (st->round_state == POOTER_ROUND_OPEN)
		snprintf(round, sizeof(round), "%llu open %u/%u",
			 (unsigned long long)st->round, st->round_emitted,
			 st->round_participants);
	else if (st->round_state == POOTER_ROUND_CLOSED)
		snprintf(round, sizeof(round), "%llu %s",
			 (unsigned long long)st->round,
			 st->round_outcome ? "cancelled" : "resolved");
	else
		snprintf(round, sizeof(round), "none");
	fprintf(out, "%-15s %-22s %-8llu %-8llu %-9llu %-8llu %llu\n", members,
		round, (unsigned long long)st->rounds_opened,
		(unsigned long long)st->rounds_resolved,
		(unsigned long long)rounds_cancelled(st),
		(unsigned long long)st->emits,
		(unsigned long long)st->deliveries);
}

/*
 * ls: this machine's brokers, or those under a URL's path ("shm:" is this
 * machine; "zk://HOSTS/PATH" the brokers in PATH), each opened by its URL.
 */
int cmd_ls(const struct shm_cmd *cmd, int argc, char **argv)
{
	bool json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct name_list l = { 0 };
	const char *base = "shm:";
	struct json j;
	int ret, width = 4;
	size_t i;

	if (shm_getopt(cmd, argc, argv, opts, &ret))
		return ret;
	if (argc - optind > 1)
		return shm_usage_error(cmd, "takes at most one URL");
	if (argc - optind == 1) {
		base = argv[optind];
		if (url_is_shm(base) && strcmp(base, "shm:"))
			return shm_usage_error(cmd,
					       "'%s' is not where brokers are: "
					       "give shm: or zk://HOSTS/PATH",
					       base);
	}
	ret = shm_result(cmd, url_is_shm(base) ? NULL : base,
			 url_foreach(base, name_list_add, &l));
	if (ret)
		goto out;
	if (l.n)
		qsort(l.names, l.n, sizeof(*l.names), name_cmp);
	for (i = 0; i < l.n; i++)
		if ((int)strlen(l.names[i]) > width)
			width = strlen(l.names[i]);

	if (json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_array_begin(&j, "brokers");
	} else {
		printf("%-*s  %-15s %-22s %-8s %-8s %-9s %-8s %s\n", width,
		       "NAME", "EMIT CONS", "ROUND", "OPENED", "RESOLVED",
		       "CANCELLED", "EMITS", "DELIVERIES");
	}
	for (i = 0; i < l.n; i++) {
		struct pooter_broker_stat st = { 0 };
		struct pooter_broker *broker;
		char detail[512] = "";
		char *url = url_join(base, l.names[i]);
		bool opened;
		int err;

		if (!url) {
			ret = shm_fail(cmd, NULL, -ENOMEM);
			goto out;
		}
		err = url_open(url, &broker);
		opened = !err;
		if (opened)
			err = pooter_broker_stat(broker, &st);
		/* Take the detail before close may replace it. */
		if (err)
			snprintf(detail, sizeof(detail), "%s%s%s",
				 err == -ENOENT ? "no such broker" :
						  pooter_strerror(err),
				 pooter_last_error()[0] ? ": " : "",
				 shm_detail_trim(pooter_last_error(), url));
		if (opened)
			pooter_broker_close(broker);
		if (json)
			ls_json_one(&j, url, &st, err, detail);
		else
			ls_text_one(stdout, width, l.names[i], &st, err,
				    detail);
		free(url);
	}
	if (json) {
		json_array_end(&j);
		json_object_end(&j);
		json_end(&j);
	}
	ret = shm_flush(cmd, stdout);
out:
	for (i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	return ret;
}

/* --- watch -------------------------------------------------------------- */

/*
 * One line that changes when the broker's state does, and only then: no
 * ages, no deadlines, which move on their own.
 */
static void watch_line(char *buf, size_t size, const struct snapshot *s)
{
	const struct pooter_broker_stat *st = &s->st;
	char round[64];

	if (st->round_state == POOTER_ROUND_OPEN)
		snprintf(round, sizeof(round),
			 "round %llu open %u/%u emitted%s",
			 (unsigned long long)st->round, st->round_emitted,
			 st->round_participants,
			 st->round_fixed ? " fixed" : "");
	else if (st->round_state == POOTER_ROUND_CLOSED)
		snprintf(round, sizeof(round), "round %llu %s",
			 (unsigned long long)st->round,
			 shm_outcome_name(st->round_outcome));
	else
		snprintf(round, sizeof(round), "no round");
	snprintf(buf, size,
		 "%s; emitters %u (%u dead); consumers %u (%u dead); "
		 "ring %u/%u free; rounds %llu opened %llu resolved "
		 "%llu cancelled; emits %llu; deliveries %llu",
		 round, snapshot_count(s, POOTER_MEMBER_EMITTER, false),
		 snapshot_count(s, POOTER_MEMBER_EMITTER, true),
		 snapshot_count(s, POOTER_MEMBER_CONSUMER, false),
		 snapshot_count(s, POOTER_MEMBER_CONSUMER, true),
		 st->records_free, st->depth,
		 (unsigned long long)st->rounds_opened,
		 (unsigned long long)st->rounds_resolved,
		 (unsigned long long)rounds_cancelled(st),
		 (unsigned long long)st->emits,
		 (unsigned long long)st->deliveries);
}

/*
 * watch --json: one document per change, what the line says; a removed
 * broker is {"time", "name", "url", "removed": true}.
 */
static void watch_json(const char *arg, const char *stamp,
		       const struct snapshot *s)
{
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "time", stamp);
	url_json(&j, "name", arg);
	json_bool(&j, "removed", !s);
	if (s) {
		json_uint(&j, "emitters",
			  snapshot_count(s, POOTER_MEMBER_EMITTER, false));
		json_uint(&j, "dead_emitters",
			  snapshot_count(s, POOTER_MEMBER_EMITTER, true));
		json_uint(&j, "consumers",
			  snapshot_count(s, POOTER_MEMBER_CONSUMER, false));
		json_uint(&j, "dead_consumers",
			  snapshot_count(s, POOTER_MEMBER_CONSUMER, true));
		json_uint(&j, "records_free", s->st.records_free);
		json_uint(&j, "depth", s->st.depth);
		json_round(&j, &s->st, NULL);
		json_counters(&j, &s->st);
	}
	json_object_end(&j);
	json_end(&j);
}

static void watch_timestamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	snprintf(buf, size, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, (long)tv.tv_usec / 1000);
}

int cmd_watch(const struct shm_cmd *cmd, int argc, char **argv)
{
	unsigned int interval_ms = 200, count = 0, shown = 0;
	bool json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_UINT("interval", 'i', &interval_ms, 1,
			     POOTER_TIMEOUT_MAX_MS, NULL),
		SHM_OPT_UINT("count", 'n', &count, 1, UINT32_MAX, NULL),
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	char line[512], last[512] = "", stamp[64], path[128];
	struct pooter_broker *broker;
	struct snapshot s = { 0 };
	struct timespec ts;
	const char *name;
	bool tty, shm;
	int ret, err;

	if (shm_parse_open(cmd, argc, argv, opts, &name, &broker, &ret))
		return ret;
	shm = url_is_shm(name);
	snprintf(path, sizeof(path), "/dev/shm/pooter.%s", url_name(name));
	shm_catch_signals();

	tty = !json && isatty(STDOUT_FILENO);
	while (!shm_stop) {
		struct stat sb;
		bool removed;

		/*
		 * A removed segment stays mapped, and readable: its file is
		 * what tells.  Other backends say so when asked (zk: ENOENT,
		 * or EIDRM for a handle whose broker went).
		 */
		if (shm) {
			removed = stat(path, &sb) && errno == ENOENT;
			err = removed ? 0 : snapshot_take(broker, &s);
		} else {
			err = snapshot_take(broker, &s);
			removed = err == -ENOENT || err == -EIDRM;
		}
		if (removed) {
			watch_timestamp(stamp, sizeof(stamp));
			if (json)
				watch_json(name, stamp, NULL);
			else
				printf("%s broker removed\n", stamp);
			ret = shm_flush(cmd, stdout);
			break;
		}
		ret = shm_result(cmd, name, err);
		if (ret)
			break;
		watch_timestamp(stamp, sizeof(stamp));
		if (tty) {
			/* Home, clear to the end: a redraw without flicker. */
			printf("\033[H\033[J%s every %u ms\n\n", stamp,
			       interval_ms);
			show_text(stdout, name, &s);
			shown++;
		} else {
			watch_line(line, sizeof(line), &s);
			if (strcmp(line, last)) {
				if (json)
					watch_json(name, stamp, &s);
				else
					printf("%s %s\n", stamp, line);
				memcpy(last, line, sizeof(last));
				shown++;
			}
		}
		ret = shm_flush(cmd, stdout);
		if (ret || (count && shown >= count))
			break;
		ts.tv_sec = interval_ms / 1000;
		ts.tv_nsec = (long)(interval_ms % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
	snapshot_free(&s);
	pooter_broker_close(broker);
	return ret;
}
