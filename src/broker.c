/* SPDX-License-Identifier: MIT */
/*
 * broker.c - brokers as files: create, open (validating every byte that
 * matters), close, unlink, list; and the read-only views of a broker: stat,
 * members, records, and the fsck-like check.
 *
 * Create writes the whole segment into an unnamed O_TMPFILE file and only
 * then links it under its name, so an open racing a create sees either the
 * whole segment or ENOENT.  Space is reserved with posix_fallocate(): a full
 * /dev/shm is ENOSPC at create, never SIGBUS later.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "internal.h"

#define SHM_DIR "/dev/shm"
#define SHM_PREFIX "pooter."

static int shm_path(const char *name, char path[128])
{
	int err = name_check(name);

	if (err)
		return err;
	snprintf(path, 128, SHM_DIR "/" SHM_PREFIX "%s", name);
	return 0;
}

/* A problem found in a segment: open stops at the first, check lists all. */
struct problems {
	int count;
	void (*report)(const char *problem, void *arg);
	void *arg;
};

static void problem(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct problems *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->count++ == 0)
		set_error(-EPROTO, "%s", msg);
	if (p->report)
		p->report(msg, p->arg);
}

static void limit_check(struct problems *p, const char *name, const char *what,
			uint64_t val, uint64_t lo, uint64_t hi)
{
	if (val < lo || val > hi)
		problem(p, "broker %s: %s is %llu, allowed %llu..%llu", name,
			what, (unsigned long long)val, (unsigned long long)lo,
			(unsigned long long)hi);
}

/*
 * Validate a header copied out of a segment of file_size bytes.  On success
 * (no problem) *l holds the layout its capacities imply.
 */
static void header_validate(const struct shm_header *h, uint64_t file_size,
			    const char *name, struct layout *l,
			    struct problems *p)
{
	int before = p->count;

	if (file_size < sizeof(*h)) {
		problem(p,
			"broker %s: truncated segment: %llu bytes, a header "
			"alone is %zu",
			name, (unsigned long long)file_size, sizeof(*h));
		return;
	}
	if (h->magic != SHM_MAGIC) {
		problem(p, "broker %s: not a pooter segment (magic %016llx)",
			name, (unsigned long long)h->magic);
		return;
	}
	if (h->version != SHM_LAYOUT_VERSION) {
		problem(p,
			"broker %s: layout version %u, this library speaks %u",
			name, h->version, SHM_LAYOUT_VERSION);
		return;
	}
	if (h->header_size != sizeof(*h))
		problem(p, "broker %s: header size %u, expected %zu", name,
			h->header_size, sizeof(*h));
	limit_check(p, name, "max_emitters", h->max_emitters, 1,
		    POOTER_EMITTERS_MAX);
	limit_check(p, name, "max_consumers", h->max_consumers, 1,
		    POOTER_CONSUMERS_MAX);
	limit_check(p, name, "max_payload", h->max_payload, 1,
		    POOTER_PAYLOAD_MAX);
	limit_check(p, name, "depth", h->depth, 1, POOTER_DEPTH_MAX);
	limit_check(p, name, "quorum", h->quorum, 0, h->max_emitters);
	if (h->flags & ~SHM_FLAGS_KNOWN)
		problem(p, "broker %s: unknown flags %#x", name, h->flags);
	if (p->count != before)
		return;
	layout_compute(l, h->max_emitters, h->max_consumers, h->max_payload,
		       h->depth);
	if (l->size != h->segment_size || l->size != file_size)
		problem(p,
			"broker %s: sizes do not add up: capacities imply "
			"%llu bytes, header says %llu, file has %llu",
			name, (unsigned long long)l->size,
			(unsigned long long)h->segment_size,
			(unsigned long long)file_size);
	else if (l->size > POOTER_SEGMENT_MAX)
		problem(p,
			"broker %s: segment of %llu bytes over the limit %llu",
			name, (unsigned long long)l->size,
			(unsigned long long)POOTER_SEGMENT_MAX);
}

/* A handle on a mapped, validated segment; takes over fd on success. */
static int broker_new(const char *name, int fd, void *base,
		      const struct shm_header *h, const struct layout *l,
		      struct pooter_broker **bp)
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

int broker_check_handle(struct pooter_broker *b)
{
	if (!b)
		return set_error(-EINVAL, "broker handle is NULL");
	if (b->pid != self_pid())
		return set_error(-EBADFD,
				 "broker %s: handle opened by process %d, used "
				 "by %d (after fork, open your own)",
				 b->name, (int)b->pid, (int)self_pid());
	return 0;
}

