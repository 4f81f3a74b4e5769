// SPDX-License-Identifier: MIT
/*
 * loan-frames - two renderer processes draw the halves of each video frame
 * straight into the broker's shared memory, and a display process gets the
 * two halves of every frame together, without a byte copied on either side.
 *
 * Each renderer joins the broker as an emitter and, for every frame, takes
 * a loan (pooter_emit_loan()): a pointer to its own payload area in the
 * open round's ring record.  It draws its half there, with no lock held
 * and nobody else touching that memory, then commits it
 * (pooter_emit_commit()), which counts the emit and waits for the round.
 * When both halves are committed the round resolves and the display
 * consumes one delivery whose two payloads point at the very bytes the
 * renderers drew.  The display checks every pixel and releases the frame,
 * which lets the ring record be reused.
 *
 * A loan belongs to one round: had a renderer died while drawing, the round
 * would have been cancelled with EOWNERDEAD and its half-drawn pixels never
 * shown; had it been too slow, its commit would have returned ETIMEDOUT.
 *
 * Exit status 0 when the display got every frame whole.  Uses
 * include/pooter.h and nothing else of pooter:
 *
 *   cc -o loan-frames loan-frames.c $(pkg-config --cflags --libs pooter)
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pooter.h>

#define FRAMES 60
#define WIDTH 640
#define HALF_HEIGHT 240 /* each renderer draws 640x240 */
#define ROUND_TIMEOUT_MS 10000
#define CONSUME_TIMEOUT_MS 30000
#define WATCHDOG_S 60

/* A half frame: a header, then the pixels (RGBA, 32-bit). */
struct half_frame {
	uint32_t frame;
	uint32_t half; /* 0: top, 1: bottom */
	uint32_t pixels[HALF_HEIGHT * WIDTH];
};

static char broker_name[POOTER_NAME_MAX + 1];
static pid_t child_pid[3];   /* two renderers, then the display */
static int joined[2], go[2]; /* renderers: joined; main: go, both there */

static void kill_children(int sig)
{
	(void)sig;
	for (int i = 0; i < 3; i++)
		if (child_pid[i] > 0)
			kill(child_pid[i], SIGKILL);
}

static uint32_t pixel(uint32_t frame, uint32_t half, uint32_t i)
{
	return (frame * 2654435761u) ^ (half << 31) ^ (i * 40503u);
}

static void draw(struct half_frame *h, uint32_t frame, uint32_t half)
{
	h->frame = frame;
	h->half = half;
	for (uint32_t i = 0; i < HALF_HEIGHT * WIDTH; i++)
		h->pixels[i] = pixel(frame, half, i);
}

static int renderer_main(uint32_t half)
{
	struct pooter_broker *broker;
	struct pooter_emitter *emitter;
	char name[POOTER_NAME_MAX + 1];
	int err;

	/* A child opens its own handle: handles do not cross fork(). */
	err = pooter_broker_open(broker_name, &broker);
	if (err) {
		fprintf(stderr, "renderer %u: pooter_broker_open: %s\n", half,
			pooter_strerror(err));
		return 1;
	}
	snprintf(name, sizeof(name), "renderer-%u", half);
	err = pooter_emitter_join(broker, name, 0, &emitter);
	if (err) {
		fprintf(stderr, "renderer %u: pooter_emitter_join: %s\n", half,
			pooter_strerror(err));
		pooter_broker_close(broker);
		return 1;
	}
	/* Both joined before frame 1 opens, so every round takes both. */
	if (write(joined[1], "J", 1) != 1 || read(go[0], name, 1) != 1)
		err = -EPIPE;
	for (uint32_t frame = 1; frame <= FRAMES && !err; frame++) {
		struct half_frame *h;
		uint64_t round;

		/* 64-byte aligned: a struct of any type can live there */
		err = pooter_emit_loan(emitter, sizeof(*h), 0, (void **)&h);
		if (err) {
			fprintf(stderr, "renderer %u: pooter_emit_loan: %s\n",
				half, pooter_strerror(err));
			break;
		}
		draw(h, frame, half); /* in place: no copy, no lock */
		err = pooter_emit_commit(emitter, h, sizeof(*h), &round);
		/* h is not ours any more: the display may be reading it */
		if (err)
			fprintf(stderr,
				"renderer %u: frame %u, round %llu: %s\n", half,
				frame, (unsigned long long)round,
				pooter_strerror(err));
	}
	pooter_emitter_leave(emitter);
	pooter_broker_close(broker);
	return err ? 1 : 0;
}

