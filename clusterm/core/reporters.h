/*
 * Per-reporter records (CONTRACT 11): what each reporter sent last and
 * when, and the heartbeat queue that finds nodes whose heartbeats went
 * stale without scanning them all. The records live on the interned
 * reporters of the state (state_impl.h); time comes from the operations.
 */
#ifndef REPORTERS_H
#define REPORTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

/* A reporter's record as readers see it (strings point into the state). */
struct reporter_view {
	const char *name;
	const char *epoch;		/* "" none */
	uint64_t last_seq;
	long long heard_ms;		/* last POST of any kind, 0 never */
	long long sync_ms;		/* last snapshot, 0 never */
	long long hb_ms;		/* last heartbeat, 0 never */
	uint64_t batches;		/* event batches taken (duplicates not) */
	uint64_t reports;		/* reports taken, snapshots' members too */
	long long spool_depth;		/* X-Spool-Depth last sent, -1 never */
};

/* Lock held: reporter rid's record (rid < state_nreporters(s)). */
void reporters_get(const struct state *s, uint32_t rid, struct reporter_view *ret);

/* Whether v was not heard for monitor.reporter_stale_s at now_ms. */
bool reporters_stale(const struct reporter_view *v, const struct votes_params *p,
    long long now_ms);

/* Lock held: whether a POST from name may be taken (known, or room under LIMIT_REPORTERS). */
bool reporters_room(const struct state *s, const char *name);

/*
 * Applier: rid was heard at the operation's time; its epoch and seq (kept
 * as the highest of an epoch), and the spool depth it sent (-1 none).
 */
void reporters_heard(struct state *s, uint32_t rid, const char *epoch, uint64_t seq,
    bool has_seq, long long spool_depth);

/* Applier: rid's heartbeat at the operation's time; it goes to the queue's tail. */
void reporters_heartbeat(struct state *s, uint32_t rid);

/*
 * Applier: takes off the queue the oldest reporter whose heartbeat is
 * monitor.heartbeat_timeout_s old at now_ms; VOTE_NO_REPORTER when none.
 */
uint32_t reporters_hb_due(struct state *s, long long now_ms);

/* Lock held: when the queue's oldest heartbeat turns stale, 0 when empty. */
long long reporters_hb_next(const struct state *s);

/*
 * Decoding a snapshot: links the queue from the records, each queued one's
 * place held in its hb_prev meanwhile (records.c).
 */
void reporters_rebuild_queue(struct state *s);

#endif
