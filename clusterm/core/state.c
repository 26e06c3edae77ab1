/*
 * The manager's state: its data and accessors (watermarks, reporters, the
 * audit ring, jobs, the timer heap, the disruption window, what snapshots
 * leave out). The pipeline that changes it is oplog.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsio.h"
#include "log.h"
#include "state.h"
#include "state_impl.h"
#include "strmap.h"

void
state_apply_oom(const char *what)
{
	/*
	 * The operation is durable and later ones depend on it: a state that
	 * skipped it would differ from the log. Restarting replays it.
	 */
	log_error("out of memory while applying %s; exiting (a restart replays the log)",
	    what);
	abort();
}

/* Puts node id on the apply step's work list (nodes to evaluate again). */
void
state_work_push(struct state *s, uint32_t id)
{
	if (s->nwork == s->capwork) {
		size_t cap = s->capwork ? s->capwork * 2 : 256;
		uint32_t *v = realloc(s->work, cap * sizeof(*v));
		if (v == NULL)
			state_apply_oom("the cascade");
		s->work = v;
		s->capwork = cap;
	}
	s->work[s->nwork++] = id;
}

static char *
xstrdup(const char *v)
{
	char *d = strdup(v != NULL ? v : "");

	if (d == NULL)
		state_apply_oom("an operation");
	return d;
}

/* Frees what the model holds (not the locks, not the pipeline). */
static void
model_free(struct state *s)
{
	inventory_free(s->inv);
	rings_free(s->rings);
	for (size_t i = 0; i < s->nwms; i++) {
		free(s->wms[i]->reporter);
		free(s->wms[i]->epoch);
		free(s->wms[i]);
	}
	free(s->wms);
	strmap_free(s->wm_index);
	for (uint32_t i = 0; i < s->nreps; i++) {
		free(s->reps[i].name);
		free(s->reps[i].voted);
		free(s->reps[i].epoch);
	}
	free(s->reps);
	strmap_free(s->rep_index);
	free(s->recent);
	free(s->recent_ms);
	free(s->heap);
	free(s->reap);
	free(s->work);
	free(s->round);
	for (size_t i = 0; i < s->njobs; i++)
		job_rec_free(s->jobs[i]);
	free(s->jobs);
	free(s->globals);
	free(s->ansible_override);
	for (size_t i = 0; s->events != NULL && i < s->nevents; i++)
		audit_event_finish(&s->events[(s->events_head + i) % STATE_EVENTS_KEEP]);
	free(s->events);
}

/* An empty model (the defaults). -ENOMEM. */
static int
model_init(struct state *s)
{
	s->next_job_id = 1;
	s->next_event_id = 1;
	s->globals = strdup("{}");
	s->hb_head = s->hb_tail = VOTE_NO_REPORTER;
	s->events = calloc(STATE_EVENTS_KEEP, sizeof(*s->events));
	s->inv = inventory_new();
	s->wm_index = strmap_new();
	s->rep_index = strmap_new();
	s->rings = rings_new(s->params.observers);
	if (s->inv == NULL || s->wm_index == NULL || s->rep_index == NULL || s->rings == NULL ||
	    s->globals == NULL || s->events == NULL)
		return -ENOMEM;
	return 0;
}

void
state_swap_model(struct state *a, struct state *b)
{
	/* The model is every field from inv to started_ms (state_impl.h). */
	size_t from = offsetof(struct state, inv), to = offsetof(struct state, started_ms);
	char tmp[offsetof(struct state, started_ms) - offsetof(struct state, inv)];
	int64_t rev = a->applied_rev;
	bool partial = a->key_partial;

	memcpy(tmp, (char *)a + from, to - from);
	memcpy((char *)a + from, (char *)b + from, to - from);
	memcpy((char *)b + from, tmp, to - from);
	a->applied_rev = b->applied_rev;
	a->key_partial = b->key_partial;
	b->applied_rev = rev;
	b->key_partial = partial;
}

int
state_reset(struct state *s)
{
	model_free(s);
	s->inv = NULL;
	s->rings = NULL;
	s->wms = NULL;
	s->nwms = s->capwms = 0;
	s->wm_index = s->rep_index = NULL;
	s->reps = NULL;
	s->nreps = s->capreps = 0;
	s->disruption = false;
	s->disruption_changed_ms = 0;
	s->gone_count = 0;
	s->recent = NULL;
	s->recent_ms = NULL;
	s->recent_head = s->recent_n = s->recent_cap = s->recent_live = 0;
	s->heap = NULL;
	s->nheap = s->capheap = 0;
	s->reap = NULL;
	s->nreap = s->capreap = 0;
	s->work = NULL;
	s->nwork = s->capwork = 0;
	s->round = NULL;
	s->capround = 0;
	s->changes = 0;
	s->jobs = NULL;
	s->njobs = s->capjobs = 0;
	s->globals = s->ansible_override = NULL;
	s->events = NULL;
	s->events_head = s->nevents = 0;
	if (model_init(s) < 0)
		state_apply_oom("a reload of the state");
	return 0;
}

