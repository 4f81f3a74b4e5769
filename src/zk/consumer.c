/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - consumers of a zk:// broker: a cursor node each, read in
 * round order; a delivery is the round's payloads, copied out of their
 * znodes, held until released.  Releases move the cursor (the count of due
 * rounds released, in any order), which is the back-pressure emitters see.
 */
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zk.h"

/* Fold a gone consumer's deliveries into the state and drop its cursor. */
int zk_reap_cursor(struct zk_conn *c, struct zk_broker *b, const char *name,
		   const struct zk_state *st)
{
	char path[ZK_PATH_MAX], spath[ZK_PATH_MAX], state[512];
	struct zk_state ns = *st;
	struct zk_cursor cur;
	struct zk_req *r;
	zoo_op_t ops[2];
	int err, version;

	zp(b, path, "/c/%s", name);
	r = zr_get(c, path, false);
	err = zr_wait(c, r);
	if (err)
		return err;
	err = zc_errno(r->rc);
	if (!err && zt_cursor_parse(r->data, r->len, &cur))
		cur.delivered = 0; /* unreadable: it counts for nothing */
	version = r->stat.version;
	zr_free(r);
	if (err)
		return err;
	ns.deliveries += cur.delivered;
	zt_state_format(state, sizeof(state), &ns);
	zp(b, spath, "/state");
	zoo_delete_op_init(&ops[0], path, version);
	zoo_set_op_init(&ops[1], spath, state, (int)strlen(state), st->version,
			NULL);
	r = zr_multi(c, 2, ops);
	err = zr_wait(c, r);
	if (err)
		return err;
	err = zc_errno(r->rc);
	zr_free(r);
	return err;
}

/* Take the cursor as written (a join whose answer was lost). */
static int adopt_cursor(struct zk_consumer *cs, const char *cpath)
{
	struct zk_req *r = zr_get(&cs->conn, cpath, false);
	int err = zr_wait(&cs->conn, r);

	if (err)
		return err;
	err = zc_errno(r->rc);
	if (!err && zt_cursor_parse(r->data, r->len, &cs->cur))
		err = zk_error(-EPROTO, "%s: a cursor is not pooter's", cpath);
	zr_free(r);
	if (!err)
		cs->next = cs->cur.low;
	return err;
}

/* Write the cursor, if a release left it behind; 0 or an error to retry. */
int zk_cursor_flush(struct zk_consumer *cs)
{
	struct zk_broker *b = zkb(cs->broker);
	char path[ZK_PATH_MAX], text[256];
	struct zk_req *r;
	int err;

	if (!cs->dirty || cs->gone)
		return 0;
	zt_cursor_format(text, sizeof(text), &cs->cur);
	zp(b, path, "/c/%s", cs->name);
	r = zr_set(&cs->conn, path, text, (int)strlen(text), -1);
	err = zr_wait(&cs->conn, r);
	if (err)
		return err;
	err = zc_errno(r->rc);
	zr_free(r);
	if (err == -ENOENT) {
		cs->gone = true; /* reaped: we were taken for gone */
		err = 0;
	}
	if (!err)
		cs->dirty = false;
	return err;
}

static int consumer_check(struct zk_consumer *c)
{
	if (c->gone)
		return zk_error(-EIDRM,
				"%s: consumer %s was removed: its session "
				"ended (stopped or cut off longer than the "
				"session timeout); join again",
				zkb(c->broker)->url, c->name);
	return 0;
}

