/* SPDX-License-Identifier: MIT */
/*
 * make_corpus.c - write the seed corpus of fuzz_segment into a directory.
 *
 * Each seed is a starting point the fuzzer would take long to find alone: a
 * round open and half emitted, a published delivery, a committed journal
 * left by a holder that died, a quorum round still taking joins, files of
 * the wrong size.  Offsets come from layout.h, so the seeds follow the
 * layout when it changes.  Usage: make_corpus DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "layout.h"

#define STATE(member) offsetof(struct shm_state, member)
#define EMITTER(member) offsetof(struct shm_emitter, member)
#define CONSUMER(member) offsetof(struct shm_consumer, member)
#define RECORD(member) offsetof(struct shm_record, member)
#define ENTRY(member) offsetof(struct shm_entry, member)

struct seed {
	unsigned char buf[4096];
	size_t n;
};

static void start(struct seed *s, unsigned int mode, unsigned int ops,
		  unsigned int len)
{
	s->buf[0] = (unsigned char)mode;
	s->buf[1] = (unsigned char)ops;
	s->buf[2] = (unsigned char)len;
	s->n = 3;
}

static void patch(struct seed *s, unsigned int region, unsigned int idx,
		  size_t off, const void *bytes, size_t len)
{
	unsigned char *p = s->buf + s->n;

	p[0] = (unsigned char)region;
	p[1] = (unsigned char)idx;
	p[2] = (unsigned char)(off & 0xff);
	p[3] = (unsigned char)(off >> 8);
	p[4] = (unsigned char)len;
	memcpy(p + 5, bytes, len);
	s->n += 5 + len;
}

static void word(struct seed *s, unsigned int region, unsigned int idx,
		 size_t off, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	patch(s, region, idx, off, b, 8);
}

static void save(const char *dir, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->n, f) != s->n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/*
 * Round k open in record rec with nparts participants, nemitted of them
 * done (entries filled), emitter slot 0 (e0) a participant that still owes.
 * Relative time: open 1 ms ago, deadline 3 ms after the opening.
 */
static void open_round(struct seed *s, uint64_t k, unsigned int rec,
		       unsigned int nparts, unsigned int nemitted, int fixed)
{
	word(s, R_STATE, 0, STATE(round.word), k << 1 | 1);
	word(s, R_STATE, 0, STATE(round.ctl), (uint32_t)(k << 1 | 1));
	word(s, R_STATE, 0, STATE(round.record), rec);
	word(s, R_STATE, 0, STATE(round.nparts), nparts);
	word(s, R_STATE, 0, STATE(round.fixed), fixed);
	word(s, R_STATE, 0, STATE(round.open_ns), 1000000);
	word(s, R_STATE, 0, STATE(round.deadline_ns), 3000000);
	word(s, R_STATE, 0, STATE(round.outcome), (k - 1) << 8);
	word(s, R_RECORD, rec, RECORD(round), k);
	word(s, R_RECORD, rec, RECORD(state), SHM_RECORD_OPEN);
	word(s, R_RECORD, rec, RECORD(nemitted), nemitted);
	for (unsigned int e = 0; e < nemitted; e++) {
		word(s, R_ENTRY, rec + F_DEPTH * e, ENTRY(slot), 1 + e);
		word(s, R_ENTRY, rec + F_DEPTH * e, ENTRY(len), 4);
		patch(s, R_ENTRY, rec + F_DEPTH * e, ENTRY(name), "peer", 5);
		patch(s, R_PAYLOAD, rec + F_DEPTH * e, 0, "data", 4);
	}
	word(s, R_EMITTER, 0, EMITTER(part_round), k);
	word(s, R_EMITTER, 0, EMITTER(emit_round), k - 1);
}

