/* SPDX-License-Identifier: MIT */
/*
 * round.c - rounds on the ensemble: emitters join and leave, contribute
 * (opening a round if none is open), and wait for outcomes; any of them
 * decides a round whose outcome is due (everyone emitted, a participant
 * owing its emit lost its session, the deadline passed on the ensemble's
 * clock), with one conditional multi-op, so that it is decided once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zk.h"

/*
 * What to do after err: 0 to look again (the session came back, a new one
 * was opened, or a race was lost), or the error to return.  A session that
 * ended leaves the member removed: *gonep.
 */
int zk_retry(struct zk_conn *c, int err, bool *gonep)
{
	if (err == -ESTALE)
		return 0;
	if (err == -ENOTCONN) {
		err = zc_wait_connected(c);
		if (err != -ECONNRESET)
			return err;
	}
	if (err == -ECONNRESET || c->expired) {
		if (gonep)
			*gonep = true;
		return zc_reopen(c);
	}
	return err;
}

static char *round_text(const struct zk_round *r, int *lenp)
{
	size_t size = 256 + (size_t)r->nparts * (POOTER_NAME_MAX + 1);
	char *buf = malloc(size);

	if (buf)
		*lenp = zt_round_format(buf, size, r);
	return buf;
}

/*
 * A resolved round's emits are known: one per participant; fold them in as
 * it is decided (a cancelled one's are counted by the next opening).
 */
static void fold_resolved(struct zk_state *st, const struct zk_round *r)
{
	if (!r->outcome && !r->open && st->folded + 1 == r->k) {
		st->emits += r->nparts;
		st->folded = r->k;
	}
}

static void count_outcome(struct zk_state *st, int outcome)
{
	if (!outcome)
		st->resolved++;
	else if (outcome == -ETIMEDOUT)
		st->timedout++;
	else if (outcome == -ECANCELED)
		st->cancelled++;
	else
		st->ownerdead++;
}

/*
 * Decide round *r (as read, at its version) with outcome; leaver's nodes go
 * in the same step.  1: decided by us; 0: someone else was first or the
 * answer was lost (look again); or a negative errno.
 */
int zk_decide(struct zk_conn *c, struct zk_broker *b, struct zk_round *r,
	      int outcome, const char *leaver)
{
	char rpath[ZK_PATH_MAX], spath[ZK_PATH_MAX], epath[ZK_PATH_MAX],
		mpath[ZK_PATH_MAX], state[512];
	struct zk_round nr = *r;
	struct zk_state st;
	struct zk_req *req;
	zoo_op_t ops[4];
	char *text;
	int err, len, n = 0;

	err = zk_read_state(c, b, &st);
	if (err)
		return err;
	if (!st.open || st.round != r->k)
		return 0;
	nr.open = false;
	nr.outcome = outcome;
	text = round_text(&nr, &len);
	if (!text)
		return -ENOMEM;
	st.open = false;
	count_outcome(&st, outcome);
	fold_resolved(&st, &nr);
	zt_state_format(state, sizeof(state), &st);
	zp_round(b, rpath, r->k);
	zp(b, spath, "/state");
	zoo_set_op_init(&ops[n++], rpath, text, len, r->version, NULL);
	zoo_set_op_init(&ops[n++], spath, state, (int)strlen(state), st.version,
			NULL);
	if (leaver) {
		zp(b, epath, "/e/%s", leaver);
		zp(b, mpath, "/m/%s", leaver);
		zoo_delete_op_init(&ops[n++], epath, -1);
		zoo_delete_op_init(&ops[n++], mpath, -1);
	}
	req = zr_multi(c, n, ops);
	free(text);
	err = zr_wait(c, req);
	if (err)
		return err;
	err = zc_errno(req->rc);
	if (!err && req->results[1].stat)
		zc_clock_sample(c, req->results[1].stat->mtime, req->sent_ns);
	zr_free(req);
	if (!err) {
		r->open = false;
		r->outcome = outcome;
		c->decided = r->k; /* by this session */
		return 1;
	}
	if (err == -ESTALE || err == -ENOTCONN || err == -ENOENT)
		return 0;
	return err;
}

int zk_round_step(struct zk_conn *c, struct zk_broker *b, uint64_t k,
		  int *outcomep, uint64_t *wakep)
{
	char rpath[ZK_PATH_MAX], epath[ZK_PATH_MAX], clock[ZK_PATH_MAX];
	struct zk_round rd = { 0 };
	struct zk_req *rs[3];
	const char *dead = NULL;
	unsigned int owing = 0;
	uint64_t now, wake;
	int64_t due_ms, zk_now;
	int err, decided = -1;

	zp_round(b, rpath, k);
	zp(b, epath, "/e");
	/*
	 * The members before the emits (answered in order): an emitter seen
	 * gone had its emit, if it made one, applied before; so one missing
	 * after it is owed for good.
	 */
	rs[0] = zr_get(c, rpath, true);
	rs[2] = zr_children(c, epath, true);
	rs[1] = zr_children(c, rpath, true);
	err = zr_wait_all(c, rs, 3);
	if (err)
		return err;
	err = zc_errno(rs[0]->rc);
	if (err == -ENOENT)
		err = zk_error(-ENOENT,
			       "%s: round %llu is no longer kept (more than "
			       "%u rounds ago), or the broker is gone",
			       b->url, (unsigned long long)k, ZK_RETAIN);
	if (err)
		goto out;
	err = zk_round_from(b, rs[0], k, &rd);
	if (err)
		goto out;
	if (!rd.open) {
		*outcomep = rd.outcome;
		err = 1;
		goto out;
	}
	if ((err = zc_errno(rs[1]->rc)) || (err = zc_errno(rs[2]->rc)))
		goto out;
	for (unsigned int i = 0; i < rd.nparts; i++) {
		if (zt_in(&rs[1]->kids, rd.parts[i]))
			continue;
		owing++;
		if (!dead && !zt_in(&rs[2]->kids, rd.parts[i]))
			dead = rd.parts[i];
	}
	if (rd.fixed && !owing)
		decided = zk_decide(c, b, &rd, 0, NULL);
	else if (dead)
		decided = zk_decide(c, b, &rd, -EOWNERDEAD, NULL);
	if (decided >= 0) {
		*outcomep = rd.outcome;
		*wakep = zc_now();
		err = decided;
		goto out;
	}
	if (decided < -1) {
		err = decided;
		goto out;
	}

	/* the deadline: when our estimate says so, ask the ensemble's clock */
	due_ms = rd.ctime_ms + (int64_t)rd.timeout_ms;
	wake = zc_local_ns(c, due_ms);
	now = zc_now();
	if (now >= wake) {
		zp(b, clock, "/clock");
		err = zc_clock_now(c, clock, &zk_now);
		if (err)
			goto out;
		if (zk_now >= due_ms) {
			err = zk_decide(c, b, &rd, -ETIMEDOUT, NULL);
			*outcomep = rd.outcome;
			*wakep = zc_now();
			goto out;
		}
		wake = now + (uint64_t)(due_ms - zk_now) * 1000000ull;
	}
	*wakep = wake;
	err = 0;
out:
	zk_round_free(&rd);
	for (int i = 0; i < 3; i++)
		zr_free(rs[i]);
	return err;
}

