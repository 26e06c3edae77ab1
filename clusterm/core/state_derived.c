/*
 * The state's derived structures: the timer heap of grace deadlines, the
 * disruption window, and their rebuild (with the reporter index) after a
 * snapshot, which leaves them out. Part of state.h's module.
 */
#include <stdlib.h>

#include "forget.h"
#include "state.h"
#include "state_impl.h"

/* ---- the timer heap and the disruption window ---- */

static bool
before(const struct state *s, uint32_t a, uint32_t b)
{
	const struct node *x = inventory_at(s->inv, a), *y = inventory_at(s->inv, b);

	return x->deadline_ms < y->deadline_ms || (x->deadline_ms == y->deadline_ms && a < b);
}

static void
heap_place(struct state *s, size_t i, uint32_t id)
{
	s->heap[i] = id;
	inventory_at(s->inv, id)->heap_idx = (int32_t)i;
}

static void
heap_up(struct state *s, size_t i)
{
	uint32_t id = s->heap[i];

	while (i > 0 && before(s, id, s->heap[(i - 1) / 2])) {
		heap_place(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(s, i, id);
}

static void
heap_down(struct state *s, size_t i)
{
	uint32_t id = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && before(s, s->heap[c + 1], s->heap[c]))
			c++;
		if (!before(s, s->heap[c], id))
			break;
		heap_place(s, i, s->heap[c]);
		i = c;
	}
	heap_place(s, i, id);
}

void
state_timer_set(struct state *s, struct node *n, long long deadline_ms)
{
	if (n->heap_idx >= 0) {
		size_t i = (size_t)n->heap_idx;
		uint32_t last = s->heap[--s->nheap];
		n->heap_idx = -1;
		if (i < s->nheap) {
			heap_place(s, i, last);
			heap_up(s, i);
			heap_down(s, (size_t)inventory_at(s->inv, last)->heap_idx);
		}
	}
	n->deadline_ms = deadline_ms;
	if (deadline_ms == 0)
		return;
	if (s->nheap == s->capheap) {
		size_t cap = s->capheap ? s->capheap * 2 : 64;
		uint32_t *v = realloc(s->heap, cap * sizeof(*v));
		if (v == NULL)
			state_apply_oom("the timer heap");
		s->heap = v;
		s->capheap = cap;
	}
	s->nheap++;
	heap_place(s, s->nheap - 1, n->id);
	heap_up(s, s->nheap - 1);
}

long long
state_timer_next(const struct state *s)
{
	return s->nheap > 0 ? inventory_at(s->inv, s->heap[0])->deadline_ms : 0;
}

struct node *
state_timer_due(struct state *s, long long now_ms)
{
	struct node *n;

	if (s->nheap == 0)
		return NULL;
	n = inventory_at(s->inv, s->heap[0]);
	if (n->deadline_ms > now_ms)
		return NULL;
	state_timer_set(s, n, 0);
	return n;
}

void
state_window_enter(struct state *s, struct node *n, long long ms)
{
	size_t slot;

	if (s->recent_n == s->recent_cap) {
		size_t cap = s->recent_cap ? s->recent_cap * 2 : 64;
		uint32_t *ids = malloc(cap * sizeof(*ids));
		long long *mss = malloc(cap * sizeof(*mss));
		if (ids == NULL || mss == NULL)
			state_apply_oom("the disruption window");
		for (size_t i = 0; i < s->recent_n; i++) {
			ids[i] = s->recent[(s->recent_head + i) % s->recent_cap];
			mss[i] = s->recent_ms[(s->recent_head + i) % s->recent_cap];
		}
		free(s->recent);
		free(s->recent_ms);
		s->recent = ids;
		s->recent_ms = mss;
		s->recent_head = 0;
		s->recent_cap = cap;
	}
	if (n->recent_ms != 0)
		s->recent_live--;
	slot = (s->recent_head + s->recent_n++) % s->recent_cap;
	s->recent[slot] = n->id;
	s->recent_ms[slot] = ms;
	n->recent_ms = ms;
	s->recent_live++;
}

void
state_window_leave(struct state *s, struct node *n)
{
	if (n->recent_ms == 0)
		return;
	n->recent_ms = 0;
	s->recent_live--;
}

