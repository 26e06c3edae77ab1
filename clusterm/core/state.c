/*
 * State ownership and the pipeline: operations appended, made durable,
 * applied in log order, answered; recovery and snapshots.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsio.h"
#include "log.h"
#include "records.h"
#include "state.h"
#include "strmap.h"

/* An operation between its append and its apply (on its submitter's stack). */
struct pending {
	uint64_t seq;
	struct op *op;
	struct pending *prev, *next;
};

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

static char *
xstrdup(const char *v)
{
	char *d = strdup(v != NULL ? v : "");

	if (d == NULL)
		state_apply_oom("an operation");
	return d;
}

/* ---- the clock ---- */

/* append_mu held: the time of the next operation, never behind the last one. */
static long long
clock_next(struct state *s)
{
	long long t = s->clock_base_ms + (fsio_mono_ms() - s->clock_base_mono);

	if (t < s->clock_last_ms)
		t = s->clock_last_ms;
	s->clock_last_ms = t;
	return t;
}

long long
state_clock_ms(struct state *s)
{
	long long t;

	pthread_mutex_lock(&s->append_mu);
	t = s->clock_base_ms + (fsio_mono_ms() - s->clock_base_mono);
	if (t < s->clock_last_ms)
		t = s->clock_last_ms;
	pthread_mutex_unlock(&s->append_mu);
	return t;
}

/* ---- recovery ---- */

struct recover_ctx {
	struct state *s;
	char *err;
	size_t errlen;
	uint64_t ops;
};

static int
recover_snapshot(const void *buf, size_t len, void *arg)
{
	struct recover_ctx *c = arg;

	c->s->snap_bytes = len;
	return records_decode_snapshot(c->s, buf, len, c->err, c->errlen);
}

static int
recover_op(const void *buf, size_t len, void *arg)
{
	struct recover_ctx *c = arg;
	struct state *s = c->s;
	struct op op;
	int rc;

	if (!ops_is_op(buf, len)) {
		snprintf(c->err, c->errlen, "a record is not an operation (a state dir of an "
		    "older clusterm, which logged node images, cannot be read by this one)");
		return -EBADMSG;
	}
	rc = ops_decode(buf, len, &op, c->err, c->errlen);
	if (rc < 0)
		return rc;
	if (op.time_ms > s->clock_last_ms)
		s->clock_last_ms = op.time_ms;
	s->apply(s, &op, s->apply_arg);
	ops_free(&op);
	c->ops++;
	return 0;
}

static struct state *
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
	s->apply = apply;
	s->apply_arg = apply_arg;
	s->started_ms = fsio_now_ms();
	s->next_job_id = 1;
	s->next_event_id = 1;
	s->globals = strdup("{}");
	s->events = calloc(STATE_EVENTS_KEEP, sizeof(*s->events));
	s->inv = inventory_new();
	s->wm_index = strmap_new();
	s->rep_index = strmap_new();
	if (s->inv == NULL || s->wm_index == NULL || s->rep_index == NULL ||
	    s->globals == NULL || s->events == NULL) {
		state_close(s);
		return NULL;
	}
	return s;
}

int
state_open_store(struct store *st, const struct votes_params *params, state_apply_fn apply,
    void *apply_arg, struct state **ret, char *err, size_t errlen, store_warn_fn warn,
    void *warn_arg)
{
	struct recover_ctx ctx;
	struct state *s;
	char inner[512] = "";
	int rc;

	s = state_new(params, apply, apply_arg);
	if (s == NULL) {
		store_close(st);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->store = st;
	ctx.s = s;
	ctx.err = inner;
	ctx.errlen = sizeof(inner);
	ctx.ops = 0;
	s->recovering = true;
	pthread_rwlock_wrlock(&s->lock);
	rc = store_recover(s->store, recover_snapshot, recover_op, &ctx, warn, warn_arg, err,
	    errlen);
	pthread_rwlock_unlock(&s->lock);
	s->recovering = false;
	if (rc < 0) {
		if (inner[0] != '\0')
			snprintf(err, errlen, "%s", inner);
		state_close(s);
		return rc;
	}
	/* Decoding a large snapshot leaves freed arenas behind: give them back. */
	malloc_trim(0);
	/* The clock goes on from the last operation, even if the wall clock is behind. */
	s->clock_base_ms = fsio_now_ms();
	if (s->clock_base_ms < s->clock_last_ms)
		s->clock_base_ms = s->clock_last_ms;
	s->clock_base_mono = fsio_mono_ms();
	*ret = s;
	return 0;
}

int
state_open(const char *dir, const struct votes_params *params, state_apply_fn apply,
    void *apply_arg, struct state **ret, char *err, size_t errlen, store_warn_fn warn,
    void *warn_arg)
{
	struct store *st;
	int rc;

	rc = store_open(dir, &st, err, errlen);
	if (rc < 0)
		return rc;
	rc = state_open_store(st, params, apply, apply_arg, ret, err, errlen, warn, warn_arg);
	if (rc < 0 && strncmp(err, dir, strlen(dir)) != 0) {
		char inner[512];
		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "%s: %s", dir, inner);
	}
	return rc;
}

