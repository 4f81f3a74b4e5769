/* SPDX-License-Identifier: MIT */
/*
 * admin.c - the operator's commands: create, rm, set, cancel, check, gc.
 * Each is one call of the library, with its arguments checked first and
 * its failure told on one line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

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
	if (!(v & 0600))
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
		{ .name = NULL },
	};
	struct pooter_broker *broker;
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
		ret = shm_check_name(cmd, "broker", name);
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

	ret = shm_result(cmd, name, pooter_broker_create(name, &attr, &broker));
	if (ret)
		return ret;
	/* A generated name is news to the caller; a given one is not. */
	if (!name)
		printf("%s\n", pooter_broker_name(broker));
	pooter_broker_close(broker);
	return shm_flush(cmd, stdout);
}

/* --- rm, set, cancel ---------------------------------------------------- */

int cmd_rm(const struct shm_cmd *cmd, int argc, char **argv)
{
	int i, ret, status = SHM_EXIT_OK;

	if (shm_getopt(cmd, argc, argv, NULL, &ret))
		return ret;
	if (argc - optind < 1)
		return shm_usage_error(cmd, "expects a broker NAME");
	/* Remove what can be removed; the status tells of the last failure. */
	for (i = optind; i < argc; i++) {
		ret = shm_check_name(cmd, "broker", argv[i]);
		if (!ret)
			ret = shm_result(cmd, argv[i],
					 pooter_broker_unlink(argv[i]));
		if (ret)
			status = ret;
	}
	return status;
}

int cmd_set(const struct shm_cmd *cmd, int argc, char **argv)
{
	unsigned int timeout_ms = 0;
	bool have_timeout = false;
	const struct shm_opt opts[] = {
		SHM_OPT_UINT("timeout", 't', &timeout_ms, 1,
			     POOTER_TIMEOUT_MAX_MS, &have_timeout),
		{ .name = NULL },
	};
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
	return ret;
}

int cmd_cancel(const struct shm_cmd *cmd, int argc, char **argv)
{
	struct pooter_broker_stat st;
	struct pooter_broker *broker;
	const char *name;
	int ret;

	if (shm_parse_open(cmd, argc, argv, NULL, &name, &broker, &ret))
		return ret;
	ret = pooter_round_cancel(broker);
	if (ret == -ENOENT) {
		shm_error(cmd, name, "no round is open");
		ret = SHM_EXIT_NOROUND;
	} else if (ret < 0) {
		ret = shm_fail(cmd, name, ret);
	} else {
		/* Nothing can reopen the round: its number is the last one. */
		if (!pooter_broker_stat(broker, &st))
			printf("round %llu cancelled\n",
			       (unsigned long long)st.round);
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
	bool oom;
};

static void check_on_problem(const char *problem, void *arg)
{
	struct check_report *r = arg;
	char **problems;

	problem = shm_detail_trim(problem, r->name);

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
	ret = shm_check_name(cmd, "broker", r.name);
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
		json_string(&j, "name", r.name);
		json_bool(&j, "ok", !problems);
		json_array_begin(&j, "problems");
		for (i = 0; i < r.n; i++)
			json_string(&j, NULL, r.problems[i]);
		json_array_end(&j);
		json_object_end(&j);
		json_end(&j);
	} else {
		shm_print_clean(stdout, r.name);
		if (problems)
			printf(": %zu problem%s\n", problems,
			       problems == 1 ? "" : "s");
		else
			fputs(": clean\n", stdout);
	}
	ret = shm_flush(cmd, stdout);
	if (!ret && problems)
		ret = SHM_EXIT_DATAERR;
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
	struct pooter_broker *broker;
	const char *name;
	unsigned int i;
	int ret, reaped;

	if (shm_parse_open(cmd, argc, argv, NULL, &name, &broker, &ret))
		return ret;
	/* Who is dead now, to name those gc takes away. */
	ret = shm_result(cmd, name, snapshot_take(broker, &before));
	if (ret)
		goto out;
	reaped = pooter_broker_gc(broker);
	ret = shm_result(cmd, name, reaped);
	if (ret)
		goto out;
	if (!snapshot_take(broker, &after)) {
		for (i = 0; i < before.nmembers; i++) {
			const struct pooter_member_info *m = &before.members[i];

			if (m->alive || snapshot_has(&after, m))
				continue;
			printf("reclaimed %s ",
			       m->kind == POOTER_MEMBER_EMITTER ? "emitter" :
								  "consumer");
			shm_print_clean(stdout, m->name);
			printf(" (slot %u, pid %d)\n", m->slot, (int)m->pid);
		}
	}
	printf("%d member%s reclaimed\n", reaped, reaped == 1 ? "" : "s");
	ret = shm_flush(cmd, stdout);
out:
	snapshot_free(&before);
	snapshot_free(&after);
	pooter_broker_close(broker);
	return ret;
}
