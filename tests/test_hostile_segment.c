// SPDX-License-Identifier: MIT
/*
 * test_hostile_segment.c - what any local user can leave at or write into
 * /dev/shm/pooter.NAME: a FIFO where the segment should be, record words
 * outside their encodings.  Every call must refuse with -EPROTO and say why
 * in pooter_last_error(); none may hang or hand the bad value on.
 *
 * Segments are corrupted through a mapping of their file, at offsets taken
 * from src/layout.h, the one place that defines them.  The lock is not taken
 * for that: these tests are the only users of their brokers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "harness.h"
#include "layout.h"

/* a call on a FIFO returns at once, or it is a hang: well below H_LONG_MS */
#define FIFO_BOUND_MS H_SLACK_MS

static void shm_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/dev/shm/pooter.%s", name);
}

/* --- a FIFO in the segment's place -------------------------------------- */

struct fifo_problems {
	unsigned int n;
	unsigned int not_regular;
};

static void on_fifo_problem(const char *problem, void *arg)
{
	struct fifo_problems *p = arg;

	p->n++;
	if (strstr(problem, "not a regular file"))
		p->not_regular++;
}

static int child_fifo(void *arg)
{
	const char *name = arg;
	struct fifo_problems probs = { 0 };
	struct pooter_broker *b = NULL;

	C_EQ(pooter_broker_open(name, &b), -EPROTO);
	C_CHECK(strstr(pooter_last_error(), "not a regular file"));
	C_CHECK(strstr(pooter_last_error(), name));
	/* check reports the problem: one, not an errno */
	C_EQ(pooter_broker_check(name, on_fifo_problem, &probs), 1);
	C_EQ(probs.n, 1);
	C_EQ(probs.not_regular, 1);
	C_CHECK(strstr(pooter_last_error(), "not a regular file"));
	return 0;
}

/*
 * Opening a FIFO for reading blocks until a writer comes: open and check run
 * in a child, and a child still running after FIFO_BOUND_MS fails the test
 * (h_teardown() kills it) instead of hanging the suite.
 */
static void test_fifo(void **state)
{
	char name[H_NAME_LEN], path[128];
	int status;

	(void)state;
	h_name(name);
	shm_path(path, sizeof(path), name);
	assert_int_equal(mkfifo(path, 0600), 0);
	status = h_wait(h_spawn(child_fifo, name), FIFO_BOUND_MS);
	if (status == -1)
		fail_msg("open or check of a FIFO at %s still blocked after "
			 "%d ms",
			 path, FIFO_BOUND_MS);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(unlink(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fifo, h_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