int zk_consumer_join(struct pooter_broker *pb, const char *name,
		     unsigned int flags, struct pooter_consumer **consumerp)
{
	struct zk_broker *b = zkb(pb);
	char mpath[ZK_PATH_MAX], kpath[ZK_PATH_MAX], cpath[ZK_PATH_MAX],
		spath[ZK_PATH_MAX], dir[ZK_PATH_MAX], mtext[256], ctext[256],
		state[512], host[128] = "";
	struct zk_consumer *cs;
	struct zk_conn *c;
	int err;

	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return zk_error(-ENOMEM, "out of memory");
	cs->broker = pb;
	cs->notices = flags & POOTER_CONSUMER_NOTICES;
	if (name) {
		err = zk_host->name_check(name);
		if (err)
			goto fail_free;
		snprintf(cs->name, sizeof(cs->name), "%s", name);
	} else {
		zk_host->name_generate(cs->name);
	}
	err = zc_open(&cs->conn, b->conn.hosts, &b->opts);
	if (err)
		goto fail_free;
	c = &cs->conn;
	zp(b, mpath, "/m/%s", cs->name);
	zp(b, kpath, "/k/%s", cs->name);
	zp(b, cpath, "/c/%s", cs->name);
	zp(b, spath, "/state");
	zp(b, dir, "/k");
	gethostname(host, sizeof(host) - 1);
	snprintf(mtext, sizeof(mtext), "c pid=%d host=%s", (int)getpid(), host);

	for (;;) {
		struct zk_state st;
		struct zk_req *r;
		zoo_op_t ops[4];
		int count;

		err = zk_enforce(c, b);
		if (!err)
			err = zk_read_state(c, b, &st);
		if (err) {
			if ((err = zk_retry(c, err, NULL)))
				goto fail;
			continue;
		}
		r = zr_children(c, dir, false);
		err = zr_wait(c, r);
		if (err)
			goto fail;
		count = r->kids.count;
		err = zc_errno(r->rc);
		zr_free(r);
		if (err)
			goto fail;
		if ((unsigned int)count >= b->cf.max_consumers) {
			err = zk_error(-ENOSPC,
				       "%s: all %u consumer slots taken",
				       b->url, b->cf.max_consumers);
			goto fail;
		}
		/* rounds decided from now on are ours */
		cs->next = st.open ? st.round : st.round + 1;
		cs->cur.notices = cs->notices;
		cs->cur.acked = zt_due(&st, cs->notices);
		cs->cur.low = cs->next;
		cs->cur.delivered = 0;
		zt_cursor_format(ctext, sizeof(ctext), &cs->cur);
		zt_state_format(state, sizeof(state), &st);
		zoo_create_op_init(&ops[0], mpath, mtext, (int)strlen(mtext),
				   b->acl, ZOO_EPHEMERAL, NULL, 0);
		zoo_create_op_init(&ops[1], kpath, NULL, -1, b->acl,
				   ZOO_EPHEMERAL, NULL, 0);
		zoo_create_op_init(&ops[2], cpath, ctext, (int)strlen(ctext),
				   b->acl, ZOO_PERSISTENT, NULL, 0);
		zoo_set_op_init(&ops[3], spath, state, (int)strlen(state),
				st.version, NULL);
		r = zr_multi(c, 4, ops);
		err = zr_wait(c, r);
		if (err)
			goto fail;
		err = zc_errno(r->rc);
		if (err == -EEXIST && r->results[0].err == ZOK &&
		    r->results[1].err == ZOK) {
			/* the name is free, its old cursor is not: reap it */
			zr_free(r);
			err = zk_reap_cursor(c, b, cs->name, &st);
			if (err && err != -ENOENT && err != -ESTALE &&
			    (err = zk_retry(c, err, NULL)))
				goto fail;
			continue;
		}
		zr_free(r);
		if (!err)
			break;
		if (err == -EEXIST && zc_owns(c, mpath)) {
			/* our join landed, its answer was lost: its cursor */
			err = adopt_cursor(cs, cpath);
			if (err)
				goto fail;
			break;
		}
		if (err == -EEXIST) {
			err = zk_error(-EEXIST, "%s: the name %s is taken",
				       b->url, cs->name);
			goto fail;
		}
		if ((err = zk_retry(c, err, NULL)))
			goto fail;
	}
	cs->conn.work = zk_consumer_work; /* a cursor left behind, say */
	cs->conn.owner = cs;
	zc_keep(&cs->conn);
	*consumerp = (struct pooter_consumer *)cs;
	return 0;
fail:
	zc_destroy(&cs->conn);
fail_free:
	free(cs);
	return err;
}

const char *zk_consumer_name(const struct pooter_consumer *pc)
{
	return ((const struct zk_consumer *)pc)->name;
}

static void held_free(struct zk_held *h)
{
	free(h); /* one allocation: payloads, names and bytes follow it */
}

int zk_consumer_leave(struct pooter_consumer *pc)
{
	struct zk_consumer *cs = (struct zk_consumer *)pc;
	struct zk_broker *b = zkb(cs->broker);
	struct zk_conn *c = &cs->conn;
	int err = 0;

	zc_unkeep(c); /* ours alone from here */
	if (zc_mine(c))
		cs->gone =
			true; /* a fork child's copy: nothing of the parent's */
	else
		zk_armed_cancel(&cs->wait, 1);
	for (int tries = 0; !cs->gone && tries < 16; tries++) {
		char cpath[ZK_PATH_MAX], spath[ZK_PATH_MAX], kpath[ZK_PATH_MAX],
			mpath[ZK_PATH_MAX], state[512];
		struct zk_state st;
		struct zk_req *r;
		zoo_op_t ops[4];

		err = zk_read_state(c, b, &st);
		if (err)
			break;
		st.deliveries += cs->cur.delivered;
		zt_state_format(state, sizeof(state), &st);
		zp(b, cpath, "/c/%s", cs->name);
		zp(b, spath, "/state");
		zp(b, kpath, "/k/%s", cs->name);
		zp(b, mpath, "/m/%s", cs->name);
		zoo_delete_op_init(&ops[0], cpath, -1);
		zoo_set_op_init(&ops[1], spath, state, (int)strlen(state),
				st.version, NULL);
		zoo_delete_op_init(&ops[2], kpath, -1);
		zoo_delete_op_init(&ops[3], mpath, -1);
		r = zr_multi(c, 4, ops);
		err = zr_wait(c, r);
		if (err)
			break;
		err = zc_errno(r->rc);
		zr_free(r);
		if (err != -ESTALE)
			break;
	}
	zc_destroy(c);
	while (cs->held) {
		struct zk_held *h = cs->held;

		cs->held = h->next;
		held_free(h);
	}
	free(cs);
	return err < 0 && err != -ENOENT ? err : 0;
}

