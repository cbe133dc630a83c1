/*
 * kaio.pml: a SPIN model of kaio's cancel protocol (issue 8, part 1).
 *
 * What runs: two submitters (io_submit on two cpus), one canceller (io_cancel
 * by key), a pipe writer, the pipe kworker, a block device thread, a reaper
 * (io_getevents) and io_destroy, all on one context of NR ids and a ring of
 * RING_NR = NR + 1 slots. Every transition names, in its comment, the function
 * in assembly/ it mirrors. docs/MODEL.md says what is abstracted and why.
 *
 * Variants (spin -D...): SEED_BUG_1..4 put back the bugs of the seed patch
 * (PATCH 18/21, "Seed bugs fixed" in assembly/kiocb.ts); MUT_NO_RECHECK,
 * MUT_TAG_BEFORE_KEY and MUT_CB_NO_GEN are mutations of kaio itself. Each must
 * give a counterexample; the plain model must give none.
 */

/* ---- bounds ------------------------------------------------------------- */
#define NR        2     /* CX_NR: ids (tags) and ring reservations */
#define RING_NR   3     /* CX_RING_NR = NR + 1: head == tail means empty */
#define NSUB      3     /* request instances: 0 block (cpu A), 1 pipe (cpu B), 2 pipe (cpu A) */
#define NONE      255

/*
 * ---- scenarios (spin -DSCEN=n): one protocol, five bounded compositions ----
 * All actors at once is beyond a minute of search (SPIN's partial-order
 * reduction does little for shared-variable models), so each scenario runs the
 * actors its properties need, and abstracts the rest (docs/MODEL.md):
 *  1 cancel, no callback: a block read, then a block read reusing an id; canceller; device.
 *  2 cancel, callbacks:   a pipe read that may re-arm its callback, then one reusing an id; canceller; writer; kworker.
 *  3 ring:                the real reservation / publication / advance / reaper; a block read's device thread and a NOOP's submitter publish at once.
 *  4 destroy:             io_destroy concurrent with submit, cancel, completion and a reaper (context references).
 *  5 late callback, reuse: as 2 without re-arming, but the second pipe read is submitted by another
 *                          cpu, so it can take the id while the first read's late callback (run by
 *                          its own submitter inside set_cancel_fn) has not yet taken the pipe lock.
 * Scenarios 1-3 start io_destroy after the other syscalls (LATE_DESTROY) and
 * publish/reap in one step (RING_ATOMIC/REAP_ATOMIC) unless the ring is the subject.
 */
#ifndef SCEN
#define SCEN 1
#endif
#if SCEN != 3
#define RING_ATOMIC
#define REAP_ATOMIC
#endif
#if SCEN != 4
#define LATE_DESTROY
#endif
#ifndef REARM
#define REARM (SCEN == 2)
#endif
#if SCEN == 3 || SCEN == 5
#define NSUBMITTERS 2
#else
#define NSUBMITTERS 1
#endif

/*
 * ---- constants of assembly/include/layout.ts and errno.ts ---------------------------
 * Same values as the code (test/model-spin.test.ts compares them): the ki_cancel
 * states are 32-bit words; Promela has no hex and its int is signed, so
 * 0xfffffffd is written as -3 (the same 32 bits).
 */
#define KIOCB_CANCELLABLE 0
#define CB_PIPE           1     /* a registered callback: in the code, pipe_cancel_cb's function-table index (any value between CANCELLABLE and FREE) */
#define KIOCB_FREE        -3    /* 0xfffffffd */
#define KIOCB_CANCELLING  -2    /* 0xfffffffe */
#define KIOCB_CANCELLED   -1    /* 0xffffffff */
#define CTX_FREE          0
#define CTX_LIVE          2
#define CTX_DYING         3
#define WQ_NONE           0
#define WQ_READ           1
#define WQ_CANCELLED      4
#define EINVAL            22
#define EINPROGRESS       115
#define ECANCELED         125
#define RES_OK            1     /* a normal result (bytes read) */

