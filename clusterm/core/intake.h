/*
 * Monitor reports: a batch becomes one operation (reports with their
 * origin), is made durable, then applied: reporter dedupe by watermark, the
 * vote rules, grace timers and disruption mode.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report_json.h"
#include "state.h"

/* Re-evaluations of one node in one operation when reporters' states change. */
#define INTAKE_CASCADE_PASSES	8

/* Reporter identity from the request headers; reporter NULL = operator. */
struct intake_origin {
	const char *reporter;
	const char *epoch;	/* "" when absent */
	uint64_t seq;
	bool has_seq;
	const char *remote;	/* the peer, named in the audit log for operator reports */
	long long spool_depth;	/* X-Spool-Depth, -1 when absent */
};

struct intake_result {
	size_t accepted;
	size_t duplicates;
	size_t state_changes;
};

/*
 * Applies a validated batch. kind is discovered/disappeared, or
 * REPORT_KIND_NONE for a snapshot body (each report's Serf-Status decides).
 * Returns once the batch is durable and applied: 0, -EIO (the store failed:
 * nothing of it is visible; err says why) or -ENOMEM. A batch already
 * applied (same reporter, epoch and seq) is answered as duplicates, and
 * only once the operation that applied it is durable. -ENOSPC (err says
 * so) when the reporter is new and LIMIT_REPORTERS are kept already.
 */
int intake_apply(struct state *s, const struct report_batch *b, enum report_kind kind,
    const struct intake_origin *o, struct intake_result *ret, char *err, size_t errlen);

/*
 * A heartbeat of o->reporter (CONTRACT 11): through the log like any
 * operation, never a batch (no dedupe, no watermark, no vote): it updates
 * the reporter's record and its node's evidence of life. 0 once durable
 * and applied; -EIO, -ENOMEM, -ENOSPC as intake_apply (err says why).
 */
int intake_heartbeat(struct state *s, const struct intake_origin *o, char *err,
    size_t errlen);

/*
 * Timers: when a grace deadline is due or a heartbeat turns stale, logs a
 * tick operation that re-evaluates the nodes due. Called by the ticker; returns the number of
 * state changes, or -EIO.
 */
int intake_tick(struct state *s);

/* Logs the monitor parameters when they differ from the state's (start, SIGHUP). */
int intake_set_params(struct state *s, const struct votes_params *p, const char *actor);

/* The apply steps (apply.c calls them, write lock held). */
void intake_apply_reports(struct state *s, struct op *op);
void intake_apply_tick(struct state *s, struct op *op);
void intake_apply_heartbeat(struct state *s, struct op *op);
void intake_apply_params(struct state *s, struct op *op);
/* Applier (s->now set): rule 5 again after the node count changed (a forget). */
void intake_recheck_disruption(struct state *s);

/* Whether reporter rid's vote v on n counts now (lock held). */
bool intake_vote_counted(const struct state *s, const struct node *n, const struct vote *v);

#endif