struct state *
state_new(const struct votes_params *params, state_apply_fn apply, void *apply_arg)
{
	pthread_rwlockattr_t attr;
	pthread_condattr_t cattr;
	struct state *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_rwlockattr_init(&attr);
	/* Intake must not starve behind a stream of GETs. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&s->append_mu, NULL);
	pthread_mutex_init(&s->list_mu, NULL);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->list_cv, &cattr);
	pthread_mutex_init(&s->watch_mu, NULL);
	pthread_mutex_init(&s->apply_mu, NULL);
	pthread_cond_init(&s->apply_cv, NULL);
	pthread_cond_init(&s->watch_cv, &cattr);
	pthread_condattr_destroy(&cattr);
	s->params = *params;
	s->initial_params = *params;
	s->apply = apply;
	s->apply_arg = apply_arg;
	s->started_ms = fsio_now_ms();
	s->snap_records = STATE_SNAPSHOT_RECORDS;
	if (model_init(s) < 0) {
		state_close(s);
		return NULL;
	}
	return s;
}

void
state_close(struct state *s)
{
	if (s == NULL)
		return;
	store_close(s->store);
	state_close(s->reload);	/* a reload cut short by the stop */
	model_free(s);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->append_mu);
	pthread_mutex_destroy(&s->list_mu);
	pthread_cond_destroy(&s->list_cv);
	pthread_mutex_destroy(&s->watch_mu);
	pthread_mutex_destroy(&s->apply_mu);
	pthread_cond_destroy(&s->apply_cv);
	pthread_cond_destroy(&s->watch_cv);
	free(s);
}

/* ---- the pipeline ---- */

struct watermark *
state_watermark(struct state *s, const char *reporter)
{
	return strmap_get(s->wm_index, reporter);
}

void
state_set_watermark(struct state *s, const char *reporter, const char *epoch, uint64_t seq)
{
	struct watermark *wm = strmap_get(s->wm_index, reporter);

	if (wm == NULL) {
		if (s->nwms == s->capwms) {
			size_t cap = s->capwms ? s->capwms * 2 : 16;
			struct watermark **v = realloc(s->wms, cap * sizeof(*v));
			if (v == NULL)
				state_apply_oom("a watermark");
			s->wms = v;
			s->capwms = cap;
		}
		if ((wm = calloc(1, sizeof(*wm))) == NULL)
			state_apply_oom("a watermark");
		wm->reporter = xstrdup(reporter);
		wm->epoch = xstrdup(epoch);
		if (strmap_put(s->wm_index, wm->reporter, wm) < 0)
			state_apply_oom("a watermark");
		s->wms[s->nwms++] = wm;
	} else if (strcmp(wm->epoch, epoch) != 0) {
		free(wm->epoch);
		wm->epoch = xstrdup(epoch);
	}
	wm->seq = seq;
}

uint32_t
state_reporter_find(const struct state *s, const char *name)
{
	uintptr_t v = (uintptr_t)strmap_get(s->rep_index, name);

	return v == 0 ? VOTE_NO_REPORTER : (uint32_t)(v - 1);
}

bool
state_reporter_counts(uint32_t rid, const struct node *n, void *arg)
{
	const struct state *s = arg;
	const struct reporter *r;

	if (rid >= s->nreps || !(r = &s->reps[rid])->counts)
		return false;
	if (s->params.observers == 0)
		return true;
	/* Observers in force: only the node's observers on the rings count. */
	return r->node != VOTE_NO_REPORTER &&
	    rings_is_observer(s->rings, n->name, inventory_at(s->inv, r->node)->name);
}

uint32_t
state_reporter(struct state *s, const char *name)
{
	uint32_t rid = state_reporter_find(s, name);
	struct reporter *r;

	if (rid != VOTE_NO_REPORTER)
		return rid;
	if (s->nreps == s->capreps) {
		uint32_t cap = s->capreps ? s->capreps * 2 : 64;
		struct reporter *v = realloc(s->reps, (size_t)cap * sizeof(*v));
		if (v == NULL)
			state_apply_oom("a reporter");
		s->reps = v;
		s->capreps = cap;
	}
	rid = s->nreps;
	r = &s->reps[rid];
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->node = VOTE_NO_REPORTER;
	r->counts = true;
	r->epoch = xstrdup("");
	r->spool_depth = -1;
	r->hb_prev = r->hb_next = VOTE_NO_REPORTER;
	if (strmap_put(s->rep_index, r->name, (void *)(uintptr_t)(rid + 1)) < 0)
		state_apply_oom("a reporter");
	s->nreps++;
	return rid;
}

/* ---- audit events, jobs, globals ---- */

void
audit_event_finish(struct audit_event *e)
{
	free(e->node);
	free(e->kind);
	free(e->old_val);
	free(e->new_val);
	free(e->actor);
	free(e->comment);
	memset(e, 0, sizeof(*e));
}