/* ---- shared state ------------------------------------------------------- */
/* ki_cancel words (KI_CW), one per id: [ generation | state ]. Generation 1 first (cw_page). */
int  cw_st[NR] = KIOCB_FREE;
byte cw_gen[NR] = 1;
bit  tag_busy[NR];              /* tags.ts: id held (tag_alloc .. tag_free) */

byte ctxst = CTX_LIVE;          /* CX_STATE_GEN's state */
byte users;                     /* CX_USERS + cpurefs: syscalls inside the context */
byte inflight;                  /* sum of PC_INFLIGHT */

/* ring.ts */
byte reqs = NR;                 /* CX_REQS (per-cpu PC_REQS caches abstracted) */
byte returned;                  /* CX_RETURNED */
byte prod;                      /* CX_PROD */
byte commit;                    /* CX_COMMIT */
bit  commit_lock;               /* CX_COMMIT_LOCK */
byte ready[RING_NR];            /* ready marks: p + 1 */
byte ev_inst[RING_NR];          /* the io_event: whose (ghost: instance) ... */
short ev_res[RING_NR];          /* ... and its res */
byte head;                      /* RING_HEAD */
byte tail;                      /* RING_TAIL */

/* pipe.ts: one pipe, its lock abstracted (critical sections are atomic) */
byte avail;                     /* wpos - rpos */
byte which[NR];                 /* KI_WQ_WHICH */
byte rseq[NR];                  /* FIFO order of the read queue */
byte winst[NR];                 /* ghost: the instance waiting there */
byte seqc;
bit  queued;                    /* P_QUEUED / the kworker's doorbell */

/* blk.ts: the device's software queue: the instance queued on each id */
byte bq[NR] = NONE;

/* ---- ghost state (not in kaio; what the properties talk about) ---------- */
byte live[NR] = NONE;           /* instance whose word is live (kiocb_publish .. retire) */
bit  submitted[NSUB];
bit  keyed[NSUB];               /* its aio_key is known (ctx_enumerate, or io_submit returned) */
byte key_id[NSUB];
byte key_gen[NSUB];
bit  asked[NSUB];               /* a cancel of it took effect (kiocb_cancel's cmpxchg won) */
bit  retired[NSUB];             /* its key was retired (aio_complete step 3) */
bit  published[NSUB];
byte reaped[NSUB];
byte discarded[NSUB];
byte late_reg[NSUB];            /* callbacks registered after its cancel was asked */
byte late_run[NSUB];            /* ... and run */
byte reserved;                  /* successful get_reqs */
byte head_abs;                  /* events consumed (head, not modulo) */
byte subs_done;
bit  cancel_done;
bit  destroyed;

/* locals every actor needs (inline bodies expand into the proctype) */
#define KLOCALS \
	int st; byte g; byte gen; int nw; bit won; bit snap; short ret; \
	byte p; byte c; byte c0; bit got; bit kick; byte h; byte t; byte n; byte j; \
	int cons; byte r; byte d; byte kk; short rr

/* ---- kiocb.ts ------------------------------------------------------------- */

/* run_cancel_cb -> pipe_cancel_cb (pipe.ts): under the pipe lock, re-check the
 * generation, then move a waiting reader to the cancelled queue; kick the kworker. */
inline pipe_cancel_cb(id, cgen) {
	atomic {
#ifdef MUT_CB_NO_GEN
		if
		:: which[id] == WQ_READ -> which[id] = WQ_CANCELLED; kick = 1
		:: else -> kick = 0
		fi
#else
		if
		:: (cw_gen[id] == cgen && which[id] == WQ_READ) -> which[id] = WQ_CANCELLED; kick = 1
		:: else -> kick = 0
		fi
#endif
	};
	if
	:: kick -> queued = 1          /* pipe_queue_work */
	:: else
	fi
}

/* kiocb_cancel(req, cw, gen): -EINPROGRESS or -EINVAL in ret. kc is the ghost
 * instance the caller's key names (NONE: none). snap: was kc retired when the
 * value the decision rests on was read (S5's "already completed"). */
