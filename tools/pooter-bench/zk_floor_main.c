/* SPDX-License-Identifier: MIT */
/*
 * zk_floor_main - try zk_floor_measure() by hand:
 *
 *   zk_floor_main HOSTS N
 *
 * HOSTS is a ZooKeeper connect string (tests/zk/ensemble.sh start prints
 * one), N the number of samples of each kind.  Prints both medians in
 * microseconds; exits 1 with the message on a failure.
 *
 *   gcc -std=c11 -Wall -Wextra -O2 -o zk_floor_main zk_floor_main.c \
 *       zk_floor.c -lzookeeper_st
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zk_floor.h"

int main(int argc, char **argv)
{
	double multi_us, watch_us;
	unsigned long n;
	char err[512], *end;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s HOSTS N\n", argv[0]);
		return 2;
	}
	errno = 0;
	n = strtoul(argv[2], &end, 10);
	if (errno || *end || end == argv[2] || !n || n > 10000000) {
		fprintf(stderr, "%s: N must be from 1 to 10000000, not '%s'\n",
			argv[0], argv[2]);
		return 2;
	}
	rc = zk_floor_measure(argv[1], (unsigned int)n, &multi_us, &watch_us,
			      err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: %s (%s)\n", argv[0], err, strerror(-rc));
		return 1;
	}
	printf("multi p50: %.1f us (create sequential + check, %lu samples)\n",
	       multi_us, n);
	printf("watch p50: %.1f us (set on A to data watch event on B, %lu samples)\n",
	       watch_us, n);
	return 0;
}
