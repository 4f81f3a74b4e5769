/* SPDX-License-Identifier: MIT */
/*
 * zk.h - the ZooKeeper backend (libpooter-zk.so.0): rounds kept as znodes on
 * an ensemble, for processes on several hosts.  docs/hosts.md tells the
 * model; in short, under the broker's node P:
 *
 *   P            the capacities and the timeout        (broker_text)
 *   P/state      the last round, open or not; counters (struct zk_state)
 *   P/r/K        round K: participants, outcome         (struct zk_round)
 *   P/r/K/NAME   emitter NAME's payload in round K
 *   P/m/NAME     ephemeral: the name, of either kind (names are unique)
 *   P/e/NAME     ephemeral: a live emitter
 *   P/k/NAME     ephemeral: a live consumer
 *   P/c/NAME     a consumer's cursor, persistent        (struct zk_cursor)
 *   P/clock      written to read the ensemble's clock
 *
 * Every decision is one conditional multi-op: an outcome is written to P/r/K
 * and P/state at the versions the decider read, so it is decided once.
 * Every handle (broker, emitter, consumer) has its own session (conn.c), so
 * that a member is alive exactly as long as its session.
 */
#ifndef POOTER_ZK_H
#define POOTER_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <zookeeper/zookeeper.h>

#include "../backend.h"
#include "../base.h"

#define ZK_PAYLOAD_MAX (POOTER_PAYLOAD_MAX - 65536) /* under jute.maxbuffer */
#define ZK_PATH_MAX 1024
#define ZK_RETAIN 1024 /* rounds whose outcomes late waiters may still ask */
#define ZK_GC_STEP 8   /* rounds collected per opening, at most */
#define ZK_SESSION_DEFAULT_MS 4000
#define ZK_CONNECT_DEFAULT_MS 5000
#define ZK_YIELD_NS (3 * 1000000ull) /* an opening yielded to another */

extern const struct backend_host *zk_host;
#define zk_error(err, ...) zk_host->set_error((err), __VA_ARGS__)

/* --- sessions (conn.c) --------------------------------------------------- */

struct zk_conn {
	zhandle_t *zh;
	pthread_mutex_t lock; /* its owner's call, or the keeper (conn.c) */
	struct zk_conn *next; /* on the keeper's list */
	bool kept;
	/* armed waits' work, done by the keeper: when to call again */
	uint64_t (*work)(struct zk_conn *c, void *owner);
	void *owner;
	char hosts[ZK_PATH_MAX];
	unsigned int session_ms, connect_ms;
	char auth_scheme[32];
	char auth[256];
	pid_t pid; /* whose it is: after fork, the parent's */
	bool connected;
	bool expired;	       /* this session is over: reopen to go on */
	uint64_t gen;	       /* watch events seen: a change to look at */
	uint64_t gen_state;    /* of those, the state's */
	uint64_t decided;      /* the last round this session decided */
	bool state_quiet;      /* the state's do not move gen (an emitter's) */
	int64_t clock_off_ns;  /* ensemble ms * 1e6 - local CLOCK_MONOTONIC */
	uint64_t clock_rtt_ns; /* of the sample clock_off_ns came from */
	uint64_t clock_at_ns;  /* when it was taken */
};

/* One asynchronous request, waited for by zc_wait(). */
struct zk_req {
	bool done;
	bool abandoned; /* its waiter gave up: the completion frees it */
	int rc;
	char *data; /* aget */
	int len;
	struct Stat stat;
	struct String_vector kids; /* aget_children: deep copy */
	/* amulti */
	int nops;
	zoo_op_result_t *results;
	struct Stat *stats; /* the set ops' */
	uint64_t sent_ns;
};

int zc_open(struct zk_conn *c, const char *hosts,
	    const struct pooter_url_opts *opts);
int zc_reopen(struct zk_conn *c);
void zc_close(struct zk_conn *c);
void zc_keep(struct zk_conn *c);
void zc_kick(void);
void zc_unkeep(struct zk_conn *c);
void zc_destroy(struct zk_conn *c);
uint64_t zc_now(void);
int zc_pump(struct zk_conn *c, uint64_t until_ns);
int zc_wait_connected(struct zk_conn *c);
int zc_wait_change(struct zk_conn *c, uint64_t gen, uint64_t until_ns);
int zc_errno(int rc);
int zc_mine(const struct zk_conn *c);