inline kiocb_cancel(id, kgen, kc) {
	d_step {                        /* atomic.load<u64>(cw) */
		st = cw_st[id]; g = cw_gen[id];
		snap = (kc != NONE && retired[kc])
	};
	won = 0;
	do
#ifdef SEED_BUG_3
	:: (st == KIOCB_FREE) -> ret = -EINVAL; break          /* no generation in the key */
#else
	:: (g != kgen || st == KIOCB_FREE) -> ret = -EINVAL; break
#endif
	:: else ->
		if
		:: (st == KIOCB_CANCELLING || st == KIOCB_CANCELLED) -> ret = -EINPROGRESS; break
		:: else ->
#ifdef SEED_BUG_1
			nw = KIOCB_CANCELLING;  /* the seed computed new, then cmpxchg'd CANCELLING */
#else
			nw = (st == KIOCB_CANCELLABLE -> KIOCB_CANCELLED : KIOCB_CANCELLING);
#endif
			d_step {                /* atomic.cmpxchg<u64>(cw, old, pack(gen, nw)) */
				if
				:: (cw_st[id] == st && cw_gen[id] == g) ->
					cw_st[id] = nw; cw_gen[id] = kgen; won = 1;
					/* a stale key never marks a new occupant */
					assert(live[id] == kc);
					if
					:: kc != NONE -> asked[kc] = 1; snap = retired[kc]
					:: else
					fi
				:: else ->
					st = cw_st[id]; g = cw_gen[id];
					snap = (kc != NONE && retired[kc])
				fi
			};
			if
			:: won -> ret = -EINPROGRESS; break
			:: else
			fi
		fi
	od;
	if
	:: (won && st != KIOCB_CANCELLABLE) ->
		pipe_cancel_cb(id, kgen);       /* run_cancel_cb(st, req, gen): CB_PIPE */
		d_step { cw_st[id] = KIOCB_CANCELLED; cw_gen[id] = kgen }  /* atomic.store: CANCELLED after the callback */
	:: else
	fi;
	/* blk_cancel_kick: the device thread below checks the mark when it dequeues */
	atomic { st = 0; g = 0; nw = 0; won = 0; kick = 0 }  /* (dead locals reset) */
}

/* kiocb_set_cancel_fn(req, gen, cb) for instance k: CB_PIPE, or run it at once
 * if the cancel came first. */
inline kiocb_set_cancel_fn(id, sgen, k) {
	d_step { st = cw_st[id]; g = cw_gen[id]; snap = asked[k] };   /* atomic.load<u64>(cw) */
	won = 0;
	do
	:: (g != sgen || st == KIOCB_FREE) -> break                   /* completed: nothing to cancel */
	:: else ->
		if
#ifdef SEED_BUG_4
		:: (st == KIOCB_CANCELLED) ->                              /* the seed ran it only on CANCELLED */
#else
		:: (st == KIOCB_CANCELLING || st == KIOCB_CANCELLED) ->
#endif
			d_step { late_reg[k] = late_reg[k] + snap; late_run[k] = late_run[k] + snap };
			pipe_cancel_cb(id, sgen);                              /* run_cancel_cb(cb, req, gen) at once */
			break
		:: else ->
			d_step {                                               /* atomic.cmpxchg<u64>(cw, old, pack(gen, cb)) */
				if
				:: (cw_st[id] == st && cw_gen[id] == g) ->
					cw_st[id] = CB_PIPE; cw_gen[id] = sgen; won = 1;
					late_reg[k] = late_reg[k] + asked[k]
				:: else ->
					st = cw_st[id]; g = cw_gen[id]; snap = asked[k]
				fi
			};
			if
			:: won -> break
			:: else
			fi
		fi
	od;
	atomic { st = 0; g = 0; snap = 0; won = 0; kick = 0 }  /* (dead locals reset) */
}

/* ---- ring.ts -------------------------------------------------------------- */

/* ring_advance: under the try-lock commit_lock, move tail over consecutive
 * ready marks; re-check after unlocking. */
