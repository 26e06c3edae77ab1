/*
 * The manager's state: one lock over the inventory and the reporter
 * watermarks, and their persistence through the store (recovery at start,
 * one log record per change, background snapshots).
 */
#ifndef STATE_H
#define STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "records.h"
#include "store.h"
#include "votes.h"

/* Audit events kept (in memory, in snapshots); older ones are dropped. */
#define STATE_EVENTS_KEEP	20000

/* Lifecycle operations (CONTRACT 3.3). */
enum job_op {
	JOB_OP_COMMISSION,
	JOB_OP_DECOMMISSION,
	JOB_OP_UPDATE,
	JOB_OP_DISCOVER,
	JOB_OP_COUNT
};

/* A provisioning job as clusterm records it (the runner's view is jobs.h). */
struct job_rec {
	uint64_t id;
	enum job_op op;
	char **nodes;		/* node names, or addresses for discover (owned) */
	size_t nnodes;
	char *host_group;	/* "" none */
	char *extra_vars;	/* the request's JSON text */
	int status;		/* enum job_state of jobs.h */
	long long created_ms, started_ms, ended_ms;
	int exit_code;		/* -1 none */
	char *error;		/* "" none */
	char *actor;
	bool dirty;		/* transient: to be logged */
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

/* Snapshot once the log behind the last one holds this much. */
#define STATE_SNAPSHOT_RECORDS	200000
#define STATE_SNAPSHOT_BYTES	(64ull * 1024 * 1024)

struct state {
	/*
	 * Writers (intake, timers, lifecycle) take it exclusively, readers
	 * (GETs, snapshots) shared. Everything below is under it.
	 */
	pthread_rwlock_t lock;
	struct inventory *inv;
	struct strmap *wm_index;	/* reporter -> struct watermark * */
	struct watermark **wms;
	size_t nwms, capwms;
	struct strmap *reporters;	/* members that have cast a vote -> owned key */
	char **reporter_keys;
	size_t nreporters;
	struct votes_params params;
	bool disruption;
	bool disruption_checked;	/* evaluated once since start */
	long long disruption_changed_ms;
	uint64_t touch_gen;		/* generation counter for node.touched */
	struct store *store;
	long long started_ms;

	/* Lifecycle: jobs, globals, the ansible section set through the API. */
	struct job_rec **jobs;
	size_t njobs, capjobs;
	uint64_t next_job_id;
	char *globals;			/* JSON object text, "{}" by default */
	bool globals_dirty;
	char *ansible_override;		/* JSON text of POST /config, NULL none */
	bool config_dirty;

	/* The audit log: a ring of the newest STATE_EVENTS_KEEP events. */
	struct audit_event *events;
	size_t events_head, nevents;	/* oldest at events_head */
	uint64_t next_event_id;
	uint64_t events_logged;		/* events with id below are in the log */
};

/*
 * Opens the state dir, recovers what it holds. On failure err names the
 * file or path. Progress warnings (a torn tail) go to warn.
 */
int state_open(const char *dir, const struct votes_params *params, struct state **ret,
    char *err, size_t errlen, store_warn_fn warn, void *warn_arg);
void state_close(struct state *s);

/* Under the write lock: appends one batch record of the given nodes. */
int state_log(struct state *s, const struct watermark *wm, struct node *const *nodes,
    size_t n, uint64_t *ret_seq);
/* Outside the lock: waits until that record is durable. 0 or -EIO. */
int state_wait(struct state *s, uint64_t seq);

/* Under the write lock: the reporter's watermark, NULL when none. */
struct watermark *state_watermark(struct state *s, const char *reporter);
int state_set_watermark(struct state *s, const char *reporter, const char *epoch,
    uint64_t seq);

/* Under the write lock: remembers that member has voted. -ENOMEM. */
int state_add_reporter(struct state *s, const char *member);
bool state_is_reporter(const struct state *s, const char *member);

/*
 * Under the write lock: appends an audit event (strings copied; NULL is "").
 * It goes to the store with the next state_log(). -ENOMEM.
 */
int state_event(struct state *s, const char *node, const char *kind, const char *old_val,
    const char *new_val, const char *actor, const char *comment);
/* Frees an event's strings and zeroes it. */
void audit_event_finish(struct audit_event *e);
/* The i-th event, oldest first (i < s->nevents). */
const struct audit_event *state_event_at(const struct state *s, size_t i);

/* Under the write lock: a new job record (id assigned), or NULL on ENOMEM. */
struct job_rec *state_job_new(struct state *s, enum job_op op);
struct job_rec *state_job_get(const struct state *s, uint64_t id);
void job_rec_free(struct job_rec *j);
const char *job_op_name(enum job_op op);
int job_op_parse(const char *s);

/* Under the write lock: replaces the globals / the ansible override. -ENOMEM. */
int state_set_globals(struct state *s, const char *json);
int state_set_ansible_override(struct state *s, const char *json);

/* Takes a snapshot when the log has grown past the thresholds (or force). */
int state_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen);

#endif
