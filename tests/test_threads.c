/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - handles used from several threads of one process at once
 * (one handle per thread, as the contract allows).  The suite CI runs under
 * ThreadSanitizer: every word the threads share goes through the lock or an
 * atomic, so TSan must stay silent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define THREADS 3
#define ROUNDS 300

static char broker_name[H_NAME_LEN];
static pthread_barrier_t joined;

struct thread_res {
	int err;
	int rounds;
};

static void *emitter_thread(void *arg)
{
	struct thread_res *res = arg;
	struct pooter_broker *b;
	struct pooter_emitter *e;
	char payload[96];
	uint64_t round, last = 0;

	res->err = pooter_broker_open(broker_name, &b);
	if (res->err)
		return NULL;
	res->err = pooter_emitter_join(b, NULL, 0, &e);
	pthread_barrier_wait(&joined);
	if (res->err)
		goto out;
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(payload, sizeof(payload), "%s:%d",
			 pooter_emitter_name(e), i);
		res->err = pooter_emit(e, payload, strlen(payload) + 1, &round);
		if (res->err || round <= last) {
			res->err = res->err ? res->err : -EPROTO;
			break;
		}
		last = round;
		res->rounds++;
	}
	pooter_emitter_leave(e);
out:
	pooter_broker_close(b);
	return NULL;
}

static void *consumer_thread(void *arg)
{
	struct thread_res *res = arg;
	struct pooter_broker *b;
	struct pooter_consumer *c;
	uint64_t last = 0;

	res->err = pooter_broker_open(broker_name, &b);
	if (res->err)
		return NULL;
	res->err = pooter_consumer_join(b, NULL, 0, &c);
	pthread_barrier_wait(&joined);
	if (res->err)
		goto out;
	while (res->rounds < ROUNDS) {
		const struct pooter_delivery *d;

		res->err = pooter_consume(c, H_LONG_MS, &d);
		if (res->err)
			break;
		/* every payload is whole and names this round's emitters */
		if (d->round <= last || d->count != THREADS) {
			res->err = -EPROTO;
			break;
		}
		for (unsigned int i = 0; i < d->count; i++) {
			const char *p = d->payloads[i].data;

			if (strncmp(p, d->payloads[i].emitter,
				    strlen(d->payloads[i].emitter)) != 0)
				res->err = -EPROTO;
		}
		last = d->round;
		res->rounds++;
		pooter_release(c, d);
		if (res->err)
			break;
	}
	pooter_consumer_leave(c);
out:
	pooter_broker_close(b);
	return NULL;
}

static void test_threads_share_a_broker(void **state)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = H_ROUND_LONG_MS,
		    .depth = 4);
	struct thread_res res[THREADS + 1] = { 0 };
	pthread_t tid[THREADS + 1];
	struct pooter_broker *b;

	(void)state;
	b = h_create(broker_name, &attr);
	/* all join before the first emit, so every round has every thread */
	pthread_barrier_init(&joined, NULL, THREADS + 1);
	assert_int_equal(pthread_create(&tid[THREADS], NULL, consumer_thread,
					&res[THREADS]),
			 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, emitter_thread,
						&res[i]),
				 0);
	for (int i = 0; i <= THREADS; i++) {
		pthread_join(tid[i], NULL);
		assert_int_equal(res[i].err, 0);
		assert_int_equal(res[i].rounds, ROUNDS);
	}
	pthread_barrier_destroy(&joined);
	h_close(b);
	assert_int_equal(pooter_broker_unlink(broker_name), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_threads_share_a_broker,
					  h_teardown),
	};

	return h_run_tests(tests, argc, argv);
}
