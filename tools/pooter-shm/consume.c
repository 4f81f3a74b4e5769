/* SPDX-License-Identifier: MIT */
/*
 * consume.c - pooter-shm consume: join a broker as a consumer and print the
 * rounds delivered to it, as text or as one JSON document per line.
 *
 * The consumer leaves before the process exits, whatever ends it (the
 * count, --timeout, SIGINT, SIGTERM, a reader that went away), so that no
 * dead slot is left behind to hold ring records until someone reaps it.
 * That is why the wait is cut into slices: pooter_consume() resumes after
 * a signal, so the loop is what notices one.  Interrupted, it exits with
 * 128 + the signal's number, as the shell would report the signal.
 */
#include <errno.h>
#include <string.h>

#include "shm.h"

#define CONSUME_SLICE_MS 250

/* A name from the segment, bounded and terminated before any use. */
static void copy_name(char *dst, const char *src)
{
	size_t len = src ? strnlen(src, POOTER_NAME_MAX) : 0;

	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
}

static void print_text(FILE *out, const struct pooter_delivery *d)
{
	char name[POOTER_NAME_MAX + 1];
	unsigned int i;

	fprintf(out, "round %llu ", (unsigned long long)d->round);
	shm_print_outcome(out, d->outcome);
	if (d->outcome) {
		fputc('\n', out);
		return;
	}
	fprintf(out, ": %u payload%s\n", d->count, d->count == 1 ? "" : "s");
	for (i = 0; i < d->count; i++) {
		const struct pooter_payload *p = &d->payloads[i];

		copy_name(name, p->emitter);
		fputs("  ", out);
		shm_print_clean(out, name);
		fprintf(out, " (%zu byte%s): ", p->len, p->len == 1 ? "" : "s");
		if (shm_text_printable(p->data, p->len)) {
			size_t len = p->len;

			/* The final newline is the line's own. */
			if (len && ((const char *)p->data)[len - 1] == '\n')
				len--;
			fwrite(p->data, 1, len, out);
		} else {
			fputs("hex ", out);
			shm_print_hex(out, p->data, p->len);
		}
		fputc('\n', out);
	}
}

static void print_json(FILE *out, const char *broker, const char *consumer,
		       const struct pooter_delivery *d)
{
	char name[POOTER_NAME_MAX + 1];
	unsigned int i;
	struct json j;

	json_init(&j, out);
	json_object_begin(&j, NULL);
	url_json(&j, "broker", broker);
	json_string(&j, "consumer", consumer);
	json_uint(&j, "round", d->round);
	json_string(&j, "outcome", shm_outcome_name(d->outcome));
	json_array_begin(&j, "payloads");
	for (i = 0; !d->outcome && i < d->count; i++) {
		const struct pooter_payload *p = &d->payloads[i];

		copy_name(name, p->emitter);
		json_object_begin(&j, NULL);
		json_string(&j, "emitter", name);
		json_uint(&j, "len", p->len);
		/* Text when it is text; base64 always, which keeps every byte. */
		if (shm_utf8_valid(p->data, p->len) &&
		    !memchr(p->data, '\0', p->len))
			json_string_len(&j, "data", p->data, p->len);
		else
			json_null(&j, "data");
		json_base64(&j, "base64", p->data, p->len);
		json_object_end(&j);
	}
	json_array_end(&j);
	json_object_end(&j);
	json_end(&j);
}

/*
 * Wait for the next delivery up to timeout_ms (-1: forever), a slice at a
 * time, until a signal asks to stop (-EINTR).
 */
static int consume_next(struct pooter_consumer *consumer, int timeout_ms,
			const struct pooter_delivery **dp)
{
	uint64_t deadline = 0, now;
	int slice, ret;

	if (timeout_ms >= 0)
		deadline = shm_now_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		if (shm_stop)
			return -EINTR;
		slice = CONSUME_SLICE_MS;
		if (timeout_ms >= 0) {
			now = shm_now_ns();
			if (now >= deadline)
				slice = 0;
			else if ((deadline - now) / 1000000 < CONSUME_SLICE_MS)
				slice = (deadline - now + 999999) / 1000000;
		}
		ret = pooter_consume(consumer, slice, dp);
		if (ret != -ETIMEDOUT || (timeout_ms >= 0 && !slice))
			return ret;
	}
}

int cmd_consume(const struct shm_cmd *cmd, int argc, char **argv)
{
	const char *name, *as = NULL;
	unsigned int count = 1, got = 0, timeout = 0, flags;
	bool follow = false, have_count = false, json = false;
	bool have_timeout = false, notices = false;
	const struct shm_opt opts[] = {
		SHM_OPT_STR("as", 'a', &as),
		SHM_OPT_UINT("count", 'n', &count, 1, UINT32_MAX, &have_count),
		SHM_OPT_FLAG("follow", 'f', &follow),
		SHM_OPT_UINT("timeout", 't', &timeout, 0, INT32_MAX,
			     &have_timeout),
		SHM_OPT_FLAG("notices", 'N', &notices),
		SHM_OPT_FLAG("json", 'j', &json),
		{ .name = NULL },
	};
	char consumer_name[POOTER_NAME_MAX + 1];
	const struct pooter_delivery *d;
	struct pooter_consumer *consumer;
	struct pooter_broker *broker;
	int ret;

	if (shm_parse_name(cmd, argc, argv, opts, &name, &ret))
		return ret;
	if (follow && have_count)
		return shm_usage_error(cmd, "--count and --follow exclude each "
					    "other");
	ret = url_check(cmd, name);
	if (!ret && as)
		ret = shm_check_name(cmd, "consumer", as);
	if (ret)
		return ret;

	ret = shm_open_broker(cmd, name, &broker);
	if (ret)
		return ret;
	flags = notices ? POOTER_CONSUMER_NOTICES : 0;
	ret = shm_result(cmd, name,
			 pooter_consumer_join(broker, as, flags, &consumer));
	if (ret)
		goto out_close;
	copy_name(consumer_name, pooter_consumer_name(consumer));
	shm_catch_signals();

	while (follow || got < count) {
		ret = consume_next(consumer, have_timeout ? (int)timeout : -1,
				   &d);
		if (ret == -EINTR) {
			/*
			 * As a shell reports a process a signal ended: so
			 * that "consume ... && act" does not act after a
			 * Ctrl-C (the consumer still leaves, below).
			 */
			ret = SHM_EXIT_SIGNAL + shm_stop;
			break;
		} else if (ret == -ETIMEDOUT) {
			shm_error(cmd, name, "no delivery within %u ms",
				  timeout);
			ret = SHM_EXIT_TIMEDOUT;
			break;
		}
		ret = shm_result(cmd, name, ret);
		if (ret)
			break;
		if (json)
			print_json(stdout, name, consumer_name, d);
		else
			print_text(stdout, d);
		got++;
		ret = shm_result(cmd, name, pooter_release(consumer, d));
		if (!ret)
			ret = shm_flush(cmd, stdout);
		if (ret)
			break;
	}
	pooter_consumer_leave(consumer);
out_close:
	pooter_broker_close(broker);
	return ret;
}
