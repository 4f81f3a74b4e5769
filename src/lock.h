/* SPDX-License-Identifier: MIT */
/*
 * lock.h - the broker's lock, its takeover after a death, and the redo
 * journal that makes every multi-step update atomic (lock.c).  Layer 0.
 */
#ifndef POOTER_LOCK_H
#define POOTER_LOCK_H

#include "segment.h"

int broker_lock(struct pooter_broker *b);
void broker_unlock(struct pooter_broker *b);

/* Stage *word = val; nothing is written to word before txn_commit(). */
void txn_set(struct pooter_broker *b, uint64_t *word, uint64_t val);
/* Stage clearing the bits of mask in *word (see SHM_JOURNAL_CLEAR). */
void txn_clear_bits(struct pooter_broker *b, uint64_t *word, uint64_t mask);
void txn_commit(struct pooter_broker *b);

#endif /* POOTER_LOCK_H */
