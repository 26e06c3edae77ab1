/*
 * The rules of CONTRACT section 3.2 over compact votes. A node's votes are
 * a table keyed by interned reporter id (struct vote_table of inventory.h)
 * and its counted votes are kept incrementally, so recording a vote and
 * evaluating a node cost O(1) whatever the cluster's size. No I/O, no
 * clock: callers pass the operation's time.
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
	/* Appended later (CONTRACT 11); records without them take the defaults. */
	long long reporter_stale_ms;	/* monitor.reporter_stale_s */
	long long hb_timeout_ms;	/* monitor.heartbeat_timeout_s */
	long long hb_interval_ms;	/* monitor.heartbeat_interval_s */
	long long reap_after_ms;	/* monitor.reap_after_s, 0 = never (forget.h) */
	uint32_t observers;		/* monitor.observers (K), 0 = every reporter */
};

/* The defaults of the fields above (also for records written without them). */
#define VOTES_REPORTER_STALE_MS_DEFAULT	30000
#define VOTES_HB_TIMEOUT_MS_DEFAULT	25000
#define VOTES_HB_INTERVAL_MS_DEFAULT	10000

/*
 * The node's own evidence of life (CONTRACT 11), for a node that has sent a
 * heartbeat: its last POST of any kind and its last heartbeat.
 */
struct votes_life {
	long long heard_ms;		/* its last POST (heartbeats included) */
	long long hb_ms;		/* its last heartbeat (never 0 here) */
};

struct votes_result {
	enum mon_state state;		/* the state the node should have now */
	long long gone_since_ms;	/* to store in the node (0 = none pending) */
	long long deadline_ms;		/* when to evaluate again (0 = no timer) */
	int alive, gone;		/* counted votes */
	long long first_gone_ms;	/* to store in the node: first gone-vote of this run */
	bool partitioned;		/* gone-voted but alive and heard: cut off from peers */
	bool unreachable;		/* voted alive but its heartbeats stopped */
};

/*
 * Whether reporter rid's vote on n counts (rule 2: the reporter is not
 * itself Disappeared; with observers, it is one of n's observers).
 */
typedef bool (*votes_counts_fn)(uint32_t rid, const struct node *n, void *arg);

/* Reporter rid's entry on n, or NULL. */
struct vote *votes_find(const struct node *n, uint32_t rid);

/*
 * Records rid's vote (VOTE_ALIVE, VOTE_GONE or VOTE_NONE) on n, replacing
 * its older one, and keeps the counts right; counts says whether rid's
 * votes count now. *ret_new is set when rid had no entry on n before (the
 * caller indexes rid -> n then). -ENOMEM, nothing changed.
 */
int votes_record(struct node *n, uint32_t rid, enum vote_kind kind, uint64_t seq,
    long long ms, bool counts, bool *ret_new);

/* Sets every vote on n to VOTE_NONE (an operator report, a graceful leave). */
void votes_clear(struct node *n);

/*
 * rid's vote on n starts (counts true) or stops counting: adjusts n's
 * counts. Returns true when the counts changed.
 */
bool votes_set_counted(struct node *n, uint32_t rid, bool counts);

/* Recounts n from its table (after its own reporter id changed). */
void votes_recount(struct node *n, votes_counts_fn fn, void *arg);

/* Whether v (an entry of n) counts now. */
bool votes_counted(const struct node *n, const struct vote *v);

/*
 * Rules 2 and 3 from n's counts: the state n should have at now_ms. life is
 * NULL for a node that never sent a heartbeat (judged by its votes alone);
 * otherwise CONTRACT 11 applies: a gone-majority against a node heard
 * after the first gone-vote leaves it Discovered and partitioned, stale
 * heartbeats under alive votes make it unreachable, and Disappeared needs
 * no sign of life for a heartbeat interval after the first gone-vote.
 */
void votes_evaluate(const struct node *n, const struct votes_params *p, long long now_ms,
    const struct votes_life *life, struct votes_result *ret);

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
