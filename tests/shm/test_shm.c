/* SPDX-License-Identifier: MIT */
/*
 * test_shm.c - pooter-shm(1), driven as a user drives it: the real binary,
 * forked and executed, its output read from pipes and its exit status from
 * waitpid.  The library is used only to watch a broker's state (stat) and
 * for members a shell cannot make (an emitter that never emits, a consumer
 * that never consumes), through the shared harness's scripted peers.
 *
 * Nothing waits on sleep(): processes meet on pipes and waitpid, and the
 * test polls the broker's stat, bounded, for the state it needs.  The only
 * sleeps are the random delays that start emitters "at unrelated moments".
 *
 * --json output is checked by a small strict JSON parser below (RFC 8259),
 * so the suite needs nothing but cmocka.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef POOTER_SHM_BIN
#error "POOTER_SHM_BIN: the pooter-shm binary under test"
#endif

#define RUN_MS 60000 /* any pooter-shm command, even under ASan */
#define SHM_PATH "/dev/shm/pooter."

static const char *const commands[] = {
	"ls",	  "show", "watch",   "create", "rm", "set",
	"cancel", "emit", "consume", "check",  "gc",
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const int exit_statuses[] = {
	0, 1, 2, 3, 4, 5, 64, 65, 66, 69, 70, 71, 73, 74, 75, 77,
};

/* --- a strict JSON parser, enough to check pooter-shm's documents -------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype type;
	bool b;
	double num;
	char *str;  /* J_STR: decoded, NUL-terminated */
	size_t len; /* J_STR: bytes; J_ARR, J_OBJ: items */
	struct jv *items;
	char **keys; /* J_OBJ */
};

struct jparser {
	const char *p;
	int depth;
};

static bool jparse_value(struct jparser *jp, struct jv *v);

static void jskip(struct jparser *jp)
{
	while (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' ||
	       *jp->p == '\r')
		jp->p++;
}

static void jv_free(struct jv *v)
{
	size_t i;

	if (v->type == J_ARR || v->type == J_OBJ) {
		for (i = 0; i < v->len; i++) {
			jv_free(&v->items[i]);
			if (v->keys)
				free(v->keys[i]);
		}
		free(v->items);
		free(v->keys);
	}
	free(v->str);
	memset(v, 0, sizeof(*v));
}

static int jhex(const char *p)
{
	int i, v = 0;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static void jput_utf8(char *out, size_t *n, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*n)++] = cp;
	} else if (cp < 0x800) {
		out[(*n)++] = 0xc0 | cp >> 6;
		out[(*n)++] = 0x80 | (cp & 0x3f);
	} else if (cp < 0x10000) {
		out[(*n)++] = 0xe0 | cp >> 12;
		out[(*n)++] = 0x80 | (cp >> 6 & 0x3f);
		out[(*n)++] = 0x80 | (cp & 0x3f);
	} else {
		out[(*n)++] = 0xf0 | cp >> 18;
		out[(*n)++] = 0x80 | (cp >> 12 & 0x3f);
		out[(*n)++] = 0x80 | (cp >> 6 & 0x3f);
		out[(*n)++] = 0x80 | (cp & 0x3f);
	}
}

/* Strict UTF-8 at p: its length, or 0. */
static size_t jutf8(const unsigned char *p)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 1, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 2, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 3, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n + 1;
}

static bool jparse_string(struct jparser *jp, char **out, size_t *lenp)
{
	const char *p = jp->p + 1;
	char *s = malloc(strlen(p) + 1);
	size_t n = 0, k;

	assert_non_null(s);
	for (;;) {
		unsigned char c = *p;

		if (c == '"') {
			break;
		} else if (c < 0x20) {
			goto bad; /* also the end of the text */
		} else if (c == '\\') {
			static const char from[] = "\"\\/bfnrt";
			static const char to[] = "\"\\/\b\f\n\r\t";
			const char *e = p[1] ? strchr(from, p[1]) : NULL;
			int cp, lo;

			if (e) {
				s[n++] = to[e - from];
				p += 2;
				continue;
			}
			if (p[1] != 'u')
				goto bad;
			cp = jhex(p + 2);
			if (cp < 0)
				goto bad;
			p += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				goto bad;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p[0] != '\\' || p[1] != 'u')
					goto bad;
				lo = jhex(p + 2);
				if (lo < 0xdc00 || lo > 0xdfff)
					goto bad;
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			jput_utf8(s, &n, cp);
		} else {
			k = jutf8((const unsigned char *)p);
			if (!k)
				goto bad;
			memcpy(s + n, p, k);
			n += k;
			p += k;
		}
	}
	s[n] = '\0';
	jp->p = p + 1;
	*out = s;
	if (lenp)
		*lenp = n;
	return true;
bad:
	free(s);
	return false;
}

static bool jparse_number(struct jparser *jp, struct jv *v)
{
	const char *p = jp->p, *start = p;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	v->type = J_NUM;
	v->num = strtod(start, NULL);
	jp->p = p;
	return true;
}

static bool jparse_items(struct jparser *jp, struct jv *v, bool object)
{
	char close = object ? '}' : ']';

	v->type = object ? J_OBJ : J_ARR;
	jp->p++;
	jskip(jp);
	if (*jp->p == close) {
		jp->p++;
		return true;
	}
	for (;;) {
		v->items = realloc(v->items, (v->len + 1) * sizeof(*v->items));
		assert_non_null(v->items);
		memset(&v->items[v->len], 0, sizeof(*v->items));
		if (object) {
			v->keys =
				realloc(v->keys, (v->len + 1) * sizeof(char *));
			assert_non_null(v->keys);
			v->keys[v->len] = NULL;
			jskip(jp);
			if (*jp->p != '"' ||
			    !jparse_string(jp, &v->keys[v->len], NULL)) {
				v->len++;
				return false;
			}
			jskip(jp);
			if (*jp->p++ != ':') {
				v->len++;
				return false;
			}
		}
		v->len++;
		if (!jparse_value(jp, &v->items[v->len - 1]))
			return false;
		jskip(jp);
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p != close)
			return false;
		jp->p++;
		return true;
	}
}

