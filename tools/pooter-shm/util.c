/* SPDX-License-Identifier: MIT */
/*
 * util.c - pooter-shm's common ground: errors and the exit statuses they
 * map to, names and numbers from the command line, and the text helpers
 * that keep untrusted bytes (payloads, names read from a segment) from
 * reaching a terminal raw.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm.h"

int shm_exit_status(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return SHM_EXIT_OK;
	case ETIMEDOUT:
		return SHM_EXIT_TIMEDOUT;
	case ECANCELED:
		return SHM_EXIT_CANCELED;
	case EOWNERDEAD:
		return SHM_EXIT_OWNERDEAD;
	case EAGAIN:
		return SHM_EXIT_RINGFULL;
	case EINVAL:
	case ENAMETOOLONG:
		return SHM_EXIT_USAGE;
	case EPROTO:
	case EMSGSIZE:
		return SHM_EXIT_DATAERR;
	case ENOENT:
	case EXDEV:
	case EPROTONOSUPPORT: /* a URL whose backend is not installed */
		return SHM_EXIT_UNAVAILABLE;
	case EEXIST:
		return SHM_EXIT_CANTCREAT;
	case EBUSY:
	case ENOSPC:
	case EHOSTUNREACH: /* no server of the ensemble answered */
		return SHM_EXIT_TEMPFAIL;
	case EACCES:
	case EPERM:
		return SHM_EXIT_NOPERM;
	default:
		return SHM_EXIT_OSERR;
	}
}

/* Names of the codes a user meets, for JSON; stable, part of the format. */
const char *shm_errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ ETIMEDOUT, "ETIMEDOUT" },
		{ ECANCELED, "ECANCELED" },
		{ EOWNERDEAD, "EOWNERDEAD" },
		{ EAGAIN, "EAGAIN" },
		{ EINVAL, "EINVAL" },
		{ ENAMETOOLONG, "ENAMETOOLONG" },
		{ EPROTO, "EPROTO" },
		{ EMSGSIZE, "EMSGSIZE" },
		{ ENOENT, "ENOENT" },
		{ EXDEV, "EXDEV" },
		{ EEXIST, "EEXIST" },
		{ EBUSY, "EBUSY" },
		{ ENOSPC, "ENOSPC" },
		{ EACCES, "EACCES" },
		{ EPERM, "EPERM" },
		{ ENOMEM, "ENOMEM" },
		{ ENOBUFS, "ENOBUFS" },
		{ EOPNOTSUPP, "EOPNOTSUPP" },
		{ EIO, "EIO" },
		{ EIDRM, "EIDRM" },
		{ EALREADY, "EALREADY" },
		{ EPROTONOSUPPORT, "EPROTONOSUPPORT" },
		{ EHOSTUNREACH, "EHOSTUNREACH" },
	};
	size_t i;

	if (err < 0)
		err = -err;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	return "EUNKNOWN";
}

const char *shm_outcome_name(int outcome)
{
	return outcome ? shm_errno_name(outcome) : "resolved";
}

/* A round's outcome as every text output words it. */
void shm_print_outcome(FILE *out, int outcome)
{
	if (outcome)
		fprintf(out, "cancelled: %s (%s)", pooter_strerror(outcome),
			shm_errno_name(outcome));
	else
		fputs("resolved", out);
}

/* Print s with every control or non-ASCII byte shown as \xHH. */
void shm_print_clean(FILE *out, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
}

/* What every error line starts with: who says it, and about which broker. */
void shm_error_prefix(const struct shm_cmd *cmd, const char *broker)
{
	fprintf(stderr, "%s: %s: ", SHM_PROG, cmd->name);
	if (broker) {
		fputs("broker ", stderr);
		shm_print_clean(stderr, broker);
		fputs(": ", stderr);
	}
}

