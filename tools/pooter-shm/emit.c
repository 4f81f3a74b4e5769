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
#include <getopt.h>
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

static const struct option emit_options[] = {
	{ "as", required_argument, NULL, 'a' },
	{ "data", required_argument, NULL, 'd' },
	{ "file", required_argument, NULL, 'f' },
	{ "wait-join", no_argument, NULL, 'w' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_emit(const struct shm_cmd *cmd, int argc, char **argv)
{
	const char *name, *as = NULL, *text = NULL, *path = NULL;
	struct pooter_emitter *emitter;
	struct pooter_broker *broker;
	struct pooter_broker_stat st;
	unsigned int flags = 0;
	bool use_stdin = false;
	char *data = NULL;
	size_t len = 0;
	uint64_t round = 0;
	int c, ret, sources;

	while ((c = getopt_long(argc, argv, "a:d:f:wh", emit_options, NULL)) !=
	       -1) {
		switch (c) {
		case 'a':
			as = optarg;
			break;
		case 'd':
			text = optarg;
			break;
		case 'f':
			path = optarg;
			break;
		case 'w':
			flags |= POOTER_JOIN_WAIT;
			break;
		case 'h':
			shm_usage(cmd, stdout);
			return shm_flush(cmd, stdout);
		default:
			return SHM_EXIT_USAGE;
		}
	}
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
	ret = shm_check_name(cmd, "broker", name);
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
	ret = pooter_broker_stat(broker, &st);
	if (ret < 0) {
		ret = shm_fail(cmd, name, ret);
		goto out_close;
	}
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

	ret = pooter_emitter_join(broker, as, flags, &emitter);
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
		printf("round %llu resolved\n", (unsigned long long)round);
		ret = shm_flush(cmd, stdout);
		break;
	case -ETIMEDOUT:
	case -ECANCELED:
	case -EOWNERDEAD:
		printf("round %llu cancelled: %s (%s)\n",
		       (unsigned long long)round, pooter_strerror(ret),
		       shm_errno_name(ret));
		/* The outcome's status wins over a failure to print it. */
		shm_flush(cmd, stdout);
		ret = shm_exit_status(ret);
		break;
	case -EAGAIN:
		shm_error(cmd, name,
			  "ring full: consumers held every record for a whole "
			  "timeout; no round opened");
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
