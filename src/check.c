/* SPDX-License-Identifier: MIT */
/*
 * check.c - fsck for a segment: every rule the hot path enforces, checked
 * word by word without the lock and reported one problem at a time
 * instead of failing at the first.  Layer 2.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "enter.h"
#include "error.h"
#include "handle.h"
#include "liveness.h"
#include "name.h"
#include "shm.h"

/* The state behind the header, checked word by word, without the lock. */
static void state_check(struct pooter_broker *b, struct problems *p)
{
	struct shm_state *st = b->st;
	uint64_t v, joined;
	struct round_view rv;

	v = READ_ONCE(st->stats.timeout_ms);
	if (!timeout_valid(v))
		problem(p, "broker %s: timeout_ms is %llu, allowed 1..%u",
			b->name, (unsigned long long)v, POOTER_TIMEOUT_MAX_MS);
	/* the hot path's own reader of the round, its error as the report */
	if (round_load(b, &rv))
		problem(p, "%s", pooter_last_error());
	v = READ_ONCE(st->round.outcome);
	if (!outcome_code_valid(outcome_word_code(v)))
		problem(p, "broker %s: last outcome code %llu unknown", b->name,
			(unsigned long long)outcome_word_code(v));
	if (ctl_of(READ_ONCE(st->round.word)) !=
	    (READ_ONCE(st->round.ctl) & ~FUTEX_SLEEPERS))
		problem(p,
			"broker %s: round futex word out of step with the "
			"round (next caller repairs it)",
			b->name);
	v = READ_ONCE(st->journal.committed);
	if (v)
		problem(p,
			"broker %s: a multi-step update of %llu words was "
			"interrupted (the next caller finishes it)",
			b->name, (unsigned long long)v);
	v = READ_ONCE(st->lock.owner);
	if (v && !token_alive(b->pidfds, v, 0))
		problem(p,
			"broker %s: lock held by dead process %d (the next "
			"caller recovers it)",
			b->name, (int)token_pid(v));

	joined = consumers_joined(b);
	for (uint32_t i = 0; i < b->depth; i++) {
		struct record_words w;

		record_read(b, i, &w);

		if (!record_state_valid(w.state))
			problem(p, "broker %s: record %u state %llu unknown",
				b->name, i, (unsigned long long)w.state);
		if (!record_holders_valid(b, w.pending))
			problem(p,
				"broker %s: record %u held by consumer slots "
				"past the %u there are",
				b->name, i, b->max_consumers);
		else if (w.state == SHM_RECORD_PUBLISHED &&
			 (w.pending & ~joined))
			problem(p,
				"broker %s: record %u held by consumer slots "
				"nobody has joined (ignored when the ring "
				"needs it)",
				b->name, i);
		if (!record_count_valid(b, w.nemitted))
			problem(p,
				"broker %s: record %u counts %llu payloads, "
				"capacity %u",
				b->name, i, (unsigned long long)w.nemitted,
				b->max_emitters);
		if (!outcome_code_valid(w.outcome))
			problem(p, "broker %s: record %u outcome %llu unknown",
				b->name, i, (unsigned long long)w.outcome);
	}
	for (uint32_t i = 0; i < b->max_emitters + b->max_consumers; i++) {
		bool em = i < b->max_emitters;
		uint32_t s = em ? i : i - b->max_emitters;
		const char *kind = em ? "emitter" : "consumer";
		char name[SHM_NAME_LEN];
		uint64_t owner = em ? READ_ONCE(shm_emitter(b, s)->owner) :
				      READ_ONCE(shm_consumer(b, s)->owner);

		if (!owner)
			continue;
		memcpy(name,
		       em ? shm_emitter(b, s)->name : shm_consumer(b, s)->name,
		       sizeof(name));
		name[sizeof(name) - 1] = '\0';
		if (name_check(name))
			problem(p, "broker %s: %s slot %u has an invalid name",
				b->name, kind, s);
		else if (!token_alive(b->pidfds, owner,
				      member_live_byte(em, s)))
			problem(p,
				"broker %s: %s %s (slot %u) belongs to dead "
				"process %d (gc reclaims it)",
				b->name, kind, name, s, (int)token_pid(owner));
		if (!em &&
		    !received_valid(b, READ_ONCE(shm_consumer(b, s)->received)))
			problem(p,
				"broker %s: consumer slot %u holds records "
				"past the %u there are",
				b->name, s, b->depth);
	}
}

int shm_broker_check(const char *name,
		     void (*report)(const char *problem, void *arg), void *arg)
{
	struct problems p = { .report = report, .arg = arg };
	struct pooter_broker *b;
	struct shm_header h;
	struct layout l;
	void *base;
	int fd, err;

	clear_error();
	err = segment_map(name, false, &fd, &base, &h, &l, &p);
	if (err == -EPROTO)
		return p.count;
	if (err)
		return err;
	err = broker_new(name, fd, base, &h, &l, &b);
	if (err) {
		munmap(base, l.size);
		close(fd);
		return err;
	}
	namespace_check(&h, name, &p);
	state_check(b, &p);
	broker_unref(b);
	return p.count;
}
