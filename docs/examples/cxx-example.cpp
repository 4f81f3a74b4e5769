// SPDX-License-Identifier: MIT
/*
 * cxx-example - pooter from C++17: the header as it is, with no wrapper.
 *
 * Two things differ from C (pooter(7), section C++, says why):
 *
 *   - options: C++17 has no designated initializers (C++20 has them, in
 *     declaration order only), so declare with POOTER_OPTS_INIT(), which
 *     zeroes the struct and sets its size, then assign the fields;
 *   - pooter_broker_stat() hides the name of struct pooter_broker_stat, as
 *     stat() hides struct stat: say "struct pooter_broker_stat st{};".
 *
 * One process, one emitter and one consumer: the emitter's emit resolves
 * the round at once (it is the only participant), the consumer takes the
 * delivery and checks its payload.  Exits 0 when it did.
 *
 *   c++ -std=c++17 -Wall -Wextra -pedantic -Werror -o cxx-example \
 *       cxx-example.cpp $(pkg-config --cflags --libs pooter)
 */
#include <cstdint>
#include <cstdio>
#include <string>

#include <pooter.h>

namespace {

int fail(const char *what, int err)
{
	std::fprintf(stderr, "cxx-example: %s: %s (%s)\n", what,
		     pooter_strerror(err), pooter_last_error());
	return 1;
}

} // namespace

int main()
{
	POOTER_OPTS_INIT(pooter_broker_attr, attr);
	attr.quorum = 1;
	attr.timeout_ms = 5000;

	pooter_broker *broker = nullptr;
	int err = pooter_broker_create(nullptr, &attr, &broker);
	if (err)
		return fail("pooter_broker_create", err);
	const std::string name = pooter_broker_name(broker);

	pooter_consumer *consumer = nullptr;
	pooter_emitter *emitter = nullptr;
	const pooter_delivery *d = nullptr;
	const std::string hello = "hello from C++";
	std::uint64_t round = 0;
	int status = 1;

	if ((err = pooter_consumer_join(broker, "reader", 0, &consumer))) {
		fail("pooter_consumer_join", err);
		goto out_unlink;
	}
	if ((err = pooter_emitter_join(broker, "writer", 0, &emitter))) {
		fail("pooter_emitter_join", err);
		goto out_consumer;
	}
	if ((err = pooter_emit(emitter, hello.data(), hello.size(), &round))) {
		fail("pooter_emit", err);
		goto out_emitter;
	}
	if ((err = pooter_consume(consumer, 5000, &d))) {
		fail("pooter_consume", err);
		goto out_emitter;
	}
	if (d->round == round && d->count == 1 &&
	    std::string(static_cast<const char *>(d->payloads[0].data),
			d->payloads[0].len) == hello &&
	    std::string(d->payloads[0].emitter) == "writer") {
		struct pooter_broker_stat st{};

		if ((err = pooter_broker_stat(broker, &st))) {
			fail("pooter_broker_stat", err);
		} else {
			std::printf("cxx-example: libpooter %s, broker %s: round "
				    "%llu resolved, %llu delivery\n",
				    pooter_version(), name.c_str(),
				    static_cast<unsigned long long>(round),
				    static_cast<unsigned long long>(
					    st.deliveries));
			status = 0;
		}
	} else {
		std::fprintf(stderr, "cxx-example: the delivery is not ours\n");
	}
	pooter_release(consumer, d);
out_emitter:
	pooter_emitter_leave(emitter);
out_consumer:
	pooter_consumer_leave(consumer);
out_unlink:
	pooter_broker_unlink(name.c_str());
	pooter_broker_close(broker);
	return status;
}