/* Publish the unnamed file fd under path, failing if the name exists. */
static int link_tmpfile(int fd, const char *path)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -errno;
	/* no /proc: AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, but try */
	if (linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0)
		return 0;
	return -errno;
}

#ifndef offsetofend
#define offsetofend(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))
#endif

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

POOTER_API int pooter_broker_create(const char *name,
				    const struct pooter_broker_attr *attr,
				    struct pooter_broker **brokerp)
{
	struct pooter_broker_attr a = { 0 };
	char gen[SHM_NAME_LEN], path[128];
	struct shm_header *h;
	struct shm_state *st;
	struct layout l;
	struct timespec ts;
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
	err = shm_path(name, path);
	if (err)
		return err;
	layout_compute(&l, a.max_emitters, a.max_consumers, a.max_payload,
		       a.depth);
	if (l.size > POOTER_SEGMENT_MAX)
		return set_error(
			-EINVAL,
			"capacities imply a %llu-byte segment, limit %llu",
			(unsigned long long)l.size,
			(unsigned long long)POOTER_SEGMENT_MAX);

	fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return set_error(-errno,
				 "cannot create a file in " SHM_DIR ": %s",
				 strerror(errno));
	/* the mode exactly as asked, umask notwithstanding */
	if (fchmod(fd, a.mode) < 0) {
		err = -errno;
		goto err_close;
	}
	err = -posix_fallocate(fd, 0, (off_t)l.size);
	if (err) {
		set_error(err, "cannot reserve %llu bytes in " SHM_DIR ": %s",
			  (unsigned long long)l.size, strerror(-err));
		goto err_close;
	}
	base = mmap(NULL, l.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto err_close;
	}

	h = base;
	h->magic = SHM_MAGIC;
	h->version = SHM_LAYOUT_VERSION;
	h->header_size = sizeof(*h);
	h->segment_size = l.size;
	h->max_emitters = a.max_emitters;
	h->max_consumers = a.max_consumers;
	h->max_payload = a.max_payload;
	h->depth = a.depth;
	h->quorum = a.quorum;
	h->pidns = self_ns_inode("pid");
	h->timens = self_ns_inode("time");
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns =
		(uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	snprintf(h->name, sizeof(h->name), "%s", name);
	/* members hold liveness locks: a library that knows none refuses it */
	h->flags = SHM_FLAG_LIVE_LOCKS;
	st = (struct shm_state *)((char *)base + l.state_off);
	st->stats.timeout_ms = a.timeout_ms;
	/* everything else starts at zero: no round, free slots and records */

	TEST_POINT("create-before-link");
	err = link_tmpfile(fd, path);
	if (err) {
		set_error(err, "cannot publish %s: %s", path, strerror(-err));
		goto err_unmap;
	}
	err = broker_new(name, fd, base, h, &l, brokerp);
	if (err)
		goto err_unmap;
	return 0;

err_unmap:
	munmap(base, l.size);
err_close:
	close(fd);
	return err;
}

/*
 * Map NAME and validate its header; shared by open and check.  On success
 * *fdp is the open segment file, for the members' liveness locks.
 */
static int segment_map(const char *name, bool writable, int *fdp, void **basep,
		       struct shm_header *h, struct layout *l,
		       struct problems *p)
{
	char path[128];
	struct stat sb;
	void *base;
	int fd, err;

	err = shm_path(name, path);
	if (err)
		return err;
	/*
	 * O_NONBLOCK: anyone may put a FIFO at the path, and a read-only open
	 * of a FIFO would wait for a writer forever.  It is refused below.
	 */
	fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC |
				O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return set_error(-errno, "broker %s: %s", name,
				 strerror(errno));
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		problem(p, "broker %s: %s is not a regular file", name, path);
		err = -EPROTO;
		goto out;
	}
	if ((uint64_t)sb.st_size < sizeof(*h) ||
	    (uint64_t)sb.st_size > POOTER_SEGMENT_MAX) {
		if ((uint64_t)sb.st_size < sizeof(*h))
			problem(p,
				"broker %s: truncated segment: %lld bytes, "
				"a header alone is %zu",
				name, (long long)sb.st_size, sizeof(*h));
		else
			problem(p,
				"broker %s: segment of %lld bytes over the "
				"limit",
				name, (long long)sb.st_size);
		err = -EPROTO;
		goto out;
	}
	base = mmap(NULL, (size_t)sb.st_size,
		    PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto out;
	}
	/* one copy, validated as a whole: the segment may change under us */
	memcpy(h, base, sizeof(*h));
	header_validate(h, (uint64_t)sb.st_size, name, l, p);
	if (p->count) {
		munmap(base, (size_t)sb.st_size);
		err = -EPROTO;
		goto out;
	}
	*basep = base;
	*fdp = fd;
	return 0;
out:
	close(fd);
	return err;
}