struct zk_req *zr_get(struct zk_conn *c, const char *path, bool watch);
struct zk_req *zr_children(struct zk_conn *c, const char *path, bool watch);
struct zk_req *zr_set(struct zk_conn *c, const char *path, const char *buf,
		      int len, int version);
struct zk_req *zr_multi(struct zk_conn *c, int n, const zoo_op_t *ops);
struct zk_req *zr_create(struct zk_conn *c, const char *path, const char *buf,
			 int len, const struct ACL_vector *acl, int mode);
struct zk_req *zr_delete(struct zk_conn *c, const char *path, int version);
int zr_wait(struct zk_conn *c, struct zk_req *r);
int zr_wait_all(struct zk_conn *c, struct zk_req **rs, int n);
void zr_free(struct zk_req *r);
bool zc_owns(struct zk_conn *c, const char *path);
void zc_clock_sample(struct zk_conn *c, int64_t mtime_ms, uint64_t sent_ns);
int zc_clock_now(struct zk_conn *c, const char *clock_path, int64_t *ms);
uint64_t zc_local_ns(const struct zk_conn *c, int64_t zk_ms);

/* --- node texts (text.c) ------------------------------------------------- */

struct zk_config {
	unsigned int max_emitters, max_consumers, max_payload, depth;
	unsigned int quorum, mode, timeout_ms;
};

struct zk_state {
	uint64_t round; /* the last round opened; 0: none */
	bool open;
	uint64_t opened, resolved, timedout, cancelled, ownerdead;
	uint64_t emits;	     /* of rounds up to folded */
	uint64_t folded;     /* the last round whose emits are in emits */
	uint64_t deliveries; /* of consumers gone */
	uint64_t gcp;	     /* payloads collected up to this round */
	uint64_t gcr;	     /* round nodes collected up to this round */
	int version;
};

struct zk_round {
	uint64_t k;
	bool open;
	int outcome; /* 0 or a negative errno, once decided */
	unsigned int timeout_ms;
	bool fixed;
	unsigned int nparts;
	char (*parts)[POOTER_NAME_MAX + 1];
	int version;
	int64_t ctime_ms;
};

struct zk_cursor {
	bool notices;
	uint64_t acked; /* rounds due to it, released (in any order) */
	uint64_t low;	/* the lowest round it may still read */
	uint64_t delivered;
	int version;
};

int zt_config_parse(const char *buf, int len, struct zk_config *cf);
int zt_config_format(char *buf, size_t size, const struct zk_config *cf);
int zt_state_parse(const char *buf, int len, struct zk_state *st);
int zt_state_format(char *buf, size_t size, const struct zk_state *st);
int zt_round_parse(const char *buf, int len, unsigned int max_parts,
		   struct zk_round *r);
int zt_round_format(char *buf, size_t size, const struct zk_round *r);
int zt_cursor_parse(const char *buf, int len, struct zk_cursor *cur);
int zt_cursor_format(char *buf, size_t size, const struct zk_cursor *cur);
int zt_round_find(const struct zk_round *r, const char *name);
bool zt_in(const struct String_vector *v, const char *name);
uint64_t zt_due(const struct zk_state *st, bool notices);

/* --- handles ------------------------------------------------------------- */

struct zk_broker {
	const struct backend_ops *ops; /* first: backend.h */
	struct zk_conn conn;
	char url[ZK_PATH_MAX];
	char path[ZK_PATH_MAX]; /* P */
	char name[POOTER_NAME_MAX + 1];
	struct pooter_url_opts opts;
	char auth_scheme[32], auth[256];
	struct zk_config cf; /* as read at open; timeout re-read per round */
	struct ACL_vector *acl;
	struct ACL acl_buf[2];
	struct ACL_vector acl_vec;
};

/* A wait armed on an application's ring (async.c): a POLL_ADD on efd. */
#define ZK_ARMED_MAX 9 /* 8 round waits and a space wait, as shm's */

enum zk_armed_kind {
	ZK_ARMED_FREE,
	ZK_ARMED_ROUND,
	ZK_ARMED_SPACE,
	ZK_ARMED_CONSUME
};

struct zk_armed {
	int kind; /* enum zk_armed_kind */
	const struct pooter_ticket *t;
	uint64_t round;
	struct io_uring *ring;
	uint64_t user_data;
	int efd; /* 0: none yet (an eventfd is never 0 here: stdin is) */
	bool settled;
	int outcome;
	uint64_t gen_seen, wake_ns, deadline_ns;
};

