// SPDX-License-Identifier: MIT
/*
 * zk_common.c - the ensemble, URLs, scripted URL peers and ensemble.sh for
 * the ZooKeeper backend's suites (zk_common.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "zk_common.h"

#define ZK_MAX_URLS 512
#define ZK_MAX_HANDLES 256

struct pooter_url_opts zk_opts = {
	.sz = sizeof(struct pooter_url_opts),
	.session_timeout_ms = ZK_SESSION_MS,
};

static char zk_urls[ZK_MAX_URLS][ZK_URL_MAX];
static unsigned int zk_nurls;
static struct pooter_broker *zk_handles[ZK_MAX_HANDLES];
static unsigned int zk_nhandles;
static unsigned int zk_counter;
static pid_t zk_owner; /* the runner: children remember nothing */

/* --- the ensemble's presence -------------------------------------------- */

static char zk_hosts_buf[1024];

static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)len,
			 len ? path : ".", prog);
		if (access(buf, X_OK) == 0)
			return 1;
		if (!end)
			break;
		path = end + 1;
	}
	return 0;
}

int zk_available(void)
{
	static int known = -1;
	const char *java = getenv("ZK_JAVA");
	const char *hosts = getenv("POOTER_ZK_HOSTS");
	const char *dir = getenv("POOTER_ZK_DIR");
	struct stat sb;

	if (known >= 0)
		return known;
	known = 0;
	if (!java || !*java)
		java = "java";
	if (!in_path(java)) {
		print_message("[  SKIP    ] zk: no '%s' in PATH: the ZooKeeper "
			      "servers need a Java runtime (Debian: apt-get "
			      "install default-jre-headless)\n",
			      java);
		return 0;
	}
	if (stat("/usr/share/zookeeper", &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		print_message("[  SKIP    ] zk: no /usr/share/zookeeper: the "
			      "ZooKeeper server is not installed (Debian: "
			      "apt-get install zookeeper)\n");
		return 0;
	}
	if (hosts && *hosts) {
		snprintf(zk_hosts_buf, sizeof(zk_hosts_buf), "%s", hosts);
	} else if (dir && *dir) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/hosts", dir);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(zk_hosts_buf, sizeof(zk_hosts_buf), f))
				zk_hosts_buf[0] = '\0';
			fclose(f);
		}
		zk_hosts_buf[strcspn(zk_hosts_buf, "\r\n")] = '\0';
	}
	if (!zk_hosts_buf[0]) {
		print_message(
			"[  SKIP    ] zk: no ensemble: POOTER_ZK_HOSTS is "
			"not set and no $POOTER_ZK_DIR/hosts (run the "
			"suite through ctest, whose fixture zk-ensemble "
			"starts one, or start one with "
			"tests/zk/ensemble.sh start DIR)\n");
		return 0;
	}
	known = 1;
	return 1;
}

const char *zk_hosts(void)
{
	return zk_available() ? zk_hosts_buf : "";
}

/* --- URLs and handles ---------------------------------------------------- */

void zk_remember_url(const char *url)
{
	if (!zk_owner)
		zk_owner = getpid();
	if (getpid() != zk_owner || zk_nurls == ZK_MAX_URLS)
		return;
	snprintf(zk_urls[zk_nurls++], ZK_URL_MAX, "%s", url);
}

void zk_url(char url[ZK_URL_MAX], const char *tag)
{
	snprintf(url, ZK_URL_MAX, "zk://%s/pooter-test/%.24s-%d-%u", zk_hosts(),
		 tag, (int)getpid(), ++zk_counter);
	/* a stale one from an earlier run with the same pid */
	pooter_broker_unlink_url(url, &zk_opts);
	zk_remember_url(url);
}

static void zk_track(struct pooter_broker *b)
{
	if (!zk_owner)
		zk_owner = getpid();
	if (getpid() == zk_owner && zk_nhandles < ZK_MAX_HANDLES)
		zk_handles[zk_nhandles++] = b;
}

struct pooter_broker *zk_create(char url[ZK_URL_MAX], const char *tag,
				const struct pooter_broker_attr *attr)
{
	struct pooter_broker *b = NULL;
	int rc;

	zk_url(url, tag);
	rc = pooter_broker_create_url(url, attr, &zk_opts, &b);
	if (rc != 0)
		fail_msg("pooter_broker_create_url(%s): %d (%s); last_error: "
			 "\"%s\"",
			 url, rc, pooter_strerror(rc), pooter_last_error());
	assert_non_null(b);
	zk_track(b);
	return b;
}