/* Every pixel of both halves, as drawn. */
static int frame_whole(const struct pooter_delivery *d, uint32_t frame)
{
	unsigned int seen = 0;

	if (d->count != 2)
		return 0;
	for (unsigned int p = 0; p < d->count; p++) {
		const struct half_frame *h = d->payloads[p].data;

		if (d->payloads[p].len != sizeof(*h) || h->frame != frame ||
		    h->half > 1)
			return 0;
		for (uint32_t i = 0; i < HALF_HEIGHT * WIDTH; i++)
			if (h->pixels[i] != pixel(frame, h->half, i))
				return 0;
		seen |= 1u << h->half;
	}
	return seen == 3;
}

static int display_main(int ready_fd)
{
	struct pooter_broker *broker;
	struct pooter_consumer *consumer;
	int err, shown = 0;

	err = pooter_broker_open(broker_name, &broker);
	if (err) {
		fprintf(stderr, "display: pooter_broker_open: %s\n",
			pooter_strerror(err));
		return 1;
	}
	err = pooter_consumer_join(broker, "display", POOTER_CONSUMER_NOTICES,
				   &consumer);
	if (err) {
		fprintf(stderr, "display: pooter_consumer_join: %s\n",
			pooter_strerror(err));
		pooter_broker_close(broker);
		return 1;
	}
	/* Joined: frames resolved from now on come here. */
	if (write(ready_fd, "R", 1) != 1)
		goto out;
	close(ready_fd);

	for (uint32_t frame = 1; frame <= FRAMES; frame++) {
		const struct pooter_delivery *d;

		err = pooter_consume(consumer, CONSUME_TIMEOUT_MS, &d);
		if (err) {
			printf("display: no frame %u: %s\n", frame,
			       pooter_strerror(err));
			break;
		}
		/* zero-copy: the payloads point into the segment */
		if (d->outcome == 0 && frame_whole(d, frame))
			shown++;
		else
			printf("display: frame %u not whole (%s)\n", frame,
			       pooter_strerror(d->outcome));
		pooter_release(consumer, d); /* the record may be reused */
	}
	printf("display: %d of %d frames of %dx%d shown whole\n", shown, FRAMES,
	       WIDTH, 2 * HALF_HEIGHT);
	fflush(stdout);
out:
	pooter_consumer_leave(consumer);
	pooter_broker_close(broker);
	return shown == FRAMES ? 0 : 1;
}

static int reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(void)
{
	POOTER_OPTS(pooter_broker_attr, attr, .max_emitters = 2,
		    .max_consumers = 1, .depth = 4,
		    .max_payload = sizeof(struct half_frame),
		    .timeout_ms = ROUND_TIMEOUT_MS);
	struct sigaction sa = { .sa_handler = kill_children };
	struct pooter_broker *broker;
	int ready[2], bad = 0, err;
	char c;

	snprintf(broker_name, sizeof(broker_name), "loan-frames-%d",
		 (int)getpid());
	err = pooter_broker_create(broker_name, &attr, &broker);
	if (err) {
		fprintf(stderr, "pooter_broker_create(%s): %s %s\n",
			broker_name, pooter_strerror(err), pooter_last_error());
		return 1;
	}
	if (pipe(ready) || pipe(joined) || pipe(go)) {
		perror("pipe");
		bad++;
		goto out;
	}
	sigaction(SIGALRM, &sa, NULL);
	alarm(WATCHDOG_S);
	fflush(stdout);

	/* The display first: it must be joined before frame 1 resolves. */
	child_pid[2] = fork();
	if (child_pid[2] == 0) {
		close(ready[0]);
		_exit(display_main(ready[1]));
	}
	close(ready[1]);
	if (child_pid[2] < 0 || read(ready[0], &c, 1) != 1) {
		printf("the display did not get ready\n");
		bad++;
		goto out_reap;
	}
	for (uint32_t half = 0; half < 2; half++) {
		child_pid[half] = fork();
		if (child_pid[half] == 0)
			_exit(renderer_main(half));
		if (child_pid[half] < 0) {
			perror("fork");
			bad++;
		}
	}
	for (int i = 0; i < 2 && !bad; i++)
		if (read(joined[0], &c, 1) != 1)
			bad++;
	if (write(go[1], "GG", 2) != 2)
		bad++;
	for (int i = 0; i < 2; i++)
		if (child_pid[i] > 0)
			bad += reap(child_pid[i]);
out_reap:
	if (child_pid[2] > 0)
		bad += reap(child_pid[2]);
	alarm(0);
	close(ready[0]);
out:
	pooter_broker_close(broker);
	pooter_broker_unlink(broker_name);
	if (bad) {
		printf("loan-frames: FAILED\n");
		return 1;
	}
	printf("loan-frames: %d frames drawn in place and shown whole\n",
	       FRAMES);
	return 0;
}
