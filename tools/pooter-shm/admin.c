/* SPDX-License-Identifier: MIT */
/*
 * admin.c - the operator's commands: create, rm, set, cancel, check, gc.
 * Each is one call of the library, with its arguments checked first and
 * its failure told on one line; rm --abandoned looks at every broker first.
 * A broker is a NAME or a URL (url.c); check has no URL options, and is
 * the shm backend's only (others say -EOPNOTSUPP).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "shm.h"

/* --- create ------------------------------------------------------------- */

static int parse_mode(const struct shm_cmd *cmd, const char *arg,
		      unsigned int *mode)
{
	unsigned long v;

	if (!shm_parse_ulong(arg, 8, &v) || v > 0777)
		return shm_usage_error(cmd,
				       "--mode: '%s' is not an octal mode "
				       "(0..0777)",
				       arg);
	if ((v & 0600) != 0600)
		return shm_usage_error(cmd,
				       "--mode %s: the owner needs read and "
				       "write (0600)",
				       arg);
	*mode = v;
	return SHM_EXIT_OK;
}

int cmd_create(const struct shm_cmd *cmd, int argc, char **argv)
{
	POOTER_OPTS(pooter_broker_attr, attr);
	bool json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_UINT("emitters", 'e', &attr.max_emitters, 1,
			     POOTER_EMITTERS_MAX, NULL),
		SHM_OPT_UINT("consumers", 'c', &attr.max_consumers, 1,
			     POOTER_CONSUMERS_MAX, NULL),
		SHM_OPT_UINT("payload", 'p', &attr.max_payload, 1,
			     POOTER_PAYLOAD_MAX, NULL),
		SHM_OPT_UINT("depth", 'd', &attr.depth, 1, POOTER_DEPTH_MAX,
			     NULL),
		SHM_OPT_UINT("timeout", 't', &attr.timeout_ms, 1,
			     POOTER_TIMEOUT_MAX_MS, NULL),
		SHM_OPT_UINT("quorum", 'q', &attr.quorum, 0,
			     POOTER_EMITTERS_MAX, NULL),
		/* handed back, in its turn among the others: parse_mode() */
		{ .name = "mode", .val = 'm', .has_arg = required_argument },
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct pooter_broker_stat st;
	struct pooter_broker *broker;
	struct json j;
	char mode[16];
	const char *name = NULL;
	unsigned int emitters;
	int c, ret;

	while ((c = shm_getopt(cmd, argc, argv, opts, &ret)) > 0) {
		ret = parse_mode(cmd, optarg, &attr.mode);
		if (ret)
			return ret;
	}
	if (c < 0)
		return ret;
	if (argc - optind > 1)
		return shm_usage_error(cmd, "expects at most one broker NAME");
	if (argc - optind == 1) {
		name = argv[optind];
		ret = url_check(cmd, name);
		if (ret)
			return ret;
	}
	emitters = attr.max_emitters ? attr.max_emitters :
				       POOTER_DEFAULT_EMITTERS;
	if (attr.quorum > emitters)
		return shm_usage_error(cmd,
				       "--quorum %u is over the %u emitters "
				       "the broker may have",
				       attr.quorum, emitters);

	ret = shm_result(cmd, name, url_create(name, &attr, &broker));
	if (ret)
		return ret;
	/* A generated name is news to the caller; a given one is not. */
	if (json && !pooter_broker_stat(broker, &st)) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		url_json(&j, "name", name ? name : pooter_broker_name(broker));
		json_uint(&j, "segment_size", st.segment_size);
		json_object_begin(&j, "capacities");
		json_uint(&j, "max_emitters", st.max_emitters);
		json_uint(&j, "max_consumers", st.max_consumers);
		json_uint(&j, "max_payload", st.max_payload);
		json_uint(&j, "depth", st.depth);
		json_object_end(&j);
		json_uint(&j, "quorum", st.quorum);
		json_uint(&j, "timeout_ms", st.timeout_ms);
		snprintf(mode, sizeof(mode), "%04o",
			 attr.mode ? attr.mode : POOTER_DEFAULT_MODE);
		json_string(&j, "mode", mode);
		json_object_end(&j);
		json_end(&j);
	} else if (!name) {
		printf("%s\n", pooter_broker_name(broker));
	}
	pooter_broker_close(broker);
	return shm_flush(cmd, stdout);
}

