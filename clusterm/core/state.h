/*
 * The manager's state: its data and the accessors the applier (apply.c,
 * intake.c, lifecycle.c) and readers use. Every change is an operation
 * (ops.h) that oplog.h submits; readers take the read lock and only ever
 * see applied, hence durable, operations.
 */
#ifndef STATE_H
#define STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "ops.h"
#include "store.h"
#include "votes.h"

/* Audit events kept (in memory, in snapshots); older ones are dropped. */
#define STATE_EVENTS_KEEP	20000

/*
 * Snapshot once the log behind the last one holds this much, and at least
 * as many bytes as that snapshot had (twice as many by bytes alone), so that
 * writing snapshots costs no more than writing the log (a snapshot of a
 * cluster of N nodes holds N^2 votes).
 */
#define STATE_SNAPSHOT_RECORDS	200000
#define STATE_SNAPSHOT_BYTES	(64ull * 1024 * 1024)

/* Longest a snapshot waits for operations in flight to be applied. */
#define STATE_SNAPSHOT_DRAIN_MS	5000

/* The last batch applied from one reporter. */
struct watermark {
	char *reporter;
	char *epoch;
	uint64_t seq;
};

/* A serf member that has voted: its votes count unless its node is Disappeared. */
struct reporter {
	char *name;
	uint32_t node;		/* id of the node whose Node-Name it is, or VOTE_NO_REPORTER */
	bool counts;
	uint32_t *voted;	/* ids of the nodes it has an entry on, each once */
	uint32_t nvoted, capvoted;
};

/* A provisioning job as clusterm records it (the runner's view is jobs.h). */
struct job_rec {
	uint64_t id;
	enum job_op op;
	char **nodes;		/* node names, or addresses for discover (owned) */
	size_t nnodes;
	char **groups;		/* each node's host group for the job (owned), "" none */
	char *host_group;	/* the group the request named, "" none */
	char *extra_vars;	/* the request's JSON text */
	int status;		/* enum job_state of jobs.h */
	long long created_ms, started_ms, ended_ms;
	int exit_code;		/* -1 none */
	char *error;		/* "" none */
	char *actor;
	/* The latest step's process group (OP_JOB_STARTED), for a restart to end it. */
	int pgid;		/* 0 none */
	int sid;		/* its session */
	unsigned long long start_ticks;	/* its leader's start, /proc/PID/stat field 22 */
	char boot_id[40];	/* of that start (JOBS_BOOT_ID_SIZE), "" unknown */
};

/* One line of the audit log: who changed what, and why. */
struct audit_event {
	uint64_t id;
	long long time_ms;
	char *node;		/* "" when not about a node */
	char *kind;		/* "state", "status", "request", "job", "config" */
	char *old_val, *new_val;
	char *actor;		/* token name, remote address, reporter or "clusterm" */
	char *comment;
};

struct state;
struct strmap;

/* Applies one durable operation (apply.c); must not fail: it cannot be undone. */
typedef void (*state_apply_fn)(struct state *s, struct op *op, void *arg);

struct pending;

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
	bool disruption;
	long long disruption_changed_ms;
	size_t gone_count;		/* nodes Disappeared now */
	uint32_t *recent;		/* ids of nodes turned Disappeared, oldest first */
	long long *recent_ms;
	size_t recent_head, recent_n, recent_cap, recent_live;
	uint32_t *heap;			/* node ids by grace deadline */
	size_t nheap, capheap;
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
	uint64_t snap_bytes;		/* size of the last snapshot (ticker only) */

	/* The pipeline (its own locks). */
	struct store *store;
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
	state_apply_fn apply;
	void *apply_arg;

	/* Watchers of the audit log (event streams): woken after each apply. */
	pthread_mutex_t watch_mu;
	pthread_cond_t watch_cv;	/* CLOCK_MONOTONIC */
	uint64_t watch_next_event;	/* next_event_id as of the last apply */
	bool watch_closed;		/* state_wake_watchers(s, true): shutting down */
};



/* Under the read lock: the reporter's watermark, NULL when none. */
struct watermark *state_watermark(struct state *s, const char *reporter);
/*
 * A fresh, empty state (the pipeline's locks initialised, no store yet);
 * NULL on out-of-memory. oplog.c opens and recovers it.
 */
struct state *state_new(const struct votes_params *params, state_apply_fn apply,
    void *apply_arg);
/* Closes the store and frees everything; accepts NULL. */
void state_close(struct state *s);

/* Applier: sets the watermark. Aborts on out-of-memory (see apply.c). */
void state_set_watermark(struct state *s, const char *reporter, const char *epoch,
    uint64_t seq);

/* Applier: the id of reporter name, interned when new. */
uint32_t state_reporter(struct state *s, const char *name);
/* The id of reporter name, or VOTE_NO_REPORTER. Lock held. */
uint32_t state_reporter_find(const struct state *s, const char *name);
/* Whether reporter rid's votes count (its node is not Disappeared). Lock held. */
bool state_reporter_counts(uint32_t rid, void *s);

/* Applier: appends an audit event at the operation's time (strings copied). */
void state_event(struct state *s, const char *node, const char *kind, const char *old_val,
    const char *new_val, const char *actor, const char *comment);
/* Adds an event decoded from a snapshot (taken over), oldest first. */
void state_event_put(struct state *s, struct audit_event *e);
/* Frees an event's strings and zeroes it. */
void audit_event_finish(struct audit_event *e);
/* The i-th event, oldest first (i < s->nevents). */
const struct audit_event *state_event_at(const struct state *s, size_t i);

/* Applier: a new job record (id assigned, taken into the table). */
struct job_rec *state_job_new(struct state *s, enum job_op op);
/* Adds a job record decoded from a snapshot (taken over). -ENOMEM. */
int state_job_put(struct state *s, struct job_rec *j);
struct job_rec *state_job_get(const struct state *s, uint64_t id);
void job_rec_free(struct job_rec *j);

/* Applier: replaces the globals / the ansible override (NULL none). */
void state_set_globals(struct state *s, const char *json);
void state_set_ansible_override(struct state *s, const char *json);



/* Aborts the process: an operation that is durable could not be applied. */
void state_apply_oom(const char *what) __attribute__((noreturn));

/*
 * Applier: the timer heap holds nodes with a pending grace deadline.
 * state_timer_set moves n's deadline (0 takes it off); state_timer_due pops
 * a node whose deadline is at or before now, NULL when none is due.
 */
void state_timer_set(struct state *s, struct node *n, long long deadline_ms);
struct node *state_timer_due(struct state *s, long long now_ms);
/* The earliest deadline, 0 when none (lock held). */
long long state_timer_next(const struct state *s);

/*
 * Applier: the disruption window, nodes that turned Disappeared lately:
 * enter when n turns Disappeared at ms, leave when it comes back; count
 * drops entries older than window_ms before now_ms and returns how many
 * nodes are in it and still Disappeared.
 */
void state_window_enter(struct state *s, struct node *n, long long ms);
void state_window_leave(struct state *s, struct node *n);
size_t state_window_count(struct state *s, long long now_ms, long long window_ms);

/* Rebuilds what snapshots leave out (reporter bindings, counts, heap, window). */
void state_rebuild_derived(struct state *s);

#endif
