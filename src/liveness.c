/* SPDX-License-Identifier: MIT */
/*
 * liveness.c - who is alive, safely against pid reuse.
 *
 * A process is named in the segment by an identity token: its pid in the low
 * 22 bits (PID_MAX_LIMIT is 2^22) and its start time, in clock ticks since
 * boot from /proc/PID/stat, above.  A recycled pid has another start time,
 * so a token never names a second process.
 *
 * A start time has the resolution of a clock tick (10 ms), so a pid reused
 * within one tick of the dead process's start would pass for it: each
 * member also holds a liveness lock, an OFD lock on a byte of the segment
 * file that the kernel drops at its death (live_lock_take()).  A process
 * that has the token's pid and start time but whose slot's lock is free is
 * not the member.
 *
 * Checking a token: a pidfd cached per handle (the broker's, shared by its
 * threads under the cache's mutex; each waiter's, its own) (pidfd_open, then the
 * start time re-read to prove the pidfd is the token's process), polled with
 * a zero timeout: POLLIN means the process has exited, reaped or not.  Where
 * pidfds are unavailable, /proc/PID/stat alone answers (a zombie is dead).
 *
 * The cache also keeps its pidfds in an epoll instance, so that asking
 * about every member at once (tokens_dead(), at every round's opening) is
 * one epoll_wait() that finds the exited ones on the ready list, rather
 * than a poll() that visits every fd: the same readiness, at less cost.
 */
#include <sys/epoll.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base.h"
#include "liveness.h"

#define TOKEN_PID_BITS 22
#define TOKEN_PID_MASK ((1ull << TOKEN_PID_BITS) - 1)

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct pidfd_entry {
	uint64_t token;
	int fd;
	unsigned int scan;  /* the scan that last handed it out */
	unsigned int asked; /* tokens_dead(): index of the token, this scan */
	bool locked;	    /* proven by a liveness lock too */
	bool watched;	    /* in the cache's epoll set */
	uint32_t gen;	    /* its epoll registration's, with the index */
};

/*
 * One entry more than a broker has members, so a scan over every member
 * (pidfd_scan_begin(), then pidfd_for_token() for each) never has to evict
 * an fd it handed out itself.
 */
struct pidfd_cache {
	pthread_mutex_t lock; /* token_alive(), tokens_dead(): threads share */
	int lock_fd;	      /* the segment file, -1: no liveness locks */
	unsigned int n;
	unsigned int next; /* round-robin eviction */
	unsigned int scan;
	unsigned int hint; /* where the next lookup starts (see below) */
	unsigned int last; /* the entry pidfd_get() returned last */
	int epfd;	   /* every cached pidfd, for tokens_dead(); or -1 */
	struct pidfd_entry ent[];
};

enum proc_state {
	PROC_ALIVE,
	PROC_DEAD,
	PROC_UNKNOWN, /* /proc unreadable for it */
};

/* Read start time and state of pid from /proc; the one parser of that file. */
static enum proc_state proc_stat(pid_t pid, uint64_t *start)
{
	char path[32], buf[1024], *p;
	unsigned long long st;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* a missing file means a dead pid only where /proc is there */
		if ((errno == ENOENT || errno == ESRCH) &&
		    access("/proc/self/stat", R_OK) == 0)
			return PROC_DEAD;
		return PROC_UNKNOWN;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 || errno == ESRCH ? PROC_DEAD : PROC_UNKNOWN;
	buf[n] = '\0';

	/* comm may hold spaces and parentheses: fields start after the last ')' */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return PROC_UNKNOWN;
	p += 2;
	if (*p == 'Z' || *p == 'X' || *p == 'x')
		return PROC_DEAD;
	/* p is field 3 (state); starttime is field 22 */
	for (field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return PROC_UNKNOWN;
		p++;
	}
	if (sscanf(p, "%llu", &st) != 1)
		return PROC_UNKNOWN;
	*start = st;
	return PROC_ALIVE;
}

static uint64_t token_make(pid_t pid, uint64_t start)
{
	return (start << TOKEN_PID_BITS) | ((uint64_t)pid & TOKEN_PID_MASK);
}

