/* SPDX-License-Identifier: MIT */
/*
 * broker.c - zk:// brokers: the URL, create, open, unlink, list, and the
 * calls on a broker handle (stat, timeout, gc, members), with the table the
 * plugin gives libpooter (zk_backend) and its entry point.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zk.h"

const struct backend_host *zk_host;

void zp(const struct zk_broker *b, char *out, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(out, ZK_PATH_MAX, "%s", b->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, ZK_PATH_MAX - n, fmt, ap);
	va_end(ap);
}

void zp_round(const struct zk_broker *b, char *out, uint64_t k)
{
	zp(b, out, "/r/%020llu", (unsigned long long)k);
}

/* --- URLs ---------------------------------------------------------------- */

/* A path element: a pooter name's characters, not "." or "..". */
static bool element_ok(const char *s, size_t n)
{
	if (!n || n > POOTER_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-",
			    s[i]) ||
		    !s[i])
			return false;
	return true;
}

/* HOST:PORT[,HOST:PORT...], a HOST an IPv6 address in brackets or a name. */
static bool hosts_ok(const char *hosts)
{
	const char *s = hosts;

	for (;;) {
		const char *e = strchr(s, ','), *colon;
		size_t n = e ? (size_t)(e - s) : strlen(s);
		unsigned long port = 0;

		if (!n)
			return false;
		if (s[0] == '[') {
			const char *close = memchr(s, ']', n);

			if (!close || close == s + 1 || close + 1 >= s + n ||
			    close[1] != ':')
				return false;
			colon = close + 1;
		} else {
			colon = memchr(s, ':', n);
			if (!colon || colon == s ||
			    memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
				return false;
		}
		if (colon + 1 >= s + n || colon + 1 + 5 < s + n)
			return false;
		for (const char *p = colon + 1; p < s + n; p++) {
			if (*p < '0' || *p > '9')
				return false;
			port = port * 10 + (unsigned long)(*p - '0');
		}
		if (!port || port > 65535)
			return false;
		if (!e)
			return true;
		s = e + 1;
	}
}

/*
 * "zk://HOSTS/A/B/NAME": hosts "HOSTS", path "/A/B/NAME", name "NAME".  With
 * want_name false, the path may be empty (the root) and has no name.
 */
static int url_parse(const char *url, bool want_name, char *hosts, char *path,
		     char *name)
{
	const char *h, *p, *s;
	size_t n;

	if (!url || strncmp(url, "zk://", 5))
		return zk_error(-EINVAL, "%s: not a zk:// URL",
				url ? url : "NULL");
	if (strlen(url) >= ZK_PATH_MAX - 64)
		return zk_error(-ENAMETOOLONG, "%s: URL too long", url);
	h = url + 5;
	p = strchr(h, '/');
	n = p ? (size_t)(p - h) : strlen(h);
	if (!n)
		return zk_error(-EINVAL,
				"%s: no hosts (zk://HOST:PORT/PATH/NAME)", url);
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789.-:,[]",
			    h[i]))
			return zk_error(-EINVAL, "%s: bad character in hosts",
					url);
	memcpy(hosts, h, n);
	hosts[n] = '\0';
	if (!hosts_ok(hosts))
		return zk_error(
			-EINVAL,
			"%s: bad hosts \"%s\" (HOST:PORT[,HOST:PORT...], "
			"ports 1-65535)",
			url, hosts);
	path[0] = '\0';
	if (name)
		name[0] = '\0';
	for (s = p; s && *s;) {
		const char *e;

		s++; /* the '/' */
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if (!n && !e && !want_name)
			break; /* a trailing '/' */
		if (n > POOTER_NAME_MAX)
			return zk_error(
				-ENAMETOOLONG,
				"%s: path element \"%.*s\" longer than %d "
				"bytes",
				url, (int)n, s, POOTER_NAME_MAX);
		if (!element_ok(s, n))
			return zk_error(
				-EINVAL,
				"%s: bad path element \"%.*s\" (1-63 of "
				"[A-Za-z0-9._-], not starting with '.')",
				url, (int)n, s);
		strcat(path, "/");
		strncat(path, s, n);
		if (name && !e) {
			memcpy(name, s, n);
			name[n] = '\0';
		}
		s = e;
	}
	if (want_name && (!name || !name[0]))
		return zk_error(-EINVAL,
				"%s: no broker name (zk://HOSTS/PATH/NAME)",
				url);
	/* room under it for P/r/ROUND/NAME */
	if (strlen(path) + 32 + POOTER_NAME_MAX >= ZK_PATH_MAX)
		return zk_error(-ENAMETOOLONG, "%s: path too long", url);
	return 0;
}