static bool jparse_value(struct jparser *jp, struct jv *v)
{
	bool ok;

	jskip(jp);
	if (++jp->depth > 64)
		return false;
	switch (*jp->p) {
	case '{':
		ok = jparse_items(jp, v, true);
		break;
	case '[':
		ok = jparse_items(jp, v, false);
		break;
	case '"':
		v->type = J_STR;
		ok = jparse_string(jp, &v->str, &v->len);
		break;
	case 't':
		ok = !strncmp(jp->p, "true", 4);
		v->type = J_BOOL;
		v->b = true;
		jp->p += ok ? 4 : 0;
		break;
	case 'f':
		ok = !strncmp(jp->p, "false", 5);
		v->type = J_BOOL;
		jp->p += ok ? 5 : 0;
		break;
	case 'n':
		ok = !strncmp(jp->p, "null", 4);
		v->type = J_NULL;
		jp->p += ok ? 4 : 0;
		break;
	default:
		ok = jparse_number(jp, v);
		break;
	}
	jp->depth--;
	return ok;
}

/* Parse one whole document (trailing whitespace allowed); asserts validity. */
static void json_parse(struct jv *v, const char *text)
{
	struct jparser jp = { .p = text };

	memset(v, 0, sizeof(*v));
	if (!jparse_value(&jp, v))
		fail_msg("invalid JSON at offset %zu: %s",
			 (size_t)(jp.p - text), text);
	jskip(&jp);
	if (*jp.p)
		fail_msg("trailing bytes after JSON at offset %zu: %s",
			 (size_t)(jp.p - text), text);
}

/* obj.key, asserting it is there; path components separated by '.'. */
static const struct jv *jget(const struct jv *v, const char *path)
{
	char key[128], *dot;
	size_t i;

	snprintf(key, sizeof(key), "%s", path);
	dot = strchr(key, '.');
	if (dot)
		*dot = '\0';
	if (v->type != J_OBJ)
		fail_msg("JSON: '%s' looked up in a non-object", key);
	for (i = 0; i < v->len; i++)
		if (!strcmp(v->keys[i], key))
			return dot ? jget(&v->items[i],
					  path + (dot - key) + 1) :
				     &v->items[i];
	fail_msg("JSON: no key '%s'", key);
	return NULL;
}

static uint64_t jnum(const struct jv *v, const char *path)
{
	const struct jv *n = jget(v, path);

	if (n->type != J_NUM)
		fail_msg("JSON: %s is not a number", path);
	return (uint64_t)n->num;
}

static const char *jstr(const struct jv *v, const char *path)
{
	const struct jv *s = jget(v, path);

	if (s->type != J_STR)
		fail_msg("JSON: %s is not a string", path);
	return s->str;
}

static bool jbool(const struct jv *v, const char *path)
{
	const struct jv *b = jget(v, path);

	if (b->type != J_BOOL)
		fail_msg("JSON: %s is not a boolean", path);
	return b->b;
}

static const struct jv *jarr(const struct jv *v, const char *path)
{
	const struct jv *a = jget(v, path);

	if (a->type != J_ARR)
		fail_msg("JSON: %s is not an array", path);
	return a;
}

static size_t base64_decode(const char *s, unsigned char *out)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = 0, len = strlen(s), i;

	assert_int_equal(len % 4, 0);
	for (i = 0; i < len; i += 4) {
		uint32_t v = 0;
		int k, pad = 0;

		for (k = 0; k < 4; k++) {
			const char *c = s[i + k] ? strchr(b64, s[i + k]) : NULL;

			v <<= 6;
			if (s[i + k] == '=')
				pad++;
			else if (c && !pad)
				v |= c - b64;
			else
				fail_msg("bad base64: %s", s);
		}
		out[n++] = v >> 16;
		if (pad < 2)
			out[n++] = v >> 8;
		if (pad < 1)
			out[n++] = v;
	}
	return n;
}

/* --- running pooter-shm ------------------------------------------------- */

struct shm_proc {
	pid_t pid;
	int out; /* its stdout */
	int err; /* its stderr */
	int in;	 /* its stdin, or -1 */
};

struct shm_exec {
	char *argv[32];
	int in, out, err;
	unsigned int jitter_us;
};

static int shm_exec_child(void *arg)
{
	struct shm_exec *e = arg;

	if (e->jitter_us) {
		struct timespec ts = { .tv_nsec = e->jitter_us * 1000l };

		/* not a synchronization: a start at an unrelated moment */
		nanosleep(&ts, NULL);
	}
	if (dup2(e->in, STDIN_FILENO) < 0 || dup2(e->out, STDOUT_FILENO) < 0 ||
	    dup2(e->err, STDERR_FILENO) < 0)
		return 126;
	execv(e->argv[0], e->argv);
	return 127;
}

enum { SHM_STDIN = 1 };

#define SHM_ARGS_MAX 30

/* Start pooter-shm with args (NULL-terminated). */
static void shm_startv(struct shm_proc *p, unsigned int flags,
		       unsigned int jitter_us, const char *const *args)
{
	struct shm_exec e = { .jitter_us = jitter_us };
	int out[2], err[2], in[2];
	int n = 0;

	e.argv[n++] = (char *)POOTER_SHM_BIN;
	while (*args && n <= SHM_ARGS_MAX)
		e.argv[n++] = (char *)*args++;
	e.argv[n] = NULL;
	/* O_CLOEXEC: no other child may hold a write end and delay an EOF. */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	if (flags & SHM_STDIN) {
		assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	} else {
		in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		in[1] = -1;
		assert_true(in[0] >= 0);
	}
	e.in = in[0];
	e.out = out[1];
	e.err = err[1];
	p->pid = h_spawn(shm_exec_child, &e);
	close(out[1]);
	close(err[1]);
	close(in[0]);
	p->out = out[0];
	p->err = err[0];
	p->in = in[1];
}

/* Collect variadic arguments, up to the first NULL, after the given ones. */
static void collect_args(const char **args, int n, va_list ap)
{
	const char *arg;

	while ((arg = va_arg(ap, const char *)) && n < SHM_ARGS_MAX)
		args[n++] = arg;
	args[n] = NULL;
}

static void shm_start_(struct shm_proc *p, unsigned int flags,
		       unsigned int jitter_us, ...)
{
	const char *args[SHM_ARGS_MAX + 1];
	va_list ap;

	va_start(ap, jitter_us);
	collect_args(args, 0, ap);
	va_end(ap);
	shm_startv(p, flags, jitter_us, args);
}

/* Start pooter-shm ARGS... in the background. */
#define shm_start(p, ...) shm_start_((p), 0, 0, __VA_ARGS__, (char *)NULL)

struct shm_out {
	int status; /* the exit status */
	char *out;
	char *err;
};