struct pooter_broker *zk_open(const char *url)
{
	struct pooter_broker *b = NULL;
	int rc = pooter_broker_open_url(url, &zk_opts, &b);

	if (rc != 0)
		fail_msg("pooter_broker_open_url(%s): %d (%s); last_error: "
			 "\"%s\"",
			 url, rc, pooter_strerror(rc), pooter_last_error());
	assert_non_null(b);
	zk_track(b);
	return b;
}

void zk_close(struct pooter_broker *b)
{
	for (unsigned int i = 0; i < zk_nhandles; i++) {
		if (zk_handles[i] == b) {
			zk_handles[i] = zk_handles[--zk_nhandles];
			break;
		}
	}
	pooter_broker_close(b);
}

void zk_stat_at(struct pooter_broker *b, struct pooter_broker_stat *st,
		const char *file, int line)
{
	int rc;

	memset(st, 0, sizeof(*st));
	rc = pooter_broker_stat(b, st);
	if (rc != 0)
		fail_msg("%s:%d: pooter_broker_stat: %d (%s); last_error: "
			 "\"%s\"",
			 file, line, rc, pooter_strerror(rc),
			 pooter_last_error());
}

void zk_stat_until_at(struct pooter_broker *b, struct pooter_broker_stat *st,
		      bool (*pred)(const struct pooter_broker_stat *st,
				   void *arg),
		      void *arg, int timeout_ms, const char *file, int line)
{
	uint64_t end = h_now_ns() + (uint64_t)timeout_ms * H_NS_PER_MS;
	struct timespec pause = { .tv_nsec = 5 * 1000000 };

	for (;;) {
		zk_stat_at(b, st, file, line);
		if (pred(st, arg))
			return;
		if (h_now_ns() > end)
			fail_msg("%s:%d: broker state not reached within %d ms "
				 "(round %llu state %d outcome %d emitted "
				 "%u/%u, emitters %u, consumers %u)",
				 file, line, timeout_ms,
				 (unsigned long long)st->round, st->round_state,
				 st->round_outcome, st->round_emitted,
				 st->round_participants, st->emitters,
				 st->consumers);
		/* not a synchronization: do not hammer the ensemble */
		nanosleep(&pause, NULL);
	}
}

bool zk_pred_emitted(const struct pooter_broker_stat *st, void *arg)
{
	return st->round_state == POOTER_ROUND_OPEN &&
	       st->round_emitted >= *(unsigned int *)arg;
}

bool zk_pred_emitters(const struct pooter_broker_stat *st, void *arg)
{
	return st->emitters == *(unsigned int *)arg;
}

bool zk_pred_consumers(const struct pooter_broker_stat *st, void *arg)
{
	return st->consumers == *(unsigned int *)arg;
}

bool zk_pred_closed(const struct pooter_broker_stat *st, void *arg)
{
	uint64_t r = *(uint64_t *)arg;

	return st->round > r ||
	       (st->round == r && st->round_state == POOTER_ROUND_CLOSED);
}

bool zk_pred_open(const struct pooter_broker_stat *st, void *arg)
{
	uint64_t r = *(uint64_t *)arg;

	return st->round == r && st->round_state == POOTER_ROUND_OPEN;
}

int zk_teardown(void **state)
{
	h_teardown(state);
	while (zk_nhandles)
		pooter_broker_close(zk_handles[--zk_nhandles]);
	for (unsigned int i = 0; i < zk_nurls; i++)
		pooter_broker_unlink_url(zk_urls[i], &zk_opts);
	zk_nurls = 0;
	return 0;
}

uint64_t zk_ms_since(uint64_t t_ns)
{
	uint64_t now = h_now_ns();

	return now > t_ns ? (now - t_ns) / H_NS_PER_MS : 0;
}

/* --- scripted peers ------------------------------------------------------ */

struct peer_payload {
	const char *name;
	const unsigned char *data;
	size_t len;
};