static void broker_free(struct zk_broker *b)
{
	if (!b)
		return;
	zc_destroy(&b->conn);
	free(b);
}

static int broker_new(const char *url, const struct pooter_url_opts *opts,
		      bool want_name, struct zk_broker **bp)
{
	char hosts[ZK_PATH_MAX];
	struct zk_broker *b = calloc(1, sizeof(*b));
	int err;

	if (!b)
		return zk_error(-ENOMEM, "out of memory");
	b->ops = &zk_backend;
	err = url_parse(url, want_name, hosts, b->path, b->name);
	if (err)
		goto fail;
	snprintf(b->url, sizeof(b->url), "%s", url);
	if (opts) {
		memcpy(&b->opts, opts,
		       opts->sz < sizeof(b->opts) ? opts->sz : sizeof(b->opts));
		if (opts->auth_scheme && opts->auth) {
			snprintf(b->auth_scheme, sizeof(b->auth_scheme), "%s",
				 opts->auth_scheme);
			snprintf(b->auth, sizeof(b->auth), "%s", opts->auth);
		}
	}
	b->opts.sz = sizeof(b->opts);
	b->opts.auth_scheme = b->auth_scheme[0] ? b->auth_scheme : NULL;
	b->opts.auth = b->auth_scheme[0] ? b->auth : NULL;
	err = zc_open(&b->conn, hosts, &b->opts);
	if (err)
		goto fail;
	*bp = b;
	return 0;
fail:
	broker_free(b);
	return err;
}

/* The ACL of new nodes: open, or the creator's (plus reading, by mode). */
static void broker_acl(struct zk_broker *b, unsigned int mode)
{
	if (!b->auth_scheme[0]) {
		b->acl = &ZOO_OPEN_ACL_UNSAFE;
		return;
	}
	b->acl_buf[0] = ZOO_CREATOR_ALL_ACL.data[0];
	b->acl_vec.count = 1;
	if (mode & 0044)
		b->acl_buf[b->acl_vec.count++] = ZOO_READ_ACL_UNSAFE.data[0];
	b->acl_vec.data = b->acl_buf;
	b->acl = &b->acl_vec;
}

/* The error of a request that completed, with the path in last_error. */
static int req_err(const struct zk_broker *b, struct zk_req *r,
		   const char *what)
{
	int err = zc_errno(r->rc);

	if (err == -EACCES)
		return zk_error(err, "%s: %s: not allowed (ACL)", b->url, what);
	if (err == -ENOENT)
		return zk_error(err, "%s: no such broker", b->url);
	if (err)
		return zk_error(err, "%s: %s: %s", b->url, what, zerror(r->rc));
	return 0;
}

/* --- reading the state ---------------------------------------------------- */

int zk_read_state(struct zk_conn *c, struct zk_broker *b, struct zk_state *st)
{
	char path[ZK_PATH_MAX];
	struct zk_req *r;
	int err;

	zp(b, path, "/state");
	r = zr_get(c, path, false);
	err = zr_wait(c, r);
	if (err)
		return err;
	err = req_err(b, r, "reading the state");
	if (!err) {
		memset(st, 0, sizeof(*st));
		if (zt_state_parse(r->data, r->len, st))
			err = zk_error(-EPROTO,
				       "%s: the state node is not "
				       "pooter's (corrupted, or "
				       "another version)",
				       b->url);
		st->version = r->stat.version;
	}
	zr_free(r);
	return err;
}

void zk_round_free(struct zk_round *r)
{
	free(r->parts);
	r->parts = NULL;
}

/* Round k from the answer of a read of its node: parsed, versioned. */
int zk_round_from(const struct zk_broker *b, const struct zk_req *r, uint64_t k,
		  struct zk_round *rd)
{
	if (zt_round_parse(r->data, r->len, b->cf.max_emitters, rd) ||
	    rd->k != k)
		return zk_error(-EPROTO,
				"%s: round %llu's node is not pooter's", b->url,
				(unsigned long long)k);
	rd->version = r->stat.version;
	rd->ctime_ms = r->stat.ctime;
	return 0;
}

int zk_read_round(struct zk_conn *c, struct zk_broker *b, uint64_t k,
		  struct zk_round *rd)
{
	char path[ZK_PATH_MAX];
	struct zk_req *r;
	int err;

	zp_round(b, path, k);
	r = zr_get(c, path, false);
	err = zr_wait(c, r);
	if (err)
		return err;
	err = zc_errno(r->rc);
	if (!err) {
		err = zk_round_from(b, r, k, rd);
	} else if (err != -ENOENT) {
		err = req_err(b, r, "reading a round");
	}
	zr_free(r);
	return err;
}

