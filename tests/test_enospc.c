/* SPDX-License-Identifier: MIT */
/*
 * test_enospc.c - a full /dev/shm is ENOSPC at create, never SIGBUS later.
 *
 * The child makes a private mount namespace and mounts a 2 MiB tmpfs over
 * /dev/shm, so filling it disturbs nobody.  It then checks that a broker too
 * big for the room left is refused with ENOSPC and leaves no file, and that
 * a broker that fits keeps working after every byte left has been taken by
 * somebody else: its space was reserved at create.  Needs CAP_SYS_ADMIN for
 * the mount; without it the test skips and says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define SKIP_STATUS 77

static int count_shm_files(void)
{
	int n = 0;

	for (int i = 0; i < 2; i++) {
		char path[64];
		struct stat sb;

		snprintf(path, sizeof(path), "/dev/shm/pooter.%s",
			 i ? "small" : "big");
		n += stat(path, &sb) == 0;
	}
	return n;
}

static int enospc_child(void *arg)
{
	POOTER_OPTS(pooter_broker_attr, big, .max_emitters = 8,
		    .max_payload = 64 * 1024, .depth = 8);
	POOTER_OPTS(pooter_broker_attr, small, .max_emitters = 1,
		    .max_payload = 64 * 1024, .depth = 4);
	struct pooter_broker *b;
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	const struct pooter_delivery *d;
	static char payload[64 * 1024];
	char fill[4096];
	uint64_t round;
	int fd, err;

	(void)arg;
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=2m,mode=1777") < 0) {
		printf("skip: cannot mount a private tmpfs on /dev/shm: %s\n",
		       strerror(errno));
		return SKIP_STATUS;
	}

	/* 8 emitters x 64 KiB x 8 records is 4 MiB: no room */
	err = pooter_broker_create("big", &big, &b);
	C_EQ(err, -ENOSPC);
	C_EQ(count_shm_files(), 0); /* nothing half made is left */

	/* 256 KiB fits; then somebody else takes every byte left */
	C_EQ(pooter_broker_create("small", &small, &b), 0);
	fd = open("/dev/shm/filler", O_CREAT | O_WRONLY, 0600);
	C_CHECK(fd >= 0);
	memset(fill, 0xa5, sizeof(fill));
	while (write(fd, fill, sizeof(fill)) == (ssize_t)sizeof(fill))
		;
	C_EQ(errno, ENOSPC);
	close(fd);

	/* every record's payload area is touched: no SIGBUS, space was ours */
	C_EQ(pooter_consumer_join(b, "c", 0, &c), 0);
	C_EQ(pooter_emitter_join(b, "e", 0, &e), 0);
	memset(payload, 0x5a, sizeof(payload));
	for (int i = 0; i < 4 * 3; i++) {
		C_EQ(pooter_emit(e, payload, sizeof(payload), &round), 0);
		C_EQ(pooter_consume(c, H_LONG_MS, &d), 0);
		C_EQ(d->round, round);
		C_EQ(d->payloads[0].len, sizeof(payload));
		C_CHECK(memcmp(d->payloads[0].data, payload, sizeof(payload)) ==
			0);
		C_EQ(pooter_release(c, d), 0);
	}
	pooter_emitter_leave(e);
	pooter_consumer_leave(c);
	pooter_broker_close(b);
	return 0;
}

static void test_full_shm_is_enospc(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = h_spawn(enospc_child, NULL);
	status = h_wait(pid, H_LONG_MS);
	assert_true(status >= 0);
	assert_true(WIFEXITED(status)); /* a SIGBUS would show here */
	if (WEXITSTATUS(status) == SKIP_STATUS)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_full_shm_is_enospc, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