pid_t token_pid(uint64_t token)
{
	return (pid_t)(token & TOKEN_PID_MASK);
}

static uint64_t token_start(uint64_t token)
{
	return token >> TOKEN_PID_BITS;
}

/*
 * This process's pid and token, cached: every call checks that a handle is
 * used in the process that opened it, and getpid() is a system call.  A
 * fork() child forgets them (pthread_atfork), so it computes its own.
 */
static pid_t cached_pid;
static uint64_t cached_token;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_self(void)
{
	__atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cached_token, 0, __ATOMIC_RELAXED);
}

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, forget_self);
}

pid_t self_pid(void)
{
	pid_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);

	if (pid)
		return pid;
	pthread_once(&atfork_once, atfork_register);
	pid = getpid();
	__atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
	return pid;
}

/* Falls back to the pid alone (start 0) only if /proc/self is unreadable. */
uint64_t self_token(void)
{
	uint64_t token = __atomic_load_n(&cached_token, __ATOMIC_RELAXED);
	pid_t pid = self_pid();
	uint64_t start = 0;

	if (token && token_pid(token) == pid)
		return token;
	if (proc_stat(pid, &start) != PROC_ALIVE)
		start = 0;
	token = token_make(pid, start);
	__atomic_store_n(&cached_token, token, __ATOMIC_RELAXED);
	return token;
}

uint64_t self_ns_inode(const char *which)
{
	char path[64];
	struct stat sb;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", which);
	if (stat(path, &sb) < 0)
		return 0;
	return (uint64_t)sb.st_ino;
}

/* --- liveness locks ----------------------------------------------------- */

static int live_lock_op(int fd, int cmd, short type, uint64_t byte,
			struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)byte;
	fl->l_len = 1;
	return fcntl(fd, cmd, fl);
}

/*
 * A read lock on one byte through the handle's open file description: the
 * kernel drops it when the last fd of that description closes, which a
 * death does, and nothing else but live_lock_drop() does.  Read locks of
 * several handles on one byte share it (a slot reused while a reaped
 * holder lingers); the token check still tells those apart.
 */
int live_lock_take(int fd, uint64_t byte)
{
	struct flock fl;

	if (live_lock_op(fd, F_OFD_SETLK, F_RDLCK, byte, &fl) < 0)
		return -errno;
	return 0;
}

void live_lock_drop(int fd, uint64_t byte)
{
	struct flock fl;

	live_lock_op(fd, F_OFD_SETLK, F_UNLCK, byte, &fl);
}

/* 1: someone holds byte's lock; 0: nobody does; <0: cannot tell. */
static int live_lock_held(int fd, uint64_t byte)
{
	struct flock fl;

	/* a write lock would conflict with any reader's: is there one? */
	if (live_lock_op(fd, F_OFD_GETLK, F_WRLCK, byte, &fl) < 0)
		return -errno;
	return fl.l_type != F_UNLCK;
}

/* The token's process alive by /proc is the token's: unless the lock says
 * that its slot's member died and the pid went to another process within
 * one clock tick of the start time (the token's resolution). */
static bool lock_refutes(const struct pidfd_cache *c, uint64_t byte)
{
	return c && c->lock_fd >= 0 && byte &&
	       live_lock_held(c->lock_fd, byte) == 0;
}

static bool token_alive_proc(uint64_t token)
{
	uint64_t start;
	pid_t pid = token_pid(token);

	switch (proc_stat(pid, &start)) {
	case PROC_DEAD:
		return false;
	case PROC_ALIVE:
		/* a token with no start time names no live process */
		return start == token_start(token);
	case PROC_UNKNOWN:
		break;
	}
	/* /proc hidden from us (hidepid): the pid alone is all we can ask */
	return kill(pid, 0) == 0 || errno != ESRCH;
}

struct pidfd_cache *pidfd_cache_new(unsigned int n, int lock_fd)
{
	struct pidfd_cache *c = calloc(1, sizeof(*c) + n * sizeof(c->ent[0]));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->lock_fd = lock_fd;
	c->n = n;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	for (unsigned int i = 0; i < n; i++)
		c->ent[i].fd = -1;
	return c;
}