/* A deadline nobody enforced is enforced by the next call (design.md). */
int zk_enforce(struct zk_conn *c, struct zk_broker *b)
{
	struct zk_state st;
	uint64_t wake;
	int outcome, err;

	err = zk_read_state(c, b, &st);
	if (err || !st.open)
		return err;
	err = zk_round_step(c, b, st.round, &outcome, &wake);
	return err < 0 ? err : 0;
}

/* --- create, open, unlink, list -------------------------------------------- */

static int attr_get(const struct pooter_broker_attr *attr, struct zk_config *cf)
{
	struct pooter_broker_attr a = { .sz = sizeof(a) };

	if (attr) {
		size_t sz = attr->sz;

		if (sz < offsetof(struct pooter_broker_attr, max_emitters))
			return zk_error(-EINVAL, "attr.sz %zu too small", sz);
		for (size_t i = offsetofend(struct pooter_broker_attr, mode);
		     i < sz; i++)
			if (((const char *)attr)[i])
				return zk_error(-EINVAL,
						"attr has fields this library "
						"does not know (sz %zu)",
						sz);
		memcpy(&a, attr, sz < sizeof(a) ? sz : sizeof(a));
	}
	cf->max_emitters = a.max_emitters ?: POOTER_DEFAULT_EMITTERS;
	cf->max_consumers = a.max_consumers ?: POOTER_DEFAULT_CONSUMERS;
	cf->max_payload = a.max_payload ?: POOTER_DEFAULT_PAYLOAD;
	cf->depth = a.depth ?: POOTER_DEFAULT_DEPTH;
	cf->timeout_ms = a.timeout_ms ?: POOTER_DEFAULT_TIMEOUT_MS;
	cf->quorum = a.quorum;
	cf->mode = a.mode ?: POOTER_DEFAULT_MODE;
#define ATTR_LIMIT(field, hi, why)                                   \
	if (cf->field > (hi))                                        \
		return zk_error(-EINVAL,                             \
				"attr." #field " %u over the limit " \
				"%u%s",                              \
				cf->field, (unsigned int)(hi), why);
	ATTR_LIMIT(max_emitters, POOTER_EMITTERS_MAX, "");
	ATTR_LIMIT(max_consumers, POOTER_CONSUMERS_MAX, "");
	ATTR_LIMIT(max_payload, ZK_PAYLOAD_MAX,
		   " of a zk:// broker (ZooKeeper's 1 MiB request limit)");
	ATTR_LIMIT(depth, POOTER_DEPTH_MAX, "");
	ATTR_LIMIT(timeout_ms, POOTER_TIMEOUT_MAX_MS, "");
	ATTR_LIMIT(quorum, cf->max_emitters, "");
	ATTR_LIMIT(mode, 07777, "");
#undef ATTR_LIMIT
	return 0;
}

/* Create each ancestor of path that is missing (ignoring races). */
static int make_parents(struct zk_broker *b)
{
	char part[ZK_PATH_MAX];
	const char *s = b->path;

	while ((s = strchr(s + 1, '/'))) {
		struct zk_req *r;
		int err;

		memcpy(part, b->path, (size_t)(s - b->path));
		part[s - b->path] = '\0';
		/* the path is a namespace others share: open, as a dir */
		r = zr_create(&b->conn, part, NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
			      ZOO_PERSISTENT);
		err = zr_wait(&b->conn, r);
		if (err)
			return err;
		err = zc_errno(r->rc);
		zr_free(r);
		if (err && err != -EEXIST && err != -EACCES)
			return zk_error(err, "%s: creating %s: %s", b->url,
					part, strerror(-err));
	}
	return 0;
}

static int zk_create(const char *url, const struct pooter_broker_attr *attr,
		     const struct pooter_url_opts *opts,
		     struct pooter_broker **brokerp)
{
	static const char *const dirs[] = { "/r", "/m", "/e",
					    "/k", "/c", "/clock" };
	char paths[8][ZK_PATH_MAX], cfg[256], state[512];
	struct zk_state st = { 0 };
	struct zk_broker *b;
	zoo_op_t ops[8];
	struct zk_req *r;
	struct zk_config cf;
	int err, n = 0;

