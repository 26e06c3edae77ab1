/* Vote rules (CONTRACT 3.2). Pure: the caller supplies states and time. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "votes.h"

int
votes_record(struct node *n, const char *reporter, bool alive, uint64_t seq,
    long long now_ms)
{
	struct vote *v;

	for (size_t i = 0; i < n->nvotes; i++) {
		if (strcmp(n->votes[i].reporter, reporter) != 0)
			continue;
		n->votes[i].alive = alive;
		n->votes[i].seq = seq;
		n->votes[i].received_ms = now_ms;
		return 0;
	}
	v = realloc(n->votes, (n->nvotes + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	n->votes = v;
	v[n->nvotes].reporter = strdup(reporter);
	if (v[n->nvotes].reporter == NULL)
		return -ENOMEM;
	v[n->nvotes].alive = alive;
	v[n->nvotes].seq = seq;
	v[n->nvotes].received_ms = now_ms;
	n->nvotes++;
	return 0;
}

void
votes_clear(struct node *n)
{
	for (size_t i = 0; i < n->nvotes; i++)
		free(n->votes[i].reporter);
	free(n->votes);
	n->votes = NULL;
	n->nvotes = 0;
	n->gone_since_ms = 0;
}

static bool
is_self(const struct node *n, const struct vote *v)
{
	return n->rep.name != NULL && strcmp(n->rep.name, v->reporter) == 0;
}

/*
 * A vote from a Disappeared reporter does not count. The node's own vote is
 * exempt from that (a node reporting itself is alive enough to be heard);
 * it is governed by the "no other voter" rule instead.
 */
static bool
reporter_counts(const struct node *n, const struct vote *v, votes_member_state_fn fn,
    void *arg)
{
	return is_self(n, v) || fn(v->reporter, arg) != MON_DISAPPEARED;
}

static bool
has_other_counted(const struct node *n, votes_member_state_fn fn, void *arg)
{
	for (size_t i = 0; i < n->nvotes; i++)
		if (!is_self(n, &n->votes[i]) && reporter_counts(n, &n->votes[i], fn, arg))
			return true;
	return false;
}

bool
votes_counted(const struct node *n, size_t i, votes_member_state_fn fn, void *arg)
{
	const struct vote *v = &n->votes[i];

	if (!reporter_counts(n, v, fn, arg))
		return false;
	if (is_self(n, v))
		return !has_other_counted(n, fn, arg);
	return true;
}

void
votes_evaluate(const struct node *n, const struct votes_params *p,
    votes_member_state_fn fn, void *arg, long long now_ms, struct votes_result *ret)
{
	bool others = has_other_counted(n, fn, arg);
	int alive = 0, gone = 0;
	bool gone_wins;

	for (size_t i = 0; i < n->nvotes; i++) {
		const struct vote *v = &n->votes[i];
		if (!reporter_counts(n, v, fn, arg) || (others && is_self(n, v)))
			continue;
		if (v->alive)
			alive++;
		else
			gone++;
	}
	ret->alive = alive;
	ret->gone = gone;
	ret->deadline_ms = 0;

	if (p->quorum > 0)
		gone_wins = gone >= p->quorum;
	else
		gone_wins = gone * 2 > alive + gone;

	if (gone_wins) {
		long long since = n->gone_since_ms != 0 ? n->gone_since_ms : now_ms;
		ret->gone_since_ms = since;
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
