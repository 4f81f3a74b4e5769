/* SPDX-License-Identifier: MIT */
/*
 * uring_compat.h - io_uring futex SQEs for a liburing that predates them.
 *
 * liburing 2.5 added io_uring_prep_futex_wait(); Debian 12 ships 2.3.  The
 * kernel ABI (Linux 6.7) is: opcode IORING_OP_FUTEX_WAIT, fd = futex2
 * flags, addr = the futex word, addr2 (off) = the expected value, addr3 =
 * the wake bitset, and every other field zero.  Used only when liburing
 * lacks the helper.
 */
#ifndef POOTER_URING_COMPAT_H
#define POOTER_URING_COMPAT_H

#include <liburing.h>

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

#ifndef POOTER_HAVE_URING_FUTEX
/* values from include/uapi/linux/io_uring.h (Linux 6.7) */
#define POOTER_IORING_OP_FUTEX_WAIT 51

static inline void compat_prep_futex_wait(struct io_uring_sqe *sqe,
					  uint32_t *futex, uint64_t val,
					  uint64_t mask, uint32_t futex_flags,
					  unsigned int flags)
{
	io_uring_prep_rw(POOTER_IORING_OP_FUTEX_WAIT, sqe, (int)futex_flags,
			 futex, 0, val);
	sqe->rw_flags = (__kernel_rwf_t)flags;
	sqe->addr3 = mask;
}

#define pooter_prep_futex_wait compat_prep_futex_wait
#define POOTER_OP_FUTEX_WAIT POOTER_IORING_OP_FUTEX_WAIT
#else
#define pooter_prep_futex_wait io_uring_prep_futex_wait
#define POOTER_OP_FUTEX_WAIT IORING_OP_FUTEX_WAIT
#endif

#endif /* POOTER_URING_COMPAT_H */
