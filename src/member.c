/* SPDX-License-Identifier: MIT */
/*
 * member.c - members' slots: claimed, removed, reaped when dead.  Layer 1:
 * the calls that join and leave (join.c) come down here for the slot.
 *
 * A slot belongs to whoever's identity token is in its owner word.  Joining
 * writes the slot's other words while owner is still 0 (nobody reads a free
 * slot) and then commits owner in the journal; leaving and reaping clear
 * owner last, in the same update that cancels a round the member owed an
 * emit to, or releases the ring records it held.
 *
 * What does not live here: liveness itself (liveness.c), the round's
 * transitions (round.c), the handles (join.c).
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "liveness.h"
#include "member.h"
#include "name.h"
#include "wait.h"

/*
 * Remove the emitter in slot; if it owes an emit to the open round, the
 * round is cancelled with code in the same update.  Lock held.
 */
void emitter_remove(struct pooter_broker *b, uint32_t slot,
		    enum shm_outcome code)
{
	struct shm_emitter *e = shm_emitter(b, slot);
	struct round_view v;

	if (!round_load(b, &v) && emitter_owes(b, slot, &v)) {
		round_decide(b, &v, code);
		TEST_POINT("emitter-remove-decided");
	}
	txn_set(b, &e->owner, 0);
	txn_commit(b);
}

/*
 * Remove the consumer in slot, releasing every record it was yet to
 * release, and fold its delivery count into the broker's.  Lock held.
 * Journal: one entry per record at most, plus three (SHM_JOURNAL_MAX).
 */
void consumer_reap(struct pooter_broker *b, uint32_t slot)
{
	struct shm_consumer *c = shm_consumer(b, slot);
	struct shm_stats *s = &b->st->stats;
	uint64_t bit = 1ull << slot;
	bool freed = false;

	/* a clear, not a store: other consumers release theirs unlocked */
	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *r = shm_record(b, i);

		if (READ_ONCE(r->pending) & bit) {
			txn_clear_bits(b, &r->pending, bit);
			freed = true;
		}
	}
	txn_set(b, &c->received, 0);
	txn_set(b, &s->deliveries,
		READ_ONCE(s->deliveries) + READ_ONCE(c->delivered));
	txn_set(b, &c->owner, 0);
	txn_commit(b);
	if (freed)
		wake_counter(&b->st->round.space);
}

/*
 * Reap every member whose process is dead.  Lock held.  Returns how many.
 */
int members_reap_dead(struct pooter_broker *b, bool emitters, bool consumers)
{
	uint64_t tokens[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX];
	uint64_t bytes[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX];
	uint32_t slots[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX];
	bool dead[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX];
	unsigned int n = 0, nemitters, reaped = 0;

	for (uint32_t i = 0; emitters && i < b->max_emitters; i++) {
		uint64_t owner = READ_ONCE(shm_emitter(b, i)->owner);

		if (owner) {
			tokens[n] = owner;
			bytes[n] = shm_live_byte_emitter(i);
			slots[n++] = i;
		}
	}
	nemitters = n;
	for (uint32_t i = 0; consumers && i < b->max_consumers; i++) {
		uint64_t owner = READ_ONCE(shm_consumer(b, i)->owner);

		if (owner) {
			tokens[n] = owner;
			bytes[n] = shm_live_byte_consumer(i);
			slots[n++] = i;
		}
	}
	if (!n || !tokens_dead(b->pidfds, tokens, bytes, n, dead))
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		if (!dead[i])
			continue;
		if (i < nemitters)
			emitter_remove(b, slots[i], SHM_OWNERDEAD);
		else
			consumer_reap(b, slots[i]);
		reaped++;
	}
	return (int)reaped;
}

/*
 * Scan the slots of one kind for name: -EEXIST if a live member holds it (a
 * dead one is reaped on the way), else the first free slot, or -ENOSPC.
 * Lock held.
 */
static int slot_scan(struct pooter_broker *b, bool emitter, const char *name,
		     unsigned int *busy)
{
	uint32_t n = emitter ? b->max_emitters : b->max_consumers;
	uint64_t word = READ_ONCE(b->st->round.word);
	int free_slot = -ENOSPC;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t *owner = emitter ? &shm_emitter(b, i)->owner :
					    &shm_consumer(b, i)->owner;
		const char *sname = emitter ? shm_emitter(b, i)->name :
					      shm_consumer(b, i)->name;
		uint64_t tok = READ_ONCE(*owner);

		if (tok && strncmp(sname, name, SHM_NAME_LEN) == 0) {
			if (token_alive(b->pidfds, tok,
					member_live_byte(emitter, i)))
				return set_error(
					-EEXIST,
					"broker %s: the name %s is held by "
					"%s slot %u of live process %d",
					b->name, name,
					emitter ? "emitter" : "consumer", i,
					(int)token_pid(tok));
			if (emitter)
				emitter_remove(b, i, SHM_OWNERDEAD);
			else
				consumer_reap(b, i);
			tok = 0;
		}
		/*
		 * A free emitter slot whose last owner emitted in the open
		 * round: that entry names the slot's payload area, which the
		 * next owner writes without the lock.  Not before the round
		 * is over.
		 */
		if (!tok && emitter && round_word_open(word) &&
		    READ_ONCE(shm_emitter(b, i)->emit_round) ==
			    round_word_number(word)) {
			(*busy)++;
			continue;
		}
		if (!tok && free_slot < 0)
			free_slot = (int)i;
	}
	return free_slot;
}

