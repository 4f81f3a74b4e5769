/* SPDX-License-Identifier: MIT */
/*
 * api.c - the public calls: each checks its arguments, finds the backend
 * (by name, or from the handle: backend.h), and calls through the table.
 * Layer 3, the top: nothing here knows how a backend keeps its rounds.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "base.h"
#include "error.h"
#include "name.h"

#define return_if_null(p, what)                                     \
	do {                                                        \
		if (!(p))                                           \
			return set_error(-EINVAL, what " is NULL"); \
	} while (0)

/* --- plugins: backends in libraries of their own (backend.h) ---------- */

static const struct backend_host plugin_host = {
	.version = BACKEND_HOST_VERSION,
	.set_error = set_error,
	.clear_error = clear_error,
	.name_check = name_check,
	.name_generate = name_generate,
};

struct plugin {
	const char *scheme;  /* "zk" */
	const char *package; /* the Debian package that ships it */
	pthread_mutex_t lock;
	const struct backend_ops *ops; /* once loaded: never unloaded */
};

static struct plugin plugins[] = {
	{ .scheme = "zk",
	  .package = "libpooter-zk0",
	  .lock = PTHREAD_MUTEX_INITIALIZER },
};

/* dlopen() the first of: $POOTER_PLUGIN_DIR/lib, next to us, by soname. */
static void *plugin_dlopen(const char *lib, char *why, size_t whylen)
{
	const char *dir = secure_getenv("POOTER_PLUGIN_DIR");
	char path[PATH_MAX];
	Dl_info self;
	void *h;

	if (dir) {
		snprintf(path, sizeof(path), "%s/%s", dir, lib);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(why, whylen, "%s", dlerror());
		return h;
	}
	if (dladdr((void *)plugin_dlopen, &self) && self.dli_fname &&
	    strchr(self.dli_fname, '/')) {
		const char *slash = strrchr(self.dli_fname, '/');

		snprintf(path, sizeof(path), "%.*s/%s",
			 (int)(slash - self.dli_fname), self.dli_fname, lib);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		snprintf(why, whylen, "%s", dlerror());
	return h;
}

static int plugin_load(struct plugin *p, const char *name,
		       const struct backend_ops **opsp)
{
	const struct backend_ops *(*entry)(const struct backend_host *);
	char lib[64], sym[64], why[512] = "";
	int err = 0;
	void *h;

	pthread_mutex_lock(&p->lock);
	if (p->ops)
		goto out;
	snprintf(lib, sizeof(lib), "libpooter-%s.so.0", p->scheme);
	h = plugin_dlopen(lib, why, sizeof(why));
	if (!h) {
		err = set_error(-EPROTONOSUPPORT,
				"broker %s: the %s:// backend is not installed "
				"(%s, package %s): %s",
				name, p->scheme, lib, p->package, why);
		goto out;
	}
	if (!strcmp(p->scheme, "zk"))
		snprintf(sym, sizeof(sym), "%s", BACKEND_PLUGIN_ENTRY("zk"));
	*(void **)&entry = dlsym(h, sym);
	p->ops = entry ? entry(&plugin_host) : NULL;
	if (!p->ops) {
		err = set_error(-EPROTONOSUPPORT,
				"broker %s: %s is not a pooter %s:// backend "
				"for this libpooter (no %s, or another "
				"version): reinstall %s",
				name, lib, p->scheme, sym, p->package);
		dlclose(h);
	}
out:
	if (!err)
		*opsp = p->ops;
	pthread_mutex_unlock(&p->lock);
	return err;
}

/*
 * The backend of a broker name, and the name it knows the broker by: a plain
 * name, NULL or "shm:NAME" is shm's (NAME), "SCHEME://..." the plugin's (the
 * whole URL).
 */
static int backend_of(const char *name, const struct backend_ops **opsp,
		      const char **restp)
{
	const char *sep = name ? strstr(name, "://") : NULL;
	size_t i;

	*restp = name;
	if (name && !strncmp(name, "shm:", 4) && !sep) {
		*restp = name + 4;
		*opsp = &shm_backend;
		return 0;
	}
	if (!sep) {
		*opsp = &shm_backend;
		return 0;
	}
	for (i = 0; i < sizeof(plugins) / sizeof(plugins[0]); i++)
		if ((size_t)(sep - name) == strlen(plugins[i].scheme) &&
		    !strncmp(name, plugins[i].scheme, sep - name))
			return plugin_load(&plugins[i], name, opsp);
	return set_error(-EPROTONOSUPPORT,
			 "broker %s: no backend for the scheme %.*s:// "
			 "(there are shm:NAME and zk://HOSTS/PATH/NAME)",
			 name, (int)(sep - name), name);
}

/*
 * Options say their size (libbpf-style, as the attr does): a newer caller's
 * fields past the ones this library knows must be zero.
 */
static int url_opts_check(const struct pooter_url_opts *opts)
{
	if (!opts)
		return 0;
	if (opts->sz < offsetofend(struct pooter_url_opts, auth))
		return set_error(-EINVAL,
				 "pooter_url_opts.sz is %zu: use POOTER_OPTS",
				 opts->sz);
	for (size_t i = offsetofend(struct pooter_url_opts, auth); i < opts->sz;
	     i++)
		if (((const char *)opts)[i])
			return set_error(-EINVAL,
					 "pooter_url_opts has fields this "
					 "library does not know (sz %zu)",
					 opts->sz);
	if (!opts->auth != !opts->auth_scheme)
		return set_error(-EINVAL,
				 "pooter_url_opts: auth and auth_scheme go "
				 "together (e.g. \"digest\", \"user:secret\")");
	return 0;
}

/* --- brokers ------------------------------------------------------------ */

POOTER_API int pooter_broker_create_url(const char *url,
					const struct pooter_broker_attr *attr,
					const struct pooter_url_opts *opts,
					struct pooter_broker **brokerp)
{
	const struct backend_ops *ops;
	const char *name;
	int err;

	clear_error();
	return_if_null(brokerp, "brokerp");
	err = url_opts_check(opts);
	if (!err)
		err = backend_of(url, &ops, &name);
	return err ? err : ops->create(name, attr, opts, brokerp);
}

POOTER_API int pooter_broker_create(const char *name,
				    const struct pooter_broker_attr *attr,
				    struct pooter_broker **brokerp)
{
	return pooter_broker_create_url(name, attr, NULL, brokerp);
}

POOTER_API int pooter_broker_open_url(const char *url,
				      const struct pooter_url_opts *opts,
				      struct pooter_broker **brokerp)
{
	const struct backend_ops *ops;
	const char *name;
	int err;

	clear_error();
	return_if_null(brokerp, "brokerp");
	return_if_null(url, "name");
	err = url_opts_check(opts);
	if (!err)
		err = backend_of(url, &ops, &name);
	return err ? err : ops->open(name, opts, brokerp);
}

POOTER_API int pooter_broker_open(const char *name,
				  struct pooter_broker **brokerp)
{
	return pooter_broker_open_url(name, NULL, brokerp);
}

POOTER_API void pooter_broker_close(struct pooter_broker *b)
{
	if (b)
		broker_ops(b)->close(b);
}

POOTER_API int pooter_broker_unlink_url(const char *url,
					const struct pooter_url_opts *opts)
{
	const struct backend_ops *ops;
	const char *name;
	int err;

	clear_error();
	return_if_null(url, "name");
	err = url_opts_check(opts);
	if (!err)
		err = backend_of(url, &ops, &name);
	return err ? err : ops->unlink(name, opts);
}

POOTER_API int pooter_broker_unlink(const char *name)
{
	return pooter_broker_unlink_url(name, NULL);
}

POOTER_API int
pooter_broker_check(const char *name,
		    void (*report)(const char *problem, void *arg), void *arg)
{
	const struct backend_ops *ops;
	int err;

	clear_error();
	return_if_null(name, "name");
	err = backend_of(name, &ops, &name);
	return err ? err : ops->check(name, report, arg);
}

/* The brokers of this machine: the shm backend's (others list their own). */
POOTER_API int pooter_broker_foreach(int (*cb)(const char *name, void *arg),
				     void *arg)
{
	if (!cb)
		return -EINVAL;
	return shm_backend.list(NULL, NULL, cb, arg);
}

POOTER_API int pooter_broker_foreach_url(const char *url,
					 const struct pooter_url_opts *opts,
					 int (*cb)(const char *name, void *arg),
					 void *arg)
{
	const struct backend_ops *ops;
	const char *rest;
	int err;

	clear_error();
	if (!url || !cb)
		return set_error(-EINVAL, "url or cb is NULL");
	err = url_opts_check(opts);
	if (!err)
		err = backend_of(url, &ops, &rest);
	if (err)
		return err;
	if (ops == &shm_backend && *rest)
		return set_error(-EINVAL,
				 "%s: list shm brokers with \"shm:\" (a "
				 "segment has no path)",
				 url);
	return ops->list(ops == &shm_backend ? NULL : rest, opts, cb, arg);
}

POOTER_API const char *pooter_broker_name(const struct pooter_broker *b)
{
	return b ? broker_ops(b)->broker_name(b) : NULL;
}

POOTER_API int pooter_broker_set_timeout(struct pooter_broker *b,
					 unsigned int timeout_ms)
{
	return_if_null(b, "broker");
	return broker_ops(b)->set_timeout(b, timeout_ms);
}

POOTER_API int pooter_broker_stat(struct pooter_broker *b,
				  struct pooter_broker_stat *st)
{
	return_if_null(b, "broker");
	return_if_null(st, "stat");
	return broker_ops(b)->stat(b, st);
}

POOTER_API int pooter_broker_gc(struct pooter_broker *b)
{
	return_if_null(b, "broker");
	return broker_ops(b)->gc(b);
}

POOTER_API int pooter_broker_foreach_member(
	struct pooter_broker *b,
	int (*cb)(const struct pooter_member_info *m, void *arg), void *arg)
{
	if (!b || !cb)
		return -EINVAL;
	return broker_ops(b)->foreach_member(b, cb, arg);
}

POOTER_API int pooter_broker_foreach_record(
	struct pooter_broker *b,
	int (*cb)(const struct pooter_record_info *r, void *arg), void *arg)
{
	if (!b || !cb)
		return -EINVAL;
	return broker_ops(b)->foreach_record(b, cb, arg);
}

POOTER_API int pooter_round_cancel(struct pooter_broker *b)
{
	return_if_null(b, "broker");
	return broker_ops(b)->cancel(b);
}

/* --- members ------------------------------------------------------------ */

POOTER_API int pooter_emitter_join(struct pooter_broker *b, const char *name,
				   unsigned int flags,
				   struct pooter_emitter **emitterp)
{
	if (!b || !emitterp || (flags & ~POOTER_JOIN_WAIT))
		return set_error(-EINVAL, "invalid argument to emitter_join");
	return broker_ops(b)->emitter_join(b, name, flags, emitterp);
}

POOTER_API const char *pooter_emitter_name(const struct pooter_emitter *em)
{
	return em ? member_ops(em)->emitter_name(em) : NULL;
}

POOTER_API int pooter_emitter_leave(struct pooter_emitter *em)
{
	if (!em)
		return -EINVAL;
	return member_ops(em)->emitter_leave(em);
}

POOTER_API int pooter_consumer_join(struct pooter_broker *b, const char *name,
				    unsigned int flags,
				    struct pooter_consumer **consumerp)
{
	if (!b || !consumerp || (flags & ~POOTER_CONSUMER_NOTICES))
		return set_error(-EINVAL, "invalid argument to consumer_join");
	return broker_ops(b)->consumer_join(b, name, flags, consumerp);
}

POOTER_API const char *pooter_consumer_name(const struct pooter_consumer *c)
{
	return c ? member_ops(c)->consumer_name(c) : NULL;
}

POOTER_API int pooter_consumer_leave(struct pooter_consumer *c)
{
	if (!c)
		return -EINVAL;
	return member_ops(c)->consumer_leave(c);
}

/* --- rounds and deliveries ---------------------------------------------- */

POOTER_API int pooter_emit(struct pooter_emitter *em, const void *payload,
			   size_t len, uint64_t *roundp)
{
	const struct backend_ops *ops;
	struct pooter_ticket t;
	int err;

	if (!em || (!payload && len))
		return set_error(-EINVAL, "emitter or payload is NULL");
	ops = member_ops(em);
	err = ops->contribute(em, payload, len, true, &t);
	if (err)
		return err;
	if (roundp)
		*roundp = t.round;
	return ops->outcome_wait(&t);
}

POOTER_API int pooter_emit_submit(struct pooter_emitter *em,
				  const void *payload, size_t len,
				  struct pooter_ticket *t)
{
	if (!em || !t || (!payload && len))
		return set_error(-EINVAL, "emitter, payload or ticket is NULL");
	return member_ops(em)->contribute(em, payload, len, false, t);
}

/* Loans are optional for a backend (backend.h). */
static int loan_unsupported(const struct backend_ops *ops)
{
	return set_error(-EOPNOTSUPP, "the %s backend lends no buffers",
			 ops->name);
}

POOTER_API int pooter_emit_loan(struct pooter_emitter *em, size_t len,
				unsigned int flags, void **bufp)
{
	const struct backend_ops *ops;

	if (!em || !bufp || (flags & ~POOTER_LOAN_NOWAIT))
		return set_error(-EINVAL, "invalid argument to emit_loan");
	ops = member_ops(em);
	if (!ops->emit_loan)
		return loan_unsupported(ops);
	return ops->emit_loan(em, len, flags, bufp);
}

POOTER_API int pooter_emit_commit(struct pooter_emitter *em, const void *buf,
				  size_t len, uint64_t *roundp)
{
	const struct backend_ops *ops;
	struct pooter_ticket t;
	int err;

	if (!em || !buf)
		return set_error(-EINVAL, "emitter or loan is NULL");
	ops = member_ops(em);
	if (!ops->emit_commit)
		return loan_unsupported(ops);
	err = ops->emit_commit(em, buf, len, &t);
	if (err)
		return err;
	if (roundp)
		*roundp = t.round;
	return ops->outcome_wait(&t);
}

POOTER_API int pooter_emit_commit_submit(struct pooter_emitter *em,
					 const void *buf, size_t len,
					 struct pooter_ticket *t)
{
	const struct backend_ops *ops;

	if (!em || !buf || !t)
		return set_error(-EINVAL, "emitter, loan or ticket is NULL");
	ops = member_ops(em);
	if (!ops->emit_commit)
		return loan_unsupported(ops);
	return ops->emit_commit(em, buf, len, t);
}

POOTER_API int pooter_emit_abort(struct pooter_emitter *em, const void *buf)
{
	const struct backend_ops *ops;

	if (!em || !buf)
		return set_error(-EINVAL, "emitter or loan is NULL");
	ops = member_ops(em);
	if (!ops->emit_abort)
		return loan_unsupported(ops);
	return ops->emit_abort(em, buf);
}

POOTER_API int pooter_ticket_wait(struct pooter_ticket *t)
{
	if (!t || !t->emitter)
		return set_error(-EINVAL, "ticket is NULL or empty");
	return member_ops(t->emitter)->outcome_wait(t);
}

POOTER_API int pooter_consume(struct pooter_consumer *c, int timeout_ms,
			      const struct pooter_delivery **deliveryp)
{
	if (!c || !deliveryp)
		return set_error(-EINVAL,
				 "consumer or delivery pointer is NULL");
	return member_ops(c)->consume(c, timeout_ms, deliveryp);
}

POOTER_API int pooter_release(struct pooter_consumer *c,
			      const struct pooter_delivery *d)
{
	if (!c || !d)
		return set_error(-EINVAL, "consumer or delivery is NULL");
	return member_ops(c)->release(c, d);
}

/* --- io_uring ----------------------------------------------------------- */

POOTER_API int pooter_uring_supported(void)
{
	return shm_backend.uring_supported();
}

POOTER_API int pooter_prep_round_wait(struct io_uring *ring,
				      struct pooter_ticket *t,
				      uint64_t user_data)
{
	if (!t || !t->emitter)
		return set_error(-EINVAL, "ticket is NULL or empty");
	return member_ops(t->emitter)->prep_round_wait(ring, t, user_data);
}

POOTER_API int pooter_round_complete(struct io_uring *ring,
				     struct pooter_ticket *t,
				     const struct io_uring_cqe *cqe)
{
	if (!cqe || !t || !t->emitter)
		return set_error(-EINVAL, "ticket or cqe is NULL");
	return member_ops(t->emitter)->round_complete(ring, t, cqe);
}

POOTER_API int pooter_prep_consume_wait(struct io_uring *ring,
					struct pooter_consumer *c,
					int timeout_ms, uint64_t user_data)
{
	return_if_null(c, "consumer");
	return member_ops(c)->prep_consume_wait(ring, c, timeout_ms, user_data);
}

POOTER_API int pooter_consume_complete(struct io_uring *ring,
				       struct pooter_consumer *c,
				       const struct io_uring_cqe *cqe,
				       const struct pooter_delivery **dp)
{
	if (!cqe || !c || !dp)
		return set_error(-EINVAL, "consumer, cqe or delivery is NULL");
	return member_ops(c)->consume_complete(ring, c, cqe, dp);
}

POOTER_API int pooter_prep_space_wait(struct io_uring *ring,
				      struct pooter_emitter *em, int timeout_ms,
				      uint64_t user_data)
{
	return_if_null(em, "emitter");
	return member_ops(em)->prep_space_wait(ring, em, timeout_ms, user_data);
}

POOTER_API int pooter_space_complete(struct io_uring *ring,
				     struct pooter_emitter *em,
				     const struct io_uring_cqe *cqe)
{
	if (!cqe || !em)
		return set_error(-EINVAL, "emitter or cqe is NULL");
	return member_ops(em)->space_complete(ring, em, cqe);
}
