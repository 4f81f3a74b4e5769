/* SPDX-License-Identifier: MIT */
/*
 * inspect.c - the read-only views of a broker: stat, its members, its
 * records; and gc.  Layer 2.  Every view takes the lock once, copies out
 * what it shows, and runs callbacks unlocked (they may call in).
 */
#include <stdlib.h>
#include <string.h>

#include "enter.h"
#include "error.h"
#include "handle.h"
#include "liveness.h"
#include "shm.h"

static void stat_fill(struct pooter_broker *b, const struct round_view *v,
		      struct pooter_broker_stat *st)
{
	struct shm_stats *s = &b->st->stats;
	struct shm_round *r = &b->st->round;
	uint64_t outcome = READ_ONCE(r->outcome);
	uint64_t deliveries = READ_ONCE(s->deliveries);
	uint64_t joined = 0;

	memset(st, 0, sizeof(*st));
	st->max_emitters = b->max_emitters;
	st->max_consumers = b->max_consumers;
	st->max_payload = b->max_payload;
	st->depth = b->depth;
	st->quorum = b->quorum;
	st->timeout_ms = (unsigned int)READ_ONCE(s->timeout_ms);
	st->segment_size = b->size;

	for (uint32_t i = 0; i < b->max_emitters; i++)
		st->emitters += READ_ONCE(shm_emitter(b, i)->owner) != 0;
	for (uint32_t i = 0; i < b->max_consumers; i++) {
		struct shm_consumer *c = shm_consumer(b, i);

		if (READ_ONCE(c->owner)) {
			st->consumers++;
			joined |= 1ull << i;
			deliveries += READ_ONCE(c->delivered);
		}
	}
	/* free as round_open() sees it: no joined consumer holds it */
	for (uint32_t i = 0; i < b->depth; i++)
		st->records_free += record_is_free(
			READ_ONCE(shm_record(b, i)->state),
			READ_ONCE(shm_record(b, i)->pending), joined);

	st->round = v->number;
	st->rounds_opened = v->number;
	if (v->open) {
		st->round_state = POOTER_ROUND_OPEN;
		st->round_opened_ns = v->open_ns;
		st->round_deadline_ns = v->deadline_ns;
		st->round_participants = v->nparts;
		st->round_emitted = v->nemitted;
		st->round_fixed = v->fixed;
	} else if (v->number) {
		uint64_t open_ns = READ_ONCE(r->open_ns);
		uint64_t deadline_ns = READ_ONCE(r->deadline_ns);
		uint64_t nparts = READ_ONCE(r->nparts);
		uint64_t rec = READ_ONCE(r->record);

		st->round_state = POOTER_ROUND_CLOSED;
		/* the last round's words stay in the segment: checked, shown */
		if (deadline_valid(open_ns, deadline_ns)) {
			st->round_opened_ns = open_ns;
			st->round_deadline_ns = deadline_ns;
		}
		if (record_count_valid(b, nparts)) {
			st->round_participants = (unsigned int)nparts;
			st->round_fixed = READ_ONCE(r->fixed) != 0;
		}
		/* its record tells how many emitted, until a round reuses it */
		if (rec < b->depth &&
		    READ_ONCE(shm_record(b, (uint32_t)rec)->round) ==
			    v->number) {
			uint64_t n = READ_ONCE(
				shm_record(b, (uint32_t)rec)->nemitted);

			if (n <= nparts)
				st->round_emitted = (unsigned int)n;
		}
		if (outcome_word_round(outcome) == v->number &&
		    outcome_code_valid(outcome_word_code(outcome)))
			st->round_outcome = outcome_errno(
				(enum shm_outcome)outcome_word_code(outcome));
	}
	st->rounds_resolved = READ_ONCE(s->count[SHM_RESOLVED]);
	st->rounds_timedout = READ_ONCE(s->count[SHM_TIMEDOUT]);
	st->rounds_cancelled = READ_ONCE(s->count[SHM_CANCELED]);
	st->rounds_ownerdead = READ_ONCE(s->count[SHM_OWNERDEAD]);
	st->emits = READ_ONCE(s->emits) + (v->open ? v->nemitted : 0);
	st->deliveries = deliveries;
}

int shm_broker_stat(struct pooter_broker *b, struct pooter_broker_stat *st)
{
	struct round_view v;
	uint64_t timeout;
	int err;

	if (!st)
		return set_error(-EINVAL, "stat buffer is NULL");
	err = broker_enter(b, &v);
	if (err)
		return err;
	timeout = READ_ONCE(b->st->stats.timeout_ms);
	if (!err && !timeout_valid(timeout))
		err = set_error(-EPROTO,
				"broker %s: timeout %llu ms out of "
				"bounds",
				b->name, (unsigned long long)timeout);
	if (!err) {
		stat_fill(b, &v, st);
		st->timeout_ms = (unsigned int)timeout;
	}
	broker_unlock(b);
	return err;
}

