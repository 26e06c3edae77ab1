/* Vote rules (CONTRACT 3.2) over compact, incrementally counted votes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "votes.h"

/* Smallest table; tables grow at 3/4 full. */
#define VOTES_MIN_CAP	4

static uint32_t
slot_of(uint32_t rid, uint32_t cap)
{
	/* Reporter ids are dense small integers: Fibonacci hashing spreads them. */
	return (uint32_t)(rid * 2654435769u) & (cap - 1);
}

struct vote *
votes_find(const struct node *n, uint32_t rid)
{
	const struct vote_table *t = &n->votes;

	if (t->cap == 0)
		return NULL;
	for (uint32_t i = slot_of(rid, t->cap), k = 0; k < t->cap; k++, i = (i + 1) & (t->cap - 1)) {
		if (t->slots[i].rid == rid)
			return &t->slots[i];
		if (t->slots[i].rid == VOTE_NO_REPORTER)
			return NULL;
	}
	return NULL;
}

static void
put_slot(struct vote_table *t, const struct vote *v)
{
	uint32_t i = slot_of(v->rid, t->cap);

	while (t->slots[i].rid != VOTE_NO_REPORTER)
		i = (i + 1) & (t->cap - 1);
	t->slots[i] = *v;
}

static int
grow(struct vote_table *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : VOTES_MIN_CAP;
	struct vote *old = t->slots, *v;

	if (cap == 0)
		return -ENOMEM;
	v = malloc((size_t)cap * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		v[i].rid = VOTE_NO_REPORTER;
	{
		uint32_t ocap = t->cap;
		t->slots = v;
		t->cap = cap;
		for (uint32_t i = 0; i < ocap; i++)
			if (old[i].rid != VOTE_NO_REPORTER)
				put_slot(t, &old[i]);
	}
	free(old);
	return 0;
}

/* Adds or removes one counted vote of another reporter. */
static void
count(struct node *n, uint8_t kind, int d)
{
	if (kind == VOTE_ALIVE)
		n->oth_alive = (uint32_t)((int64_t)n->oth_alive + d);
	else if (kind == VOTE_GONE)
		n->oth_gone = (uint32_t)((int64_t)n->oth_gone + d);
}

int
votes_record(struct node *n, uint32_t rid, enum vote_kind kind, uint64_t seq,
    long long ms, bool counts, bool *ret_new)
{
	struct vote *v = votes_find(n, rid);
	bool fresh = v == NULL;

	if (fresh) {
		struct vote nv = { .rid = rid, .kind = VOTE_NONE };
		/* Grow first (the new table is sized before the insert). */
		if ((n->votes.used + 1) * 4 > n->votes.cap * 3 && grow(&n->votes) < 0)
			return -ENOMEM;
		put_slot(&n->votes, &nv);
		n->votes.used++;
		v = votes_find(n, rid);
	}
	if (rid == n->self_rid) {
		n->self_kind = (uint8_t)kind;
	} else if (counts) {
		count(n, v->kind, -1);
		count(n, (uint8_t)kind, +1);
	}
	v->kind = (uint8_t)kind;
	v->seq = seq;
	v->received_ms = ms;
	if (ret_new != NULL)
		*ret_new = fresh;
	return 0;
}

void
votes_clear(struct node *n)
{
	for (uint32_t i = 0; i < n->votes.cap; i++)
		n->votes.slots[i].kind = VOTE_NONE;
	n->oth_alive = n->oth_gone = 0;
	n->self_kind = VOTE_NONE;
	n->gone_since_ms = 0;
}

bool
votes_reporter_flip(struct node *n, uint32_t rid, bool counts)
{
	struct vote *v;

	if (rid == n->self_rid || (v = votes_find(n, rid)) == NULL || v->kind == VOTE_NONE)
		return false;
	count(n, v->kind, counts ? +1 : -1);
	return true;
}

void
votes_recount(struct node *n, votes_counts_fn fn, void *arg)
{
	n->oth_alive = n->oth_gone = 0;
	n->self_kind = VOTE_NONE;
	for (uint32_t i = 0; i < n->votes.cap; i++) {
		const struct vote *v = &n->votes.slots[i];
		if (v->rid == VOTE_NO_REPORTER || v->kind == VOTE_NONE)
			continue;
		if (v->rid == n->self_rid)
			n->self_kind = v->kind;
		else if (fn(v->rid, arg))
			count(n, v->kind, +1);
	}
}

/*
 * A vote from a Disappeared reporter does not count. The node's own vote is
 * exempt from that (a node reporting itself is alive enough to be heard);
 * it counts only while no other reporter's vote does.
 */
bool
votes_counted(const struct node *n, const struct vote *v, bool counts)
{
	if (v->kind == VOTE_NONE)
		return false;
	if (v->rid == n->self_rid)
		return n->oth_alive + n->oth_gone == 0;
	return counts;
}

/* Rule 3 for a gone-majority of a node that sends heartbeats (CONTRACT 11). */
static void
gone_with_life(const struct node *n, const struct votes_params *p, long long now_ms,
    const struct votes_life *life, long long since, struct votes_result *ret)
{
	long long first = ret->first_gone_ms, dead_at;

	if (life->heard_ms > first) {
		/* Heard from itself after the first gone-vote: alive, cut off. */
		if (now_ms - life->heard_ms < p->hb_timeout_ms) {
			ret->state = MON_DISCOVERED;
			ret->partitioned = true;
			ret->deadline_ms = life->heard_ms + p->hb_timeout_ms;
			return;
		}
		/* Its own signs stopped too: nothing says it is alive any more. */
		dead_at = life->heard_ms + p->hb_timeout_ms;
	} else {
		/* One heartbeat interval for a heartbeat in flight. */
		dead_at = first + p->hb_interval_ms;
	}
	if (dead_at < since + p->grace_ms)
		dead_at = since + p->grace_ms;
	if (now_ms >= dead_at) {
		ret->state = MON_DISAPPEARED;
		return;
	}
	ret->state = n->state;
	ret->deadline_ms = dead_at;
}

void
votes_evaluate(const struct node *n, const struct votes_params *p, long long now_ms,
    const struct votes_life *life, struct votes_result *ret)
{
	long long alive, gone;
	bool gone_wins;

	if (n->oth_alive + n->oth_gone > 0) {
		alive = n->oth_alive;
		gone = n->oth_gone;
	} else {
		alive = n->self_kind == VOTE_ALIVE;
		gone = n->self_kind == VOTE_GONE;
	}
	ret->alive = (int)alive;
	ret->gone = (int)gone;
	ret->deadline_ms = 0;
	ret->partitioned = ret->unreachable = false;
	ret->first_gone_ms = gone == 0 ? 0 : n->first_gone_ms != 0 ? n->first_gone_ms : now_ms;
	/* Its own leave (rule 4) is the last word on it: judged by votes alone. */
	if (n->self_kind == VOTE_GONE)
		life = NULL;

	if (p->quorum > 0)
		gone_wins = gone >= p->quorum;
	else
		gone_wins = gone * 2 > alive + gone;

	if (gone_wins) {
		long long since = n->gone_since_ms != 0 ? n->gone_since_ms : now_ms;
		ret->gone_since_ms = since;
		if (life != NULL) {
			gone_with_life(n, p, now_ms, life, since, ret);
			return;
		}
		if (now_ms - since >= p->grace_ms) {
			ret->state = MON_DISAPPEARED;
		} else {
			/* Hold-down: keep the state until the grace has passed. */
			ret->state = n->state;
			ret->deadline_ms = since + p->grace_ms;
		}
		return;
	}
	ret->gone_since_ms = 0;
	ret->state = alive > 0 ? MON_DISCOVERED : n->state;
	/* Voted alive but silent: the path to the manager is broken, not the node. */
	if (life != NULL && alive > 0 && now_ms - life->hb_ms >= p->hb_timeout_ms)
		ret->unreachable = true;
}

bool
votes_is_self_leave(const struct report *r, const char *reporter)
{
	return reporter != NULL && r->event != NULL && r->name != NULL &&
	    strcmp(r->event, "member-leave") == 0 && strcmp(r->name, reporter) == 0;
}

bool
votes_disruption(bool current, size_t recent, size_t gone, size_t total,
    const struct votes_params *p)
{
	if (total == 0)
		return false;
	if (!current)
		return (double)recent > p->disruption_ratio * (double)total;
	/* Leave once the share of Disappeared nodes is back below the threshold. */
	return (double)gone >= p->disruption_ratio * (double)total;
}