/* --- collecting old rounds (fire and forget: gc sweeps what is left) ----- */

/*
 * Every ZK_GC_STEP rounds an opening collects, in a write or two: the
 * payloads of the rounds every consumer is past (listed first,
 * asynchronously, then one multi deletes them all), and the round nodes
 * older than ZK_RETAIN rounds (their payloads gone already: another).
 */
#define GC_MAX_OPS 512

struct gc_batch {
	zhandle_t *zh;
	bool failed;
	int pending; /* listings not yet answered */
	int nops;
	char (*paths)[ZK_PATH_MAX];
	zoo_op_t ops[GC_MAX_OPS];
	zoo_op_result_t results[GC_MAX_OPS];
};

struct gc_list {
	struct gc_batch *batch;
	char path[ZK_PATH_MAX];
};

static void gc_free(struct gc_batch *g)
{
	free(g->paths);
	free(g);
}

static void gc_done(int rc, const void *data)
{
	gc_free((struct gc_batch *)data);
}

static void gc_delete(struct gc_batch *g, const char *path)
{
	if (g->nops >= GC_MAX_OPS)
		return;
	snprintf(g->paths[g->nops], ZK_PATH_MAX, "%s", path);
	zoo_delete_op_init(&g->ops[g->nops], g->paths[g->nops], -1);
	g->nops++;
}

static void gc_send(struct gc_batch *g)
{
	if (!g->nops ||
	    zoo_amulti(g->zh, g->nops, g->ops, g->results, gc_done, g) != ZOK)
		gc_free(g);
}

static void gc_kids(int rc, const struct String_vector *v, const void *data)
{
	struct gc_list *l = (struct gc_list *)data;
	struct gc_batch *g = l->batch;

	if (rc != ZOK && rc != ZNONODE)
		g->failed = true; /* closing, say: send nothing */
	for (int i = 0; rc == ZOK && v && i < v->count; i++) {
		char sub[ZK_PATH_MAX * 2];

		snprintf(sub, sizeof(sub), "%s/%s", l->path, v->data[i]);
		if (strlen(sub) < ZK_PATH_MAX)
			gc_delete(g, sub);
	}
	free(l);
	if (--g->pending == 0) {
		if (g->failed)
			gc_free(g);
		else
			gc_send(g);
	}
}

static struct gc_batch *gc_new(zhandle_t *zh)
{
	struct gc_batch *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->paths = calloc(GC_MAX_OPS, sizeof(*g->paths));
	if (!g->paths) {
		free(g);
		return NULL;
	}
	g->zh = zh;
	return g;
}

static void gc_issue(struct zk_conn *c, struct zk_broker *b,
		     const struct zk_state *was, const struct zk_state *now)
{
	struct gc_batch *g;

	/* the round nodes due, their payloads gone long since: one multi */
	if (now->gcr > was->gcr && (g = gc_new(c->zh))) {
		for (uint64_t j = was->gcr + 1; j <= now->gcr; j++) {
			char path[ZK_PATH_MAX];

			zp_round(b, path, j);
			gc_delete(g, path);
		}
		gc_send(g);
	}
	if (now->gcp == was->gcp || !(g = gc_new(c->zh)))
		return;
	g->pending = 1; /* ours, until every listing is sent */
	for (uint64_t j = was->gcp + 1; j <= now->gcp; j++) {
		struct gc_list *l = malloc(sizeof(*l));

		if (!l)
			break;
		l->batch = g;
		zp_round(b, l->path, j);
		g->pending++;
		if (zoo_aget_children(c->zh, l->path, 0, gc_kids, l) != ZOK) {
			g->pending--;
			free(l);
		}
	}
	if (--g->pending == 0)
		gc_send(g);
}

/* --- emitters ------------------------------------------------------------ */

static int member_text(char *buf, size_t size, char kind)
{
	char host[128] = "";

	gethostname(host, sizeof(host) - 1);
	return snprintf(buf, size, "%c pid=%d host=%s", kind, (int)getpid(),
			host);
}

static int emitter_check(struct zk_emitter *em)
{
	if (em->gone)
		return zk_error(-EIDRM,
				"%s: emitter %s was removed: its session "
				"ended (stopped or cut off longer than the "
				"session timeout); join again",
				zkb(em->broker)->url, em->name);
	return 0;
}

