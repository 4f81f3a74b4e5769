/* SPDX-License-Identifier: MIT */
/*
 * zk_floor.c - the ZooKeeper floor (see zk_floor.h): two sessions of the
 * single-threaded C client, driven by one poll() loop over
 * zookeeper_interest() and zookeeper_process(); every call is asynchronous
 * (libzookeeper_st has no synchronous API), its completion or watch sets a
 * flag in a struct zkf_op or struct zkf_watch, and zkf_wait() turns the
 * loop until the flag is up.  Times are taken in the callbacks.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "zk_floor.h"

#define ZKF_SESSION_MS 10000 /* the session timeout asked for */
#define ZKF_STEP_MS 10000    /* longest wait for any one step */
#define ZKF_NUDGE_MS 500     /* a step this long nudges the servers */
#define ZKF_PATH_MAX 256
#define ZKF_PARENT_MAX 64 /* "/pooter-bench-floor-PID" */

struct zkf_conn {
	zhandle_t *zh;
	int state;	  /* last session state seen, 0 before any */
	const char *name; /* "A" or "B" */
};

struct zkf {
	struct zkf_conn conn[2];
	char *err;
	size_t errlen;
	int failed; /* an error is in err already */
};

/* one asynchronous call: done once its completion ran */
struct zkf_op {
	int done;
	int rc;
	uint64_t t_ns; /* when the completion ran */
	int pending;   /* deletes still out (zkf_cleanup) */
	int deleted;   /* set once none is */
	int first_rc;  /* their first failure */
	struct zkf *f;
	const char *parent;
};

struct zkf_watch {
	int fired;
	int type;
	int state;
	uint64_t t_ns;
};

/* the client's last warning or error, for the message on a failure */
static _Thread_local char zkf_last_log[256];

static uint64_t zkf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void zkf_log(const char *message)
{
	size_t len;

	if (!strstr(message, "ZOO_ERROR") && !strstr(message, "ZOO_WARN"))
		return;
	snprintf(zkf_last_log, sizeof(zkf_last_log), "%s", message);
	len = strlen(zkf_last_log);
	while (len &&
	       (zkf_last_log[len - 1] == '\n' || zkf_last_log[len - 1] == ' '))
		zkf_last_log[--len] = '\0';
}

static int zkf_errno(int zrc)
{
	switch (zrc) {
	case ZOK:
		return 0;
	case ZCONNECTIONLOSS:
		return -ECONNRESET;
	case ZOPERATIONTIMEOUT:
		return -ETIMEDOUT;
	case ZBADARGUMENTS:
		return -EINVAL;
	case ZINVALIDSTATE:
		return -ENOTCONN;
	case ZNONODE:
		return -ENOENT;
	case ZNODEEXISTS:
		return -EEXIST;
	case ZNOAUTH:
	case ZAUTHFAILED:
		return -EACCES;
	case ZNOTEMPTY:
		return -ENOTEMPTY;
	case ZSESSIONEXPIRED:
		return -ECONNABORTED;
	case ZCLOSING:
		return -ESHUTDOWN;
	case ZBADVERSION:
		return -ESTALE;
	case ZMARSHALLINGERROR:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* record the first failure; returns rc */
static int zkf_fail(struct zkf *f, int rc, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	if (f->failed)
		return rc;
	f->failed = 1;
	if (!f->err || !f->errlen)
		return rc;
	va_start(ap, fmt);
	vsnprintf(f->err, f->errlen, fmt, ap);
	va_end(ap);
	len = strlen(f->err);
	if (zkf_last_log[0] && len + 1 < f->errlen)
		snprintf(f->err + len, f->errlen - len, " (client: %s)",
			 zkf_last_log);
	return rc;
}

static void zkf_session_watcher(zhandle_t *zh, int type, int state,
				const char *path, void *ctx)
{
	struct zkf_conn *c = ctx;

	(void)zh;
	(void)path;
	if (type == ZOO_SESSION_EVENT)
		c->state = state;
}

static void zkf_data_watcher(zhandle_t *zh, int type, int state,
			     const char *path, void *ctx)
{
	struct zkf_watch *w = ctx;

	(void)zh;
	(void)path;
	w->t_ns = zkf_now_ns();
	w->type = type;
	w->state = state;
	w->fired = 1;
}

static void zkf_op_done(struct zkf_op *op, int rc)
{
	op->t_ns = zkf_now_ns();
	op->rc = rc;
	op->done = 1;
}

static void zkf_void_done(int rc, const void *data)
{
	zkf_op_done((struct zkf_op *)data, rc);
}

static void zkf_stat_done(int rc, const struct Stat *stat, const void *data)
{
	(void)stat;
	zkf_op_done((struct zkf_op *)data, rc);
}

static void zkf_string_done(int rc, const char *value, const void *data)
{
	(void)value;
	zkf_op_done((struct zkf_op *)data, rc);
}

static void zkf_data_done(int rc, const char *value, int value_len,
			  const struct Stat *stat, const void *data)
{
	(void)value;
	(void)value_len;
	(void)stat;
	zkf_op_done((struct zkf_op *)data, rc);
}

static int zkf_conn_ok(struct zkf *f)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct zkf_conn *c = &f->conn[i];
		int state = zoo_state(c->zh);

		if (state == ZOO_EXPIRED_SESSION_STATE ||
		    state == ZOO_AUTH_FAILED_STATE)
			c->state = state;
		if (c->state == ZOO_EXPIRED_SESSION_STATE)
			return zkf_fail(f, -ECONNABORTED, "session %s expired",
					c->name);
		if (c->state == ZOO_AUTH_FAILED_STATE)
			return zkf_fail(f, -EACCES,
					"session %s: authentication failed",
					c->name);
	}
	return 0;
}

