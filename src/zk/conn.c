/* SPDX-License-Identifier: MIT */
/*
 * conn.c - one ZooKeeper session, driven by its owner: the single-threaded
 * client's zookeeper_interest() and zookeeper_process() under poll(), no
 * library threads.  Requests are asynchronous (zr_*) and waited for with
 * zr_wait(), so that several can be in flight at once.  Every watch goes
 * to one watcher, which counts events in conn->gen: a waiter reads with
 * watches set, then sleeps until gen moves (zc_wait_change()).
 *
 * The session's clock: writes return the ensemble's time (Stat.mtime, ms,
 * the leader's clock); each sample, with half its round trip as error,
 * gives an offset to the local CLOCK_MONOTONIC.  Deadlines are judged on
 * the ensemble's clock (zc_clock_now()); the offset only says when to look.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zk.h"

uint64_t zc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int zc_errno(int rc)
{
	if (rc == ZOK)
		return 0;
	if (rc == ZNONODE)
		return -ENOENT;
	if (rc == ZNODEEXISTS)
		return -EEXIST;
	if (rc == ZBADVERSION)
		return -ESTALE; /* lost a race: look again */
	if (rc == ZNOAUTH || rc == ZAUTHFAILED)
		return -EACCES;
	if (rc == ZNOTEMPTY)
		return -ENOTEMPTY;
	if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT ||
	    rc == ZSESSIONMOVED)
		return -ENOTCONN; /* outcome unknown: look again */
	if (rc == ZTHROTTLEDOP)
		return -ESTALE; /* not applied: again */
	if (rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE || rc == ZCLOSING)
		return -ECONNRESET; /* this session is over */
	if (rc == ZBADARGUMENTS || rc == ZMARSHALLINGERROR || rc == ZINVALIDACL)
		return -EINVAL;
	return -EIO;
}

static void zc_watcher(zhandle_t *zh, int type, int state, const char *path,
		       void *ctx)
{
	struct zk_conn *c = ctx;

	if (type == ZOO_SESSION_EVENT) {
		if (state == ZOO_CONNECTED_STATE) {
			c->connected = true;
		} else if (state == ZOO_EXPIRED_SESSION_STATE ||
			   state == ZOO_AUTH_FAILED_STATE) {
			c->connected = false;
			c->expired = true;
		} else {
			c->connected = false;
		}
	} else if (path && strlen(path) > 6 &&
		   !strcmp(path + strlen(path) - 6, "/state")) {
		/* the state moved: news for whoever counts on gen_state */
		c->gen_state++;
		if (c->state_quiet)
			return;
	}
	c->gen++;
}

static void auth_done(int rc, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	r->rc = rc;
	r->done = true;
}

static int zc_init(struct zk_conn *c)
{
	uint64_t until;
	int err;

	c->connected = false;
	c->expired = false;
	c->clock_rtt_ns = UINT64_MAX;
	c->pid = getpid();
	c->zh = zookeeper_init(c->hosts, zc_watcher, (int)c->session_ms, NULL,
			       c, 0);
	if (!c->zh)
		return zk_error(-errno ?: -EINVAL,
				"zk://%s: cannot start a session: %s", c->hosts,
				strerror(errno));
	if (c->auth_scheme[0]) {
		struct zk_req *r = calloc(1, sizeof(*r));

		if (!r)
			return -ENOMEM;
		zoo_add_auth(c->zh, c->auth_scheme, c->auth,
			     (int)strlen(c->auth), auth_done, r);
		err = zr_wait(c, r);
		if (!err && r->rc != ZOK)
			err = zk_error(-EACCES,
				       "zk://%s: authentication (%s) refused",
				       c->hosts, c->auth_scheme);
		if (err != -EHOSTUNREACH) /* else abandoned: it leaks */
			free(r);
		if (err) {
			zc_close(c);
			return err;
		}
	}
	until = zc_now() + (uint64_t)c->connect_ms * 1000000ull;
	while (!c->connected) {
		if (c->expired || zc_now() >= until) {
			zc_close(c);
			return zk_error(-EHOSTUNREACH,
					"zk://%s: no server of the ensemble "
					"answered within %u ms",
					c->hosts, c->connect_ms);
		}
		zc_pump(c, until);
	}
	return 0;
}