static int payload_cmp(const void *a, const void *b)
{
	const struct peer_payload *x = a, *y = b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

void zk_delivery_text(const struct pooter_delivery *d, char *out, size_t outlen)
{
	struct peer_payload p[POOTER_EMITTERS_MAX];
	unsigned int n = d->count < POOTER_EMITTERS_MAX ? d->count :
							  POOTER_EMITTERS_MAX;
	size_t used = 0;

	out[0] = '\0';
	for (unsigned int i = 0; i < n; i++) {
		p[i].name = d->payloads[i].emitter;
		p[i].data = d->payloads[i].data;
		p[i].len = d->payloads[i].len;
	}
	qsort(p, n, sizeof(p[0]), payload_cmp);
	for (unsigned int i = 0; i < n && used + 1 < outlen; i++) {
		int w = snprintf(out + used, outlen - used,
				 "%s%s=", i ? ";" : "",
				 p[i].name ? p[i].name : "(null)");

		if (w < 0 || (size_t)w >= outlen - used)
			break;
		used += (size_t)w;
		for (size_t j = 0; j < p[i].len && used + 1 < outlen; j++) {
			unsigned char c = p[i].data[j];

			out[used++] = c >= 0x20 && c < 0x7f && c != ';' ?
					      (char)c :
					      '?';
		}
		out[used] = '\0';
	}
}

static void peer_reply(int fd, struct zk_res *r)
{
	if (h_write(fd, r, sizeof(*r)) != 0)
		_exit(4);
}

static void peer_error(struct zk_res *r)
{
	if (r->rc < 0)
		snprintf(r->text, sizeof(r->text), "%s", pooter_last_error());
}

struct peer_arg {
	const char *url;
	int cmd_rd;
	int res_wr;
};

static int peer_main(void *argp)
{
	const struct peer_arg *a = argp;
	const struct pooter_delivery *held[2 * POOTER_DEPTH_MAX];
	struct pooter_ticket tickets[ZK_TICKETS];
	struct pooter_emitter *em = NULL;
	struct pooter_consumer *co = NULL;
	struct pooter_broker *b = NULL;
	unsigned int nheld = 0;
	static struct zk_res r;
	static struct zk_cmd c;

	memset(tickets, 0, sizeof(tickets));
	memset(&r, 0, sizeof(r));
	r.op = ZK_OP_OPEN;
	r.t_start_ns = h_now_ns();
	r.rc = pooter_broker_open_url(a->url, &zk_opts, &b);
	r.t_end_ns = h_now_ns();
	peer_error(&r);
	peer_reply(a->res_wr, &r);
	if (r.rc != 0)
		_exit(2);

	for (;;) {
		if (h_read(a->cmd_rd, &c, sizeof(c), -1) != 0)
			_exit(3); /* the parent went away */
		memset(&r, 0, sizeof(r));
		r.op = c.op;
		r.round = H_ROUND_UNTOUCHED;
		const char *name = c.name[0] ? c.name : NULL;
		struct pooter_ticket *t = &tickets[c.slot % ZK_TICKETS];

		r.t_start_ns = h_now_ns();
		switch (c.op) {
		case ZK_OP_JOIN_EMITTER:
			r.rc = em ? -EALREADY :
				    pooter_emitter_join(b, name, c.flags, &em);
			if (r.rc == 0)
				snprintf(r.text, sizeof(r.text), "%s",
					 pooter_emitter_name(em));
			break;
		case ZK_OP_EMIT:
			r.rc = em ? pooter_emit(em, c.data, c.len, &r.round) :
				    -ENOTCONN;
			break;
		case ZK_OP_SUBMIT:
			memset(t, 0, sizeof(*t));
			r.rc = em ? pooter_emit_submit(em, c.data, c.len, t) :
				    -ENOTCONN;
			if (r.rc == 0) {
				r.round = t->round;
				r.outcome = t->outcome;
			}
			break;
		case ZK_OP_TICKET_WAIT:
			r.rc = pooter_ticket_wait(t);
			r.round = t->round;
			r.outcome = t->outcome;
			break;
		case ZK_OP_LEAVE_EMITTER:
			r.rc = em ? pooter_emitter_leave(em) : -ENOTCONN;
			em = NULL;
			break;
		case ZK_OP_JOIN_CONSUMER:
			r.rc = co ? -EALREADY :
				    pooter_consumer_join(b, name, c.flags, &co);
			if (r.rc == 0)
				snprintf(r.text, sizeof(r.text), "%s",
					 pooter_consumer_name(co));
			break;
		case ZK_OP_CONSUME: {
			const struct pooter_delivery *d = NULL;

			r.rc = co ? pooter_consume(co, c.timeout_ms, &d) :
				    -ENOTCONN;
			if (r.rc < 0)
				break;
			if (!d || nheld == sizeof(held) / sizeof(held[0])) {
				r.rc = -EFAULT;
				break;
			}
			held[nheld++] = d;
			r.round = d->round;
			r.outcome = d->outcome;
			r.count = d->count;
			zk_delivery_text(d, r.text, sizeof(r.text));
			break;
		}
		case ZK_OP_RELEASE:
			r.rc = -ESRCH;
			for (unsigned int i = 0; i < nheld; i++) {
				if (held[i]->round != c.round)
					continue;
				r.rc = pooter_release(co, held[i]);
				if (r.rc == 0)
					held[i] = held[--nheld];
				break;
			}
			break;
		case ZK_OP_LEAVE_CONSUMER:
			r.rc = co ? pooter_consumer_leave(co) : -ENOTCONN;
			co = NULL;
			nheld = 0;
			break;
		case ZK_OP_CANCEL:
			r.rc = pooter_round_cancel(b);
			break;
		case ZK_OP_STAT:
			r.rc = pooter_broker_stat(b, &r.st);
			break;
		case ZK_OP_QUIT:
			if (em)
				pooter_emitter_leave(em);
			if (co)
				pooter_consumer_leave(co);
			pooter_broker_close(b);
			peer_reply(a->res_wr, &r);
			_exit(0);
		default:
			r.rc = -ENOSYS;
			break;
		}
		r.t_end_ns = h_now_ns();
		if (c.op != ZK_OP_CONSUME || r.rc < 0)
			peer_error(&r);
		peer_reply(a->res_wr, &r);
	}
}

void zk_peer_start(struct zk_peer *p, const char *url)
{
	struct h_pipe cmd, res;
	struct peer_arg a;
	struct zk_res r;

	memset(p, 0, sizeof(*p));
	snprintf(p->url, sizeof(p->url), "%s", url);
	h_pipe_init(&cmd);
	h_pipe_init(&res);
	a = (struct peer_arg){ .url = p->url,
			       .cmd_rd = cmd.rd,
			       .res_wr = res.wr };
	p->pid = h_spawn(peer_main, &a);
	close(cmd.rd);
	close(res.wr);
	p->cmd_wr = cmd.wr;
	p->res_rd = res.rd;
	zk_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, ZK_OP_OPEN);
	if (r.rc != 0)
		fail_msg("peer %d: pooter_broker_open_url(%s): %d (%s); "
			 "last_error: \"%s\"",
			 (int)p->pid, url, r.rc, pooter_strerror(r.rc), r.text);
}

