/* SPDX-License-Identifier: MIT */
/*
 * zk_common.h - what the ZooKeeper backend's suites share: the ensemble
 * (from the environment ctest's fixture sets), broker URLs, a scripted peer
 * that speaks URLs and options, and running tests/zk/ensemble.sh.
 *
 * The environment (tests/zk/CMakeLists.txt sets it):
 *   POOTER_ZK_HOSTS     the connect string ("127.0.0.1:22181,...");
 *                       else read from $POOTER_ZK_DIR/hosts
 *   POOTER_ZK_DIR       the ensemble's directory (ensemble.sh's DIR)
 *   POOTER_ZK_ENSEMBLE  the path of ensemble.sh
 *   POOTER_PLUGIN_DIR   where libpooter-zk.so.0 is
 * A suite whose ensemble cannot be there (no java, no ZooKeeper, no hosts)
 * skips every test, saying what is missing, and exits 77.
 *
 * The peer here is the harness's (harness.h) made for URLs: harness peers
 * open a broker by a name of H_NAME_LEN bytes with the default options; a
 * zk:// URL is longer, and these suites want a short session timeout.  It
 * also does what only zk tests need: tickets kept across commands, the
 * operator's cancel, and a delivery's payloads reported as text.
 */
#ifndef POOTER_TEST_ZK_COMMON_H
#define POOTER_TEST_ZK_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define ZK_URL_MAX 512
#define ZK_TEXT_MAX 2048
#define ZK_SESSION_MS 2000 /* the suites' session timeout (the default: 4000) */
#define ZK_TICKETS 8	   /* tickets a peer keeps (as a handle does) */
#define ZK_SCRIPT_MS 180000 /* any ensemble.sh command (JVM starts included) */

/* Options of every URL call in the suites: session timeout ZK_SESSION_MS. */
extern struct pooter_url_opts zk_opts;

/*
 * 1 when an ensemble can be there (java, /usr/share/zookeeper, the hosts);
 * else prints why once and returns 0.  ZK_REQUIRE() skips the test then.
 */
int zk_available(void);
#define ZK_REQUIRE()                   \
	do {                           \
		if (!zk_available()) { \
			skip();        \
			return;        \
		}                      \
	} while (0)

const char *zk_hosts(void);

/*
 * A fresh broker URL zk://HOSTS/pooter-test/NAME, NAME made of tag, the pid
 * and a counter; a stale broker of that name is unlinked first, and the URL
 * is remembered so that zk_teardown() unlinks it.
 */
void zk_url(char url[ZK_URL_MAX], const char *tag);
/* Remember a URL made elsewhere for zk_teardown(). */
void zk_remember_url(const char *url);

/* Create (zk_url()) with zk_opts and attr, asserting success. */
struct pooter_broker *zk_create(char url[ZK_URL_MAX], const char *tag,
				const struct pooter_broker_attr *attr);
/* Open with zk_opts, asserting success. */
struct pooter_broker *zk_open(const char *url);
/* Close a handle of zk_create()/zk_open() (else zk_teardown() does). */
void zk_close(struct pooter_broker *b);
/* stat, asserting success (with the last error and the caller's line). */
void zk_stat_at(struct pooter_broker *b, struct pooter_broker_stat *st,
		const char *file, int line);
#define zk_stat(b, st) zk_stat_at((b), (st), __FILE__, __LINE__)

/*
 * Poll stat until pred holds, within timeout_ms (asserted).  Not a
 * synchronization on time: a bounded wait for a state of the broker.
 */
void zk_stat_until_at(struct pooter_broker *b, struct pooter_broker_stat *st,
		      bool (*pred)(const struct pooter_broker_stat *st,
				   void *arg),
		      void *arg, int timeout_ms, const char *file, int line);
#define zk_stat_until(b, st, pred, arg, timeout_ms)                        \
	zk_stat_until_at((b), (st), (pred), (arg), (timeout_ms), __FILE__, \
			 __LINE__)
bool zk_pred_emitted(const struct pooter_broker_stat *st,
		     void *arg); /* unsigned */
bool zk_pred_emitters(const struct pooter_broker_stat *st,
		      void *arg); /* unsigned */
