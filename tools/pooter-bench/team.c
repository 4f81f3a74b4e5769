/* SPDX-License-Identifier: MIT */
/*
 * team.c - run a workload as a team of forked processes that start together.
 *
 *   parent                          child i
 *   ------                          -------
 *   fork n                          set up (open, join, ...)
 *   read n bytes from ready   <---  write 1 byte to ready, close it
 *   start_ns = now                  read(go) blocks ...
 *   close(go)                 --->  ... returns 0: snapshot CPU, go_ns
 *                                   timed work
 *                                   team_done(): CPU delta, done_ns
 *   reap all (wait4)          <---  exit 0, or 1 after child_fail()
 *
 * Nothing is started before every child is ready, so every emitter is
 * joined before the first emit and every consumer before the first round
 * resolves.  A child that dies in set-up closes its ready end without
 * writing: the parent sees EOF short of n bytes and gives up.  While the
 * team runs, the parent sleeps in sigtimedwait(SIGCHLD), so it costs no
 * CPU; after a failure or at the watchdog it kills its own children (by
 * pid) and reports.  SIGINT, SIGTERM and SIGHUP are waited for there too,
 * not handled: one of them stops the team the same way and is kept in
 * team_stop_signal, so that the caller can remove its broker (a zk:// one
 * is no file a signal handler could unlink) before dying of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* after a first failure, the others get this long to report theirs */
#define GRACE_NS (2 * NSEC_PER_SEC)
/*
 * Set-up (open, join) gets at most this long, whatever the watchdog: it is
 * milliseconds on shared memory, and a connect's timeout on an ensemble
 * (5 s by default), so a process still not ready is stuck.
 */
#define SETUP_MAX_S 60

volatile sig_atomic_t team_stop_signal;

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

void bench_stop_if_signalled(void)
{
	int sig = team_stop_signal;

	if (!sig)
		return;
	fflush(NULL);
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(128 + sig); /* the signal was blocked: do not go on */
}

void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void shared_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * NSEC_PER_SEC +
	       (uint64_t)tv->tv_usec * 1000;
}

void team_stage(struct team *t, unsigned int idx, const char *what)
{
	snprintf(t->slots[idx].stage, sizeof(t->slots[idx].stage), "%s", what);
}

void team_go(struct team *t, unsigned int idx)
{
	struct rusage ru;
	char c = 1;
	ssize_t r;

	team_stage(t, idx, "");

	do
		r = write(t->ready_wr, &c, 1);
	while (r < 0 && errno == EINTR);
	close(t->ready_wr);
	do
		r = read(t->go_rd, &c, 1);
	while (r < 0 && errno == EINTR);
	close(t->go_rd);

	getrusage(RUSAGE_SELF, &ru);
	t->cpu_u0 = tv_ns(&ru.ru_utime);
	t->cpu_s0 = tv_ns(&ru.ru_stime);
	t->csw_v0 = (uint64_t)ru.ru_nvcsw;
	t->csw_i0 = (uint64_t)ru.ru_nivcsw;
	t->slots[idx].go_ns = mono_ns();
}

void team_done(struct team *t, unsigned int idx)
{
	struct child_slot *s = &t->slots[idx];
	struct rusage ru;

	s->done_ns = mono_ns();
	getrusage(RUSAGE_SELF, &ru);
	s->utime_ns = tv_ns(&ru.ru_utime) - t->cpu_u0;
	s->stime_ns = tv_ns(&ru.ru_stime) - t->cpu_s0;
	s->nvcsw = (uint64_t)ru.ru_nvcsw - t->csw_v0;
	s->nivcsw = (uint64_t)ru.ru_nivcsw - t->csw_i0;
}

int child_fail(struct team *t, unsigned int idx, int err, const char *fmt, ...)
{
	struct child_slot *s = &t->slots[idx];
	va_list ap;

	if (s->err)
		return -1; /* keep the first */
	s->err = err ? err : -1;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Machine-wide busy CPU time so far, from the first line of /proc/stat. */
static bool machine_busy_ns(uint64_t *ns)
{
	unsigned long long v[8] = { 0 };
	long tck = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (!f)
		return false;
	/* user nice system idle iowait irq softirq steal */
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 7 || tck <= 0)
		return false;
	*ns = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (NSEC_PER_SEC / tck);
	return true;
}

