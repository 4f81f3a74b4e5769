/* SPDX-License-Identifier: MIT */
/*
 * error.c - pooter_strerror() and the per-thread detail of the last failure.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base.h"
#include "error.h"

static __thread char last_error[256];

int set_error(int err, const char *fmt, ...)
{
	char msg[sizeof(last_error)];
	va_list ap;

	/*
	 * Through a copy: an argument may be the last error itself, as in
	 * set_error(-EXDEV, "%s", pooter_last_error()), and vsnprintf() into
	 * its own source cleared it.
	 */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(last_error, msg, strlen(msg) + 1);
	return err;
}

void clear_error(void)
{
	last_error[0] = '\0';
}

POOTER_API const char *pooter_last_error(void)
{
	return last_error;
}

POOTER_API const char *pooter_strerror(int err)
{
	const char *msg;

	/* INT_MIN has no positive counterpart (and is no errno) */
	if (err == INT_MIN)
		return "Unknown error";
	if (err < 0)
		err = -err;

	/* Codes whose meaning pooter narrows from the generic errno text. */
	switch (err) {
	case 0:
		return "Success: the round resolved";
	case ETIMEDOUT:
		return "Timed out: a round's deadline passed before every participant emitted, or a wait's timeout expired";
	case ECANCELED:
		return "Round cancelled: a participant left or an operator cancelled it";
	case EOWNERDEAD:
		return "Round cancelled: a participant died before emitting";
	case EAGAIN:
		return "Ring full: every record is still held by consumers";
	case EBUSY:
		return "A round is open: joining must wait until it is over";
	case EMSGSIZE:
		return "Payload larger than the broker's max_payload";
	case EPROTO:
		return "Not a valid pooter segment (corrupted, or another layout version)";
	case EXDEV:
		return "Broker created in another pid or time namespace";
	case EEXIST:
		return "Name already in use";
	case ENOENT:
		return "No such broker, or no round open";
	case ENOSPC:
		return "No room: all slots taken, or /dev/shm is full";
	case ENAMETOOLONG:
		return "Name longer than 63 bytes";
	case EINVAL:
		return "Invalid argument";
	case ENOBUFS:
		return "Consumer already holds every ring record: release one first";
	case EOPNOTSUPP:
		return "Operation not supported here (by the kernel, the sandbox, or the broker's backend)";
	case EPROTONOSUPPORT:
		return "No backend for this broker name (unknown URL scheme, or its plugin is not installed)";
	case EHOSTUNREACH:
		return "No server of the broker's ensemble answered in time";
	case EIDRM:
		return "Member was removed from the broker";
	case EDEADLK:
		return "Broker lock held by a live process for too long (stopped, or a corrupted segment)";
	case EALREADY:
		return "Already emitted in the open round";
	}
	/* static text, unlike strerror()'s per-thread buffer */
	msg = strerrordesc_np(err);
	return msg ? msg : "Unknown error";
}
