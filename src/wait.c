/* SPDX-License-Identifier: MIT */
/*
 * wait.c - taking a sleep that a step function described (see wait.h):
 * the io_uring probe, the waiter's private ring, and the arming of a sleep
 * on any ring, private or the application's.
 *
 * An armed sleep is, on one ring:
 *
 *   FUTEX_WAIT(word, val, our bit)  or  FUTEX_WAITV(word0, word1)   main CQE
 *     -> LINK_TIMEOUT(until)                                        aux
 *   POLL_ADD(pidfd #1, POLLIN) -> FUTEX_WAKE(word, our bit)         aux, aux
 *   ...one such pair per process watched
 *
 * A watched process that dies makes its pidfd readable, the linked wake
 * wakes our futex wait, and the main CQE arrives: the one CQE the caller
 * acts on, whatever ended the sleep.  The wake carries this waiter's bit of
 * the futex bitset, so it does not wake the other sleepers on the word;
 * the words' own wakers wake every bit.  The watches outlive the main CQE
 * and are cancelled by wait_disarm() (an emitter leaving cancels all of its
 * own, see member.c).
 *
 * Where io_uring cannot do this, a sleep is a futex(2) sleep on the first
 * word, and whatever could not be watched is re-checked every
 * LIVENESS_PERIOD_NS by the step function.
 */
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "liveness.h"
#include "uring_compat.h"
#include "wait.h"

enum {
	UD_MAIN = 2, /* the sleep; UD_MAIN | POOTER_CQE_AUX: its watches */
	UD_CANCEL = 4,
};

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_err;
static char probe_reason[160];

