/*
 * The state's internals, for clusterm/core/ only (state.c, oplog.c, the
 * applier's modules, records.c). Outside core/, struct state is opaque:
 * state.h's accessors say which lock they take or need.
 */
#ifndef STATE_IMPL_H
#define STATE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "rings.h"
#include "store.h"
#include "votes.h"

/* The ring changes kept for observers.c's burst test (OBSERVERS_BURST_CHANGES). */
#define STATE_RING_CHANGES_KEEP 64

/* state.h's types, by pointer (state.h includes nothing of this file). */
struct audit_event;
struct job_rec;
struct op;
struct pending;
struct watermark;

/* A serf member that has voted: its votes count unless its node is Disappeared. */
struct reporter {
	char *name;
	uint32_t node;		/* id of the node whose Node-Name it is, or VOTE_NO_REPORTER */
	bool counts;
	uint32_t *voted;	/* ids of the nodes it has an entry on, each once */
	uint32_t nvoted, capvoted;
	/* Its record (CONTRACT 11, reporters.h): what it sent last, and when. */
	char *epoch;		/* "" none */
	uint64_t last_seq;
	long long heard_ms;	/* its last POST, heartbeats included; 0 never */
	long long sync_ms;	/* its last snapshot; 0 never */
	long long hb_ms;	/* its last heartbeat; 0 never */
	uint64_t batches, reports;
	long long spool_depth;	/* X-Spool-Depth last sent, -1 never */
	/* The heartbeat queue (reporters by hb_ms, oldest first), ids. */
	uint32_t hb_prev, hb_next;
	bool hb_queued;
};

struct state {
	/*
	 * The applier takes it exclusively, readers (GETs, snapshots) shared.
	 * Everything from here to the pipeline's fields is under it.
	 */
	pthread_rwlock_t lock;
	struct inventory *inv;
	struct strmap *wm_index;	/* reporter -> struct watermark * */
	struct watermark **wms;
	size_t nwms, capwms;
	struct strmap *rep_index;	/* member name -> reporter id + 1 */
	struct reporter *reps;
	uint32_t nreps, capreps;
	struct votes_params params;
	struct rings *rings;		/* observers: the Discovered nodes on K rings */
	/* Transient (observers.c): times of the last ring changes, a ring buffer. */
	long long ring_changes_ms[STATE_RING_CHANGES_KEEP];
	unsigned ring_changes_head;
	bool disruption;
	long long disruption_changed_ms;
	size_t gone_count;		/* nodes Disappeared now */
	uint32_t *recent;		/* ids of nodes turned Disappeared, oldest first */
	long long *recent_ms;
	size_t recent_head, recent_n, recent_cap, recent_live;
	uint32_t hb_head, hb_tail;	/* the heartbeat queue, VOTE_NO_REPORTER empty */
	uint32_t *heap;			/* node ids by grace deadline */
	size_t nheap, capheap;
	uint32_t *reap;			/* Disappeared, Unallocated node ids by disappeared_ms */
	size_t nreap, capreap;
	uint32_t *work;			/* nodes to evaluate again in this operation */
	size_t nwork, capwork;
	uint32_t *round;		/* the cascade round being evaluated (intake.c) */
	size_t capround;
	uint64_t mark;			/* operations applied (marks nodes) */
	size_t changes;			/* state changes of the operation being applied */
	const char *actor, *why;	/* who and why, for the operation's audit lines */
	long long now;			/* the operation's time */

	struct job_rec **jobs;
	size_t njobs, capjobs;
	uint64_t next_job_id;
	char *globals;			/* JSON object text, "{}" by default */
	char *ansible_override;		/* JSON text of POST /config, NULL none */

	/* The audit log: a ring of the newest STATE_EVENTS_KEEP events. */
	struct audit_event *events;
	size_t events_head, nevents;	/* oldest at events_head */
	uint64_t next_event_id;

	long long started_ms;
	bool recovering;		/* replaying the log at start */
	int64_t applied_rev;		/* shared log: the position applied (write lock) */
	bool key_partial;		/* shared log: part of a log key applied (write lock) */
	struct state *reload;		/* shared log: the state a reload builds (its thread) */
	struct votes_params initial_params;	/* what a replay of the whole log starts from */
	uint64_t snap_bytes;		/* size of the last snapshot (ticker only) */
	uint64_t snap_records;		/* log records that call for a snapshot */

	/* The pipeline (its own locks). */
	struct store *store;
	bool shared;			/* a shared log (etcd): applied by its follower thread */
	pthread_mutex_t append_mu;	/* orders appends: the log order */
	pthread_mutex_t list_mu;	/* the pending list */
	pthread_cond_t list_cv;		/* signalled when the list empties */
	struct pending *head, *tail;
	uint64_t applied_seq;		/* under apply_mu (and lock, write) */
	pthread_mutex_t apply_mu;	/* who applies: one submitter at a time */
	pthread_cond_t apply_cv;	/* signalled when applied_seq moves */
	bool applying;			/* under apply_mu: a submitter is applying */
	bool failed;			/* under append_mu */
	char fail_why[256];
	long long clock_base_ms, clock_base_mono, clock_last_ms;	/* under append_mu */
	void (*apply)(struct state *s, struct op *op, void *arg);	/* a state_apply_fn */
	void *apply_arg;

	/* Watchers of the audit log (event streams): woken after each apply. */
	pthread_mutex_t watch_mu;
	pthread_cond_t watch_cv;	/* CLOCK_MONOTONIC */
	uint64_t watch_next_event;	/* next_event_id as of the last apply */
	bool watch_closed;		/* state_wake_watchers(s, true): shutting down */
};

/* Puts node id on the apply step's work list (write lock held). */
void state_work_push(struct state *s, uint32_t id);

#endif
