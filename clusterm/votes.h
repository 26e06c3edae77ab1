/*
 * The rules of CONTRACT section 3.2 as pure functions: votes in, a node's
 * monitoring state out. No I/O, no clock: callers pass now_ms.
 */
#ifndef VOTES_H
#define VOTES_H

#include <stdbool.h>
#include <stdint.h>

#include "inventory.h"

struct votes_params {
	long long grace_ms;		/* monitor.grace_s */
	long quorum;			/* monitor.quorum, 0 = majority */
	double disruption_ratio;	/* monitor.disruption_ratio */
	long long disruption_window_ms;	/* monitor.disruption_window_s */
};

/*
 * State of the node whose Node-Name is member, as the caller knows it:
 * MON_UNKNOWN for a reporter that is no known node.
 */
typedef enum mon_state (*votes_member_state_fn)(const char *member, void *arg);

struct votes_result {
	enum mon_state state;		/* the state the node should have now */
	long long gone_since_ms;	/* to store in the node (0 = none pending) */
	long long deadline_ms;		/* when to evaluate again (0 = no timer) */
	int alive, gone;		/* counted votes */
};

/*
 * Records reporter's vote on n, replacing its older one. -ENOMEM.
 */
int votes_record(struct node *n, const char *reporter, bool alive, uint64_t seq,
    long long now_ms);

/* Drops every vote on n (an operator report). */
void votes_clear(struct node *n);

/* Whether vote i of n counts now (rule 2). */
bool votes_counted(const struct node *n, size_t i, votes_member_state_fn fn, void *arg);

/* Rules 2 and 3: the state n should have at now_ms. */
void votes_evaluate(const struct node *n, const struct votes_params *p,
    votes_member_state_fn fn, void *arg, long long now_ms, struct votes_result *ret);

/* Whether a report is its sender's own graceful leave (rule 4). */
bool votes_is_self_leave(const struct report *r, const char *reporter);

/*
 * Rule 5. recent = nodes that turned Disappeared within the window and are
 * still Disappeared, gone = all Disappeared nodes, total = known nodes.
 * Returns the new disruption flag given the current one.
 */
bool votes_disruption(bool current, size_t recent, size_t gone, size_t total,
    const struct votes_params *p);

#endif