void pidfd_cache_free(struct pidfd_cache *c)
{
	if (!c)
		return;
	for (unsigned int i = 0; i < c->n; i++)
		if (c->ent[i].fd >= 0)
			close(c->ent[i].fd);
	if (c->epfd >= 0)
		close(c->epfd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/*
 * Out of the epoll set, explicitly: a close would not do it while io_uring
 * still holds the file (a waiter's death watch), and the registration's
 * readiness would then be taken for the entry's next process.
 */
static void pidfd_unwatch(struct pidfd_cache *c, struct pidfd_entry *e)
{
	if (e->watched && e->fd >= 0)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, e->fd, NULL);
	e->watched = false;
}

/*
 * A pidfd proven to be the token's process, from the cache or opened now.
 * Returns -ESRCH when the token's process is gone, another negative errno
 * when pidfds cannot be had (the caller then asks /proc).
 */
int pidfd_get(struct pidfd_cache *c, uint64_t token, uint64_t byte)
{
	struct pidfd_entry *e = NULL;
	uint64_t start;
	int fd;

	/*
	 * Scans ask for the members in slot order, as they were cached: start
	 * after the last hit, and each lookup of a scan hits at once instead
	 * of searching (every round's opening scans every member).
	 */
	for (unsigned int i = 0, j = c->hint; i < c->n; i++, j++) {
		if (j >= c->n)
			j = 0;
		if (c->ent[j].token == token && c->ent[j].fd >= 0) {
			struct pidfd_entry *hit = &c->ent[j];

			/* proven without the lock: prove it with the lock */
			if (byte && !hit->locked && c->lock_fd >= 0) {
				if (lock_refutes(c, byte))
					return -ESRCH;
				hit->locked = true;
			}
			hit->scan = c->scan;
			c->hint = j + 1;
			c->last = j;
			return hit->fd;
		}
	}

	fd = (int)syscall(SYS_pidfd_open, token_pid(token), 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/*
	 * The pidfd is for whatever process has the pid now; if that one
	 * started when the token says, it is the token's process (a process
	 * cannot share its pid with a younger one while alive).  When /proc
	 * cannot say, the caller asks kill() instead: never "dead" unproven.
	 */
	switch (proc_stat(token_pid(token), &start)) {
	case PROC_ALIVE:
		/*
		 * The start time is in clock ticks: a pid reused within one
		 * tick passes it, but not the slot's liveness lock.
		 */
		if (start == token_start(token) && !lock_refutes(c, byte))
			break;
		/* another process has the pid now */
		__attribute__((fallthrough));
	case PROC_DEAD:
		close(fd);
		return -ESRCH;
	case PROC_UNKNOWN:
		close(fd);
		return -EAGAIN;
	}
	/* the next entry this scan has not handed out: there always is one */
	for (unsigned int i = 0; i < c->n; i++) {
		e = &c->ent[c->next];
		c->next = (c->next + 1) % c->n;
		if (e->fd < 0 || e->scan != c->scan)
			break;
	}
	pidfd_unwatch(c, e);
	if (e->fd >= 0)
		close(e->fd);
	e->token = token;
	e->fd = fd;
	e->scan = c->scan;
	e->locked = byte && c->lock_fd >= 0;
	e->watched = false;
	c->last = (unsigned int)(e - c->ent);
	if (c->epfd >= 0) {
		struct epoll_event ev = {
			.events = EPOLLIN,
			.data.u64 = ((uint64_t)++e->gen << 32) | c->last,
		};

		e->watched = epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) == 0;
	}
	return fd;
}

bool token_alive(struct pidfd_cache *c, uint64_t token, uint64_t byte)
{
	struct pollfd pfd;
	bool alive;
	int fd;

	if (token == 0)
		return false;
	if (token == self_token())
		return true;
	if (!c)
		return token_alive_proc(token);
	pthread_mutex_lock(&c->lock);
	fd = pidfd_get(c, token, byte);
	if (fd == -ESRCH) {
		alive = false;
	} else if (fd < 0) {
		alive = token_alive_proc(token) && !lock_refutes(c, byte);
	} else {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* pidfds poll readable once the process has exited */
		if (poll(&pfd, 1, 0) < 0)
			alive = token_alive_proc(token);
		else
			alive = !(pfd.revents & (POLLIN | POLLHUP | POLLERR));
	}
	pthread_mutex_unlock(&c->lock);
	return alive;
}

/* Start a scan: fds handed out from now on are not evicted until the next. */
void pidfd_scan_begin(struct pidfd_cache *c)
{
	c->scan++;
}

/* An entry whose process exited, nobody asked about: out of the cache. */
static void pidfd_forget(struct pidfd_cache *c, unsigned int j)
{
	struct pidfd_entry *e = &c->ent[j];

	if (e->fd < 0)
		return;
	pidfd_unwatch(c, e);
	close(e->fd);
	e->fd = -1;
	e->token = 0;
}

/*
 * The asked entries whose processes exited, from the epoll set's ready
 * list: false if epoll cannot say (the caller polls instead).  Ready
 * entries nobody asked about are dead members already reaped, or processes
 * that left: forgotten, so they do not stay on the ready list.
 */
static bool epoll_dead(struct pidfd_cache *c, bool *dead)
{
	struct epoll_event ev[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX + 1];
	unsigned int max = c->n < sizeof(ev) / sizeof(ev[0]) ?
				   c->n :
				   sizeof(ev) / sizeof(ev[0]);
	int got = epoll_wait(c->epfd, ev, (int)max, 0);

	if (got < 0)
		return false;
	for (int k = 0; k < got; k++) {
		unsigned int j = (uint32_t)ev[k].data.u64;
		struct pidfd_entry *e;

		if (j >= c->n)
			continue;
		e = &c->ent[j];
		if (e->fd < 0 || !e->watched ||
		    e->gen != (uint32_t)(ev[k].data.u64 >> 32))
			continue; /* an older registration's: not this fd's */
		if (e->scan == c->scan)
			dead[e->asked] = true;
		else
			pidfd_forget(c, j);
	}
	return true;
}

/*
 * Mark dead[i] for each of the n tokens whose process is gone, with one
 * epoll_wait() (or one poll()) over their cached pidfds rather than one
 * call each: the opening of every round asks this of every member.
 * Returns how many are dead.
 */
unsigned int tokens_dead(struct pidfd_cache *c, const uint64_t *tokens,
			 const uint64_t *bytes, unsigned int n, bool *dead)
{
	struct pollfd pfd[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX];
	unsigned int idx[POOTER_EMITTERS_MAX + POOTER_CONSUMERS_MAX];
	unsigned int npoll = 0, ndead = 0;
	uint64_t self = self_token();
	bool watched = c->epfd >= 0;

	pthread_mutex_lock(&c->lock);
	pidfd_scan_begin(c);
	for (unsigned int i = 0; i < n && i < sizeof(pfd) / sizeof(pfd[0]);
	     i++) {
		int fd;

		dead[i] = false;
		if (tokens[i] == self)
			continue;
		fd = pidfd_get(c, tokens[i], bytes[i]);
		if (fd == -ESRCH) {
			dead[i] = true;
		} else if (fd < 0) {
			dead[i] = !token_alive_proc(tokens[i]) ||
				  lock_refutes(c, bytes[i]);
		} else {
			c->ent[c->last].asked = i;
			watched = watched && c->ent[c->last].watched;
			pfd[npoll].fd = fd;
			pfd[npoll].events = POLLIN;
			pfd[npoll].revents = 0;
			idx[npoll++] = i;
		}
	}
	if (npoll && watched && epoll_dead(c, dead))
		npoll = 0;
	if (npoll && poll(pfd, npoll, 0) < 0) {
		for (unsigned int j = 0; j < npoll; j++)
			dead[idx[j]] = !token_alive_proc(tokens[idx[j]]) ||
				       lock_refutes(c, bytes[idx[j]]);
		npoll = 0;
	}
	for (unsigned int j = 0; j < npoll; j++)
		if (pfd[j].revents & (POLLIN | POLLHUP | POLLERR))
			dead[idx[j]] = true;
	pthread_mutex_unlock(&c->lock);
	for (unsigned int i = 0; i < n; i++)
		ndead += dead[i];
	return ndead;
}