/* --- rm, set, cancel ---------------------------------------------------- */

/*
 * What rm says of one broker, in text or as an element of its JSON array:
 * removed (or would be, with --dry-run), kept with a reason, or failed.
 */
struct rm_out {
	bool json, dry_run, abandoned;
	struct json j;
};

static void rm_tell(struct rm_out *o, const char *name, bool removed, int err,
		    const char *why)
{
	if (o->json) {
		json_object_begin(&o->j, NULL);
		url_json(&o->j, "name", name);
		json_bool(&o->j, "removed", removed && !o->dry_run);
		if (err)
			json_errno(&o->j, err, why);
		else if (why)
			json_string(&o->j, "reason", why);
		else
			json_null(&o->j, "reason");
		json_object_end(&o->j);
		return;
	}
	/* Plain rm is silent: its failures are told on standard error. */
	if (!o->abandoned)
		return;
	fputs(removed ? (o->dry_run ? "would remove " : "removed ") : "kept ",
	      stdout);
	shm_print_clean(stdout, name);
	if (why) {
		fputs(removed ? " (" : ": ", stdout);
		shm_print_clean(stdout, why);
		fputs(removed ? ")" : "", stdout);
	}
	fputc('\n', stdout);
}

/* "90", "90s", "15m", "2h", "7d": seconds, in *secs. */
static bool parse_age(const char *arg, unsigned long long *secs)
{
	static const struct {
		char suffix;
		unsigned long long mult;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	unsigned long long v;
	size_t i;
	char *end;

	if (arg[0] < '0' || arg[0] > '9')
		return false;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno)
		return false;
	if (!*end) {
		*secs = v;
		return true;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (end[0] == units[i].suffix && !end[1] &&
		    v <= UINT64_MAX / units[i].mult) {
			*secs = v * units[i].mult;
			return true;
		}
	return false;
}

/*
 * Seconds since a broker was last used: since its last round opened, or,
 * when none ever opened or the file changed since, since its file changed
 * (created, resized).  A round's opening is CLOCK_MONOTONIC, the file's
 * time CLOCK_REALTIME: each is measured against its own clock.
 */
static unsigned long long idle_secs(const char *name,
				    const struct pooter_broker_stat *st)
{
	unsigned long long idle = UINT64_MAX, file_age;
	struct timespec now;
	char path[128];
	struct stat sb;

	if (st->round_state != POOTER_ROUND_NONE &&
	    shm_now_ns() >= st->round_opened_ns)
		idle = (shm_now_ns() - st->round_opened_ns) / 1000000000ull;
	/* Other backends have no file: their rounds alone tell. */
	snprintf(path, sizeof(path), "/dev/shm/pooter.%s", url_name(name));
	if (url_is_shm(name) && !stat(path, &sb) &&
	    !clock_gettime(CLOCK_REALTIME, &now)) {
		file_age =
			now.tv_sec > sb.st_mtime ?
				(unsigned long long)(now.tv_sec - sb.st_mtime) :
				0;
		if (file_age < idle)
			idle = file_age;
	}
	return idle == UINT64_MAX ? 0 : idle;
}

/*
 * Whether NAME is abandoned: no live member, no open round, and (with
 * min_idle) idle for that long.  0 with *why when it is not, 1 when it is
 * (*why then says why: the dead members, the idle time), or a negative
 * errno when it cannot be told.  why points into buf.
 */
static int rm_abandoned(const char *name, unsigned long long min_idle,
			bool have_min_idle, char *buf, size_t size,
			const char **why)
{
	struct pooter_broker *broker;
	struct snapshot s = { 0 };
	unsigned int live, dead;
	unsigned long long idle;
	int err;

	*why = buf;
	err = url_open(name, &broker);
	if (err) {
		snprintf(buf, size, "%s%s%s",
			 err == -ENOENT ? "no such broker" :
					  pooter_strerror(err),
			 pooter_last_error()[0] ? ": " : "",
			 shm_detail_trim(pooter_last_error(), name));
		return err;
	}
	err = snapshot_take(broker, &s);
	pooter_broker_close(broker);
	if (err) {
		snprintf(buf, size, "%s", pooter_strerror(err));
		snapshot_free(&s);
		return err;
	}
	dead = snapshot_count(&s, POOTER_MEMBER_EMITTER, true) +
	       snapshot_count(&s, POOTER_MEMBER_CONSUMER, true);
	live = s.nmembers - dead;
	idle = idle_secs(name, &s.st);
	snapshot_free(&s);
	if (live) {
		snprintf(buf, size, "%u live member%s", live,
			 live == 1 ? "" : "s");
		return 0;
	}
	if (s.st.round_state == POOTER_ROUND_OPEN) {
		snprintf(buf, size, "round %llu is open",
			 (unsigned long long)s.st.round);
		return 0;
	}
	if (have_min_idle && idle < min_idle) {
		snprintf(buf, size, "idle for %llus, under --older-than %llus",
			 idle, min_idle);
		return 0;
	}
	snprintf(buf, size, "%u dead member%s, idle for %llus", dead,
		 dead == 1 ? "" : "s", idle);
	return 1;
}

/* Remove NAME, a broker (or, forced, any file of that name). */
static int rm_one(const struct shm_cmd *cmd, struct rm_out *o, const char *name,
		  bool force)
{
	struct pooter_broker *broker;
	char detail[512];
	int err;

	if (!force) {
		/* Junk named pooter.NAME is not ours to remove unasked. */
		err = url_open(name, &broker);
		if (err == -EPROTO) {
			snprintf(detail, sizeof(detail), "%s",
				 shm_detail_trim(pooter_last_error(), name));
			shm_error(cmd, name,
				  "not a pooter broker, or a corrupted one: %s "
				  "(--force removes it anyway)",
				  detail);
			rm_tell(o, name, false, err, detail);
			return SHM_EXIT_DATAERR;
		}
		if (!err)
			pooter_broker_close(broker);
	}
	if (o->dry_run) {
		rm_tell(o, name, true, 0, NULL);
		return SHM_EXIT_OK;
	}
	err = url_unlink(name);
	if (err < 0) {
		snprintf(detail, sizeof(detail), "%s",
			 err == -ENOENT ? "no such broker" :
					  pooter_strerror(err));
		rm_tell(o, name, false, err, detail);
		return shm_fail(cmd, name, err);
	}
	rm_tell(o, name, true, 0, NULL);
	return SHM_EXIT_OK;
}

int cmd_rm(const struct shm_cmd *cmd, int argc, char **argv)
{
	struct rm_out o = { 0 };
	bool force = false, have_age = false, abandoned;
	const char *age = NULL;
	const struct shm_opt opts[] = {
		SHM_OPT_FLAG("force", 'f', &force),
		SHM_OPT_FLAG("abandoned", 'A', &o.abandoned),
		SHM_OPT_STR("older-than", 'o', &age),
		SHM_OPT_FLAG("dry-run", 'n', &o.dry_run),
		SHM_OPT_FLAG("json", 'j', &o.json),
		{ .name = NULL },
	};
	struct name_list l = { 0 };
	unsigned long long min_idle = 0;
	char why[512];
	const char *reason;
	int i, ret, status = SHM_EXIT_OK;
	size_t k;

	if (shm_getopt(cmd, argc, argv, opts, &ret))
		return ret;
	abandoned = o.abandoned;
	if (age) {
		if (!abandoned)
			return shm_usage_error(cmd, "--older-than goes with "
						    "--abandoned");
		if (!parse_age(age, &min_idle))
			return shm_usage_error(cmd,
					       "--older-than: '%s' is not an "
					       "age (90, 90s, 15m, 2h, 7d)",
					       age);
		have_age = true;
	}
	if (o.dry_run && !abandoned)
		return shm_usage_error(cmd, "--dry-run goes with --abandoned");
	if (force && abandoned)
		return shm_usage_error(cmd, "--force and --abandoned exclude "
					    "each other");
	if (!abandoned && argc - optind < 1)
		return shm_usage_error(cmd, "expects a broker NAME");
	for (i = optind; i < argc; i++) {
		ret = url_check(cmd, argv[i]);
		if (ret)
			return ret;
	}

	if (o.json) {
		json_init(&o.j, stdout);
		json_object_begin(&o.j, NULL);
		json_array_begin(&o.j, "brokers");
	}
	if (!abandoned) {
		/* Remove what can be removed; the status tells of the last failure. */
		for (i = optind; i < argc; i++) {
			ret = rm_one(cmd, &o, argv[i], force);
			if (ret)
				status = ret;
		}
		goto out;
	}

	if (argc - optind) {
		for (i = optind; i < argc && !status; i++)
			if (name_list_add(argv[i], &l))
				status = SHM_EXIT_OSERR;
	} else {
		status = shm_result(cmd, NULL,
				    pooter_broker_foreach(name_list_add, &l));
	}
	if (l.n)
		qsort(l.names, l.n, sizeof(*l.names), name_cmp);
	for (k = 0; !status && k < l.n; k++) {
		ret = rm_abandoned(l.names[k], min_idle, have_age, why,
				   sizeof(why), &reason);
		if (ret < 0) {
			/* Not told abandoned: kept, and said why. */
			rm_tell(&o, l.names[k], false, ret, reason);
			if (argc - optind && ret == -ENOENT)
				status = shm_exit_status(ret);
			continue;
		}
		if (!ret) {
			rm_tell(&o, l.names[k], false, 0, reason);
			continue;
		}
		/* Checked above; between the two, a process may join. */
		if (o.dry_run) {
			rm_tell(&o, l.names[k], true, 0, reason);
			continue;
		}
		ret = url_unlink(l.names[k]);
		if (ret == -ENOENT) {
			rm_tell(&o, l.names[k], false, ret, "no such broker");
		} else if (ret < 0) {
			rm_tell(&o, l.names[k], false, ret,
				pooter_strerror(ret));
			status = shm_fail(cmd, l.names[k], ret);
		} else {
			rm_tell(&o, l.names[k], true, 0, reason);
		}
	}
out:
	if (o.json) {
		json_array_end(&o.j);
		json_object_end(&o.j);
		json_end(&o.j);
	}
	for (k = 0; k < l.n; k++)
		free(l.names[k]);
	free(l.names);
	ret = shm_flush(cmd, stdout);
	return status ? status : ret;
}

int cmd_set(const struct shm_cmd *cmd, int argc, char **argv)
{
	unsigned int timeout_ms = 0;
	bool have_timeout = false, json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_UINT("timeout", 't', &timeout_ms, 1,
			     POOTER_TIMEOUT_MAX_MS, &have_timeout),
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct json j;
	struct pooter_broker *broker;
	const char *name;
	int ret;

	if (shm_parse_name(cmd, argc, argv, opts, &name, &ret))
		return ret;
	if (!have_timeout)
		return shm_usage_error(cmd,
				       "nothing to set: give --timeout MS");
	ret = shm_open_broker(cmd, name, &broker);
	if (ret)
		return ret;
	ret = shm_result(cmd, name,
			 pooter_broker_set_timeout(broker, timeout_ms));
	pooter_broker_close(broker);
	if (!ret && json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		url_json(&j, "name", name);
		json_uint(&j, "timeout_ms", timeout_ms);
		json_object_end(&j);
		json_end(&j);
		ret = shm_flush(cmd, stdout);
	}
	return ret;
}

int cmd_cancel(const struct shm_cmd *cmd, int argc, char **argv)
{
	bool json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct pooter_broker_stat st;
	struct pooter_broker *broker;
	const char *name;
	struct json j;
	int ret;

	if (shm_parse_open(cmd, argc, argv, opts, &name, &broker, &ret))
		return ret;
	ret = pooter_round_cancel(broker);
	if (ret == -ENOENT) {
		shm_error(cmd, name, "no round is open");
		if (json) {
			json_init(&j, stdout);
			json_object_begin(&j, NULL);
			url_json(&j, "name", name);
			json_bool(&j, "cancelled", false);
			json_null(&j, "round");
			json_object_end(&j);
			json_end(&j);
			shm_flush(cmd, stdout);
		}
		ret = SHM_EXIT_NOROUND;
	} else if (ret < 0) {
		ret = shm_fail(cmd, name, ret);
	} else if (!pooter_broker_stat(broker, &st)) {
		/* Nothing can reopen the round: its number is the last one. */
		if (json) {
			json_init(&j, stdout);
			json_object_begin(&j, NULL);
			url_json(&j, "name", name);
			json_bool(&j, "cancelled", true);
			json_uint(&j, "round", st.round);
			json_object_end(&j);
			json_end(&j);
		} else {
			printf("round %llu cancelled\n",
			       (unsigned long long)st.round);
		}
		ret = shm_flush(cmd, stdout);
	}
	pooter_broker_close(broker);
	return ret;
}

/* --- check -------------------------------------------------------------- */

struct check_report {
	const char *name;
	bool json;
	char **problems;
	size_t n, cap;
	size_t dead; /* problems that are members of dead processes */
	bool oom;
};

/*
 * A member whose process died is what a SIGKILL or a crash leaves, the
 * ordinary state after a Ctrl-C of a program that did not leave: gc
 * reclaims it, and the next round opened reaps it.  Not corruption.
 */
static bool problem_is_dead_member(const char *problem)
{
	return strstr(problem, " belongs to dead process ") != NULL;
}

static void check_on_problem(const char *problem, void *arg)
{
	struct check_report *r = arg;
	char **problems;

	problem = shm_detail_trim(problem, r->name);
	if (problem_is_dead_member(problem))
		r->dead++;

	if (!r->json) {
		shm_print_clean(stdout, r->name);
		fputs(": ", stdout);
		shm_print_clean(stdout, problem);
		fputc('\n', stdout);
		r->n++;
		return;
	}
	problems = shm_grow(r->problems, &r->cap, r->n, sizeof(*problems), 8);
	if (!problems)
		goto oom;
	r->problems = problems;
	r->problems[r->n] = strdup(problem);
	if (!r->problems[r->n])
		goto oom;
	r->n++;
	return;
oom:
	r->oom = true;
}

int cmd_check(const struct shm_cmd *cmd, int argc, char **argv)
{
	struct check_report r = { 0 };
	const struct shm_opt opts[] = {
		SHM_OPT_FLAG("json", 'j', &r.json),
		{ .name = NULL },
	};
	size_t i, problems;
	struct json j;
	int ret;

	if (shm_parse_name(cmd, argc, argv, opts, &r.name, &ret))
		return ret;
	ret = url_check(cmd, r.name);
	if (ret)
		return ret;

	ret = pooter_broker_check(r.name, check_on_problem, &r);
	if (ret < 0) {
		ret = shm_fail(cmd, r.name, ret);
		goto out;
	}
	if (r.oom) {
		shm_error(cmd, r.name, "%s", strerror(ENOMEM));
		ret = SHM_EXIT_OSERR;
		goto out;
	}
	/* The library counts the problems; so do we, and they must agree. */
	if ((size_t)ret != r.n)
		shm_error(cmd, r.name,
			  "the library counted %d problems and reported %zu",
			  ret, r.n);
	problems = (size_t)ret > r.n ? (size_t)ret : r.n;
	if (r.json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		url_json(&j, "name", r.name);
		json_bool(&j, "ok", !problems);
		json_bool(&j, "corrupt", problems > r.dead);
		json_uint(&j, "dead_members", r.dead);
		json_array_begin(&j, "problems");
		for (i = 0; i < r.n; i++)
			json_string(&j, NULL, r.problems[i]);
		json_array_end(&j);
		json_object_end(&j);
		json_end(&j);
	} else {
		shm_print_clean(stdout, r.name);
		if (problems == r.dead && problems)
			printf(": %zu member%s of dead processes (gc reclaims "
			       "them), no corruption\n",
			       problems, problems == 1 ? "" : "s");
		else if (problems)
			printf(": %zu problem%s\n", problems,
			       problems == 1 ? "" : "s");
		else
			fputs(": clean\n", stdout);
	}
	ret = shm_flush(cmd, stdout);
	if (!ret && problems > r.dead)
		ret = SHM_EXIT_DATAERR;
	else if (!ret && problems)
		ret = SHM_EXIT_DEADMEMBERS;
out:
	for (i = 0; r.json && i < r.n; i++)
		free(r.problems[i]);
	free(r.problems);
	return ret;
}

/* --- gc ----------------------------------------------------------------- */

static bool snapshot_has(const struct snapshot *s,
			 const struct pooter_member_info *m)
{
	unsigned int i;

	for (i = 0; i < s->nmembers; i++)
		if (s->members[i].kind == m->kind &&
		    s->members[i].slot == m->slot &&
		    s->members[i].pid == m->pid &&
		    !strcmp(s->members[i].name, m->name))
			return true;
	return false;
}

int cmd_gc(const struct shm_cmd *cmd, int argc, char **argv)
{
	struct snapshot before = { 0 }, after = { 0 };
	bool json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct pooter_broker *broker;
	const char *name;
	unsigned int i;
	struct json j;
	int ret, reaped;

	if (shm_parse_open(cmd, argc, argv, opts, &name, &broker, &ret))
		return ret;
	/* Who is dead now, to name those gc takes away. */
	ret = shm_result(cmd, name, snapshot_take(broker, &before));
	if (ret)
		goto out;
	reaped = pooter_broker_gc(broker);
	ret = shm_result(cmd, name, reaped);
	if (ret)
		goto out;
	if (json) {
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		url_json(&j, "name", name);
		json_uint(&j, "count", reaped);
		json_array_begin(&j, "reclaimed");
	}
	if (!snapshot_take(broker, &after)) {
		for (i = 0; i < before.nmembers; i++) {
			const struct pooter_member_info *m = &before.members[i];
			const char *kind = m->kind == POOTER_MEMBER_EMITTER ?
						   "emitter" :
						   "consumer";

			if (m->alive || snapshot_has(&after, m))
				continue;
			if (json) {
				json_object_begin(&j, NULL);
				json_string(&j, "kind", kind);
				json_string(&j, "name", m->name);
				json_uint(&j, "slot", m->slot);
				json_int(&j, "pid", m->pid);
				json_object_end(&j);
				continue;
			}
			printf("reclaimed %s ", kind);
			shm_print_clean(stdout, m->name);
			printf(" (slot %u, pid %d)\n", m->slot, (int)m->pid);
		}
	}
	if (json) {
		json_array_end(&j);
		json_object_end(&j);
		json_end(&j);
	} else {
		printf("%d member%s reclaimed\n", reaped,
		       reaped == 1 ? "" : "s");
	}
	ret = shm_flush(cmd, stdout);
out:
	snapshot_free(&before);
	snapshot_free(&after);
	pooter_broker_close(broker);
	return ret;
}