int zk_emitter_join(struct pooter_broker *pb, const char *name,
		    unsigned int flags, struct pooter_emitter **emitterp)
{
	struct zk_broker *b = zkb(pb);
	char mpath[ZK_PATH_MAX], epath[ZK_PATH_MAX], spath[ZK_PATH_MAX],
		rpath[ZK_PATH_MAX], dir[ZK_PATH_MAX], mtext[256], state[512];
	struct zk_emitter *em;
	struct zk_conn *c;
	int err;

	em = calloc(1, sizeof(*em));
	if (!em)
		return zk_error(-ENOMEM, "out of memory");
	em->broker = pb;
	if (name) {
		err = zk_host->name_check(name);
		if (err)
			goto fail_free;
		snprintf(em->name, sizeof(em->name), "%s", name);
	} else {
		zk_host->name_generate(em->name);
	}
	err = zc_open(&em->conn, b->conn.hosts, &b->opts);
	if (err)
		goto fail_free;
	c = &em->conn;
	zp(b, mpath, "/m/%s", em->name);
	zp(b, epath, "/e/%s", em->name);
	zp(b, spath, "/state");
	zp(b, dir, "/e");
	member_text(mtext, sizeof(mtext), 'e');

	for (;;) {
		struct zk_round rd = { 0 };
		struct zk_req *rs[2], *req;
		struct zk_state st;
		zoo_op_t ops[4];
		char *text = NULL;
		uint64_t gen = c->gen, wake = 0;
		int n = 0, outcome, count;

		err = zk_read_state(c, b, &st);
		if (!err) {
			rs[0] = zr_children(c, dir, false);
			rs[1] = NULL;
			err = zr_wait(c, rs[0]);
		}
		if (err) {
			if ((err = zk_retry(c, err, NULL)))
				goto fail;
			continue;
		}
		count = rs[0]->rc == ZOK ? rs[0]->kids.count : 0;
		err = zc_errno(rs[0]->rc);
		zr_free(rs[0]);
		if (err)
			goto fail;

		if (st.open) {
			err = zk_round_step(c, b, st.round, &outcome, &wake);
			if (err) {
				if (err == 1 || !(err = zk_retry(c, err, NULL)))
					continue;
				goto fail;
			}
			err = zk_read_round(c, b, st.round, &rd);
			if (err) {
				zk_round_free(&rd);
				if (err == -ENOENT ||
				    !(err = zk_retry(c, err, NULL)))
					continue;
				goto fail;
			}
			if (!rd.open) {
				zk_round_free(&rd);
				continue;
			}
			if (!b->cf.quorum || rd.fixed) {
				zk_round_free(&rd);
				if (!(flags & POOTER_JOIN_WAIT)) {
					err = zk_error(
						-EBUSY,
						"%s: round %llu is open: "
						"join when it is over "
						"(or POOTER_JOIN_WAIT)",
						b->url,
						(unsigned long long)st.round);
					goto fail;
				}
				/* wait for the round's end (or its due time) */
				zp_round(b, rpath, st.round);
				rs[1] = zr_get(c, rpath, true);
				err = zr_wait(c, rs[1]);
				if (!err) {
					if (rs[1]->rc == ZOK)
						err = zc_wait_change(c, gen,
								     wake);
					zr_free(rs[1]);
				}
				if (err && (err = zk_retry(c, err, NULL)))
					goto fail;
				continue;
			}
		}
		if ((unsigned int)count >= b->cf.max_emitters) {
			zk_round_free(&rd);
			err = zk_error(-ENOSPC,
				       "%s: all %u emitter slots taken", b->url,
				       b->cf.max_emitters);
			goto fail;
		}
		zoo_create_op_init(&ops[n++], mpath, mtext, (int)strlen(mtext),
				   b->acl, ZOO_EPHEMERAL, NULL, 0);
		zoo_create_op_init(&ops[n++], epath, NULL, -1, b->acl,
				   ZOO_EPHEMERAL, NULL, 0);
		if (st.open) {
			int len;

			/* a quorum round still open to joiners: take part */
			if (rd.nparts >= b->cf.max_emitters ||
			    zt_round_find(&rd, em->name) >= 0) {
				zk_round_free(&rd);
				err = zk_error(rd.nparts >= b->cf.max_emitters ?
						       -EPROTO :
						       -EEXIST,
					       "%s: round %llu has %u "
					       "participants, or one named %s",
					       b->url,
					       (unsigned long long)st.round,
					       rd.nparts, em->name);
				goto fail;
			}
			strcpy(rd.parts[rd.nparts++], em->name);
			rd.fixed = rd.nparts >= b->cf.quorum;
			text = round_text(&rd, &len);
			if (!text) {
				zk_round_free(&rd);
				err = -ENOMEM;
				goto fail;
			}
			zp_round(b, rpath, st.round);
			zoo_set_op_init(&ops[n++], rpath, text, len, rd.version,
					NULL);
			zoo_check_op_init(&ops[n++], spath, st.version);
		} else {
			/* bump the state: an opening racing us sees it */
			zt_state_format(state, sizeof(state), &st);
			zoo_set_op_init(&ops[n++], spath, state,
					(int)strlen(state), st.version, NULL);
		}
		zk_round_free(&rd);
		req = zr_multi(c, n, ops);
		free(text);
		err = zr_wait(c, req);
		if (!err) {
			err = zc_errno(req->rc);
			for (int i = 0; i < n; i++)
				if (req->results[i].stat)
					zc_clock_sample(
						c, req->results[i].stat->mtime,
						req->sent_ns);
			zr_free(req);
		}
		if (!err)
			break;
		if (err == -EEXIST && zc_owns(c, mpath))
			break; /* our join landed, its answer was lost */
		if (err == -EEXIST) {
			err = zk_error(-EEXIST, "%s: the name %s is taken",
				       b->url, em->name);
			goto fail;
		}
		if ((err = zk_retry(c, err, NULL)))
			goto fail;
	}
	em->conn.state_quiet =
		true; /* its waits look at rounds, not the state */
	zc_keep(&em->conn);
	*emitterp = (struct pooter_emitter *)em;
	return 0;
fail:
	zc_destroy(&em->conn);
fail_free:
	free(em);
	return err;
}

const char *zk_emitter_name(const struct pooter_emitter *pem)
{
	return ((const struct zk_emitter *)pem)->name;
}