/* Pids and CLOCK_MONOTONIC deadlines mean other things in other namespaces. */
static void namespace_check(const struct shm_header *h, const char *name,
			    struct problems *p)
{
	uint64_t pidns = self_ns_inode("pid"), timens = self_ns_inode("time");

	if (h->pidns && pidns && h->pidns != pidns)
		problem(p,
			"broker %s: created in another pid namespace "
			"(inode %llu, ours %llu)",
			name, (unsigned long long)h->pidns,
			(unsigned long long)pidns);
	if (h->timens && timens && h->timens != timens)
		problem(p,
			"broker %s: created in another time namespace "
			"(inode %llu, ours %llu)",
			name, (unsigned long long)h->timens,
			(unsigned long long)timens);
}

POOTER_API int pooter_broker_open(const char *name,
				  struct pooter_broker **brokerp)
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

POOTER_API void pooter_broker_close(struct pooter_broker *b)
{
	if (b)
		broker_unref(b);
}

POOTER_API int pooter_broker_unlink(const char *name)
{
	char path[128];
	int err = shm_path(name, path);

	if (err)
		return err;
	if (unlink(path) < 0)
		return set_error(-errno, "broker %s: %s", name,
				 strerror(errno));
	return 0;
}

POOTER_API const char *pooter_broker_name(const struct pooter_broker *b)
{
	return b ? b->name : NULL;
}

POOTER_API int pooter_broker_set_timeout(struct pooter_broker *b,
					 unsigned int timeout_ms)
{
	int err;

	if (timeout_ms == 0 || timeout_ms > POOTER_TIMEOUT_MAX_MS)
		return set_error(-EINVAL, "timeout %u ms, allowed 1..%u",
				 timeout_ms, POOTER_TIMEOUT_MAX_MS);
	err = broker_enter(b, NULL);
	if (err)
		return err;
	WRITE_ONCE(b->st->stats.timeout_ms, timeout_ms);
	broker_unlock(b);
	return 0;
}

static void stat_fill(struct pooter_broker *b, const struct round_view *v,
		      struct pooter_broker_stat *st)
{
	struct shm_stats *s = &b->st->stats;
	struct shm_round *r = &b->st->round;
	uint64_t outcome = READ_ONCE(r->outcome);
	uint64_t deliveries = READ_ONCE(s->deliveries);
	uint64_t joined = 0;

	memset(st, 0, sizeof(*st));
	st->max_emitters = b->max_emitters;
	st->max_consumers = b->max_consumers;
	st->max_payload = b->max_payload;
	st->depth = b->depth;
	st->quorum = b->quorum;
	st->timeout_ms = (unsigned int)READ_ONCE(s->timeout_ms);
	st->segment_size = b->size;

	for (uint32_t i = 0; i < b->max_emitters; i++)
		st->emitters += READ_ONCE(shm_emitter(b, i)->owner) != 0;
	for (uint32_t i = 0; i < b->max_consumers; i++) {
		struct shm_consumer *c = shm_consumer(b, i);

		if (READ_ONCE(c->owner)) {
			st->consumers++;
			joined |= 1ull << i;
			deliveries += READ_ONCE(c->delivered);
		}
	}
	/* free as round_open() sees it: no joined consumer holds it */
	for (uint32_t i = 0; i < b->depth; i++) {
		uint64_t state = READ_ONCE(shm_record(b, i)->state);

		st->records_free +=
			state == SHM_RECORD_FREE ||
			(state == SHM_RECORD_PUBLISHED &&
			 !(READ_ONCE(shm_record(b, i)->pending) & joined));
	}