/* Read round k's payloads, in its participants' order, into one block. */
static int take_round(struct zk_consumer *cs, const struct zk_round *rd,
		      struct zk_held **hp)
{
	struct zk_broker *b = zkb(cs->broker);
	struct zk_conn *c = &cs->conn;
	const size_t al = alignof(max_align_t);
	struct zk_req **rs = NULL;
	struct pooter_payload *p;
	unsigned int n = rd->outcome ? 0 : rd->nparts;
	size_t size, off;
	struct zk_held *h;
	char *base;
	int err = 0;

	if (n) {
		rs = calloc(n, sizeof(*rs));
		if (!rs)
			return -ENOMEM;
		for (unsigned int i = 0; i < n; i++) {
			char path[ZK_PATH_MAX];

			zp(b, path, "/r/%020llu/%s", (unsigned long long)rd->k,
			   rd->parts[i]);
			rs[i] = zr_get(c, path, false);
		}
		err = zr_wait_all(c, rs, (int)n);
		if (err) {
			free(rs);
			return err;
		}
	}
	size = (sizeof(*h) + al - 1) / al * al;
	size += ((size_t)n * sizeof(*p) + al - 1) / al * al;
	for (unsigned int i = 0; i < n; i++) {
		if (rs[i]->rc != ZOK && rs[i]->rc != ZNONODE) {
			err = zc_errno(rs[i]->rc); /* look again */
			goto out;
		}
		if (rs[i]->rc != ZOK || rs[i]->len > (int)b->cf.max_payload) {
			err = zk_error(-EPROTO,
				       "%s: round %llu resolved without %s's "
				       "payload (or one too large)",
				       b->url, (unsigned long long)rd->k,
				       rd->parts[i]);
			goto out;
		}
		size += ((size_t)rs[i]->len + al - 1) / al * al;
		size += POOTER_NAME_MAX + 1;
		size = (size + al - 1) / al * al;
	}
	base = aligned_alloc(al, size);
	if (!base) {
		err = -ENOMEM;
		goto out;
	}
	h = (struct zk_held *)base;
	memset(h, 0, sizeof(*h));
	off = (sizeof(*h) + al - 1) / al * al;
	p = (struct pooter_payload *)(base + off);
	off += ((size_t)n * sizeof(*p) + al - 1) / al * al;
	for (unsigned int i = 0; i < n; i++) {
		char *data = base + off, *name;

		if (rs[i]->len)
			memcpy(data, rs[i]->data, (size_t)rs[i]->len);
		off += ((size_t)rs[i]->len + al - 1) / al * al;
		name = base + off;
		strcpy(name, rd->parts[i]);
		off += POOTER_NAME_MAX + 1;
		off = (off + al - 1) / al * al;
		p[i].emitter = name;
		p[i].data = data;
		p[i].len = (size_t)rs[i]->len;
	}
	h->d.round = rd->k;
	h->d.outcome = rd->outcome;
	h->d.count = n;
	h->d.payloads = n ? p : NULL;
	*hp = h;
out:
	for (unsigned int i = 0; i < n; i++)
		zr_free(rs[i]);
	free(rs);
	return err;
}