int zk_emitter_leave(struct pooter_emitter *pem)
{
	struct zk_emitter *em = (struct zk_emitter *)pem;
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;
	char path[ZK_PATH_MAX];
	int err = 0;

	zc_unkeep(c); /* ours alone from here */
	if (zc_mine(c)) {
		/* a fork child's copy: free it, touch nothing of the parent's */
		zc_destroy(c);
		free(em->cursors);
		free(em);
		return 0;
	}
	zk_armed_cancel(em->armed, ZK_ARMED_MAX);
	/* an emit owed in the open round cancels it, as we go */
	for (int tries = 0; !em->gone && tries < 16; tries++) {
		struct zk_round rd = { 0 };
		struct zk_state st;
		struct zk_req *r;
		bool emitted;

		err = zk_read_state(c, b, &st);
		if (!err && st.open)
			err = zk_read_round(c, b, st.round, &rd);
		if (err || !st.open || !rd.open ||
		    zt_round_find(&rd, em->name) < 0) {
			zk_round_free(&rd);
			break;
		}
		zp(b, path, "/r/%020llu/%s", (unsigned long long)st.round,
		   em->name);
		r = zr_get(c, path, false);
		err = zr_wait(c, r);
		if (err) {
			zk_round_free(&rd);
			break;
		}
		emitted = r->rc == ZOK;
		err = r->rc == ZOK || r->rc == ZNONODE ? 0 : zc_errno(r->rc);
		zr_free(r);
		if (err) {
			zk_round_free(&rd);
			break;
		}
		if (emitted) {
			zk_round_free(&rd);
			break;
		}
		err = zk_decide(c, b, &rd, -ECANCELED, em->name);
		zk_round_free(&rd);
		if (err)
			break;
	}
	/* closing the session removes its nodes, whatever was left */
	zc_destroy(c);
	free(em->cursors);
	free(em);
	return err < 0 && err != -ENOENT ? err : 0;
}

/* Round k and the emits in it so far, read at once. */
static int read_round_emits(struct zk_conn *c, struct zk_broker *b, uint64_t k,
			    struct zk_round *rd, struct zk_req **emittedp)
{
	char rpath[ZK_PATH_MAX];
	struct zk_req *rs[2];
	int err;

	*emittedp = NULL;
	zp_round(b, rpath, k);
	rs[0] = zr_get(c, rpath, false);
	rs[1] = zr_children(c, rpath, false);
	err = zr_wait_all(c, rs, 2);
	if (err)
		return err;
	err = zc_errno(rs[0]->rc);
	if (!err)
		err = zc_errno(rs[1]->rc);
	if (!err)
		err = zk_round_from(b, rs[0], k, rd);
	zr_free(rs[0]);
	if (err) {
		zr_free(rs[1]);
		return err == -ENOENT ? -ESTALE : err;
	}
	*emittedp = rs[1];
	return 0;
}

/*
 * Emit into the open round *rd (a participant owing its emit).  The last
 * one to emit, in a fixed round, decides it in the same step: *outcomep 0.
 */
static int emit_into(struct zk_emitter *em, struct zk_state *st,
		     const struct zk_round *rd,
		     const struct String_vector *emitted, const void *payload,
		     size_t len, int *outcomep)
{
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;
	char rpath[ZK_PATH_MAX], path[ZK_PATH_MAX], spath[ZK_PATH_MAX],
		state[512];
	unsigned int owing = 0;
	struct zk_req *req;
	char *text = NULL;
	bool was_sent;
	zoo_op_t ops[3];
	int err, n = 0, tlen;

	for (unsigned int i = 0; i < rd->nparts; i++)
		owing += !zt_in(emitted, rd->parts[i]);
	zp_round(b, rpath, rd->k);
	zp(b, path, "/r/%020llu/%s", (unsigned long long)rd->k, em->name);
	if (rd->fixed && owing == 1) {
		struct zk_round nr = *rd;
		struct zk_state ns = *st;

		nr.open = false;
		nr.outcome = 0;
		text = round_text(&nr, &tlen);
		if (!text)
			return -ENOMEM;
		ns.open = false;
		ns.resolved++;
		fold_resolved(&ns, &nr);
		zt_state_format(state, sizeof(state), &ns);
		zp(b, spath, "/state");
		zoo_set_op_init(&ops[n++], rpath, text, tlen, rd->version,
				NULL);
		zoo_set_op_init(&ops[n++], spath, state, (int)strlen(state),
				st->version, NULL);
	} else {
		zoo_check_op_init(&ops[n++], rpath, rd->version);
	}
	zoo_create_op_init(&ops[n++], path, len ? payload : NULL,
			   len ? (int)len : -1, b->acl, ZOO_PERSISTENT, NULL,
			   0);
	/* from here until a definite answer, the emit may have landed */
	was_sent = em->maybe_sent == rd->k;
	em->maybe_sent = rd->k;
	req = zr_multi(c, n, ops);
	free(text);
	err = zr_wait(c, req);
	if (err)
		return err; /* abandoned: maybe_sent stays */
	err = zc_errno(req->rc);
	if (!err && req->results[0].stat)
		zc_clock_sample(c, req->results[0].stat->mtime, req->sent_ns);
	if (!err)
		*outcomep = n == 3 ? 0 : -EINPROGRESS;
	zr_free(req);
	if (err && err != -ENOTCONN)
		em->maybe_sent = 0; /* answered: it did not land */
	if (err == -EEXIST) {
		if (was_sent) {
			/* our emit landed before the answer was lost */
			*outcomep = -EINPROGRESS;
			return 0;
		}
		return zk_error(-EALREADY,
				"%s: emitter %s already emitted in round %llu",
				b->url, em->name, (unsigned long long)rd->k);
	}
	return err;
}