void shm_error(const struct shm_cmd *cmd, const char *broker, const char *fmt,
	       ...)
{
	va_list ap;

	shm_error_prefix(cmd, broker);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* detail past "WHO: ", or NULL when it does not begin so */
static const char *detail_trim_one(const char *detail, const char *who)
{
	size_t len = strlen(who);

	if (strncmp(detail, who, len) || strncmp(detail + len, ": ", 2))
		return NULL;
	return detail + len + 2;
}

/*
 * The library's details and problems often begin with "broker NAME: ", which
 * our own line has said already: NAME as the command line gave it, or the
 * name within it ("shm:NAME", a URL).  A backend's may begin with the URL
 * alone ("zk://HOSTS/PATH/NAME: ").
 */
const char *shm_detail_trim(const char *detail, const char *broker)
{
	const char *rest = NULL, *name;

	if (!broker)
		return detail;
	name = url_name(broker);
	if (!strncmp(detail, "broker ", 7)) {
		rest = detail_trim_one(detail + 7, broker);
		if (!rest && name && name != broker)
			rest = detail_trim_one(detail + 7, name);
	} else if (!url_is_shm(broker)) {
		rest = detail_trim_one(detail, broker);
	}
	return rest ? rest : detail;
}

/*
 * Report a failure of the library on one line: the broker, the code's text,
 * and pooter_last_error()'s detail when it adds any.  Call it right after
 * the failing call, before another call replaces the detail.
 */
int shm_fail(const struct shm_cmd *cmd, const char *broker, int err)
{
	const char *detail = shm_detail_trim(pooter_last_error(), broker);
	const char *reason = pooter_strerror(err);

	/* "No such broker, or no round open": here it is the broker. */
	if (err == -ENOENT) {
		reason = "no such broker";
		if (!strcmp(detail, strerror(ENOENT)))
			detail = "";
	}
	shm_error_prefix(cmd, broker);
	shm_print_clean(stderr, reason ? reason : "unknown error");
	if (detail && detail[0] && (!reason || strcmp(detail, reason))) {
		fputs(": ", stderr);
		shm_print_clean(stderr, detail);
	}
	fputc('\n', stderr);
	return shm_exit_status(err);
}

/*
 * A library call's return as an exit status: 0 for any success, whatever
 * the value; a failure told by shm_fail(), so this too must come right
 * after the call.
 */
int shm_result(const struct shm_cmd *cmd, const char *broker, int ret)
{
	return ret < 0 ? shm_fail(cmd, broker, ret) : SHM_EXIT_OK;
}

/*
 * The rules of pooter.h, checked here too so that a bad name gets a message
 * that says what is wrong with it rather than a bare EINVAL.
 */
int shm_check_name(const struct shm_cmd *cmd, const char *what,
		   const char *name)
{
	size_t len = strlen(name), i;

	if (!len) {
		shm_error(cmd, NULL, "%s name is empty", what);
		return SHM_EXIT_USAGE;
	}
	if (len > POOTER_NAME_MAX) {
		shm_error(cmd, NULL,
			  "%s name is %zu bytes, over the limit of %d", what,
			  len, POOTER_NAME_MAX);
		return SHM_EXIT_USAGE;
	}
	if (name[0] == '.')
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			goto bad;
	}
	return SHM_EXIT_OK;
bad:
	shm_error_prefix(cmd, NULL);
	fprintf(stderr, "bad %s name '", what);
	shm_print_clean(stderr, name);
	fprintf(stderr,
		"': names are 1..%d bytes of [A-Za-z0-9._-], not starting "
		"with '.'\n",
		POOTER_NAME_MAX);
	return SHM_EXIT_USAGE;
}

/*
 * A number in base, and nothing else: strtoul() alone takes "-1" and " 7".
 * A first digit that the base does not know is left to strtoul() to refuse.
 */
bool shm_parse_ulong(const char *arg, int base, unsigned long *v)
{
	char *end;

	if (arg[0] < '0' || arg[0] > '9')
		return false;
	errno = 0;
	*v = strtoul(arg, &end, base);
	return !errno && !*end;
}

static int shm_parse_uint(const struct shm_cmd *cmd, const struct shm_opt *o,
			  const char *arg)
{
	unsigned long v;

	if (!shm_parse_ulong(arg, 10, &v))
		return shm_usage_error(cmd, "--%s: '%s' is not a number",
				       o->name, arg);
	if (v < o->min || v > o->max)
		return shm_usage_error(cmd, "--%s %s: out of range %lu..%lu",
				       o->name, arg, o->min, o->max);
	*o->uint = v;
	return SHM_EXIT_OK;
}

/*
 * The most options a command has in its table (create's 8 are the most
 * yet); every command has url_longopts and --help too.
 */
#define SHM_OPTS_MAX 15

/*
 * getopt_long() over a command's table, with the short options spelled
 * from the same table so that the two cannot disagree.  What the table
 * says to do with an option is done here, and so are the URL options
 * (url.c; $POOTER_ZK_AUTH is read after the last option), --help (the
 * usage on standard output ends the command) and a bad option
 * (getopt_long() has said what is wrong with it).  Returns the next option the caller handles
 * itself, with optarg; 0 after the last option; -1 when the command ends
 * here with the exit status in *status.
 */
int shm_getopt(const struct shm_cmd *cmd, int argc, char **argv,
	       const struct shm_opt *opts, int *status)
{
	static const struct shm_opt no_opts[] = { { .name = NULL } };
	struct option longopts[SHM_OPTS_MAX + URL_NOPTS + 2];
	char optstring[2 * SHM_OPTS_MAX + 2], *p = optstring;
	const struct shm_opt *o;
	size_t n;
	int c;

	if (!opts)
		opts = no_opts;
	for (n = 0; n < SHM_OPTS_MAX && opts[n].name; n++) {
		longopts[n] = (struct option){ opts[n].name, opts[n].has_arg,
					       NULL, opts[n].val };
		*p++ = opts[n].val;
		if (opts[n].has_arg == required_argument)
			*p++ = ':';
	}
	memcpy(longopts + n, url_longopts, URL_NOPTS * sizeof(*longopts));
	n += URL_NOPTS;
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	*p++ = 'h';
	*p = '\0';

	*status = SHM_EXIT_OK;
	while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		if (c == 'h') {
			shm_usage(cmd, stdout);
			*status = shm_flush(cmd, stdout);
			return -1;
		}
		if (c >= URL_OPT_SESSION_TIMEOUT) {
			*status = url_option(cmd, c, optarg);
			if (*status)
				return -1;
			continue;
		}
		for (o = opts; o->name && o->val != c; o++)
			;
		if (!o->name) {
			*status = SHM_EXIT_USAGE;
			return -1;
		}
		if (o->uint) {
			*status = shm_parse_uint(cmd, o, optarg);
			if (*status)
				return -1;
		} else if (o->arg) {
			*o->arg = optarg;
		} else if (!o->flag) {
			return c;
		}
		if (o->flag)
			*o->flag = true;
	}
	*status = url_env(cmd);
	return *status ? -1 : 0;
}

