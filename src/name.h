/* SPDX-License-Identifier: MIT */
/*
 * name.h - broker and member names: the rule, and UUIDv7 names (name.c).
 * Layer 0.
 */
#ifndef POOTER_NAME_H
#define POOTER_NAME_H

#include "layout.h"

int name_check(const char *name);
void name_generate(char out[SHM_NAME_LEN]);

#endif /* POOTER_NAME_H */