/* Open round k = st->round + 1 with our emit in it. */
static void remember_cursors(struct zk_emitter *em,
			     const struct String_vector *v)
{
	char(*names)[POOTER_NAME_MAX + 1] =
		realloc(em->cursors, ((size_t)v->count + 1) * sizeof(*names));

	if (!names) {
		em->ncursors = 0;
		return;
	}
	em->cursors = names;
	em->ncursors = 0;
	for (int i = 0; i < v->count; i++)
		if (strlen(v->data[i]) <= POOTER_NAME_MAX)
			strcpy(names[em->ncursors++], v->data[i]);
}

/*
 * What an opening reads, sent ahead with the state (zk_contribute()): the
 * broker's node, /e, /c, /k, the children of round guess - 1 (to fold its
 * emits), and the cursors of the consumers seen last time.
 */
struct ahead {
	uint64_t guess; /* the round it expects to open or join */
	bool full;	/* the ring was full by its reads: read with watches */
	struct zk_req *rs[5];
	struct zk_req **curs;
	int ncur;
};

static void ahead_free(struct ahead *a)
{
	for (int i = 0; i < 5; i++) {
		zr_free(a->rs[i]);
		a->rs[i] = NULL;
	}
	for (int i = 0; i < a->ncur; i++)
		zr_free(a->curs[i]);
	free(a->curs);
	a->curs = NULL;
	a->ncur = 0;
}

static int open_round(struct zk_emitter *em, struct zk_state *st,
		      const void *payload, size_t len, bool wait_space,
		      uint64_t *full_since, uint64_t *ctime_ms, int *outcomep,
		      struct ahead *ah)
{
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;
	char path[ZK_PATH_MAX], rpath[ZK_PATH_MAX], epath[ZK_PATH_MAX],
		spath[ZK_PATH_MAX], state[512];
	struct zk_req *rs[5] = { 0 }, **curs = NULL, *req;
	struct zk_round rd = { 0 };
	struct zk_state ns = *st;
	uint64_t k = st->round + 1, min_low = UINT64_MAX, gen = c->gen;
	bool fold = k > 1 && st->folded < k - 1, full = false, alone;
	struct zk_config cf;
	zoo_op_t ops[3];
	char *text = NULL;
	int err, ncur = 0, tlen;

	if (ah && ah->guess == k) {
		/* read ahead, for this very round: take them over */
		memcpy(rs, ah->rs, sizeof(rs));
		memset(ah->rs, 0, sizeof(ah->rs));
		if (!fold) {
			zr_free(rs[4]);
			rs[4] = NULL;
		}
	} else {
		rs[0] = zr_get(c, b->path, false);
		zp(b, path, "/e");
		rs[1] = zr_children(c, path, false);
		zp(b, path, "/c");
		rs[2] = zr_children(c, path, wait_space);
		zp(b, path, "/k");
		rs[3] = zr_children(c, path, wait_space);
		if (fold) {
			zp_round(b, path, k - 1);
			rs[4] = zr_children(c, path, false);
		}
		err = zr_wait_all(c, rs, fold ? 5 : 4);
		if (err)
			return err;
		ah = NULL;
	}
	for (int i = 0; i < (fold ? 5 : 4); i++)
		if ((err = zc_errno(rs[i]->rc)) && !(i == 4 && err == -ENOENT))
			goto out;
	err = 0;
	cf = b->cf;
	if (zt_config_parse(rs[0]->data, rs[0]->len, &cf)) {
		err = zk_error(-EPROTO, "%s: not a pooter broker", b->url);
		goto out;
	}
	if (!zt_in(&rs[1]->kids, em->name)) {
		em->gone = true; /* our node is gone: so is our session */
		err = emitter_check(em);
		goto out;
	}

	/* back-pressure: every live consumer has room for one more round */
	ncur = rs[2]->kids.count;
	for (int i = 0; i < ncur; i++) {
		const char *name = rs[2]->kids.data[i];

		if (!zt_in(&rs[3]->kids, name)) {
			/* a consumer gone without leaving: fold it in */
			err = zk_reap_cursor(c, b, name, st);
			if (!err || err == -ENOENT)
				err = -ESTALE; /* the state moved: again */
			goto out;
		}
	}
	/* the cursors read ahead are good if they are these consumers' */
	if (ah && ah->ncur == ncur) {
		for (int i = 0; i < ncur && ah; i++)
			if (strcmp(em->cursors[i], rs[2]->kids.data[i]))
				ah = NULL;
	} else {
		ah = NULL;
	}
	remember_cursors(em, &rs[2]->kids);
	if (ah) {
		curs = ah->curs;
		ah->curs = NULL;
		ah->ncur = 0;
	} else {
		curs = calloc((size_t)ncur + 1, sizeof(*curs));
		if (!curs) {
			err = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < ncur; i++) {
			zp(b, path, "/c/%s", rs[2]->kids.data[i]);
			curs[i] = zr_get(c, path, wait_space);
		}
		err = zr_wait_all(c, curs, ncur);
		if (err)
			goto out;
	}
	for (int i = 0; i < ncur; i++) {
		struct zk_cursor cur;

		if (curs[i]->rc == ZNONODE) {
			err = -ESTALE;
			goto out;
		}
		if (curs[i]->rc != ZOK) {
			err = zc_errno(curs[i]->rc);
			goto out;
		}
		if (zt_cursor_parse(curs[i]->data, curs[i]->len, &cur)) {
			err = zk_error(-EPROTO, "%s: cursor %s is not pooter's",
				       b->url, rs[2]->kids.data[i]);
			goto out;
		}
		if (zt_due(st, cur.notices) >= cur.acked + cf.depth)
			full = true;
		if (cur.low < min_low)
			min_low = cur.low;
	}
	if (full && ah && wait_space) {
		/* read ahead without watches: again, with them, to wait */
		ah->full = true;
		err = -ESTALE;
		goto out;
	}
	if (full) {
		uint64_t now = zc_now(), until;

		if (!*full_since)
			*full_since = now;
		until = *full_since + (uint64_t)cf.timeout_ms * 1000000ull;
		if (!wait_space || now >= until) {
			err = zk_error(-EAGAIN,
				       "%s: a consumer holds %u rounds "
				       "unreleased (the depth): no room for "
				       "round %llu",
				       b->url, cf.depth, (unsigned long long)k);
			goto out;
		}
		err = zc_wait_change(c, gen, until);
		if (!err)
			err = -ESTALE;
		goto out;
	}

