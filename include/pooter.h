/* SPDX-License-Identifier: MIT */
/*
 * pooter.h - rounds of promises among processes, through shared memory.
 *
 * Emitters promise a broker to emit together: the first emit opens a round,
 * every emitter registered at that moment must emit before the round's
 * deadline, and then the round is resolved and its payloads go to every
 * consumer; otherwise it is cancelled.  The broker is a named shared-memory
 * segment (/dev/shm/pooter.NAME); there is no daemon.
 *
 * Conventions, as in liburing: functions return 0 or a positive count on
 * success and a negative errno on failure; errno is not used.  Handles are
 * opaque and per process.  A handle is used by one thread at a time;
 * different handles, the emitters and consumers joined through one broker
 * handle included, may be used from different threads at once.  Every
 * function has a man page: pooter_broker_create(3) and so on; pooter(7) is
 * the tour.
 *
 * Besides the errors each function lists, any call that touches a broker may
 * give -EPROTO (the segment's contents are corrupted; pooter_last_error()
 * names the field), -EDEADLK (its lock stayed with one live process, with no
 * unlock, for over 10 s: stopped, or named by a corrupted segment) or -EBADFD
 * (a handle used in another process than the one that opened it).
 *
 * This header carries no internals: the segment layout is private to the
 * library and may change with its layout version.
 */
#ifndef POOTER_H
#define POOTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define POOTER_VERSION_MAJOR 0
#define POOTER_VERSION_MINOR 2
#define POOTER_VERSION_PATCH 0

/* Names of brokers and members: 1..63 bytes of [A-Za-z0-9._-], no leading '.' */
#define POOTER_NAME_MAX 63

/* Documented upper limits, checked at create and again at open. */
#define POOTER_EMITTERS_MAX 256
#define POOTER_CONSUMERS_MAX 64
#define POOTER_PAYLOAD_MAX (1u << 20)	/* bytes per emitter per round */
#define POOTER_DEPTH_MAX 64		/* ring records */
#define POOTER_TIMEOUT_MAX_MS 3600000u	/* one hour */
#define POOTER_SEGMENT_MAX (1ull << 30) /* bytes the capacities may imply */

/* Defaults for a zero field in struct pooter_broker_attr. */
#define POOTER_DEFAULT_EMITTERS 8
#define POOTER_DEFAULT_CONSUMERS 8
#define POOTER_DEFAULT_PAYLOAD 4096
#define POOTER_DEFAULT_DEPTH 8
#define POOTER_DEFAULT_TIMEOUT_MS 1000
#define POOTER_DEFAULT_MODE 0600

struct pooter_broker;
struct pooter_emitter;
struct pooter_consumer;

/*
 * Extensible options, libbpf style: the first field is the struct's own size,
 * so fields can be added without breaking callers built against an older
 * header.  Declare with POOTER_OPTS(pooter_broker_attr, attr, .depth = 16);
 * a zero field takes its default.
 *
 * C++ has designated initializers only from C++20, and then only in the
 * order of declaration: there, and in C too, declare with
 * POOTER_OPTS_INIT(pooter_broker_attr, attr); (every field zero, sz set)
 * and assign the fields: attr.quorum = 2; attr.timeout_ms = 5000;
 */
struct pooter_broker_attr {
	size_t sz;
	unsigned int max_emitters;  /* 1..POOTER_EMITTERS_MAX */
	unsigned int max_consumers; /* 1..POOTER_CONSUMERS_MAX */
	unsigned int max_payload;   /* 1..POOTER_PAYLOAD_MAX bytes */
	unsigned int depth;	    /* 1..POOTER_DEPTH_MAX records */
	unsigned int timeout_ms;    /* 1..POOTER_TIMEOUT_MAX_MS */
	unsigned int quorum;	    /* 0 (none) or 1..max_emitters */
	unsigned int mode;	    /* file mode bits, 0: 0600 */
	size_t : 0;		    /* with POOTER_OPTS: zeroed padding */
};

/*
 * Zeroed first, padding included, as LIBBPF_OPTS does: the library refuses
 * non-zero bytes past the last field it knows, padding too (a later field
 * may live there), and an initializer alone may leave padding as the stack
 * had it (gcc and clang at -O0 do).
 */
#define POOTER_OPTS(TYPE, NAME, ...)                                     \
	struct TYPE NAME = __extension__({                               \
		__builtin_memset(&NAME, 0, sizeof(struct TYPE));         \
		(struct TYPE){ .sz = sizeof(struct TYPE), __VA_ARGS__ }; \
	})

