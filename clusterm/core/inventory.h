/*
 * The node table: every node clusterm knows, its monitoring state, its
 * lifecycle status and the contiv status transition table. No I/O.
 */
#ifndef INVENTORY_H
#define INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

enum mon_state {
	MON_UNKNOWN,
	MON_DISCOVERED,
	MON_DISAPPEARED,
};

enum node_status {
	NS_INCOMPLETE,
	NS_NEW,
	NS_UNALLOCATED,
	NS_PROVISIONING,
	NS_PROVISIONED,
	NS_ALLOCATED,
	NS_CANCELLED,
	NS_DECOMMISSIONED,
	NS_MAINTENANCE,
	NS_COUNT
};

/* Kinds of a vote entry; VOTE_NONE marks an entry whose vote was cleared. */
enum vote_kind {
	VOTE_NONE,
	VOTE_ALIVE,
	VOTE_GONE,
};

/* Reporter id of no reporter (the state interns reporter names to ids). */
#define VOTE_NO_REPORTER	UINT32_MAX

/*
 * One reporter's current vote on a node: 24 bytes, the reporter interned.
 * A node's votes are an open-addressed table keyed by reporter id; a
 * cleared vote stays as a VOTE_NONE entry so that the reporter's index of
 * the nodes it voted on never needs an update.
 */
struct vote {
	uint32_t rid;		/* reporter id, VOTE_NO_REPORTER = empty slot */
	uint8_t kind;		/* enum vote_kind */
	uint8_t counted;	/* another reporter's vote that counts now (votes.c) */
	uint8_t pad[2];
	uint64_t seq;		/* X-Reporter-Seq of the batch that carried it */
	int64_t received_ms;	/* the operation's time */
};

struct vote_table {
	struct vote *slots;	/* cap entries, cap a power of two (or 0) */
	uint32_t cap, used;	/* used counts VOTE_NONE entries too */
};

struct node {
	char *name;			/* <label>-<serial> (owned) */
	uint32_t id;			/* position in the inventory, stable */
	struct report rep;		/* latest monitoring report */
	enum mon_state state, prev_state;
	enum node_status status, prev_status;
	char *host_group;		/* "" when none (owned) */
	struct vote_table votes;
	/*
	 * Counted votes kept incrementally: those of other reporters that
	 * count (the reporter is not Disappeared), and the node's own vote.
	 */
	uint32_t oth_alive, oth_gone;
	uint8_t self_kind;		/* enum vote_kind of its own vote */
	uint32_t self_rid;		/* reporter id of its Node-Name, or none */
	long long gone_since_ms;	/* gone majority seen since, 0 = none pending */
	long long first_gone_ms;	/* first counted gone-vote of this run, 0 = none */
	bool partitioned;		/* CONTRACT 11: gone-voted, yet heard from itself */
	bool unreachable;		/* CONTRACT 11: voted alive, its heartbeats stopped */
	long long deadline_ms;		/* grace deadline on the timer heap, 0 = none */
	int32_t heap_idx;		/* position on the timer heap, -1 = none */
	int32_t reap_idx;		/* position on the reap heap (forget.h), -1 = none */
	long long state_ms;		/* last state change */
	long long disappeared_ms;	/* last turn to Disappeared, 0 = never */
	long long recent_ms;		/* its entry in the disruption window, 0 none */
	long long member_ms;		/* when it took its Node-Name (the index's order) */
	uint64_t last_job;		/* 0 = none */
	long long settle_ms;		/* transient: assignment withheld till then (observers.h) */
	uint64_t mark;			/* transient: operation that last touched it */
	uint32_t evals;			/* transient: evaluations in that operation */
};

struct inventory;

/*
 * The refusal for a node name nobody knows (two %s: the name twice). It
 * carries contiv's words, which scripts grep for, and ours.
 */
#define INVENTORY_NO_SUCH_NODE \
	"no such node: %.128s (node with name or address \"%.128s\" doesn't exists)"

struct inventory *inventory_new(void);
void inventory_free(struct inventory *inv);

/* Lookup by node name, and by serf member name (Node-Name). NULL when unknown. */
struct node *inventory_get(const struct inventory *inv, const char *name);
struct node *inventory_by_member(const struct inventory *inv, const char *member);

/* Nodes in insertion order: 0 <= i < inventory_count(). */
size_t inventory_count(const struct inventory *inv);
struct node *inventory_at(const struct inventory *inv, size_t i);

/*
 * Adds a node named name in state Unknown, status Unallocated (prev_status
 * Incomplete, as contiv has it). -EEXIST when
 * it exists, -ENOMEM. *ret_node points into the table until the next add.
 */
int inventory_add(struct inventory *inv, const char *name, struct node **ret_node);

/* Replaces the node's report (copied) and keeps the member index right. */
int inventory_set_report(struct inventory *inv, struct node *n, const struct report *r,
    long long member_ms);
/* The same, taking r's strings over (r is left empty): no copy. -ENOMEM. */
int inventory_take_report(struct inventory *inv, struct node *n, struct report *r,
    long long member_ms);

/*
 * Puts a whole node (taken over: its strings belong to the table afterwards,
 * n is zeroed) in place of the node of the same name, or adds it. Used by
 * recovery.
 */
int inventory_put(struct inventory *inv, struct node *n);

/*
 * Removes n and frees it: the nodes after it move down one id (the order
 * stays), so whatever holds ids must be rebuilt (state_rebuild_derived).
 * Its Node-Name goes to the newest other node carrying it. 0, -ENOENT,
 * -ENOMEM (the node is removed all the same).
 */
int inventory_remove(struct inventory *inv, struct node *n);

/* Frees a node's members (not the node itself). */
void node_finish(struct node *n);

/* The contiv transition table. */
bool inventory_transition_allowed(enum node_status from, enum node_status to);
/* Moves status (prev_status kept); -EPERM when the table forbids it. */
int inventory_set_status(struct node *n, enum node_status to);
/* Sets state (prev_state kept) and its timestamps. Returns true when it changed. */
bool inventory_set_state(struct node *n, enum mon_state to, long long now_ms);

const char *mon_state_name(enum mon_state s);
const char *node_status_name(enum node_status s);
/* -1 when unknown. */
int mon_state_parse(const char *s);
int node_status_parse(const char *s);

#endif
