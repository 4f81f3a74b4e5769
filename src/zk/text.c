/* SPDX-License-Identifier: MIT */
/*
 * text.c - what the znodes say, as text: a magic word and version, then
 * key=value words ("pooter-state 1 round=12 open=0 ...").  Text, so that an
 * operator reads a broker with zkCli.sh; parsed as untrusted input: every
 * number is checked, every list bounded, a missing key is -EPROTO.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zk.h"

#define TEXT_VERSION "1"

/* The value of key in buf (not NUL-terminated), or NULL; *vlen its length. */
static const char *kv_find(const char *buf, int len, const char *key, int *vlen)
{
	size_t klen = strlen(key);
	int i = 0;

	while (i < len) {
		int start = i, end;

		while (i < len && buf[i] != ' ')
			i++;
		end = i;
		i++;
		if ((size_t)(end - start) > klen &&
		    !memcmp(buf + start, key, klen) &&
		    buf[start + klen] == '=') {
			*vlen = end - start - (int)klen - 1;
			return buf + start + klen + 1;
		}
	}
	return NULL;
}

static int kv_u64(const char *buf, int len, const char *key, uint64_t max,
		  uint64_t *out)
{
	char tmp[24], *end;
	const char *v;
	int vlen;

	v = kv_find(buf, len, key, &vlen);
	if (!v || vlen <= 0 || vlen >= (int)sizeof(tmp))
		return -EPROTO;
	memcpy(tmp, v, (size_t)vlen);
	tmp[vlen] = '\0';
	if (tmp[0] < '0' || tmp[0] > '9')
		return -EPROTO;
	errno = 0;
	*out = strtoull(tmp, &end, 10);
	if (errno || *end || *out > max)
		return -EPROTO;
	return 0;
}

static int kv_uint(const char *buf, int len, const char *key, unsigned int max,
		   unsigned int *out)
{
	uint64_t v;
	int err = kv_u64(buf, len, key, max, &v);

	if (!err)
		*out = (unsigned int)v;
	return err;
}

static bool has_magic(const char *buf, int len, const char *magic)
{
	size_t m = strlen(magic);

	return buf && (size_t)len > m + 2 && !memcmp(buf, magic, m) &&
	       buf[m] == ' ' && buf[m + 1] == TEXT_VERSION[0] &&
	       (buf[m + 2] == ' ' || (size_t)len == m + 2);
}