int zc_open(struct zk_conn *c, const char *hosts,
	    const struct pooter_url_opts *opts)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	if (strlen(hosts) >= sizeof(c->hosts))
		return zk_error(-ENAMETOOLONG, "zk://%s: host list too long",
				hosts);
	strcpy(c->hosts, hosts);
	c->session_ms = opts && opts->session_timeout_ms ?
				opts->session_timeout_ms :
				ZK_SESSION_DEFAULT_MS;
	c->connect_ms = opts && opts->connect_timeout_ms ?
				opts->connect_timeout_ms :
				ZK_CONNECT_DEFAULT_MS;
	if (opts && opts->auth_scheme && opts->auth) {
		if (strlen(opts->auth_scheme) >= sizeof(c->auth_scheme) ||
		    strlen(opts->auth) >= sizeof(c->auth))
			return zk_error(-EINVAL, "zk://%s: auth too long",
					hosts);
		strcpy(c->auth_scheme, opts->auth_scheme);
		strcpy(c->auth, opts->auth);
	}
	return zc_init(c);
}

/* A new session on the same ensemble, after this one ended. */
int zc_reopen(struct zk_conn *c)
{
	zc_close(c);
	return zc_init(c);
}

/* -EBADFD for a handle a fork child inherited: the session is the parent's. */
int zc_mine(const struct zk_conn *c)
{
	if (c->pid && c->pid != getpid())
		return zk_error(-EBADFD,
				"this handle belongs to process %d (a child "
				"after fork opens its own)",
				(int)c->pid);
	return 0;
}

void zc_close(struct zk_conn *c)
{
	/* a fork child's copy: closing it would end the parent's session */
	if (c->zh && c->pid && c->pid != getpid())
		c->zh = NULL; /* its memory is lost to the child: no matter */
	if (c->zh)
		zookeeper_close(c->zh);
	c->zh = NULL;
	c->connected = false;
}

/*
 * The keeper: a session lives as long as it is driven (pings every third of
 * its timeout), and a member that computes for a while between two calls is
 * alive all the same.  So one thread per process drives every session whose
 * owner is not inside a call at that moment (trylock: an owner's call
 * drives it itself), polling their sockets together.  It also does the
 * work of waits armed on an application's ring (async.c): a session's
 * work() runs when its watches fired or its time came.
 */
#define KEEPER_PERIOD_MS 100
#define KEEPER_MAX 256

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct zk_conn *kept;
static bool keeper_running;
static int keeper_efd = -1;

/* Have the keeper look at its sessions now (a wait was armed). */
void zc_kick(void)
{
	uint64_t one = 1;

	if (keeper_efd >= 0 && write(keeper_efd, &one, sizeof(one)) < 0) {
		/* full (never, in practice): it is awake anyway */
	}
}

