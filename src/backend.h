/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the seam between the public calls (api.c) and a transport.
 *
 * A backend is a table of operations.  The public calls check their
 * arguments, find the table, and call through it; what a round is made of
 * (a shared-memory segment, for the shm backend: shm.c) is the backend's.
 * Every backend's handles begin the same way, so that the API finds the
 * table from any handle:
 *
 *   struct pooter_broker    begins with  const struct backend_ops *ops
 *   struct pooter_emitter   begins with  struct pooter_broker *broker
 *   struct pooter_consumer  begins with  struct pooter_broker *broker
 *
 * and a ticket's reserved space (pooter_ticket.priv) is the backend's.
 * Brokers are found by name: a plain name is the shm backend's; a URL
 * (scheme://...) names the backend of that scheme, a plugin (below).
 * Layer 2: the shm backend's calls implement it; api.c, above, calls it.
 */
#ifndef POOTER_BACKEND_H
#define POOTER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooter.h"

struct backend_ops {
	const char *name; /* "shm" */

	/*
	 * Brokers, by name: the name as the caller gave it (a plain name or
	 * NULL for shm, the whole URL for others); opts may be NULL.  list
	 * walks the brokers under a URL (shm: NULL, this machine's).
	 */
	int (*create)(const char *name, const struct pooter_broker_attr *attr,
		      const struct pooter_url_opts *opts,
		      struct pooter_broker **brokerp);
	int (*open)(const char *name, const struct pooter_url_opts *opts,
		    struct pooter_broker **brokerp);
	int (*unlink)(const char *name, const struct pooter_url_opts *opts);
	int (*list)(const char *url, const struct pooter_url_opts *opts,
		    int (*cb)(const char *name, void *arg), void *arg);
	int (*check)(const char *name,
		     void (*report)(const char *problem, void *arg), void *arg);

	/* brokers, by handle */
	void (*close)(struct pooter_broker *b);
	const char *(*broker_name)(const struct pooter_broker *b);
	int (*set_timeout)(struct pooter_broker *b, unsigned int timeout_ms);
	int (*stat)(struct pooter_broker *b, struct pooter_broker_stat *st);
	int (*gc)(struct pooter_broker *b);
	int (*foreach_member)(struct pooter_broker *b,
			      int (*cb)(const struct pooter_member_info *m,
					void *arg),
			      void *arg);
	int (*foreach_record)(struct pooter_broker *b,
			      int (*cb)(const struct pooter_record_info *r,
					void *arg),
			      void *arg);
	int (*cancel)(struct pooter_broker *b);

	/* members */
	int (*emitter_join)(struct pooter_broker *b, const char *name,
			    unsigned int flags,
			    struct pooter_emitter **emitterp);
	const char *(*emitter_name)(const struct pooter_emitter *em);
	int (*emitter_leave)(struct pooter_emitter *em);
	int (*consumer_join)(struct pooter_broker *b, const char *name,
			     unsigned int flags,
			     struct pooter_consumer **consumerp);
	const char *(*consumer_name)(const struct pooter_consumer *c);
	int (*consumer_leave)(struct pooter_consumer *c);

	/*
	 * Rounds: contribute (opening the round if none is open; with
	 * wait_space, waiting out a full ring) and fill *t; then wait for
	 * the outcome of *t.  pooter_emit() is the two in a row.
	 */
	int (*contribute)(struct pooter_emitter *em, const void *payload,
			  size_t len, bool wait_space, struct pooter_ticket *t);
	int (*outcome_wait)(struct pooter_ticket *t);

	/*
	 * Loans (optional: NULL, and the API says -EOPNOTSUPP): lend the
	 * emitter a buffer in the open round (opening it as contribute
	 * does; POOTER_LOAN_NOWAIT: a full ring is -EAGAIN at once), commit
	 * it as the emit and fill *t, or give it back.
	 */
	int (*emit_loan)(struct pooter_emitter *em, size_t len,
			 unsigned int flags, void **bufp);
	int (*emit_commit)(struct pooter_emitter *em, const void *buf,
			   size_t len, struct pooter_ticket *t);
	int (*emit_abort)(struct pooter_emitter *em, const void *buf);

	/* deliveries */
	int (*consume)(struct pooter_consumer *c, int timeout_ms,
		       const struct pooter_delivery **deliveryp);
	int (*release)(struct pooter_consumer *c,
		       const struct pooter_delivery *d);

	/* the async wait source: waits armed on the application's ring */
	int (*uring_supported)(void);
	int (*prep_round_wait)(struct io_uring *ring, struct pooter_ticket *t,
			       uint64_t user_data);
	int (*round_complete)(struct io_uring *ring, struct pooter_ticket *t,
			      const struct io_uring_cqe *cqe);
	int (*prep_consume_wait)(struct io_uring *ring,
				 struct pooter_consumer *c, int timeout_ms,
				 uint64_t user_data);
	int (*consume_complete)(struct io_uring *ring,
				struct pooter_consumer *c,
				const struct io_uring_cqe *cqe,
				const struct pooter_delivery **deliveryp);
	int (*prep_space_wait)(struct io_uring *ring, struct pooter_emitter *em,
			       int timeout_ms, uint64_t user_data);
	int (*space_complete)(struct io_uring *ring, struct pooter_emitter *em,
			      const struct io_uring_cqe *cqe);
};

/* The beginnings every backend's handles share (see above). */
struct backend_broker {
	const struct backend_ops *ops;
};

struct backend_member {
	struct pooter_broker *broker;
};

static inline const struct backend_ops *
broker_ops(const struct pooter_broker *b)
{
	return ((const struct backend_broker *)b)->ops;
}

static inline const struct backend_ops *member_ops(const void *member)
{
	return broker_ops(((const struct backend_member *)member)->broker);
}

/*
 * Plugins.  A backend other than shm is a library of its own, loaded on the
 * first URL of its scheme (api.c): libpooter-SCHEME.so.0, found next to
 * libpooter, else by the dynamic linker's search (POOTER_PLUGIN_DIR in the
 * environment overrides both).  It defines one function, named by
 * BACKEND_PLUGIN_ENTRY("zk") = "pooter_backend_zk_v1", which takes what
 * libpooter lends it (a plugin cannot reach libpooter's hidden internals)
 * and returns its table, or NULL when the host's version is not its own.
 */
#define BACKEND_HOST_VERSION 1

struct backend_host {
	unsigned int version; /* BACKEND_HOST_VERSION */
	int (*set_error)(int err, const char *fmt, ...)
		__attribute__((format(printf, 2, 3)));
	void (*clear_error)(void);
	int (*name_check)(const char *name);
	void (*name_generate)(char out[POOTER_NAME_MAX + 1]);
};

#define BACKEND_PLUGIN_ENTRY(scheme) "pooter_backend_" scheme "_v1"

/* The shm backend (shm.c): the default, and the only one built in. */
extern const struct backend_ops shm_backend;

#endif /* POOTER_BACKEND_H */
