/* SPDX-License-Identifier: MIT */
/*
 * member.h - members' slots (member.c): claiming one, removing one, and
 * reaping the dead.  Layer 1, above the round (a removal can cancel it).
 */
#ifndef POOTER_MEMBER_H
#define POOTER_MEMBER_H

#include "round.h"

/* A member name as given, or generated (NULL); -EINVAL, -ENAMETOOLONG. */
int member_name(const char *name, char out[SHM_NAME_LEN]);

/*
 * A slot for name: -EEXIST if a live member, emitter or consumer, holds the
 * name (a dead one is reaped first), else a free slot's index, or -ENOSPC.
 * Lock held.
 */
int slot_find(struct pooter_broker *b, bool emitter, const char *name);

/*
 * Make slot ours (free, from slot_find()), as an emitter named name; v is
 * the round as it stands: an open one with its quorum not reached takes us
 * in, a fixed one is -EBUSY.  Lock held.
 */
int emitter_claim(struct pooter_broker *b, uint32_t slot, const char *name,
		  const struct round_view *v);
int consumer_claim(struct pooter_broker *b, uint32_t slot, const char *name,
		   bool notices);

/* Remove a member; an emit owed in the open round cancels it with code. */
void emitter_remove(struct pooter_broker *b, uint32_t slot,
		    enum shm_outcome code);
void consumer_reap(struct pooter_broker *b, uint32_t slot);

/* Reap every member whose process is dead.  Lock held.  Returns how many. */
int members_reap_dead(struct pooter_broker *b, bool emitters, bool consumers);

#endif /* POOTER_MEMBER_H */
