/*
 * pooter.pml - the round protocol of src/, as implemented, for spin.
 *
 * Emitters emit in rounds, consumers take and release deliveries, a clock
 * lets open rounds' deadlines pass, and a killer may SIGKILL any emitter or
 * consumer at any step: holding the lock, between a commit and its apply,
 * between an apply and the futex store after it, while waiting.  A janitor
 * (the "next caller") runs when every member is gone, recovers whatever the
 * dead left, and checks the books.
 *
 * The segment is the array mem[] of words, addressed as src/layout.h lays
 * them out (one word per field the protocol uses); the redo journal stores
 * (index, value) pairs into it exactly as lock.c stores (offset, value).
 * models/README.md maps each inline below to its function in src/.
 *
 * Steps.  Each atomic block ends where the segment's durable state changes
 * (the lock word, a commit, an apply, the futex word): those are the points
 * where a death or another process can come in.  What happens between two
 * of them is local to the process and folded into one step, and so are
 * plain stores nobody reads before the commit that follows them, unless
 * -DFINE (see FINE_POINT).
 *
 * Sizes (override with spin -D...): NE emitters, NC consumers, ND ring
 * records, NEMIT emits per emitter, MAXDEATH deaths in a run, NOTICES
 * (consumers opt in to cancellation notices), FINE (a death may also fall
 * between a plain store and its commit, and between two entries of an
 * apply).
 */

#ifndef NE
#define NE 2
#endif
#ifndef NC
#define NC 1
#endif
#ifndef ND
#define ND 2
#endif
#ifndef NEMIT
#define NEMIT 2
#endif
#ifndef MAXDEATH
#define MAXDEATH 1
#endif
#ifndef NOTICES
#define NOTICES 1
#endif

#define NP (NE + NC)		/* member processes; tokens 1..NP */
#define JANITOR (NP + 1)	/* token of the next caller */
#define KMAX (NE * NEMIT)	/* every emit opens at most one round */
#define JMAX 12			/* journal entries (SHM_JOURNAL_MAX) */

/* outcome codes (enum shm_outcome) */
#define RESOLVED 0
#define TIMEDOUT 1
#define CANCELED 2
#define OWNERDEAD 3
#define UNDECIDED 7		/* ghost only */
#define INPROGRESS 8		/* round_result(): -EINPROGRESS */

/* record states (enum shm_record_state) */
#define FREE 0
#define OPEN 1
#define PUB 2

/* --- the segment: struct shm_state, slots, records ---------------------- */

#define W_WORD 0		/* round.word: (k << 1) | open */
#define W_OUTC 1		/* round.outcome: (k << 2) | code, here */
#define W_REC 2			/* round.record */
#define W_NPARTS 3		/* round.nparts */
#define W_DL 4			/* round.deadline_ns: the round it is of */
#define W_CNT(c) (5 + (c))	/* stats.count[code] */
#define W_EMITS 9		/* stats.emits */
#define W_DELIVS 10		/* stats.deliveries */
#define EBASE 11
#define EOWN(i) (EBASE + 4 * (i))	/* emitter.owner */
#define EPART(i) (EBASE + 4 * (i) + 1)	/* emitter.part_round */
#define EEMIT(i) (EBASE + 4 * (i) + 2)	/* emitter.emit_round */
#define ERES(i) (EBASE + 4 * (i) + 3)	/* emitter.result */
#define CBASE (EBASE + 4 * NE)
#define COWN(j) (CBASE + 4 * (j))	/* consumer.owner */
#define CFLAGS(j) (CBASE + 4 * (j) + 1)	/* consumer.flags */
#define CRECV(j) (CBASE + 4 * (j) + 2)	/* consumer.received */
#define CDELIV(j) (CBASE + 4 * (j) + 3)	/* consumer.delivered */
#define RBASE (CBASE + 4 * NC)
#define RROUND(r) (RBASE + 5 * (r))	/* record.round */
#define RSTATE(r) (RBASE + 5 * (r) + 1)	/* record.state */
#define ROUTC(r) (RBASE + 5 * (r) + 2)	/* record.outcome */
#define RPEND(r) (RBASE + 5 * (r) + 3)	/* record.pending */
#define RNEMIT(r) (RBASE + 5 * (r) + 4)	/* record.nemitted */
#define NWORDS (RBASE + 5 * ND)

