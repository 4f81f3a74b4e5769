/* SPDX-License-Identifier: MIT */
/*
 * async.h - what the io_uring calls (async.c) offer the other calls of
 * layer 2: a leaving member's waits are cancelled.
 */
#ifndef POOTER_ASYNC_H
#define POOTER_ASYNC_H

#include "handle.h"

void uring_cancel_armed(struct uring_armed *armed);

#endif /* POOTER_ASYNC_H */