static void shm_out_free(struct shm_out *o)
{
	free(o->out);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/*
 * Read the process's stdout and stderr to their ends and reap it; asserts
 * that it exits (not killed by a signal, not hanging past timeout_ms) and
 * that no sanitizer spoke.
 */
static void shm_finish(struct shm_proc *p, struct shm_out *o, int timeout_ms)
{
	uint64_t end = h_now_ns() + (uint64_t)timeout_ms * H_NS_PER_MS;
	size_t len[2] = { 0, 0 }, cap[2] = { 4096, 4096 };
	char *buf[2] = { malloc(cap[0]), malloc(cap[1]) };
	int fds[2] = { p->out, p->err };
	int status, i, open_fds = 2;

	assert_true(buf[0] && buf[1]);
	if (p->in >= 0)
		close(p->in);
	while (open_fds) {
		struct pollfd pfd[2];
		int n = 0, left;
		uint64_t now = h_now_ns();

		if (now > end)
			break;
		left = (int)((end - now) / H_NS_PER_MS) + 1;
		for (i = 0; i < 2; i++) {
			pfd[i].fd = fds[i];
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, 2, left) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		for (i = 0; i < 2; i++) {
			ssize_t r;

			if (fds[i] < 0 ||
			    !(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (cap[i] - len[i] < 1024) {
				cap[i] *= 2;
				buf[i] = realloc(buf[i], cap[i]);
				assert_non_null(buf[i]);
			}
			r = read(fds[i], buf[i] + len[i], cap[i] - len[i] - 1);
			if (r > 0) {
				len[i] += r;
			} else if (r == 0 || errno != EINTR) {
				close(fds[i]);
				fds[i] = -1;
				open_fds--;
			}
			n++;
		}
	}
	for (i = 0; i < 2; i++)
		buf[i][len[i]] = '\0';
	status = open_fds ? -1 : h_wait(p->pid, timeout_ms);
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (status == -1) {
		h_kill(p->pid);
		fail_msg("pooter-shm hung for %d ms; stdout: %s stderr: %s",
			 timeout_ms, buf[0], buf[1]);
	}
	if (WIFSIGNALED(status))
		fail_msg("pooter-shm killed by signal %d (%s); stderr: %s",
			 WTERMSIG(status), strsignal(WTERMSIG(status)), buf[1]);
	if (strstr(buf[1], "Sanitizer") || strstr(buf[1], "runtime error"))
		fail_msg("pooter-shm: a sanitizer spoke: %s", buf[1]);
	o->status = WEXITSTATUS(status);
	o->out = buf[0];
	o->err = buf[1];
}

static int shm_run_(struct shm_out *o, ...)
{
	const char *args[SHM_ARGS_MAX + 1];
	struct shm_proc p;
	va_list ap;

	va_start(ap, o);
	collect_args(args, 0, ap);
	va_end(ap);
	shm_startv(&p, 0, 0, args);
	shm_finish(&p, o, RUN_MS);
	return o->status;
}

/* Run pooter-shm to its end: its exit status; output in *o. */
#define shm_run(o, ...) shm_run_((o), __VA_ARGS__, (char *)NULL)

#define expect_status(o, code)                                              \
	do {                                                                \
		if ((o)->status != (code))                                  \
			fail_msg("exit status %d, expected %d; stdout: %s " \
				 "stderr: %s",                              \
				 (o)->status, (code), (o)->out, (o)->err);  \
	} while (0)

/* The error contract: one line on stderr, naming the broker. */
static void expect_one_line_error(const struct shm_out *o, const char *broker,
				  const char *reason)
{
	const char *nl = strchr(o->err, '\n');

	if (!nl || nl[1] != '\0')
		fail_msg("expected one line on stderr, got: '%s'", o->err);
	if (broker && !strstr(o->err, broker))
		fail_msg("the error does not name broker %s: %s", broker,
			 o->err);
	if (reason && !strstr(o->err, reason))
		fail_msg("the error does not say '%s': %s", reason, o->err);
}

/* pooter-shm create NAME ARGS..., with a fresh name; asserts success. */
static void create_broker(char name[H_NAME_LEN], ...)
{
	const char *args[SHM_ARGS_MAX + 1] = { "create", name };
	struct shm_proc p;
	struct shm_out o;
	va_list ap;

	h_name(name);
	va_start(ap, name);
	collect_args(args, 2, ap);
	va_end(ap);
	shm_startv(&p, 0, 0, args);
	shm_finish(&p, &o, RUN_MS);
	expect_status(&o, 0);
	shm_out_free(&o);
}

#define create(name, ...) create_broker((name), ##__VA_ARGS__, (char *)NULL)

static struct pooter_broker *open_broker(const char *name)
{
	struct pooter_broker *b = NULL;
	int rc = pooter_broker_open(name, &b);

	if (rc)
		fail_msg("pooter_broker_open(%s): %s %s", name,
			 pooter_strerror(rc), pooter_last_error());
	return b;
}

static int pred_consumers(const struct pooter_broker_stat *st, void *arg)
{
	return st->consumers == *(unsigned int *)arg;
}

static int pred_open_emitted(const struct pooter_broker_stat *st, void *arg)
{
	return st->round_state == POOTER_ROUND_OPEN &&
	       st->round_emitted >= *(unsigned int *)arg;
}

static void wait_consumers(struct pooter_broker *b, unsigned int n)
{
	struct pooter_broker_stat st;

	h_stat_until(b, &st, pred_consumers, &n, H_LONG_MS);
}

/* show --json, parsed. */
static void show_json(const char *name, struct jv *v)
{
	struct shm_out o;

	shm_run(&o, "show", name, "--json");
	expect_status(&o, 0);
	json_parse(v, o.out);
	shm_out_free(&o);
}

static const struct jv *find_member(const struct jv *show, const char *kind,
				    const char *name)
{
	const struct jv *a = jarr(show, kind);
	size_t i;

	for (i = 0; i < a->len; i++)
		if (!strcmp(jstr(&a->items[i], "name"), name))
			return &a->items[i];
	return NULL;
}

/* --- help and the man page ---------------------------------------------- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = malloc(len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void test_help_and_man(void **state)
{
	char want[64], *man;
	struct shm_out o;
	size_t i;

	shm_run(&o, "--help");
	expect_status(&o, 0);
	for (i = 0; i < NCOMMANDS; i++) {
		snprintf(want, sizeof(want), "\n  %s ", commands[i]);
		if (!strstr(o.out, want))
			fail_msg("--help misses '%s'", commands[i]);
	}
	for (i = 0; i < sizeof(exit_statuses) / sizeof(exit_statuses[0]); i++) {
		snprintf(want, sizeof(want), "\n %3d  ", exit_statuses[i]);
		if (!strstr(o.out, want))
			fail_msg("--help misses exit status %d",
				 exit_statuses[i]);
	}
	shm_out_free(&o);

	for (i = 0; i < NCOMMANDS; i++) {
		shm_run(&o, commands[i], "--help");
		expect_status(&o, 0);
		snprintf(want, sizeof(want), "usage: pooter-shm %s",
			 commands[i]);
		if (!strstr(o.out, want))
			fail_msg("%s --help: %s", commands[i], o.out);
		shm_out_free(&o);
	}

	shm_run(&o, "--version");
	expect_status(&o, 0);
	shm_out_free(&o);
	shm_run(&o, "frobnicate");
	expect_status(&o, 64);
	shm_out_free(&o);
	shm_run_(&o, (char *)NULL);
	expect_status(&o, 64);
	shm_out_free(&o);

	man = read_file(POOTER_SHM_MAN);
	for (i = 0; i < NCOMMANDS; i++) {
		snprintf(want, sizeof(want), "\n.SS %s\n", commands[i]);
		if (!strstr(man, want))
			fail_msg("pooter-shm.1 misses a section for '%s'",
				 commands[i]);
	}
	assert_non_null(strstr(man, "\n.SH EXIT STATUS\n"));
	assert_non_null(strstr(man, "\n.SH JSON OUTPUT\n"));
	for (i = 0; i < sizeof(exit_statuses) / sizeof(exit_statuses[0]); i++) {
		snprintf(want, sizeof(want), "\n.TP\n.B %d\n",
			 exit_statuses[i]);
		if (!strstr(man, want))
			fail_msg("pooter-shm.1 misses exit status %d",
				 exit_statuses[i]);
	}
	free(man);
}

/* --- bad input: one line, the broker, the reason, never a crash ---------- */

static void test_bad_input(void **state)
{
	char name[H_NAME_LEN], missing[H_NAME_LEN], big[64];
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct shm_out o;

	h_name(missing);
	shm_run(&o, "show", missing);
	expect_status(&o, 69);
	expect_one_line_error(&o, missing, "no such broker");
	shm_out_free(&o);
	shm_run(&o, "emit", missing, "--data", "x");
	expect_status(&o, 69);
	expect_one_line_error(&o, missing, NULL);
	shm_out_free(&o);

	shm_run(&o, "show", "bad/name");
	expect_status(&o, 64);
	expect_one_line_error(&o, "bad/name", "bad broker name");
	shm_out_free(&o);
	shm_run(&o, "check", ".hidden");
	expect_status(&o, 64);
	expect_one_line_error(&o, ".hidden", NULL);
	shm_out_free(&o);
	shm_run(&o, "show",
		"a123456789012345678901234567890123456789012345678901234567890123");
	expect_status(&o, 64);
	shm_out_free(&o);

	create(name, "--payload", "16", "--timeout", "5000");
	shm_run(&o, "create", name);
	expect_status(&o, 73);
	expect_one_line_error(&o, name, NULL);
	shm_out_free(&o);

	/* 17 bytes on a broker of 16: refused before joining, named. */
	shm_run(&o, "emit", name, "--data", "0123456789abcdefg");
	expect_status(&o, 65);
	expect_one_line_error(&o, name, "limit");
	shm_out_free(&o);
	shm_run(&o, "emit", name, "--as", "bad name!", "--data", "x");
	expect_status(&o, 64);
	expect_one_line_error(&o, "bad name!", "bad emitter name");
	shm_out_free(&o);
	shm_run(&o, "emit", name, "--data", "x", "--file", "/etc/hostname");
	expect_status(&o, 64);
	shm_out_free(&o);
	shm_run(&o, "emit", name, "--file", "/nonexistent/payload");
	expect_status(&o, 66);
	shm_out_free(&o);

	shm_run(&o, "cancel", name);
	expect_status(&o, 5);
	expect_one_line_error(&o, name, "no round is open");
	shm_out_free(&o);
	shm_run(&o, "consume", name, "--timeout", "50");
	expect_status(&o, 1);
	expect_one_line_error(&o, name, NULL);
	shm_out_free(&o);
	shm_run(&o, "consume", name, "--count", "2", "--follow");
	expect_status(&o, 64);
	shm_out_free(&o);

	shm_run(&o, "create", "x", "--emitters", "0");
	expect_status(&o, 64);
	shm_out_free(&o);
	shm_run(&o, "create", "x", "--quorum", "9");
	expect_status(&o, 64);
	shm_out_free(&o);
	shm_run(&o, "create", "x", "--mode", "0999");
	expect_status(&o, 64);
	shm_out_free(&o);
	snprintf(big, sizeof(big), "%u", POOTER_TIMEOUT_MAX_MS + 1);
	shm_run(&o, "set", name, "--timeout", big);
	expect_status(&o, 64);
	shm_out_free(&o);

	shm_run(&o, "set", name, "--timeout", "1234");
	expect_status(&o, 0);
	shm_out_free(&o);
	b = open_broker(name);
	h_stat(b, &st);
	assert_int_equal(st.timeout_ms, 1234);
	assert_int_equal(st.max_payload, 16);
	pooter_broker_close(b);

	shm_run(&o, "rm", name);
	expect_status(&o, 0);
	shm_out_free(&o);
	shm_run(&o, "rm", name);
	expect_status(&o, 69);
	shm_out_free(&o);
}

static void test_create_options(void **state)
{
	char name[H_NAME_LEN], path[128], *nl;
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct shm_out o;
	struct stat sb;

	create(name, "--emitters", "5", "--consumers", "3", "--payload", "100",
	       "--depth", "4", "--timeout", "777", "--quorum", "2", "--mode",
	       "0640");
	b = open_broker(name);
	h_stat(b, &st);
	assert_int_equal(st.max_emitters, 5);
	assert_int_equal(st.max_consumers, 3);
	assert_int_equal(st.max_payload, 100);
	assert_int_equal(st.depth, 4);
	assert_int_equal(st.timeout_ms, 777);
	assert_int_equal(st.quorum, 2);
	pooter_broker_close(b);
	snprintf(path, sizeof(path), SHM_PATH "%s", name);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);

	/* no name: a generated one, printed */
	shm_run(&o, "create");
	expect_status(&o, 0);
	nl = strchr(o.out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	h_remember_broker(o.out);
	b = open_broker(o.out);
	assert_string_equal(pooter_broker_name(b), o.out);
	pooter_broker_close(b);
	snprintf(path, sizeof(path), "%s", o.out);
	shm_out_free(&o);
	shm_run(&o, "rm", path);
	expect_status(&o, 0);
	shm_out_free(&o);
}

/* --- a barrier of independent processes --------------------------------- */

static unsigned int iterations(void)
{
	const char *s = getenv("POOTER_SHM_ITERATIONS");

	return s && atoi(s) > 0 ? (unsigned int)atoi(s) : 100;
}

static void test_quorum_barrier(void **state)
{
	char name[H_NAME_LEN], payload[3][32], as[3][16];
	unsigned int it, n = iterations(), i, one = 1;
	struct pooter_broker *b;
	struct shm_proc emit[3], cons;
	struct shm_out o;
	struct jv v;

	create(name, "--quorum", "3", "--timeout", "20000");
	b = open_broker(name);
	srand(getpid() ^ (unsigned int)h_now_ns());
	for (it = 0; it < n; it++) {
		const struct jv *payloads;
		uint64_t round = 0;
		bool seen[3] = { false, false, false };

		shm_start(&cons, "consume", name, "--json", "--count", "1",
			  "--as", "barrier-consumer");
		wait_consumers(b, one);
		for (i = 0; i < 3; i++) {
			snprintf(payload[i], sizeof(payload[i]), "p%u-it%u", i,
				 it);
			snprintf(as[i], sizeof(as[i]), "e%u", i);
			/* unrelated moments: up to 30 ms apart, any order */
			shm_start_(&emit[i], 0, (unsigned int)rand() % 30000,
				   "emit", name, "--as", as[i], "--data",
				   payload[i], it % 2 ? "--wait-join" : NULL,
				   (char *)NULL);
		}
		for (i = 0; i < 3; i++) {
			unsigned long long r;

			shm_finish(&emit[i], &o, RUN_MS);
			expect_status(&o, 0);
			if (sscanf(o.out, "round %llu resolved", &r) != 1)
				fail_msg("emit said: %s", o.out);
			if (round && r != round)
				fail_msg("emits saw rounds %llu and %llu",
					 (unsigned long long)round, r);
			round = r;
			shm_out_free(&o);
		}
		shm_finish(&cons, &o, RUN_MS);
		expect_status(&o, 0);
		json_parse(&v, o.out);
		assert_int_equal(jnum(&v, "round"), round);
		assert_string_equal(jstr(&v, "outcome"), "resolved");
		assert_string_equal(jstr(&v, "broker"), name);
		payloads = jarr(&v, "payloads");
		assert_int_equal(payloads->len, 3);
		for (i = 0; i < 3; i++) {
			const struct jv *p = &payloads->items[i];
			const char *emitter = jstr(p, "emitter");
			unsigned int k = emitter[1] - '0';

			assert_true(emitter[0] == 'e' && k < 3 && !seen[k]);
			seen[k] = true;
			assert_string_equal(jstr(p, "data"), payload[k]);
			assert_int_equal(jnum(p, "len"), strlen(payload[k]));
		}
		jv_free(&v);
		shm_out_free(&o);
	}
	show_json(name, &v);
	assert_int_equal(jnum(&v, "counters.rounds_resolved"), n);
	assert_int_equal(jnum(&v, "counters.rounds_cancelled"), 0);
	jv_free(&v);
	pooter_broker_close(b);
}

/* --- outcomes: timed out, cancelled, owner dead, ring full --------------- */

static void test_timeout(void **state)
{
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct shm_proc notices;
	struct shm_out o;
	uint64_t t0, elapsed;
	struct jv v;

	/* A quorum of two and one emit: the partner never comes. */
	create(name, "--quorum", "2", "--timeout", "300");
	b = open_broker(name);
	shm_start(&notices, "consume", name, "--notices", "--json", "--as",
		  "watcher");
	wait_consumers(b, 1);
	t0 = h_now_ns();
	shm_run(&o, "emit", name, "--as", "lonely", "--data", "anyone?");
	elapsed = h_now_ns() - t0;
	expect_status(&o, 1);
	assert_non_null(strstr(o.out, "round 1 cancelled"));
	assert_non_null(strstr(o.out, "ETIMEDOUT"));
	if (elapsed < 300 * H_NS_PER_MS)
		fail_msg("timed out after %llu ms, before the deadline",
			 (unsigned long long)(elapsed / H_NS_PER_MS));
	shm_out_free(&o);

	/* a consumer that opted in hears of it: a notice, no payloads */
	shm_finish(&notices, &o, RUN_MS);
	expect_status(&o, 0);
	json_parse(&v, o.out);
	assert_int_equal(jnum(&v, "round"), 1);
	assert_string_equal(jstr(&v, "outcome"), "ETIMEDOUT");
	assert_int_equal(jarr(&v, "payloads")->len, 0);
	jv_free(&v);
	shm_out_free(&o);
	pooter_broker_close(b);

	show_json(name, &v);
	assert_int_equal(jnum(&v, "counters.rounds_opened"), 1);
	assert_int_equal(jnum(&v, "counters.rounds_cancelled"), 1);
	assert_int_equal(jnum(&v, "counters.cancelled_etimedout"), 1);
	assert_int_equal(jnum(&v, "counters.rounds_resolved"), 0);
	assert_string_equal(jstr(&v, "round.state"), "closed");
	assert_string_equal(jstr(&v, "round.outcome"), "ETIMEDOUT");
	jv_free(&v);
}

static void test_cancel_and_death(void **state)
{
	char name[H_NAME_LEN];
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	struct shm_proc emit;
	struct h_peer peer;
	unsigned int one = 1;
	struct shm_out o;
	struct jv v;

	create(name, "--quorum", "2", "--timeout", "30000");
	b = open_broker(name);

	/* cancel: the waiting emit learns ECANCELED */
	shm_start(&emit, "emit", name, "--data", "waiting");
	h_stat_until(b, &st, pred_open_emitted, &one, H_LONG_MS);
	shm_run(&o, "cancel", name);
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, "round 1 cancelled"));
	shm_out_free(&o);
	shm_finish(&emit, &o, RUN_MS);
	expect_status(&o, 2);
	assert_non_null(strstr(o.out, "ECANCELED"));
	shm_out_free(&o);

	/* a participant dies owing its emit: EOWNERDEAD */
	h_peer_start(&peer, name);
	assert_int_equal(h_peer_join_emitter(&peer, "victim", 0), 0);
	shm_start(&emit, "emit", name, "--as", "survivor", "--data", "x");
	h_stat_until(b, &st, pred_open_emitted, &one, H_LONG_MS);
	assert_int_equal(st.round_participants, 2);
	h_kill(peer.pid);
	shm_finish(&emit, &o, RUN_MS);
	expect_status(&o, 3);
	assert_non_null(strstr(o.out, "EOWNERDEAD"));
	shm_out_free(&o);

	show_json(name, &v);
	assert_int_equal(jnum(&v, "counters.cancelled_ecanceled"), 1);
	assert_int_equal(jnum(&v, "counters.cancelled_eownerdead"), 1);
	assert_int_equal(jnum(&v, "counters.rounds_cancelled"), 2);
	jv_free(&v);
	pooter_broker_close(b);
}

static void test_ring_full(void **state)
{
	char name[H_NAME_LEN];
	struct h_peer peer;
	struct shm_out o;

	/* One record, held by a consumer that never consumes. */
	create(name, "--depth", "1", "--timeout", "300");
	h_peer_start(&peer, name);
	assert_int_equal(h_peer_join_consumer(&peer, "hoarder", 0), 0);
	shm_run(&o, "emit", name, "--data", "first");
	expect_status(&o, 0);
	shm_out_free(&o);
	shm_run(&o, "emit", name, "--data", "second");
	expect_status(&o, 4);
	expect_one_line_error(&o, name, "ring full");
	shm_out_free(&o);
	assert_int_equal(h_peer_leave_consumer(&peer), 0);
	h_peer_stop(&peer);
	shm_run(&o, "emit", name, "--data", "third");
	expect_status(&o, 0);
	shm_out_free(&o);
}

/* --- dead members: show tells, gc reclaims ------------------------------ */

static const char *line_with(const char *text, const char *word, char *line,
			     size_t size)
{
	const char *p = strstr(text, word), *start, *end;

	if (!p)
		return NULL;
	for (start = p; start > text && start[-1] != '\n'; start--)
		;
	end = strchrnul(p, '\n');
	snprintf(line, size, "%.*s", (int)(end - start), start);
	return line;
}

static void test_dead_members_gc(void **state)
{
	char name[H_NAME_LEN], line[256];
	struct pooter_broker *b;
	const struct jv *m;
	struct shm_proc cons;
	struct h_peer peer;
	struct shm_out o;
	struct jv v;

	create(name);
	b = open_broker(name);
	h_peer_start(&peer, name);
	assert_int_equal(h_peer_join_emitter(&peer, "doomed-emitter", 0), 0);
	shm_start(&cons, "consume", name, "--follow", "--as",
		  "doomed-consumer");
	wait_consumers(b, 1);
	h_kill(peer.pid);
	h_kill(cons.pid);
	close(cons.out);
	close(cons.err);

	shm_run(&o, "show", name);
	expect_status(&o, 0);
	if (!line_with(o.out, "doomed-emitter", line, sizeof(line)) ||
	    !strstr(line, "dead"))
		fail_msg("show does not tell the emitter is dead: %s", o.out);
	if (!line_with(o.out, "doomed-consumer", line, sizeof(line)) ||
	    !strstr(line, "dead"))
		fail_msg("show does not tell the consumer is dead: %s", o.out);
	shm_out_free(&o);

	show_json(name, &v);
	m = find_member(&v, "emitters", "doomed-emitter");
	assert_non_null(m);
	assert_false(jbool(m, "alive"));
	assert_int_equal(jnum(m, "pid"), peer.pid);
	m = find_member(&v, "consumers", "doomed-consumer");
	assert_non_null(m);
	assert_false(jbool(m, "alive"));
	assert_int_equal(jnum(m, "pid"), cons.pid);
	jv_free(&v);

	shm_run(&o, "gc", name);
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, "2 members reclaimed"));
	assert_non_null(strstr(o.out, "doomed-emitter"));
	assert_non_null(strstr(o.out, "doomed-consumer"));
	shm_out_free(&o);

	show_json(name, &v);
	assert_int_equal(jarr(&v, "emitters")->len, 0);
	assert_int_equal(jarr(&v, "consumers")->len, 0);
	jv_free(&v);
	shm_run(&o, "gc", name);
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, "0 members reclaimed"));
	shm_out_free(&o);
	pooter_broker_close(b);
}

