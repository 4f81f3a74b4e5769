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
#include <sys/mman.h>
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

/* --- records outside their encodings ------------------------------------ */

struct seg {
	void *base;
	size_t size;
	struct layout l;
	uint32_t max_consumers;
};

static void seg_map(const char *name, struct seg *s)
{
	const struct shm_header *h;
	char path[128];
	struct stat sb;
	int fd;

	shm_path(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	s->size = (size_t)sb.st_size;
	s->base =
		mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(s->base != MAP_FAILED);
	h = s->base;
	s->max_consumers = h->max_consumers;
	layout_compute(&s->l, h->max_emitters, h->max_consumers, h->max_payload,
		       h->depth);
	assert_int_equal(s->l.size, s->size);
}

static void seg_unmap(struct seg *s)
{
	munmap(s->base, s->size);
}

/* a store another process may see half way: as a corrupter would write */
static void seg_write(uint64_t *word, uint64_t val)
{
	__atomic_store_n(word, val, __ATOMIC_RELAXED);
}

static struct shm_record *seg_record(struct seg *s, uint32_t i)
{
	return (struct shm_record *)((char *)s->base + s->l.records_off +
				     (uint64_t)i * s->l.record_size);
}

struct records_seen {
	unsigned int calls;
	unsigned int bad; /* a state or holder the contract does not allow */
	unsigned int max_consumers;
};

static int count_records(const struct pooter_record_info *r, void *arg)
{
	struct records_seen *s = arg;

	s->calls++;
	if (r->state != POOTER_RECORD_FREE && r->state != POOTER_RECORD_OPEN &&
	    r->state != POOTER_RECORD_PUBLISHED)
		s->bad++;
	if (r->holders >> s->max_consumers)
		s->bad++;
	return 0;
}

/* foreach_record on a corrupted record: -EPROTO, a reason, no callback. */
static void expect_records_eproto(struct pooter_broker *b, unsigned int rec,
				  const char *what)
{
	struct records_seen s = { .max_consumers = 2 };
	char want[32];
	int rc;

	rc = pooter_broker_foreach_record(b, count_records, &s);
	if (rc != -EPROTO)
		fail_msg("foreach_record with record %u %s: %d (%s), %u "
			 "callbacks, %u with values out of range; expected "
			 "-EPROTO",
			 rec, what, rc, pooter_strerror(rc), s.calls, s.bad);
	assert_int_equal(s.calls, 0);
	snprintf(want, sizeof(want), "record %u", rec);
	if (!strstr(pooter_last_error(), want))
		fail_msg("last error \"%s\" does not name %s",
			 pooter_last_error(), want);
}

static void test_foreach_record_corrupt(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_consumers = 2, .depth = 4);
	struct records_seen s = { .max_consumers = 2 };
	static const uint64_t states[] = { SHM_RECORD_PUBLISHED + 1, 1ull << 31,
					   1ull << 32, UINT64_MAX };
	static const uint64_t holders[] = { 1ull << 2, 1ull << 31, 1ull << 63,
					    UINT64_MAX };
	char name[H_NAME_LEN];
	struct pooter_broker *b;
	struct shm_record *r;
	struct seg seg;

	(void)state;
	b = h_create(name, &attr);
	seg_map(name, &seg);
	r = seg_record(&seg, 1);

	assert_int_equal(pooter_broker_foreach_record(b, count_records, &s), 0);
	assert_int_equal(s.calls, 4);
	assert_int_equal(s.bad, 0);

	for (unsigned int i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		seg_write(&r->state, states[i]);
		expect_records_eproto(b, 1, "in an unknown state");
	}
	seg_write(&r->state, SHM_RECORD_FREE);

	/* held by consumer slots past the two there are, whatever its state */
	for (uint64_t st = SHM_RECORD_FREE; st <= SHM_RECORD_PUBLISHED; st++) {
		seg_write(&r->state, st);
		for (unsigned int i = 0;
		     i < sizeof(holders) / sizeof(holders[0]); i++) {
			seg_write(&r->pending, holders[i]);
			expect_records_eproto(b, 1, "held past max_consumers");
		}
		seg_write(&r->pending, 0);
	}
	seg_write(&r->state, SHM_RECORD_FREE);

	memset(&s, 0, sizeof(s));
	s.max_consumers = 2;
	assert_int_equal(pooter_broker_foreach_record(b, count_records, &s), 0);
	assert_int_equal(s.calls, 4);
	assert_int_equal(s.bad, 0);

	seg_unmap(&seg);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(name), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fifo, h_teardown),
		cmocka_unit_test_teardown(test_foreach_record_corrupt,
					  h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