	st->round = v->number;
	st->rounds_opened = v->number;
	if (v->open) {
		st->round_state = POOTER_ROUND_OPEN;
		st->round_opened_ns = v->open_ns;
		st->round_deadline_ns = v->deadline_ns;
		st->round_participants = v->nparts;
		st->round_emitted = v->nemitted;
		st->round_fixed = v->fixed;
	} else if (v->number) {
		uint64_t open_ns = READ_ONCE(r->open_ns);
		uint64_t deadline_ns = READ_ONCE(r->deadline_ns);
		uint64_t nparts = READ_ONCE(r->nparts);
		uint64_t rec = READ_ONCE(r->record);

		st->round_state = POOTER_ROUND_CLOSED;
		/* the last round's words stay in the segment: checked, shown */
		if (deadline_ns >= open_ns &&
		    deadline_ns - open_ns <=
			    (uint64_t)POOTER_TIMEOUT_MAX_MS * NSEC_PER_MSEC) {
			st->round_opened_ns = open_ns;
			st->round_deadline_ns = deadline_ns;
		}
		if (nparts <= b->max_emitters) {
			st->round_participants = (unsigned int)nparts;
			st->round_fixed = READ_ONCE(r->fixed) != 0;
		}
		/* its record tells how many emitted, until a round reuses it */
		if (rec < b->depth &&
		    READ_ONCE(shm_record(b, (uint32_t)rec)->round) ==
			    v->number) {
			uint64_t n = READ_ONCE(
				shm_record(b, (uint32_t)rec)->nemitted);

			if (n <= nparts)
				st->round_emitted = (unsigned int)n;
		}
		if ((outcome >> 8) == v->number &&
		    (outcome & 0xff) <= SHM_OUTCOME_MAX)
			st->round_outcome = outcome_errno(
				(enum shm_outcome)(outcome & 0xff));
	}
	st->rounds_resolved = READ_ONCE(s->count[SHM_RESOLVED]);
	st->rounds_timedout = READ_ONCE(s->count[SHM_TIMEDOUT]);
	st->rounds_cancelled = READ_ONCE(s->count[SHM_CANCELED]);
	st->rounds_ownerdead = READ_ONCE(s->count[SHM_OWNERDEAD]);
	st->emits = READ_ONCE(s->emits) + (v->open ? v->nemitted : 0);
	st->deliveries = deliveries;
}

POOTER_API int pooter_broker_stat(struct pooter_broker *b,
				  struct pooter_broker_stat *st)
{
	struct round_view v;
	uint64_t timeout;
	int err;

	if (!st)
		return set_error(-EINVAL, "stat buffer is NULL");
	err = broker_enter(b, &v);
	if (err)
		return err;
	timeout = READ_ONCE(b->st->stats.timeout_ms);
	if (!err && (timeout == 0 || timeout > POOTER_TIMEOUT_MAX_MS))
		err = set_error(-EPROTO,
				"broker %s: timeout %llu ms out of "
				"bounds",
				b->name, (unsigned long long)timeout);
	if (!err) {
		stat_fill(b, &v, st);
		st->timeout_ms = (unsigned int)timeout;
	}
	broker_unlock(b);
	return err;
}

POOTER_API int pooter_broker_foreach(int (*cb)(const char *name, void *arg),
				     void *arg)
{
	struct dirent *de;
	DIR *dir;
	int ret = 0;

	if (!cb)
		return -EINVAL;
	dir = opendir(SHM_DIR);
	if (!dir)
		return set_error(-errno, SHM_DIR ": %s", strerror(errno));
	while ((de = readdir(dir))) {
		const char *name = de->d_name;

		if (strncmp(name, SHM_PREFIX, strlen(SHM_PREFIX)))
			continue;
		name += strlen(SHM_PREFIX);
		if (name_check(name))
			continue;
		ret = cb(name, arg);
		if (ret)
			break;
	}
	closedir(dir);
	clear_error();
	return ret;
}

