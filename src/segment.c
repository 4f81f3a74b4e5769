/* SPDX-License-Identifier: MIT */
/*
 * segment.c - a broker's segment as a file: create, map and validate the
 * header, namespaces, unlink, list.  Layer 0: nothing here knows rounds.
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

#include "error.h"
#include "liveness.h"
#include "name.h"
#include "segment.h"

#define SHM_DIR "/dev/shm"
#define SHM_PREFIX "pooter."

static int segment_path(const char *name, char path[128])
{
	int err = name_check(name);

	if (err)
		return err;
	snprintf(path, 128, SHM_DIR "/" SHM_PREFIX "%s", name);
	return 0;
}

void problem(struct problems *p, const char *fmt, ...)
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

int segment_corrupt(struct pooter_broker *b, const char *what,
		    unsigned long long val)
{
	return set_error(-EPROTO, "broker %s: %s (%llu) is out of bounds",
			 b->name, what, val);
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

int segment_create(const char *name, const struct segment_attr *a, int *fdp,
		   void **basep, struct shm_header *hp, struct layout *lp)
{
	char path[128];
	struct shm_header *h;
	struct shm_state *st;
	struct layout l;
	struct timespec ts;
	void *base;
	int fd, err;

	err = segment_path(name, path);
	if (err)
		return err;
	layout_compute(&l, a->max_emitters, a->max_consumers, a->max_payload,
		       a->depth);
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
	if (fchmod(fd, a->mode) < 0) {
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
	h->max_emitters = a->max_emitters;
	h->max_consumers = a->max_consumers;
	h->max_payload = a->max_payload;
	h->depth = a->depth;
	h->quorum = a->quorum;
	h->pidns = self_ns_inode("pid");
	h->timens = self_ns_inode("time");
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns =
		(uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	snprintf(h->name, sizeof(h->name), "%s", name);
	/* members hold liveness locks: a library that knows none refuses it */
	h->flags = SHM_FLAG_LIVE_LOCKS;
	st = (struct shm_state *)((char *)base + l.state_off);
	st->stats.timeout_ms = a->timeout_ms;
	/* everything else starts at zero: no round, free slots and records */

	TEST_POINT("create-before-link");
	err = link_tmpfile(fd, path);
	if (err) {
		set_error(err, "cannot publish %s: %s", path, strerror(-err));
		goto err_unmap;
	}
	*fdp = fd;
	*basep = base;
	*hp = *h;
	*lp = l;
	return 0;

err_unmap:
	munmap(base, l.size);
err_close:
	close(fd);
	return err;
}

int segment_map(const char *name, bool writable, int *fdp, void **basep,
		struct shm_header *h, struct layout *l, struct problems *p)
{
	char path[128];
	struct stat sb;
	void *base;
	int fd, err;

	err = segment_path(name, path);
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

void namespace_check(const struct shm_header *h, const char *name,
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

int segment_unlink(const char *name)
{
	char path[128];
	int err = segment_path(name, path);

	if (err)
		return err;
	if (unlink(path) < 0)
		return set_error(-errno, "broker %s: %s", name,
				 strerror(errno));
	return 0;
}

int segment_foreach(int (*cb)(const char *name, void *arg), void *arg)
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
