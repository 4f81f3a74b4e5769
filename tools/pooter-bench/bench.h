/* SPDX-License-Identifier: MIT */
/*
 * bench.h - pooter-bench's shared declarations: the process team that every
 * workload runs as (team.c), the workloads themselves (workloads.c), and the
 * numbers they produce.
 *
 * Every participant is a forked child.  Children get ready (open the broker,
 * join, ...), say so on a pipe, and block on a second pipe until the parent
 * closes it: that close is the start of the clock.  What a child measures
 * goes into a struct child_slot in MAP_SHARED memory set up before fork.
 */
#ifndef POOTER_BENCH_H
#define POOTER_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#define NSEC_PER_SEC 1000000000ull

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* What one child reports, written by the child only. */
struct child_slot {
	uint64_t go_ns;	  /* left the start line */
	uint64_t mark_ns; /* workload's own mark (consumer: last round in hand) */
	uint64_t done_ns;  /* timed part over */
	uint64_t utime_ns; /* CPU over the timed part */
	uint64_t stime_ns;
	uint64_t nvcsw; /* context switches over the timed part */
	uint64_t nivcsw;
	uint64_t count; /* iterations completed */
	int32_t err;	/* 0, or what went wrong (negative errno) */
	char msg[440];
	char stage[64]; /* set-up step in progress (team_stage()); "" after */
} __attribute__((aligned(64)));

struct team {
	unsigned int n;
	pid_t *pids;
	struct child_slot *slots; /* n, MAP_SHARED */
	int ready_rd, ready_wr;	  /* children -> parent: one byte each */
	int go_rd, go_wr;	  /* parent closes go_wr: start */
	uint64_t setup_ns;	  /* parent's clock when the forks were done */
	uint64_t start_ns;	  /* parent's clock at the start */
	uint64_t end_ns;	  /* parent's clock when all were reaped */
	uint64_t busy_ns; /* CPU busy machine-wide (/proc/stat), start..end */
	bool busy_known;
	/* child-local: the snapshot taken at the start line */
	uint64_t cpu_u0, cpu_s0, csw_v0, csw_i0;
	char err[480]; /* the first failure, for the parent */
};

/*
 * A child's body: get ready, call team_go(), do the timed work, call
 * team_done(), clean up.  Returns 0 or fails through child_fail().
 */
typedef int (*team_fn)(struct team *t, unsigned int idx, void *arg);

/*
 * Fork n children running fn, wait until all are ready, start the clock, and
 * reap them all.  A child that fails, or a team that is not done within
 * watchdog_s seconds, makes it return -1 with t->err set (stragglers are
 * killed).  The caller reads t->slots, then calls team_free().
 */
int team_run(struct team *t, unsigned int n, team_fn fn, void *arg,
	     unsigned int watchdog_s);
void team_free(struct team *t);

/*
 * CPU time spent by anything other than the team's timed parts while it ran,
 * as a share of the machine (0..100), or -1 when /proc/stat is unreadable.
 * A busy machine makes every figure of the run suspect.
 */
double team_background_pct(const struct team *t);

/*
 * SIGINT, SIGTERM or SIGHUP, once one has stopped a team (team_run() waits
 * for them with SIGCHLD, kills its children, and fails), or once the mode's
 * own handler saw one outside a team; 0 before.  The caller cleans up (a
 * broker to remove) and then dies of it: see bench_stop_if_signalled().
 */
extern volatile sig_atomic_t team_stop_signal;

/* If team_stop_signal is set: die of that signal, now. */
void bench_stop_if_signalled(void);