	if (!url)
		return zk_error(-EINVAL,
				"a zk:// broker needs a name in its URL");
	err = attr_get(attr, &cf);
	if (err)
		return err;
	err = broker_new(url, opts, true, &b);
	if (err)
		return err;
	b->cf = cf;
	broker_acl(b, cf.mode);
	err = make_parents(b);
	if (err)
		goto fail;
	zt_config_format(cfg, sizeof(cfg), &cf);
	zt_state_format(state, sizeof(state), &st);
	zoo_create_op_init(&ops[n++], b->path, cfg, (int)strlen(cfg), b->acl,
			   ZOO_PERSISTENT, NULL, 0);
	zp(b, paths[0], "/state");
	zoo_create_op_init(&ops[n++], paths[0], state, (int)strlen(state),
			   b->acl, ZOO_PERSISTENT, NULL, 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		zp(b, paths[i + 1], "%s", dirs[i]);
		zoo_create_op_init(&ops[n++], paths[i + 1], NULL, -1, b->acl,
				   ZOO_PERSISTENT, NULL, 0);
	}
	r = zr_multi(&b->conn, n, ops);
	err = zr_wait(&b->conn, r);
	if (err)
		goto fail;
	err = zc_errno(r->rc);
	zr_free(r);
	if (err == -EEXIST)
		err = zk_error(-EEXIST, "%s: broker exists", url);
	else if (err == -ENOENT)
		err = zk_error(-EACCES,
			       "%s: its parent vanished or may not be "
			       "created (ACL)",
			       url);
	else if (err)
		err = zk_error(err, "%s: creating the broker failed: %s", url,
			       strerror(-err));
	if (err)
		goto fail;
	zc_keep(&b->conn);
	*brokerp = (struct pooter_broker *)b;
	return 0;
fail:
	broker_free(b);
	return err;
}

static int broker_read_config(struct zk_broker *b)
{
	struct zk_req *r = zr_get(&b->conn, b->path, false);
	int err = zr_wait(&b->conn, r);

	if (err)
		return err;
	err = req_err(b, r, "opening");
	if (!err && zt_config_parse(r->data, r->len, &b->cf))
		err = zk_error(-EPROTO,
			       "%s: not a pooter broker (or another "
			       "version of its layout)",
			       b->url);
	zr_free(r);
	return err;
}

static int zk_open(const char *url, const struct pooter_url_opts *opts,
		   struct pooter_broker **brokerp)
{
	struct zk_broker *b;
	struct zk_state st;
	int err;

	err = broker_new(url, opts, true, &b);
	if (err)
		return err;
	err = broker_read_config(b);
	if (!err)
		err = zk_read_state(&b->conn, b, &st);
	if (err) {
		broker_free(b);
		return err;
	}
	broker_acl(b, b->cf.mode);
	zc_keep(&b->conn);
	*brokerp = (struct pooter_broker *)b;
	return 0;
}

/* Delete path and everything under it; -ENOENT if it is not there. */
static int delete_tree(struct zk_conn *c, const char *path, int depth)
{
	struct zk_req *r;
	int err;

	for (int tries = 0; tries < 8; tries++) {
		r = zr_children(c, path, false);
		err = zr_wait(c, r);
		if (err)
			return err;
		err = zc_errno(r->rc);
		for (int i = 0; !err && i < r->kids.count && depth < 8; i++) {
			char sub[ZK_PATH_MAX * 2];

			if (snprintf(sub, sizeof(sub), "%s/%s", path,
				     r->kids.data[i]) >= (int)sizeof(sub))
				continue; /* no such path: not ours to delete */
			err = delete_tree(c, sub, depth + 1);
			if (err == -ENOENT)
				err = 0;
		}
		zr_free(r);
		if (err)
			return err;
		r = zr_delete(c, path, -1);
		err = zr_wait(c, r);
		if (err)
			return err;
		err = zc_errno(r->rc);
		zr_free(r);
		if (err != -ENOTEMPTY)
			return err;
	}
	return -ENOTEMPTY;
}

static int zk_unlink(const char *url, const struct pooter_url_opts *opts)
{
	struct zk_broker *b;
	int err;

	err = broker_new(url, opts, true, &b);
	if (err)
		return err;
	err = broker_read_config(b);
	if (!err) {
		err = delete_tree(&b->conn, b->path, 0);
		if (err == -ENOENT)
			err = zk_error(-ENOENT, "%s: no such broker", url);
		else if (err)
			err = zk_error(err, "%s: removing it failed: %s", url,
				       strerror(-err));
	}
	broker_free(b);
	return err;
}

