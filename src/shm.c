/* SPDX-License-Identifier: MIT */
/*
 * shm.c - the shm backend: the operations of backend.h, as the calls of
 * layer 2 implement them on a shared-memory segment.  Layer 2.
 */
#include "backend.h"
#include "handle.h"
#include "shm.h"

/* The API finds the table from any handle: see backend.h. */
static_assert(offsetof(struct pooter_broker, ops) == 0,
	      "a broker handle begins with its ops");
static_assert(offsetof(struct pooter_emitter, broker) == 0,
	      "an emitter handle begins with its broker");
static_assert(offsetof(struct pooter_consumer, broker) == 0,
	      "a consumer handle begins with its broker");

/* The by-name calls: no options matter to a shared-memory broker. */
static int shm_create_opts(const char *name,
			   const struct pooter_broker_attr *attr,
			   const struct pooter_url_opts *opts,
			   struct pooter_broker **brokerp)
{
	return shm_broker_create(name, attr, brokerp);
}

static int shm_open_opts(const char *name, const struct pooter_url_opts *opts,
			 struct pooter_broker **brokerp)
{
	return shm_broker_open(name, brokerp);
}

static int shm_unlink_opts(const char *name, const struct pooter_url_opts *opts)
{
	return shm_broker_unlink(name);
}

static int shm_list_opts(const char *url, const struct pooter_url_opts *opts,
			 int (*cb)(const char *name, void *arg), void *arg)
{
	return shm_broker_foreach(cb, arg);
}

const struct backend_ops shm_backend = {
	.name = "shm",

	.create = shm_create_opts,
	.open = shm_open_opts,
	.unlink = shm_unlink_opts,
	.list = shm_list_opts,
	.check = shm_broker_check,

	.close = shm_broker_close,
	.broker_name = shm_broker_name,
	.set_timeout = shm_broker_set_timeout,
	.stat = shm_broker_stat,
	.gc = shm_broker_gc,
	.foreach_member = shm_broker_foreach_member,
	.foreach_record = shm_broker_foreach_record,
	.cancel = shm_round_cancel,

	.emitter_join = shm_emitter_join,
	.emitter_name = shm_emitter_name,
	.emitter_leave = shm_emitter_leave,
	.consumer_join = shm_consumer_join,
	.consumer_name = shm_consumer_name,
	.consumer_leave = shm_consumer_leave,

	.contribute = shm_contribute,
	.outcome_wait = shm_outcome_wait,
	.emit_loan = shm_emit_loan,
	.emit_commit = shm_emit_commit,
	.emit_abort = shm_emit_abort,
	.consume = shm_consume,
	.release = shm_release,

	.uring_supported = shm_uring_supported,
	.prep_round_wait = shm_prep_round_wait,
	.round_complete = shm_round_complete,
	.prep_consume_wait = shm_prep_consume_wait,
	.consume_complete = shm_consume_complete,
	.prep_space_wait = shm_prep_space_wait,
	.space_complete = shm_space_complete,
};
