/* SPDX-License-Identifier: MIT */
/*
 * version.c - pooter_version(): the library's own version, from the header
 * it was built with (src/CMakeLists.txt checks that the header's numbers
 * are the project's).
 */
#include "base.h"

#define POOTER_STR_(x) #x
#define POOTER_STR(x) POOTER_STR_(x)

POOTER_API const char *pooter_version(void)
{
	return POOTER_STR(POOTER_VERSION_MAJOR) "." POOTER_STR(
		POOTER_VERSION_MINOR) "." POOTER_STR(POOTER_VERSION_PATCH);
}