inline ring_advance() {
	c = commit;                                         /* atomic.load CX_COMMIT */
	if
	:: (ready[c % RING_NR] != c + 1) -> skip           /* atomic.load ready: nothing ready at commit */
	:: else ->
		do
		:: atomic {                                     /* atomic.cmpxchg CX_COMMIT_LOCK 0 -> 1 */
			if
			:: commit_lock == 0 -> commit_lock = 1; got = 1
			:: else -> got = 0
			fi
		   };
		   if
		   :: !got -> break                             /* the holder re-checks for us */
		   :: else
		   fi;
		   c0 = commit;                                 /* atomic.load CX_COMMIT */
		   /* the scan of ready marks as one step: marks only appear, and the
		    * scan stops at the first absent one, so its result is that of an
		    * atomic scan at the time of its last load */
		   d_step {
			c = c0;
			do
			:: (ready[c % RING_NR] == c + 1) -> c++ /* atomic.load ready */
			:: else -> break
			od
		   };
		   if
		   :: c != c0 ->
			commit = c;                             /* atomic.store CX_COMMIT (before tail) */
			tail = c % RING_NR                      /* atomic.store RING_TAIL: release the events */
		   :: else
		   fi;
		   commit_lock = 0;                             /* atomic.store CX_COMMIT_LOCK 0 */
#ifdef MUT_NO_RECHECK
		   break
#else
		   c = commit;                                  /* re-check: atomic.load CX_COMMIT */
		   if
		   :: (ready[c % RING_NR] != c + 1) -> break     /* atomic.load ready */
		   :: else
		   fi
#endif
		od
	fi;
	atomic { c = 0; c0 = 0; got = 0; p = 0 }            /* (dead locals reset: not kaio) */
}

/* publish_at: write the event at position p and mark it ready. */
inline publish_at(k, res) {
	d_step {
		/* the slot was reserved at submit: its previous event was consumed */
		assert(p < head_abs + RING_NR);
		/* exactly one event per request; -ECANCELED only if a cancel took effect */
		assert(!published[k]);
		assert(res != -ECANCELED || asked[k]);
		published[k] = 1;
		ev_inst[p % RING_NR] = k; ev_res[p % RING_NR] = res;   /* the io_event stores */
		ready[p % RING_NR] = p + 1                              /* atomic.store ready (release) */
	}
}

/* ring_publish(..., advance = true) and ring_publish_staged (n = 1) */
#ifdef RING_ATOMIC
inline ring_publish(k, res) {
	atomic {
		p = prod; prod++;
		publish_at(k, res);
		commit = prod; tail = prod % RING_NR; p = 0
	}
}
#else
inline ring_publish(k, res) {
	d_step { p = prod; prod++ };                        /* atomic.add CX_PROD */
	publish_at(k, res);
	ring_advance()
}
#endif

/* refill: credit back the slots of consumed events. */
inline refill() {
	c = commit;                                         /* atomic.load CX_COMMIT */
	h = head;                                           /* atomic.load RING_HEAD */
	cons = c - ((c % RING_NR + RING_NR - h) % RING_NR); /* consumed = c - in_ring */
	r = returned;                                       /* atomic.load CX_RETURNED */
	do
	:: (cons - r > 0) ->
		d_step {                                    /* atomic.cmpxchg CX_RETURNED r -> consumed */
			if
			:: returned == r -> returned = cons; d = cons - r; got = 1
			:: else -> r = returned; got = 0
			fi
		};
		if
		:: got -> reqs = reqs + d; break           /* atomic.add CX_REQS */
		:: else
		fi
	:: else -> break
	od;
	atomic { c = 0; h = 0; cons = 0; r = 0; d = 0 }     /* (dead locals reset) */
}

/* get_reqs: reserve one ring slot (the per-cpu caches and stealing abstracted). */
inline get_reqs() {
	atomic {                                            /* atomic.cmpxchg CX_REQS g -> g - 1 */
		if
		:: reqs > 0 -> reqs--; got = 1; reserved++
		:: else -> got = 0
		fi
	};
	if
	:: !got ->
		refill();                                   /* pass 0 failed: refill, pass 1 */
		atomic {
			if
			:: reqs > 0 -> reqs--; got = 1; reserved++
			:: else -> got = 0
			fi
		}
	:: else
	fi
}

