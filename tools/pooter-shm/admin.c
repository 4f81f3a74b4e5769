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

/* For the commands that take NAME and nothing else but --help. */
static int parse_name_only(const struct shm_cmd *cmd, int argc, char **argv,
			   const char **name)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h') {
			shm_usage(cmd, stdout);
			return -1;
		}
		return SHM_EXIT_USAGE;
	}
	if (argc - optind != 1)
		return shm_usage_error(cmd, "expects one broker NAME");
	*name = argv[optind];
	return shm_check_name(cmd, "broker", *name);
}

/* --- create ------------------------------------------------------------- */

static const struct option create_options[] = {
	{ "emitters", required_argument, NULL, 'e' },
	{ "consumers", required_argument, NULL, 'c' },
	{ "payload", required_argument, NULL, 'p' },
	{ "depth", required_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 't' },
	{ "quorum", required_argument, NULL, 'q' },
	{ "mode", required_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_mode(const struct shm_cmd *cmd, const char *arg,
		      unsigned int *mode)
{
	unsigned long v;
	char *end;

	if (arg[0] < '0' || arg[0] > '7')
		goto bad;
	errno = 0;
	v = strtoul(arg, &end, 8);
	if (errno || *end || v > 0777)
		goto bad;
	if (!(v & 0600))
		return shm_usage_error(cmd,
				       "--mode %s: the owner needs read and "
				       "write (0600)",
				       arg);
	*mode = v;
	return SHM_EXIT_OK;
bad:
	return shm_usage_error(cmd,
			       "--mode: '%s' is not an octal mode "
			       "(0..0777)",
			       arg);
}

int cmd_create(const struct shm_cmd *cmd, int argc, char **argv)
{
	POOTER_OPTS(pooter_broker_attr, attr);
	struct pooter_broker *broker;
	const char *name = NULL;
	unsigned int emitters;
	int c, ret = 0;

	while ((c = getopt_long(argc, argv, "e:c:p:d:t:q:m:h", create_options,
				NULL)) != -1) {
		switch (c) {
		case 'e':
			ret = shm_parse_uint(cmd, "--emitters", optarg, 1,
					     POOTER_EMITTERS_MAX,
					     &attr.max_emitters);
			break;
		case 'c':
			ret = shm_parse_uint(cmd, "--consumers", optarg, 1,
					     POOTER_CONSUMERS_MAX,
					     &attr.max_consumers);
			break;
		case 'p':
			ret = shm_parse_uint(cmd, "--payload", optarg, 1,
					     POOTER_PAYLOAD_MAX,
					     &attr.max_payload);
			break;
		case 'd':
			ret = shm_parse_uint(cmd, "--depth", optarg, 1,
					     POOTER_DEPTH_MAX, &attr.depth);
			break;
		case 't':
			ret = shm_parse_uint(cmd, "--timeout", optarg, 1,
					     POOTER_TIMEOUT_MAX_MS,
					     &attr.timeout_ms);
			break;
		case 'q':
			ret = shm_parse_uint(cmd, "--quorum", optarg, 0,
					     POOTER_EMITTERS_MAX, &attr.quorum);
			break;
		case 'm':
			ret = parse_mode(cmd, optarg, &attr.mode);
			break;
		case 'h':
			shm_usage(cmd, stdout);
			return shm_flush(cmd, stdout);
		default:
			return SHM_EXIT_USAGE;
		}
		if (ret)
			return ret;
	}
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

	ret = pooter_broker_create(name, &attr, &broker);
	if (ret < 0)
		return shm_fail(cmd, name, ret);
	/* A generated name is news to the caller; a given one is not. */
	if (!name)
		printf("%s\n", pooter_broker_name(broker));
	pooter_broker_close(broker);
	return shm_flush(cmd, stdout);
}

/* --- rm, set, cancel ---------------------------------------------------- */

int cmd_rm(const struct shm_cmd *cmd, int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, i, ret, status = SHM_EXIT_OK;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (c == 'h') {
			shm_usage(cmd, stdout);
			return shm_flush(cmd, stdout);
		}
		return SHM_EXIT_USAGE;
	}
	if (argc - optind < 1)
		return shm_usage_error(cmd, "expects a broker NAME");
	/* Remove what can be removed; the status tells of the last failure. */
	for (i = optind; i < argc; i++) {
		ret = shm_check_name(cmd, "broker", argv[i]);
		if (!ret) {
			ret = pooter_broker_unlink(argv[i]);
			if (ret < 0)
				ret = shm_fail(cmd, argv[i], ret);
		}
		if (ret)
			status = ret;
	}
	return status;
}

int cmd_set(const struct shm_cmd *cmd, int argc, char **argv)
{
	static const struct option options[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pooter_broker *broker;
	unsigned int timeout_ms = 0;
	bool have_timeout = false;
	const char *name;
	int c, ret;

	while ((c = getopt_long(argc, argv, "t:h", options, NULL)) != -1) {
		switch (c) {
		case 't':
			ret = shm_parse_uint(cmd, "--timeout", optarg, 1,
					     POOTER_TIMEOUT_MAX_MS,
					     &timeout_ms);
			if (ret)
				return ret;
			have_timeout = true;
			break;
		case 'h':
			shm_usage(cmd, stdout);
			return shm_flush(cmd, stdout);
		default:
			return SHM_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return shm_usage_error(cmd, "expects one broker NAME");
	if (!have_timeout)
		return shm_usage_error(cmd,
				       "nothing to set: give --timeout MS");
	name = argv[optind];
	ret = shm_open_broker(cmd, name, &broker);
	if (ret)
		return ret;
	ret = pooter_broker_set_timeout(broker, timeout_ms);
	if (ret < 0)
		ret = shm_fail(cmd, name, ret);
	pooter_broker_close(broker);
	return ret;
}

int cmd_cancel(const struct shm_cmd *cmd, int argc, char **argv)
{
	struct pooter_broker_stat st;
	struct pooter_broker *broker;
	const char *name;
	int ret;

	ret = parse_name_only(cmd, argc, argv, &name);
	if (ret)
		return ret < 0 ? shm_flush(cmd, stdout) : ret;
	ret = shm_open_broker(cmd, name, &broker);
	if (ret)
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
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 8;
		problems = realloc(r->problems, r->cap * sizeof(*problems));
		if (!problems)
			goto oom;
		r->problems = problems;
	}
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
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct check_report r = { 0 };
	size_t i, problems;
	struct json j;
	int c, ret;

	while ((c = getopt_long(argc, argv, "jh", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			r.json = true;
			break;
		case 'h':
			shm_usage(cmd, stdout);
			return shm_flush(cmd, stdout);
		default:
			return SHM_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return shm_usage_error(cmd, "expects one broker NAME");
	r.name = argv[optind];
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

	ret = parse_name_only(cmd, argc, argv, &name);
	if (ret)
		return ret < 0 ? shm_flush(cmd, stdout) : ret;
	ret = shm_open_broker(cmd, name, &broker);
	if (ret)
		return ret;
	/* Who is dead now, to name those gc takes away. */
	ret = snapshot_take(broker, &before);
	if (ret < 0) {
		ret = shm_fail(cmd, name, ret);
		goto out;
	}
	reaped = pooter_broker_gc(broker);
	if (reaped < 0) {
		ret = shm_fail(cmd, name, reaped);
		goto out;
	}
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