/*
 * One turn of the loop: ask both handles what they wait for, poll() for it
 * (at most max_ms, less if a handle has a timer due), and let both process
 * what came.  Losing a connection is no error here (the client reconnects;
 * a call that was out completes with ZCONNECTIONLOSS); anything that ends a
 * handle is.
 */
static int zkf_turn(struct zkf *f, int max_ms)
{
	struct pollfd pfd[2];
	int slot[2] = { -1, -1 };
	int i, nfds = 0, timeout = max_ms, rc;

	for (i = 0; i < 2; i++) {
		struct timeval tv = { 0, 0 };
		int fd = -1, interest = 0;
		long ms;

		rc = zookeeper_interest(f->conn[i].zh, &fd, &interest, &tv);
		if (rc != ZOK && rc != ZCONNECTIONLOSS &&
		    rc != ZOPERATIONTIMEOUT && rc != ZNOTHING)
			return zkf_fail(f, zkf_errno(rc),
					"zookeeper_interest (session %s): %s",
					f->conn[i].name, zerror(rc));
		ms = (long)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
		if (ms >= 0 && ms < timeout)
			timeout = (int)ms;
		if (fd < 0)
			continue;
		pfd[nfds].fd = fd;
		pfd[nfds].events = 0;
		pfd[nfds].revents = 0;
		if (interest & ZOOKEEPER_READ)
			pfd[nfds].events |= POLLIN;
		if (interest & ZOOKEEPER_WRITE)
			pfd[nfds].events |= POLLOUT;
		slot[i] = nfds++;
	}
	if (poll(pfd, (nfds_t)nfds, timeout) < 0 && errno != EINTR)
		return zkf_fail(f, -errno, "poll: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		short re;
		int events = 0;

		/* no socket (between two connections): nothing to process */
		if (slot[i] < 0)
			continue;
		re = pfd[slot[i]].revents;
		if (re & (POLLIN | POLLHUP | POLLERR))
			events |= ZOOKEEPER_READ;
		if (re & (POLLOUT | POLLHUP | POLLERR))
			events |= ZOOKEEPER_WRITE;
		rc = zookeeper_process(f->conn[i].zh, events);
		/*
		 * ZINVALIDSTATE is also what a handle without a socket says
		 * (its connection just failed in this call); zkf_conn_ok()
		 * tells an expired session apart
		 */
		if (rc != ZOK && rc != ZNOTHING && rc != ZCONNECTIONLOSS &&
		    rc != ZOPERATIONTIMEOUT && rc != ZINVALIDSTATE)
			return zkf_fail(f, zkf_errno(rc),
					"zookeeper_process (session %s): %s",
					f->conn[i].name, zerror(rc));
	}
	return zkf_conn_ok(f);
}