void zk_peer_send(struct zk_peer *p, const struct zk_cmd *c)
{
	assert_int_equal(h_write(p->cmd_wr, c, sizeof(*c)), 0);
}

int zk_peer_try_res(struct zk_peer *p, struct zk_res *r, int timeout_ms)
{
	int rc = h_read(p->res_rd, r, sizeof(*r), timeout_ms);

	if (rc == -ETIMEDOUT)
		return rc;
	if (rc != 0) {
		int status = h_wait(p->pid, H_LONG_MS);

		fail_msg("peer %d died (read %d, wait status %#x)", (int)p->pid,
			 rc, status);
	}
	return 0;
}

void zk_peer_res(struct zk_peer *p, struct zk_res *r, int timeout_ms)
{
	if (zk_peer_try_res(p, r, timeout_ms) != 0) {
		zk_debug_pid(p->pid, "no answer");
		fail_msg("peer %d: no answer within %d ms (ZK_DEBUG_HANG=1 "
			 "prints its backtraces)",
			 (int)p->pid, timeout_ms);
	}
}

int zk_peer_pending(struct zk_peer *p)
{
	return h_readable(p->res_rd);
}

static void peer_close_pipes(struct zk_peer *p)
{
	if (p->cmd_wr >= 0)
		close(p->cmd_wr);
	if (p->res_rd >= 0)
		close(p->res_rd);
	p->cmd_wr = p->res_rd = -1;
}

void zk_peer_stop(struct zk_peer *p)
{
	struct zk_cmd c = { .op = ZK_OP_QUIT };
	struct zk_res r;

	zk_peer_send(p, &c);
	zk_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, ZK_OP_QUIT);
	h_expect_ok(p->pid);
	peer_close_pipes(p);
}

void zk_peer_kill(struct zk_peer *p)
{
	h_kill(p->pid);
	peer_close_pipes(p);
}

static int peer_simple(struct zk_peer *p, int op, const char *name,
		       unsigned int flags, uint64_t round, struct zk_res *out)
{
	struct zk_cmd c;
	struct zk_res r;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.flags = flags;
	c.round = round;
	if (name)
		snprintf(c.name, sizeof(c.name), "%s", name);
	zk_peer_send(p, &c);
	zk_peer_res(p, &r, H_LONG_MS);
	assert_int_equal(r.op, op);
	if (out)
		*out = r;
	return r.rc;
}

