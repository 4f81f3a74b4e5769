/* SPDX-License-Identifier: MIT */
/*
 * broker.c - the broker handle's life: create, open, close (a reference
 * count: the opener's, one per member), unlink, list, name, timeout.
 * Layer 2; the segment itself is segment.c's.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend.h"
#include "enter.h"
#include "error.h"
#include "handle.h"
#include "liveness.h"
#include "name.h"
#include "shm.h"

/* A handle on a mapped, validated segment; takes over fd on success. */
int broker_new(const char *name, int fd, void *base, const struct shm_header *h,
	       const struct layout *l, struct pooter_broker **bp)
{
	struct pooter_broker *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->fd = fd;
	b->live_locks = (h->flags & SHM_FLAG_LIVE_LOCKS) != 0;
	b->base = base;
	b->size = l->size;
	b->max_emitters = h->max_emitters;
	b->max_consumers = h->max_consumers;
	b->max_payload = h->max_payload;
	b->depth = h->depth;
	b->quorum = h->quorum;
	b->layout = *l;
	b->st = (struct shm_state *)((char *)base + l->state_off);
	b->token = self_token();
	b->pid = self_pid();
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->ops = &shm_backend;
	b->n_ref = 1;
	b->pidfds = pidfd_cache_new(b->max_emitters + b->max_consumers + 1,
				    b->live_locks ? fd : -1);
	if (!b->pidfds) {
		free(b);
		return -ENOMEM;
	}
	*bp = b;
	return 0;
}

static int attr_get(const struct pooter_broker_attr *attr,
		    struct pooter_broker_attr *out)
{
	struct pooter_broker_attr a = { .sz = sizeof(a) };

	if (attr) {
		size_t sz = attr->sz;

		if (sz < offsetof(struct pooter_broker_attr, max_emitters))
			return set_error(-EINVAL, "attr.sz %zu too small", sz);
		/*
		 * A newer caller's extra fields must be zero: we ignore them.
		 * From the end of the last field we know, not from sizeof:
		 * the padding after it is where a newer field may be.
		 */
		for (size_t i = offsetofend(struct pooter_broker_attr, mode);
		     i < sz; i++)
			if (((const char *)attr)[i])
				return set_error(-EINVAL,
						 "attr has fields this library "
						 "does not know (sz %zu)",
						 sz);
		memcpy(&a, attr, sz < sizeof(a) ? sz : sizeof(a));
	}
	out->max_emitters = a.max_emitters ?: POOTER_DEFAULT_EMITTERS;
	out->max_consumers = a.max_consumers ?: POOTER_DEFAULT_CONSUMERS;
	out->max_payload = a.max_payload ?: POOTER_DEFAULT_PAYLOAD;
	out->depth = a.depth ?: POOTER_DEFAULT_DEPTH;
	out->timeout_ms = a.timeout_ms ?: POOTER_DEFAULT_TIMEOUT_MS;
	out->quorum = a.quorum;
	out->mode = a.mode ?: POOTER_DEFAULT_MODE;

#define ATTR_LIMIT(field, hi)                                            \
	if (out->field > (hi))                                           \
		return set_error(-EINVAL,                                \
				 "attr." #field " %u over the limit %u", \
				 out->field, (unsigned int)(hi));
	ATTR_LIMIT(max_emitters, POOTER_EMITTERS_MAX);
	ATTR_LIMIT(max_consumers, POOTER_CONSUMERS_MAX);
	ATTR_LIMIT(max_payload, POOTER_PAYLOAD_MAX);
	ATTR_LIMIT(depth, POOTER_DEPTH_MAX);
	ATTR_LIMIT(timeout_ms, POOTER_TIMEOUT_MAX_MS);
	ATTR_LIMIT(quorum, out->max_emitters);
	ATTR_LIMIT(mode, 07777);
#undef ATTR_LIMIT
	return 0;
}

int shm_broker_create(const char *name, const struct pooter_broker_attr *attr,
		      struct pooter_broker **brokerp)
{
	struct pooter_broker_attr a = { 0 };
	struct segment_attr sa;
	char gen[SHM_NAME_LEN];
	struct shm_header h;
	struct layout l;
	void *base;
	int fd, err;

	clear_error();
	if (!brokerp)
		return set_error(-EINVAL, "brokerp is NULL");
	err = attr_get(attr, &a);
	if (err)
		return err;
	if (!name) {
		name_generate(gen);
		name = gen;
	}
	sa = (struct segment_attr){
		.max_emitters = a.max_emitters,
		.max_consumers = a.max_consumers,
		.max_payload = a.max_payload,
		.depth = a.depth,
		.timeout_ms = a.timeout_ms,
		.quorum = a.quorum,
		.mode = a.mode,
	};
	err = segment_create(name, &sa, &fd, &base, &h, &l);
	if (err)
		return err;
	err = broker_new(name, fd, base, &h, &l, brokerp);
	if (err) {
		munmap(base, l.size);
		close(fd);
	}
	return err;
}

int shm_broker_open(const char *name, struct pooter_broker **brokerp)
{
	struct problems p = { 0 };
	struct shm_header h;
	struct layout l;
	void *base;
	int fd, err;

	clear_error();
	if (!brokerp)
		return set_error(-EINVAL, "brokerp is NULL");
	err = segment_map(name, true, &fd, &base, &h, &l, &p);
	if (err)
		return err;

	namespace_check(&h, name, &p);
	if (p.count) {
		err = set_error(-EXDEV, "%s", pooter_last_error());
		goto err_unmap;
	}
	err = broker_new(name, fd, base, &h, &l, brokerp);
	if (err)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(base, l.size);
	close(fd);
	return err;
}

static void broker_free(struct pooter_broker *b)
{
	pidfd_cache_free(b->pidfds);
	munmap(b->base, b->size);
	close(b->fd);
	free(b);
}

/*
 * The handle is reference-counted (sd-bus's n_ref): the opener holds one
 * reference and every member joined through it another, so closing with
 * members still joined leaves their handles valid until the last leaves.
 */
struct pooter_broker *broker_ref(struct pooter_broker *b)
{
	__atomic_fetch_add(&b->n_ref, 1, __ATOMIC_RELAXED);
	return b;
}

void broker_unref(struct pooter_broker *b)
{
	/* acq_rel: every use of b by a releaser happens before the free */
	if (__atomic_sub_fetch(&b->n_ref, 1, __ATOMIC_ACQ_REL) == 0)
		broker_free(b);
}

void shm_broker_close(struct pooter_broker *b)
{
	if (b)
		broker_unref(b);
}

int shm_broker_unlink(const char *name)
{
	return segment_unlink(name);
}

int shm_broker_foreach(int (*cb)(const char *name, void *arg), void *arg)
{
	if (!cb)
		return -EINVAL;
	return segment_foreach(cb, arg);
}

const char *shm_broker_name(const struct pooter_broker *b)
{
	return b ? b->name : NULL;
}

int shm_broker_set_timeout(struct pooter_broker *b, unsigned int timeout_ms)
{
	int err;

	if (!timeout_valid(timeout_ms))
		return set_error(-EINVAL, "timeout %u ms, allowed 1..%u",
				 timeout_ms, POOTER_TIMEOUT_MAX_MS);
	err = broker_enter(b, NULL);
	if (err)
		return err;
	WRITE_ONCE(b->st->stats.timeout_ms, timeout_ms);
	broker_unlock(b);
	return 0;
}