/* ---- completion ------------------------------------------------------------ */

/* aio_complete(cpu, req, res): decide, retire the key, free the tag, publish,
 * drop inflight. defer: inline completion inside io_submit (CPU_DEFER): the
 * event is staged and published by the submitter after (ring_publish_staged). */
inline aio_complete(id, k, res, defer) {
	d_step { st = cw_st[id]; g = cw_gen[id]; gen = g };   /* atomic.load<u64>(cw) */
	do
	:: (st == KIOCB_CANCELLING) ->                      /* cpu_relax; atomic.load: wait out the callback */
		atomic { cw_st[id] != KIOCB_CANCELLING -> st = cw_st[id]; g = cw_gen[id] }
	:: (st == KIOCB_CANCELLED) -> break
	:: else ->
		d_step {                                    /* atomic.cmpxchg<u64>(cw, old, pack(gen, CANCELLED)) */
			if
			:: (cw_st[id] == st && cw_gen[id] == g) ->
				cw_st[id] = KIOCB_CANCELLED; cw_gen[id] = gen; won = 1
			:: else -> st = cw_st[id]; g = cw_gen[id]; won = 0
			fi
		};
		if
		:: won -> break
		:: else
		fi
	od;
	skip;                                               /* (a break may not jump into a d_step) */
#ifdef MUT_TAG_BEFORE_KEY
	tag_busy[id] = 0;                                   /* 4. tag_free, too early */
#endif
	d_step {                                            /* 3. atomic.store<u64>(cw, pack(next_gen(gen), FREE)) */
#ifndef SEED_BUG_3
		cw_gen[id] = gen + 1; cw_st[id] = KIOCB_FREE;   /* (SEED_BUG_3: freed kiocbs stay CANCELLED) */
#endif
		retired[k] = 1;
		if
		:: live[id] == k -> live[id] = NONE
		:: else
		fi
	};
#ifndef MUT_TAG_BEFORE_KEY
	tag_busy[id] = 0;                                   /* 4. tag_free */
#endif
	if
	:: defer -> kk = k; rr = res                        /* 5. staged in the cpu's scratch */
	:: else -> ring_publish(k, res)                     /* 5. ring_publish */
	fi;
	d_step { inflight--; st = 0; g = 0; gen = 0; won = 0 }   /* 6. atomic.sub PC_INFLIGHT */
}

/* ---- ctxtab.ts, aio.ts: the submit side ------------------------------------ */

/* io_submit of one iocb for instance k; pipe: a read on the pipe, else a block read. */
#ifdef LATE_DESTROY
/* io_destroy waits for these syscalls to return: no context reference is needed */
#define CTX_GET_ANNOUNCE skip
#define CTX_PUT skip
#else
#define CTX_GET_ANNOUNCE users++
#define CTX_PUT users--
#endif
#ifdef LATE_DESTROY
#define CTX_NOT_LIVE false                          /* the context is live throughout these syscalls */
#else
#define CTX_NOT_LIVE (ctxst != CTX_LIVE)
#endif
inline io_submit(k, pipe, rearm) {
	if
	:: CTX_NOT_LIVE -> skip                             /* ctx_get_on: -EINVAL */
	:: else ->
		CTX_GET_ANNOUNCE;                           /* ctx_get_on: atomic.add cpuref */
		if
		:: CTX_NOT_LIVE -> CTX_PUT                  /* ctx_get_on's re-check: -EINVAL */
		:: else ->
			kk = NONE;
			submit_one(k, pipe, rearm);
			if
			:: kk != NONE ->                    /* io_submit: ring_publish_staged */
				ring_publish(kk, rr)
			:: else
			fi;
			d_step { kk = 0; rr = 0; CTX_PUT }  /* ctx_put_on */
		fi
	fi
}

