/* The node table: a growing array of nodes plus two hash indexes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "strmap.h"

struct inventory {
	struct node **nodes;	/* stable pointers: nodes are allocated one by one */
	size_t n, cap;
	struct strmap *by_name;
	struct strmap *by_member;
};

static const char *state_names[] = { "Unknown", "Discovered", "Disappeared" };
static const char *status_names[] = { "Incomplete", "New", "Unallocated", "Provisioning",
	"Provisioned", "Allocated", "Cancelled", "Decommissioned", "Maintenance" };

/* from -> allowed targets, CONTRACT section 3.3. */
static const struct {
	enum node_status from, to;
} transitions[] = {
	{ NS_INCOMPLETE, NS_UNALLOCATED },
	{ NS_UNALLOCATED, NS_PROVISIONING },
	{ NS_PROVISIONING, NS_UNALLOCATED },
	{ NS_PROVISIONING, NS_ALLOCATED },
	{ NS_ALLOCATED, NS_CANCELLED },
	{ NS_ALLOCATED, NS_MAINTENANCE },
	{ NS_CANCELLED, NS_DECOMMISSIONED },
	{ NS_DECOMMISSIONED, NS_PROVISIONING },
	{ NS_MAINTENANCE, NS_UNALLOCATED },
	{ NS_MAINTENANCE, NS_ALLOCATED },
};

const char *
mon_state_name(enum mon_state s)
{
	return (unsigned)s < 3 ? state_names[s] : "Unknown";
}

const char *
node_status_name(enum node_status s)
{
	return (unsigned)s < NS_COUNT ? status_names[s] : "Incomplete";
}

int
mon_state_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