static void zkf_nudge_done(int rc, const struct Stat *stat, const void *data)
{
	(void)rc;
	(void)stat;
	(void)data;
}

/*
 * A server of ZooKeeper 3.8.0 was seen to sit on a request it had read
 * (4lw cons: queued=1, one more received than sent; every server thread
 * idle) until another request reached that server, or until the client
 * gave up: it sends no ping while a request is out, and drops the
 * connection after 2/3 of the session timeout (6.7 s).  Likely cause: the
 * CommitProcessor thread looks at its queues outside its monitor, then
 * waits on it without looking again, so a request or commit queued in
 * between waits for the next wakeup (the same code is still upstream).
 * Seen 6 times in some 4 million requests on a loaded 2-CPU machine.
 * Any request to the server wakes it up, so a step that waits long sends
 * one (an exists on /, its answer ignored) through each session.
 */
static void zkf_nudge(struct zkf *f)
{
	int i;

	for (i = 0; i < 2; i++)
		if (zoo_state(f->conn[i].zh) == ZOO_CONNECTED_STATE)
			zoo_aexists(f->conn[i].zh, "/", 0, zkf_nudge_done,
				    NULL);
}

/* turn the loop until *flag is set, at most ZKF_STEP_MS */
static int zkf_wait(struct zkf *f, const int *flag, const char *what)
{
	uint64_t now = zkf_now_ns();
	uint64_t end = now + (uint64_t)ZKF_STEP_MS * 1000000u;
	uint64_t nudge = now + (uint64_t)ZKF_NUDGE_MS * 1000000u;
	int rc;

	while (!*flag) {
		now = zkf_now_ns();
		if (now >= end)
			return zkf_fail(f, -ETIMEDOUT,
					"%s: nothing within %d ms", what,
					ZKF_STEP_MS);
		if (now >= nudge) {
			zkf_nudge(f);
			nudge = now + (uint64_t)ZKF_NUDGE_MS * 1000000u;
		}
		rc = zkf_turn(f, (int)(((nudge < end ? nudge : end) - now) /
				       1000000u) +
					 1);
		if (rc)
			return rc;
	}
	return 0;
}

/* a call's own return value, then (if it was sent) its completion's */
static int zkf_call(struct zkf *f, int zrc, struct zkf_op *op, const char *what)
{
	int rc;

	if (zrc != ZOK)
		return zkf_fail(f, zkf_errno(zrc), "%s: %s", what, zerror(zrc));
	rc = zkf_wait(f, &op->done, what);
	if (rc)
		return rc;
	if (op->rc != ZOK)
		return zkf_fail(f, zkf_errno(op->rc), "%s: %s", what,
				zerror(op->rc));
	return 0;
}

