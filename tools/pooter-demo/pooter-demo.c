/* SPDX-License-Identifier: MIT */
/*
 * pooter-demo - the original pooter README example, played by real processes.
 *
 * The story, one process per part:
 *
 *   demo        creates broker "demo-PID-TIME" with a 1 s timeout, starts the
 *               others, tells them what to do and when, and checks everything
 *               they report;
 *   consumer-1  join with cancellation notices, and print the two deliveries
 *   consumer-2  of the story: round 1 resolved, round 2 cancelled;
 *   emitter-a   emits and opens round 1;
 *   emitter-c   tries to join while round 1 is open: -EBUSY;
 *   emitter-b   emits 0.3 s after emitter-a: round 1 resolves;
 *   emitter-c   joins now that round 1 is over, and never emits: round 2,
 *               which emitter-a and emitter-b open, is cancelled by the
 *               deadline (ETIMEDOUT), and everybody says so.
 *
 * The order of events is made by the demo through pipes, never by sleeping:
 * every child waits for a one-byte command on its own pipe and answers with
 * a struct report on a pipe shared by all.  The one timed step is the
 * story's own: emitter-b's emit 0.3 s after emitter-a's.  "Round 1 is open"
 * is observed with pooter_broker_stat(), since an emit that is waiting tells
 * nobody.
 *
 * The exit status is 0 only if every process did what the story says; each
 * deviation is printed and makes it 1.
 *
 * What does not live here: anything about the segment's layout.  This file
 * uses include/pooter.h and nothing else of the library.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pooter.h>

#define ROUND_TIMEOUT_MS 1000	 /* the original's Broker(timeout=1.0) */
#define SECOND_EMIT_DELAY_MS 300 /* the original's asyncio.sleep(0.3) */
#define STEP_TIMEOUT_MS 10000	 /* longest wait for any one report */
#define LATE_SLACK_MS 2000	 /* how late a deadline may be noticed */
#define WATCHDOG_S 60		 /* the whole demo, whatever happens */

enum actor {
	DEMO,
	CONSUMER_1,
	CONSUMER_2,
	EMITTER_A,
	EMITTER_B,
	EMITTER_C,
	NR_ACTORS,
};

static const char *const actor_name[NR_ACTORS] = {
	[DEMO] = "demo",
	[CONSUMER_1] = "consumer-1",
	[CONSUMER_2] = "consumer-2",
	[EMITTER_A] = "emitter-a",
	[EMITTER_B] = "emitter-b",
	[EMITTER_C] = "emitter-c",
};

/* What each emitter says, with " #N" for its N-th emit. */
static const char *const actor_word[NR_ACTORS] = {
	[EMITTER_A] = "alpha",
	[EMITTER_B] = "bravo",
	[EMITTER_C] = "charlie",
};

/* Commands, one byte each, from the demo to one child. */
enum {
	CMD_OPEN = 'O',	 /* open the broker (consumers: and join) */
	CMD_JOIN = 'J',	 /* emitters: pooter_emitter_join() */
	CMD_EMIT = 'E',	 /* emitters: pooter_emit() and wait */
	CMD_STAT = 'S',	 /* say how the last round ended */
	CMD_LEAVE = 'L', /* leave, close and exit */
};

enum report_kind {
	REPORT_READY,	   /* opened the broker (consumers: and joined) */
	REPORT_JOINED,	   /* err: pooter_emitter_join() */
	REPORT_OUTCOME,	   /* err, round, elapsed_ms: pooter_emit() */
	REPORT_DELIVERY,   /* err: outcome; round; text: payloads */
	REPORT_LAST_ROUND, /* err: outcome; round: pooter_broker_stat() */
	REPORT_LEFT,	   /* err: pooter_*_leave() */
	REPORT_FAILED,	   /* text: what went wrong */
	NR_REPORT_KINDS,
};

static const char *const report_name[NR_REPORT_KINDS] = {
	[REPORT_READY] = "ready",
	[REPORT_JOINED] = "joined",
	[REPORT_OUTCOME] = "the outcome of its emit",
	[REPORT_DELIVERY] = "a delivery",
	[REPORT_LAST_ROUND] = "the last round",
	[REPORT_LEFT] = "left",
	[REPORT_FAILED] = "a failure",
};