size_t
state_window_count(struct state *s, long long now_ms, long long window_ms)
{
	while (s->recent_n > 0 && now_ms - s->recent_ms[s->recent_head] > window_ms) {
		struct node *n = inventory_at(s->inv, s->recent[s->recent_head]);
		if (n != NULL && n->recent_ms == s->recent_ms[s->recent_head])
			state_window_leave(s, n);
		s->recent_head = (s->recent_head + 1) % s->recent_cap;
		s->recent_n--;
	}
	return s->recent_live;
}

static int
by_recent(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;

	if (x->recent_ms != y->recent_ms)
		return x->recent_ms < y->recent_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* ---- derived structures ---- */

void
state_rebuild_derived(struct state *s)
{
	size_t n = inventory_count(s->inv);

	/* Reporter -> node bindings, and whether their votes count. */
	for (uint32_t r = 0; r < s->nreps; r++) {
		struct node *b = inventory_by_member(s->inv, s->reps[r].name);
		s->reps[r].node = b != NULL ? b->id : VOTE_NO_REPORTER;
		s->reps[r].counts = b == NULL || b->state != MON_DISAPPEARED;
		s->reps[r].nvoted = 0;
	}
	/* The rings from the Discovered nodes; their version is the state's. */
	{
		uint64_t version = rings_version(s->rings);
		const char **names = malloc((n ? n : 1) * sizeof(*names));
		size_t m = 0;
		if (names == NULL)
			state_apply_oom("the observer rings");
		for (size_t i = 0; s->params.observers > 0 && i < n; i++) {
			struct node *nd = inventory_at(s->inv, i);
			if (nd->state == MON_DISCOVERED)
				names[m++] = nd->name;
		}
		if (rings_rebuild(s->rings, s->params.observers, names, m) < 0)
			state_apply_oom("the observer rings");
		rings_set_version(s->rings, version);
		free(names);
	}
	s->gone_count = 0;
	for (size_t i = 0; i < n; i++) {
		struct node *nd = inventory_at(s->inv, i);
		nd->self_rid = nd->rep.name != NULL ? state_reporter_find(s, nd->rep.name) :
		    VOTE_NO_REPORTER;
		votes_recount(nd, state_reporter_counts, s);
		if (nd->state == MON_DISAPPEARED)
			s->gone_count++;
		/* Reporter -> nodes index. */
		for (uint32_t k = 0; k < nd->votes.cap; k++) {
			uint32_t rid = nd->votes.slots[k].rid;
			struct reporter *r;
			if (rid == VOTE_NO_REPORTER || rid >= s->nreps)
				continue;
			r = &s->reps[rid];
			if (r->nvoted == r->capvoted) {
				uint32_t cap = r->capvoted ? r->capvoted * 2 : 16;
				uint32_t *v = realloc(r->voted, (size_t)cap * sizeof(*v));
				if (v == NULL)
					state_apply_oom("the reporter index");
				r->voted = v;
				r->capvoted = cap;
			}
			r->voted[r->nvoted++] = nd->id;
		}
	}
	/* The timer heap and the disruption window, from the nodes' fields. */
	s->nheap = 0;
	s->recent_n = s->recent_head = s->recent_live = 0;
	{
		struct node **w = malloc((n ? n : 1) * sizeof(*w));
		size_t nw = 0;
		if (w == NULL)
			state_apply_oom("the disruption window");
		for (size_t i = 0; i < n; i++) {
			struct node *nd = inventory_at(s->inv, i);
			long long d = nd->deadline_ms;
			nd->heap_idx = -1;
			nd->deadline_ms = 0;
			if (d != 0)
				state_timer_set(s, nd, d);
			if (nd->recent_ms != 0)
				w[nw++] = nd;
		}
		/* The reap heap too (forget.c): its members follow from the nodes. */
		s->nreap = 0;
		for (size_t i = 0; i < n; i++) {
			inventory_at(s->inv, i)->reap_idx = -1;
			forget_watch(s, inventory_at(s->inv, i));
		}
		qsort(w, nw, sizeof(*w), by_recent);
		for (size_t i = 0; i < nw; i++) {
			long long ms = w[i]->recent_ms;
			w[i]->recent_ms = 0;
			state_window_enter(s, w[i], ms);
		}
		free(w);
	}
}