void
state_close(struct state *s)
{
	if (s == NULL)
		return;
	store_close(s->store);
	inventory_free(s->inv);
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
	}
	free(s->reps);
	strmap_free(s->rep_index);
	free(s->recent);
	free(s->recent_ms);
	free(s->heap);
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

/* append_mu held: remembers why the store failed (the first reason wins). */
static void
mark_failed(struct state *s, int rc)
{
	char why[256];

	if (s->failed)
		return;
	s->failed = true;
	if (store_failure(s->store, why, sizeof(why)) != 1)
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	snprintf(s->fail_why, sizeof(s->fail_why), "%s", why);
	log_error("store failed: %s; every write is refused until clusterm is restarted",
	    s->fail_why);
}

bool
state_failed(struct state *s, char *why, size_t len)
{
	bool f;

	pthread_mutex_lock(&s->append_mu);
	f = s->failed;
	if (f && why != NULL)
		snprintf(why, len, "%s", s->fail_why);
	pthread_mutex_unlock(&s->append_mu);
	return f;
}

static void
unlink_pending(struct state *s, struct pending *p)
{
	pthread_mutex_lock(&s->list_mu);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		s->head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		s->tail = p->prev;
	if (s->head == NULL)
		pthread_cond_broadcast(&s->list_cv);
	pthread_mutex_unlock(&s->list_mu);
}

int
state_submit(struct state *s, struct op *op)
{
	struct pending p = { .op = op };
	uint64_t next_event;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(&op->res, 0, sizeof(op->res));
	pthread_mutex_lock(&s->append_mu);
	if (s->failed) {
		snprintf(op->res.err, sizeof(op->res.err), "the store refuses writes after an "
		    "earlier failure (%.200s); restart clusterm to recover from disk",
		    s->fail_why);
		pthread_mutex_unlock(&s->append_mu);
		return -EIO;
	}
	op->time_ms = clock_next(s);
	rc = ops_encode(op, &buf, &len);
	if (rc == 0)
		rc = store_append(s->store, buf, len, &p.seq);
	free(buf);
	if (rc < 0) {
		if (rc != -ENOMEM)
			mark_failed(s, rc);
		snprintf(op->res.err, sizeof(op->res.err), "%s", rc == -ENOMEM ?
		    "out of memory" : "the store could not take the operation");
		pthread_mutex_unlock(&s->append_mu);
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	pthread_mutex_lock(&s->list_mu);
	p.prev = s->tail;
	if (s->tail != NULL)
		s->tail->next = &p;
	else
		s->head = &p;
	s->tail = &p;
	pthread_mutex_unlock(&s->list_mu);
	pthread_mutex_unlock(&s->append_mu);

	rc = store_wait(s->store, p.seq);
	if (rc < 0) {
		/*
		 * Not durable, so not applied: nothing of it is visible. Out of
		 * the list first: a snapshot waiting (under append_mu) for the
		 * list to empty must not wait for us.
		 */
		unlink_pending(s, &p);
		pthread_mutex_lock(&s->append_mu);
		mark_failed(s, rc);
		snprintf(op->res.err, sizeof(op->res.err), "the store could not make the "
		    "operation durable (%s)", s->fail_why);
		pthread_mutex_unlock(&s->append_mu);
		return -EIO;
	}
	/*
	 * Durable, and so is everything appended before it: one submitter at a
	 * time applies those not applied yet, in log order, up to its own; the
	 * others sleep until theirs is applied (no convoy on the state lock
	 * after each group commit).
	 */
	pthread_mutex_lock(&s->apply_mu);
	while (s->applied_seq < p.seq) {
		if (s->applying) {
			pthread_cond_wait(&s->apply_cv, &s->apply_mu);
			continue;
		}
		s->applying = true;
		pthread_mutex_unlock(&s->apply_mu);
		pthread_rwlock_wrlock(&s->lock);
		for (;;) {
			struct pending *q;
			/*
			 * Only a durable head is ours to apply: its submitter waits
			 * for it, so it stays valid. A later one may be unlinked by
			 * its submitter (a failed store) at any moment.
			 */
			pthread_mutex_lock(&s->list_mu);
			q = s->head;
			if (q != NULL && q->seq > p.seq)
				q = NULL;
			pthread_mutex_unlock(&s->list_mu);
			if (q == NULL)
				break;
			s->apply(s, q->op, s->apply_arg);
			unlink_pending(s, q);
			pthread_mutex_lock(&s->apply_mu);
			s->applied_seq = q->seq;
			pthread_mutex_unlock(&s->apply_mu);
		}
		next_event = s->next_event_id;
		pthread_rwlock_unlock(&s->lock);
		/* The applier wakes the watchers of the audit log. */
		pthread_mutex_lock(&s->watch_mu);
		if (next_event > s->watch_next_event) {
			s->watch_next_event = next_event;
			pthread_cond_broadcast(&s->watch_cv);
		}
		pthread_mutex_unlock(&s->watch_mu);
		pthread_mutex_lock(&s->apply_mu);
		s->applying = false;
		pthread_cond_broadcast(&s->apply_cv);
	}
	pthread_mutex_unlock(&s->apply_mu);
	return 0;
}

int
state_watch_events(struct state *s, uint64_t next_id, long timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->watch_mu);
	if (s->watch_next_event == 0) {
		/* Nothing applied since the start yet: the recovered log's events count. */
		pthread_rwlock_rdlock(&s->lock);
		if (s->next_event_id > s->watch_next_event)
			s->watch_next_event = s->next_event_id;
		pthread_rwlock_unlock(&s->lock);
	}
	while (!s->watch_closed && s->watch_next_event <= next_id && rc == 0)
		rc = pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &ts);
	rc = s->watch_closed ? -ESHUTDOWN : s->watch_next_event > next_id ? 1 : 0;
	pthread_mutex_unlock(&s->watch_mu);
	return rc;
}