byte mem[NWORDS];
byte ent[ND * NE];	/* shm_entry + payload: (round << 3) | slot */
byte lock_owner;	/* lock.owner: a token, 0 when free */
byte ctl;		/* round.ctl: futex mirror of round.word */
byte j_committed;	/* journal.committed */
byte j_off[JMAX];	/* journal.ent[].off */
byte j_val[JMAX];	/* journal.ent[].val */

/* --- the world: liveness, time ------------------------------------------ */

bool alive[NP + 2];	/* token_alive(), by token */
byte deaths;
byte expired;		/* deadlines of rounds <= expired have passed */
/* every emitter gone (exited or killed): tokens 1..NE not alive */
#if NE == 1
#define EGONE (!alive[1])
#elif NE == 2
#define EGONE (!alive[1] && !alive[2])
#else
#define EGONE (!alive[1] && !alive[2] && !alive[3])
#endif
#if NC == 1
#define CGONE (!alive[CTOKEN(0)])
#else
#define CGONE (!alive[CTOKEN(0)] && !alive[CTOKEN(1)])
#endif

/* --- ghosts: what really happened, to check the segment against --------- */

byte g_outcome[KMAX + 1];	/* decided once, at its commit */
byte g_mask[KMAX + 1];		/* consumers the decision published to */
byte g_nemit[KMAX + 1];		/* emits committed in the round */
byte g_emitted[KMAX + 1];	/* emits the decision counted */
short g_got[NC];		/* rounds delivered, bit k, per consumer */
short g_dropped[NC];		/* rounds published to it, given up at leave */
byte g_held[NC];		/* records held, bit r, per consumer */
byte g_deliv;			/* deliveries committed */
bool g_died[NP + 2];

#define ISOPEN(w) ((w) & 1)
#define NUM(w) ((w) >> 1)
#define DEADTOK(t) ((t) != 0 && !alive[t])
#define CTOKEN(j) (NE + 1 + (j))

#if NE == 1
#define EDEAD DEADTOK(mem[EOWN(0)])
#elif NE == 2
#define EDEAD (DEADTOK(mem[EOWN(0)]) || DEADTOK(mem[EOWN(1)]))
#else
#define EDEAD (DEADTOK(mem[EOWN(0)]) || DEADTOK(mem[EOWN(1)]) || \
	       DEADTOK(mem[EOWN(2)]))
#endif
#if NC == 1
#define CDEAD DEADTOK(mem[COWN(0)])
#else
#define CDEAD (DEADTOK(mem[COWN(0)]) || DEADTOK(mem[COWN(1)]))
#endif
/* what the periodic liveness re-check (50 ms) of a waiter would find */
#define SOMEONE_DEAD (DEADTOK(lock_owner) || EDEAD || CDEAD)

/* a record consumer slot s may take next (record_next()) */
#define DELIVERABLE(s, r) \
	(mem[RSTATE(r)] == PUB && (mem[RPEND(r)] & (1 << (s))) && \
	 !(mem[CRECV(s)] & (1 << (r))))
#define FREEABLE(r) \
	(mem[RSTATE(r)] == FREE || (mem[RSTATE(r)] == PUB && mem[RPEND(r)] == 0))
#if ND == 1
#define ANY_DELIVERABLE(s) DELIVERABLE(s, 0)
#define ANY_FREEABLE FREEABLE(0)
#elif ND == 2
#define ANY_DELIVERABLE(s) (DELIVERABLE(s, 0) || DELIVERABLE(s, 1))
#define ANY_FREEABLE (FREEABLE(0) || FREEABLE(1))
#else
#define ANY_DELIVERABLE(s) (DELIVERABLE(s, 0) || DELIVERABLE(s, 1) || \
			    DELIVERABLE(s, 2))