struct zk_emitter {
	struct pooter_broker *broker; /* first: backend.h */
	struct zk_armed armed[ZK_ARMED_MAX];
	struct zk_conn conn;
	char name[POOTER_NAME_MAX + 1];
	bool gone;	     /* its session ended: removed */
	uint64_t maybe_sent; /* an emit to this round may have landed */
	uint64_t seen;	     /* the last round it saw: guesses the next */
	uint64_t learned;    /* the last round decided by another: see below */
	/* the consumers last seen, whose cursors an opening reads ahead */
	char (*cursors)[POOTER_NAME_MAX + 1];
	int ncursors;
};

struct zk_held {
	struct zk_held *next;
	struct pooter_delivery d;
};

struct zk_consumer {
	struct pooter_broker *broker; /* first: backend.h */
	struct zk_armed wait;
	const struct pooter_delivery *ready; /* taken by the armed wait */
	struct zk_conn conn;
	char name[POOTER_NAME_MAX + 1];
	bool notices;
	bool gone;
	uint64_t next; /* the next round to look at */
	struct zk_cursor cur;
	struct zk_held *held; /* in round order */
	unsigned int nheld;
	bool dirty; /* released since the cursor was last written */
};

static inline struct zk_broker *zkb(const struct pooter_broker *b)
{
	return (struct zk_broker *)b;
}

/* paths under P */
void zp(const struct zk_broker *b, char *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void zp_round(const struct zk_broker *b, char *out, uint64_t k);

/* broker.c */
extern const struct backend_ops zk_backend;
int zk_read_state(struct zk_conn *c, struct zk_broker *b, struct zk_state *st);
int zk_round_from(const struct zk_broker *b, const struct zk_req *r, uint64_t k,
		  struct zk_round *rd);
int zk_read_round(struct zk_conn *c, struct zk_broker *b, uint64_t k,
		  struct zk_round *r);
void zk_round_free(struct zk_round *r);
int zk_enforce(struct zk_conn *c, struct zk_broker *b);

/* round.c */
int zk_round_step(struct zk_conn *c, struct zk_broker *b, uint64_t k,
		  int *outcomep, uint64_t *wakep);
int zk_decide(struct zk_conn *c, struct zk_broker *b, struct zk_round *r,
	      int outcome, const char *leaver);
int zk_retry(struct zk_conn *c, int err, bool *gonep);
int zk_emitter_join(struct pooter_broker *pb, const char *name,
		    unsigned int flags, struct pooter_emitter **emitterp);
const char *zk_emitter_name(const struct pooter_emitter *em);
int zk_emitter_leave(struct pooter_emitter *em);
int zk_contribute(struct pooter_emitter *em, const void *payload, size_t len,
		  bool wait_space, struct pooter_ticket *t);
int zk_outcome_wait(struct pooter_ticket *t);
int zk_cancel(struct pooter_broker *pb);

int zk_space_room(struct zk_emitter *em, bool watch);

/* async.c */
int zk_prep_round_wait(struct io_uring *ring, struct pooter_ticket *t,
		       uint64_t user_data);
int zk_round_complete(struct io_uring *ring, struct pooter_ticket *t,
		      const struct io_uring_cqe *cqe);
int zk_prep_consume_wait(struct io_uring *ring, struct pooter_consumer *c,
			 int timeout_ms, uint64_t user_data);
int zk_consume_complete(struct io_uring *ring, struct pooter_consumer *c,
			const struct io_uring_cqe *cqe,
			const struct pooter_delivery **deliveryp);
int zk_prep_space_wait(struct io_uring *ring, struct pooter_emitter *em,
		       int timeout_ms, uint64_t user_data);
int zk_space_complete(struct io_uring *ring, struct pooter_emitter *em,
		      const struct io_uring_cqe *cqe);
void zk_armed_cancel(struct zk_armed *a, int n);

/* consumer.c */
int zk_consumer_join(struct pooter_broker *pb, const char *name,
		     unsigned int flags, struct pooter_consumer **consumerp);
const char *zk_consumer_name(const struct pooter_consumer *c);
int zk_consumer_leave(struct pooter_consumer *c);
int zk_consume(struct pooter_consumer *c, int timeout_ms,
	       const struct pooter_delivery **deliveryp);
int zk_release(struct pooter_consumer *c, const struct pooter_delivery *d);
int zk_cursor_flush(struct zk_consumer *cs);
uint64_t zk_consumer_work(struct zk_conn *c, void *owner);
int zk_reap_cursor(struct zk_conn *c, struct zk_broker *b, const char *name,
		   const struct zk_state *st);

#endif /* POOTER_ZK_H */
