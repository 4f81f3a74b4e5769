/* SPDX-License-Identifier: MIT */
/*
 * error.h - the per-thread detail behind pooter_last_error() (error.c).
 * Layer 0.
 */
#ifndef POOTER_ERROR_H
#define POOTER_ERROR_H

/* Record the detail of a failure; returns err, so callers return it. */
int set_error(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void clear_error(void);

#endif /* POOTER_ERROR_H */