/* Every field zero (padding too) but sz, for C++ and C alike (see above). */
#ifdef __cplusplus
#define POOTER_OPTS_INIT(TYPE, NAME)                                      \
	struct TYPE NAME = [] {                                           \
		struct TYPE pooter_opts_;                                 \
		__builtin_memset(&pooter_opts_, 0, sizeof(pooter_opts_)); \
		pooter_opts_.sz = sizeof(pooter_opts_);                   \
		return pooter_opts_;                                      \
	}()
#else
#define POOTER_OPTS_INIT(TYPE, NAME)                             \
	struct TYPE NAME = __extension__({                       \
		__builtin_memset(&NAME, 0, sizeof(struct TYPE)); \
		(struct TYPE){ .sz = sizeof(struct TYPE) };      \
	})
#endif

/* --- brokers ------------------------------------------------------------ */

/*
 * Create /dev/shm/pooter.NAME and attach to it.  NULL name: a generated
 * UUIDv7 name (see pooter_broker_name()).  attr may be NULL for defaults.
 * Space is reserved at create; the segment is published only once fully
 * initialized.  Errors: -EEXIST, -EINVAL, -ENAMETOOLONG, -EACCES, -ENOSPC.
 */
int pooter_broker_create(const char *name,
			 const struct pooter_broker_attr *attr,
			 struct pooter_broker **brokerp);

/*
 * Attach to an existing broker, validating the segment fully.  Errors:
 * -ENOENT, -EACCES, -EPROTO (not a pooter segment, other layout version,
 * sizes that do not add up; pooter_last_error() says which), -EXDEV (created
 * in another pid or time namespace), -EINVAL (bad name).
 */
int pooter_broker_open(const char *name, struct pooter_broker **brokerp);

/*
 * Detach.  If members joined through this handle have not left yet, the
 * handle lives on until the last of them leaves (their handles stay valid).
 */
void pooter_broker_close(struct pooter_broker *broker);

/* Remove the name; members attached keep working until they close. */
int pooter_broker_unlink(const char *name);

/* The broker's name (without the "pooter." prefix). */
const char *pooter_broker_name(const struct pooter_broker *broker);

/* Change the timeout of rounds opened from now on.  -EINVAL when out of range. */
int pooter_broker_set_timeout(struct pooter_broker *broker,
			      unsigned int timeout_ms);

enum pooter_round_state {
	POOTER_ROUND_NONE = 0, /* no round was ever opened */
	POOTER_ROUND_OPEN = 1,
	POOTER_ROUND_CLOSED = 2, /* last round decided, none open */
};

struct pooter_broker_stat {
	/* capacities, fixed at create */
	unsigned int max_emitters;
	unsigned int max_consumers;
	unsigned int max_payload;
	unsigned int depth;
	unsigned int quorum;
	unsigned int timeout_ms; /* for rounds opened from now on */
	size_t segment_size;
	/* members */
	unsigned int emitters; /* joined (dead ones not yet reaped count) */
	unsigned int consumers;
	/* the current round: open, or the last one decided */
	int round_state;	    /* enum pooter_round_state */
	uint64_t round;		    /* its number; rounds count from 1 */
	int round_outcome;	    /* when closed: 0 or -ETIMEDOUT, ... */
	uint64_t round_opened_ns;   /* CLOCK_MONOTONIC; kept once closed */
	uint64_t round_deadline_ns; /* CLOCK_MONOTONIC, absolute */
	unsigned int round_participants;
	unsigned int round_emitted;
	int round_fixed; /* participant set fixed (quorum reached) */
	/* ring */
	unsigned int records_free;
	/* counters, consistent with outcomes even after deaths */
	uint64_t rounds_opened;
	uint64_t rounds_resolved;
	uint64_t rounds_timedout;  /* cancelled, ETIMEDOUT */
	uint64_t rounds_cancelled; /* cancelled, ECANCELED */
	uint64_t rounds_ownerdead; /* cancelled, EOWNERDEAD */
	uint64_t emits;		   /* payloads contributed */
	uint64_t deliveries;	   /* one per consumer per round taken */
};

/*
 * Snapshot of the broker.  Enforces an overdue deadline first, as every call
 * that touches the broker does.  In C++ the function hides the struct's
 * name, as stat() does struct stat's: declare "struct pooter_broker_stat st{};".
 */