/* --- corrupted segments ------------------------------------------------- */

struct segment {
	char path[128];
	unsigned char *orig;
	size_t size;
};

static void segment_save(struct segment *s, const char *name)
{
	struct stat sb;
	int fd;

	snprintf(s->path, sizeof(s->path), SHM_PATH "%s", name);
	fd = open(s->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	s->size = sb.st_size;
	s->orig = malloc(s->size);
	assert_non_null(s->orig);
	assert_int_equal(pread(fd, s->orig, s->size, 0), (ssize_t)s->size);
	close(fd);
}

static void segment_write(struct segment *s, size_t off, const void *buf,
			  size_t len)
{
	int fd = open(s->path, O_WRONLY);

	assert_true(fd >= 0);
	if (off + len > s->size)
		len = s->size - off;
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void segment_restore(struct segment *s)
{
	segment_write(s, 0, s->orig, s->size);
}

/* check and show on a damaged header: each tells, neither crashes. */
static void expect_damage_reported(const char *name)
{
	struct shm_out o;
	struct jv v;

	shm_run(&o, "check", name);
	expect_status(&o, 65);
	if (!strstr(o.out, name) || !strstr(o.out, "problem"))
		fail_msg("check does not report the problem: %s", o.out);
	shm_out_free(&o);

	shm_run(&o, "check", name, "--json");
	expect_status(&o, 65);
	json_parse(&v, o.out);
	assert_false(jbool(&v, "ok"));
	assert_true(jarr(&v, "problems")->len > 0);
	jv_free(&v);
	shm_out_free(&o);

	shm_run(&o, "show", name);
	expect_status(&o, 65);
	expect_one_line_error(&o, name, NULL);
	assert_string_equal(o.out, "");
	shm_out_free(&o);
	shm_run(&o, "show", name, "--json");
	expect_status(&o, 65);
	expect_one_line_error(&o, name, NULL);
	assert_string_equal(o.out, "");
	shm_out_free(&o);
}

static void test_corrupt_header(void **state)
{
	static const uint32_t bad_version = 0xdeadbeef;
	char name[H_NAME_LEN];
	struct segment seg;
	const struct jv *brokers;
	struct shm_out o;
	struct jv v;
	size_t i;
	bool listed = false;

	create(name, "--emitters", "2", "--consumers", "2", "--payload", "32",
	       "--depth", "2");
	segment_save(&seg, name);

	shm_run(&o, "check", name);
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, "clean"));
	shm_out_free(&o);

	/* the layout version, a uint32 at offset 8 */
	segment_write(&seg, 8, &bad_version, sizeof(bad_version));
	expect_damage_reported(name);

	/* ls lists it, broken, and goes on */
	shm_run(&o, "ls", "--json");
	expect_status(&o, 0);
	json_parse(&v, o.out);
	brokers = jarr(&v, "brokers");
	for (i = 0; i < brokers->len; i++) {
		if (strcmp(jstr(&brokers->items[i], "name"), name))
			continue;
		listed = true;
		assert_false(jbool(&brokers->items[i], "ok"));
		assert_string_equal(jstr(&brokers->items[i], "errno"),
				    "EPROTO");
	}
	assert_true(listed);
	jv_free(&v);
	shm_out_free(&o);
	segment_restore(&seg);

	/* the magic, 8 bytes at offset 0 */
	segment_write(&seg, 0, "NOTPOOTR", 8);
	expect_damage_reported(name);
	segment_restore(&seg);

	shm_run(&o, "check", name);
	expect_status(&o, 0);
	shm_out_free(&o);
	shm_run(&o, "show", name);
	expect_status(&o, 0);
	shm_out_free(&o);
	free(seg.orig);
}