bool zk_pred_consumers(const struct pooter_broker_stat *st,
		       void *arg); /* unsigned */
bool zk_pred_closed(const struct pooter_broker_stat *st,
		    void *arg); /* uint64_t */
bool zk_pred_open(const struct pooter_broker_stat *st,
		  void *arg); /* uint64_t */

/*
 * A delivery's payloads as text: "NAME=DATA;NAME=DATA", sorted by emitter
 * name, unprintable bytes and ';' as '?'.
 */
void zk_delivery_text(const struct pooter_delivery *d, char *out,
		      size_t outlen);

/*
 * Consume within timeout_ms and check the delivery's round, outcome and
 * payloads (text as zk_delivery_text(); NULL: not checked) and that every
 * payload is max_align_t aligned.  Returns the delivery, held.
 */
const struct pooter_delivery *zk_expect_delivery(struct pooter_consumer *c,
						 int timeout_ms, uint64_t round,
						 int outcome, const char *text);

/* cmocka teardown: h_teardown(), close handles, unlink remembered URLs. */
int zk_teardown(void **state);

/* Assert that call returns want; on failure say what and last_error. */
#define ZK_EXPECT(call, want)                                                  \
	do {                                                                   \
		int _rc = (call);                                              \
		int _want = (want);                                            \
		if (_rc != _want)                                              \
			fail_msg("%s = %d (%s), expected %d (%s); "            \
				 "last_error: \"%s\"",                         \
				 #call, _rc, pooter_strerror(_rc), _want,      \
				 pooter_strerror(_want), pooter_last_error()); \
	} while (0)

/* In a child: as C_EQ, with pooter_last_error(). */
#define ZC_EXPECT(call, want)                                                 \
	do {                                                                  \
		int _rc = (call);                                             \
		int _want = (want);                                           \
		if (_rc != _want)                                             \
			h_child_fail(__FILE__, __LINE__,                      \
				     "%s = %d (%s), expected %d (%s); "       \
				     "last_error: \"%s\"",                    \
				     #call, _rc, pooter_strerror(_rc), _want, \
				     pooter_strerror(_want),                  \
				     pooter_last_error());                    \
	} while (0)

/* --- scripted peers for URLs -------------------------------------------- */

enum zk_op {
	ZK_OP_OPEN = 1,	    /* answered once at start */
	ZK_OP_JOIN_EMITTER, /* name (empty: NULL), flags */
	ZK_OP_EMIT,	    /* data[len] */
	ZK_OP_SUBMIT,	    /* data[len] into ticket slot .slot */
	ZK_OP_TICKET_WAIT,  /* ticket slot .slot */
	ZK_OP_LEAVE_EMITTER,
	ZK_OP_JOIN_CONSUMER, /* name, flags */
	ZK_OP_CONSUME,	     /* timeout_ms; held; text: the payloads */
	ZK_OP_RELEASE,	     /* the held delivery of round .round */
	ZK_OP_LEAVE_CONSUMER,
	ZK_OP_CANCEL, /* pooter_round_cancel() */
	ZK_OP_STAT,   /* the stat in .st */
	ZK_OP_QUIT,
};

#define ZK_DATA_MAX 1024

struct zk_cmd {
	int op;
	unsigned int flags;
	int timeout_ms;
	unsigned int len;
	unsigned int slot;
	uint64_t round;
	char name[H_NAME_LEN];
	unsigned char data[ZK_DATA_MAX];
};

struct zk_res {
	int op;
	int rc;
	uint64_t round;	     /* emit: *roundp (H_ROUND_UNTOUCHED if not set);
				submit/ticket: ticket.round; consume: round */
	int outcome;	     /* consume: delivery outcome; submit/ticket:
				ticket.outcome */
	unsigned int count;  /* consume: payloads */
	uint64_t t_start_ns; /* CLOCK_MONOTONIC just before the call */
	uint64_t t_end_ns;   /* and just after it returned */
	struct pooter_broker_stat st; /* ZK_OP_STAT */
	/*
	 * consume: "NAME=DATA;NAME=DATA" sorted by emitter name; a failed
	 * call: pooter_last_error(); join: the member's name.
	 */
	char text[ZK_TEXT_MAX];
};

