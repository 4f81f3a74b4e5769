/* SPDX-License-Identifier: MIT */
/*
 * test_hostile_lock.c - a segment whose lock word names a live process that
 * never took it (here init, pid 1, with its real start time) must not hang
 * its users: after the lock patience (10 s) without any unlock, a call fails
 * with EDEADLK.  A dead holder, by contrast, is taken over at once: the
 * round and chaos suites cover that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define LOCK_OFFSET 256 /* struct shm_lock, first in the state */
#define PATIENCE_NS (10 * 1000000000ull)

/* pid 1's identity token: pid in the low 22 bits, start time above */
static uint64_t init_token(void)
{
	char buf[1024], *p;
	unsigned long long start;
	ssize_t n;
	int fd = open("/proc/1/stat", O_RDONLY);

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	assert_non_null(p);
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		assert_non_null(p);
		p++;
	}
	start = strtoull(p, NULL, 10);
	return ((uint64_t)start << 22) | 1;
}

static void test_live_foreign_lock_holder(void **state)
{
	char name[H_NAME_LEN], path[128];
	struct pooter_broker_stat st;
	struct pooter_broker *b;
	uint64_t token = init_token(), t0, t1;
	int fd, err;

	(void)state;
	b = h_create(name, NULL);
	snprintf(path, sizeof(path), "/dev/shm/pooter.%s", name);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &token, sizeof(token), LOCK_OFFSET),
			 sizeof(token));
	close(fd);

	t0 = h_now_ns();
	err = pooter_broker_stat(b, &st);
	t1 = h_now_ns();
	assert_int_equal(err, -EDEADLK);
	assert_non_null(strstr(pooter_last_error(), "process 1 "));
	assert_true(t1 - t0 >= PATIENCE_NS);
	assert_true(t1 - t0 < PATIENCE_NS + H_LONG_MS * H_NS_PER_MS);
	h_close(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_live_foreign_lock_holder,
					  h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