/*
 * Damage everywhere, a probe at a time: whatever the bytes, check and show
 * end with a status (0, or 65 with the problem told; show may also find the
 * segment from another namespace, 69) and never crash, hang or trip a
 * sanitizer.
 */
static void probe(const char *name, struct segment *seg, size_t off,
		  unsigned char fill, unsigned int *found)
{
	unsigned char junk[8];
	struct shm_out o;

	memset(junk, fill, sizeof(junk));
	segment_write(seg, off, junk, sizeof(junk));

	shm_run(&o, "check", name);
	if (o.status != 0 && o.status != 65)
		fail_msg("check after 8 bytes of %#x at %zu: status %d: %s%s",
			 fill, off, o.status, o.out, o.err);
	if (o.status == 65) {
		(*found)++;
		if (!strstr(o.out, name))
			fail_msg("check at %zu: no problem told: %s", off,
				 o.out);
	}
	shm_out_free(&o);

	shm_run(&o, "show", name, "--json");
	if (o.status == 0) {
		struct jv v;

		json_parse(&v, o.out);
		jv_free(&v);
	} else if (o.status == 65 ||
		   (o.status == 69 && strstr(o.err, "namespace"))) {
		/* EPROTO; or EXDEV, when the bytes were the namespace's id */
		expect_one_line_error(&o, name, NULL);
	} else {
		fail_msg("show after 8 bytes of %#x at %zu: status %d: %s",
			 fill, off, o.status, o.err);
	}
	shm_out_free(&o);
	segment_restore(seg);
}

