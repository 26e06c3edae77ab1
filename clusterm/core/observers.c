/* Observers: the rings of the state, kept in the apply step (observers.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "observers.h"
#include "state_impl.h"
#include "votes.h"

_Static_assert(STATE_RING_CHANGES_KEEP == OBSERVERS_BURST_CHANGES,
    "the state keeps the ring changes a burst is told by");

static void
queue(struct state *s, struct node *n)
{
	state_work_push(s, n->id);
}

/* The reporter id speaking for node o (its Node-Name bound to it), or none. */
static uint32_t
voice_of(const struct state *s, const struct node *o)
{
	uint32_t rid = o->self_rid;

	if (rid == VOTE_NO_REPORTER || rid >= s->nreps || s->reps[rid].node != o->id)
		return VOTE_NO_REPORTER;
	return rid;
}

/*
 * Notes a ring change at the operation's time; whether it comes in a burst
 * (the OBSERVERS_BURST_CHANGES changes before it all within
 * OBSERVERS_BURST_WINDOW_MS).
 */
static bool
burst(struct state *s)
{
	long long oldest = s->ring_changes_ms[s->ring_changes_head];

	s->ring_changes_ms[s->ring_changes_head] = s->now;
	s->ring_changes_head = (s->ring_changes_head + 1) % OBSERVERS_BURST_CHANGES;
	return oldest != 0 && s->now - oldest < OBSERVERS_BURST_WINDOW_MS;
}

/*
 * Counts again the votes of the pairs the last ring change touched; in a
 * burst, the observers whose subjects changed wait for them to settle.
 */
static void
apply_delta(struct state *s, bool settle)
{
	size_t nd;
	const struct rings_pair *d = rings_delta(s->rings, &nd);

	for (size_t i = 0; i < nd; i++) {
		struct node *subj = inventory_get(s->inv, d[i].subject);
		struct node *obs = inventory_get(s->inv, d[i].observer);
		uint32_t rid;

		if (settle && obs != NULL)
			obs->settle_ms = s->now + OBSERVERS_SETTLE_MS;
		if (subj == NULL || obs == NULL || (rid = voice_of(s, obs)) == VOTE_NO_REPORTER)
			continue;
		if (votes_set_counted(subj, rid, state_reporter_counts(rid, subj, s)))
			queue(s, subj);
	}
}

void
observers_node_state(struct state *s, struct node *n, enum mon_state from,
    enum mon_state to)
{
	int rc = 0;

	if (s->params.observers == 0 || (from == MON_DISCOVERED) == (to == MON_DISCOVERED))
		return;
	if (to == MON_DISCOVERED) {
		rc = rings_insert(s->rings, n->name);
	} else {
		struct vote *own = n->self_rid != VOTE_NO_REPORTER ?
		    votes_find(n, n->self_rid) : NULL;

		rc = rings_remove(s->rings, n->name);
		/*
		 * Off the rings nobody observes it: its own vote of before must
		 * not bring it back; it has to report itself again.
		 */
		if (own != NULL) {
			own->kind = VOTE_NONE;
			n->self_kind = VOTE_NONE;
		}
	}
	if (rc == -ENOMEM)
		state_apply_oom("the observer rings");
	if (rc == 0)
		apply_delta(s, burst(s));
}

/* Builds the rings over the Discovered nodes with k rings (version bumped). */
static void
rebuild(struct state *s, uint32_t k)
{
	size_t n = inventory_count(s->inv), m = 0;
	const char **names = malloc((n ? n : 1) * sizeof(*names));

	if (names == NULL)
		state_apply_oom("the observer rings");
	for (size_t i = 0; k > 0 && i < n; i++) {
		const struct node *nd = inventory_at(s->inv, i);
		if (nd->state == MON_DISCOVERED)
			names[m++] = nd->name;
	}
	if (rings_rebuild(s->rings, k, names, m) < 0)
		state_apply_oom("the observer rings");
	free(names);
}

void
observers_set_k(struct state *s, uint32_t k)
{
	if (k == rings_k(s->rings))
		return;
	s->params.observers = k;
	rebuild(s, k);
	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		struct node *n = inventory_at(s->inv, i);
		if (n->votes.used == 0)
			continue;
		votes_recount(n, state_reporter_counts, s);
		queue(s, n);
	}
}

bool
observers_fresh_join(const struct state *s, const struct node *n, uint32_t rid)
{
	return s->params.observers > 0 && rid != VOTE_NO_REPORTER && rid == n->self_rid &&
	    n->state != MON_DISCOVERED;
}

bool
observers_settling(const struct state *s, const char *reporter)
{
	const struct node *me = inventory_by_member(s->inv, reporter);

	return me != NULL && me->settle_ms > s->now;
}

uint64_t
observers_version(const struct state *s)
{
	return rings_version(s->rings);
}

uint32_t
observers_k(const struct state *s)
{
	return s->params.observers;
}

size_t
observers_of(const struct state *s, const struct node *n, const char **ret, size_t max)
{
	return rings_observers(s->rings, n->name, ret, max);
}

size_t
observers_subjects(const struct state *s, const struct node *n, const char **ret,
    size_t max)
{
	return rings_subjects(s->rings, n->name, ret, max);
}

size_t
observers_reporter_subjects(const struct state *s, const char *reporter, const char **ret,
    size_t max)
{
	const struct node *me = inventory_by_member(s->inv, reporter);
	size_t n;

	if (me == NULL)
		return 0;
	n = rings_subjects(s->rings, me->name, ret, max);
	for (size_t i = 0; i < n; i++) {
		const struct node *sub = inventory_get(s->inv, ret[i]);
		if (sub != NULL && sub->rep.name != NULL && sub->rep.name[0] != '\0')
			ret[i] = sub->rep.name;
	}
	return n;
}