/* Names are unique among a broker's members, emitters and consumers alike. */
int slot_find(struct pooter_broker *b, bool emitter, const char *name)
{
	unsigned int busy = 0;
	int slot = slot_scan(b, !emitter, name, &busy);

	if (slot == -EEXIST)
		return slot;
	busy = 0;
	slot = slot_scan(b, emitter, name, &busy);
	if (slot == -ENOSPC && members_reap_dead(b, emitter, !emitter)) {
		busy = 0;
		slot = slot_scan(b, emitter, name, &busy);
	}
	if (slot == -ENOSPC && busy)
		return set_error(-EBUSY,
				 "broker %s: the free emitter slots' payloads "
				 "are in round %llu, still open",
				 b->name,
				 (unsigned long long)round_word_number(
					 READ_ONCE(b->st->round.word)));
	if (slot == -ENOSPC)
		return set_error(-ENOSPC,
				 "broker %s: all %u %s slots are taken",
				 b->name,
				 emitter ? b->max_emitters : b->max_consumers,
				 emitter ? "emitter" : "consumer");
	return slot;
}

/*
 * Take the liveness lock of the slot we are about to own, before the owner
 * word names us: nobody may see us as owner without it.  Lock held.
 */
static int member_live_lock(struct pooter_broker *b, bool emitter,
			    uint32_t slot)
{
	int err = live_lock_take(b->fd, member_live_byte(emitter, slot));

	if (err)
		return set_error(err,
				 "broker %s: cannot take the liveness lock of "
				 "%s slot %u: %s",
				 b->name, emitter ? "emitter" : "consumer",
				 slot, strerror(-err));
	return 0;
}

int member_name(const char *name, char out[SHM_NAME_LEN])
{
	int err;

	if (!name) {
		name_generate(out);
		return 0;
	}
	err = name_check(name);
	if (err)
		return err;
	memset(out, 0, SHM_NAME_LEN);
	strcpy(out, name);
	return 0;
}

/*
 * Make slot an emitter's (see member.h).  The slot is free: nobody reads
 * its words until owner is set, last, with the liveness lock already ours.
 */
int emitter_claim(struct pooter_broker *b, uint32_t slot, const char *name,
		  const struct round_view *v)
{
	struct shm_emitter *e = shm_emitter(b, slot);
	struct shm_round *r = &b->st->round;
	int err;

	if (v->open && v->fixed)
		return set_error(-EBUSY, "broker %s: round %llu is open",
				 b->name, (unsigned long long)v->number);
	memcpy(e->name, name, SHM_NAME_LEN);
	WRITE_ONCE(e->part_round, 0);
	WRITE_ONCE(e->emit_round, 0);
	WRITE_ONCE(e->result, 0);
	WRITE_ONCE(e->loan_round, 0);
	err = member_live_lock(b, true, slot);
	if (err)
		return err;
	if (v->open) {
		/* quorum not reached: the open round takes us in */
		txn_set(b, &e->part_round, v->number);
		txn_set(b, &r->nparts, v->nparts + 1);
		txn_set(b, &r->fixed, v->nparts + 1 >= b->quorum);
	}
	txn_set(b, &e->owner, b->token);
	txn_commit(b);
	TEST_POINT("emitter-joined");
	return 0;
}

int consumer_claim(struct pooter_broker *b, uint32_t slot, const char *name,
		   bool notices)
{
	struct shm_consumer *sc = shm_consumer(b, slot);
	int err;

	memcpy(sc->name, name, SHM_NAME_LEN);
	WRITE_ONCE(sc->flags, notices ? SHM_CONSUMER_NOTICES : 0);
	WRITE_ONCE(sc->received, 0);
	WRITE_ONCE(sc->delivered, 0);
	err = member_live_lock(b, false, slot);
	if (err)
		return err;
	txn_set(b, &sc->owner, b->token);
	txn_commit(b);
	return 0;
}