/* submit_one: ring slot, tag, kiocb_publish, dispatch. */
inline submit_one(k, pipe, rearm) {
	get_reqs();
	if
	:: !got -> skip                                     /* -EAGAIN */
	:: else ->
		atomic {                                    /* tag_alloc (any free id: the caches' order abstracted) */
			if
			:: !tag_busy[0] -> j = 0
			:: !tag_busy[1] -> j = 1
			:: else -> j = NONE
			fi;
			/* a reserved ring slot implies a free id */
			assert(j != NONE);
			tag_busy[j] = 1
		};
		/* hi32(atomic.load(ki_cw(req))); atomic.add PC_INFLIGHT; kiocb_publish:
		 * atomic.store (gen, CANCELLABLE). One step: between them nothing
		 * another actor can observe happens (inflight is read by io_destroy
		 * only once users is 0, and the word is ours until it is published). */
		d_step {
			gen = cw_gen[j];
			inflight++;
			cw_gen[j] = gen; cw_st[j] = KIOCB_CANCELLABLE;
			live[j] = k; submitted[k] = 1;
			key_id[k] = j; key_gen[k] = gen; keyed[k] = 1
		};
		if
		:: pipe == 2 -> aio_complete(j, k, RES_OK, 1)  /* IOCB_CMD_NOOP: completes inline (staged) */
		:: pipe == 0 ->
			bq[j] = k                            /* blk_submit */
		:: pipe == 1 ->
			atomic {                            /* pipe_read_submit, under the pipe lock */
				if
				:: (avail > 0 && which[0] != WQ_READ && which[1] != WQ_READ) ->
					avail--; got = 1            /* data there, nobody queued: complete inline */
				:: else ->
					which[j] = WQ_READ; winst[j] = k; seqc++; rseq[j] = seqc; got = 0;
					kick = (avail > 0)
				fi
			};
			if
			:: got -> aio_complete(j, k, RES_OK, 1)
			:: else ->
				if
				:: kick -> queued = 1       /* pipe_queue_work */
				:: else
				fi;
				kiocb_set_cancel_fn(j, gen, k);
				if
				:: rearm -> kiocb_set_cancel_fn(j, gen, k)  /* a driver re-arming (the table's cb -> cb') */
				:: skip
				fi
			fi
		fi
	fi;
	atomic { j = 0; gen = 0; got = 0; kick = 0 }       /* (dead locals reset) */
}

/* ---- actors ------------------------------------------------------------------ */

#if SCEN == 2 || SCEN == 5
#define KIND_0 1
#define KIND_2 1
#elif SCEN == 4
#define KIND_0 0
#define KIND_2 1
#else
#define KIND_0 0
#define KIND_2 0
#endif
proctype submitter_a() {                /* a cpu: instance 0, then instance 2 (on a reused id, if one is free) */
	KLOCALS;
	io_submit(0, KIND_0, REARM);
#if SCEN != 5
	io_submit(2, KIND_2, 0);
#endif
	subs_done++
}

proctype submitter_b() {                /* another cpu (scenario 3): a NOOP, completed and published by this cpu */
	KLOCALS;
#if SCEN == 5
	io_submit(2, KIND_2, 0);        /* scenario 5: the second pipe read, from this cpu */
#else
	io_submit(1, 2, 0);
#endif
	subs_done++
}

/* io_cancel by key: a key it learnt (ctx_enumerate, or io_submit's aio_key; maybe
 * stale by now), or a bogus one with id == NR. */