static int zk_list(const char *url, const struct pooter_url_opts *opts,
		   int (*cb)(const char *name, void *arg), void *arg)
{
	struct zk_broker *b;
	struct zk_req *r, **data = NULL;
	int err, ret = 0;

	err = broker_new(url, opts, false, &b);
	if (err)
		return err;
	r = zr_children(&b->conn, b->path[0] ? b->path : "/", false);
	err = zr_wait(&b->conn, r);
	if (err)
		goto out;
	err = req_err(b, r, "listing");
	if (err == -ENOENT)
		err = 0; /* nothing there: no brokers */
	if (err || !r->kids.count)
		goto out_r;
	data = calloc((size_t)r->kids.count, sizeof(*data));
	if (!data) {
		err = -ENOMEM;
		goto out_r;
	}
	for (int i = 0; i < r->kids.count; i++) {
		char path[ZK_PATH_MAX * 2];

		snprintf(path, sizeof(path), "%s/%s", b->path, r->kids.data[i]);
		data[i] = zr_get(&b->conn, path, false);
	}
	for (int i = 0; i < r->kids.count; i++) {
		struct zk_config cf;

		err = zr_wait(&b->conn, data[i]);
		if (err) {
			data[i] = NULL;
			continue;
		}
		if (!ret && data[i]->rc == ZOK &&
		    !zt_config_parse(data[i]->data, data[i]->len, &cf) &&
		    !zk_host->name_check(r->kids.data[i]))
			ret = cb(r->kids.data[i], arg);
		zr_free(data[i]);
		data[i] = NULL;
	}
	err = ret;
	free(data);
out_r:
	zr_free(r);
out:
	broker_free(b);
	return err;
}

static int zk_check(const char *name,
		    void (*report)(const char *problem, void *arg), void *arg)
{
	return zk_error(-EOPNOTSUPP,
			"%s: a zk:// broker has no segment to check (the "
			"ensemble keeps its data consistent)",
			name);
}

/* --- a broker handle -------------------------------------------------------- */

static void zk_close(struct pooter_broker *pb)
{
	broker_free(zkb(pb));
}

static const char *zk_broker_name(const struct pooter_broker *pb)
{
	return zkb(pb)->name;
}

static int zk_set_timeout(struct pooter_broker *pb, unsigned int timeout_ms)
{
	struct zk_broker *b = zkb(pb);

	if (!timeout_ms || timeout_ms > POOTER_TIMEOUT_MAX_MS)
		return zk_error(-EINVAL, "timeout %u ms out of range 1..%u",
				timeout_ms, POOTER_TIMEOUT_MAX_MS);
	for (;;) {
		struct zk_req *r = zr_get(&b->conn, b->path, false);
		char cfg[256];
		int err = zr_wait(&b->conn, r), version;

		if (err)
			return err;
		err = req_err(b, r, "reading the broker");
		if (!err && zt_config_parse(r->data, r->len, &b->cf))
			err = zk_error(-EPROTO, "%s: not a pooter broker",
				       b->url);
		version = r->stat.version;
		zr_free(r);
		if (err)
			return err;
		b->cf.timeout_ms = timeout_ms;
		zt_config_format(cfg, sizeof(cfg), &b->cf);
		r = zr_set(&b->conn, b->path, cfg, (int)strlen(cfg), version);
		err = zr_wait(&b->conn, r);
		if (err)
			return err;
		err = zc_errno(r->rc);
		if (err && err != -ESTALE && err != -ENOTCONN)
			err = req_err(b, r, "setting the timeout");
		zr_free(r);
		if (!err)
			return 0;
		if (err != -ESTALE && err != -ENOTCONN)
			return err;
		if (err == -ENOTCONN && (err = zc_wait_connected(&b->conn)))
			return err;
	}
}

/* Everything stat and foreach_member read, at once. */
struct snapshot {
	struct zk_state st;
	struct zk_round rd;
	bool have_round;
	struct zk_req *emitters, *consumers, *emitted, **cursors;
	struct zk_cursor *cur;
	int ncur;
};

static void snapshot_free(struct snapshot *s)
{
	zr_free(s->emitters);
	zr_free(s->consumers);
	zr_free(s->emitted);
	free(s->cursors);
	free(s->cur);
	zk_round_free(&s->rd);
}