static void uring_probe(void)
{
	static const struct {
		int op;
		const char *name;
	} needed[] = {
		{ POOTER_OP_FUTEX_WAIT, "IORING_OP_FUTEX_WAIT (Linux 6.7)" },
		{ POOTER_OP_FUTEX_WAKE, "IORING_OP_FUTEX_WAKE (Linux 6.7)" },
		{ POOTER_OP_FUTEX_WAITV, "IORING_OP_FUTEX_WAITV (Linux 6.7)" },
		{ IORING_OP_LINK_TIMEOUT, "IORING_OP_LINK_TIMEOUT" },
		{ IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT" },
		{ IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD" },
		{ IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL" },
	};
	const char *env = getenv("POOTER_NO_URING");
	struct io_uring_probe *p;
	struct io_uring ring;
	int ret;

	probe_err = -EOPNOTSUPP;
	if (env && *env && strcmp(env, "0") != 0) {
		snprintf(probe_reason, sizeof(probe_reason),
			 "io_uring not used: POOTER_NO_URING=%s is set", env);
		return;
	}
	ret = io_uring_queue_init(2, &ring, 0);
	if (ret < 0) {
		snprintf(probe_reason, sizeof(probe_reason),
			 "io_uring_setup failed: %s (disabled by "
			 "kernel.io_uring_disabled or a seccomp filter?)",
			 strerror(-ret));
		return;
	}
	p = io_uring_get_probe_ring(&ring);
	if (!p) {
		snprintf(probe_reason, sizeof(probe_reason),
			 "io_uring probe failed (kernel older than 5.6?)");
		goto out;
	}
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		if (!io_uring_opcode_supported(p, needed[i].op)) {
			snprintf(probe_reason, sizeof(probe_reason),
				 "the kernel's io_uring lacks %s",
				 needed[i].name);
			goto out_probe;
		}
	}
	probe_err = 0;
out_probe:
	io_uring_free_probe(p);
out:
	io_uring_queue_exit(&ring);
}

int wait_uring_probe(const char **reason)
{
	pthread_once(&probe_once, uring_probe);
	if (reason)
		*reason = probe_reason;
	return probe_err;
}

int waiter_init(struct waiter *w, unsigned int processes, int lock_fd)
{
	static unsigned int next_bit;
	unsigned int bit = __atomic_fetch_add(&next_bit, 1, __ATOMIC_RELAXED);

	memset(w, 0, sizeof(*w));
	/* spread over the bitset: handles of one process, and of others */
	w->mask = 1u << ((bit + (unsigned int)self_pid() * 7u) % 32u);
	w->pidfds = pidfd_cache_new(processes + 1, lock_fd);
	return w->pidfds ? 0 : -ENOMEM;
}

static void waiter_ring_free(struct waiter *w)
{
	if (!w->ring)
		return;
	io_uring_queue_exit(w->ring);
	free(w->ring);
	w->ring = NULL;
}

void waiter_free(struct waiter *w)
{
	waiter_ring_free(w);
	pidfd_cache_free(w->pidfds);
	w->pidfds = NULL;
}

/* The private ring: the main wait, its timeout, two a watch, the cancel. */
static struct io_uring *waiter_ring(struct waiter *w)
{
	struct io_uring *ring;

	if (w->ring || w->no_ring)
		return w->ring;
	if (wait_uring_probe(NULL)) {
		w->no_ring = true;
		return NULL;
	}
	ring = calloc(1, sizeof(*ring));
	if (!ring || io_uring_queue_init(2 * WAIT_FDS_MAX + 4, ring, 0) < 0) {
		free(ring);
		w->no_ring = true;
		return NULL;
	}
	w->ring = ring;
	return ring;
}

void wait_sleep_init(struct wait_sleep *s)
{
	s->nwords = 0;
	s->until = UINT64_MAX;
	s->unwatched = false;
	s->nfds = 0;
}

void wait_sleep_word(struct wait_sleep *s, uint32_t *word, uint32_t val)
{
	if (s->nwords < WAIT_WORDS_MAX) {
		s->word[s->nwords] = word;
		s->val[s->nwords++] = val;
	}
}

int wait_sleep_watch(struct waiter *w, struct wait_sleep *s, uint64_t token,
		     uint64_t byte)
{
	int fd;

	if (s->nfds == 0)
		pidfd_scan_begin(w->pidfds);
	fd = pidfd_get(w->pidfds, token, byte);
	if (fd == -ESRCH)
		return -ESRCH;
	if (fd < 0 || s->nfds >= WAIT_FDS_MAX) {
		s->unwatched = true;
		return 0;
	}
	s->fds[s->nfds++] = fd;
	return 0;
}

static void abs_timespec(int64_t ts[2], uint64_t ns)
{
	struct __kernel_timespec *kts = (struct __kernel_timespec *)ts;

	kts->tv_sec = (long long)(ns / NSEC_PER_SEC);
	kts->tv_nsec = (long long)(ns % NSEC_PER_SEC);
}

static_assert(sizeof(((struct wait_arm_buf *)0)->ts) ==
		      sizeof(struct __kernel_timespec),
	      "the buffer holds a kernel timespec");

/* The liveness period bounds a sleep in which someone goes unwatched. */
static uint64_t sleep_until(const struct wait_sleep *s, bool watched)
{
	uint64_t until = s->until, period;

	if (!s->unwatched && watched)
		return until;
	period = now_ns() + LIVENESS_PERIOD_NS;
	return period < until ? period : until;
}

int wait_arm(struct io_uring *ring, struct waiter *w, struct wait_sleep *s,
	     uint64_t user_data, int64_t ts[2], struct futex_waitv *waitv)
{
	unsigned int room = io_uring_sq_space_left(ring), nfds = s->nfds;
	struct io_uring_sqe *sqe;
	uint64_t until;
	int queued = 1;

	if (room < 2)
		return -EBUSY;
	/* the wakers make the wake syscall only if told someone sleeps */
	for (unsigned int i = 0; i < s->nwords; i++) {
		if (!futex_mark_sleeper(s->word[i], s->val[i])) {
			s->nfds = 0;
			sqe = io_uring_get_sqe(ring);
			io_uring_prep_nop(sqe);
			sqe->user_data = user_data;
			return 1;
		}
	}
	if (nfds && room < 2 + 2 * nfds)
		nfds = 0;
	until = sleep_until(s, nfds == s->nfds);
	s->nfds = nfds; /* what is watched, for the caller */

	sqe = io_uring_get_sqe(ring);
	if (s->nwords == 1) {
		pooter_prep_futex_wait(sqe, s->word[0],
				       s->val[0] | FUTEX_SLEEPERS, w->mask,
				       FUTEX2_SIZE_U32, 0);
	} else {
		for (unsigned int i = 0; i < s->nwords; i++) {
			waitv[i].val = s->val[i] | FUTEX_SLEEPERS;
			waitv[i].uaddr = (uintptr_t)s->word[i];
			waitv[i].flags = FUTEX2_SIZE_U32;
			waitv[i].__reserved = 0;
		}
		pooter_prep_futex_waitv(sqe, waitv, s->nwords);
	}
	sqe->user_data = user_data;
	if (until != UINT64_MAX) {
		sqe->flags |= IOSQE_IO_LINK;
		abs_timespec(ts, until);
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_link_timeout(sqe, (struct __kernel_timespec *)ts,
					   IORING_TIMEOUT_ABS);
		sqe->user_data = user_data | POOTER_CQE_AUX;
		queued++;
	}
	for (unsigned int i = 0; i < nfds; i++) {
		/* a death makes the pidfd readable, and the link wakes us */
		sqe = io_uring_get_sqe(ring);
		io_uring_prep_poll_add(sqe, s->fds[i], POLLIN);
		sqe->flags |= IOSQE_IO_LINK;
		sqe->user_data = user_data | POOTER_CQE_AUX;
		sqe = io_uring_get_sqe(ring);
		pooter_prep_futex_wake(sqe, s->word[0], INT_MAX, w->mask,
				       FUTEX2_SIZE_U32, 0);
		sqe->user_data = user_data | POOTER_CQE_AUX;
		queued += 2;
	}
	return queued;
}

static void cancel_prep(struct io_uring *ring, uint64_t target, int flags,
			uint64_t user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, target, flags);
	sqe->user_data = user_data;
}

void wait_disarm(struct io_uring *ring, uint64_t user_data, bool main)
{
	if (main)
		cancel_prep(ring, user_data, IORING_ASYNC_CANCEL_ALL,
			    user_data | POOTER_CQE_AUX);
	cancel_prep(ring, user_data | POOTER_CQE_AUX, IORING_ASYNC_CANCEL_ALL,
		    user_data | POOTER_CQE_AUX);
}

/*
 * A main CQE that is not a wake (0), a value already changed (-EAGAIN),
 * a timeout (-ECANCELED, -ETIME) or a signal says the ring cannot do it.
 */
static bool main_cqe_failed(int res)
{
	return res < 0 && res != -EAGAIN && res != -ECANCELED &&
	       res != -ETIME && res != -EINTR;
}

static void futex_block(const struct wait_sleep *s)
{
	if (s->nwords)
		futex_sleep(s->word[0], s->val[0], sleep_until(s, false));
}

void wait_block(struct waiter *w, struct wait_sleep *s)
{
	struct io_uring *ring = waiter_ring(w);
	unsigned int reaped = 0;
	struct io_uring_cqe *cqe;
	struct wait_arm_buf buf;
	bool main_seen = false;
	int queued;

	w->woken = true;
	if (!ring) {
		futex_block(s);
		return;
	}
	queued = wait_arm(ring, w, s, UD_MAIN, buf.ts, buf.waitv);
	if (queued < 0) {
		futex_block(s);
		return;
	}
	/* -EINTR from the wait still submitted everything: fall through */
	if (io_uring_submit_and_wait(ring, 1) < 0 &&
	    io_uring_sq_ready(ring) == (unsigned int)queued) {
		/* nothing was submitted: drop the ring, futex(2) from now on */
		waiter_ring_free(w);
		w->no_ring = true;
		futex_block(s);
		return;
	}
	/* the main CQE ends the sleep, whatever woke it */
	while (!main_seen) {
		int ret = io_uring_wait_cqe(ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;
		if (cqe->user_data == UD_MAIN) {
			main_seen = true;
			if (main_cqe_failed(cqe->res)) {
				w->no_ring = true;
			}
		}
		io_uring_cqe_seen(ring, cqe);
		reaped++;
	}
	/* then cancel the watches and reap every CQE: the ring is ours */
	cancel_prep(ring, 0, IORING_ASYNC_CANCEL_ANY, UD_CANCEL);
	queued++;
	io_uring_submit(ring);
	while (reaped < (unsigned int)queued) {
		int ret = io_uring_wait_cqe(ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;
		io_uring_cqe_seen(ring, cqe);
		reaped++;
	}
	if (w->no_ring)
		waiter_ring_free(w);
}
