/* SPDX-License-Identifier: MIT */
/*
 * fuzz_input.h - the input format of fuzz_segment.c, shared with the seed
 * corpus generator make_corpus.c.  fuzz_segment.c's top comment describes it.
 */
#ifndef POOTER_FUZZ_INPUT_H
#define POOTER_FUZZ_INPUT_H

/* The broker every input starts from. */
#define F_EMITTERS 4
#define F_CONSUMERS 2
#define F_PAYLOAD 64
#define F_DEPTH 4
#define F_TIMEOUT_MS 1

/* byte 0: mode */
#define MODE_KIND(m) ((m)&3)
#define KIND_PATCH 0
#define KIND_FILL 2
#define KIND_RESIZE 3
#define MODE_PREJOIN (1u << 2)
#define MODE_PREROUND (1u << 3)
#define MODE_RELTIME (1u << 4)
#define MODE_NOTICES (1u << 5)
#define MODE_JOINWAIT (1u << 6)
#define MODE_QUORUM (1u << 7)

/* byte 1: operations */
#define OP_E1 (1u << 0)
#define OP_E0 (1u << 1)
#define OP_C1 (1u << 2)
#define OP_RELEASE (1u << 3)
#define OP_CANCEL (1u << 4)
#define OP_TIMEOUT (1u << 5)
#define OP_WALK (1u << 6)
#define OP_LEAVE (1u << 7)

/* patch regions */
enum fuzz_region {
	R_HEADER = 0,
	R_STATE = 1,
	R_EMITTER = 2,
	R_CONSUMER = 3,
	R_RECORD = 4,
	R_ENTRY = 5,   /* index: record + F_DEPTH * entry */
	R_PAYLOAD = 6, /* index: record + F_DEPTH * payload */
	R_ANY = 7,
};

#endif /* POOTER_FUZZ_INPUT_H */