/* In a child. */
/* Say what set-up is doing, for the message if it never gets ready. */
void team_stage(struct team *t, unsigned int idx, const char *what);
void team_go(struct team *t, unsigned int idx);
void team_done(struct team *t, unsigned int idx);
int child_fail(struct team *t, unsigned int idx, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Shared anonymous memory, zeroed; NULL on failure. */
void *shared_alloc(size_t size);
void shared_free(void *p, size_t size);

/* --- results ------------------------------------------------------------ */

struct latency {
	double p50_ns, p90_ns, p99_ns, p999_ns, max_ns, mean_ns;
};

/* Sorts v in place. */
void latency_of(uint64_t *v, size_t n, struct latency *out);

struct run_result {
	bool ok;
	char err[512];
	unsigned int procs;
	uint64_t rounds;
	double wall_ns; /* start -> last participant done (see workloads.c) */
	double rounds_per_s;
	double ns_per_round;
	struct latency lat; /* per emit (pooter) / per wait (barrier) */
	/*
	 * pooter with a url_base: per round, from the first emitter's call to
	 * the last emitter's return with the outcome
	 */
	struct latency span;
	bool have_span;
	double cpu_ns_per_round; /* user + sys, every participant */
	double user_ns_per_round;
	double sys_ns_per_round;
	double vcsw_per_round; /* voluntary context switches: sleeps */
	double ivcsw_per_round;
	double background_pct; /* see team_background_pct() */
};

struct pingpong_result {
	bool ok;
	char err[512];
	uint64_t iters;
	double rt_ns;	      /* one round trip: A -> B -> A */
	double handoff_ns;    /* one way: rt / 2 */
	double cpu_ns_per_rt; /* both processes */
	double vcsw_per_rt;
	bool pinned; /* spin: the two ran on two CPUs */
	double background_pct;
};

struct pooter_params {
	unsigned int emitters, consumers, payload, depth, timeout_ms;
	uint64_t rounds;
	unsigned int watchdog_s;
	bool loan; /* emit through loans: fill in place, no copy */
	/*
	 * NULL: a shared-memory broker of a generated name.  Else a URL without
	 * the broker's name, "zk://HOSTS/PATH": the broker is created as
	 * url_base/NAME, NAME generated, every participant opens it with
	 * pooter_broker_open_url() itself, and it is removed after the run.
	 */
	const char *url_base;
};

/* memcpy bandwidth: procs processes copying P-byte blocks at once */
struct memcpy_result {
	bool ok;
	char err[512];
	unsigned int procs, payload;
	uint64_t copies; /* per process */
	double mb_s;	 /* all processes together, 10^6 bytes/s */
	double background_pct;
};

/*
 * The segment of the broker being measured, for the parent's signal handler
 * to unlink (workloads.c sets and clears it; main.c installs the handler).
 */
extern char bench_segment_path[128];

/* workloads.c */
void run_pooter(const struct pooter_params *p, struct run_result *res);
void run_barrier(unsigned int procs, uint64_t rounds, unsigned int watchdog_s,
		 struct run_result *res);
/*
 * procs processes, rounds sched_yield() calls each.  res counts yields as its
 * rounds: rounds = procs * rounds, ns_per_round = wall ns per yield over the
 * machine, cpu_ns_per_round = CPU ns per yield; no latency samples.
 */
void run_switch_floor(unsigned int procs, uint64_t rounds,
		      unsigned int watchdog_s, struct run_result *res);
/*
 * procs processes, each copying payload bytes from one buffer into two
 * blocks in turn (one if depth is 1), as an emitter copies into the
 * broker's records while its consumers keep up.
 */
void run_memcpy(unsigned int procs, unsigned int payload, unsigned int depth,
		unsigned int watchdog_s, struct memcpy_result *res);
void run_futex_pingpong(uint64_t iters, unsigned int watchdog_s,
			struct pingpong_result *res);
void run_spin_pingpong(uint64_t iters, unsigned int watchdog_s,
		       struct pingpong_result *res);

/* report.c: what both modes print with */
double ratio(double a, double b); /* a / b; NAN unless both are > 0 */
void fmt_num(char *buf, size_t len, double v, const char *fmt); /* NAN: "-" */
void json_str(const char *s);
void json_num(const char *key, double v, bool comma); /* NAN, inf: null */
void json_run(const char *key, const struct run_result *r);

/* url.c: pooter-bench --url, rounds on a broker named by URL */
struct url_config {
	unsigned int emitters, consumers, payload;
};

struct url_bench {
	const char *url; /* "zk://HOSTS[/PATH...]", no trailing '/' */
	const struct url_config *configs;
	unsigned int n_configs;
	uint64_t rounds;
	unsigned int depth, timeout_ms, repeat, watchdog_s;
	unsigned int floor_samples; /* 0: no floor measured */
	bool json, progress;
};

/*
 * Check a --url argument: NULL if pooter-bench can run on it, else why not
 * (a static message).
 */
const char *url_check(const char *url);

/* Run every configuration and the floor; print; returns the exit status. */
int url_bench_run(const struct url_bench *ub);

#endif /* POOTER_BENCH_H */
