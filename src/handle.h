/* SPDX-License-Identifier: MIT */
/*
 * handle.h - the shm backend's member handles and the broker handle's
 * lifetime (broker.c), shared by the calls of layer 2.
 */
#ifndef POOTER_HANDLE_H
#define POOTER_HANDLE_H

#include "delivery.h"
#include "member.h"
#include "wait.h"

/* Outcomes of earlier rounds kept for tickets not yet settled. */
#define EMITTER_HISTORY 8

/*
 * Waits armed on an application's ring, cancelled when the handle goes: one
 * per unsettled ticket an emitter may have, and its space wait.
 */
#define URING_ARMED_MAX (EMITTER_HISTORY + 1)

struct uring_armed {
	struct io_uring *ring[URING_ARMED_MAX];
	uint64_t user_data[URING_ARMED_MAX];
};

struct pooter_emitter {
	struct pooter_broker *broker;
	uint32_t slot;
	struct waiter waiter;
	struct uring_armed armed;
	uint64_t hist_round[EMITTER_HISTORY];
	int hist_outcome[EMITTER_HISTORY];
	unsigned int hist_next;
	/* the armed space wait (pooter_prep_space_wait()) */
	uint64_t space_deadline;
	uint64_t space_user_data;
	uint32_t space_watches;
	bool space_armed;   /* one space wait at a time */
	bool space_retried; /* a dead holder's NOP given once */
	struct wait_arm_buf space_buf;
	/* the loan held (pooter_emit_loan()); loan_buf NULL: none */
	void *loan_buf;
	size_t loan_len;
	uint64_t loan_round;
	uint64_t loan_deadline;
	uint32_t loan_record;
	char name[SHM_NAME_LEN];
};

struct pooter_consumer {
	struct pooter_broker *broker;
	uint32_t slot;
	unsigned int flags;
	struct waiter waiter;
	struct uring_armed armed;
	uint64_t async_deadline;       /* of the armed consume wait */
	bool async_armed;	       /* one consume wait at a time */
	struct wait_arm_buf async_buf; /* its timeout and words */
	struct consumer_view *views;   /* one per ring record */
	char name[SHM_NAME_LEN];
};

/* A handle on a mapped, validated segment; takes over fd on success. */
int broker_new(const char *name, int fd, void *base, const struct shm_header *h,
	       const struct layout *l, struct pooter_broker **bp);

/* The broker handle is reference-counted: its opener, and each member. */
struct pooter_broker *broker_ref(struct pooter_broker *b);
void broker_unref(struct pooter_broker *b);

#endif /* POOTER_HANDLE_H */
