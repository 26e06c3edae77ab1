/* Per-reporter records and the heartbeat queue (CONTRACT 11). */
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "reporters.h"
#include "state_impl.h"

void
reporters_get(const struct state *s, uint32_t rid, struct reporter_view *ret)
{
	const struct reporter *r = &s->reps[rid];

	ret->name = r->name;
	ret->epoch = r->epoch != NULL ? r->epoch : "";
	ret->last_seq = r->last_seq;
	ret->heard_ms = r->heard_ms;
	ret->sync_ms = r->sync_ms;
	ret->hb_ms = r->hb_ms;
	ret->batches = r->batches;
	ret->reports = r->reports;
	ret->spool_depth = r->spool_depth;
}

bool
reporters_stale(const struct reporter_view *v, const struct votes_params *p, long long now_ms)
{
	return v->heard_ms == 0 || now_ms - v->heard_ms >= p->reporter_stale_ms;
}

bool
reporters_room(const struct state *s, const char *name)
{
	return s->nreps < LIMIT_REPORTERS || state_reporter_find(s, name) != VOTE_NO_REPORTER;
}

void
reporters_heard(struct state *s, uint32_t rid, const char *epoch, uint64_t seq, bool has_seq,
    long long spool_depth)
{
	struct reporter *r = &s->reps[rid];

	r->heard_ms = s->now;
	if (spool_depth >= 0)
		r->spool_depth = spool_depth;
	if (epoch != NULL && epoch[0] != '\0' && strcmp(epoch, r->epoch) != 0) {
		/* A new spool: its counter starts again. */
		char *e = strdup(epoch);
		if (e == NULL)
			state_apply_oom("a reporter record");
		free(r->epoch);
		r->epoch = e;
		r->last_seq = has_seq ? seq : 0;
	} else if (has_seq && seq > r->last_seq) {
		r->last_seq = seq;
	}
}

static void
unlink_hb(struct state *s, struct reporter *r)
{
	if (!r->hb_queued)
		return;
	if (r->hb_prev != VOTE_NO_REPORTER)
		s->reps[r->hb_prev].hb_next = r->hb_next;
	else
		s->hb_head = r->hb_next;
	if (r->hb_next != VOTE_NO_REPORTER)
		s->reps[r->hb_next].hb_prev = r->hb_prev;
	else
		s->hb_tail = r->hb_prev;
	r->hb_prev = r->hb_next = VOTE_NO_REPORTER;
	r->hb_queued = false;
}

static void
push_hb(struct state *s, uint32_t rid)
{
	struct reporter *r = &s->reps[rid];

	r->hb_prev = s->hb_tail;
	r->hb_next = VOTE_NO_REPORTER;
	if (s->hb_tail != VOTE_NO_REPORTER)
		s->reps[s->hb_tail].hb_next = rid;
	else
		s->hb_head = rid;
	s->hb_tail = rid;
	r->hb_queued = true;
}

void
reporters_heartbeat(struct state *s, uint32_t rid)
{
	struct reporter *r = &s->reps[rid];

	unlink_hb(s, r);
	r->hb_ms = s->now;
	push_hb(s, rid);
}

uint32_t
reporters_hb_due(struct state *s, long long now_ms)
{
	uint32_t rid = s->hb_head;

	if (rid == VOTE_NO_REPORTER ||
	    s->reps[rid].hb_ms + s->params.hb_timeout_ms > now_ms)
		return VOTE_NO_REPORTER;
	unlink_hb(s, &s->reps[rid]);
	return rid;
}

long long
reporters_hb_next(const struct state *s)
{
	if (s->hb_head == VOTE_NO_REPORTER)
		return 0;
	return s->reps[s->hb_head].hb_ms + s->params.hb_timeout_ms;
}

/* By place in the queue (hb_prev holds it while the queue is rebuilt). */
static int
by_place(const void *a, const void *b, void *arg)
{
	const struct state *s = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t px = s->reps[x].hb_prev, py = s->reps[y].hb_prev;

	if (px != py)
		return px < py ? -1 : 1;
	return x < y ? -1 : x > y;
}

void
reporters_rebuild_queue(struct state *s)
{
	uint32_t *ids = malloc((s->nreps ? s->nreps : 1) * sizeof(*ids));
	uint32_t n = 0;

	if (ids == NULL)
		state_apply_oom("the heartbeat queue");
	s->hb_head = s->hb_tail = VOTE_NO_REPORTER;
	for (uint32_t i = 0; i < s->nreps; i++)
		if (s->reps[i].hb_queued)
			ids[n++] = i;
	qsort_r(ids, n, sizeof(*ids), by_place, s);
	for (uint32_t i = 0; i < s->nreps; i++) {
		s->reps[i].hb_prev = s->reps[i].hb_next = VOTE_NO_REPORTER;
		s->reps[i].hb_queued = false;
	}
	for (uint32_t i = 0; i < n; i++)
		push_hb(s, ids[i]);
	free(ids);
}