POOTER_API int pooter_broker_foreach_member(
	struct pooter_broker *b,
	int (*cb)(const struct pooter_member_info *m, void *arg), void *arg)
{
	uint32_t n = b ? b->max_emitters + b->max_consumers : 0, count = 0;
	struct pooter_member_info *infos;
	struct round_view v;
	int err;

	if (!cb)
		return -EINVAL;
	infos = calloc(n ? n : 1, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	err = broker_enter(b, &v);
	if (err)
		goto out;
	for (uint32_t i = 0; !err && i < b->max_emitters; i++) {
		struct shm_emitter *e = shm_emitter(b, i);
		struct pooter_member_info *m = &infos[count];
		uint64_t owner = READ_ONCE(e->owner);

		if (!owner)
			continue;
		m->kind = POOTER_MEMBER_EMITTER;
		m->slot = i;
		memcpy(m->name, e->name, sizeof(m->name) - 1);
		m->pid = token_pid(owner);
		m->alive =
			token_alive(b->pidfds, owner, shm_live_byte_emitter(i));
		m->participant = v.open && READ_ONCE(e->part_round) == v.number;
		m->emitted = v.open && READ_ONCE(e->emit_round) == v.number;
		count++;
	}
	for (uint32_t i = 0; !err && i < b->max_consumers; i++) {
		struct shm_consumer *c = shm_consumer(b, i);
		struct pooter_member_info *m = &infos[count];
		uint64_t owner = READ_ONCE(c->owner);
		uint64_t received = READ_ONCE(c->received);

		if (!owner)
			continue;
		m->kind = POOTER_MEMBER_CONSUMER;
		m->slot = i;
		memcpy(m->name, c->name, sizeof(m->name) - 1);
		m->pid = token_pid(owner);
		m->alive = token_alive(b->pidfds, owner,
				       shm_live_byte_consumer(i));
		m->notices = !!(READ_ONCE(c->flags) & SHM_CONSUMER_NOTICES);
		m->held = (unsigned int)__builtin_popcountll(
			received &
			(b->depth == 64 ? ~0ull : (1ull << b->depth) - 1));
		for (uint32_t r = 0; r < b->depth; r++) {
			struct shm_record *rec = shm_record(b, r);

			if (READ_ONCE(rec->state) == SHM_RECORD_PUBLISHED &&
			    (READ_ONCE(rec->pending) & (1ull << i)) &&
			    !(received & (1ull << r)))
				m->pending++;
		}
		m->delivered = READ_ONCE(c->delivered);
		count++;
	}
	broker_unlock(b);
	/* callbacks run unlocked: they may call into the library */
	for (uint32_t i = 0; !err && i < count; i++)
		err = cb(&infos[i], arg);
out:
	free(infos);
	return err;
}

POOTER_API int pooter_broker_foreach_record(
	struct pooter_broker *b,
	int (*cb)(const struct pooter_record_info *r, void *arg), void *arg)
{
	struct pooter_record_info *infos;
	int err;

	if (!cb || !b)
		return -EINVAL;
	infos = calloc(b->depth, sizeof(*infos));
	if (!infos)
		return -ENOMEM;
	err = broker_enter(b, NULL);
	if (err)
		goto out;
	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *rec = shm_record(b, i);
		uint64_t outcome = READ_ONCE(rec->outcome);
		uint64_t n = READ_ONCE(rec->nemitted);
		uint64_t state = READ_ONCE(rec->state);
		uint64_t holders = READ_ONCE(rec->pending);

		/* a corrupted record is refused, not handed on */
		if (state > SHM_RECORD_PUBLISHED) {
			err = set_error(
				-EPROTO,
				"broker %s: record %u state %llu unknown",
				b->name, i, (unsigned long long)state);
			break;
		}
		if (b->max_consumers < 64 && holders >> b->max_consumers) {
			err = set_error(-EPROTO,
					"broker %s: record %u held by consumer "
					"slots past the %u there are",
					b->name, i, b->max_consumers);
			break;
		}
		infos[i].index = i;
		infos[i].state = (int)state;
		infos[i].round = READ_ONCE(rec->round);
		infos[i].outcome =
			outcome <= SHM_OUTCOME_MAX ?
				outcome_errno((enum shm_outcome)outcome) :
				-EPROTO;
		infos[i].payloads = n <= b->max_emitters ? (unsigned int)n : 0;
		infos[i].holders = holders;
		/* published, but nobody left to release it: free to reuse */
		if (infos[i].state == POOTER_RECORD_PUBLISHED &&
		    !infos[i].holders)
			infos[i].state = POOTER_RECORD_FREE;
		if (infos[i].state == POOTER_RECORD_FREE)
			infos[i].payloads = 0;
	}
	broker_unlock(b);
	for (uint32_t i = 0; !err && i < b->depth; i++)
		err = cb(&infos[i], arg);
out:
	free(infos);
	return err;
}