static int snapshot_take(struct zk_broker *b, struct snapshot *s)
{
	struct zk_conn *c = &b->conn;
	char path[ZK_PATH_MAX];
	int err;

	memset(s, 0, sizeof(*s));
	err = zk_enforce(c, b);
	if (!err)
		err = broker_read_config(b);
	if (!err)
		err = zk_read_state(c, b, &s->st);
	if (err)
		return err;
	if (s->st.round) {
		err = zk_read_round(c, b, s->st.round, &s->rd);
		if (err && err != -ENOENT)
			return err;
		s->have_round = !err;
	}
	zp(b, path, "/e");
	s->emitters = zr_children(c, path, false);
	zp(b, path, "/k");
	s->consumers = zr_children(c, path, false);
	if (s->have_round) {
		zp_round(b, path, s->st.round);
		s->emitted = zr_children(c, path, false);
	}
	{
		struct zk_req *rs[3] = { s->emitters, s->consumers,
					 s->emitted };

		err = zr_wait_all(c, rs, s->emitted ? 3 : 2);
		if (err) {
			/* freed or abandoned, every one */
			s->emitters = s->consumers = s->emitted = NULL;
			return err;
		}
	}
	if (s->emitters->rc || s->consumers->rc ||
	    (s->emitted && s->emitted->rc))
		return zk_error(-ENOENT, "%s: the broker is gone", b->url);
	s->ncur = s->consumers->kids.count;
	s->cursors = calloc((size_t)s->ncur + 1, sizeof(*s->cursors));
	s->cur = calloc((size_t)s->ncur + 1, sizeof(*s->cur));
	if (!s->cursors || !s->cur)
		return -ENOMEM;
	for (int i = 0; i < s->ncur; i++) {
		zp(b, path, "/c/%s", s->consumers->kids.data[i]);
		s->cursors[i] = zr_get(c, path, false);
	}
	err = zr_wait_all(c, s->cursors, s->ncur);
	if (err)
		return err;
	for (int i = 0; i < s->ncur; i++) {
		struct zk_req *r = s->cursors[i];

		if (!err && r->rc != ZOK && r->rc != ZNONODE)
			err = zc_errno(r->rc);
		else if (!err && r->rc == ZOK &&
			 zt_cursor_parse(r->data, r->len, &s->cur[i]))
			err = zk_error(-EPROTO, "%s: a cursor is not pooter's",
				       b->url);
		zr_free(r);
		s->cursors[i] = NULL;
	}
	return err;
}

static int zk_stat(struct pooter_broker *pb, struct pooter_broker_stat *st)
{
	struct zk_broker *b = zkb(pb);
	struct snapshot s;
	uint64_t most = 0;
	int err;

	err = snapshot_take(b, &s);
	if (err)
		goto out;
	memset(st, 0, sizeof(*st));
	st->max_emitters = b->cf.max_emitters;
	st->max_consumers = b->cf.max_consumers;
	st->max_payload = b->cf.max_payload;
	st->depth = b->cf.depth;
	st->quorum = b->cf.quorum;
	st->timeout_ms = b->cf.timeout_ms;
	st->segment_size = 0;
	st->emitters = (unsigned int)s.emitters->kids.count;
	st->consumers = (unsigned int)s.consumers->kids.count;
	st->round = s.st.round;
	st->round_state = !s.st.round ? POOTER_ROUND_NONE :
			  s.st.open   ? POOTER_ROUND_OPEN :
					POOTER_ROUND_CLOSED;
	if (s.have_round) {
		char clock[ZK_PATH_MAX];
		int64_t zk_now;

		st->round_outcome = s.rd.open ? 0 : s.rd.outcome;
		zp(b, clock, "/clock");
		if (b->conn.clock_rtt_ns == UINT64_MAX)
			zc_clock_now(&b->conn, clock, &zk_now);
		st->round_opened_ns = zc_local_ns(&b->conn, s.rd.ctime_ms);
		st->round_deadline_ns =
			zc_local_ns(&b->conn, s.rd.ctime_ms + s.rd.timeout_ms);
		st->round_participants = s.rd.nparts;
		st->round_emitted = (unsigned int)s.emitted->kids.count;
		st->round_fixed = s.rd.fixed;
	}
	st->rounds_opened = s.st.opened;
	st->rounds_resolved = s.st.resolved;
	st->rounds_timedout = s.st.timedout;
	st->rounds_cancelled = s.st.cancelled;
	st->rounds_ownerdead = s.st.ownerdead;
	st->emits = s.st.emits;
	if (s.have_round && s.st.folded < s.st.round)
		st->emits += (uint64_t)s.emitted->kids.count;
	st->deliveries = s.st.deliveries;
	for (int i = 0; i < s.ncur; i++) {
		uint64_t due = zt_due(&s.st, s.cur[i].notices);

		st->deliveries += s.cur[i].delivered;
		if (due > s.cur[i].acked && due - s.cur[i].acked > most)
			most = due - s.cur[i].acked;
	}
	st->records_free =
		most >= b->cf.depth ? 0 : b->cf.depth - (unsigned int)most;
out:
	snapshot_free(&s);
	return err;
}