#define ANY_FREEABLE (FREEABLE(0) || FREEABLE(1) || FREEABLE(2))
#endif

/* every process's scratch words (the C functions' locals), zero between
 * steps unless they carry something */
#define LOCALS \
	byte txn_n, ja, ri, rj, dj, cr, orr, orec, ok, olast, on, oe; \
	byte dk, drec, dmask, dne, dword, rec, ne, np, res, o, gk; \
	bool took, eagain, decided, gemit, found, opening

/*
 * FINE_POINT splits an atomic block in two under -DFINE: a point where a
 * death may fall that the default model folds away, because what it
 * separates is a plain store nobody reads before the commit that follows it
 * (an emit's entry, an opening's participant words), or one entry of an
 * apply from the next.
 */
#ifdef FINE
#define FINE_POINT }; atomic {
#else
#define FINE_POINT skip;
#endif

/* --- lock.c: the lock and the journal ----------------------------------- */

/* txn_set(): stage mem[off] = val; nothing reads it before the commit */
inline stage(off, val)
{
	assert(txn_n < JMAX);
	j_off[txn_n] = off;
	j_val[txn_n] = val;
	txn_n++
}

/* txn_commit()'s commit point; in the atomic block that staged */
inline commit_point()
{
	j_committed = txn_n
}

/*
 * The apply of txn_commit() and broker_repair(): every committed entry,
 * then the count cleared.  Applying twice is applying once.  With
 * FINE each entry is a step of its own, so a death can fall between
 * any two; without, the apply is one step (a death falls before or after
 * it): the same here, since a repair redoes it all, and nobody reads a
 * journaled word without the lock until ctl, stored after the apply, says
 * so.  .ci/spin.sh checks both.
 */
#ifdef FINE
inline apply_entries()
{
	ja = 0;
	do
	:: ja < j_committed ->
		atomic { mem[j_off[ja]] = j_val[ja]; ja++ }
	:: else -> break
	od;
	atomic { j_committed = 0; txn_n = 0; ja = 0 }
}
#else
inline apply_entries()
{
	atomic {
		ja = 0;
		do
		:: ja < j_committed -> mem[j_off[ja]] = j_val[ja]; ja++
		:: else -> break
		od;
		j_committed = 0;
		txn_n = 0;
		ja = 0
	}
}
#endif

/*
 * broker_lock(): CAS from free, or take the lock over from a dead holder
 * and repair (broker_repair(): redo its committed update, resync ctl).
 * broker_lock_if(cond) is a call made when cond holds, cond tested in the
 * same step as the CAS: what a process does between deciding to call and
 * taking the lock is local to it.
 */
inline broker_lock_if(cond)
{
	atomic {
		(cond) && (lock_owner == 0 || DEADTOK(lock_owner)) ->
		assert(lock_owner != me);
		took = lock_owner != 0 || j_committed > 0;
		lock_owner = me
	};
	if
	:: took ->
		apply_entries();
		atomic { ctl = mem[W_WORD]; took = false }
	:: else
	fi
}

inline broker_lock()
{
	broker_lock_if(true)
}

inline unlock_now()
{
	/* every transition stores ctl before it unlocks */
	assert(ctl == mem[W_WORD] && j_committed == 0);
	txn_n = 0;
	lock_owner = 0
}

inline broker_unlock()
{
	atomic { unlock_now() }
}

/*
 * The apply of an update, then broker_unlock().  One step without
 * FINE: a death between the two leaves the lock to a dead holder
 * with nothing to redo, as a death right after taking the lock does.
 */
inline apply_and_unlock()
{
#ifdef FINE
	apply_entries();
	broker_unlock()
#else
	atomic { apply_entries(); unlock_now() }
#endif
}

/* round_load(): what it refuses as -EPROTO never happens */
inline round_load_check()
{
	if
	:: ISOPEN(mem[W_WORD]) ->
		assert(mem[W_REC] < ND);
		assert(mem[RROUND(mem[W_REC])] == NUM(mem[W_WORD]));
		assert(mem[RSTATE(mem[W_REC])] == OPEN);
		assert(mem[W_NPARTS] >= 1 && mem[W_NPARTS] <= NE);
		assert(mem[RNEMIT(mem[W_REC])] <= mem[W_NPARTS])
	:: else
	fi
}