int zk_peer_join_emitter(struct zk_peer *p, const char *name,
			 unsigned int flags)
{
	return peer_simple(p, ZK_OP_JOIN_EMITTER, name, flags, 0, NULL);
}

int zk_peer_join_consumer(struct zk_peer *p, const char *name,
			  unsigned int flags)
{
	return peer_simple(p, ZK_OP_JOIN_CONSUMER, name, flags, 0, NULL);
}

int zk_peer_leave_emitter(struct zk_peer *p)
{
	return peer_simple(p, ZK_OP_LEAVE_EMITTER, NULL, 0, 0, NULL);
}

int zk_peer_leave_consumer(struct zk_peer *p)
{
	return peer_simple(p, ZK_OP_LEAVE_CONSUMER, NULL, 0, 0, NULL);
}

int zk_peer_cancel(struct zk_peer *p)
{
	return peer_simple(p, ZK_OP_CANCEL, NULL, 0, 0, NULL);
}

int zk_peer_release(struct zk_peer *p, uint64_t round)
{
	return peer_simple(p, ZK_OP_RELEASE, NULL, 0, round, NULL);
}

void zk_peer_stat(struct zk_peer *p, struct pooter_broker_stat *st)
{
	struct zk_res r;

	if (peer_simple(p, ZK_OP_STAT, NULL, 0, 0, &r) != 0)
		fail_msg("peer %d: stat: %d (%s) \"%s\"", (int)p->pid, r.rc,
			 pooter_strerror(r.rc), r.text);
	*st = r.st;
}

static void peer_data_cmd(struct zk_peer *p, int op, unsigned int slot,
			  const char *payload)
{
	struct zk_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.slot = slot;
	c.len = (unsigned int)strlen(payload);
	assert_true(c.len <= sizeof(c.data));
	memcpy(c.data, payload, c.len);
	zk_peer_send(p, &c);
}

void zk_peer_emit_async(struct zk_peer *p, const char *payload)
{
	peer_data_cmd(p, ZK_OP_EMIT, 0, payload);
}

void zk_peer_submit_async(struct zk_peer *p, unsigned int slot,
			  const char *payload)
{
	peer_data_cmd(p, ZK_OP_SUBMIT, slot, payload);
}

void zk_peer_ticket_wait_async(struct zk_peer *p, unsigned int slot)
{
	peer_data_cmd(p, ZK_OP_TICKET_WAIT, slot, "");
}

void zk_peer_join_emitter_async(struct zk_peer *p, const char *name,
				unsigned int flags)
{
	struct zk_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = ZK_OP_JOIN_EMITTER;
	c.flags = flags;
	if (name)
		snprintf(c.name, sizeof(c.name), "%s", name);
	zk_peer_send(p, &c);
}

int zk_peer_emit(struct zk_peer *p, const char *payload, struct zk_res *r)
{
	struct zk_res tmp;

	if (!r)
		r = &tmp;
	zk_peer_emit_async(p, payload);
	zk_peer_res(p, r, H_LONG_MS);
	assert_int_equal(r->op, ZK_OP_EMIT);
	return r->rc;
}

void zk_peer_consume(struct zk_peer *p, int timeout_ms, struct zk_res *r)
{
	struct zk_cmd c;

	memset(&c, 0, sizeof(c));
	c.op = ZK_OP_CONSUME;
	c.timeout_ms = timeout_ms;
	zk_peer_send(p, &c);
	zk_peer_res(p, r, timeout_ms < 0 ? H_LONG_MS : timeout_ms + H_LONG_MS);
	assert_int_equal(r->op, ZK_OP_CONSUME);
}

/* --- ensemble.sh ----------------------------------------------------------- */

struct script_arg {
	const char *argv[8];
	int out_wr;
	int out_rd;
};

static int script_main(void *argp)
{
	struct script_arg *a = argp;

	close(a->out_rd);
	if (dup2(a->out_wr, STDOUT_FILENO) < 0)
		_exit(127);
	close(a->out_wr);
	execvp("bash", (char *const *)a->argv);
	fprintf(stderr, "exec bash: %s\n", strerror(errno));
	_exit(127);
}

