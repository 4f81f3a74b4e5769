/* SPDX-License-Identifier: MIT */
/*
 * base.h - what every file of the library may use: the export marker,
 * atomics on shared words, time, and the chaos suite's kill points.
 * Layer 0, with no dependency of its own but libc and <pooter.h>.
 */
#ifndef POOTER_BASE_H
#define POOTER_BASE_H

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "pooter.h"

#define POOTER_API __attribute__((visibility("default")))

#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#ifndef offsetofend
#define offsetofend(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))
#endif

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC 1000000000ull

/*
 * How often a waiter re-checks the liveness of the participants it waits
 * for when nothing wakes it (the contract allows at most 50 ms).
 */
#define LIVENESS_PERIOD_NS (50 * NSEC_PER_MSEC)

/* Test-only kill points (chaos suite); compiled out of release builds. */
#ifdef POOTER_TEST_HOOKS
void pooter_test_point(const char *name);
#define TEST_POINT(name) pooter_test_point(name)
#else
#define TEST_POINT(name) \
	do {             \
	} while (0)
#endif

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#endif /* POOTER_BASE_H */