void
state_wake_watchers(struct state *s, bool closing)
{
	pthread_mutex_lock(&s->watch_mu);
	if (closing)
		s->watch_closed = true;
	pthread_cond_broadcast(&s->watch_cv);
	pthread_mutex_unlock(&s->watch_mu);
}

/* ---- watermarks and reporters ---- */

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
state_reporter_counts(uint32_t rid, void *arg)
{
	const struct state *s = arg;

	return rid < s->nreps && s->reps[rid].counts;
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
		qsort(w, nw, sizeof(*w), by_recent);
		for (size_t i = 0; i < nw; i++) {
			long long ms = w[i]->recent_ms;
			w[i]->recent_ms = 0;
			state_window_enter(s, w[i], ms);
		}
		free(w);
	}
}

/* ---- snapshots ---- */

int
state_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen)
{
	struct store_stats st;
	struct timespec ts;
	uint64_t gen;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	store_get_stats(s->store, &st);
	if (!force && (st.log_records < STATE_SNAPSHOT_RECORDS || st.log_bytes < s->snap_bytes) &&
	    (st.log_bytes < STATE_SNAPSHOT_BYTES || st.log_bytes < 2 * s->snap_bytes))
		return 0;
	/*
	 * The log is cut where the snapshot's state is: no appends meanwhile,
	 * and every operation appended before is applied first.
	 */
	pthread_mutex_lock(&s->append_mu);
	if (s->failed) {
		pthread_mutex_unlock(&s->append_mu);
		snprintf(err, errlen, "snapshot: the store has failed");
		return -EIO;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += STATE_SNAPSHOT_DRAIN_MS / 1000;
	pthread_mutex_lock(&s->list_mu);
	while (s->head != NULL && rc == 0)
		rc = pthread_cond_timedwait(&s->list_cv, &s->list_mu, &ts);
	pthread_mutex_unlock(&s->list_mu);
	if (rc != 0) {
		pthread_mutex_unlock(&s->append_mu);
		snprintf(err, errlen, "snapshot: operations still in flight after %d ms; "
		    "trying later", STATE_SNAPSHOT_DRAIN_MS);
		return -EAGAIN;
	}
	pthread_rwlock_rdlock(&s->lock);
	rc = store_snapshot_begin(s->store, &gen);
	if (rc == 0)
		rc = records_encode_snapshot(s, &buf, &len);
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_unlock(&s->append_mu);
	if (rc < 0) {
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
		return rc;
	}
	rc = store_snapshot_commit(s->store, gen, buf, len);
	free(buf);
	if (rc == 0)
		s->snap_bytes = len;
	if (rc < 0)
		snprintf(err, errlen, "snapshot %llu: %s", (unsigned long long)gen,
		    strerror(-rc));
	return rc < 0 ? rc : 1;
}