int pooter_broker_stat(struct pooter_broker *broker,
		       struct pooter_broker_stat *st);

/*
 * Call cb for every broker name in /dev/shm, in no particular order.  A
 * non-zero return from cb stops the walk and is returned.  Returns 0 or a
 * negative errno.
 */
int pooter_broker_foreach(int (*cb)(const char *name, void *arg), void *arg);

/* --- brokers by URL: shm:NAME, zk://HOSTS/CHROOT/NAME -------------------- */

/*
 * Options of the URL calls (POOTER_OPTS or POOTER_OPTS_INIT, as for
 * struct pooter_broker_attr); NULL, or a zero field, takes the default.
 * They matter to zk:// brokers only: "shm:NAME" ignores them.
 */
struct pooter_url_opts {
	size_t sz;
	unsigned int session_timeout_ms; /* 0: 4000; a member whose session
					    lapses this long is dead */
	unsigned int connect_timeout_ms; /* 0: 5000; then -EHOSTUNREACH */
	const char *auth_scheme;	 /* NULL, or "digest" */
	const char *auth;		 /* "user:password" for auth_scheme */
	size_t : 0;
};

/*
 * The broker calls, for a broker named by URL: "shm:NAME" is the shared-memory
 * broker NAME (as pooter_broker_create() and the others), and
 * "zk://HOST:PORT[,HOST:PORT...]/PATH/NAME" a broker kept on a ZooKeeper
 * ensemble, for processes on several hosts (docs/hosts.md).  Every other
 * call, on the handles these give, is the same for both.  A zk:// URL needs
 * the plugin libpooter-zk.so.0 (package libpooter-zk0): without it they give
 * -EPROTONOSUPPORT.  pooter_broker_create() and pooter_broker_open() take
 * URLs too, with the default options.
 */
int pooter_broker_create_url(const char *url,
			     const struct pooter_broker_attr *attr,
			     const struct pooter_url_opts *opts,
			     struct pooter_broker **brokerp);
int pooter_broker_open_url(const char *url, const struct pooter_url_opts *opts,
			   struct pooter_broker **brokerp);
int pooter_broker_unlink_url(const char *url,
			     const struct pooter_url_opts *opts);
/*
 * Call cb for every broker under a URL's path ("zk://HOSTS/PATH"; "shm:" is
 * this machine's /dev/shm), with its name.  Returns as pooter_broker_foreach().
 */
int pooter_broker_foreach_url(const char *url,
			      const struct pooter_url_opts *opts,
			      int (*cb)(const char *name, void *arg),
			      void *arg);

/* --- inspection (pooter-shm show / gc / check) -------------------------- */

enum pooter_member_kind {
	POOTER_MEMBER_EMITTER = 1,
	POOTER_MEMBER_CONSUMER = 2,
};

struct pooter_member_info {
	int kind; /* enum pooter_member_kind */
	unsigned int slot;
	char name[POOTER_NAME_MAX + 1];
	pid_t pid;
	int alive; /* process alive (pid reuse checked) */
	/* emitters: standing in the open round */
	int participant;
	int emitted;
	/* consumers */
	int notices;	      /* opted in to cancellation notices */
	unsigned int held;    /* records received and not released */
	unsigned int pending; /* records published, not yet received */
	uint64_t delivered;   /* deliveries taken over its lifetime */
};

/* Call cb for every joined member; non-zero from cb stops and is returned. */
int pooter_broker_foreach_member(struct pooter_broker *broker,
				 int (*cb)(const struct pooter_member_info *m,
					   void *arg),
				 void *arg);

enum pooter_record_state {
	POOTER_RECORD_FREE = 0,
	POOTER_RECORD_OPEN = 1,	     /* claimed by the open round */
	POOTER_RECORD_PUBLISHED = 2, /* waiting for consumers to release */
};

struct pooter_record_info {
	unsigned int index;
	int state; /* enum pooter_record_state */
	uint64_t round;
	int outcome;
	unsigned int payloads;
	uint64_t holders; /* bitmap of consumer slots not yet released */
};

int pooter_broker_foreach_record(struct pooter_broker *broker,
				 int (*cb)(const struct pooter_record_info *r,
					   void *arg),
				 void *arg);

/*
 * Reclaim the slots of members whose processes are dead (cancelling an open
 * round they still owe an emit to, releasing ring records they held).
 * Returns the number of members reaped, or a negative errno.
 */
int pooter_broker_gc(struct pooter_broker *broker);