proctype canceller() {
	KLOCALS;
	byte id; byte kgen; byte kc;
	if
	:: keyed[0] -> kc = 0
	:: keyed[1] -> kc = 1
	:: keyed[2] -> kc = 2
	:: kc = NONE
	fi;
	d_step {
		if
		:: kc != NONE -> id = key_id[kc]; kgen = key_gen[kc]
		:: else -> id = NR; kgen = 1
		fi
	};
	if
	:: CTX_NOT_LIVE -> skip                             /* ctx_get_on: -EINVAL */
	:: else ->
		CTX_GET_ANNOUNCE;
		if
		:: CTX_NOT_LIVE -> CTX_PUT
		:: else ->
#ifdef SEED_BUG_2
			if                                  /* lookup_kiocb: key > nr_events */
			:: id > NR -> ret = -EINVAL
#else
			if                                  /* kiocb_lookup: local >= CX_NR */
			:: id >= NR -> ret = -EINVAL
#endif
			:: else ->
				/* kiocb_from_id: the page array holds NR ids */
				assert(id < NR);
				kiocb_cancel(id, kgen, kc);
				/* S5: -EINPROGRESS iff found and not yet completed */
				assert(ret != -EINPROGRESS || !snap);
				assert(ret != -EINVAL || snap)
			fi;
			d_step { ret = 0; snap = 0; id = 0; kgen = 0; kc = 0; CTX_PUT }  /* ctx_put_on */
		fi
	fi;
	cancel_done = 1
}

proctype writer() {                     /* pipe_write_sync of one byte, or nothing */
	KLOCALS;
	if
	:: atomic { avail++; kick = (which[0] == WQ_READ || which[1] == WQ_READ) };
	   if
	   :: kick -> queued = 1
	   :: else
	   fi
	:: skip
	fi
}

/* kworker_run / pipe_service: cancelled waiters complete -ECANCELED, readers get data (FIFO). */
proctype kworker() {
	KLOCALS;
	byte rid[NR]; byte rk[NR]; short rres[NR]; byte i;
end_kw:
	do
	:: queued == 1 ->
		queued = 0;                                 /* re-arm P_QUEUED before serving */
		d_step {                                    /* pipe_service, under the pipe lock */
			n = 0;
			j = 0;
			do
			:: j < NR ->
				if
				:: which[j] == WQ_CANCELLED -> which[j] = WQ_NONE;
					rid[n] = j; rk[n] = winst[j]; rres[n] = -ECANCELED; n++
				:: else
				fi;
				j++
			:: else -> break
			od;
			do
			:: avail > 0 ->
				c = NONE; j = 0;
				do
				:: j < NR ->
					if
					:: (which[j] == WQ_READ && (c == NONE || rseq[j] < rseq[c])) -> c = j
					:: else
					fi;
					j++
				:: else -> break
				od;
				if
				:: c == NONE -> break
				:: else -> avail--; which[c] = WQ_NONE;
					rid[n] = c; rk[n] = winst[c]; rres[n] = RES_OK; n++
				fi
			:: else -> break
			od;
			i = 0
		};
		do                                          /* kworker_complete, after the lock */
		:: i < n -> aio_complete(rid[i], rk[i], rres[i], 0); i++
		:: else -> break
		od
	od
}

/* the block device thread: at dequeue a marked request never reaches the device (S6). */
proctype blkdev() {
	KLOCALS;
	byte id; byte k; short res;
end_blk:
	do
	:: atomic {                                         /* dequeue (any order) */
		if
		:: bq[0] != NONE -> id = 0
		:: bq[1] != NONE -> id = 1
		fi;
		k = bq[id]; bq[id] = NONE
	   };
		d_step {                                    /* kiocb_cancel_asked: atomic.load */
			st = cw_st[id];
			res = ((st == KIOCB_CANCELLED || st == KIOCB_CANCELLING) -> -ECANCELED : RES_OK)
		};
		aio_complete(id, k, res, 0)
	od
}

/* io_getevents: io_reap under ctx_get, ring_reap from head to tail. */
#ifdef REAP_ATOMIC
/* io_getevents as one step (the ring and the context reference abstracted):
 * take every event below tail while the context is live. */