int zk_consume(struct pooter_consumer *pc, int timeout_ms,
	       const struct pooter_delivery **deliveryp)
{
	struct zk_consumer *cs = (struct zk_consumer *)pc;
	struct zk_broker *b = zkb(cs->broker);
	struct zk_conn *c = &cs->conn;
	uint64_t deadline = UINT64_MAX;
	int err;

	err = consumer_check(cs);
	if (err)
		return err;
	if (cs->nheld >= b->cf.depth)
		return zk_error(-ENOBUFS,
				"%s: consumer %s holds %u deliveries (the "
				"depth); release one",
				b->url, cs->name, cs->nheld);
	if (timeout_ms >= 0)
		deadline = zc_now() + (uint64_t)timeout_ms * 1000000ull;
	if (cs->dirty && (err = zk_cursor_flush(cs)) &&
	    (err = zk_retry(c, err, &cs->gone)))
		return err;
	for (;;) {
		char rpath[ZK_PATH_MAX], spath[ZK_PATH_MAX];
		uint64_t gen = c->gen, wake = deadline;
		struct zk_round rd = { 0 };
		struct zk_req *rs[2];
		struct zk_state st;
		int outcome;

		/*
		 * The state first: the server answers in order, so a round
		 * missing after a state that names it is one collected.
		 */
		zp_round(b, rpath, cs->next);
		zp(b, spath, "/state");
		rs[1] = zr_get(c, spath, true);
		rs[0] = zr_get(c, rpath, true);
		err = zr_wait(c, rs[1]);
		if (err) {
			rs[0]->abandoned = !rs[0]->done;
			if (rs[0]->done)
				zr_free(rs[0]);
			goto again;
		}
		err = zr_wait(c, rs[0]);
		if (err) {
			zr_free(rs[1]);
			goto again;
		}
		err = zc_errno(rs[1]->rc);
		if (!err && zt_state_parse(rs[1]->data, rs[1]->len, &st))
			err = zk_error(-EPROTO,
				       "%s: the state node is not "
				       "pooter's",
				       b->url);
		if (!err && rs[0]->rc == ZOK) {
			err = zk_round_from(b, rs[0], cs->next, &rd);
		} else if (!err && rs[0]->rc != ZNONODE) {
			err = zc_errno(rs[0]->rc);
		} else if (!err && st.gcr >= cs->next) {
			/* collected: a round every consumer was past */
			cs->next++;
			zr_free(rs[0]);
			zr_free(rs[1]);
			continue;
		}
		zr_free(rs[0]);
		zr_free(rs[1]);
		if (err) {
			zk_round_free(&rd);
			goto again;
		}
		if (rd.k && !rd.open) {
			bool due = !rd.outcome || cs->notices;
			struct zk_held *h = NULL, **tail;

			if (!due) {
				cs->next++;
				zk_round_free(&rd);
				continue;
			}
			err = take_round(cs, &rd, &h);
			zk_round_free(&rd);
			if (err)
				goto again;
			for (tail = &cs->held; *tail; tail = &(*tail)->next)
				;
			*tail = h;
			cs->nheld++;
			cs->next++;
			*deliveryp = &h->d;
			return 0;
		}
		zk_round_free(&rd);
		if (rd.k || st.open) {
			/* open: enforce what is due, as any caller does */
			err = zk_round_step(c, b, rd.k ? rd.k : st.round,
					    &outcome, &wake);
			if (err == 1)
				continue;
			if (err)
				goto again;
			if (wake > deadline)
				wake = deadline;
		}
		if (timeout_ms == 0 || zc_now() >= deadline)
			return zk_error(-ETIMEDOUT,
					"%s: no delivery for consumer %s "
					"within %d ms",
					b->url, cs->name, timeout_ms);
		err = zc_wait_change(c, gen, wake);
again:
		if (err && (err = zk_retry(c, err, &cs->gone)))
			return err;
		if ((err = consumer_check(cs)))
			return err;
	}
}

int zk_release(struct pooter_consumer *pc, const struct pooter_delivery *d)
{
	struct zk_consumer *cs = (struct zk_consumer *)pc;
	struct zk_broker *b = zkb(cs->broker);
	struct zk_conn *c = &cs->conn;
	struct zk_held *h;
	int err;

	for (h = cs->held; h && &h->d != d; h = h->next)
		;
	if (!h)
		return zk_error(-EINVAL,
				"%s: consumer %s does not hold that "
				"delivery",
				b->url, cs->name);
	/*
	 * In any order, as on shared memory: the cursor counts releases (the
	 * room emitters see), and its low mark is the oldest round still held
	 * (what must not be collected).
	 */
	for (struct zk_held **p = &cs->held; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	cs->nheld--;
	cs->cur.acked++;
	cs->cur.delivered++;
	held_free(h);
	if (cs->gone)
		return 0;
	cs->cur.low = cs->held ? cs->held->d.round : cs->next;
	cs->dirty = true;
	/* the release is done; its report, if it fails, goes with the next */
	for (;;) {
		err = zk_cursor_flush(cs);
		if (!err)
			return 0;
		if ((err = zk_retry(c, err, &cs->gone)))
			return err == -EHOSTUNREACH ? 0 : err;
		if (cs->gone)
			return 0;
	}
}
