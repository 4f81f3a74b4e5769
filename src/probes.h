/* SPDX-License-Identifier: MIT */
/*
 * probes.h - USDT probes (<sys/sdt.h>, systemtap-sdt-dev on Debian): static
 * tracepoints that cost a nop each when nobody traces, for bpftrace, perf
 * and SystemTap.  Included into every source of the library by the
 * compiler (-include, src/CMakeLists.txt), so that a probe is one line at
 * its spot and nothing else; without <sys/sdt.h> (POOTER_USDT off) the
 * probes compile to nothing.
 *
 * The probes, provider "pooter"; every one has the broker's name first.
 * pooter(7), section OBSERVABILITY, documents them for users:
 *
 *   round_open(broker, round, participants)   a round opened
 *   emit(broker, round, emitter, len)         an emit was counted
 *   round_resolve(broker, round)              a round resolved
 *   round_cancel(broker, round, err)          cancelled: -ETIMEDOUT, ...
 *   deliver(broker, consumer, round)          a consumer took a delivery
 *   lock_takeover(broker, dead_pid)           the lock taken from the dead
 *
 * The decisions fire when the outcome is staged, just before its commit:
 * a process that dies in between fired a probe for a decision the next
 * caller makes again (a cancellation, EOWNERDEAD, most likely).
 */
#ifndef POOTER_PROBES_H
#define POOTER_PROBES_H

#ifdef POOTER_USDT
#define SDT_USE_VARIADIC 1 /* STAP_PROBEV */
#include <sys/sdt.h>
#define POOTER_PROBE(name, ...) STAP_PROBEV(pooter, name, __VA_ARGS__)
#else
#define POOTER_PROBE(name, ...) \
	do {                    \
	} while (0)
#endif

/* The lock of broker b taken over from owner, a dead process's token. */
#define POOTER_PROBE_TAKEOVER(b, owner) \
	POOTER_PROBE(lock_takeover, (b)->name, (int)token_pid(owner))

/* A delivery d taken by consumer c. */
#define POOTER_PROBE_DELIVER(c, d) \
	POOTER_PROBE(deliver, (c)->broker->name, (c)->name, (d)->round)

/* The decision of a round: resolved, or cancelled with its errno. */
#define POOTER_PROBE_DECISION(broker, round, code)                      \
	do {                                                            \
		if ((code) == SHM_RESOLVED)                             \
			POOTER_PROBE(round_resolve, (broker), (round)); \
		else                                                    \
			POOTER_PROBE(round_cancel, (broker), (round),   \
				     outcome_errno(code));              \
	} while (0)

#endif /* POOTER_PROBES_H */