/*
 * fsck for a segment: validate NAME without repairing it, calling report once
 * per problem found.  Returns the number of problems (0: clean), or a negative
 * errno when the segment cannot be read at all (-ENOENT, -EACCES).
 */
int pooter_broker_check(const char *name,
			void (*report)(const char *problem, void *arg),
			void *arg);

/* --- emitters ----------------------------------------------------------- */

/* pooter_emitter_join() flags */
#define POOTER_JOIN_WAIT \
	(1u << 0) /* wait for an open round to end, not -EBUSY */

/*
 * Register an emitter.  NULL name: a generated UUIDv7.  Errors: -EBUSY (a
 * round is open and its participant set is fixed), -ENOSPC, -EEXIST (name
 * held by a live member), -EINVAL, -ENAMETOOLONG.
 */
int pooter_emitter_join(struct pooter_broker *broker, const char *name,
			unsigned int flags, struct pooter_emitter **emitterp);

const char *pooter_emitter_name(const struct pooter_emitter *emitter);

/*
 * Contribute len bytes to the open round, or open one, and wait for the
 * round's outcome.  Returns 0 when the round resolved, -ETIMEDOUT, -ECANCELED
 * or -EOWNERDEAD when it was cancelled; *roundp (if not NULL) gets the round's
 * number in all four cases.  -EMSGSIZE (len over max_payload) and -EAGAIN
 * (every ring record still held by consumers for a whole timeout) open no
 * round and leave *roundp untouched.  Signals do not interrupt the wait.
 */
int pooter_emit(struct pooter_emitter *emitter, const void *payload, size_t len,
		uint64_t *roundp);

/* pooter_emit_loan() flags */
#define POOTER_LOAN_NOWAIT 1u /* a full ring is -EAGAIN at once */

/*
 * Borrow the emitter's payload area in the open round (opening one, as
 * pooter_emit() does) to write up to len bytes in place: *bufp points into
 * the broker's segment, aligned to 64 bytes, valid until the loan is
 * committed or aborted.  Errors as pooter_emit() before it waits: -EMSGSIZE,
 * -EAGAIN (a full ring: at once with POOTER_LOAN_NOWAIT, else after a
 * timeout), -EBUSY (no participant of the open round, or a loan is held),
 * -EALREADY (emitted in the open round already).  The round's deadline runs
 * meanwhile; dying with a loan cancels the round (EOWNERDEAD).
 */
int pooter_emit_loan(struct pooter_emitter *emitter, size_t len,
		     unsigned int flags, void **bufp);

/*
 * Emit the first len bytes (at most the loan's) of the loan at buf and wait
 * for the round's outcome, as pooter_emit().  If the loan's round was
 * decided before the commit, returns that outcome (the emit did not count).
 * *roundp gets the loan's round.  -EINVAL: buf is not the emitter's loan.
 */
int pooter_emit_commit(struct pooter_emitter *emitter, const void *buf,
		       size_t len, uint64_t *roundp);

/* Give the loan back, unsent; the emit is still owed to its round. */
int pooter_emit_abort(struct pooter_emitter *emitter, const void *buf);

/* Unregister and free the handle; an emit owed in the open round cancels it. */
int pooter_emitter_leave(struct pooter_emitter *emitter);

/* --- consumers ---------------------------------------------------------- */

/* pooter_consumer_join() flags */
#define POOTER_CONSUMER_NOTICES (1u << 0) /* also deliver cancelled rounds */

struct pooter_payload {
	const char *emitter; /* the emitter's name */
	const void *data;    /* aligned for any C type (max_align_t) */
	size_t len;
};

struct pooter_delivery {
	uint64_t round;
	int outcome;	    /* 0, or the reason of a cancellation notice */
	unsigned int count; /* payloads; 0 in a notice */
	const struct pooter_payload *payloads;
};

/* Register a consumer.  Errors: -ENOSPC, -EEXIST, -EINVAL, -ENAMETOOLONG. */
int pooter_consumer_join(struct pooter_broker *broker, const char *name,
			 unsigned int flags,
			 struct pooter_consumer **consumerp);

const char *pooter_consumer_name(const struct pooter_consumer *consumer);

/*
 * Wait up to timeout_ms (-1: forever, 0: poll) for the next delivery, in round
 * order.  *deliveryp is a zero-copy view into the segment, valid until
 * pooter_release().  Errors: -ETIMEDOUT, -ENOBUFS (already holding depth
 * deliveries).
 */