static void *keeper(void *arg)
{
	struct pollfd *p = calloc(KEEPER_MAX + 1, sizeof(*p));

	/*
	 * Up and allocated: from here on it allocates only under kept_lock,
	 * which fork takes (below), so no child inherits an allocator's lock
	 * taken mid-call (a sanitizer's allocator is not fork-safe).
	 */
	sem_post(arg);
	if (!p)
		return NULL;
	for (;;) {
		uint64_t now = zc_now(),
			 next = now + KEEPER_PERIOD_MS * 1000000ull, junk;
		int n = 0, ms;

		pthread_mutex_lock(&kept_lock);
		for (struct zk_conn *c = kept; c && n < KEEPER_MAX;
		     c = c->next) {
			struct timeval tv;
			int fd = -1, interest = 0;

			if (pthread_mutex_trylock(&c->lock))
				continue;
			if (c->zh) {
				zc_pump(c, 0);
				if (c->work) {
					uint64_t w = c->work(c, c->owner);

					if (w < next)
						next = w;
				}
			}
			if (c->zh &&
			    zookeeper_interest(c->zh, &fd, &interest, &tv) ==
				    ZOK &&
			    fd >= 0) {
				uint64_t t =
					zc_now() +
					(uint64_t)tv.tv_sec * 1000000000ull +
					(uint64_t)tv.tv_usec * 1000ull;

				p[n].fd = fd;
				p[n].events =
					(interest & ZOOKEEPER_READ ? POLLIN :
								     0) |
					(interest & ZOOKEEPER_WRITE ? POLLOUT :
								      0);
				n++;
				if (t < next)
					next = t;
			}
			pthread_mutex_unlock(&c->lock);
		}
		pthread_mutex_unlock(&kept_lock);
		p[n].fd = keeper_efd;
		p[n].events = POLLIN;
		now = zc_now();
		ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		if (poll(p, (nfds_t)n + 1, ms) > 0 && (p[n].revents & POLLIN) &&
		    read(keeper_efd, &junk, sizeof(junk)) < 0) {
			/* another read took it */
		}
	}
	return NULL;
}

/*
 * Around fork: no fork while the keeper is inside the client (in
 * getaddrinfo() reconnecting, say, whose lock the child would inherit
 * taken).  In the child, the parent's sessions are the parent's, and no
 * keeper runs.
 */
static void keeper_atfork_prepare(void)
{
	pthread_mutex_lock(&kept_lock);
}

static void keeper_atfork_parent(void)
{
	pthread_mutex_unlock(&kept_lock);
}

static void keeper_atfork_child(void)
{
	if (keeper_efd >= 0)
		close(keeper_efd); /* the parent's keeper's */
	keeper_efd = -1;
	pthread_mutex_init(&kept_lock, NULL);
	kept = NULL;
	keeper_running = false;
}

/* Put c, opened, in the keeper's care (once its owner is done with it). */
void zc_keep(struct zk_conn *c)
{
	static bool atfork; /* inherited by children: registered once */

	pthread_mutex_lock(&kept_lock);
	if (!keeper_running) {
		pthread_attr_t attr;
		pthread_t t;
		sigset_t all, old;
		sem_t up;

		if (!atfork)
			atfork = !pthread_atfork(keeper_atfork_prepare,
						 keeper_atfork_parent,
						 keeper_atfork_child);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (keeper_efd < 0)
			keeper_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		/* no signal of the application's lands on our thread */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		sem_init(&up, 0, 0);
		keeper_running = !pthread_create(&t, &attr, keeper, &up);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		while (keeper_running && sem_wait(&up) && errno == EINTR)
			;
		sem_destroy(&up);
	}
	if (!c->kept) {
		c->next = kept;
		kept = c;
		c->kept = true;
	}
	pthread_mutex_unlock(&kept_lock);
}

/* Take c off the keeper's list: its owner alone drives it from now on. */
void zc_unkeep(struct zk_conn *c)
{
	pthread_mutex_lock(&kept_lock);
	for (struct zk_conn **p = &kept; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			break;
		}
	c->kept = false;
	pthread_mutex_unlock(&kept_lock);
}

/* Close c for good, off the keeper's list; its memory is the caller's. */
void zc_destroy(struct zk_conn *c)
{
	zc_unkeep(c);
	zc_close(c);
	pthread_mutex_destroy(&c->lock);
}

/* Has the ensemble ended this session (expired, or refused its auth)? */
static bool zc_session_over(struct zk_conn *c)
{
	int state = zoo_state(c->zh);

	if (state == ZOO_EXPIRED_SESSION_STATE ||
	    state == ZOO_AUTH_FAILED_STATE) {
		c->expired = true;
		c->connected = false;
	}
	return c->expired;
}