/* The state behind the header, checked word by word, without the lock. */
static void state_check(struct pooter_broker *b, struct problems *p)
{
	struct shm_state *st = b->st;
	uint64_t v, valid_consumers, joined = 0;
	struct round_view rv;

	v = READ_ONCE(st->stats.timeout_ms);
	limit_check(p, b->name, "timeout_ms", v, 1, POOTER_TIMEOUT_MAX_MS);
	if (round_load(b, &rv))
		problem(p, "%s", pooter_last_error());
	v = READ_ONCE(st->round.outcome);
	if ((v & 0xff) > SHM_OUTCOME_MAX)
		problem(p, "broker %s: last outcome code %llu unknown", b->name,
			(unsigned long long)(v & 0xff));
	if (ctl_of(READ_ONCE(st->round.word)) !=
	    (READ_ONCE(st->round.ctl) & ~FUTEX_SLEEPERS))
		problem(p,
			"broker %s: round futex word out of step with the "
			"round (next caller repairs it)",
			b->name);
	v = READ_ONCE(st->journal.committed);
	if (v)
		problem(p,
			"broker %s: a multi-step update of %llu words was "
			"interrupted (the next caller finishes it)",
			b->name, (unsigned long long)v);
	v = READ_ONCE(st->lock.owner);
	if (v && !token_alive(b->pidfds, v, 0))
		problem(p,
			"broker %s: lock held by dead process %d (the next "
			"caller recovers it)",
			b->name, (int)token_pid(v));

	valid_consumers =
		b->max_consumers == 64 ? ~0ull : (1ull << b->max_consumers) - 1;
	for (uint32_t i = 0; i < b->max_consumers; i++)
		if (READ_ONCE(shm_consumer(b, i)->owner))
			joined |= 1ull << i;
	for (uint32_t i = 0; i < b->depth; i++) {
		struct shm_record *rec = shm_record(b, i);
		uint64_t state = READ_ONCE(rec->state);

		if (state > SHM_RECORD_PUBLISHED)
			problem(p, "broker %s: record %u state %llu unknown",
				b->name, i, (unsigned long long)state);
		if (READ_ONCE(rec->pending) & ~valid_consumers)
			problem(p,
				"broker %s: record %u held by consumer slots "
				"past the %u there are",
				b->name, i, b->max_consumers);
		else if (state == SHM_RECORD_PUBLISHED &&
			 (READ_ONCE(rec->pending) & ~joined))
			problem(p,
				"broker %s: record %u held by consumer slots "
				"nobody has joined (ignored when the ring "
				"needs it)",
				b->name, i);
		if (READ_ONCE(rec->nemitted) > b->max_emitters)
			problem(p,
				"broker %s: record %u counts %llu payloads, "
				"capacity %u",
				b->name, i,
				(unsigned long long)READ_ONCE(rec->nemitted),
				b->max_emitters);
		if (READ_ONCE(rec->outcome) > SHM_OUTCOME_MAX)
			problem(p, "broker %s: record %u outcome %llu unknown",
				b->name, i,
				(unsigned long long)READ_ONCE(rec->outcome));
	}
	for (uint32_t i = 0; i < b->max_emitters + b->max_consumers; i++) {
		bool em = i < b->max_emitters;
		uint32_t s = em ? i : i - b->max_emitters;
		const char *kind = em ? "emitter" : "consumer";
		char name[SHM_NAME_LEN];
		uint64_t owner = em ? READ_ONCE(shm_emitter(b, s)->owner) :
				      READ_ONCE(shm_consumer(b, s)->owner);

		if (!owner)
			continue;
		memcpy(name,
		       em ? shm_emitter(b, s)->name : shm_consumer(b, s)->name,
		       sizeof(name));
		name[sizeof(name) - 1] = '\0';
		if (name_check(name))
			problem(p, "broker %s: %s slot %u has an invalid name",
				b->name, kind, s);
		else if (!token_alive(b->pidfds, owner,
				      member_live_byte(em, s)))
			problem(p,
				"broker %s: %s %s (slot %u) belongs to dead "
				"process %d (gc reclaims it)",
				b->name, kind, name, s, (int)token_pid(owner));
		if (!em && (READ_ONCE(shm_consumer(b, s)->received) &
			    ~(b->depth == 64 ? ~0ull : (1ull << b->depth) - 1)))
			problem(p,
				"broker %s: consumer slot %u holds records "
				"past the %u there are",
				b->name, s, b->depth);
	}
}

POOTER_API int
pooter_broker_check(const char *name,
		    void (*report)(const char *problem, void *arg), void *arg)
{
	struct problems p = { .report = report, .arg = arg };
	struct pooter_broker *b;
	struct shm_header h;
	struct layout l;
	void *base;
	int fd, err;

	clear_error();
	err = segment_map(name, false, &fd, &base, &h, &l, &p);
	if (err == -EPROTO)
		return p.count;
	if (err)
		return err;
	err = broker_new(name, fd, base, &h, &l, &b);
	if (err) {
		munmap(base, l.size);
		close(fd);
		return err;
	}
	namespace_check(&h, name, &p);
	state_check(b, &p);
	pooter_broker_close(b);
	return p.count;
}
