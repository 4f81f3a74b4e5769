/* SPDX-License-Identifier: MIT */
/*
 * uring_compat.h - io_uring futex SQEs for a liburing that predates them.
 *
 * liburing 2.5 added io_uring_prep_futex_wait(), _wake() and _waitv();
 * Debian 12 ships 2.3.  The kernel ABI (Linux 6.7):
 *   - IORING_OP_FUTEX_WAIT and IORING_OP_FUTEX_WAKE: fd = futex2 flags,
 *     addr = the futex word, addr2 (off) = the expected value (wait) or how
 *     many to wake (wake), addr3 = the bitset, every other field zero;
 *   - IORING_OP_FUTEX_WAITV: addr = an array of struct futex_waitv, len =
 *     its length, every other field zero; the array is read at submission.
 * Used only when liburing lacks the helpers.
 */
#ifndef POOTER_URING_COMPAT_H
#define POOTER_URING_COMPAT_H

#include <liburing.h>
#include <linux/futex.h>

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

#ifndef POOTER_HAVE_URING_FUTEX
/* values from include/uapi/linux/io_uring.h (Linux 6.7) */
#define POOTER_OP_FUTEX_WAIT 51
#define POOTER_OP_FUTEX_WAKE 52
#define POOTER_OP_FUTEX_WAITV 53

static inline void compat_prep_futex(struct io_uring_sqe *sqe, int op,
				     uint32_t *futex, uint64_t val,
				     uint64_t mask, uint32_t futex_flags)
{
	io_uring_prep_rw(op, sqe, (int)futex_flags, futex, 0, val);
	sqe->addr3 = mask;
}

#define pooter_prep_futex_wait(sqe, futex, val, mask, futex_flags, flags) \
	compat_prep_futex(sqe, POOTER_OP_FUTEX_WAIT, futex, val, mask,    \
			  futex_flags)
#define pooter_prep_futex_wake(sqe, futex, val, mask, futex_flags, flags) \
	compat_prep_futex(sqe, POOTER_OP_FUTEX_WAKE, futex, val, mask,    \
			  futex_flags)

static inline void pooter_prep_futex_waitv(struct io_uring_sqe *sqe,
					   struct futex_waitv *futexv,
					   uint32_t nr_futex)
{
	io_uring_prep_rw(POOTER_OP_FUTEX_WAITV, sqe, 0, futexv, nr_futex, 0);
}
#else
#define pooter_prep_futex_wait io_uring_prep_futex_wait
#define pooter_prep_futex_wake io_uring_prep_futex_wake
#define pooter_prep_futex_waitv(sqe, futexv, nr) \
	io_uring_prep_futex_waitv(sqe, futexv, nr, 0)
#define POOTER_OP_FUTEX_WAIT IORING_OP_FUTEX_WAIT
#define POOTER_OP_FUTEX_WAKE IORING_OP_FUTEX_WAKE
#define POOTER_OP_FUTEX_WAITV IORING_OP_FUTEX_WAITV
#endif

#endif /* POOTER_URING_COMPAT_H */