/* Drive the session once: wait for its socket (or its own timer) until. */
int zc_pump(struct zk_conn *c, uint64_t until_ns)
{
	struct timeval tv = { 0, 0 };
	struct pollfd p = { .fd = -1 };
	int fd = -1, interest = 0, rc, ms, events = 0;
	uint64_t now = zc_now();

	if (!c->zh)
		return -ECONNRESET;
	rc = zookeeper_interest(c->zh, &fd, &interest, &tv);
	if (zc_session_over(c))
		return -ECONNRESET;
	if (rc != ZOK && rc != ZNOTHING && rc != ZCONNECTIONLOSS &&
	    rc != ZOPERATIONTIMEOUT && rc != ZINVALIDSTATE)
		return zc_errno(rc);
	ms = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
	if (fd < 0 && ms <= 0)
		ms = 10; /* between attempts to connect: no busy loop */
	if (until_ns <= now)
		ms = 0;
	else if ((until_ns - now + 999999) / 1000000 < (uint64_t)ms)
		ms = (int)((until_ns - now + 999999) / 1000000);
	if (fd >= 0) {
		p.fd = fd;
		if (interest & ZOOKEEPER_READ)
			p.events |= POLLIN;
		if (interest & ZOOKEEPER_WRITE)
			p.events |= POLLOUT;
	}
	rc = poll(&p, fd >= 0, ms);
	if (rc < 0 && errno != EINTR)
		return -errno;
	if (rc > 0) {
		if (p.revents & (POLLIN | POLLERR | POLLHUP))
			events |= ZOOKEEPER_READ;
		if (p.revents & POLLOUT)
			events |= ZOOKEEPER_WRITE;
	}
	zookeeper_process(c->zh, events);
	zc_session_over(c);
	return 0;
}

/* Wait until connected again; -EHOSTUNREACH after connect_ms. */
int zc_wait_connected(struct zk_conn *c)
{
	uint64_t until = zc_now() + (uint64_t)c->connect_ms * 1000000ull +
			 (uint64_t)c->session_ms * 1000000ull;

	while (!c->connected) {
		if (c->expired)
			return -ECONNRESET;
		if (zc_now() >= until)
			return zk_error(-EHOSTUNREACH,
					"zk://%s: the ensemble did not answer "
					"for %u ms",
					c->hosts,
					c->connect_ms + c->session_ms);
		zc_pump(c, until);
	}
	return 0;
}

/* Sleep until a watch fires (gen moves), the session changes, or until. */
int zc_wait_change(struct zk_conn *c, uint64_t gen, uint64_t until_ns)
{
	while (c->gen == gen && zc_now() < until_ns) {
		int err = zc_pump(c, until_ns);

		if (err)
			return err;
		if (c->expired)
			return -ECONNRESET;
	}
	return 0;
}

/* --- requests ------------------------------------------------------------ */

static struct zk_req *zr_new(void)
{
	struct zk_req *r = calloc(1, sizeof(*r));

	if (r)
		r->sent_ns = zc_now();
	return r;
}

void zr_free(struct zk_req *r)
{
	if (!r)
		return;
	free(r->data);
	for (int i = 0; i < r->kids.count; i++)
		free(r->kids.data[i]);
	free(r->kids.data);
	free(r->results);
	free(r->stats);
	free(r);
}

/* A completion: settle r, or free it if its waiter gave up. */
static bool zr_settle(struct zk_req *r, int rc)
{
	if (r->abandoned) {
		zr_free(r);
		return false;
	}
	r->rc = rc;
	r->done = true;
	return true;
}

static void data_done(int rc, const char *value, int len,
		      const struct Stat *stat, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	if (!zr_settle(r, rc))
		return;
	if (rc == ZOK) {
		if (stat)
			r->stat = *stat;
		if (value && len > 0) {
			r->data = malloc((size_t)len + 1);
			if (!r->data) {
				r->rc = ZSYSTEMERROR;
				return;
			}
			memcpy(r->data, value, (size_t)len);
			r->data[len] = '\0';
			r->len = len;
		}
	}
}

