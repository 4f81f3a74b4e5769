/* SPDX-License-Identifier: MIT */
/*
 * fuzz_segment.c - libFuzzer harness: a segment's bytes are untrusted input.
 *
 * Each input builds a fresh, valid broker (small capacities), optionally
 * joins members and runs a round through it so the ring holds real state,
 * then mutates the segment's bytes as the input says and runs open, check,
 * stat, the foreach walks, gc, join, emit, consume, release, cancel and
 * leave on it.  Every call must return 0, a count, or a negative errno:
 * never crash, hang or touch memory outside the segment.  The library's
 * mappings of the segment are placed in front of a guard page and the tail
 * of their last page is poisoned for AddressSanitizer (see __wrap_mmap()), so a
 * read or write past the segment's end is caught even though the segment is
 * not heap memory.
 *
 * The input (all integers little-endian):
 *
 *   byte 0  mode   bits 0-1  kind: 0,1 patches; 2 fill (the state and
 *                            everything after the header is overwritten
 *                            with the rest of the input, cyclically); 3 resize
 *                            (truncate or extend the file: open and check
 *                            only, as a writer that truncates is outside the
 *                            trust model for members already attached)
 *                  bit 2     pre-join emitter e0 and consumer c0 before the
 *                            mutation (members attached to a segment that
 *                            is then corrupted under them)
 *                  bit 3     with bit 2: run one round first (e0 emits alone,
 *                            it resolves, c0 takes the delivery and holds it)
 *                  bit 4     relative time: the open round's open_ns and
 *                            deadline_ns are read as offsets from now
 *                  bit 5     consumers opt in to notices
 *                  bit 6     join with POOTER_JOIN_WAIT
 *                  bit 7     create with quorum 2
 *   byte 1  ops    bit 0 a new emitter e1 joins and emits; bit 1 e0 emits;
 *                  bit 2 a new consumer c1 joins; bit 3 release what was
 *                  consumed; bit 4 cancel the round; bit 5 set_timeout;
 *                  bit 6 gc and the foreach walks; bit 7 e1 leaves before
 *                  emitting (the cancel path)
 *   byte 2  payload length for the emits (over 64: -EMSGSIZE)
 *   then    patches: region u8, index u8, offset u16, len u8, len bytes.
 *           region % 8: 0 header, 1 state, 2 emitter slot, 3 consumer slot,
 *           4 record header, 5 entry (index picks record and entry),
 *           6 payload area, 7 anywhere (offset from the segment's start).
 *           The offset is taken modulo the region's size; bytes past the
 *           segment's end are dropped.  In resize mode the first patch's
 *           offset field is the new file size instead.
 *
 * The harness compresses one kind of time: a wait for the segment's lock
 * times out at once (see __wrap_syscall()).
 *
 * What the harness bounds, and why (the library is allowed to wait this
 * long; the fuzzer is not):
 *   - a valid timeout (1 ms .. 1 hour) is cut to 1..2 ms and an open round's
 *     deadline in the future to at most 2 ms from now, in the state and in
 *     any journal entry that would write them: every wait is bounded by the
 *     documented limit of one hour, which is a hang to a fuzzer;
 *   - a lock owner word naming a process that exists, or with no start time
 *     (which the library takes as "any process with that pid"), is replaced
 *     by a token of a process that is certainly dead, so the takeover path
 *     is exercised.  A live lock owner makes every call wait 10 s for it
 *     before -EDEADLK: see README.md in this directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

#include "fuzz_input.h"
#include "layout.h"
#include "pooter.h"

#define NS_PER_MS 1000000ull
#define TOKEN_PID_BITS 22 /* liveness.c: pid in the low 22 bits */
#define TOKEN_PID_MASK ((1ull << TOKEN_PID_BITS) - 1)
#define PAGE 4096ul