/* broker_enter(): the lock, then round_enforce_deadline() */
inline broker_enter_if(cond)
{
	broker_lock_if(cond);
	atomic {
		round_load_check();
		decided = ISOPEN(mem[W_WORD]) && mem[W_DL] <= expired;
		if
		:: decided -> dne = mem[RNEMIT(mem[W_REC])]
		:: else
		fi
	};
	if
	:: decided -> round_decide(TIMEDOUT)
	:: else
	fi
}

inline broker_enter()
{
	broker_enter_if(true)
}

/*
 * A call that only enforces: broker_enter() then broker_unlock(), made when
 * cond holds (the wake-ups of waiters and consumers).
 */
inline enforce_if(cond)
{
	broker_lock_if(cond);
	atomic {
		round_load_check();
		decided = ISOPEN(mem[W_WORD]) && mem[W_DL] <= expired;
		if
		:: decided -> dne = mem[RNEMIT(mem[W_REC])]
		:: else -> unlock_now()
		fi
	};
	if
	:: decided ->
		round_decide_to(TIMEDOUT);
		atomic { round_finish(); unlock_now() }
	:: else
	fi
}

/* --- round.c ------------------------------------------------------------ */

/*
 * round_stage_decision(), txn_commit(): decide the open round with code;
 * round_decide() adds round_finish().  dne is the round's emit count as
 * the decider sees it; with gemit, pooter_emit's own two entries are
 * already staged (the last emit decides in the same update).
 */
inline round_decide_to(code)
{
	atomic {
		dk = NUM(mem[W_WORD]);
		drec = mem[W_REC];
		dmask = 0;
		dj = 0;
		do
		:: dj < NC ->
			if
			:: mem[COWN(dj)] != 0 &&
			   (code == RESOLVED || mem[CFLAGS(dj)]) ->
				dmask = dmask | (1 << dj)
			:: else
			fi;
			dj++
		:: else -> break
		od;
		dj = 0;
		stage(W_CNT(code), mem[W_CNT(code)] + 1);
		stage(W_EMITS, mem[W_EMITS] + dne);
		if
		:: dmask != 0 ->
			stage(ROUTC(drec), code);
			stage(RPEND(drec), dmask);
			stage(RSTATE(drec), PUB)
		:: else ->
			stage(RSTATE(drec), FREE)
		fi;
		stage(W_OUTC, dk * 4 + code);
		dword = dk * 2;
		stage(W_WORD, dword);
		commit_point();
		/* one outcome per round, decided once, at its commit */
		assert(ISOPEN(mem[W_WORD]));
		assert(g_outcome[dk] == UNDECIDED);
		g_outcome[dk] = code;
		g_mask[dk] = dmask;
		g_emitted[dk] = dne;
		if
		:: gemit -> g_nemit[dk]++
		:: else
		fi;
		assert(dne == g_nemit[dk]);
		dk = 0;
		drec = 0;
		dmask = 0;
		dne = 0;
		decided = false;
		gemit = false
	};
	apply_entries()
}

/* round_finish(): the futex word, after the commit */
inline round_finish()
{
	ctl = dword;
	dword = 0
}

inline round_decide(code)
{
	round_decide_to(code);
	atomic { round_finish() }
}

/* emitter_remove() (member.c): cancel a round it owes, free the slot */
inline emitter_remove(ei, code)
{
	atomic {
		decided = ISOPEN(mem[W_WORD]) && mem[EOWN(ei)] != 0 &&
			  mem[EPART(ei)] == NUM(mem[W_WORD]) &&
			  mem[EEMIT(ei)] != NUM(mem[W_WORD]);
		if
		:: decided -> dne = mem[RNEMIT(mem[W_REC])]
		:: else
		fi
	};
	if
	:: decided -> round_decide(code)
	:: else
	fi;
	atomic { stage(EOWN(ei), 0); commit_point() };
	apply_entries()
}