int
node_status_parse(const char *s)
{
	for (int i = 0; i < NS_COUNT; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

struct inventory *
inventory_new(void)
{
	struct inventory *inv = calloc(1, sizeof(*inv));

	if (inv == NULL)
		return NULL;
	inv->by_name = strmap_new();
	inv->by_member = strmap_new();
	if (inv->by_name == NULL || inv->by_member == NULL) {
		inventory_free(inv);
		return NULL;
	}
	return inv;
}

void
node_finish(struct node *n)
{
	if (n == NULL)
		return;
	free(n->name);
	report_finish(&n->rep);
	free(n->host_group);
	free(n->votes.slots);
	memset(n, 0, sizeof(*n));
}

void
inventory_free(struct inventory *inv)
{
	if (inv == NULL)
		return;
	for (size_t i = 0; i < inv->n; i++) {
		node_finish(inv->nodes[i]);
		free(inv->nodes[i]);
	}
	free(inv->nodes);
	strmap_free(inv->by_name);
	strmap_free(inv->by_member);
	free(inv);
}

struct node *
inventory_get(const struct inventory *inv, const char *name)
{
	return strmap_get(inv->by_name, name);
}

struct node *
inventory_by_member(const struct inventory *inv, const char *member)
{
	return strmap_get(inv->by_member, member);
}

size_t
inventory_count(const struct inventory *inv)
{
	return inv->n;
}

struct node *
inventory_at(const struct inventory *inv, size_t i)
{
	return i < inv->n ? inv->nodes[i] : NULL;
}

static int
append(struct inventory *inv, struct node *n)
{
	if (inv->n == inv->cap) {
		size_t cap = inv->cap ? inv->cap * 2 : 64;
		struct node **v = realloc(inv->nodes, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		inv->nodes = v;
		inv->cap = cap;
	}
	if (strmap_put(inv->by_name, n->name, n) < 0)
		return -ENOMEM;
	if (n->rep.name != NULL && strmap_put(inv->by_member, n->rep.name, n) < 0) {
		strmap_del(inv->by_name, n->name);
		return -ENOMEM;
	}
	n->id = (uint32_t)inv->n;
	inv->nodes[inv->n++] = n;
	return 0;
}

int
inventory_add(struct inventory *inv, const char *name, struct node **ret_node)
{
	struct node *n;

	if (inventory_get(inv, name) != NULL)
		return -EEXIST;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	report_init(&n->rep);
	n->state = n->prev_state = MON_UNKNOWN;
	/* contiv's: a node is born Unallocated, coming from Incomplete. */
	n->status = NS_UNALLOCATED;
	n->prev_status = NS_INCOMPLETE;
	n->self_rid = VOTE_NO_REPORTER;
	n->heap_idx = -1;
	n->reap_idx = -1;
	n->name = strdup(name);
	n->host_group = strdup("");
	if (n->name == NULL || n->host_group == NULL || append(inv, n) < 0) {
		node_finish(n);
		free(n);
		return -ENOMEM;
	}
	*ret_node = n;
	return 0;
}

/*
 * The member index points each Node-Name at the node that took it last
 * (member_ms, then the higher id): a function of the nodes alone, so a
 * snapshot rebuilds the same index the live run had.
 */
static bool
newer(const struct node *a, const struct node *b)
{
	return a->member_ms > b->member_ms || (a->member_ms == b->member_ms && a->id > b->id);
}

/* Points the member index at n for its current Node-Name, unless a newer holder has it. */
static int
index_member(struct inventory *inv, struct node *n, const char *old_member)
{
	struct node *cur;

	if (old_member != NULL && strmap_get(inv->by_member, old_member) == n)
		strmap_del(inv->by_member, old_member);
	if (n->rep.name == NULL)
		return 0;
	cur = strmap_get(inv->by_member, n->rep.name);
	if (cur != NULL && cur != n && newer(cur, n))
		return 0;
	return strmap_put(inv->by_member, n->rep.name, n);
}

/* name lost its holder n (renamed): the newest other node carrying it takes it. */
static int
reindex_member(struct inventory *inv, const struct node *n, const char *name)
{
	struct node *best = NULL;

	for (size_t i = 0; i < inv->n; i++) {
		struct node *m = inv->nodes[i];
		if (m != n && m->rep.name != NULL && strcmp(m->rep.name, name) == 0 &&
		    (best == NULL || newer(m, best)))
			best = m;
	}
	return best != NULL ? strmap_put(inv->by_member, best->rep.name, best) : 0;
}

/*
 * Puts tmp (taken over) in place of n's report and keeps the member index
 * right; member_ms is when n takes a Node-Name it did not have.
 */
static int
install_report(struct inventory *inv, struct node *n, struct report *tmp, long long member_ms)
{
	char *old = NULL;
	bool held, same;
	int rc;

	/*
	 * last_event is the last serf event seen about the node: a report
	 * without one (a sync's snapshot, contiv's form) keeps it.
	 */
	if (tmp->event == NULL) {
		tmp->event = n->rep.event;
		n->rep.event = NULL;
	}
	/*
	 * A report without Node-Name (contiv's form, an operator's curl) keeps
	 * the node's serf member: it says nothing about it.
	 */
	if (tmp->name == NULL && n->rep.name != NULL) {
		tmp->name = n->rep.name;
		n->rep.name = NULL;
		report_finish(&n->rep);
		n->rep = *tmp;
		report_init(tmp);
		return 0;
	}
	same = tmp->name != NULL && n->rep.name != NULL && strcmp(tmp->name, n->rep.name) == 0;
	held = n->rep.name != NULL && strmap_get(inv->by_member, n->rep.name) == n;
	/* Drop the old index entry before its key string is freed. */
	if (held) {
		if (!same && (old = strdup(n->rep.name)) == NULL)
			return -ENOMEM;
		strmap_del(inv->by_member, n->rep.name);
	}
	if (!same)
		n->member_ms = member_ms;
	report_finish(&n->rep);
	n->rep = *tmp;
	report_init(tmp);
	rc = index_member(inv, n, NULL);
	if (rc == 0 && old != NULL)
		rc = reindex_member(inv, n, old);
	free(old);
	return rc;
}

int
inventory_set_report(struct inventory *inv, struct node *n, const struct report *r,
    long long member_ms)
{
	struct report tmp;
	int rc;

	report_init(&tmp);
	rc = report_copy(&tmp, r);
	if (rc < 0)
		return rc;
	return install_report(inv, n, &tmp, member_ms);
}

int
inventory_take_report(struct inventory *inv, struct node *n, struct report *r,
    long long member_ms)
{
	return install_report(inv, n, r, member_ms);
}

int
inventory_put(struct inventory *inv, struct node *n)
{
	struct node *cur = inventory_get(inv, n->name);
	int rc;

	if (cur == NULL) {
		struct node *fresh = malloc(sizeof(*fresh));
		if (fresh == NULL)
			return -ENOMEM;
		*fresh = *n;
		rc = append(inv, fresh);
		if (rc < 0) {
			free(fresh);
			return rc;
		}
		memset(n, 0, sizeof(*n));
		return 0;
	}
	if (cur->rep.name != NULL && strmap_get(inv->by_member, cur->rep.name) == cur)
		strmap_del(inv->by_member, cur->rep.name);
	uint32_t id = cur->id;

	strmap_del(inv->by_name, cur->name);
	node_finish(cur);
	*cur = *n;
	cur->id = id;
	memset(n, 0, sizeof(*n));
	if (strmap_put(inv->by_name, cur->name, cur) < 0)
		return -ENOMEM;
	return index_member(inv, cur, NULL);
}

int
inventory_remove(struct inventory *inv, struct node *n)
{
	char *member = NULL;
	uint32_t id = n->id;
	int rc = 0;

	if (id >= inv->n || inv->nodes[id] != n)
		return -ENOENT;
	strmap_del(inv->by_name, n->name);
	if (n->rep.name != NULL && strmap_get(inv->by_member, n->rep.name) == n) {
		strmap_del(inv->by_member, n->rep.name);
		/* Another node carrying the Node-Name takes it (n is skipped). */
		if ((member = strdup(n->rep.name)) == NULL)
			rc = -ENOMEM;
		else
			rc = reindex_member(inv, n, member);
		free(member);
	}
	memmove(&inv->nodes[id], &inv->nodes[id + 1], (inv->n - id - 1) * sizeof(*inv->nodes));
	inv->n--;
	for (size_t i = id; i < inv->n; i++)
		inv->nodes[i]->id = (uint32_t)i;
	node_finish(n);
	free(n);
	return rc;
}

bool
inventory_transition_allowed(enum node_status from, enum node_status to)
{
	for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++)
		if (transitions[i].from == from && transitions[i].to == to)
			return true;
	return false;
}

int
inventory_set_status(struct node *n, enum node_status to)
{
	if (!inventory_transition_allowed(n->status, to))
		return -EPERM;
	n->prev_status = n->status;
	n->status = to;
	return 0;
}

bool
inventory_set_state(struct node *n, enum mon_state to, long long now_ms)
{
	if (n->state == to)
		return false;
	n->prev_state = n->state;
	n->state = to;
	n->state_ms = now_ms;
	if (to == MON_DISAPPEARED)
		n->disappeared_ms = now_ms;
	return true;
}
