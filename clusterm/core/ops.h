/*
 * Operations: what the log records. An operation says what happened (a
 * batch of reports with its origin, a timer that fired, a lifecycle
 * request, a job's outcome, a change of configuration), never the node
 * images that resulted: applying it to the state is deterministic, its time
 * comes from the record, so replaying the same log anywhere gives the same
 * state. msgpack stays inside ops.c.
 *
 * Record: ["O", OPS_VERSION, kind, time_ms, fields of the kind...]
 *   reports:     reporter | nil, epoch, seq, has_seq, actor, report kind,
 *                [{report map}...], spool_depth (-1 none; absent in older
 *                records)
 *   tick:        (nothing)
 *   params:      grace_ms, quorum, disruption_ratio, disruption_window_ms,
 *                reporter_stale_ms, hb_timeout_ms, hb_interval_ms,
 *                reap_after_ms, observers (the last five absent in older
 *                records: their defaults, reap_after_ms 0, observers 0;
 *                fields appended later are read when present)
 *   heartbeat:   reporter, epoch, seq, has_seq, spool_depth
 *   job request: op, [node or address...], host_group, extra_vars, actor,
 *                comment, max_jobs, queue_jobs
 *   job end:     id, ok, exit_code, error, start_ms, end_ms
 *   job started: id, pgid, sid, start_ticks, boot_id, start_ms (each step's
 *                process: its group, session, /proc start time, the boot)
 *   job cancel:  id, actor
 *   globals, config: json | nil, actor, comment
 *   forget:      node name, actor, comment
 */
#ifndef OPS_H
#define OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"
#include "votes.h"

#define OPS_VERSION	1

enum op_kind {
	OP_REPORTS = 1,
	OP_TICK,
	OP_PARAMS,
	OP_JOB_REQUEST,
	OP_JOB_END,
	OP_JOB_CANCEL,
	OP_GLOBALS,
	OP_CONFIG,
	OP_JOB_STARTED,
	OP_HEARTBEAT,
	OP_FORGET,
	OP_KIND_END
};

/* Lifecycle operations (CONTRACT 3.3). */
enum job_op {
	JOB_OP_COMMISSION,
	JOB_OP_DECOMMISSION,
	JOB_OP_UPDATE,
	JOB_OP_DISCOVER,
	JOB_OP_COUNT
};

struct op_reports {
	const char *reporter;		/* NULL: an operator report */
	const char *epoch;		/* "" when absent */
	uint64_t seq;
	bool has_seq;
	const char *actor;		/* named in the audit log */
	int kind;			/* enum report_kind of report_json.h */
	const struct report *reports;
	size_t n;
	/* A decoded operation's reports may be taken over by the apply step. */
	bool movable;
	long long spool_depth;		/* X-Spool-Depth, -1 none */
};

/* A reporter's heartbeat (CONTRACT 11): no vote, its evidence of life. */
struct op_heartbeat {
	const char *reporter;
	const char *epoch;		/* "" when absent */
	uint64_t seq;			/* its current last seq, not a new one */
	bool has_seq;
	long long spool_depth;		/* X-Spool-Depth, -1 none */
};

struct op_job_request {
	enum job_op op;
	const char *const *names;	/* node names, or addresses for discover */
	size_t n;
	const char *host_group;		/* "" = none / keep */
	const char *extra_vars;		/* the request's JSON text, "" = none */
	const char *actor;
	const char *comment;
	long max_jobs;			/* manager.max_jobs of the instance asked */
	bool queue_jobs;		/* manager.queue_jobs of the instance asked */
};

struct op_job_end {
	uint64_t id;
	bool ok;
	int exit_code;
	const char *error;
	long long start_ms, end_ms;	/* 0 when it never started */
};

/* A step of a job has started: its process group, for a restart to find. */
struct op_job_started {
	uint64_t id;
	int pgid;			/* the step's process group (its leader's pid) */
	int sid;			/* the leader's session */
	unsigned long long start_ticks;	/* the leader's start, field 22 of /proc/PID/stat */
	const char *boot_id;		/* /proc/sys/kernel/random/boot_id, "" unknown */
	long long start_ms;		/* wall clock of the start */
};

struct op_job_cancel {
	uint64_t id;
	const char *actor;
};

/* DELETE /api/v1/nodes/{name}: forget a Disappeared node (forget.h). */
struct op_forget {
	const char *name;
	const char *actor;
	const char *comment;		/* why, "" none */
};

struct op_text {
	const char *json;		/* NULL: back to the file's (config only) */
	const char *actor;
	const char *comment;		/* names what changed, never the values */
};

/* What applying an operation answered (unused on replay). */
struct op_result {
	int rc;				/* 0, or -errno of a refusal */
	char err[320];			/* a sentence when rc < 0 */
	size_t accepted, duplicates, state_changes;
	uint64_t job_id;
};

struct op {
	enum op_kind kind;
	long long time_ms;		/* set when it is appended */
	union {
		struct op_reports reports;
		struct votes_params params;
		struct op_job_request job;
		struct op_job_end end;
		struct op_job_started started;
		struct op_job_cancel cancel;
		struct op_text text;
		struct op_heartbeat hb;
		struct op_forget forget;
	} u;
	struct op_result res;
	void *owned;			/* a decoded operation's memory (ops_free) */
};

/* Encodes op; *ret_buf is malloc'd (the caller frees it). -ENOMEM. */
int ops_encode(const struct op *op, char **ret_buf, size_t *ret_len);

/*
 * Whether buf is an operation record (as opposed to a snapshot).
 */
bool ops_is_op(const void *buf, size_t len);

/*
 * Decodes an operation record into ret, which owns what it points to until
 * ops_free(). -EBADMSG with err saying what is wrong, -ENOMEM.
 */
int ops_decode(const void *buf, size_t len, struct op *ret, char *err, size_t errlen);
void ops_free(struct op *op);

const char *job_op_name(enum job_op op);
int job_op_parse(const char *s);

#endif