int shm_broker_foreach_member(struct pooter_broker *b,
			      int (*cb)(const struct pooter_member_info *m,
					void *arg),
			      void *arg)
{
	uint32_t n = b ? b->max_emitters + b->max_consumers : 0, count = 0;
	struct pooter_member_info *infos;
	struct round_view v;
	int err;

	if (!cb)
		return -EINVAL;
	infos = calloc(n ? n : 1, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	err = broker_enter(b, &v);
	if (err)
		goto out;
	for (uint32_t i = 0; !err && i < b->max_emitters; i++) {
		struct shm_emitter *e = shm_emitter(b, i);
		struct pooter_member_info *m = &infos[count];
		uint64_t owner = READ_ONCE(e->owner);

		if (!owner)
			continue;
		m->kind = POOTER_MEMBER_EMITTER;
		m->slot = i;
		memcpy(m->name, e->name, sizeof(m->name) - 1);
		m->pid = token_pid(owner);
		m->alive =
			token_alive(b->pidfds, owner, shm_live_byte_emitter(i));
		m->participant = v.open && READ_ONCE(e->part_round) == v.number;
		m->emitted = v.open && READ_ONCE(e->emit_round) == v.number;
		count++;
	}
	for (uint32_t i = 0; !err && i < b->max_consumers; i++) {
		struct shm_consumer *c = shm_consumer(b, i);
		struct pooter_member_info *m = &infos[count];
		uint64_t owner = READ_ONCE(c->owner);
		uint64_t received = READ_ONCE(c->received);

		if (!owner)
			continue;
		m->kind = POOTER_MEMBER_CONSUMER;
		m->slot = i;
		memcpy(m->name, c->name, sizeof(m->name) - 1);
		m->pid = token_pid(owner);
		m->alive = token_alive(b->pidfds, owner,
				       shm_live_byte_consumer(i));
		m->notices = !!(READ_ONCE(c->flags) & SHM_CONSUMER_NOTICES);
		m->held = (unsigned int)__builtin_popcountll(
			received &
			(b->depth == 64 ? ~0ull : (1ull << b->depth) - 1));
		for (uint32_t r = 0; r < b->depth; r++) {
			struct shm_record *rec = shm_record(b, r);

			if (READ_ONCE(rec->state) == SHM_RECORD_PUBLISHED &&
			    (READ_ONCE(rec->pending) & (1ull << i)) &&
			    !(received & (1ull << r)))
				m->pending++;
		}
		m->delivered = READ_ONCE(c->delivered);
		count++;
	}
	broker_unlock(b);
	/* callbacks run unlocked: they may call into the library */
	for (uint32_t i = 0; !err && i < count; i++)
		err = cb(&infos[i], arg);
out:
	free(infos);
	return err;
}

int shm_broker_foreach_record(struct pooter_broker *b,
			      int (*cb)(const struct pooter_record_info *r,
					void *arg),
			      void *arg)
{
	struct pooter_record_info *infos;
	uint64_t joined;
	int err;

	if (!cb || !b)
		return -EINVAL;
	infos = calloc(b->depth, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	err = broker_enter(b, NULL);
	if (err)
		goto out;
	joined = consumers_joined(b);
	for (uint32_t i = 0; i < b->depth; i++) {
		struct record_words w;

		record_read(b, i, &w);
		/* a corrupted record is refused, not handed on */
		if (!record_state_valid(w.state)) {
			err = set_error(
				-EPROTO,
				"broker %s: record %u state %llu unknown",
				b->name, i, (unsigned long long)w.state);
			break;
		}
		if (!record_holders_valid(b, w.pending)) {
			err = set_error(-EPROTO,
					"broker %s: record %u held by consumer "
					"slots past the %u there are",
					b->name, i, b->max_consumers);
			break;
		}
		infos[i].index = i;
		infos[i].state = (int)w.state;
		infos[i].round = w.round;
		infos[i].outcome =
			outcome_code_valid(w.outcome) ?
				outcome_errno((enum shm_outcome)w.outcome) :
				-EPROTO;
		infos[i].payloads = record_count_valid(b, w.nemitted) ?
					    (unsigned int)w.nemitted :
					    0;
		infos[i].holders = w.pending;
		/* free as round_open() and stat see it: nobody joined holds it */
		if (record_is_free(w.state, w.pending, joined)) {
			infos[i].state = POOTER_RECORD_FREE;
			infos[i].payloads = 0;
		}
	}
	broker_unlock(b);
	for (uint32_t i = 0; !err && i < b->depth; i++)
		err = cb(&infos[i], arg);
out:
	free(infos);
	return err;
}

int shm_broker_gc(struct pooter_broker *b)
{
	int err = broker_enter(b, NULL);
	int n;

	if (err)
		return err;
	n = members_reap_dead(b, true, true);
	broker_unlock(b);
	return n;
}