struct zk_peer {
	pid_t pid;
	int cmd_wr;
	int res_rd;
	char url[ZK_URL_MAX];
};

/* Fork a peer that opens url with zk_opts; asserts the open succeeded. */
void zk_peer_start(struct zk_peer *p, const char *url);
void zk_peer_send(struct zk_peer *p, const struct zk_cmd *c);
/* The next answer, asserted within timeout_ms. */
void zk_peer_res(struct zk_peer *p, struct zk_res *r, int timeout_ms);
/*
 * As zk_peer_res(), but 0 when an answer came and -ETIMEDOUT when none
 * within timeout_ms (nothing asserted).
 */
int zk_peer_try_res(struct zk_peer *p, struct zk_res *r, int timeout_ms);
int zk_peer_pending(struct zk_peer *p);
/* Quit (leaving what it joined) and assert a clean exit. */
void zk_peer_stop(struct zk_peer *p);
/* SIGKILL and reap; the pipes are closed. */
void zk_peer_kill(struct zk_peer *p);

/* Send and wait (H_LONG_MS); return rc, the answer in *r if not NULL. */
int zk_peer_join_emitter(struct zk_peer *p, const char *name,
			 unsigned int flags);
int zk_peer_join_consumer(struct zk_peer *p, const char *name,
			  unsigned int flags);
int zk_peer_leave_emitter(struct zk_peer *p);
int zk_peer_leave_consumer(struct zk_peer *p);
int zk_peer_cancel(struct zk_peer *p);
int zk_peer_release(struct zk_peer *p, uint64_t round);
void zk_peer_stat(struct zk_peer *p, struct pooter_broker_stat *st);
/* Asynchronous emit / submit / ticket wait / join: collect with _res(). */
void zk_peer_emit_async(struct zk_peer *p, const char *payload);
void zk_peer_submit_async(struct zk_peer *p, unsigned int slot,
			  const char *payload);
void zk_peer_ticket_wait_async(struct zk_peer *p, unsigned int slot);
void zk_peer_join_emitter_async(struct zk_peer *p, const char *name,
				unsigned int flags);
/* Synchronous emit (H_LONG_MS): rc; *r gets the whole answer. */
int zk_peer_emit(struct zk_peer *p, const char *payload, struct zk_res *r);
/* Consume within timeout_ms (+ H_LONG_MS for the answer). */
void zk_peer_consume(struct zk_peer *p, int timeout_ms, struct zk_res *r);

/* Fail (cmocka) saying what a peer's answer was. */
#define ZK_RES_EXPECT(r, want)                                              \
	do {                                                                \
		const struct zk_res *_r = (r);                              \
		int _want = (want);                                         \
		if (_r->rc != _want)                                        \
			fail_msg("peer op %d = %d (%s), expected %d (%s); " \
				 "round %llu; text: \"%s\"",                \
				 _r->op, _r->rc, pooter_strerror(_r->rc),   \
				 _want, pooter_strerror(_want),             \
				 (unsigned long long)_r->round, _r->text);  \
	} while (0)

/* --- the ensemble -------------------------------------------------------- */

/*
 * Run `bash $POOTER_ZK_ENSEMBLE ARG... $POOTER_ZK_DIR` (the directory last,
 * as every subcommand takes it), within ZK_SCRIPT_MS; its stdout (trimmed)
 * into out.  Returns the exit status (0 ok), or -1 when it did not end in
 * time (it is killed then).  Its stderr goes to ours.
 */
int zk_ensemble(char *out, size_t outlen, const char *arg1, const char *arg2);

/* Assert an ensemble.sh command succeeded. */
void zk_ensemble_ok(char *out, size_t outlen, const char *arg1,
		    const char *arg2);

/*
 * With ZK_DEBUG_HANG=1 in the environment: print every thread's backtrace
 * of pid (gdb -batch), for a child found stuck.  Else nothing.
 */
void zk_debug_pid(pid_t pid, const char *why);

/* Milliseconds from t_ns (CLOCK_MONOTONIC) to now. */
uint64_t zk_ms_since(uint64_t t_ns);

#endif /* POOTER_TEST_ZK_COMMON_H */
