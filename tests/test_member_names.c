// SPDX-License-Identifier: MIT
/*
 * test_member_names.c - a member's name is unique in its broker, across
 * kinds: pooter_consumer_join() under the name of a live emitter, and
 * pooter_emitter_join() under the name of a live consumer, give -EEXIST,
 * as pooter_consumer_join(3), pooter_emitter_join(3) and the contract
 * ("EEXIST: name taken by a live member") say.  A dead member's name is
 * free again.  (Issue 15; the fix is main's 3cc39ee.)
 */
#include <errno.h>
#include <string.h>

#include "harness.h"

static void test_names_across_kinds(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 2);
	struct pooter_broker *b;
	struct pooter_emitter *e;
	struct pooter_consumer *c;
	char name[H_NAME_LEN];
	struct h_peer p;

	b = h_create(name, &attr);
	h_peer_start(&p, name);
	assert_int_equal(h_peer_join_emitter(&p, "alice", 0), 0);
	assert_int_equal(h_peer_join_consumer(&p, "bob", 0), 0);

	/* a live emitter's name, as a consumer; a live consumer's, as an emitter */
	assert_int_equal(pooter_consumer_join(b, "alice", 0, &c), -EEXIST);
	assert_non_null(strstr(pooter_last_error(), "alice"));
	assert_int_equal(pooter_emitter_join(b, "bob", 0, &e), -EEXIST);
	assert_non_null(strstr(pooter_last_error(), "bob"));

	/* same kind, as before */
	assert_int_equal(pooter_emitter_join(b, "alice", 0, &e), -EEXIST);
	assert_int_equal(pooter_consumer_join(b, "bob", 0, &c), -EEXIST);

	/* other names still join */
	assert_int_equal(pooter_consumer_join(b, "carol", 0, &c), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);

	/* a dead member's name is free again, for either kind */
	h_kill(p.pid);
	assert_int_equal(pooter_consumer_join(b, "alice", 0, &c), 0);
	assert_int_equal(pooter_consumer_leave(c), 0);
	assert_int_equal(pooter_emitter_join(b, "bob", 0, &e), 0);
	assert_int_equal(pooter_emitter_leave(e), 0);
	h_close(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_names_across_kinds, h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
