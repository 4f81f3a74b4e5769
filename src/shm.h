/* SPDX-License-Identifier: MIT */
/*
 * shm.h - the shm backend's operations, one per public call, defined by
 * the calls of layer 2 and gathered into shm_backend by shm.c.  Each takes
 * arguments the API has checked for NULL handles (api.c).
 */
#ifndef POOTER_SHM_H
#define POOTER_SHM_H

#include <stdbool.h>
#include <stddef.h>

#include "pooter.h"

/* async.c */
int shm_uring_supported(void);
int shm_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		   bool wait_space, struct pooter_ticket *t);
int shm_outcome_wait(struct pooter_ticket *t);
int shm_prep_round_wait(struct io_uring *ring, struct pooter_ticket *t,
			uint64_t user_data);
int shm_round_complete(struct io_uring *ring, struct pooter_ticket *t,
		       const struct io_uring_cqe *cqe);
int shm_prep_consume_wait(struct io_uring *ring, struct pooter_consumer *c,
			  int timeout_ms, uint64_t user_data);
int shm_consume_complete(struct io_uring *ring, struct pooter_consumer *c,
			 const struct io_uring_cqe *cqe,
			 const struct pooter_delivery **dp);
int shm_prep_space_wait(struct io_uring *ring, struct pooter_emitter *em,
			int timeout_ms, uint64_t user_data);
int shm_space_complete(struct io_uring *ring, struct pooter_emitter *em,
		       const struct io_uring_cqe *cqe);

/* broker.c */
int shm_broker_create(const char *name, const struct pooter_broker_attr *attr,
		      struct pooter_broker **brokerp);
int shm_broker_open(const char *name, struct pooter_broker **brokerp);
void shm_broker_close(struct pooter_broker *b);
int shm_broker_unlink(const char *name);
int shm_broker_foreach(int (*cb)(const char *name, void *arg), void *arg);
const char *shm_broker_name(const struct pooter_broker *b);
int shm_broker_set_timeout(struct pooter_broker *b, unsigned int timeout_ms);

/* check.c */
int shm_broker_check(const char *name,
		     void (*report)(const char *problem, void *arg), void *arg);

/* consume.c */
int shm_consume(struct pooter_consumer *c, int timeout_ms,
		const struct pooter_delivery **deliveryp);
int shm_release(struct pooter_consumer *c, const struct pooter_delivery *d);

/* emit.c */
int shm_round_cancel(struct pooter_broker *b);

/* loan.c */
int shm_emit_loan(struct pooter_emitter *em, size_t len, unsigned int flags,
		  void **bufp);
int shm_emit_commit(struct pooter_emitter *em, const void *buf, size_t len,
		    struct pooter_ticket *t);
int shm_emit_abort(struct pooter_emitter *em, const void *buf);

/* inspect.c */
int shm_broker_stat(struct pooter_broker *b, struct pooter_broker_stat *st);
int shm_broker_foreach_member(struct pooter_broker *b,
			      int (*cb)(const struct pooter_member_info *m,
					void *arg),
			      void *arg);
int shm_broker_foreach_record(struct pooter_broker *b,
			      int (*cb)(const struct pooter_record_info *r,
					void *arg),
			      void *arg);
int shm_broker_gc(struct pooter_broker *b);

/* join.c */
int shm_emitter_join(struct pooter_broker *b, const char *name,
		     unsigned int flags, struct pooter_emitter **emitterp);
const char *shm_emitter_name(const struct pooter_emitter *em);
int shm_emitter_leave(struct pooter_emitter *em);
int shm_consumer_join(struct pooter_broker *b, const char *name,
		      unsigned int flags, struct pooter_consumer **consumerp);
const char *shm_consumer_name(const struct pooter_consumer *c);
int shm_consumer_leave(struct pooter_consumer *c);

#endif /* POOTER_SHM_H */