/*
 * Anyone may put a FIFO where a segment would be: check and show refuse it
 * at once.  A read-only open of a FIFO waits for a writer, so a bound of
 * FIFO_MS, not RUN_MS, fails a hang quickly.
 */
#define FIFO_MS 10000

static void test_fifo(void **state)
{
	char name[H_NAME_LEN], path[128];
	struct shm_proc p;
	struct shm_out o;

	h_name(name);
	snprintf(path, sizeof(path), "/dev/shm/pooter.%s", name);
	assert_int_equal(mkfifo(path, 0600), 0);

	shm_start(&p, "check", name);
	shm_finish(&p, &o, FIFO_MS);
	expect_status(&o, 65);
	if (!strstr(o.out, name) || !strstr(o.out, "not a regular file"))
		fail_msg("check does not say it is no regular file: %s%s",
			 o.out, o.err);
	shm_out_free(&o);

	shm_start(&p, "show", name);
	shm_finish(&p, &o, FIFO_MS);
	expect_status(&o, 65);
	expect_one_line_error(&o, name, "not a regular file");
	shm_out_free(&o);
	assert_int_equal(unlink(path), 0);
}

static void test_corrupt_anywhere(void **state)
{
	char name[H_NAME_LEN];
	unsigned int found = 0, probes = 0;
	struct segment seg;
	size_t off, step;

	create(name, "--emitters", "2", "--consumers", "2", "--payload", "32",
	       "--depth", "2");
	segment_save(&seg, name);

	/* the header, closely; the rest, at 64 places; half way, as asked */
	for (off = 0; off < 512 && off < seg.size; off += 8, probes++)
		probe(name, &seg, off, probes % 2 ? 0xff : 0x41, &found);
	step = seg.size > 512 ? (seg.size - 512) / 64 : 0;
	for (off = 512; step && off < seg.size; off += step, probes++)
		probe(name, &seg, off & ~(size_t)7, 0xff, &found);
	probe(name, &seg, seg.size / 2, 0xff, &found);
	probe(name, &seg, seg.size / 2, 0x00, &found);
	probes += 2;
	print_message("[ INFO     ] %u probes over %zu bytes, %u reported by "
		      "check\n",
		      probes, seg.size, found);
	assert_true(found > 0);
	free(seg.orig);
}