/*
 * Written whole by one write(2) on the shared report pipe: smaller than
 * PIPE_BUF, so reports of different children never interleave.
 */
struct report {
	int actor;
	int kind;
	int err;
	uint64_t round;
	uint64_t elapsed_ms;
	char text[256];
};

_Static_assert(sizeof(struct report) <= PIPE_BUF, "a report must be atomic");

static struct timespec demo_start;
static char broker_name[POOTER_NAME_MAX + 1];
static bool broker_created;
static pid_t child_pid[NR_ACTORS];
static int cmd_fd[NR_ACTORS] = { -1, -1, -1, -1, -1, -1 };
static int report_rfd = -1;
static int report_wfd = -1;
static unsigned int deviations;

/* Reports read but not yet asked for, in arrival order. */
static struct report backlog[32];
static unsigned int backlog_len;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "EBUSY (A round is open: ...)": the name for the story, the text for people */
static const char *errtext(int err)
{
	static char buf[160];
	const char *name;

	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case EBUSY:
		name = "EBUSY";
		break;
	case ETIMEDOUT:
		name = "ETIMEDOUT";
		break;
	case ECANCELED:
		name = "ECANCELED";
		break;
	case EOWNERDEAD:
		name = "EOWNERDEAD";
		break;
	case EAGAIN:
		name = "EAGAIN";
		break;
	case ENOENT:
		name = "ENOENT";
		break;
	case EEXIST:
		name = "EEXIST";
		break;
	case ENOSPC:
		name = "ENOSPC";
		break;
	case EPROTO:
		name = "EPROTO";
		break;
	case EINVAL:
		name = "EINVAL";
		break;
	default:
		return pooter_strerror(err);
	}
	snprintf(buf, sizeof(buf), "%s (%s)", name, pooter_strerror(err));
	return buf;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/*
 * One line per event, "  0.302 [emitter-b] ...", written with one write(2)
 * so that lines of different processes do not mix.
 */