	/* the round: every live emitter takes part */
	rd.k = k;
	rd.open = true;
	rd.timeout_ms = cf.timeout_ms;
	rd.parts = calloc((size_t)rs[1]->kids.count + 1, sizeof(*rd.parts));
	if (!rd.parts) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < rs[1]->kids.count && i < (int)b->cf.max_emitters;
	     i++)
		if (!zk_host->name_check(rs[1]->kids.data[i]))
			strcpy(rd.parts[rd.nparts++], rs[1]->kids.data[i]);
	rd.fixed = !cf.quorum || rd.nparts >= cf.quorum;
	/* the only participant: its emit resolves the round it opens */
	alone = rd.fixed && rd.nparts == 1 && !strcmp(rd.parts[0], em->name);
	if (alone) {
		rd.open = false;
		rd.outcome = 0;
	}
	text = round_text(&rd, &tlen);
	if (!text) {
		err = -ENOMEM;
		goto out;
	}

	ns.round = k;
	ns.open = !alone;
	ns.opened++;
	if (fold) {
		ns.emits += rs[4]->rc == ZOK ? (uint64_t)rs[4]->kids.count : 0;
		ns.folded = k - 1;
	}
	if (alone) {
		ns.resolved++;
		fold_resolved(&ns, &rd);
	}
	/* payloads every consumer is past; outcomes older than ZK_RETAIN */
	{
		uint64_t p = k - 1;

		if (min_low != UINT64_MAX && min_low - 1 < p)
			p = min_low ? min_low - 1 : 0;
		/* a batch of rounds at a time, no fewer: one multi's worth */
		uint64_t step = GC_MAX_OPS / (b->cf.max_emitters + 1);

		if (step > ZK_GC_STEP)
			step = ZK_GC_STEP;
		if (!step)
			step = 1;
		if (p > st->gcp + step)
			p = st->gcp + step;
		ns.gcp = p >= st->gcp + step ? p : st->gcp;
		p = k > ZK_RETAIN + 1 ? k - 1 - ZK_RETAIN : 0;
		if (p > st->gcp)
			p = st->gcp;
		if (p > st->gcr + ZK_GC_STEP)
			p = st->gcr + ZK_GC_STEP;
		ns.gcr = p >= st->gcr + ZK_GC_STEP ? p : st->gcr;
	}
	zt_state_format(state, sizeof(state), &ns);
	zp_round(b, rpath, k);
	zp(b, epath, "/r/%020llu/%s", (unsigned long long)k, em->name);
	zp(b, spath, "/state");
	zoo_create_op_init(&ops[0], rpath, text, tlen, b->acl, ZOO_PERSISTENT,
			   NULL, 0);
	zoo_create_op_init(&ops[1], epath, len ? payload : NULL,
			   len ? (int)len : -1, b->acl, ZOO_PERSISTENT, NULL,
			   0);
	zoo_set_op_init(&ops[2], spath, state, (int)strlen(state), st->version,
			NULL);
	em->maybe_sent = k; /* until a definite answer */
	req = zr_multi(c, 3, ops);
	err = zr_wait(c, req);
	if (err)
		goto out;
	err = zc_errno(req->rc);
	if (err && err != -ENOTCONN)
		em->maybe_sent = 0; /* answered: it did not land */
	if (!err) {
		b->cf.timeout_ms = cf.timeout_ms; /* as the round says */
	}
	if (!err && req->results[2].stat) {
		*ctime_ms = (uint64_t)req->results[2].stat->mtime;
		zc_clock_sample(c, req->results[2].stat->mtime, req->sent_ns);
		gc_issue(c, b, st, &ns);
	}
	if (err == -EEXIST)
		err = -ESTALE; /* someone opened it first */
	zr_free(req);
	st->round = k;
	*outcomep = alone && !err ? 0 : -EINPROGRESS;
out:
	free(text);
	zk_round_free(&rd);
	if (curs) {
		for (int i = 0; i < ncur; i++)
			zr_free(curs[i]);
		free(curs);
	}
	for (int i = 0; i < 5; i++)
		zr_free(rs[i]);
	return err;
}

/* 1 if our emit to round k is there, 0 if not, or a negative errno. */
static int emit_landed(struct zk_emitter *em, uint64_t k)
{
	struct zk_broker *b = zkb(em->broker);
	char path[ZK_PATH_MAX];
	struct zk_req *r;
	int err;

	struct zk_round rd = { 0 };
	struct zk_state st;

	zp(b, path, "/r/%020llu/%s", (unsigned long long)k, em->name);
	r = zr_get(&em->conn, path, false);
	err = zr_wait(&em->conn, r);
	if (err)
		return err;
	err = r->rc == ZOK ? 1 : r->rc == ZNONODE ? 0 : zc_errno(r->rc);
	zr_free(r);
	if (err)
		return err;
	/*
	 * No payload: not landed, unless the round is over and its payloads
	 * were collected since (then it is settled there, whatever it was:
	 * an emit is never made twice).
	 */
	err = zk_read_state(&em->conn, b, &st);
	if (err)
		return err;
	if (st.gcp < k)
		return 0; /* not collected: its absence says it all */
	err = zk_read_round(&em->conn, b, k, &rd);
	zk_round_free(&rd);
	if (err == -ENOENT)
		return 1; /* long gone: settled there */
	if (err)
		return err;
	return rd.open ? 0 : 1;
}

/*
 * One batch of reads, one round trip: the state, the round this emitter
 * expects to be open (seen + 1) with its emits, and what opening that round
 * would read (*ah).  *rd and *emittedp are filled when the state says that
 * very round is open; otherwise *emittedp is NULL.
 */
