/* SPDX-License-Identifier: MIT */
/*
 * zk_floor.h - what a ZooKeeper ensemble costs at the very least, measured
 * with the single-threaded C client (libzookeeper_st): the floor under
 * anything built on it.
 */
#ifndef POOTER_BENCH_ZK_FLOOR_H
#define POOTER_BENCH_ZK_FLOOR_H

#include <stddef.h>

/*
 * zk_floor_measure - connect two sessions (A and B) to the ensemble at
 * hosts ("127.0.0.1:22181,127.0.0.1:22182,..."), create the scratch node
 * /pooter-bench-floor-PID, take n samples of each of:
 *
 *   multi   one zoo_amulti() from A of two ops, the create of a sequential
 *           child of the scratch node and a check of the scratch node's
 *           version: from the call to its completion;
 *   watch   A's zoo_aset() on a child of the scratch node on which B has
 *           set a data watch: from A's call to B's watch event;
 *
 * and store the medians in microseconds (CLOCK_MONOTONIC) in *multi_p50_us
 * and *watch_p50_us.  The scratch node and its children are removed before
 * returning, also on most failures (not when session A is gone).
 *
 * Each step waits at most 10 s.  Nothing is retried: a session that loses
 * its connection fails the measurement.  A step still waiting after 0.5 s
 * sends an exists on / through both sessions, answer ignored: ZooKeeper
 * (3.8 at least) can sit on a request until another one reaches the same
 * server (see zk_floor.c); such a sample counts with its full time.  The
 * client's log goes nowhere (its last warning or error ends up in err on
 * a failure).
 *
 * Returns 0, or a negative errno (-EINVAL: bad arguments; -ETIMEDOUT: no
 * session, or no answer, within 10 s; -ECONNRESET: connection lost;
 * -ENOMEM; -EIO and others: what ZooKeeper answered) with a message in err
 * (NUL-terminated, truncated to errlen; err may be NULL if errlen is 0).
 * Runs its own poll() loop, on handles of its own, in the calling thread.
 */
int zk_floor_measure(const char *hosts, unsigned int n, double *multi_p50_us,
		     double *watch_p50_us, char *err, size_t errlen);

#endif /* POOTER_BENCH_ZK_FLOOR_H */