/*
 * The command line of the commands that take options (all of them done by
 * shm_getopt()) and one broker NAME, not yet checked.  Returns 0 with
 * *name, or -1 when the command ends here with *status.
 */
int shm_parse_name(const struct shm_cmd *cmd, int argc, char **argv,
		   const struct shm_opt *opts, const char **name, int *status)
{
	if (shm_getopt(cmd, argc, argv, opts, status))
		return -1;
	if (argc - optind != 1) {
		*status = shm_usage_error(cmd, "expects one broker NAME");
		return -1;
	}
	*name = argv[optind];
	return 0;
}

/* Open the broker NAME or URL, checked first, or say why not. */
int shm_open_broker(const struct shm_cmd *cmd, const char *name,
		    struct pooter_broker **brokerp)
{
	int ret = url_check(cmd, name);

	if (ret)
		return ret;
	ret = url_open(name, brokerp);
	if (ret < 0)
		return shm_fail(cmd, name, ret);
	return SHM_EXIT_OK;
}

/*
 * The command line of a command that looks at one broker (options, NAME),
 * and the broker opened.  Returns 0 with *name and *brokerp, or -1 when
 * the command ends here with *status.
 */
int shm_parse_open(const struct shm_cmd *cmd, int argc, char **argv,
		   const struct shm_opt *opts, const char **name,
		   struct pooter_broker **brokerp, int *status)
{
	if (shm_parse_name(cmd, argc, argv, opts, name, status))
		return -1;
	*status = shm_open_broker(cmd, *name, brokerp);
	return *status ? -1 : 0;
}

/* Output that did not reach its reader is a failure (EPIPE, ENOSPC, ...). */
int shm_flush(const struct shm_cmd *cmd, FILE *out)
{
	if (fflush(out) || ferror(out)) {
		if (errno != EPIPE)
			shm_error(cmd, NULL, "writing the output: %s",
				  strerror(errno));
		return SHM_EXIT_IOERR;
	}
	return SHM_EXIT_OK;
}

volatile sig_atomic_t shm_stop;

static void shm_on_signal(int sig)
{
	shm_stop = sig;
}

/*
 * For the commands that run until told to stop (consume leaves, watch
 * closes): SIGINT, SIGTERM and SIGHUP set shm_stop to their number.  No SA_RESTART, so
 * that a wait or a sleep ends and the loop that checks shm_stop sees the
 * signal, not the library.  A reader that went away is an output error
 * (EPIPE, from shm_flush()), not a death.
 */
void shm_catch_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = shm_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Room for element n of an array that doubles as it fills, first elements
 * to start with: the array, perhaps moved, or NULL when memory ran out (the
 * old array and *cap are then as they were, and the caller still owns it).
 */
void *shm_grow(void *array, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t new_cap;
	void *p;

	if (n < *cap)
		return array;
	new_cap = *cap ? 2 * *cap : first;
	p = realloc(array, new_cap * size);
	if (p)
		*cap = new_cap;
	return p;
}

uint64_t shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * The length of the strict UTF-8 (RFC 3629) sequence at p, or 0 when there
 * is none: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
size_t shm_utf8_seq(const unsigned char *p, size_t avail)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 1;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 2;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 3;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (avail <= n)
		return 0;
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n + 1;
}

/* Whatever passes can go into a JSON string as it is (escaped). */
bool shm_utf8_valid(const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	size_t n;

	for (; p < end; p += n) {
		n = shm_utf8_seq(p, end - p);
		if (!n)
			return false;
	}
	return true;
}

/*
 * Text a terminal can show as it is: UTF-8 without control characters (C0
 * but tabs, DEL, C1), and at most a final newline (as `echo hi | pooter-shm emit` sends).
 */
bool shm_text_printable(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	if (len && p[len - 1] == '\n')
		len--;
	for (i = 0; i < len; i++) {
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return false;
		/* C1 controls, U+0080..U+009F: a terminal obeys them too */
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] < 0xa0)
			return false;
	}
	return shm_utf8_valid(data, len);
}

void shm_print_hex(FILE *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++)
		fprintf(out, "%02x", p[i]);
}
