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

const struct backend_ops shm_backend = {
	.name = "shm",

	.create = shm_broker_create,
	.open = shm_broker_open,
	.unlink = shm_broker_unlink,
	.list = shm_broker_foreach,
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
