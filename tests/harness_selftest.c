// SPDX-License-Identifier: MIT
/*
 * harness_selftest.c - how h_run_tests() reports, checked by ctest: run with
 * a filter (see harness.h), this suite must exit 77 when every test that ran
 * skipped, 0 when only some did, and 1 when one failed, whatever skipped.
 * Not a suite of its own (tests/CMakeLists.txt runs it with each filter and
 * checks the exit status); without a filter it fails on purpose.
 */
#include "harness.h"

static void test_skips(void **state)
{
	(void)state;
	print_message("skip: on purpose\n");
	skip();
}

static void test_skips_too(void **state)
{
	(void)state;
	skip();
}

static void test_passes(void **state)
{
	(void)state;
	assert_true(1);
}

static void test_fails(void **state)
{
	(void)state;
	fail_msg("on purpose");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skips),
		cmocka_unit_test(test_skips_too),
		cmocka_unit_test(test_passes),
		cmocka_unit_test(test_fails),
	};

	return h_run_tests(tests, argc, argv);
}