/* --- payloads of any bytes, JSON that keeps them ------------------------- */

static void test_payloads_json(void **state)
{
	static const char text[] = "quote \" backslash \\ tab \t nl \n "
				   "ctl \x01 é ✓ 𝄞";
	static const unsigned char binary[] = { 0x00, 0x01, 0xff, 0xfe,
						'"',  0xc3, 0x28, '\n' };
	char name[H_NAME_LEN], file[] = "/tmp/pooter-shm-test-XXXXXX";
	unsigned char decoded[64];
	struct shm_proc cj, ct, e;
	struct pooter_broker *b;
	const struct jv *p;
	struct shm_out o;
	struct jv v[3];
	char *line, *save;
	int fd, i;

	create(name);
	b = open_broker(name);
	shm_start(&cj, "consume", name, "--json", "--count", "3", "--as", "cj");
	shm_start(&ct, "consume", name, "--count", "3", "--as", "ct");
	wait_consumers(b, 2);

	shm_run(&o, "emit", name, "--as", "txt", "--data", text);
	expect_status(&o, 0);
	shm_out_free(&o);

	fd = mkstemp(file);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, binary, sizeof(binary)), sizeof(binary));
	close(fd);
	shm_run(&o, "emit", name, "--as", "bin", "--file", file);
	unlink(file);
	expect_status(&o, 0);
	shm_out_free(&o);

	shm_start_(&e, SHM_STDIN, 0, "emit", name, "--as", "std", "-",
		   (char *)NULL);
	assert_int_equal(write(e.in, "from stdin\n", 11), 11);
	shm_finish(&e, &o, RUN_MS);
	expect_status(&o, 0);
	shm_out_free(&o);

	shm_finish(&cj, &o, RUN_MS);
	expect_status(&o, 0);
	line = strtok_r(o.out, "\n", &save);
	for (i = 0; i < 3; i++) {
		assert_non_null(line);
		json_parse(&v[i], line);
		assert_int_equal(jarr(&v[i], "payloads")->len, 1);
		line = strtok_r(NULL, "\n", &save);
	}
	assert_null(line);
	assert_true(jnum(&v[0], "round") < jnum(&v[1], "round"));
	assert_true(jnum(&v[1], "round") < jnum(&v[2], "round"));

	p = &jarr(&v[0], "payloads")->items[0];
	assert_string_equal(jstr(p, "emitter"), "txt");
	assert_string_equal(jstr(p, "data"), text);
	assert_int_equal(jnum(p, "len"), strlen(text));
	assert_int_equal(base64_decode(jstr(p, "base64"), decoded),
			 strlen(text));
	assert_memory_equal(decoded, text, strlen(text));

	p = &jarr(&v[1], "payloads")->items[0];
	assert_string_equal(jstr(p, "emitter"), "bin");
	assert_int_equal(jget(p, "data")->type, J_NULL);
	assert_int_equal(jnum(p, "len"), sizeof(binary));
	assert_int_equal(base64_decode(jstr(p, "base64"), decoded),
			 sizeof(binary));
	assert_memory_equal(decoded, binary, sizeof(binary));

	p = &jarr(&v[2], "payloads")->items[0];
	assert_string_equal(jstr(p, "emitter"), "std");
	assert_string_equal(jstr(p, "data"), "from stdin\n");
	for (i = 0; i < 3; i++)
		jv_free(&v[i]);
	shm_out_free(&o);

	/* as text: printable as it is, the rest in hex */
	shm_finish(&ct, &o, RUN_MS);
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, "resolved: 1 payload\n"));
	assert_non_null(
		strstr(o.out, "  bin (8 bytes): hex 0001fffe22c3280a\n"));
	assert_non_null(strstr(o.out, "  std (11 bytes): from stdin\n"));
	/* the text payload has a control character: hex too */
	assert_non_null(strstr(o.out, "  txt ("));
	shm_out_free(&o);
	pooter_broker_close(b);
}