static void __attribute__((format(printf, 2, 3)))
say(int who, const char *fmt, ...)
{
	char line[512];
	struct timespec ts;
	double secs;
	va_list ap;
	int n, m;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	secs = (double)(ts.tv_sec - demo_start.tv_sec) +
	       (double)(ts.tv_nsec - demo_start.tv_nsec) / 1e9;
	n = snprintf(line, sizeof(line), "%7.3f [%s] ", secs, actor_name[who]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	write_all(STDOUT_FILENO, line, (size_t)n);
}

/* --- children ----------------------------------------------------------- */

static void send_report(int self, int kind, int err, uint64_t round,
			uint64_t elapsed_ms, const char *text)
{
	struct report r = {
		.actor = self,
		.kind = kind,
		.err = err,
		.round = round,
		.elapsed_ms = elapsed_ms,
	};

	if (text)
		snprintf(r.text, sizeof(r.text), "%s", text);
	write_all(report_wfd, &r, sizeof(r));
}

static int __attribute__((format(printf, 2, 3)))
child_failed(int self, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	say(self, "FAILED: %s", text);
	send_report(self, REPORT_FAILED, 0, 0, 0, text);
	return 1;
}

/* The next command from the demo; 0 when the demo is gone. */
static int next_command(int fd)
{
	char c;

	for (;;) {
		ssize_t n = read(fd, &c, 1);

		if (n == 1)
			return c;
		if (n < 0 && errno == EINTR)
			continue;
		return 0;
	}
}

/* Appends "name='data'" to buf, data made printable and cut at 64 bytes. */
static void append_payload(char *buf, size_t size,
			   const struct pooter_payload *p, bool first)
{
	size_t used = strlen(buf);
	const unsigned char *data = p->data;
	size_t i, len = p->len < 64 ? p->len : 64;
	char text[64 + 4];

	for (i = 0; i < len; i++)
		text[i] = (data[i] >= 0x20 && data[i] < 0x7f) ? (char)data[i] :
								'.';
	if (len < p->len)
		text[i++] = '.', text[i++] = '.', text[i++] = '.';
	text[i] = '\0';
	if (used < size)
		snprintf(buf + used, size - used, "%s%s='%s'",
			 first ? "" : ", ", p->emitter, text);
}

/*
 * Describes a delivery twice: in the order delivered, for people, and
 * sorted by emitter name, for the demo's check (the order of payloads
 * within a delivery is not part of the contract).
 */
static void describe_payloads(const struct pooter_delivery *d, char *shown,
			      char *sorted, size_t size)
{
	unsigned int order[POOTER_EMITTERS_MAX];
	unsigned int i, j, count = d->count;

	if (count > POOTER_EMITTERS_MAX)
		count = POOTER_EMITTERS_MAX;
	shown[0] = sorted[0] = '\0';
	for (i = 0; i < count; i++) {
		append_payload(shown, size, &d->payloads[i], i == 0);
		for (j = i; j > 0; j--) {
			if (strcmp(d->payloads[order[j - 1]].emitter,
				   d->payloads[i].emitter) <= 0)
				break;
			order[j] = order[j - 1];
		}
		order[j] = i;
	}
	for (i = 0; i < count; i++)
		append_payload(sorted, size, &d->payloads[order[i]], i == 0);
}

static int consumer_main(int self, int cmd)
{
	struct pooter_broker *broker = NULL;
	struct pooter_consumer *consumer = NULL;
	const struct pooter_delivery *d;
	char shown[256], sorted[256];
	int err, i, status = 0;

	if (next_command(cmd) != CMD_OPEN)
		return 1;
	err = pooter_broker_open(broker_name, &broker);
	if (err)
		return child_failed(self, "pooter_broker_open: %s",
				    errtext(err));
	err = pooter_consumer_join(broker, actor_name[self],
				   POOTER_CONSUMER_NOTICES, &consumer);
	if (err) {
		status = child_failed(self, "pooter_consumer_join: %s",
				      errtext(err));
		goto out_close;
	}
	say(self, "pid %d: joined, with cancellation notices", (int)getpid());
	send_report(self, REPORT_READY, 0, 0, 0, NULL);

	/* The story has two rounds: one resolved, one cancelled. */
	for (i = 0; i < 2; i++) {
		err = pooter_consume(consumer, STEP_TIMEOUT_MS, &d);
		if (err) {
			status = child_failed(self, "pooter_consume: %s",
					      errtext(err));
			goto out_leave;
		}
		describe_payloads(d, shown, sorted, sizeof(shown));
		if (d->outcome == 0)
			say(self, "round %llu resolved: %s",
			    (unsigned long long)d->round, shown);
		else
			say(self, "round %llu cancelled: %s",
			    (unsigned long long)d->round, errtext(d->outcome));
		send_report(self, REPORT_DELIVERY, d->outcome, d->round, 0,
			    sorted);
		err = pooter_release(consumer, d);
		if (err) {
			status = child_failed(self, "pooter_release: %s",
					      errtext(err));
			goto out_leave;
		}
	}

	if (next_command(cmd) != CMD_LEAVE) {
		status = child_failed(self, "the demo went away");
		goto out_leave;
	}
	/* Nothing more may come: the story has no third round. */
	err = pooter_consume(consumer, 0, &d);
	if (err != -ETIMEDOUT) {
		if (err == 0)
			status = child_failed(self,
					      "a third delivery, round %llu",
					      (unsigned long long)d->round);
		else
			status = child_failed(self, "pooter_consume(0): %s",
					      errtext(err));
	}
out_leave:
	err = pooter_consumer_leave(consumer);
	say(self, "left%s%s", err ? ": " : "", err ? errtext(err) : "");
	send_report(self, REPORT_LEFT, err, 0, 0, NULL);
	if (err)
		status = 1;
out_close:
	pooter_broker_close(broker);
	return status;
}

static int emitter_main(int self, int cmd)
{
	struct pooter_broker *broker = NULL;
	struct pooter_emitter *emitter = NULL;
	struct pooter_broker_stat st;
	unsigned int emits = 0;
	char payload[64];
	uint64_t round, start, elapsed;
	int c, err, status = 0;

	if (next_command(cmd) != CMD_OPEN)
		return 1;
	err = pooter_broker_open(broker_name, &broker);
	if (err)
		return child_failed(self, "pooter_broker_open: %s",
				    errtext(err));
	say(self, "pid %d: broker opened", (int)getpid());
	send_report(self, REPORT_READY, 0, 0, 0, NULL);

	while ((c = next_command(cmd)) != 0) {
		switch (c) {
		case CMD_JOIN:
			err = pooter_emitter_join(broker, actor_name[self], 0,
						  &emitter);
			if (err)
				say(self, "join refused: %s", errtext(err));
			else
				say(self, "joined");
			send_report(self, REPORT_JOINED, err, 0, 0, NULL);
			break;
		case CMD_EMIT:
			if (!emitter) {
				status = child_failed(
					self, "told to emit, not joined");
				goto out;
			}
			snprintf(payload, sizeof(payload), "%s #%u",
				 actor_word[self], ++emits);
			say(self, "emits '%s', waiting for the round", payload);
			round = 0;
			start = now_ms();
			err = pooter_emit(emitter, payload, strlen(payload),
					  &round);
			elapsed = now_ms() - start;
			if (err == 0)
				say(self, "round %llu resolved after %.3f s",
				    (unsigned long long)round,
				    (double)elapsed / 1000);
			else
				say(self,
				    "round %llu cancelled after %.3f s: %s",
				    (unsigned long long)round,
				    (double)elapsed / 1000, errtext(err));
			send_report(self, REPORT_OUTCOME, err, round, elapsed,
				    NULL);
			break;
		case CMD_STAT:
			err = pooter_broker_stat(broker, &st);
			if (err) {
				status = child_failed(self,
						      "pooter_broker_stat: %s",
						      errtext(err));
				goto out;
			}
			if (st.round_state != POOTER_ROUND_CLOSED)
				say(self, "round %llu is still open",
				    (unsigned long long)st.round);
			else if (st.round_outcome == 0)
				say(self, "round %llu resolved",
				    (unsigned long long)st.round);
			else
				say(self, "round %llu cancelled: %s%s",
				    (unsigned long long)st.round,
				    errtext(st.round_outcome),
				    emits ? "" :
					    "; I promised, and never emitted");
			send_report(self, REPORT_LAST_ROUND,
				    st.round_state == POOTER_ROUND_CLOSED ?
					    st.round_outcome :
					    -EINPROGRESS,
				    st.round, 0, NULL);
			break;
		case CMD_LEAVE:
			err = emitter ? pooter_emitter_leave(emitter) : 0;
			emitter = NULL;
			say(self, "left%s%s", err ? ": " : "",
			    err ? errtext(err) : "");
			send_report(self, REPORT_LEFT, err, 0, 0, NULL);
			pooter_broker_close(broker);
			return err ? 1 : 0;
		default:
			status = child_failed(self, "unknown command '%c'", c);
			goto out;
		}
	}
	status = child_failed(self, "the demo went away");
out:
	if (emitter)
		pooter_emitter_leave(emitter);
	pooter_broker_close(broker);
	return status;
}

/* --- the demo ----------------------------------------------------------- */

static void kill_children(void)
{
	int i;

	for (i = 0; i < NR_ACTORS; i++)
		if (child_pid[i] > 0)
			kill(child_pid[i], SIGKILL);
}

static void on_watchdog(int sig)
{
	static const char msg[] =
		"[demo] DEVIATION: the demo did not finish in time; "
		"children killed\n";

	write_all(STDERR_FILENO, msg, sizeof(msg) - 1);
	kill_children();
	_exit(1);
}

static void __attribute__((format(printf, 1, 2)))
deviation(const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	say(DEMO, "DEVIATION: %s", text);
	deviations++;
}

/* Says which children are already gone, and how: the likely cause. */
static void report_dead_children(void)
{
	int i, status;

	for (i = DEMO + 1; i < NR_ACTORS; i++) {
		if (child_pid[i] <= 0 ||
		    waitpid(child_pid[i], &status, WNOHANG) != child_pid[i])
			continue;
		child_pid[i] = 0;
		if (WIFEXITED(status))
			say(DEMO, "%s had exited with status %d", actor_name[i],
			    WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			say(DEMO, "%s had been killed by signal %d (%s)",
			    actor_name[i], WTERMSIG(status),
			    strsignal(WTERMSIG(status)));
	}
}

/* A deviation after which the story cannot go on. */
static void __attribute__((noreturn, format(printf, 1, 2)))
give_up(const char *fmt, ...)
{
	char text[400];
	va_list ap;
	int i;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	say(DEMO, "DEVIATION: %s", text);
	report_dead_children();
	kill_children();
	for (i = 0; i < NR_ACTORS; i++)
		if (child_pid[i] > 0)
			waitpid(child_pid[i], NULL, 0);
	if (broker_created)
		pooter_broker_unlink(broker_name);
	say(DEMO, "FAILED: the story stopped here");
	exit(1);
}

static void send_command(int actor, char c)
{
	ssize_t n;

	do
		n = write(cmd_fd[actor], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		give_up("cannot tell %s what to do: %s", actor_name[actor],
			strerror(errno));
}

/*
 * Reads one report, waiting up to timeout_ms; 1 when one was read, 0 on
 * timeout, -1 when every child has closed the pipe.
 */
static int read_report(int timeout_ms, struct report *r)
{
	struct pollfd pfd = { .fd = report_rfd, .events = POLLIN };
	size_t got = 0;
	int n;

	n = poll(&pfd, 1, timeout_ms);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		return n;
	while (got < sizeof(*r)) {
		ssize_t m = read(report_rfd, (char *)r + got, sizeof(*r) - got);

		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			return -1;
		got += (size_t)m;
	}
	if (r->actor <= DEMO || r->actor >= NR_ACTORS || r->kind < 0 ||
	    r->kind >= NR_REPORT_KINDS)
		give_up("a report that makes no sense (actor %d, kind %d)",
			r->actor, r->kind);
	r->text[sizeof(r->text) - 1] = '\0';
	return 1;
}

static void stash_report(const struct report *r)
{
	if (r->kind == REPORT_FAILED)
		give_up("%s failed: %s", actor_name[r->actor], r->text);
	if (backlog_len == sizeof(backlog) / sizeof(backlog[0]))
		give_up("too many reports nobody asked for");
	backlog[backlog_len++] = *r;
}

static bool take_from_backlog(int actor, int kind, struct report *r)
{
	unsigned int i;

	for (i = 0; i < backlog_len; i++) {
		if (backlog[i].actor != actor || backlog[i].kind != kind)
			continue;
		*r = backlog[i];
		memmove(&backlog[i], &backlog[i + 1],
			(backlog_len - i - 1) * sizeof(backlog[0]));
		backlog_len--;
		return true;
	}
	return false;
}

/* Waits for actor's next report of this kind; others are kept for later. */
static void wait_for(int actor, int kind, struct report *r)
{
	uint64_t deadline = now_ms() + STEP_TIMEOUT_MS;
	struct report other;

	while (!take_from_backlog(actor, kind, r)) {
		uint64_t now = now_ms();
		int n;

		if (now >= deadline)
			give_up("%s did not report %s within %d s",
				actor_name[actor], report_name[kind],
				STEP_TIMEOUT_MS / 1000);
		n = read_report((int)(deadline - now), &other);
		if (n < 0)
			give_up("every child is gone; %s never reported %s",
				actor_name[actor], report_name[kind]);
		if (n > 0)
			stash_report(&other);
	}
}

static void expect_err(const struct report *r, int want, const char *what)
{
	if (r->err != want)
		deviation("%s: %s %s, expected %s", actor_name[r->actor], what,
			  r->err ? errtext(r->err) : "succeeded",
			  want ? errtext(want) : "success");
}

static void expect_round(const struct report *r, uint64_t want,
			 const char *what)
{
	if (r->round != want)
		deviation("%s: %s was round %llu, expected round %llu",
			  actor_name[r->actor], what,
			  (unsigned long long)r->round,
			  (unsigned long long)want);
}

static void expect_delivery(int actor, uint64_t round, int outcome,
			    const char *payloads)
{
	struct report r;

	wait_for(actor, REPORT_DELIVERY, &r);
	expect_round(&r, round, "its delivery");
	expect_err(&r, outcome, "its delivery's outcome");
	if (strcmp(r.text, payloads) != 0)
		deviation(
			"%s: delivery of round %llu carried [%s], expected [%s]",
			actor_name[actor], (unsigned long long)r.round, r.text,
			payloads);
}

static struct report expect_outcome(int actor, uint64_t round, int outcome)
{
	struct report r;

	wait_for(actor, REPORT_OUTCOME, &r);
	expect_round(&r, round, "its emit");
	expect_err(&r, outcome, "its emit");
	return r;
}

/*
 * An emit that waits tells nobody that it opened a round: watch the broker
 * until it shows round `round` open with `emitted` emits in it.  Reports
 * that come meanwhile are kept (an early outcome is a deviation that
 * wait_for() will see).
 */
static void wait_round_open(struct pooter_broker *broker, uint64_t round,
			    unsigned int emitted)
{
	uint64_t deadline = now_ms() + STEP_TIMEOUT_MS;
	struct pooter_broker_stat st;
	struct report r;
	int err;

	for (;;) {
		err = pooter_broker_stat(broker, &st);
		if (err)
			give_up("pooter_broker_stat: %s", errtext(err));
		if (st.round_state == POOTER_ROUND_OPEN && st.round == round &&
		    st.round_emitted >= emitted)
			return;
		if (st.round > round || (st.round == round &&
					 st.round_state == POOTER_ROUND_CLOSED))
			give_up("round %llu was over before it was seen open",
				(unsigned long long)round);
		if (now_ms() >= deadline)
			give_up("round %llu did not open within %d s",
				(unsigned long long)round,
				STEP_TIMEOUT_MS / 1000);
		if (read_report(1, &r) > 0)
			stash_report(&r);
	}
}

static void sleep_until_ms(uint64_t when)
{
	struct timespec ts = {
		.tv_sec = (time_t)(when / 1000),
		.tv_nsec = (long)(when % 1000) * 1000000,
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static void spawn_children(void)
{
	int fds[2], report[2];
	int i, j, status;
	pid_t pid;

	if (pipe(report))
		give_up("pipe: %s", strerror(errno));
	report_rfd = report[0];
	report_wfd = report[1];

	for (i = DEMO + 1; i < NR_ACTORS; i++) {
		if (pipe(fds))
			give_up("pipe: %s", strerror(errno));
		pid = fork();
		if (pid < 0)
			give_up("fork: %s", strerror(errno));
		if (pid == 0) {
			/*
			 * Hold no write end of another child's command pipe,
			 * so that each child sees EOF when the demo is gone.
			 */
			for (j = DEMO + 1; j < i; j++)
				close(cmd_fd[j]);
			close(fds[1]);
			close(report_rfd);
			signal(SIGPIPE, SIG_DFL);
			alarm(0);
			if (i == CONSUMER_1 || i == CONSUMER_2)
				status = consumer_main(i, fds[0]);
			else
				status = emitter_main(i, fds[0]);
			_exit(status);
		}
		close(fds[0]);
		cmd_fd[i] = fds[1];
		child_pid[i] = pid;
	}
	/* Only the children write reports: EOF means they are all gone. */
	close(report_wfd);
	report_wfd = -1;
}

static void reap_children(void)
{
	int i, status;

	for (i = DEMO + 1; i < NR_ACTORS; i++) {
		if (waitpid(child_pid[i], &status, 0) != child_pid[i]) {
			deviation("waitpid(%s): %s", actor_name[i],
				  strerror(errno));
			continue;
		}
		child_pid[i] = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			continue;
		if (WIFEXITED(status))
			deviation("%s exited with status %d", actor_name[i],
				  WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			deviation("%s was killed by signal %d (%s)",
				  actor_name[i], WTERMSIG(status),
				  strsignal(WTERMSIG(status)));
	}
}

static void check_counters(struct pooter_broker *broker)
{
	struct pooter_broker_stat st;
	int err;

	err = pooter_broker_stat(broker, &st);
	if (err) {
		deviation("pooter_broker_stat: %s", errtext(err));
		return;
	}
	say(DEMO,
	    "broker: %llu rounds opened, %llu resolved, %llu timed out, "
	    "%llu cancelled, %llu owner-dead; %llu emits; %u emitters, "
	    "%u consumers left",
	    (unsigned long long)st.rounds_opened,
	    (unsigned long long)st.rounds_resolved,
	    (unsigned long long)st.rounds_timedout,
	    (unsigned long long)st.rounds_cancelled,
	    (unsigned long long)st.rounds_ownerdead,
	    (unsigned long long)st.emits, st.emitters, st.consumers);
	if (st.rounds_opened != 2 || st.rounds_resolved != 1 ||
	    st.rounds_timedout != 1 || st.rounds_cancelled != 0 ||
	    st.rounds_ownerdead != 0)
		deviation(
			"the counters should say 2 rounds opened, 1 resolved, "
			"1 timed out");
	if (st.emits != 4)
		deviation("the counters should say 4 emits");
	if (st.emitters != 0 || st.consumers != 0)
		deviation("every member left, yet the broker counts some");
	if (st.round_state != POOTER_ROUND_CLOSED || st.round != 2 ||
	    st.round_outcome != -ETIMEDOUT)
		deviation("the broker's last round should be round 2, "
			  "cancelled with ETIMEDOUT");
}

int main(int argc, char **argv)
{
	POOTER_OPTS(pooter_broker_attr, attr, .timeout_ms = ROUND_TIMEOUT_MS);
	struct pooter_broker *broker;
	struct report r, ra, rb;
	uint64_t a_emitted_ms;
	int i, err;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))) {
		printf("pooter-demo %d.%d.%d (libpooter %s)\n",
		       POOTER_VERSION_MAJOR, POOTER_VERSION_MINOR,
		       POOTER_VERSION_PATCH, pooter_version());
		return fflush(stdout) ? 1 : 0;
	}
	if (argc > 1) {
		bool help = argc == 2 && (!strcmp(argv[1], "-h") ||
					  !strcmp(argv[1], "--help"));

		fprintf(help ? stdout : stderr,
			"usage: %s [--help | --version]\n"
			"Plays the pooter README example with real processes "
			"and checks that it goes as told.\n"
			"See pooter-demo(1).\n",
			argv[0]);
		return help ? 0 : 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &demo_start);
	snprintf(broker_name, sizeof(broker_name), "demo-%d-%lld",
		 (int)getpid(), (long long)time(NULL));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_watchdog);
	alarm(WATCHDOG_S);

	/* The children start with no broker handle: they open their own. */
	spawn_children();

	err = pooter_broker_create(broker_name, &attr, &broker);
	if (err)
		give_up("pooter_broker_create(%s): %s%s%s", broker_name,
			errtext(err), *pooter_last_error() ? ": " : "",
			pooter_last_error());
	broker_created = true;
	say(DEMO, "broker %s created: rounds time out after %d ms", broker_name,
	    ROUND_TIMEOUT_MS);

	for (i = DEMO + 1; i < NR_ACTORS; i++)
		send_command(i, CMD_OPEN);
	for (i = DEMO + 1; i < NR_ACTORS; i++)
		wait_for(i, REPORT_READY, &r);
	send_command(EMITTER_A, CMD_JOIN);
	wait_for(EMITTER_A, REPORT_JOINED, &r);
	expect_err(&r, 0, "join");
	send_command(EMITTER_B, CMD_JOIN);
	wait_for(EMITTER_B, REPORT_JOINED, &r);
	expect_err(&r, 0, "join");

	/* Round 1: emitter-a emits, and emitter-b 0.3 s later. */
	say(DEMO, "round 1: emitter-a emits now, emitter-b %d ms later",
	    SECOND_EMIT_DELAY_MS);
	a_emitted_ms = now_ms();
	send_command(EMITTER_A, CMD_EMIT);
	wait_round_open(broker, 1, 1);

	say(DEMO, "round 1 is open, emitter-b has not emitted yet: "
		  "emitter-c tries to join");
	send_command(EMITTER_C, CMD_JOIN);
	wait_for(EMITTER_C, REPORT_JOINED, &r);
	if (r.err == -EBUSY)
		say(DEMO, "emitter-c refused with EBUSY while round 1 is open, "
			  "as in the original");
	else
		expect_err(&r, -EBUSY, "join while round 1 is open");

	sleep_until_ms(a_emitted_ms + SECOND_EMIT_DELAY_MS);
	send_command(EMITTER_B, CMD_EMIT);
	expect_outcome(EMITTER_A, 1, 0);
	expect_outcome(EMITTER_B, 1, 0);
	expect_delivery(CONSUMER_1, 1, 0,
			"emitter-a='alpha #1', emitter-b='bravo #1'");
	expect_delivery(CONSUMER_2, 1, 0,
			"emitter-a='alpha #1', emitter-b='bravo #1'");
	say(DEMO, "round 1 resolved: both emitters kept their promise and "
		  "both consumers got both payloads");

	/* Round 2: emitter-c joins now, and breaks its promise. */
	say(DEMO, "round 1 is over: emitter-c tries again");
	send_command(EMITTER_C, CMD_JOIN);
	wait_for(EMITTER_C, REPORT_JOINED, &r);
	expect_err(&r, 0, "join after round 1");
	say(DEMO, "round 2: emitter-a and emitter-b emit; emitter-c, which "
		  "must too, never will");
	send_command(EMITTER_A, CMD_EMIT);
	send_command(EMITTER_B, CMD_EMIT);
	ra = expect_outcome(EMITTER_A, 2, -ETIMEDOUT);
	rb = expect_outcome(EMITTER_B, 2, -ETIMEDOUT);
	expect_delivery(CONSUMER_1, 2, -ETIMEDOUT, "");
	expect_delivery(CONSUMER_2, 2, -ETIMEDOUT, "");
	send_command(EMITTER_C, CMD_STAT);
	wait_for(EMITTER_C, REPORT_LAST_ROUND, &r);
	expect_round(&r, 2, "the last round");
	expect_err(&r, -ETIMEDOUT, "the last round");
	/*
	 * The deadline runs from the opening: whoever opened round 2 waited
	 * the whole timeout, the other one a little less.  Neither may be
	 * told early, nor very late.
	 */
	if ((ra.elapsed_ms > rb.elapsed_ms ? ra.elapsed_ms : rb.elapsed_ms) <
	    ROUND_TIMEOUT_MS - 50)
		deviation("round 2 was cancelled before its deadline "
			  "(after %llu ms)",
			  (unsigned long long)(ra.elapsed_ms > rb.elapsed_ms ?
						       ra.elapsed_ms :
						       rb.elapsed_ms));
	if (ra.elapsed_ms > ROUND_TIMEOUT_MS + LATE_SLACK_MS ||
	    rb.elapsed_ms > ROUND_TIMEOUT_MS + LATE_SLACK_MS)
		deviation("round 2's deadline was noticed more than %d ms late",
			  LATE_SLACK_MS);
	say(DEMO, "round 2 cancelled with ETIMEDOUT, as in the original: "
		  "emitter-c never emitted");

	for (i = DEMO + 1; i < NR_ACTORS; i++)
		send_command(i, CMD_LEAVE);
	for (i = DEMO + 1; i < NR_ACTORS; i++) {
		wait_for(i, REPORT_LEFT, &r);
		expect_err(&r, 0, "leave");
	}
	reap_children();

	/* Every report must have been asked for. */
	while (read_report(STEP_TIMEOUT_MS, &r) > 0)
		stash_report(&r);
	for (i = 0; i < (int)backlog_len; i++)
		deviation("%s reported %s, which the story does not have",
			  actor_name[backlog[i].actor],
			  report_name[backlog[i].kind]);

	check_counters(broker);
	pooter_broker_close(broker);
	err = pooter_broker_unlink(broker_name);
	if (err)
		deviation("pooter_broker_unlink(%s): %s", broker_name,
			  errtext(err));
	broker_created = false;

	if (deviations) {
		say(DEMO, "FAILED: %u deviation(s) from the story", deviations);
		return 1;
	}
	say(DEMO, "everything happened as expected");
	return 0;
}