double team_background_pct(const struct team *t)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double ours = 0, window, pct;

	/* /proc/stat counts in clock ticks: too coarse for a short run */
	if (!t->busy_known || t->end_ns < t->start_ns + NSEC_PER_SEC / 10 ||
	    cpus <= 0)
		return -1;
	for (unsigned int i = 0; i < t->n; i++)
		ours += (double)(t->slots[i].utime_ns + t->slots[i].stime_ns);
	window = (double)(t->end_ns - t->start_ns) * (double)cpus;
	pct = ((double)t->busy_ns - ours) * 100 / window;
	return pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

static void kill_rest(struct team *t, const bool *reaped)
{
	for (unsigned int i = 0; i < t->n; i++)
		if (t->pids[i] > 0 && !reaped[i])
			kill(t->pids[i], SIGKILL);
}

static void team_error(struct team *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void team_error(struct team *t, const char *fmt, ...)
{
	va_list ap;

	if (t->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
}

/* The processes not ready yet, and where: "0 (in pooter_broker_open_url())" */
static void team_not_ready(const struct team *t, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < t->n && off + 1 < len; i++) {
		const struct child_slot *s = &t->slots[i];
		int w;

		if (!s->stage[0])
			continue;
		w = snprintf(buf + off, len - off, "%s%u (in %s)",
			     off ? ", " : "", i, s->stage);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/*
 * Read one byte per child from ready; false on EOF short of n, timeout or
 * a stop signal (pending, since team_run() blocks them).
 */
static bool team_wait_ready(struct team *t, uint64_t deadline,
			    const sigset_t *stop)
{
	static const struct timespec zero = { 0, 0 };
	unsigned int got = 0;
	char buf[256];

	while (got < t->n) {
		struct pollfd pfd = { .fd = t->ready_rd, .events = POLLIN };
		uint64_t now = mono_ns(), ms;
		ssize_t r;
		int pr, sig;

		sig = sigtimedwait(stop, NULL, &zero);
		if (sig > 0) {
			team_stop_signal = sig;
			team_error(t, "interrupted by signal %d (%s)", sig,
				   strsignal(sig));
			return false;
		}
		if (now >= deadline) {
			char where[200];

			team_not_ready(t, where, sizeof(where));
			team_error(
				t,
				"only %u of %u processes got ready within "
				"%llu s; not ready: %s",
				got, t->n,
				(unsigned long long)((deadline - t->setup_ns) /
						     NSEC_PER_SEC),
				where);
			return false;
		}
		/* a second at most: a stop signal is looked for in between */
		ms = (deadline - now) / 1000000 + 1;
		pr = poll(&pfd, 1, ms > 1000 ? 1000 : (int)ms);
		if (pr < 0 && errno != EINTR)
			return false;
		if (pr <= 0)
			continue;
		r = read(t->ready_rd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			team_error(t,
				   "only %u of %u processes got ready "
				   "(the others failed in set-up)",
				   got, t->n);
			return false;
		}
		got += (unsigned int)r;
	}
	return true;
}

int team_run(struct team *t, unsigned int n, team_fn fn, void *arg,
	     unsigned int watchdog_s)
{
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	sigset_t chld, stop, old;
	bool *reaped = NULL, failed = false;
	unsigned int left, started = 0;
	uint64_t deadline, busy0 = 0, busy1 = 0;
	pid_t parent = getpid();

	memset(t, 0, sizeof(*t));
	t->n = n;
	t->ready_rd = t->ready_wr = t->go_rd = t->go_wr = -1;
	t->pids = calloc(n, sizeof(*t->pids));
	reaped = calloc(n, sizeof(*reaped));
	t->slots = shared_alloc(n * sizeof(*t->slots));
	if (!t->pids || !reaped || !t->slots) {
		team_error(t, "out of memory for %u processes", n);
		free(reaped);
		return -1;
	}
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0) {
		team_error(t, "pipe: %s", strerror(errno));
		goto fail_pipes;
	}
	t->ready_rd = ready[0];
	t->ready_wr = ready[1];
	t->go_rd = go[0];
	t->go_wr = go[1];

	sigemptyset(&stop);
	for (unsigned int i = 0; i < 3; i++)
		sigaddset(&stop, stop_signals[i]);
	chld = stop;
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	fflush(NULL); /* children _exit(): nothing buffered twice */

	for (unsigned int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			team_error(t, "fork: %s", strerror(errno));
			failed = true;
			break;
		}
		if (pid == 0) {
			int rc;

			/* no orphans: a killed benchmark takes its team along */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			/* the parent's handlers clean up after the parent */
			for (unsigned int k = 0; k < 3; k++)
				signal(stop_signals[k], SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(t->ready_rd);
			close(t->go_wr);
			rc = fn(t, i, arg);
			_exit(rc == 0 && t->slots[i].err == 0 ? 0 : 1);
		}
		t->pids[i] = pid;
		started++;
	}
	close(t->ready_wr);
	close(t->go_rd);
	t->ready_wr = t->go_rd = -1;

	t->setup_ns = mono_ns();
	deadline = t->setup_ns + (uint64_t)(watchdog_s < SETUP_MAX_S ?
						    watchdog_s :
						    SETUP_MAX_S) *
					 NSEC_PER_SEC;
	if (failed || !team_wait_ready(t, deadline, &stop)) {
		failed = true;
		kill_rest(t, reaped); /* they may be blocked on go */
	}
	deadline = mono_ns() + (uint64_t)watchdog_s * NSEC_PER_SEC;
	t->busy_known = machine_busy_ns(&busy0);
	t->start_ns = mono_ns();
	close(t->go_wr); /* the start */
	t->go_wr = -1;

	for (left = started; left;) {
		struct timespec ts;
		uint64_t now;
		int status, sig;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			unsigned int i;

			for (i = 0; i < started && t->pids[i] != pid; i++)
				;
			if (i == started || reaped[i])
				continue;
			reaped[i] = true;
			left--;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				continue;
			if (!failed) {
				failed = true;
				/* the others get a moment to say why, then go */
				if (deadline > mono_ns() + GRACE_NS)
					deadline = mono_ns() + GRACE_NS;
			}
			if (WIFSIGNALED(status) && !t->slots[i].err)
				team_error(t, "process %u killed by signal %d",
					   i, WTERMSIG(status));
		}
		if (!left)
			break;
		now = mono_ns();
		if (now >= deadline) {
			if (!failed)
				team_error(t,
					   "watchdog: %u of %u processes "
					   "still running after %u s; killed",
					   left, started, watchdog_s);
			failed = true;
			kill_rest(t, reaped);
			deadline = UINT64_MAX; /* now just reap */
			continue;
		}
		ts.tv_sec = (time_t)((deadline - now) / NSEC_PER_SEC);
		ts.tv_nsec = (long)((deadline - now) % NSEC_PER_SEC);
		if (ts.tv_sec > 1) {
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
		}
		sig = sigtimedwait(&chld, NULL, &ts);
		if (sig > 0 && sig != SIGCHLD) {
			team_stop_signal = sig;
			team_error(t, "interrupted by signal %d (%s)", sig,
				   strsignal(sig));
			failed = true;
			kill_rest(t, reaped);
			deadline = UINT64_MAX; /* now just reap */
		}
	}
	t->end_ns = mono_ns();
	if (t->busy_known && machine_busy_ns(&busy1) && busy1 >= busy0)
		t->busy_ns = busy1 - busy0;
	else
		t->busy_known = false;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(t->ready_rd);
	t->ready_rd = -1;

	for (unsigned int i = 0; i < started && !team_stop_signal; i++) {
		if (t->slots[i].err) {
			failed = true;
			/* a child's own reason beats the parent's view */
			t->err[0] = '\0';
			team_error(t, "process %u: %s", i, t->slots[i].msg);
			break;
		}
	}
	free(reaped);
	return failed ? -1 : 0;

fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	free(reaped);
	return -1;
}

void team_free(struct team *t)
{
	shared_free(t->slots, t->n * sizeof(*t->slots));
	t->slots = NULL;
	free(t->pids);
	t->pids = NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank: the smallest value with at least q of the samples at or below */
static double rank(const uint64_t *v, size_t n, double q)
{
	size_t k = (size_t)(q * (double)n + 0.999999);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1];
}

void latency_of(uint64_t *v, size_t n, struct latency *out)
{
	double sum = 0;

	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	out->p50_ns = rank(v, n, 0.50);
	out->p90_ns = rank(v, n, 0.90);
	out->p99_ns = rank(v, n, 0.99);
	out->p999_ns = rank(v, n, 0.999);
	out->max_ns = (double)v[n - 1];
	out->mean_ns = sum / (double)n;
}