/* --- ls, watch ---------------------------------------------------------- */

/*
 * Read fd into buf until what was read holds needle (asserts it comes
 * within H_LONG_MS); buf keeps everything read so far.
 */
static void read_until(int fd, char *buf, size_t size, const char *needle)
{
	uint64_t end = h_now_ns() + (uint64_t)H_LONG_MS * H_NS_PER_MS;
	size_t len = strlen(buf);
	ssize_t n;

	while (!strstr(buf, needle)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = h_now_ns();

		if (now > end || len + 1 >= size)
			fail_msg("'%s' not read; got: %s", needle, buf);
		if (poll(&pfd, 1, (int)((end - now) / H_NS_PER_MS) + 1) <= 0)
			continue;
		n = read(fd, buf + len, size - len - 1);
		if (n <= 0)
			fail_msg("'%s' not read before the end; got: %s",
				 needle, buf);
		len += n;
		buf[len] = '\0';
	}
}

/* Each line, past its timestamp, differs from the one before. */
static void expect_lines_differ(const char *text)
{
	const char *line = text, *prev = NULL, *nl;
	size_t len, prev_len = 0;

	for (; *line; line = nl + 1) {
		const char *body = strchr(line, ' ');

		nl = strchrnul(line, '\n');
		if (!body || body > nl)
			fail_msg("watch line without a timestamp: %s", text);
		len = nl - body;
		if (prev && len == prev_len && !memcmp(body, prev, len))
			fail_msg("watch told the same state twice: %s", text);
		prev = body;
		prev_len = len;
		if (!*nl)
			break;
	}
}

static void test_ls_and_watch(void **state)
{
	char a[H_NAME_LEN], bname[H_NAME_LEN], buf[4096] = "";
	const struct jv *brokers;
	struct shm_proc w;
	struct shm_out o;
	unsigned int seen = 0;
	struct jv v;
	size_t i;

	create(a, "--quorum", "1");
	create(bname);

	shm_run(&o, "ls");
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, a));
	assert_non_null(strstr(o.out, bname));
	shm_out_free(&o);
	shm_run(&o, "ls", "--json");
	expect_status(&o, 0);
	json_parse(&v, o.out);
	brokers = jarr(&v, "brokers");
	for (i = 0; i < brokers->len; i++) {
		const char *n_ = jstr(&brokers->items[i], "name");

		if (strcmp(n_, a) && strcmp(n_, bname))
			continue;
		seen++;
		assert_true(jbool(&brokers->items[i], "ok"));
		assert_string_equal(jstr(&brokers->items[i], "round.state"),
				    "none");
		assert_int_equal(
			jnum(&brokers->items[i], "counters.rounds_opened"), 0);
	}
	assert_int_equal(seen, 2);
	jv_free(&v);
	shm_out_free(&o);

	/* watch, not on a terminal: a line now, a line per change */
	shm_start(&w, "watch", a, "--interval", "10");
	read_until(w.out, buf, sizeof(buf), "no round");
	shm_run(&o, "emit", a, "--data", "tick");
	expect_status(&o, 0);
	shm_out_free(&o);
	read_until(w.out, buf, sizeof(buf), "round 1 resolved");
	assert_int_equal(kill(w.pid, SIGTERM), 0);
	shm_finish(&w, &o, RUN_MS);
	expect_status(&o, 0);
	/* a line per change: no state is told twice in a row */
	expect_lines_differ(buf);
	expect_lines_differ(o.out);
	shm_out_free(&o);

	shm_run(&o, "show", a);
	expect_status(&o, 0);
	assert_non_null(strstr(o.out, "round 1: closed, resolved"));
	shm_out_free(&o);

	shm_run(&o, "rm", a, bname);
	expect_status(&o, 0);
	shm_out_free(&o);
	shm_run(&o, "show", a);
	expect_status(&o, 69);
	shm_out_free(&o);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_help_and_man, h_teardown),
		cmocka_unit_test_teardown(test_bad_input, h_teardown),
		cmocka_unit_test_teardown(test_create_options, h_teardown),
		cmocka_unit_test_teardown(test_quorum_barrier, h_teardown),
		cmocka_unit_test_teardown(test_timeout, h_teardown),
		cmocka_unit_test_teardown(test_cancel_and_death, h_teardown),
		cmocka_unit_test_teardown(test_ring_full, h_teardown),
		cmocka_unit_test_teardown(test_dead_members_gc, h_teardown),
		cmocka_unit_test_teardown(test_corrupt_header, h_teardown),
		cmocka_unit_test_teardown(test_corrupt_anywhere, h_teardown),
		cmocka_unit_test_teardown(test_fifo, h_teardown),
		cmocka_unit_test_teardown(test_payloads_json, h_teardown),
		cmocka_unit_test_teardown(test_ls_and_watch, h_teardown),
	};

	/* A reader gone (a failed test) must not kill the runner. */
	signal(SIGPIPE, SIG_IGN);
	return h_run_tests(tests, argc, argv);
}
