/* SPDX-License-Identifier: MIT */
/*
 * json.c - a JSON writer for pooter-shm's --json output: one document, on
 * one line, written as it goes.  It keeps only what valid output needs (the
 * nesting and whether a comma is due); the caller keeps keys and values in
 * the shapes pooter-shm(1) documents.
 *
 * Strings may hold any bytes (names come from a segment, which is untrusted
 * input): valid UTF-8 is kept, control characters are escaped, and a byte
 * that starts no valid UTF-8 sequence becomes U+FFFD, so the output is
 * always valid JSON.  Payloads go out as base64, which keeps every byte.
 */
#include <string.h>

#include "shm.h"

void json_init(struct json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = true;
}

static void json_escape(FILE *out, const void *s, size_t len)
{
	/* The characters with a short escape, and the letter of each. */
	static const char short_from[] = "\"\\\b\f\n\r\t";
	static const char short_to[] = "\"\\bfnrt";
	const unsigned char *p = s, *end = p + len;
	const char *e;
	size_t n;

	fputc('"', out);
	for (; p < end; p += n) {
		n = 1;
		/* strchr() finds the terminator too: NUL is for \u0000 */
		e = *p ? strchr(short_from, *p) : NULL;
		if (e) {
			fputc('\\', out);
			fputc(short_to[e - short_from], out);
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p);
			continue;
		}
		n = shm_utf8_seq(p, end - p);
		if (!n) {
			fputs("\\ufffd", out);
			n = 1;
			continue;
		}
		fwrite(p, 1, n, out);
	}
	fputc('"', out);
}

/* The separator and key every value starts with. */
static void json_key(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->out);
	j->first[j->depth] = false;
	if (key) {
		json_escape(j->out, key, strlen(key));
		fputc(':', j->out);
	}
}

static void json_push(struct json *j, const char *key, int open)
{
	json_key(j, key);
	fputc(open, j->out);
	/* The documents pooter-shm writes are a few levels deep. */
	if (j->depth < JSON_DEPTH_MAX - 1)
		j->depth++;
	j->first[j->depth] = true;
}

static void json_pop(struct json *j, int close)
{
	fputc(close, j->out);
	if (j->depth > 0)
		j->depth--;
}

void json_object_begin(struct json *j, const char *key)
{
	json_push(j, key, '{');
}

void json_object_end(struct json *j)
{
	json_pop(j, '}');
}

void json_array_begin(struct json *j, const char *key)
{
	json_push(j, key, '[');
}

void json_array_end(struct json *j)
{
	json_pop(j, ']');
}

void json_string(struct json *j, const char *key, const char *s)
{
	json_string_len(j, key, s, strlen(s));
}

void json_string_len(struct json *j, const char *key, const void *s, size_t len)
{
	json_key(j, key);
	json_escape(j->out, s, len);
}

/* One group of base64: 3 bytes in 4 characters, '=' for those it lacks. */
static void json_base64_group(FILE *out, const unsigned char *p, size_t n)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v = p[0] << 16 | (n > 1 ? p[1] << 8 : 0) | (n > 2 ? p[2] : 0);

	fputc(b64[v >> 18 & 63], out);
	fputc(b64[v >> 12 & 63], out);
	fputc(n > 1 ? b64[v >> 6 & 63] : '=', out);
	fputc(n > 2 ? b64[v & 63] : '=', out);
}

void json_base64(struct json *j, const char *key, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	json_key(j, key);
	fputc('"', j->out);
	for (i = 0; i < len; i += 3)
		json_base64_group(j->out, p + i, len - i < 3 ? len - i : 3);
	fputc('"', j->out);
}

void json_uint(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	fprintf(j->out, "%llu", (unsigned long long)v);
}

void json_int(struct json *j, const char *key, int64_t v)
{
	json_key(j, key);
	fprintf(j->out, "%lld", (long long)v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j, const char *key)
{
	json_key(j, key);
	fputs("null", j->out);
}

/* After the top-level value: the newline that ends the document's line. */
void json_end(struct json *j)
{
	fputc('\n', j->out);
}

/* A failure, as every --json document tells one: its errno name and text. */
void json_errno(struct json *j, int err, const char *detail)
{
	json_string(j, "errno", shm_errno_name(err));
	json_string(j, "error",
		    detail && detail[0] ? detail : pooter_strerror(err));
}
