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
#include "jobs.h"
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

/* A provisioning job as clusterm records it (the runner's view is jobs.h). */
struct job_rec {
	uint64_t id;
	enum job_op op;
	char **nodes;		/* node names, or addresses for discover (owned) */
	size_t nnodes;
	char **groups;		/* each node's host group for the job (owned), "" none */
	char *host_group;	/* the group the request named, "" none */
	char *extra_vars;	/* the request's JSON text */
	enum job_state status;
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
	char *kind;		/* "state", "status", "request", "job", "config", "forget", "report" */
	char *old_val, *new_val;
	char *actor;		/* token name, remote address, reporter or "clusterm" */
	char *comment;
};

struct state;

/* Applies one durable operation (apply.c); must not fail: it cannot be undone. */
typedef void (*state_apply_fn)(struct state *s, struct op *op, void *arg);




/* Under the read lock: the reporter's watermark, NULL when none. */
struct watermark *state_watermark(struct state *s, const char *reporter);
/*
 * Readers outside core/ see struct state through these. The lock: readers
 * take it shared (state_rdlock), code changing fields outside an operation
 * (a reload) exclusively (state_wrlock); state_unlock releases either.
 */
void state_rdlock(struct state *s);
void state_wrlock(struct state *s);
void state_unlock(struct state *s);

/* Lock held: the nodes (owned by the state). */
struct inventory *state_inventory(const struct state *s);
/* Lock held: the job records, oldest first (i < state_njobs(s)). */
size_t state_njobs(const struct state *s);
struct job_rec *state_job_at(const struct state *s, size_t i);
/* Lock held: the globals' JSON text; the ansible override's, NULL none. */
const char *state_globals(const struct state *s);
const char *state_ansible_override(const struct state *s);
/* Lock held: how many audit events are kept; the id the next one gets. */
size_t state_nevents(const struct state *s);
uint64_t state_next_event_id(const struct state *s);
/* Lock held: whether the disruption window holds; ret_changed_ms (may be NULL) when it last turned. */
bool state_disruption(const struct state *s, long long *ret_changed_ms);
/* Lock held: the monitor parameters in force. */
const struct votes_params *state_params(const struct state *s);
/* Lock held: how many reporters are interned; the name of reporter rid < that. */
uint32_t state_nreporters(const struct state *s);
const char *state_reporter_name(const struct state *s, uint32_t rid);
/* No lock: the store (set at open, owned by the state). */
struct store *state_store(const struct state *s);

/*
 * A fresh, empty state (the pipeline's locks initialised, no store yet);
 * NULL on out-of-memory. oplog.c opens and recovers it.
 */
struct state *state_new(const struct votes_params *params, state_apply_fn apply,
    void *apply_arg);
/* Closes the store and frees everything; accepts NULL. */
void state_close(struct state *s);
/*
 * Write lock held: empties the model (nodes, votes, jobs, events, globals)
 * as state_new() made it, for a reload of a shared log from its snapshot.
 */
int state_reset(struct state *s);
/*
 * Both write-locked (or not visible): swaps the models of a and b (nodes,
 * votes, jobs, events, globals, the shared log's position), for a reload
 * built in b to replace the state in force in a in one step.
 */
void state_swap_model(struct state *a, struct state *b);

/* Applier: sets the watermark. Aborts on out-of-memory (see apply.c). */
void state_set_watermark(struct state *s, const char *reporter, const char *epoch,
    uint64_t seq);

/* Applier: the id of reporter name, interned when new. */
uint32_t state_reporter(struct state *s, const char *name);
/* The id of reporter name, or VOTE_NO_REPORTER. Lock held. */
uint32_t state_reporter_find(const struct state *s, const char *name);
/*
 * Whether reporter rid's vote on n counts: its node is not Disappeared and,
 * with observers (monitor.observers > 0), it is one of n's observers. Lock
 * held.
 */
bool state_reporter_counts(uint32_t rid, const struct node *n, void *s);

/* Applier: appends an audit event at the operation's time (strings copied). */
void state_event(struct state *s, const char *node, const char *kind, const char *old_val,
    const char *new_val, const char *actor, const char *comment);
/* Adds an event decoded from a snapshot (taken over), oldest first. */
void state_event_put(struct state *s, struct audit_event *e);
/* Frees an event's strings and zeroes it. */
void audit_event_finish(struct audit_event *e);
/* Lock held: the i-th event, oldest first (i < state_nevents(s)). */
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