static int read_ahead(struct zk_emitter *em, struct zk_state *st,
		      struct zk_round *rd, struct zk_req **emittedp,
		      struct ahead *ah)
{
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;
	char path[ZK_PATH_MAX];
	struct zk_req *rs[3], *all[8 + 64];
	uint64_t k = em->seen + 1;
	int err, n = 0;

	*emittedp = NULL;
	memset(ah, 0, sizeof(*ah));
	ah->guess = k;
	zp(b, path, "/state");
	all[n++] = rs[0] = zr_get(c, path, true); /* gen_state: an opening */
	zp_round(b, path, k);
	all[n++] = rs[1] = zr_get(c, path, false);
	all[n++] = rs[2] = zr_children(c, path, false);
	all[n++] = ah->rs[0] = zr_get(c, b->path, false);
	zp(b, path, "/e");
	all[n++] = ah->rs[1] = zr_children(c, path, false);
	zp(b, path, "/c");
	all[n++] = ah->rs[2] = zr_children(c, path, false);
	zp(b, path, "/k");
	all[n++] = ah->rs[3] = zr_children(c, path, false);
	if (k > 1) {
		zp_round(b, path, k - 1);
		all[n++] = ah->rs[4] = zr_children(c, path, false);
	}
	ah->ncur = em->ncursors < 64 ? em->ncursors : 0;
	ah->curs = calloc((size_t)ah->ncur + 1, sizeof(*ah->curs));
	if (!ah->curs)
		ah->ncur = 0;
	for (int i = 0; i < ah->ncur; i++) {
		zp(b, path, "/c/%s", em->cursors[i]);
		all[n++] = ah->curs[i] = zr_get(c, path, false);
	}
	err = zr_wait_all(c, all, n);
	if (err) {
		/* freed or abandoned, every one: forget them */
		memset(ah->rs, 0, sizeof(ah->rs));
		for (int i = 0; i < ah->ncur; i++)
			ah->curs[i] = NULL;
		ahead_free(ah);
		return err;
	}
	err = zc_errno(rs[0]->rc);
	if (!err) {
		memset(st, 0, sizeof(*st));
		if (zt_state_parse(rs[0]->data, rs[0]->len, st))
			err = zk_error(-EPROTO,
				       "%s: the state node is not "
				       "pooter's (corrupted, or "
				       "another version)",
				       b->url);
		st->version = rs[0]->stat.version;
	}
	if (!err && st->open && st->round == k && rs[1]->rc == ZOK &&
	    rs[2]->rc == ZOK) {
		err = zk_round_from(b, rs[1], k, rd);
		if (!err) {
			*emittedp = rs[2];
			rs[2] = NULL;
		}
	}
	for (int i = 0; i < 3; i++)
		zr_free(rs[i]);
	if (err)
		ahead_free(ah);
	return err;
}

int zk_contribute(struct pooter_emitter *pem, const void *payload, size_t len,
		  bool wait_space, struct pooter_ticket *t)
{
	struct zk_emitter *em = (struct zk_emitter *)pem;
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;
	struct zk_req *emitted = NULL;
	struct ahead ah = { 0 };
	uint64_t full_since = 0, gs;
	bool no_ahead = false, waited = false;
	int err;

	err = emitter_check(em);
	if (err)
		return err;
	if (len > b->cf.max_payload)
		return zk_error(-EMSGSIZE, "%s: payload of %zu bytes, limit %u",
				b->url, len, b->cf.max_payload);
	for (;;) {
		struct zk_round rd = { 0 };
		struct zk_state st;
		uint64_t ctime_ms = 0, wake;
		int outcome;

		if (em->maybe_sent) {
			/* an answer was lost: did that emit land? never twice */
			err = emit_landed(em, em->maybe_sent);
			if (err == 1) {
				t->round = em->maybe_sent;
				t->deadline_ns = zc_now();
				t->outcome = -EINPROGRESS;
				em->maybe_sent = 0;
				break;
			}
			if (err)
				goto again;
			em->maybe_sent = 0;
		}
		gs = c->gen_state;
		err = read_ahead(em, &st, &rd, &emitted, &ah);
		if (err)
			goto again;
		em->seen = st.round;
		if (!st.open && st.round && st.round == em->learned &&
		    !waited) {
			/*
			 * Another participant decided the last round, by its
			 * own emit most likely, and is opening the next one
			 * as we speak: two openings race, and the loser pays
			 * a write and a read more.  Give it a moment (the
			 * state's watch says when it opened), then open.
			 */
			uint64_t until = zc_now() + ZK_YIELD_NS;

			waited = true;
			ahead_free(&ah);
			while (c->gen_state == gs && zc_now() < until &&
			       !c->expired)
				zc_pump(c, until);
			if (c->gen_state != gs)
				continue;
			err = read_ahead(em, &st, &rd, &emitted, &ah);
			if (err)
				goto again;
		}
		if (!st.open) {
			err = open_round(em, &st, payload, len, wait_space,
					 &full_since, &ctime_ms, &t->outcome,
					 no_ahead ? NULL : &ah);
			no_ahead = ah.full;
			ahead_free(&ah);
			if (!err) {
				t->round = st.round;
				t->deadline_ns = zc_local_ns(
					c, (int64_t)ctime_ms +
						   (int64_t)b->cf.timeout_ms);
				break;
			}
			goto again;
		}
		ahead_free(&ah);
		if (!emitted) {
			/* the round open is not the one guessed: read it */
			err = read_round_emits(c, b, st.round, &rd, &emitted);
			if (err) {
				zk_round_free(&rd);
				goto again;
			}
		}
		if (!rd.open) {
			zk_round_free(&rd);
			zr_free(emitted);
			continue;
		}
		if (zt_round_find(&rd, em->name) < 0) {
			zk_round_free(&rd);
			zr_free(emitted);
			return zk_error(-EBUSY,
					"%s: emitter %s is not a participant "
					"of round %llu",
					b->url, em->name,
					(unsigned long long)st.round);
		}
		/* an overdue deadline first */
		if (zc_now() >= zc_local_ns(c, rd.ctime_ms + rd.timeout_ms)) {
			zk_round_free(&rd);
			zr_free(emitted);
			emitted = NULL;
			err = zk_round_step(c, b, st.round, &outcome, &wake);
			if (err < 0)
				goto again;
			if (emitter_check(em))
				return emitter_check(em);
			if (err == 1)
				continue; /* decided: the next round, then */
			/* not due after all (or a race lost): emit */
			err = read_round_emits(c, b, st.round, &rd, &emitted);
			if (err) {
				zk_round_free(&rd);
				goto again;
			}
			if (!rd.open) {
				zk_round_free(&rd);
				zr_free(emitted);
				emitted = NULL;
				continue;
			}
		}
		err = emit_into(em, &st, &rd, &emitted->kids, payload, len,
				&t->outcome);
		zr_free(emitted);
		emitted = NULL;
		if (!err) {
			t->round = rd.k;
			t->deadline_ns = zc_local_ns(
				c, rd.ctime_ms + (int64_t)rd.timeout_ms);
			zk_round_free(&rd);
			break;
		}
		zk_round_free(&rd);
again:
		if (!err || err == -ESTALE)
			continue;
		if (err == -ENOTCONN || err == -ECONNRESET) {
			err = zk_retry(c, err, &em->gone);
			if (!err && em->gone && em->maybe_sent &&
			    emit_landed(em, em->maybe_sent) == 1) {
				/* it landed before the session ended */
				t->round = em->maybe_sent;
				t->deadline_ns = zc_now();
				t->outcome = -EINPROGRESS;
				em->maybe_sent = 0;
				break;
			}
			if (!err && em->gone)
				em->maybe_sent = 0;
			if (!err)
				err = emitter_check(em);
			if (err)
				return err;
			continue;
		}
		return err;
	}
	t->emitter = pem;
	memset(t->priv, 0, sizeof(t->priv));
	em->maybe_sent = 0; /* this emit is settled: landed */
	return 0;
}