proctype reaper() {
end_reap:
	do
	:: d_step {
		(tail != head && ctxst == CTX_LIVE) ->
		do
		:: head != tail ->
			assert(ready[head] == head_abs + 1);
			assert(reaped[ev_inst[head]] == 0 && discarded[ev_inst[head]] == 0);
			reaped[ev_inst[head]] = 1;
			head = (head + 1) % RING_NR; head_abs++
		:: else -> break
		od
	   }
	:: ctxst != CTX_LIVE -> break
	od
}
#else
proctype reaper() {
	KLOCALS;
end_reap:
	do
	:: ctxst != CTX_LIVE -> break                       /* ctx_get_on: -EINVAL */
	:: (tail != head && ctxst == CTX_LIVE) ->           /* woken: events below tail */
		if
		:: true ->
			users++;                            /* ctx_get_on (io_reap): the reference io_destroy waits out */
			if
			:: ctxst != CTX_LIVE -> users--; break
			:: else ->
				h = head;                   /* atomic.load RING_HEAD */
				/* atomic.load RING_TAIL, then copy the io_events below it (no one
				 * else writes them: their slots stay reserved until head moves) */
				d_step {
					t = tail;
					n = 0;
					do
					:: h != t ->
						assert(ready[h] == head_abs + n + 1);
						assert(reaped[ev_inst[h]] == 0 && discarded[ev_inst[h]] == 0);
						reaped[ev_inst[h]] = 1;
						h = (h + 1) % RING_NR; n++
					:: else -> break
					od
				};
				if
				:: n > 0 -> d_step { head = h; head_abs = head_abs + n }  /* atomic.store RING_HEAD */
				:: else
				fi;
				atomic { h = 0; t = 0; n = 0; users-- }  /* (dead locals reset); ctx_put_on */
			fi
		fi
	od
}

#endif

/* io_destroy: ctx_kill, wait users, ctx_cancel_all, wait inflight, io_reap_dying, ctx_free. */
proctype destroyer() {
	KLOCALS;
	byte id; byte kc;
#ifdef LATE_DESTROY
	(subs_done == NSUBMITTERS && cancel_done);          /* (bound: io_destroy after the other syscalls) */
#endif
	ctxst = CTX_DYING;                                  /* ctx_kill: cmpxchg LIVE -> DYING */
	(users == 0);                                       /* host waits for ctx_users == 0 */
	id = 0;
	do                                                  /* ctx_cancel_all: iterate the ids */
	:: id < NR ->
		d_step { st = cw_st[id]; gen = cw_gen[id]; kc = live[id] };   /* atomic.load(cw_lookup(gid)) */
		if
		:: st == KIOCB_FREE -> skip
		:: else -> kiocb_cancel(id, gen, kc)
		fi;
		id++
	:: else -> break
	od;
	(inflight == 0);                                    /* host waits for ctx_inflight == 0 */
	d_step {                                            /* io_reap_dying: the rest is discarded */
		/* every marked event was moved under tail (no event lost behind the ready marks) */
		assert(commit == prod);
		do
		:: head != tail ->
			assert(reaped[ev_inst[head]] == 0 && discarded[ev_inst[head]] == 0);
			discarded[ev_inst[head]] = 1;
			head = (head + 1) % RING_NR; head_abs++
		:: else -> break
		od
	};
	ctxst = CTX_FREE;                                   /* ctx_free */
	destroyed = 1
}

init {
	byte k;
	atomic {
		run submitter_a();
#if NSUBMITTERS == 2
		run submitter_b();
#endif
#if SCEN == 3
		cancel_done = 1;                /* no canceller: the ring is the subject */
#else
		run canceller();
#endif
#if SCEN == 2 || SCEN == 5
		run writer(); run kworker();
#endif
#if SCEN == 4
		run kworker();                  /* no writer: the pipe read ends by io_destroy's cancel */
#endif
#if SCEN != 2 && SCEN != 5
		run blkdev();
#endif

		run reaper(); run destroyer()
	};
	(destroyed && subs_done == NSUBMITTERS);
	d_step {
		/* every reserved slot was published once */
		assert(prod == reserved);
		k = 0;
		do
		:: k < NSUB ->
			/* exactly one event per request, seen once (reaped, or discarded by io_destroy) */
			assert(submitted[k] == published[k]);
			assert(reaped[k] + discarded[k] == published[k]);
			/* a callback registered after a cancel ran exactly once */
			assert(late_reg[k] == late_run[k]);
			k++
		:: else -> break
		od
	}
}

ltl destroy_terminates { <> destroyed }
