/* SPDX-License-Identifier: MIT */
/*
 * testhook.c - named kill points for the chaos suite, compiled only with
 * -DPOOTER_TEST_HOOKS=ON (never into a release build).
 *
 * POOTER_KILL_AT=NAME:N makes the process SIGKILL itself the N-th time it
 * reaches TEST_POINT(NAME) (N defaults to 1), so a test can die at an exact
 * instruction inside the library: holding the lock, between a journal's
 * commit and its apply, after copying a payload but before counting it.
 */
#ifdef POOTER_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "error.h"

POOTER_API void pooter_test_point(const char *name)
{
	static __thread pid_t parsed_for;
	static __thread char point[64];
	static __thread long remaining;
	const char *env, *colon;
	size_t len;

	if (parsed_for != getpid()) {
		parsed_for = getpid();
		point[0] = '\0';
		env = getenv("POOTER_KILL_AT");
		if (env) {
			colon = strchr(env, ':');
			len = colon ? (size_t)(colon - env) : strlen(env);
			if (len < sizeof(point)) {
				memcpy(point, env, len);
				point[len] = '\0';
			}
			remaining = colon ? strtol(colon + 1, NULL, 10) : 1;
		}
	}
	if (point[0] && strcmp(point, name) == 0 && --remaining <= 0)
		raise(SIGKILL);
}
#endif