static char seg_name[64];
static char seg_path[128];
static struct layout lay;
static uint64_t dead_token;
static dev_t shm_dev;
static volatile unsigned int sink; /* payload bytes are read into it */

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* A library return: 0, a count, or a negative errno (never -1 + errno). */
#define CHECK_RC(call)               \
	do {                         \
		int _rc = (call);    \
		CHECK(_rc >= -4095); \
	} while (0)
#define CHECK_ERR(call)                          \
	do {                                     \
		int _rc = (call);                \
		CHECK(_rc <= 0 && _rc >= -4095); \
	} while (0)

/* --- guarded mappings of the segment ------------------------------------ */

/*
 * The library's own mmap() and munmap() calls are routed here (the build
 * links with --wrap=mmap,--wrap=munmap).  A mapping of a /dev/shm file is
 * put at the start of a reserved area one page longer than it, so the first
 * byte past the segment is either poisoned (the rest of its last page) or a
 * PROT_NONE page: an out-of-bounds access faults or is reported by ASan.
 */
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off);
int __real_munmap(void *addr, size_t len);

struct guarded {
	char *base;
	size_t len;
	size_t span;
};

static struct guarded guards[16];

static size_t round_page(size_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

static bool is_shm_file(int fd)
{
	struct stat sb;

	return fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	       sb.st_dev == shm_dev;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	struct guarded *g = NULL;
	size_t span;
	char *area;
	void *p;

	if (addr || off || len == 0 || !is_shm_file(fd))
		return __real_mmap(addr, len, prot, flags, fd, off);
	for (size_t i = 0; i < sizeof(guards) / sizeof(guards[0]); i++)
		if (!guards[i].base) {
			g = &guards[i];
			break;
		}
	if (!g)
		return __real_mmap(addr, len, prot, flags, fd, off);
	span = round_page(len) + PAGE;
	area = __real_mmap(NULL, span, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	p = __real_mmap(area, len, prot, flags | MAP_FIXED, fd, off);
	if (p == MAP_FAILED) {
		int e = errno;

		__real_munmap(area, span);
		errno = e;
		return MAP_FAILED;
	}
	g->base = area;
	g->len = len;
	g->span = span;
	ASAN_POISON_MEMORY_REGION(area + len, round_page(len) - len);
	return p;
}

int __wrap_munmap(void *addr, size_t len)
{
	for (size_t i = 0; i < sizeof(guards) / sizeof(guards[0]); i++) {
		struct guarded *g = &guards[i];

		if (g->base && g->base == addr) {
			/* a munmap of another length is a library bug */
			CHECK(len == g->len);
			ASAN_UNPOISON_MEMORY_REGION(g->base,
						    round_page(g->len));
			__real_munmap(g->base, g->span);
			g->base = NULL;
			return 0;
		}
	}
	return __real_munmap(addr, len);
}

/*
 * Time compression for the lock.  This process is the only one using the
 * segment and it never holds the lock between calls, so a lock the library
 * finds taken belongs to nobody alive (see bound_owner()): the library's
 * sleep of up to 20 ms before it looks at the holder's liveness can only
 * end in a timeout.  The library's futex calls are routed here (the build
 * links with --wrap=syscall); a wait on a segment's lock word times out at
 * once, so inputs that exercise the takeover run as fast as the others.
 */
long __real_syscall(long n, ...);

static bool is_lock_word(const void *addr)
{
	for (size_t i = 0; i < sizeof(guards) / sizeof(guards[0]); i++)
		if (guards[i].base &&
		    addr == guards[i].base + lay.state_off +
				    offsetof(struct shm_state, lock.seq))
			return true;
	return false;
}

/*
 * Like glibc's syscall(), this reads six arguments whatever the call passed:
 * the ones not passed are junk from the caller's frame, never used, but
 * AddressSanitizer would call the read an underflow.
 */
__attribute__((no_sanitize("address"))) long __wrap_syscall(long n, ...)
{
	long a[6];
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (n == SYS_futex && (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET &&
	    is_lock_word((const void *)a[0])) {
		errno = ETIMEDOUT;
		return -1;
	}
	return __real_syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* --- set-up ------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * A token that names no live process, now or later: the pid of a child we
 * reaped, with a start time of one clock tick after boot.  A process that
 * reuses the pid started later, so the library sees a different start time.
 */
static uint64_t make_dead_token(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	CHECK(pid > 0);
	CHECK(waitpid(pid, NULL, 0) == pid);
	return (1ull << TOKEN_PID_BITS) | ((uint64_t)pid & TOKEN_PID_MASK);
}

static void remove_segment(void)
{
	unlink(seg_path);
}

/* Segments of fuzzing processes that crashed or timed out before. */
static void remove_stale_segments(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[300];
		int pid;

		if (sscanf(de->d_name, "pooter.fuzz-%d", &pid) != 1 ||
		    pid <= 0 || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "/dev/shm/%s", de->d_name);
		unlink(path);
	}
	closedir(d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct stat sb;

	CHECK(stat("/dev/shm", &sb) == 0);
	shm_dev = sb.st_dev;
	/* one name per process: parallel jobs (-jobs, -fork) do not collide */
	snprintf(seg_name, sizeof(seg_name), "fuzz-%d", (int)getpid());
	snprintf(seg_path, sizeof(seg_path), "/dev/shm/pooter.%s", seg_name);
	layout_compute(&lay, F_EMITTERS, F_CONSUMERS, F_PAYLOAD, F_DEPTH);
	dead_token = make_dead_token();
	remove_stale_segments();
	/* a crash or a sanitizer report leaves no segment behind */
	atexit(remove_segment);
	__sanitizer_set_death_callback(remove_segment);
	/* a broken pipe or the like must not kill the run silently */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* --- the input ---------------------------------------------------------- */

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned int take_u8(struct input *in)
{
	unsigned int v;

	if (!in->n)
		return 0;
	v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

static unsigned int take_u16(struct input *in)
{
	unsigned int lo = take_u8(in);

	return lo | take_u8(in) << 8;
}

/* Region r of the segment, index idx: where it starts and how long it is. */
static void region(unsigned int r, unsigned int idx, uint64_t *start,
		   uint64_t *len)
{
	unsigned int rec = idx % F_DEPTH;
	uint64_t rec_off = lay.records_off + rec * lay.record_size;

	switch (r % 8) {
	case 0:
		*start = 0;
		*len = sizeof(struct shm_header);
		break;
	case 1:
		*start = lay.state_off;
		*len = sizeof(struct shm_state);
		break;
	case 2:
		*start = lay.emitters_off +
			 (idx % F_EMITTERS) * sizeof(struct shm_emitter);
		*len = sizeof(struct shm_emitter);
		break;
	case 3:
		*start = lay.consumers_off +
			 (idx % F_CONSUMERS) * sizeof(struct shm_consumer);
		*len = sizeof(struct shm_consumer);
		break;
	case 4:
		*start = rec_off;
		*len = sizeof(struct shm_record);
		break;
	case 5:
		*start =
			rec_off + lay.entries_off +
			(idx / F_DEPTH % F_EMITTERS) * sizeof(struct shm_entry);
		*len = sizeof(struct shm_entry);
		break;
	case 6:
		*start = rec_off + lay.payloads_off +
			 (idx / F_DEPTH % F_EMITTERS) * lay.stride;
		*len = lay.stride;
		break;
	default:
		*start = 0;
		*len = lay.size;
		break;
	}
}

static void apply_patches(uint8_t *seg, struct input *in)
{
	while (in->n >= 5) {
		unsigned int r = take_u8(in), idx = take_u8(in);
		unsigned int off = take_u16(in), len = take_u8(in);
		uint64_t start, rlen;

		region(r, idx, &start, &rlen);
		start += off % rlen;
		if (len > in->n)
			len = (unsigned int)in->n;
		for (unsigned int i = 0; i < len && start + i < lay.size; i++)
			seg[start + i] = in->p[i];
		in->p += len;
		in->n -= len;
	}
}

static void apply_fill(uint8_t *seg, struct input *in)
{
	if (!in->n)
		return;
	for (uint64_t i = lay.state_off, j = 0; i < lay.size; i++, j++)
		seg[i] = in->p[j % in->n];
}

/* --- bounding the waits (see the top of the file) ------------------------ */

static uint64_t *seg_word(uint8_t *seg, uint64_t off)
{
	return (uint64_t *)(seg + off);
}

#define STATE_OFF(member) (lay.state_off + offsetof(struct shm_state, member))

static uint64_t bound_timeout(uint64_t v)
{
	if (v >= 1 && v <= POOTER_TIMEOUT_MAX_MS)
		return 1 + v % 2;
	return v; /* invalid: the library must refuse it */
}

static uint64_t bound_deadline(uint64_t v, uint64_t now)
{
	if (v > now + 2 * NS_PER_MS)
		return now + v % (2 * NS_PER_MS);
	return v;
}

static bool pid_exists(pid_t pid)
{
	return pid == 0 || kill(pid, 0) == 0 || errno != ESRCH;
}

static uint64_t bound_owner(uint64_t tok)
{
	if (!tok)
		return 0;
	if ((tok >> TOKEN_PID_BITS) == 0 ||
	    pid_exists((pid_t)(tok & TOKEN_PID_MASK)))
		return dead_token;
	return tok;
}

static void bound_waits(uint8_t *seg, unsigned int mode)
{
	uint64_t now = now_ns();
	uint64_t *owner = seg_word(seg, STATE_OFF(lock.owner));
	uint64_t *timeout = seg_word(seg, STATE_OFF(stats.timeout_ms));
	uint64_t *open_ns = seg_word(seg, STATE_OFF(round.open_ns));
	uint64_t *deadline = seg_word(seg, STATE_OFF(round.deadline_ns));
	struct shm_journal *j =
		(struct shm_journal *)(seg + STATE_OFF(journal));
	uint64_t n = j->committed;

	*owner = bound_owner(*owner);
	*timeout = bound_timeout(*timeout);
	if (mode & MODE_RELTIME) {
		*open_ns = now - (*open_ns & 0x3fffff);
		*deadline = *open_ns + (*deadline & 0x3fffff);
	}
	*deadline = bound_deadline(*deadline, now);

	/* a committed update the library will redo on its first lock */
	if (n > SHM_JOURNAL_MAX)
		n = SHM_JOURNAL_MAX;
	for (uint64_t i = 0; i < n; i++) {
		struct shm_journal_entry *e = &j->ent[i];

		if (e->off == STATE_OFF(stats.timeout_ms))
			e->val = bound_timeout(e->val);
		else if (e->off == STATE_OFF(round.deadline_ns))
			e->val = bound_deadline(e->val, now);
		else if (e->off == STATE_OFF(lock.owner))
			e->val = bound_owner(e->val);
	}
}

/* --- running the library over the segment ------------------------------- */

static void report(const char *problem, void *arg)
{
	CHECK(problem && strlen(problem) < 4096);
	(*(unsigned int *)arg)++;
}

static int member_cb(const struct pooter_member_info *m, void *arg)
{
	CHECK(m->kind == POOTER_MEMBER_EMITTER ||
	      m->kind == POOTER_MEMBER_CONSUMER);
	CHECK(memchr(m->name, '\0', sizeof(m->name)));
	(*(unsigned int *)arg)++;
	return 0;
}

static int record_cb(const struct pooter_record_info *r, void *arg)
{
	(*(unsigned int *)arg)++;
	return 0;
}

static void stat_sane(struct pooter_broker *b)
{
	struct pooter_broker_stat st;
	int rc = pooter_broker_stat(b, &st);

	CHECK_ERR(rc);
	if (rc)
		return;
	CHECK(st.max_emitters >= 1 && st.max_emitters <= POOTER_EMITTERS_MAX);
	CHECK(st.depth >= 1 && st.depth <= POOTER_DEPTH_MAX);
	CHECK(st.emitters <= st.max_emitters);
	CHECK(st.consumers <= st.max_consumers);
	CHECK(st.records_free <= st.depth);
	if (st.round_state == POOTER_ROUND_OPEN) {
		uint64_t now = now_ns();

		CHECK(st.round_participants >= 1 &&
		      st.round_participants <= st.max_emitters);
		CHECK(st.round_emitted <= st.round_participants);
		/* nobody waits past the documented limit */
		CHECK(st.round_deadline_ns <=
		      now + (uint64_t)POOTER_TIMEOUT_MAX_MS * NS_PER_MS);
	}
}

/* Take what is there for c, look at every byte of it, maybe release it. */
static void drain(struct pooter_consumer *c, bool release)
{
	const struct pooter_delivery *held[F_DEPTH + 2];
	unsigned int nheld = 0;

	for (int i = 0; i < F_DEPTH + 2; i++) {
		const struct pooter_delivery *d = NULL;
		unsigned int sum = 0;
		int rc = pooter_consume(c, 0, &d);

		CHECK_ERR(rc);
		if (rc)
			break;
		CHECK(d && d->count <= POOTER_EMITTERS_MAX);
		CHECK(d->count == 0 || d->payloads);
		for (unsigned int k = 0; k < d->count; k++) {
			const struct pooter_payload *p = &d->payloads[k];
			const unsigned char *data = p->data;

			CHECK(p->emitter &&
			      strlen(p->emitter) <= POOTER_NAME_MAX);
			CHECK(p->len <= POOTER_PAYLOAD_MAX);
			CHECK(p->len == 0 || data);
			/* aligned for any C type */
			CHECK((uintptr_t)data % _Alignof(max_align_t) == 0);
			for (size_t x = 0; x < p->len; x++)
				sum += data[x];
		}
		sink += sum;
		held[nheld++] = d;
	}
	for (unsigned int i = 0; release && i < nheld; i++)
		CHECK_ERR(pooter_release(c, held[i]));
}

static void emit_once(struct pooter_emitter *e, unsigned int len)
{
	unsigned char buf[256];
	uint64_t round = UINT64_MAX;
	int rc;

	memset(buf, 0x5a, sizeof(buf));
	rc = pooter_emit(e, buf, len, &round);
	CHECK_ERR(rc);
	if (rc == -EMSGSIZE || rc == -EAGAIN)
		CHECK(round == UINT64_MAX);
}

/* The resize kind: a file of the wrong size must not open. */
static void run_resized(unsigned int size)
{
	struct pooter_broker *b = NULL;
	unsigned int problems = 0;
	int rc;

	CHECK(truncate(seg_path, size) == 0);
	rc = pooter_broker_open(seg_name, &b);
	if (size == lay.size) {
		CHECK_ERR(rc);
		if (!rc)
			pooter_broker_close(b);
	} else {
		CHECK(rc == -EPROTO);
	}
	rc = pooter_broker_check(seg_name, report, &problems);
	CHECK_RC(rc);
	CHECK(rc < 0 || (unsigned int)rc == problems);
	if (size != lay.size)
		CHECK(rc > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	unsigned int mode = take_u8(&in), ops = take_u8(&in);
	unsigned int len = take_u8(&in);
	unsigned int cflags = mode & MODE_NOTICES ? POOTER_CONSUMER_NOTICES : 0;
	unsigned int jflags = mode & MODE_JOINWAIT ? POOTER_JOIN_WAIT : 0;
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = F_EMITTERS,
		    .max_consumers = F_CONSUMERS, .max_payload = F_PAYLOAD,
		    .depth = F_DEPTH, .timeout_ms = F_TIMEOUT_MS,
		    .quorum = mode & MODE_QUORUM ? 2 : 0);
	struct pooter_broker *b0 = NULL, *b1 = NULL;
	struct pooter_emitter *e0 = NULL, *e1 = NULL;
	struct pooter_consumer *c0 = NULL, *c1 = NULL;
	unsigned int problems = 0, count = 0;
	uint8_t *seg;
	int fd, rc;

	unlink(seg_path);
	CHECK(pooter_broker_create(seg_name, &attr, &b0) == 0);
	if (mode & MODE_PREJOIN) {
		CHECK(pooter_emitter_join(b0, "e0", 0, &e0) == 0);
		CHECK(pooter_consumer_join(b0, "c0", cflags, &c0) == 0);
		if ((mode & MODE_PREROUND) && !(mode & MODE_QUORUM)) {
			const struct pooter_delivery *d;

			/* the only participant: resolves at once */
			CHECK(pooter_emit(e0, "seed", 4, NULL) == 0);
			CHECK(pooter_consume(c0, 0, &d) == 0);
		}
	}

	if (MODE_KIND(mode) == KIND_RESIZE) {
		unsigned int newsize;

		take_u16(&in);
		newsize = take_u16(&in);
		/* members leave before the file shrinks under them */
		if (e0)
			CHECK_ERR(pooter_emitter_leave(e0));
		if (c0)
			CHECK_ERR(pooter_consumer_leave(c0));
		run_resized(newsize);
		pooter_broker_close(b0);
		unlink(seg_path);
		return 0;
	}

	fd = open(seg_path, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	seg = __real_mmap(NULL, lay.size, PROT_READ | PROT_WRITE, MAP_SHARED,
			  fd, 0);
	CHECK(seg != MAP_FAILED);
	close(fd);
	if (MODE_KIND(mode) == KIND_FILL)
		apply_fill(seg, &in);
	else
		apply_patches(seg, &in);
	bound_waits(seg, mode);
	__real_munmap(seg, lay.size);

	rc = pooter_broker_check(seg_name, report, &problems);
	CHECK_RC(rc);
	CHECK(rc < 0 || (unsigned int)rc == problems);

	rc = pooter_broker_open(seg_name, &b1);
	CHECK_ERR(rc);
	if (rc) {
		/* a header that does not validate: the members still work */
		b1 = NULL;
	}
	if (b1) {
		stat_sane(b1);
		if (ops & OP_TIMEOUT)
			CHECK_ERR(pooter_broker_set_timeout(b1, 1 + len % 2));
		if (ops & OP_WALK) {
			CHECK_RC(pooter_broker_gc(b1));
			CHECK_ERR(pooter_broker_foreach_member(b1, member_cb,
							       &count));
			CHECK_ERR(pooter_broker_foreach_record(b1, record_cb,
							       &count));
		}
		if (ops & OP_C1)
			CHECK_ERR(pooter_consumer_join(b1, "c1", cflags, &c1));
		if (ops & (OP_E1 | OP_LEAVE))
			CHECK_ERR(pooter_emitter_join(b1, "e1", jflags, &e1));
		if (e1 && (ops & OP_LEAVE)) {
			CHECK_ERR(pooter_emitter_leave(e1));
			e1 = NULL;
		}
		if (e1)
			emit_once(e1, len);
	}
	if (e0 && (ops & OP_E0))
		emit_once(e0, len);
	if (c0)
		drain(c0, ops & OP_RELEASE);
	if (c1)
		drain(c1, ops & OP_RELEASE);
	if (b1) {
		if (ops & OP_CANCEL)
			CHECK_ERR(pooter_round_cancel(b1));
		stat_sane(b1);
	}
	if (e0)
		CHECK_ERR(pooter_emitter_leave(e0));
	if (c0)
		CHECK_ERR(pooter_consumer_leave(c0));
	if (e1)
		CHECK_ERR(pooter_emitter_leave(e1));
	if (c1)
		CHECK_ERR(pooter_consumer_leave(c1));
	stat_sane(b0);
	pooter_broker_close(b1);
	pooter_broker_close(b0);
	unlink(seg_path);
	return 0;
}