static void strings_done(int rc, const struct String_vector *v,
			 const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	if (!zr_settle(r, rc))
		return;
	if (rc != ZOK || !v || v->count <= 0)
		return;
	r->kids.data = calloc((size_t)v->count, sizeof(char *));
	if (!r->kids.data) {
		r->rc = ZSYSTEMERROR;
		return;
	}
	for (int i = 0; i < v->count; i++) {
		r->kids.data[i] = strdup(v->data[i]);
		if (!r->kids.data[i]) {
			r->rc = ZSYSTEMERROR;
			return;
		}
		r->kids.count = i + 1;
	}
}

static void stat_done(int rc, const struct Stat *stat, const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	if (zr_settle(r, rc) && rc == ZOK && stat)
		r->stat = *stat;
}

static void void_done(int rc, const void *data)
{
	zr_settle((struct zk_req *)data, rc);
}

static void string_stat_done(int rc, const char *s, const struct Stat *stat,
			     const void *data)
{
	struct zk_req *r = (struct zk_req *)data;

	if (zr_settle(r, rc) && rc == ZOK && stat)
		r->stat = *stat;
}

/* A request that could not be sent completes at once with its error. */
static struct zk_req *zr_sent(struct zk_req *r, int rc)
{
	if (rc != ZOK) {
		r->rc = rc;
		r->done = true;
	}
	return r;
}

struct zk_req *zr_get(struct zk_conn *c, const char *path, bool watch)
{
	struct zk_req *r = zr_new();

	if (!r)
		return NULL;
	return zr_sent(r, zoo_aget(c->zh, path, watch, data_done, r));
}

struct zk_req *zr_children(struct zk_conn *c, const char *path, bool watch)
{
	struct zk_req *r = zr_new();

	if (!r)
		return NULL;
	return zr_sent(r,
		       zoo_aget_children(c->zh, path, watch, strings_done, r));
}

struct zk_req *zr_set(struct zk_conn *c, const char *path, const char *buf,
		      int len, int version)
{
	struct zk_req *r = zr_new();

	if (!r)
		return NULL;
	return zr_sent(r,
		       zoo_aset(c->zh, path, buf, len, version, stat_done, r));
}

struct zk_req *zr_create(struct zk_conn *c, const char *path, const char *buf,
			 int len, const struct ACL_vector *acl, int mode)
{
	struct zk_req *r = zr_new();

	if (!r)
		return NULL;
	return zr_sent(r, zoo_acreate2(c->zh, path, buf, len, acl, mode,
				       string_stat_done, r));
}

struct zk_req *zr_delete(struct zk_conn *c, const char *path, int version)
{
	struct zk_req *r = zr_new();

	if (!r)
		return NULL;
	return zr_sent(r, zoo_adelete(c->zh, path, version, void_done, r));
}

/*
 * A multi-op.  The ops' set stats must point into memory that outlives the
 * request: r->stats, freed with it.
 */
struct zk_req *zr_multi(struct zk_conn *c, int n, const zoo_op_t *ops)
{
	struct zk_req *r = zr_new();
	zoo_op_t *copy;
	int rc;

	if (!r)
		return NULL;
	r->nops = n;
	r->results = calloc((size_t)n, sizeof(*r->results));
	copy = calloc((size_t)n, sizeof(*copy));
	if (!r->results || !copy) {
		free(copy);
		zr_free(r);
		return NULL;
	}
	r->stats = calloc((size_t)n, sizeof(*r->stats));
	if (!r->stats) {
		free(copy);
		zr_free(r);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		copy[i] = ops[i];
		if (ops[i].type == ZOO_SETDATA_OP) {
			/* the client may set results[i].stat NULL on failure */
			r->results[i].stat = &r->stats[i];
			copy[i].set_op.stat = &r->stats[i];
		}
	}
	rc = zoo_amulti(c->zh, n, copy, r->results, void_done, r);
	free(copy);
	return zr_sent(r, rc);
}