/* consumer_reap() (member.c): release its records, fold its count */
inline consumer_reap(cj)
{
	atomic {
		cr = 0;
		do
		:: cr < ND ->
			if
			:: mem[RPEND(cr)] & (1 << cj) ->
				/* ghost: a delivery it gives up */
				if
				:: !(mem[CRECV(cj)] & (1 << cr)) ->
					g_dropped[cj] = g_dropped[cj] |
						(1 << mem[RROUND(cr)])
				:: else
				fi;
				stage(RPEND(cr), mem[RPEND(cr)] & ~(1 << cj))
			:: else
			fi;
			cr++
		:: else -> break
		od;
		cr = 0;
		stage(CRECV(cj), 0);
		stage(W_DELIVS, mem[W_DELIVS] + mem[CDELIV(cj)]);
		stage(COWN(cj), 0);
		commit_point()
	};
	apply_entries()
}

/* members_reap_dead() (member.c): one dead member at a time */
inline reap_dead()
{
	do
	:: atomic {
		ri = 0;
		do
		:: ri < NE && !DEADTOK(mem[EOWN(ri)]) -> ri++
		:: else -> break
		od;
		rj = 0;
		do
		:: ri == NE && rj < NC && !DEADTOK(mem[COWN(rj)]) -> rj++
		:: else -> break
		od;
		found = ri < NE || rj < NC
	   };
		if
		:: ri < NE -> emitter_remove(ri, OWNERDEAD)
		:: ri == NE && rj < NC -> consumer_reap(rj)
		:: else -> atomic { ri = 0; rj = 0; found = false }; break
		fi
	od
}

/*
 * round_open(): reap the dead, claim a free record, make every registered
 * emitter a participant of round NUM(word) + 1, commit and apply; the
 * caller stores ctl (round_open()'s last store) in its next step.  eagain
 * when no record is free.  found: a dead member was seen (the caller
 * looked, in the step that decided to open).
 */
inline round_open()
{
	if
	:: found -> reap_dead()
	:: else
	fi;
	atomic {
		orr = 0;
		do
		:: orr < ND && !FREEABLE(orr) -> orr++
		:: else -> break
		od;
		orec = orr;
		orr = 0;
		eagain = orec == ND;
		if
		:: !eagain ->
			ok = NUM(mem[W_WORD]) + 1;
			olast = mem[W_OUTC];
			/* plain stores before the commit */
			oe = 0;
			on = 0;
			do
			:: oe < NE ->
				if
				:: mem[EOWN(oe)] != 0 ->
					if
					:: mem[EEMIT(oe)] == ok - 1 &&
					   olast / 4 == ok - 1 ->
						mem[ERES(oe)] = olast
					:: else
					fi;
					mem[EPART(oe)] = ok;
					on++
				:: else
				fi;
				oe++
			:: else -> break
			od;
			oe = 0;
			olast = 0;
			assert(on > 0 && ok <= KMAX)
		:: else
		fi;
		FINE_POINT
		if
		:: !eagain ->
			/* no record reused while a live consumer holds it */
			rj = 0;
			do
			:: rj < NC ->
				assert(!alive[CTOKEN(rj)] ||
				       !(g_held[rj] & (1 << orec)));
				rj++
			:: else -> break
			od;
			rj = 0;
			stage(RROUND(orec), ok);
			stage(RNEMIT(orec), 0);
			stage(RPEND(orec), 0);
			stage(RSTATE(orec), OPEN);
			stage(W_REC, orec);
			stage(W_NPARTS, on);
			stage(W_DL, ok);
			stage(W_WORD, ok * 2 + 1);
			commit_point();
			on = 0
		:: else
		fi;
		orec = 0;
		found = false
	};
	if
	:: !eagain -> apply_entries()
	:: else
	fi
}

/*
 * round_result(): round gk's outcome for slot, lock-free, into res.  The
 * two loads are one step: between them only the opening of round gk + 2
 * could store into the slot's result, and it does not store there (we did
 * not emit in round gk + 1).
 */