int pooter_consume(struct pooter_consumer *consumer, int timeout_ms,
		   const struct pooter_delivery **deliveryp);

/* Hand a delivery's ring record back.  -EINVAL if it is not held. */
int pooter_release(struct pooter_consumer *consumer,
		   const struct pooter_delivery *delivery);

/* Unregister (releasing every record held) and free the handle. */
int pooter_consumer_leave(struct pooter_consumer *consumer);

/* --- operators ---------------------------------------------------------- */

/* Cancel the open round with ECANCELED.  -ENOENT when no round is open. */
int pooter_round_cancel(struct pooter_broker *broker);

/* --- io_uring: rounds and deliveries as completions on your ring -------- */

/*
 * Include <liburing.h> before using these.  The waits go on the caller's
 * struct io_uring; the caller submits, reaps CQEs, and hands each CQE that
 * belongs to a pooter wait to pooter_round_complete() or
 * pooter_consume_complete().
 *
 * Tagging: a wait is one main SQE, a futex wait on words of the segment
 * (IORING_OP_FUTEX_WAIT, or IORING_OP_FUTEX_WAITV for a consumer), with an
 * IORING_OP_LINK_TIMEOUT linked to it when something is due at a time (the
 * round's deadline, the consumer's timeout); and, for each process whose
 * death would settle the wait (a participant owing its emit, a consumer
 * holding ring records), a death watch: an IORING_OP_POLL_ADD on its pidfd
 * linked to an IORING_OP_FUTEX_WAKE of the main wait.  The main SQE's CQE
 * carries the caller's user_data, whatever ended the wait (a wake, the
 * deadline, a death): hand it to the *_complete() call.  Every other CQE
 * carries user_data | POOTER_CQE_AUX and nothing else: drop it
 * (pooter_cqe_is_aux()) without touching the ticket or handle, which may be
 * gone by then.  So user_data must have bit 0 clear (-EINVAL otherwise).  A
 * wait whose outcome is already known uses one IORING_OP_NOP instead.  The
 * prep functions return how many SQEs they queued.
 *
 * A full submission queue: the prep functions need two free SQEs and return
 * -EBUSY, queueing nothing, when there are fewer; submit and try again.
 * Deaths are watched when the queue has room for two more SQEs a process;
 * with less room the wait re-checks liveness every 50 ms instead.
 *
 * Submitting: the prep functions and the *_complete() calls only queue SQEs
 * (a re-arm, the cancellation of a settled wait's death watches).  Submit
 * after them, as an event loop does at every turn.
 *
 * Closing: pooter_emitter_leave() and pooter_consumer_leave() queue and
 * submit IORING_OP_ASYNC_CANCELs for each wait still armed on the handle
 * (up to 8 round waits and a space wait per emitter, a consume wait per
 * consumer), their death watches included; the CQEs (res -ECANCELED) still
 * arrive on the ring and must not be passed to pooter_*_complete().  So
 * leave before io_uring_queue_exit() of a ring that still has waits armed.
 * The kernel holds no pointer into the handle, and the futex words are
 * keyed by file offset, so unmapping is safe.
 *
 * A wait's CQE with an error other than a wake, a timeout or a cancel (for
 * example -EINVAL on an IORING_SETUP_IOPOLL ring) is returned by the
 * *_complete() call as that error, and the wait is not re-armed.
 *
 * Where io_uring or its futex operations (Linux 6.7) are unavailable, or
 * POOTER_NO_URING=1 is set, these return -EOPNOTSUPP and pooter_last_error()
 * says why; the blocking API keeps working.
 */
struct io_uring;
struct io_uring_cqe;

#define POOTER_CQE_AUX 1ull
#define pooter_cqe_is_aux(cqe) (((cqe)->user_data & POOTER_CQE_AUX) != 0)

/* A contribution awaiting its round's outcome. */
struct pooter_ticket {
	struct pooter_emitter *emitter;
	uint64_t round;	      /* the round contributed to */
	uint64_t deadline_ns; /* its deadline, CLOCK_MONOTONIC */
	int outcome;	      /* -EINPROGRESS until settled */
	uint64_t priv[6];     /* reserved to the library: do not touch */
};

/* 0 when the async API works here, else -EOPNOTSUPP (reason: last_error). */
int pooter_uring_supported(void);

