/* SPDX-License-Identifier: MIT */
/*
 * enter.h - how every call that touches a broker starts (enter.c): check
 * the handle, take the lock, enforce a deadline nobody enforced.  Layer 2.
 */
#ifndef POOTER_ENTER_H
#define POOTER_ENTER_H

#include "round.h"

/* -EINVAL for NULL, -EBADFD for a handle used in another process. */
int broker_check_handle(struct pooter_broker *b);

/*
 * Take the lock and enforce an overdue deadline; *v (if not NULL) gets the
 * round as it then stands.  Returns with the lock held, or an error without.
 */
int broker_enter(struct pooter_broker *b, struct round_view *v);
/* The same, and *nowp the time read with the lock held (one clock read). */
int broker_enter_at(struct pooter_broker *b, struct round_view *v,
		    uint64_t *nowp);

/* For the calls that need no lock: enforce an overdue deadline, if any. */
int broker_enforce_overdue(struct pooter_broker *b);

#endif /* POOTER_ENTER_H */