#define GET(kind, key, max, field)                        \
	do {                                              \
		if (kv_##kind(buf, len, key, max, field)) \
			return -EPROTO;                   \
	} while (0)

int zt_config_parse(const char *buf, int len, struct zk_config *cf)
{
	if (!has_magic(buf, len, "pooter-zk"))
		return -EPROTO;
	GET(uint, "emitters", POOTER_EMITTERS_MAX, &cf->max_emitters);
	GET(uint, "consumers", POOTER_CONSUMERS_MAX, &cf->max_consumers);
	GET(uint, "payload", ZK_PAYLOAD_MAX, &cf->max_payload);
	GET(uint, "depth", POOTER_DEPTH_MAX, &cf->depth);
	GET(uint, "quorum", cf->max_emitters, &cf->quorum);
	GET(uint, "mode", 07777, &cf->mode);
	GET(uint, "timeout", POOTER_TIMEOUT_MAX_MS, &cf->timeout_ms);
	if (!cf->max_emitters || !cf->max_consumers || !cf->max_payload ||
	    !cf->depth || !cf->timeout_ms)
		return -EPROTO;
	return 0;
}

int zt_config_format(char *buf, size_t size, const struct zk_config *cf)
{
	return snprintf(buf, size,
			"pooter-zk " TEXT_VERSION " emitters=%u consumers=%u "
			"payload=%u depth=%u quorum=%u mode=%u timeout=%u",
			cf->max_emitters, cf->max_consumers, cf->max_payload,
			cf->depth, cf->quorum, cf->mode, cf->timeout_ms);
}

int zt_state_parse(const char *buf, int len, struct zk_state *st)
{
	uint64_t open;

	if (!has_magic(buf, len, "pooter-state"))
		return -EPROTO;
	GET(u64, "round", UINT64_MAX >> 1, &st->round);
	GET(u64, "open", 1, &open);
	st->open = open;
	GET(u64, "opened", UINT64_MAX, &st->opened);
	GET(u64, "resolved", UINT64_MAX, &st->resolved);
	GET(u64, "timedout", UINT64_MAX, &st->timedout);
	GET(u64, "cancelled", UINT64_MAX, &st->cancelled);
	GET(u64, "ownerdead", UINT64_MAX, &st->ownerdead);
	GET(u64, "emits", UINT64_MAX, &st->emits);
	GET(u64, "folded", st->round, &st->folded);
	GET(u64, "deliveries", UINT64_MAX, &st->deliveries);
	GET(u64, "gcp", st->round, &st->gcp);
	GET(u64, "gcr", st->gcp, &st->gcr);
	if (st->open && !st->round)
		return -EPROTO;
	return 0;
}

int zt_state_format(char *buf, size_t size, const struct zk_state *st)
{
	return snprintf(buf, size,
			"pooter-state " TEXT_VERSION " round=%" PRIu64
			" open=%d opened=%" PRIu64 " resolved=%" PRIu64
			" timedout=%" PRIu64 " cancelled=%" PRIu64
			" ownerdead=%" PRIu64 " emits=%" PRIu64
			" folded=%" PRIu64 " deliveries=%" PRIu64
			" gcp=%" PRIu64 " gcr=%" PRIu64,
			st->round, st->open, st->opened, st->resolved,
			st->timedout, st->cancelled, st->ownerdead, st->emits,
			st->folded, st->deliveries, st->gcp, st->gcr);
}

/* The outcomes a round may have, as the positive errno the text keeps. */
static bool outcome_valid(uint64_t v)
{
	return v == 0 || v == ETIMEDOUT || v == ECANCELED || v == EOWNERDEAD;
}

int zt_round_parse(const char *buf, int len, unsigned int max_parts,
		   struct zk_round *r)
{
	uint64_t open, outcome, fixed;
	const char *v;
	int vlen, i;

	if (!has_magic(buf, len, "pooter-round"))
		return -EPROTO;
	GET(u64, "round", UINT64_MAX >> 1, &r->k);
	GET(u64, "open", 1, &open);
	GET(u64, "outcome", 255, &outcome);
	GET(uint, "timeout", POOTER_TIMEOUT_MAX_MS, &r->timeout_ms);
	GET(u64, "fixed", 1, &fixed);
	if (!outcome_valid(outcome) || !r->timeout_ms || !r->k)
		return -EPROTO;
	r->open = open;
	r->outcome = -(int)outcome;
	r->fixed = fixed;

	v = kv_find(buf, len, "parts", &vlen);
	if (!v)
		return -EPROTO;
	free(r->parts);
	r->parts = calloc(max_parts ? max_parts : 1, sizeof(*r->parts));
	if (!r->parts)
		return -ENOMEM;
	r->nparts = 0;
	for (i = 0; i < vlen;) {
		int start = i;

		while (i < vlen && v[i] != ',')
			i++;
		if (i == start || i - start > POOTER_NAME_MAX ||
		    r->nparts >= max_parts)
			return -EPROTO;
		memcpy(r->parts[r->nparts], v + start, (size_t)(i - start));
		r->parts[r->nparts][i - start] = '\0';
		if (zk_host->name_check(r->parts[r->nparts]))
			return -EPROTO;
		r->nparts++;
		i++;
	}
	return 0;
}

int zt_round_format(char *buf, size_t size, const struct zk_round *r)
{
	int n = snprintf(buf, size,
			 "pooter-round " TEXT_VERSION " round=%" PRIu64
			 " open=%d outcome=%d timeout=%u fixed=%d parts=",
			 r->k, r->open, -r->outcome, r->timeout_ms, r->fixed);

	for (unsigned int i = 0; i < r->nparts && n >= 0 && (size_t)n < size;
	     i++)
		n += snprintf(buf + n, size - (size_t)n, "%s%s", i ? "," : "",
			      r->parts[i]);
	return n;
}

int zt_cursor_parse(const char *buf, int len, struct zk_cursor *cur)
{
	uint64_t notices;

	if (!has_magic(buf, len, "pooter-cursor"))
		return -EPROTO;
	GET(u64, "notices", 1, &notices);
	cur->notices = notices;
	GET(u64, "acked", UINT64_MAX, &cur->acked);
	GET(u64, "low", UINT64_MAX >> 1, &cur->low);
	GET(u64, "delivered", UINT64_MAX, &cur->delivered);
	return 0;
}

int zt_cursor_format(char *buf, size_t size, const struct zk_cursor *cur)
{
	return snprintf(buf, size,
			"pooter-cursor " TEXT_VERSION
			" notices=%d acked=%" PRIu64 " low=%" PRIu64
			" delivered=%" PRIu64,
			cur->notices, cur->acked, cur->low, cur->delivered);
}

int zt_round_find(const struct zk_round *r, const char *name)
{
	for (unsigned int i = 0; i < r->nparts; i++)
		if (!strcmp(r->parts[i], name))
			return (int)i;
	return -1;
}

bool zt_in(const struct String_vector *v, const char *name)
{
	for (int i = 0; i < v->count; i++)
		if (!strcmp(v->data[i], name))
			return true;
	return false;
}

/* Rounds decided so far that are due to a consumer (notices: all of them). */
uint64_t zt_due(const struct zk_state *st, bool notices)
{
	return st->resolved +
	       (notices ? st->timedout + st->cancelled + st->ownerdead : 0);
}
