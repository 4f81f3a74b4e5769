/* SPDX-License-Identifier: MIT */
/*
 * liveness.h - who is alive: identity tokens, and pidfds proven to be the
 * token's process (liveness.c).  The bottom layer: it knows no broker.
 */
#ifndef POOTER_LIVENESS_H
#define POOTER_LIVENESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pidfd_cache;

pid_t self_pid(void);
uint64_t self_token(void);
pid_t token_pid(uint64_t token);
uint64_t self_ns_inode(const char *which);

/*
 * A cache of n pidfds.  lock_fd: the segment file whose liveness locks
 * prove a member alive, or -1.  token_alive() and tokens_dead() lock it.
 */
struct pidfd_cache *pidfd_cache_new(unsigned int n, int lock_fd);
void pidfd_cache_free(struct pidfd_cache *c);

/*
 * Is the process of token alive?  byte: the liveness lock of the slot it
 * owns (0: none to check).  c may be NULL: /proc alone answers then.
 */
bool token_alive(struct pidfd_cache *c, uint64_t token, uint64_t byte);
unsigned int tokens_dead(struct pidfd_cache *c, const uint64_t *tokens,
			 const uint64_t *bytes, unsigned int n, bool *dead);

/* A member's liveness lock on byte of the segment file fd: held till death. */
int live_lock_take(int fd, uint64_t byte);
void live_lock_drop(int fd, uint64_t byte);

/*
 * For one owner of c only (a waiter): a scan, then one pidfd per token;
 * fds handed out in a scan stay open until the next scan.  -ESRCH: the
 * token's process is gone; another negative errno: no pidfd to be had.
 */
void pidfd_scan_begin(struct pidfd_cache *c);
int pidfd_get(struct pidfd_cache *c, uint64_t token, uint64_t byte);

#endif /* POOTER_LIVENESS_H */
