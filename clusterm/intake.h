/*
 * Applying monitor reports: reporter dedupe by watermark, the vote rules,
 * one durable log record per batch, grace timers and disruption mode.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report_json.h"
#include "state.h"

/* Reporter identity from the request headers; reporter NULL = operator. */
struct intake_origin {
	const char *reporter;
	const char *epoch;	/* "" when absent */
	uint64_t seq;
	bool has_seq;
	const char *remote;	/* the peer, named in the audit log for operator reports */
};

struct intake_result {
	size_t accepted;
	size_t duplicates;
	size_t state_changes;
};

/*
 * Applies a validated batch. kind is discovered/disappeared, or
 * REPORT_KIND_NONE for a snapshot body (each report's Serf-Status decides).
 * Returns once the change is durable: 0, -EIO (store failed; err says so) or
 * -ENOMEM. The batch is applied whole or not at all.
 */
int intake_apply(struct state *s, const struct report_batch *b, enum report_kind kind,
    const struct intake_origin *o, struct intake_result *ret, char *err, size_t errlen);

/*
 * Timers: re-evaluates nodes whose grace period has ended and the
 * disruption rule. Called by the ticker; returns the number of state changes.
 */
int intake_tick(struct state *s, long long now_ms);

/* The state a member's node has, for votes_* (lock held by the caller). */
enum mon_state intake_member_state(const char *member, void *arg);

#endif