inline round_result(slot)
{
	o = mem[W_OUTC];
	if
	:: o / 4 < gk -> res = INPROGRESS
	:: o / 4 > gk ->
		/* round gk + 1 was opened since: gk's outcome is in our slot */
		o = mem[ERES(slot)];
		assert(o / 4 == gk);	/* else "outcome of round lost" */
		res = o % 4
	:: else -> res = o % 4
	fi;
	o = 0
}

/* --- processes ---------------------------------------------------------- */

proctype Emitter(byte me; byte slot)
{
	LOCALS;
	byte n;

	{
	do
	:: n < NEMIT ->
		/* round_contribute() */
retry:
		broker_lock();
		atomic {
			/* round_enforce_deadline(), then round_load() */
			round_load_check();
			decided = ISOPEN(mem[W_WORD]) && mem[W_DL] <= expired;
			if
			:: decided -> dne = mem[RNEMIT(mem[W_REC])]
			:: else
			fi;
			assert(mem[EOWN(slot)] == me);	/* only the dead are reaped */
			opening = decided || !ISOPEN(mem[W_WORD]);
			found = EDEAD || CDEAD
		};
		if
		:: decided -> round_decide(TIMEDOUT)
		:: else
		fi;
		if
		:: opening ->
			round_open();
			if
			:: eagain ->
				atomic { opening = false; unlock_now() };
				/* wait for a record, or give up: -EAGAIN */
				if
				:: atomic { ANY_FREEABLE || SOMEONE_DEAD -> eagain = false };
					goto retry
				:: atomic { eagain = false; n++ }; goto next
				fi
			:: else
			fi
		:: else
		fi;
		/* the payload and entry, past the committed ones, then commit */
		atomic {
			if
			:: opening -> ctl = mem[W_WORD]; opening = false
			:: else
			fi;
			round_load_check();
			gk = NUM(mem[W_WORD]);
			rec = mem[W_REC];
			ne = mem[RNEMIT(rec)];
			np = mem[W_NPARTS];
			/* registered before any round: a participant of each */
			assert(ISOPEN(mem[W_WORD]));
			assert(mem[EPART(slot)] == gk);
			assert(mem[EEMIT(slot)] != gk);
			assert(ne < NE);
			ent[rec * NE + ne] = gk * 8 + slot;
			FINE_POINT
			stage(RNEMIT(rec), ne + 1);
			stage(EEMIT(slot), gk);
			decided = ne + 1 == np;
			if
			:: decided -> gemit = true; dne = ne + 1
			:: else -> commit_point(); g_nemit[gk]++
			fi;
			rec = 0;
			ne = 0;
			np = 0
		};
		if
		:: decided ->
			round_decide_to(RESOLVED);	/* clears decided */
			atomic { round_finish(); unlock_now(); res = RESOLVED }
		:: else ->
			apply_and_unlock();

			/* round_wait() */
			do
			:: atomic {
				ctl != gk * 2 + 1 ->
				round_result(slot);
				decided = res != INPROGRESS
			   };
				if
				:: decided -> decided = false; break
				:: else ->
					/* ctl out of step: resync under the lock */
					broker_lock();
					ctl = mem[W_WORD];
					broker_unlock();
					atomic {
						if
						:: ctl != gk * 2 + 1 ->
							round_result(slot);
							/* else -EPROTO */
							assert(res != INPROGRESS)
						:: else
						fi;
						res = 0
					}
				fi
			:: enforce_if(ctl == gk * 2 + 1 && gk <= expired)
				/* our deadline passed: enforce it */
			:: broker_enter_if(ctl == gk * 2 + 1 && SOMEONE_DEAD);
				/* the periodic liveness re-check */
				reap_dead();
				broker_unlock()
			od
		fi;
		/* every participant that emitted gets its round's outcome */
		atomic {
			assert(res == g_outcome[gk]);
			res = 0;
			gk = 0;
			n++
		};
next:		skip
	:: else -> break
	od;

	/* pooter_emitter_leave() */
	broker_enter();
	if
	:: mem[EOWN(slot)] == me -> emitter_remove(slot, CANCELED)
	:: else
	fi;
	broker_unlock();
	alive[me] = false
	} unless {
		!alive[me]
	}
}