/*
 * Contribute without waiting (opening the round if none is open) and fill
 * *ticket.  If this emit resolved the round, ticket->outcome is 0 already.
 * Errors as pooter_emit(), except that a full ring is -EAGAIN at once, and
 * -EALREADY when this emitter already emitted in the open round.  Works
 * without io_uring too (settle with pooter_ticket_wait()).  The handle keeps
 * the outcomes of the last 8 rounds it contributed to, so up to 8 tickets
 * may be left to settle while it contributes again.
 */
int pooter_emit_submit(struct pooter_emitter *emitter, const void *payload,
		       size_t len, struct pooter_ticket *ticket);

/*
 * Commit a loan (pooter_emit_loan()) as pooter_emit_submit() contributes: fill
 * *ticket, settled already if the commit resolved the round or if the loan's
 * round was decided before it.
 */
int pooter_emit_commit_submit(struct pooter_emitter *emitter, const void *buf,
			      size_t len, struct pooter_ticket *ticket);

/* Block until the ticket's round is decided; returns the outcome. */
int pooter_ticket_wait(struct pooter_ticket *ticket);

/*
 * Queue the wait for the ticket's outcome on ring (not submitted).  Returns
 * the number of SQEs queued (1 or more), -EBUSY (the queue is full, or 8
 * waits are armed on the emitter already), -EINVAL or -EOPNOTSUPP.
 */
int pooter_prep_round_wait(struct io_uring *ring, struct pooter_ticket *ticket,
			   uint64_t user_data);

/*
 * Turn the CQE of a round wait into the outcome.  Returns 1 when settled
 * (ticket->outcome holds 0, -ETIMEDOUT, -ECANCELED or -EOWNERDEAD), 0 when
 * the wake was spurious or a periodic liveness check, and the wait was
 * re-armed on ring with the same user_data (submit it), or a negative errno
 * (-EBUSY: could not re-arm, call pooter_prep_round_wait() again).  The
 * waiter that finds the deadline passed cancels the round, as the blocking
 * path does.
 */
int pooter_round_complete(struct io_uring *ring, struct pooter_ticket *ticket,
			  const struct io_uring_cqe *cqe);

/*
 * Queue a wait for the consumer's next delivery, for up to timeout_ms (-1:
 * no limit).  One wait per consumer at a time (-EBUSY while one is armed,
 * until its completion settles it).  The wait also ends at an
 * open round's deadline, which the completion then enforces.  Returns SQEs
 * queued (1 or 2), -EBUSY, -EINVAL, -EOPNOTSUPP.
 */
int pooter_prep_consume_wait(struct io_uring *ring,
			     struct pooter_consumer *consumer, int timeout_ms,
			     uint64_t user_data);

/*
 * Turn the CQE of a consume wait into a delivery: 1 with *deliveryp set (as
 * pooter_consume()), 0 when re-armed, -ETIMEDOUT when the timeout passed
 * with nothing delivered, or another negative errno.
 */
int pooter_consume_complete(struct io_uring *ring,
			    struct pooter_consumer *consumer,
			    const struct io_uring_cqe *cqe,
			    const struct pooter_delivery **deliveryp);

/*
 * Wait for ring space: after pooter_emit_submit() returned -EAGAIN (every
 * ring record held by consumers), queue a wait that completes when a record
 * may be free, or when a consumer holding one dies, for up to timeout_ms
 * (-1: no limit).  One space wait per emitter at a time (-EBUSY while one
 * is armed).  Returns SQEs
 * queued (1 or more), -EBUSY, -EINVAL, -EOPNOTSUPP.
 */
int pooter_prep_space_wait(struct io_uring *ring,
			   struct pooter_emitter *emitter, int timeout_ms,
			   uint64_t user_data);

/*
 * Turn the CQE of a space wait into an answer: 1 when pooter_emit_submit()
 * can go ahead (a record is free, or a round is open), 0 when re-armed,
 * -ETIMEDOUT when the timeout passed first, or another negative errno.
 */
int pooter_space_complete(struct io_uring *ring, struct pooter_emitter *emitter,
			  const struct io_uring_cqe *cqe);

/* --- errors and version ------------------------------------------------- */

/*
 * The version of the library that runs, "MAJOR.MINOR.PATCH" (the header's
 * POOTER_VERSION_* are those of the library compiled against).
 */
const char *pooter_version(void);

/* Text for any code (negative or positive errno); static, never freed. */
const char *pooter_strerror(int err);

/*
 * The detail of this thread's last failure inside pooter, e.g. "segment
 * pooter.x: layout version 7, this library speaks 1".  Empty when none.
 */
const char *pooter_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* POOTER_H */