int zk_ensemble(char *out, size_t outlen, const char *arg1, const char *arg2)
{
	const char *script = getenv("POOTER_ZK_ENSEMBLE");
	const char *dir = getenv("POOTER_ZK_DIR");
	struct script_arg a;
	struct h_pipe pp;
	char buf[4096];
	size_t used = 0;
	uint64_t end = h_now_ns() + (uint64_t)ZK_SCRIPT_MS * H_NS_PER_MS;
	int status, n = 0;
	pid_t pid;

	if (!script || !dir)
		fail_msg("POOTER_ZK_ENSEMBLE and POOTER_ZK_DIR must be set");
	memset(&a, 0, sizeof(a));
	a.argv[n++] = "bash";
	a.argv[n++] = script;
	a.argv[n++] = arg1;
	if (arg2)
		a.argv[n++] = arg2;
	a.argv[n++] = dir;
	a.argv[n] = NULL;
	h_pipe_init(&pp);
	a.out_wr = pp.wr;
	a.out_rd = pp.rd;
	pid = h_spawn(script_main, &a);
	close(pp.wr);
	pp.wr = -1;
	for (;;) {
		uint64_t now = h_now_ns();
		char c;
		int rc;

		if (now > end)
			break;
		rc = h_read(pp.rd, &c, 1, (int)((end - now) / H_NS_PER_MS) + 1);
		if (rc != 0)
			break; /* EOF (or the deadline) */
		if (used + 1 < sizeof(buf))
			buf[used++] = c;
	}
	buf[used] = '\0';
	h_pipe_close(&pp);
	status = h_wait(pid, (int)(h_now_ns() < end ?
					   (end - h_now_ns()) / H_NS_PER_MS :
					   0) +
				     1000);
	if (status == -1) {
		h_kill(pid);
		fprintf(stderr, "ensemble.sh %s %s: did not end within %d ms\n",
			arg1, arg2 ? arg2 : "", ZK_SCRIPT_MS);
		return -1;
	}
	while (used && (buf[used - 1] == '\n' || buf[used - 1] == ' '))
		buf[--used] = '\0';
	if (out)
		snprintf(out, outlen, "%s", buf);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void zk_ensemble_ok(char *out, size_t outlen, const char *arg1,
		    const char *arg2)
{
	char buf[4096];
	int rc = zk_ensemble(buf, sizeof(buf), arg1, arg2);

	if (rc != 0)
		fail_msg("ensemble.sh %s %s: exit %d, output \"%s\"", arg1,
			 arg2 ? arg2 : "", rc, buf);
	if (out)
		snprintf(out, outlen, "%s", buf);
}

/* --- deliveries in the runner -------------------------------------------- */

const struct pooter_delivery *zk_expect_delivery(struct pooter_consumer *c,
						 int timeout_ms, uint64_t round,
						 int outcome, const char *text)
{
	const struct pooter_delivery *d = NULL;
	char got[ZK_TEXT_MAX];
	int rc = pooter_consume(c, timeout_ms, &d);

	if (rc != 0)
		fail_msg("pooter_consume (waiting for round %llu): %d (%s); "
			 "last_error: \"%s\"",
			 (unsigned long long)round, rc, pooter_strerror(rc),
			 pooter_last_error());
	assert_non_null(d);
	zk_delivery_text(d, got, sizeof(got));
	if (d->round != round || d->outcome != outcome ||
	    (text && strcmp(got, text)))
		fail_msg("delivery: round %llu outcome %d (%s) payloads "
			 "\"%s\"; expected round %llu outcome %d (%s) "
			 "payloads \"%s\"",
			 (unsigned long long)d->round, d->outcome,
			 pooter_strerror(d->outcome), got,
			 (unsigned long long)round, outcome,
			 pooter_strerror(outcome), text ? text : "(any)");
	if (outcome != 0)
		assert_int_equal(d->count, 0);
	for (unsigned int i = 0; i < d->count; i++)
		if ((uintptr_t)d->payloads[i].data % _Alignof(max_align_t))
			fail_msg("round %llu: payload %u of %s at %p is not "
				 "max_align_t aligned",
				 (unsigned long long)d->round, i,
				 d->payloads[i].emitter, d->payloads[i].data);
	return d;
}

void zk_debug_pid(pid_t pid, const char *why)
{
	char cmd[256];

	if (!getenv("ZK_DEBUG_HANG"))
		return;
	fprintf(stderr, "=== pid %d: %s: its threads:\n", (int)pid, why);
	snprintf(cmd, sizeof(cmd),
		 "gdb -q -batch -ex 'thread apply all bt' -p %d 1>&2 "
		 "2>/dev/null </dev/null",
		 (int)pid);
	if (system(cmd) != 0)
		fprintf(stderr, "(gdb failed)\n");
}