proctype Consumer(byte me; byte slot)
{
	LOCALS;
	byte held, last, r, recv, pend;
	byte hround[ND];

	{
	do
	:: broker_enter_if(ANY_DELIVERABLE(slot));
		/* pooter_consume() */
		atomic {
			assert(mem[COWN(slot)] == me);
			recv = mem[CRECV(slot)];
			assert(recv == held);
			/* record_next(): the lowest round published to us */
			rec = ND;
			r = 0;
			do
			:: r < ND ->
				if
				:: DELIVERABLE(slot, r) &&
				   (rec == ND || mem[RROUND(r)] < mem[RROUND(rec)]) ->
					rec = r
				:: else
				fi;
				r++
			:: else -> break
			od;
			r = 0;
			if
			:: rec < ND ->
				/* view_build(): what the consumer is shown */
				gk = mem[RROUND(rec)];
				assert(gk > last);	/* in round order */
				assert(!(g_got[slot] & (1 << gk)));	/* once */
				/* no gap: every earlier round published to us
				 * was taken before */
				r = 1;
				do
				:: r < gk ->
					assert(!(g_mask[r] & (1 << slot)) ||
					       (g_got[slot] & (1 << r)));
					r++
				:: else -> break
				od;
				r = 0;
				assert(g_outcome[gk] != UNDECIDED);
				assert(mem[ROUTC(rec)] == g_outcome[gk]);
				assert(g_mask[gk] & (1 << slot));
				assert(g_outcome[gk] == RESOLVED || NOTICES);
				if
				:: g_outcome[gk] == RESOLVED ->
					/* every payload, of this round */
					ne = mem[RNEMIT(rec)];
					assert(ne == g_emitted[gk]);
					do
					:: r < ne ->
						assert(ent[rec * NE + r] / 8 == gk);
						r++
					:: else -> break
					od;
					r = 0;
					ne = 0
				:: else
				fi;
				stage(CRECV(slot), recv | (1 << rec));
				stage(CDELIV(slot), mem[CDELIV(slot)] + 1);
				commit_point();
				g_got[slot] = g_got[slot] | (1 << gk);
				g_held[slot] = g_held[slot] | (1 << rec);
				g_deliv++;
				held = held | (1 << rec);
				hround[rec] = gk;
				last = gk;
				gk = 0
			:: else
			fi;
			rec = 0;
			recv = 0
		};
		apply_and_unlock()
	:: enforce_if(ISOPEN(mem[W_WORD]) && mem[W_DL] <= expired ||
		      DEADTOK(lock_owner))
		/* pooter_consume()'s wake-ups, to enforce what nobody else does */
	:: held != 0 ->
		/* pooter_release() of a delivery we hold, any of them */
		if
		:: held & 1 -> rec = 0
#if ND >= 2
		:: held & 2 -> rec = 1
#endif
#if ND >= 3
		:: held & 4 -> rec = 2
#endif
		fi;
		broker_enter();
		atomic {
			assert(mem[COWN(slot)] == me);
			recv = mem[CRECV(slot)];
			pend = mem[RPEND(rec)];
			assert(recv & (1 << rec));
			/* nothing was reused or torn while we held it */
			assert(mem[RSTATE(rec)] == PUB);
			assert(mem[RROUND(rec)] == hround[rec]);
			assert(pend & (1 << slot));
			if
			:: g_outcome[hround[rec]] == RESOLVED ->
				do
				:: r < mem[RNEMIT(rec)] ->
					assert(ent[rec * NE + r] / 8 == hround[rec]);
					r++
				:: else -> break
				od;
				r = 0
			:: else
			fi;
			stage(CRECV(slot), recv & ~(1 << rec));
			stage(RPEND(rec), pend & ~(1 << slot));
			commit_point();
			g_held[slot] = g_held[slot] & ~(1 << rec);
			held = held & ~(1 << rec);
			hround[rec] = 0;
			rec = 0;
			recv = 0;
			pend = 0
		};
		apply_and_unlock()
	:: atomic {
		EGONE && !ISOPEN(mem[W_WORD]) && !ANY_DELIVERABLE(slot) &&
		held == 0 -> break
	   }
	od;

	/* pooter_consumer_leave() */
	broker_enter();
	if
	:: mem[COWN(slot)] == me -> consumer_reap(slot)
	:: else
	fi;
	broker_unlock();
	alive[me] = false
	} unless {
		!alive[me]
	}
}