static int zkf_connect(struct zkf *f, const char *hosts)
{
	int i, rc;

	for (i = 0; i < 2; i++) {
		struct zkf_conn *c = &f->conn[i];

		c->zh = zookeeper_init2(hosts, zkf_session_watcher,
					ZKF_SESSION_MS, NULL, c, 0, zkf_log);
		if (!c->zh) {
			rc = errno ? -errno : -EIO;
			return zkf_fail(
				f, rc,
				"zookeeper_init2(\"%s\") for session %s: %s",
				hosts, c->name, strerror(-rc));
		}
	}
	for (i = 0; i < 2; i++) {
		uint64_t end = zkf_now_ns() + (uint64_t)ZKF_STEP_MS * 1000000u;

		while (f->conn[i].state != ZOO_CONNECTED_STATE) {
			uint64_t now = zkf_now_ns();

			if (now >= end)
				return zkf_fail(
					f, -ETIMEDOUT,
					"no session %s with %s within %d ms",
					f->conn[i].name, hosts, ZKF_STEP_MS);
			rc = zkf_turn(f, (int)((end - now) / 1000000u) + 1);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static void zkf_delete_done(int rc, const void *data)
{
	struct zkf_op *op = (struct zkf_op *)data;

	if (rc != ZOK && rc != ZNONODE && op->first_rc == ZOK)
		op->first_rc = rc;
	if (--op->pending == 0)
		op->deleted = 1;
}

/* the children of the scratch node: delete them all, pipelined */
static void zkf_children_done(int rc, const struct String_vector *names,
			      const void *data)
{
	struct zkf_op *op = (struct zkf_op *)data;
	char path[ZKF_PATH_MAX];
	int i, zrc;

	op->rc = rc;
	if (rc == ZOK) {
		for (i = 0; i < names->count; i++) {
			snprintf(path, sizeof(path), "%s/%s", op->parent,
				 names->data[i]);
			zrc = zoo_adelete(op->f->conn[0].zh, path, -1,
					  zkf_delete_done, op);
			if (zrc != ZOK) {
				if (op->first_rc == ZOK)
					op->first_rc = zrc;
				break;
			}
			op->pending++;
		}
	}
	if (!op->pending)
		op->deleted = 1;
	op->done = 1;
}

/* remove the scratch node and whatever is below it, through session A */
static int zkf_cleanup(struct zkf *f, const char *parent)
{
	struct zkf_op op = { .f = f, .parent = parent, .first_rc = ZOK };
	int rc;

	rc = zkf_call(f,
		      zoo_aget_children(f->conn[0].zh, parent, 0,
					zkf_children_done, &op),
		      &op, "zoo_aget_children (cleanup)");
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = zkf_wait(f, &op.deleted, "zoo_adelete (cleanup)");
	if (rc)
		return rc;
	if (op.first_rc != ZOK)
		return zkf_fail(f, zkf_errno(op.first_rc),
				"zoo_adelete (cleanup): %s",
				zerror(op.first_rc));
	memset(&op, 0, sizeof(op));
	rc = zkf_call(
		f, zoo_adelete(f->conn[0].zh, parent, -1, zkf_void_done, &op),
		&op, "zoo_adelete (cleanup)");
	return rc == -ENOENT ? 0 : rc;
}

static int zkf_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double zkf_p50(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), zkf_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* (a): A's multi of two ops, call to completion; deletes the child after */
static int zkf_measure_multi(struct zkf *f, const char *parent, unsigned int n,
			     double *us)
{
	char child[ZKF_PATH_MAX], created[ZKF_PATH_MAX];
	zoo_op_result_t results[2];
	zoo_op_t ops[2];
	struct zkf_op op;
	unsigned int i;
	uint64_t t0;
	int rc;

	if ((size_t)snprintf(child, sizeof(child), "%s/m-", parent) >=
	    sizeof(child))
		return zkf_fail(f, -ENAMETOOLONG, "%s: path too long", parent);
	for (i = 0; i < n; i++) {
		memset(&op, 0, sizeof(op));
		memset(results, 0, sizeof(results));
		created[0] = '\0';
		zoo_create_op_init(&ops[0], child, "", 0, &ZOO_OPEN_ACL_UNSAFE,
				   ZOO_PERSISTENT_SEQUENTIAL, created,
				   sizeof(created));
		/* the scratch node's version stays 0: children leave it alone */
		zoo_check_op_init(&ops[1], parent, 0);
		t0 = zkf_now_ns();
		rc = zkf_call(f,
			      zoo_amulti(f->conn[0].zh, 2, ops, results,
					 zkf_void_done, &op),
			      &op, "zoo_amulti");
		if (rc)
			return rc;
		if (results[0].err != ZOK || results[1].err != ZOK)
			return zkf_fail(
				f, -EPROTO,
				"zoo_amulti: ZOK, but its ops said %s, %s",
				zerror(results[0].err), zerror(results[1].err));
		us[i] = (double)(op.t_ns - t0) / 1e3;
		/* not timed: keep the scratch node small */
		memset(&op, 0, sizeof(op));
		rc = zkf_call(f,
			      zoo_adelete(f->conn[0].zh, created, -1,
					  zkf_void_done, &op),
			      &op, "zoo_adelete");
		if (rc)
			return rc;
	}
	return 0;
}

/* (b): A's set, to B's data watch on the node firing */
static int zkf_measure_watch(struct zkf *f, const char *node, unsigned int n,
			     double *us)
{
	struct zkf_watch w;
	struct zkf_op get, set;
	char value[16];
	unsigned int i;
	uint64_t t0;
	int rc, len;

	for (i = 0; i < n; i++) {
		memset(&w, 0, sizeof(w));
		memset(&get, 0, sizeof(get));
		memset(&set, 0, sizeof(set));
		/* the watch is set once B has the answer */
		rc = zkf_call(f,
			      zoo_awget(f->conn[1].zh, node, zkf_data_watcher,
					&w, zkf_data_done, &get),
			      &get, "zoo_awget (session B)");
		if (rc)
			return rc;
		len = snprintf(value, sizeof(value), "%u", i);
		t0 = zkf_now_ns();
		rc = zoo_aset(f->conn[0].zh, node, value, len, -1,
			      zkf_stat_done, &set);
		if (rc != ZOK)
			return zkf_fail(f, zkf_errno(rc), "zoo_aset: %s",
					zerror(rc));
		rc = zkf_wait(f, &w.fired, "watch event (session B)");
		if (rc)
			return rc;
		if (w.type != ZOO_CHANGED_EVENT)
			return zkf_fail(
				f, -EPROTO,
				"session B's watch: event type %d, state %d, not a change",
				w.type, w.state);
		rc = zkf_call(f, ZOK, &set, "zoo_aset");
		if (rc)
			return rc;
		us[i] = (double)(w.t_ns - t0) / 1e3;
	}
	return 0;
}

int zk_floor_measure(const char *hosts, unsigned int n, double *multi_p50_us,
		     double *watch_p50_us, char *err, size_t errlen)
{
	struct zkf f = {
		.conn = { { .name = "A" }, { .name = "B" } },
		.err = err,
		.errlen = errlen,
	};
	char parent[ZKF_PARENT_MAX], node[ZKF_PATH_MAX];
	double *multi = NULL, *watch = NULL;
	struct zkf_op op;
	int rc, crc, created = 0, i;

	if (err && errlen)
		err[0] = '\0';
	zkf_last_log[0] = '\0';
	if (!hosts || !*hosts || !n || !multi_p50_us || !watch_p50_us ||
	    (!err && errlen))
		return zkf_fail(&f, -EINVAL, "zk_floor_measure: bad arguments");
	multi = calloc(n, sizeof(*multi));
	watch = calloc(n, sizeof(*watch));
	if (!multi || !watch) {
		rc = zkf_fail(&f, -ENOMEM, "no memory for %u samples", n);
		goto out;
	}
	snprintf(parent, sizeof(parent), "/pooter-bench-floor-%ld",
		 (long)getpid());
	snprintf(node, sizeof(node), "%s/w", parent);

	rc = zkf_connect(&f, hosts);
	if (rc)
		goto out;
	/* what the client said while connecting is no news later */
	zkf_last_log[0] = '\0';

	memset(&op, 0, sizeof(op));
	rc = zkf_call(&f,
		      zoo_acreate(f.conn[0].zh, parent, "", 0,
				  &ZOO_OPEN_ACL_UNSAFE, 0, zkf_string_done,
				  &op),
		      &op, parent);
	if (rc == -EEXIST) {
		/* left by an earlier process of the same PID: start afresh */
		f.failed = 0;
		rc = zkf_cleanup(&f, parent);
		if (!rc) {
			memset(&op, 0, sizeof(op));
			rc = zkf_call(&f,
				      zoo_acreate(f.conn[0].zh, parent, "", 0,
						  &ZOO_OPEN_ACL_UNSAFE, 0,
						  zkf_string_done, &op),
				      &op, parent);
		}
	}
	if (rc)
		goto out;
	created = 1;
	memset(&op, 0, sizeof(op));
	rc = zkf_call(&f,
		      zoo_acreate(f.conn[0].zh, node, "", 0,
				  &ZOO_OPEN_ACL_UNSAFE, 0, zkf_string_done,
				  &op),
		      &op, node);
	if (rc)
		goto out;

	rc = zkf_measure_multi(&f, parent, n, multi);
	if (rc)
		goto out;
	rc = zkf_measure_watch(&f, node, n, watch);
	if (rc)
		goto out;
	*multi_p50_us = zkf_p50(multi, n);
	*watch_p50_us = zkf_p50(watch, n);
out:
	if (created) {
		/* keep the first error's message, if there was one */
		crc = zkf_cleanup(&f, parent);
		if (!rc)
			rc = crc;
	}
	for (i = 0; i < 2; i++)
		if (f.conn[i].zh)
			zookeeper_close(f.conn[i].zh);
	free(multi);
	free(watch);
	return rc;
}