/* Puts e (taken over) at the ring's end, dropping the oldest when full. */
static void
ring_push(struct state *s, struct audit_event *e)
{
	size_t slot;

	if (s->nevents == STATE_EVENTS_KEEP) {
		audit_event_finish(&s->events[s->events_head]);
		slot = s->events_head;
		s->events_head = (s->events_head + 1) % STATE_EVENTS_KEEP;
	} else {
		slot = (s->events_head + s->nevents) % STATE_EVENTS_KEEP;
		s->nevents++;
	}
	s->events[slot] = *e;
	memset(e, 0, sizeof(*e));
}

void
state_event(struct state *s, const char *node, const char *kind, const char *old_val,
    const char *new_val, const char *actor, const char *comment)
{
	struct audit_event e = { 0 };

	e.id = s->next_event_id++;
	e.time_ms = s->now;
	e.node = xstrdup(node);
	e.kind = xstrdup(kind);
	e.old_val = xstrdup(old_val);
	e.new_val = xstrdup(new_val);
	e.actor = xstrdup(actor);
	e.comment = xstrdup(comment);
	ring_push(s, &e);
}

void
state_event_put(struct state *s, struct audit_event *e)
{
	if (e->id >= s->next_event_id)
		s->next_event_id = e->id + 1;
	ring_push(s, e);
}

const struct audit_event *
state_event_at(const struct state *s, size_t i)
{
	return &s->events[(s->events_head + i) % STATE_EVENTS_KEEP];
}

void
job_rec_free(struct job_rec *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nnodes; i++) {
		free(j->nodes[i]);
		if (j->groups != NULL)
			free(j->groups[i]);
	}
	free(j->nodes);
	free(j->groups);
	free(j->host_group);
	free(j->extra_vars);
	free(j->error);
	free(j->actor);
	free(j);
}

int
state_job_put(struct state *s, struct job_rec *j)
{
	if (s->njobs == s->capjobs) {
		size_t cap = s->capjobs ? s->capjobs * 2 : 16;
		struct job_rec **v = realloc(s->jobs, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->jobs = v;
		s->capjobs = cap;
	}
	s->jobs[s->njobs++] = j;
	if (j->id >= s->next_job_id)
		s->next_job_id = j->id + 1;
	return 0;
}

struct job_rec *
state_job_new(struct state *s, enum job_op op)
{
	struct job_rec *j = calloc(1, sizeof(*j));

	if (j == NULL)
		state_apply_oom("a job");
	j->op = op;
	j->id = s->next_job_id;
	j->exit_code = -1;
	j->created_ms = s->now;
	j->host_group = xstrdup("");
	j->extra_vars = xstrdup("");
	j->error = xstrdup("");
	j->actor = xstrdup("");
	if (state_job_put(s, j) < 0)
		state_apply_oom("a job");
	return j;
}

struct job_rec *
state_job_get(const struct state *s, uint64_t id)
{
	/* Ids grow with the table's order: binary search. */
	size_t lo = 0, hi = s->njobs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->jobs[mid]->id == id)
			return s->jobs[mid];
		if (s->jobs[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void
state_set_globals(struct state *s, const char *json)
{
	char *g = xstrdup(json);

	free(s->globals);
	s->globals = g;
}

void
state_set_ansible_override(struct state *s, const char *json)
{
	char *g = json != NULL && json[0] != '\0' ? xstrdup(json) : NULL;

	free(s->ansible_override);
	s->ansible_override = g;
}

/* ---- readers' accessors ---- */

void
state_rdlock(struct state *s)
{
	pthread_rwlock_rdlock(&s->lock);
}

void
state_wrlock(struct state *s)
{
	pthread_rwlock_wrlock(&s->lock);
}

void
state_unlock(struct state *s)
{
	pthread_rwlock_unlock(&s->lock);
}

struct inventory *
state_inventory(const struct state *s)
{
	return s->inv;
}

size_t
state_njobs(const struct state *s)
{
	return s->njobs;
}

struct job_rec *
state_job_at(const struct state *s, size_t i)
{
	return s->jobs[i];
}

const char *
state_globals(const struct state *s)
{
	return s->globals;
}

const char *
state_ansible_override(const struct state *s)
{
	return s->ansible_override;
}

size_t
state_nevents(const struct state *s)
{
	return s->nevents;
}

uint64_t
state_next_event_id(const struct state *s)
{
	return s->next_event_id;
}

bool
state_disruption(const struct state *s, long long *ret_changed_ms)
{
	if (ret_changed_ms != NULL)
		*ret_changed_ms = s->disruption_changed_ms;
	return s->disruption;
}

const struct votes_params *
state_params(const struct state *s)
{
	return &s->params;
}

uint32_t
state_nreporters(const struct state *s)
{
	return s->nreps;
}

const char *
state_reporter_name(const struct state *s, uint32_t rid)
{
	return s->reps[rid].name;
}

struct store *
state_store(const struct state *s)
{
	return s->store;
}
