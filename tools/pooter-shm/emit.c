/* SPDX-License-Identifier: MIT */
/*
 * emit.c - pooter-shm emit: join a broker as an emitter, emit once, print
 * the round's outcome, leave.  The exit status tells the outcome apart, so
 * that shell scripts can meet as a barrier on a broker with a quorum.
 *
 * The payload is read and measured against the broker's limit before the
 * join: with a quorum, joining makes the process a participant of the open
 * round, and leaving it owing an emit would cancel the round for everyone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"

/*
 * Read at most POOTER_PAYLOAD_MAX + 1 bytes: enough to know a payload is
 * over any broker's limit without reading an endless stream.
 */
static int read_payload(const struct shm_cmd *cmd, const char *path,
			char **datap, size_t *lenp)
{
	size_t cap = POOTER_PAYLOAD_MAX + 1, len = 0;
	char *data;
	ssize_t n;
	int fd;

	fd = path ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0) {
		shm_error(cmd, NULL, "%s: %s", path, strerror(errno));
		return SHM_EXIT_NOINPUT;
	}
	data = malloc(cap);
	if (!data) {
		shm_error(cmd, NULL, "%s", strerror(ENOMEM));
		if (path)
			close(fd);
		return SHM_EXIT_OSERR;
	}
	while (len < cap) {
		n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			shm_error(cmd, NULL, "%s: %s",
				  path ? path : "standard input",
				  strerror(errno));
			free(data);
			if (path)
				close(fd);
			return SHM_EXIT_NOINPUT;
		}
		if (!n)
			break;
		len += n;
	}
	if (path)
		close(fd);
	*datap = data;
	*lenp = len;
	return SHM_EXIT_OK;
}

/* The outcome, as one JSON document; no round for a full ring. */
static void emit_json(const char *broker, struct pooter_emitter *emitter,
		      const uint64_t *round, int outcome)
{
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	url_json(&j, "broker", broker);
	json_string(&j, "emitter", pooter_emitter_name(emitter));
	if (round)
		json_uint(&j, "round", *round);
	else
		json_null(&j, "round");
	json_string(&j, "outcome", shm_outcome_name(outcome));
	json_object_end(&j);
	json_end(&j);
}

int cmd_emit(const struct shm_cmd *cmd, int argc, char **argv)
{
	const char *name, *as = NULL, *text = NULL, *path = NULL;
	bool wait_join = false, use_stdin = false, json = false;
	const struct shm_opt opts[] = {
		SHM_OPT_STR("as", 'a', &as),
		SHM_OPT_STR("data", 'd', &text),
		SHM_OPT_STR("file", 'f', &path),
		SHM_OPT_FLAG("wait-join", 'w', &wait_join),
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	struct pooter_emitter *emitter;
	struct pooter_broker *broker;
	struct pooter_broker_stat st;
	char *data = NULL;
	size_t len = 0;
	uint64_t round = 0;
	int ret, status, sources;

	if (shm_getopt(cmd, argc, argv, opts, &ret))
		return ret;
	if (argc - optind == 2 && !strcmp(argv[optind + 1], "-"))
		use_stdin = true;
	else if (argc - optind != 1)
		return shm_usage_error(
			cmd, "expects one broker NAME, and '-' "
			     "to read the payload from standard input");
	sources = !!text + !!path + use_stdin;
	if (sources > 1)
		return shm_usage_error(cmd, "give one payload: --data, --file "
					    "or -");
	name = argv[optind];
	ret = url_check(cmd, name);
	if (!ret && as)
		ret = shm_check_name(cmd, "emitter", as);
	if (ret)
		return ret;

	if (path || use_stdin) {
		ret = read_payload(cmd, path, &data, &len);
		if (ret)
			return ret;
	} else if (text) {
		len = strlen(text);
	}

	ret = shm_open_broker(cmd, name, &broker);
	if (ret)
		goto out_free;
	ret = shm_result(cmd, name, pooter_broker_stat(broker, &st));
	if (ret)
		goto out_close;
	if (len > st.max_payload) {
		shm_error(
			cmd, name,
			"payload of %s%zu bytes is over the broker's limit of "
			"%u bytes",
			len > POOTER_PAYLOAD_MAX ? "over " : "",
			len > POOTER_PAYLOAD_MAX ? (size_t)POOTER_PAYLOAD_MAX :
						   len,
			st.max_payload);
		ret = SHM_EXIT_DATAERR;
		goto out_close;
	}

	ret = pooter_emitter_join(broker, as, wait_join ? POOTER_JOIN_WAIT : 0,
				  &emitter);
	if (ret == -EBUSY) {
		shm_error(cmd, name,
			  "a round is open and its participants are fixed "
			  "(--wait-join waits for it to end)");
		ret = SHM_EXIT_TEMPFAIL;
		goto out_close;
	} else if (ret < 0) {
		ret = shm_fail(cmd, name, ret);
		goto out_close;
	}

	ret = pooter_emit(emitter, text ? text : data, len, &round);
	switch (ret) {
	case 0:
	case -ETIMEDOUT:
	case -ECANCELED:
	case -EOWNERDEAD:
		if (json) {
			emit_json(name, emitter, &round, ret);
		} else {
			printf("round %llu ", (unsigned long long)round);
			shm_print_outcome(stdout, ret);
			putchar('\n');
		}
		/* A cancelled round's status beats a failed print. */
		status = shm_flush(cmd, stdout);
		ret = ret ? shm_exit_status(ret) : status;
		break;
	case -EAGAIN:
		shm_error(cmd, name,
			  "ring full: consumers held every record for a whole "
			  "timeout; no round opened");
		if (json) {
			emit_json(name, emitter, NULL, ret);
			shm_flush(cmd, stdout);
		}
		ret = SHM_EXIT_RINGFULL;
		break;
	case -EMSGSIZE:
		ret = shm_fail(cmd, name, ret);
		break;
	default:
		if (ret < 0) {
			ret = shm_fail(cmd, name, ret);
			break;
		}
		shm_error(cmd, name, "pooter_emit() returned %d", ret);
		ret = SHM_EXIT_SOFTWARE;
		break;
	}
	pooter_emitter_leave(emitter);
out_close:
	pooter_broker_close(broker);
out_free:
	free(data);
	return ret;
}