int main(int argc, char **argv)
{
	const unsigned int all = OP_E1 | OP_C1 | OP_RELEASE | OP_WALK;
	struct seed s;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}

	/* untouched: a clean segment, every operation */
	start(&s, KIND_PATCH, all, 8);
	save(argv[1], "clean", &s);

	/* members attached, a delivery held, then a second round */
	start(&s, KIND_PATCH | MODE_PREJOIN | MODE_PREROUND,
	      all | OP_E0 | OP_TIMEOUT, 16);
	save(argv[1], "held-delivery", &s);

	/* round 2 open, one of two emitted: e0 completes it */
	start(&s, KIND_PATCH | MODE_PREJOIN | MODE_RELTIME, OP_E0 | OP_WALK, 4);
	open_round(&s, 2, 1, 2, 1, 1);
	save(argv[1], "open-round", &s);

	/* the same with every participant slot full and cancellation notices */
	start(&s, KIND_PATCH | MODE_PREJOIN | MODE_RELTIME | MODE_NOTICES,
	      OP_E0 | OP_C1 | OP_CANCEL, 4);
	open_round(&s, 5, F_DEPTH - 1, F_EMITTERS, F_EMITTERS - 1, 1);
	save(argv[1], "open-round-full", &s);

	/* quorum 2, round open with one participant: e1 joins it */
	start(&s,
	      KIND_PATCH | MODE_PREJOIN | MODE_RELTIME | MODE_QUORUM |
		      MODE_JOINWAIT,
	      OP_E1 | OP_E0 | OP_C1, 4);
	open_round(&s, 1, 0, 1, 0, 0);
	save(argv[1], "quorum-open", &s);

	/* a published resolved record and a cancelled one held by slot 0 */
	start(&s, KIND_PATCH | MODE_PREJOIN | MODE_NOTICES, OP_RELEASE | OP_E1,
	      4);
	word(&s, R_STATE, 0, STATE(round.word), 3 << 1);
	word(&s, R_STATE, 0, STATE(round.ctl), 3 << 1);
	word(&s, R_STATE, 0, STATE(round.outcome), 3 << 8 | SHM_TIMEDOUT);
	word(&s, R_RECORD, 2, RECORD(round), 2);
	word(&s, R_RECORD, 2, RECORD(state), SHM_RECORD_PUBLISHED);
	word(&s, R_RECORD, 2, RECORD(outcome), SHM_RESOLVED);
	word(&s, R_RECORD, 2, RECORD(pending), 1);
	word(&s, R_RECORD, 2, RECORD(nemitted), 1);
	word(&s, R_ENTRY, 2, ENTRY(len), 4);
	patch(&s, R_ENTRY, 2, ENTRY(name), "e0", 3);
	word(&s, R_RECORD, 3, RECORD(round), 3);
	word(&s, R_RECORD, 3, RECORD(state), SHM_RECORD_PUBLISHED);
	word(&s, R_RECORD, 3, RECORD(outcome), SHM_TIMEDOUT);
	word(&s, R_RECORD, 3, RECORD(pending), 1);
	save(argv[1], "published", &s);

	/*
	 * A holder died after committing a two-word update (the round's
	 * outcome and word): the next caller takes the lock over and redoes it.
	 */
	start(&s, KIND_PATCH | MODE_PREJOIN, all | OP_E0, 4);
	word(&s, R_STATE, 0, STATE(lock.owner), (5ull << 22) | 3);
	word(&s, R_STATE, 0, STATE(journal.committed), 2);
	word(&s, R_STATE, 0, STATE(journal.ent[0].off),
	     sizeof(struct shm_header) + STATE(round.outcome));
	word(&s, R_STATE, 0, STATE(journal.ent[0].val), 4 << 8 | SHM_OWNERDEAD);
	word(&s, R_STATE, 0, STATE(journal.ent[1].off),
	     sizeof(struct shm_header) + STATE(round.word));
	word(&s, R_STATE, 0, STATE(journal.ent[1].val), 4 << 1);
	save(argv[1], "journal-redo", &s);

	/* a member slot of a dead process: reaped by gc and by the next open */
	start(&s, KIND_PATCH, all, 4);
	word(&s, R_EMITTER, 2, EMITTER(owner), (7ull << 22) | 4);
	patch(&s, R_EMITTER, 2, EMITTER(name), "ghost", 6);
	word(&s, R_CONSUMER, 1, CONSUMER(owner), (7ull << 22) | 4);
	patch(&s, R_CONSUMER, 1, CONSUMER(name), "ghost", 6);
	save(argv[1], "dead-members", &s);

	/* header fields: another version, capacities that do not add up */
	start(&s, KIND_PATCH, all, 4);
	word(&s, R_HEADER, 0, offsetof(struct shm_header, max_emitters),
	     (uint64_t)F_CONSUMERS << 32 | (F_EMITTERS + 1));
	save(argv[1], "header-capacity", &s);

	/* the whole state overwritten */
	start(&s, KIND_FILL, all, 4);
	patch(&s, 0xff, 0xff, 0xffff, "\xff\x01\x00\x00\x00\x00\x00\x00", 8);
	save(argv[1], "fill", &s);

	/* files of the wrong size */
	start(&s, KIND_RESIZE, 0, 0);
	word(&s, 0, 0, 0, 0);
	s.n = 3 + 4;
	save(argv[1], "resize-empty", &s);
	start(&s, KIND_RESIZE | MODE_PREJOIN, 0, 0);
	s.buf[3] = s.buf[4] = 0;
	s.buf[5] = (unsigned char)(sizeof(struct shm_header) + 8);
	s.buf[6] = (unsigned char)((sizeof(struct shm_header) + 8) >> 8);
	s.n = 7;
	save(argv[1], "resize-short", &s);
	return 0;
}