/*
 * Wait for r; 0 when it completed (its rc says how), -EHOSTUNREACH when
 * the ensemble did not answer in time (r is then abandoned: not to be
 * touched or freed again), -ENOMEM for a NULL r.
 */
int zr_wait(struct zk_conn *c, struct zk_req *r)
{
	uint64_t until;

	if (!r)
		return zk_error(-ENOMEM, "out of memory for a request");
	until = zc_now() +
		(uint64_t)(c->connect_ms + c->session_ms) * 1000000ull;
	while (!r->done) {
		if (c->expired || !c->zh) {
			/* its completion will never come: the session is over */
			r->abandoned = true;
			return -ECONNRESET;
		}
		if (zc_now() >= until) {
			r->abandoned = true;
			return zk_error(-EHOSTUNREACH,
					"zk://%s: no answer for %u ms",
					c->hosts,
					c->connect_ms + c->session_ms);
		}
		zc_pump(c, until);
	}
	return 0;
}

/* Wait for every request; on failure the ones not done are abandoned. */
int zr_wait_all(struct zk_conn *c, struct zk_req **rs, int n)
{
	int err = 0;

	for (int i = 0; i < n; i++) {
		if (!err) {
			err = zr_wait(c, rs[i]);
			if (err)
				rs[i] = NULL; /* abandoned by zr_wait */
			continue;
		}
		if (!rs[i])
			continue;
		if (rs[i]->done) {
			zr_free(rs[i]);
		} else {
			rs[i]->abandoned = true;
		}
		rs[i] = NULL;
	}
	if (err)
		for (int i = 0; i < n; i++) {
			zr_free(rs[i]);
			rs[i] = NULL;
		}
	return err;
}

/* Is the ephemeral node at path this session's (a join whose answer was lost)? */
bool zc_owns(struct zk_conn *c, const char *path)
{
	struct zk_req *r = zr_get(c, path, false);
	const clientid_t *id;
	bool ours;

	if (zr_wait(c, r))
		return false;
	id = c->zh ? zoo_client_id(c->zh) : NULL;
	ours = r->rc == ZOK && id && r->stat.ephemeralOwner == id->client_id;
	zr_free(r);
	return ours;
}

/* --- the ensemble's clock ------------------------------------------------ */

void zc_clock_sample(struct zk_conn *c, int64_t mtime_ms, uint64_t sent_ns)
{
	uint64_t now = zc_now(), rtt = now - sent_ns;

	/*
	 * The tightest sample of the last 10 s: tighter is better, but
	 * clocks drift, and a new leader's clock is another clock.
	 */
	if (rtt > c->clock_rtt_ns && now - c->clock_at_ns < 10000000000ull)
		return;
	c->clock_rtt_ns = rtt;
	c->clock_at_ns = now;
	c->clock_off_ns = mtime_ms * 1000000ll - (int64_t)(sent_ns + rtt / 2);
}

/* The ensemble's time now, by a write to clock_path. */
int zc_clock_now(struct zk_conn *c, const char *clock_path, int64_t *ms)
{
	struct zk_req *r = zr_set(c, clock_path, "", 0, -1);
	int err = zr_wait(c, r);

	if (err)
		return err;
	err = zc_errno(r->rc);
	if (!err) {
		*ms = r->stat.mtime;
		zc_clock_sample(c, r->stat.mtime, r->sent_ns);
	}
	zr_free(r);
	return err;
}

/* The local CLOCK_MONOTONIC time at which the ensemble's clock says zk_ms. */
uint64_t zc_local_ns(const struct zk_conn *c, int64_t zk_ms)
{
	int64_t t = zk_ms * 1000000ll - c->clock_off_ns;

	if (c->clock_rtt_ns == UINT64_MAX)
		return zc_now(); /* no sample yet: look now */
	/* the sample's error, and mtime's truncation to ms */
	t += (int64_t)(c->clock_rtt_ns / 2) + 1000000ll;
	return t < 0 ? 0 : (uint64_t)t;
}