static int zk_foreach_member(struct pooter_broker *pb,
			     int (*cb)(const struct pooter_member_info *m,
				       void *arg),
			     void *arg)
{
	struct zk_broker *b = zkb(pb);
	struct snapshot s;
	int err, ret = 0;

	err = snapshot_take(b, &s);
	if (err)
		goto out;
	for (int i = 0; !ret && i < s.emitters->kids.count; i++) {
		struct pooter_member_info m = { .kind = POOTER_MEMBER_EMITTER };
		const char *name = s.emitters->kids.data[i];

		m.slot = (unsigned int)i;
		snprintf(m.name, sizeof(m.name), "%s", name);
		m.alive = 1; /* its session holds its node */
		if (s.have_round && s.rd.open) {
			m.participant = zt_round_find(&s.rd, name) >= 0;
			m.emitted = zt_in(&s.emitted->kids, name);
		}
		ret = cb(&m, arg);
	}
	for (int i = 0; !ret && i < s.consumers->kids.count; i++) {
		struct pooter_member_info m = { .kind = POOTER_MEMBER_CONSUMER };
		uint64_t due = zt_due(&s.st, s.cur[i].notices);

		m.slot = (unsigned int)i;
		snprintf(m.name, sizeof(m.name), "%s",
			 s.consumers->kids.data[i]);
		m.alive = 1;
		m.notices = s.cur[i].notices;
		m.pending = due > s.cur[i].acked ?
				    (unsigned int)(due - s.cur[i].acked) :
				    0;
		m.delivered = s.cur[i].delivered;
		ret = cb(&m, arg);
	}
	err = ret;
out:
	snapshot_free(&s);
	return err;
}

static int zk_foreach_record(struct pooter_broker *pb,
			     int (*cb)(const struct pooter_record_info *r,
				       void *arg),
			     void *arg)
{
	return zk_error(-EOPNOTSUPP,
			"%s: a zk:// broker has no ring records to list",
			zkb(pb)->url);
}

/* Reap the cursors of consumers whose sessions ended; how many. */
static int zk_gc(struct pooter_broker *pb)
{
	struct zk_broker *b = zkb(pb);
	struct zk_conn *c = &b->conn;
	char path[ZK_PATH_MAX];
	struct zk_req *cur, *live;
	struct zk_state st;
	int err, n = 0;

	err = zk_enforce(c, b);
	if (err)
		return err;
	zp(b, path, "/c");
	cur = zr_children(c, path, false);
	zp(b, path, "/k");
	live = zr_children(c, path, false);
	{
		struct zk_req *rs[2] = { cur, live };

		if ((err = zr_wait_all(c, rs, 2)))
			return err; /* freed or abandoned, both */
	}
	if (cur->rc || live->rc) {
		err = zk_error(-ENOENT, "%s: the broker is gone", b->url);
		goto out;
	}
	for (int i = 0; i < cur->kids.count; i++) {
		if (zt_in(&live->kids, cur->kids.data[i]))
			continue;
		err = zk_read_state(c, b, &st);
		if (!err)
			err = zk_reap_cursor(c, b, cur->kids.data[i], &st);
		if (err == -ENOENT || err == -ESTALE || err == -ENOTCONN) {
			err = 0;
			continue;
		}
		if (err)
			goto out;
		n++;
	}
	err = n;
out:
	zr_free(cur);
	zr_free(live);
	return err;
}

/* --- the table ------------------------------------------------------------- */

static int zk_uring_supported(void)
{
	return 0; /* POLL_ADD on an eventfd: io_uring's oldest operation */
}

/*
 * Every call on a handle holds its session's lock, which the keeper
 * (conn.c) only ever tries: the handle's own thread drives its session.
 */
#define LOCKED(ret, fn, conn, params, args)      \
	static ret fn##_locked params            \
	{                                        \
		struct zk_conn *c_ = (conn);     \
		ret r_;                          \
                                                 \
		if ((r_ = zc_mine(c_)))          \
			return r_;               \
		pthread_mutex_lock(&c_->lock);   \
		r_ = c_->zh ? 0 : zc_reopen(c_); \
		if (!r_)                         \
			r_ = fn args;            \
		pthread_mutex_unlock(&c_->lock); \
		return r_;                       \
	}

#define EM(p) (&((struct zk_emitter *)(p))->conn)
#define CS(p) (&((struct zk_consumer *)(p))->conn)

static int zk_emitter_join_mine(struct pooter_broker *b, const char *name,
				unsigned int flags,
				struct pooter_emitter **emitterp)
{
	int err = zc_mine(&zkb(b)->conn);

	return err ? err : zk_emitter_join(b, name, flags, emitterp);
}

static int zk_consumer_join_mine(struct pooter_broker *b, const char *name,
				 unsigned int flags,
				 struct pooter_consumer **consumerp)
{
	int err = zc_mine(&zkb(b)->conn);

