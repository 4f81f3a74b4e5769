/* SPDX-License-Identifier: MIT */
/*
 * name.c - validation of broker and member names, and UUIDv7 generation.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "base.h"
#include "error.h"
#include "name.h"

/* 1..63 bytes of [A-Za-z0-9._-], not starting with '.'. */
int name_check(const char *name)
{
	size_t i;

	if (!name)
		return set_error(-EINVAL, "name is NULL");
	for (i = 0; name[i]; i++) {
		char c = name[i];

		if (i >= POOTER_NAME_MAX)
			return set_error(-ENAMETOOLONG,
					 "name longer than %d bytes",
					 POOTER_NAME_MAX);
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-')
			continue;
		if (c == '.' && i > 0)
			continue;
		return set_error(-EINVAL,
				 "name \"%.63s\": byte %zu ('%c') not allowed "
				 "(use [A-Za-z0-9._-], no leading '.')",
				 name, i, (c >= 32 && c < 127) ? c : '?');
	}
	if (i == 0)
		return set_error(-EINVAL, "name is empty");
	return 0;
}

/* RFC 9562 UUIDv7: 48-bit Unix milliseconds, version, variant, random bits. */
void name_generate(char out[SHM_NAME_LEN])
{
	struct timespec ts;
	uint8_t u[16];
	uint64_t ms;
	size_t got = 0;

	while (got < sizeof(u)) {
		ssize_t n = getrandom(u + got, sizeof(u) - got, 0);

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno != EINTR)
			break;
	}
	if (got < sizeof(u)) {
		/* No entropy source: fall back to time and pid mixing. */
		uint64_t x = now_ns() ^ ((uint64_t)getpid() << 32);

		for (size_t i = 0; i < sizeof(u); i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			u[i] = (uint8_t)(x >> 56);
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (int i = 0; i < 6; i++)
		u[i] = (uint8_t)(ms >> (40 - 8 * i));
	u[6] = (uint8_t)(0x70 | (u[6] & 0x0f));
	u[8] = (uint8_t)(0x80 | (u[8] & 0x3f));
	snprintf(out, SHM_NAME_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}