int zk_outcome_wait(struct pooter_ticket *t)
{
	struct zk_emitter *em = (struct zk_emitter *)t->emitter;
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;

	if (t->outcome != -EINPROGRESS)
		return t->outcome;
	for (;;) {
		uint64_t gen = c->gen, wake = UINT64_MAX;
		int outcome, err;

		err = zk_round_step(c, b, t->round, &outcome, &wake);
		if (err == 1) {
			t->outcome = outcome;
			/* decided by another, who may be opening the next */
			if (c->decided != t->round)
				em->learned = t->round;
			return outcome;
		}
		if (!err)
			err = zc_wait_change(c, gen, wake);
		if (err && (err = zk_retry(c, err, &em->gone)))
			return err;
	}
}

int zk_cancel(struct pooter_broker *pb)
{
	struct zk_broker *b = zkb(pb);
	struct zk_conn *c = &b->conn;
	uint64_t k = 0; /* the round we set out to cancel: no other */

	for (;;) {
		struct zk_round rd = { 0 };
		struct zk_state st;
		int err;

		err = zk_read_state(c, b, &st);
		if (!err && k && st.round != k) {
			/* ours is over: did our cancel land? */
			err = zk_read_round(c, b, k, &rd);
			if (!err && !rd.open && rd.outcome == -ECANCELED) {
				zk_round_free(&rd);
				return 0;
			}
			zk_round_free(&rd);
			return zk_error(-ENOENT,
					"%s: round %llu was decided "
					"otherwise first",
					b->url, (unsigned long long)k);
		}
		if (!err && !st.open)
			return zk_error(-ENOENT, "%s: no round is open",
					b->url);
		if (!err)
			k = st.round;
		if (!err)
			err = zk_read_round(c, b, st.round, &rd);
		if (!err && !rd.open && rd.outcome == -ECANCELED) {
			zk_round_free(&rd);
			return 0; /* landed, the answer lost */
		}
		if (!err && rd.open)
			err = zk_decide(c, b, &rd, -ECANCELED, NULL);
		zk_round_free(&rd);
		if (err == 1)
			return 0;
		if (err && err != -ENOENT && (err = zk_retry(c, err, NULL)))
			return err;
	}
}

/* Could an emit go ahead now (a round open, or room in every cursor)? */
int zk_space_room(struct zk_emitter *em, bool watch)
{
	struct zk_broker *b = zkb(em->broker);
	struct zk_conn *c = &em->conn;
	char path[ZK_PATH_MAX];
	struct zk_req *rs[2], **curs = NULL;
	struct zk_state st;
	int err, n = 0, room = 1;

	err = zk_read_state(c, b, &st);
	if (err || st.open)
		return err ? err : 1;
	zp(b, path, "/c");
	rs[0] = zr_children(c, path, watch);
	zp(b, path, "/k");
	rs[1] = zr_children(c, path, watch);
	err = zr_wait_all(c, rs, 2);
	if (err)
		return err;
	if ((err = zc_errno(rs[0]->rc)) || (err = zc_errno(rs[1]->rc)))
		goto out;
	n = rs[0]->kids.count;
	curs = calloc((size_t)n + 1, sizeof(*curs));
	if (!curs) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		zp(b, path, "/c/%s", rs[0]->kids.data[i]);
		curs[i] = zr_get(c, path, watch);
	}
	err = zr_wait_all(c, curs, n);
	if (err)
		goto out;
	for (int i = 0; i < n; i++) {
		struct zk_cursor cur;

		/* a gone consumer's cursor is reaped by the opening */
		if (curs[i]->rc != ZOK ||
		    !zt_in(&rs[1]->kids, rs[0]->kids.data[i]) ||
		    zt_cursor_parse(curs[i]->data, curs[i]->len, &cur))
			continue;
		if (zt_due(&st, cur.notices) >= cur.acked + b->cf.depth)
			room = 0;
	}
	err = room;
out:
	if (curs) {
		for (int i = 0; i < n; i++)
			zr_free(curs[i]);
		free(curs);
	}
	zr_free(rs[0]);
	zr_free(rs[1]);
	return err;
}