/* Time: an open round's deadline may pass at any moment. */
active proctype Clock()
{
end:	do
	:: atomic { ISOPEN(mem[W_WORD]) && expired < mem[W_DL] ->
		expired = mem[W_DL] }
	od
}

/* SIGKILL: any member, at any step, up to MAXDEATH times in a run. */
#define KILL(t) \
	:: atomic { deaths < MAXDEATH && alive[t] -> \
		alive[t] = false; g_died[t] = true; deaths++ }

active proctype Killer()
{
end:	do
	KILL(1)
	KILL(2)
#if NP >= 3
	KILL(3)
#endif
#if NP >= 4
	KILL(4)
#endif
#if NP >= 5
	KILL(5)
#endif
	od
}

/* Set-up, then the janitor: the next caller after everyone is gone. */
init {
	byte me = JANITOR;
	LOCALS;
	byte i, cnt[4], emits;

	atomic {
		i = 0;
		do
		:: i <= KMAX -> g_outcome[i] = UNDECIDED; i++
		:: else -> break
		od;
		/* members registered before the first round (pooter_*_join) */
		i = 0;
		do
		:: i < NE -> mem[EOWN(i)] = i + 1; alive[i + 1] = true; i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NC ->
			mem[COWN(i)] = CTOKEN(i);
			mem[CFLAGS(i)] = NOTICES;
			alive[CTOKEN(i)] = true;
			i++
		:: else -> break
		od;
		alive[JANITOR] = true;
		i = 0;
		do
		:: i < NE -> run Emitter(i + 1, i); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NC -> run Consumer(CTOKEN(i), i); i++
		:: else -> break
		od;
		i = 0
	};

	(EGONE && CGONE);

	/* pooter_broker_gc() by a later process, whose clock is past it all */
	expired = KMAX;
	broker_enter();
	reap_dead();

	atomic {
		/* every member is gone and reaped; no round left open */
		assert(!ISOPEN(mem[W_WORD]));
		i = 0;
		do
		:: i < NE -> assert(mem[EOWN(i)] == 0); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < NC -> assert(mem[COWN(i)] == 0); i++
		:: else -> break
		od;
		i = 0;
		do
		:: i < ND -> assert(FREEABLE(i)); i++
		:: else -> break
		od;
		/* every round opened was decided; the counters add up */
		i = 1;
		do
		:: i <= NUM(mem[W_WORD]) ->
			assert(g_outcome[i] != UNDECIDED);
			cnt[g_outcome[i]]++;
			emits = emits + g_emitted[i];
			/* exactly once: every consumer the round was published
			 * to took it, or died, or left with it pending */
			rj = 0;
			do
			:: rj < NC ->
				assert(!(g_mask[i] & (1 << rj)) ||
				       g_died[CTOKEN(rj)] ||
				       (g_got[rj] & (1 << i)) ||
				       (g_dropped[rj] & (1 << i)));
				rj++
			:: else -> break
			od;
			i++
		:: else -> break
		od;
		do
		:: i <= KMAX -> assert(g_outcome[i] == UNDECIDED); i++
		:: else -> break
		od;
		assert(mem[W_CNT(RESOLVED)] == cnt[RESOLVED]);
		assert(mem[W_CNT(TIMEDOUT)] == cnt[TIMEDOUT]);
		assert(mem[W_CNT(CANCELED)] == cnt[CANCELED]);
		assert(mem[W_CNT(OWNERDEAD)] == cnt[OWNERDEAD]);
		assert(mem[W_EMITS] == emits);
		assert(mem[W_DELIVS] == g_deliv)
	};
	broker_unlock()
}