	return err ? err : zk_consumer_join(b, name, flags, consumerp);
}

LOCKED(int, zk_set_timeout, &zkb(b)->conn,
       (struct pooter_broker * b, unsigned int ms), (b, ms))
LOCKED(int, zk_stat, &zkb(b)->conn,
       (struct pooter_broker * b, struct pooter_broker_stat *st), (b, st))
LOCKED(int, zk_gc, &zkb(b)->conn, (struct pooter_broker * b), (b))
LOCKED(int, zk_foreach_member, &zkb(b)->conn,
       (struct pooter_broker * b,
	int (*cb)(const struct pooter_member_info *m, void *arg), void *arg),
       (b, cb, arg))
LOCKED(int, zk_cancel, &zkb(b)->conn, (struct pooter_broker * b), (b))
LOCKED(int, zk_contribute, EM(em),
       (struct pooter_emitter * em, const void *payload, size_t len,
	bool wait_space, struct pooter_ticket *t),
       (em, payload, len, wait_space, t))
LOCKED(int, zk_outcome_wait, EM(t->emitter), (struct pooter_ticket * t), (t))
LOCKED(int, zk_consume, CS(c),
       (struct pooter_consumer * c, int timeout_ms,
	const struct pooter_delivery **dp),
       (c, timeout_ms, dp))
LOCKED(int, zk_release, CS(c),
       (struct pooter_consumer * c, const struct pooter_delivery *d), (c, d))
LOCKED(int, zk_prep_round_wait, EM(t->emitter),
       (struct io_uring * ring, struct pooter_ticket *t, uint64_t ud),
       (ring, t, ud))
LOCKED(int, zk_round_complete, EM(t->emitter),
       (struct io_uring * ring, struct pooter_ticket *t,
	const struct io_uring_cqe *cqe),
       (ring, t, cqe))
LOCKED(int, zk_prep_consume_wait, CS(c),
       (struct io_uring * ring, struct pooter_consumer *c, int ms, uint64_t ud),
       (ring, c, ms, ud))
LOCKED(int, zk_consume_complete, CS(c),
       (struct io_uring * ring, struct pooter_consumer *c,
	const struct io_uring_cqe *cqe, const struct pooter_delivery **dp),
       (ring, c, cqe, dp))
LOCKED(int, zk_prep_space_wait, EM(em),
       (struct io_uring * ring, struct pooter_emitter *em, int ms, uint64_t ud),
       (ring, em, ms, ud))
LOCKED(int, zk_space_complete, EM(em),
       (struct io_uring * ring, struct pooter_emitter *em,
	const struct io_uring_cqe *cqe),
       (ring, em, cqe))

const struct backend_ops zk_backend = {
	.name = "zk",

	.create = zk_create,
	.open = zk_open,
	.unlink = zk_unlink,
	.list = zk_list,
	.check = zk_check,

	.close = zk_close,
	.broker_name = zk_broker_name,
	.set_timeout = zk_set_timeout_locked,
	.stat = zk_stat_locked,
	.gc = zk_gc_locked,
	.foreach_member = zk_foreach_member_locked,
	.foreach_record = zk_foreach_record,
	.cancel = zk_cancel_locked,

	.emitter_join = zk_emitter_join_mine,
	.emitter_name = zk_emitter_name,
	.emitter_leave = zk_emitter_leave,
	.consumer_join = zk_consumer_join_mine,
	.consumer_name = zk_consumer_name,
	.consumer_leave = zk_consumer_leave,

	.contribute = zk_contribute_locked,
	.outcome_wait = zk_outcome_wait_locked,
	/* no loans: a payload travels in a request anyway */
	.consume = zk_consume_locked,
	.release = zk_release_locked,

	.uring_supported = zk_uring_supported,
	.prep_round_wait = zk_prep_round_wait_locked,
	.round_complete = zk_round_complete_locked,
	.prep_consume_wait = zk_prep_consume_wait_locked,
	.consume_complete = zk_consume_complete_locked,
	.prep_space_wait = zk_prep_space_wait_locked,
	.space_complete = zk_space_complete_locked,
};

/* The plugin's one exported name (backend.h). */
__attribute__((visibility("default"))) const struct backend_ops *
pooter_backend_zk_v1(const struct backend_host *host)
{
	if (!host || host->version != BACKEND_HOST_VERSION)
		return NULL;
	zk_host = host;
	/* the client's log is the application's stderr: quiet, unless asked */
	if (!getenv("POOTER_ZK_LOG")) {
		static FILE *null;

		if (!null)
			null = fopen("/dev/null", "w");
		if (null)
			zoo_set_log_stream(null);
		zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
	}
	return &zk_backend;
}
