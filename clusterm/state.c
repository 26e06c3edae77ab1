/* State ownership and persistence: recovery, log records, snapshots. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsio.h"
#include "state.h"
#include "strmap.h"

static int
recover_node(struct node *n, void *arg)
{
	struct state *s = arg;

	return inventory_put(s->inv, n);
}

static int
recover_wm(const char *reporter, const char *epoch, uint64_t seq, void *arg)
{
	return state_set_watermark(arg, reporter, epoch, seq);
}

static int
recover_job(struct job_rec *j, void *arg)
{
	struct state *s = arg;
	struct job_rec *cur = state_job_get(s, j->id);

	if (cur != NULL) {
		/* Replace in place: the table's order is the creation order. */
		for (size_t i = 0; i < s->njobs; i++)
			if (s->jobs[i] == cur)
				s->jobs[i] = j;
		job_rec_free(cur);
	} else {
		struct job_rec **v = s->jobs;
		if (s->njobs == s->capjobs) {
			size_t cap = s->capjobs ? s->capjobs * 2 : 16;
			v = realloc(s->jobs, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			s->jobs = v;
			s->capjobs = cap;
		}
		s->jobs[s->njobs++] = j;
	}
	if (j->id >= s->next_job_id)
		s->next_job_id = j->id + 1;
	return 0;
}

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

static int
recover_event(struct audit_event *e, void *arg)
{
	struct state *s = arg;

	if (e->id >= s->next_event_id)
		s->next_event_id = e->id + 1;
	s->events_logged = s->next_event_id;
	ring_push(s, e);
	return 0;
}

static int
recover_globals(const char *json, void *arg)
{
	return state_set_globals(arg, json);
}

static int
recover_config(const char *json, void *arg)
{
	return state_set_ansible_override(arg, json);
}

static int
recover_counters(uint64_t next_job, uint64_t next_event, void *arg)
{
	struct state *s = arg;

	if (next_job > s->next_job_id)
		s->next_job_id = next_job;
	if (next_event > s->next_event_id)
		s->next_event_id = next_event;
	s->events_logged = s->next_event_id;
	return 0;
}

struct recover_ctx {
	struct state *s;
	char *err;
	size_t errlen;
};

static int
recover_buf(const void *buf, size_t len, void *arg)
{
	struct recover_ctx *c = arg;
	struct records_visitor v = { recover_node, recover_wm, recover_job, recover_event,
		recover_globals, recover_config, recover_counters, c->s };

	return records_decode(buf, len, &v, c->err, c->errlen);
}

int
state_open(const char *dir, const struct votes_params *params, struct state **ret,
    char *err, size_t errlen, store_warn_fn warn, void *warn_arg)
{
	pthread_rwlockattr_t attr;
	struct recover_ctx ctx;
	struct state *s;
	char inner[512] = "";
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	pthread_rwlockattr_init(&attr);
	/* Intake must not starve behind a stream of GETs. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	s->params = *params;
	s->started_ms = fsio_now_ms();
	s->next_job_id = 1;
	s->next_event_id = 1;
	s->events_logged = 1;
	s->globals = strdup("{}");
	s->events = calloc(STATE_EVENTS_KEEP, sizeof(*s->events));
	s->inv = inventory_new();
	s->wm_index = strmap_new();
	s->reporters = strmap_new();
	if (s->inv == NULL || s->wm_index == NULL || s->reporters == NULL ||
	    s->globals == NULL || s->events == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = store_open(dir, &s->store, err, errlen);
	if (rc < 0)
		goto fail;
	ctx.s = s;
	ctx.err = inner;
	ctx.errlen = sizeof(inner);
	rc = store_recover(s->store, recover_buf, recover_buf, &ctx, warn, warn_arg, err,
	    errlen);
	if (rc < 0) {
		if (inner[0] != '\0')
			snprintf(err, errlen, "%s: %s", dir, inner);
		goto fail;
	}
	s->globals_dirty = false;
	s->config_dirty = false;
	/* Decoding a large snapshot leaves freed arenas behind: give them back. */
	malloc_trim(0);
	/* Rebuild what is derived: who has voted. */
	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		struct node *n = inventory_at(s->inv, i);
		for (size_t k = 0; k < n->nvotes; k++)
			if ((rc = state_add_reporter(s, n->votes[k].reporter)) < 0)
				goto fail;
	}
	*ret = s;
	return 0;
fail:
	state_close(s);
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
	for (size_t i = 0; i < s->nreporters; i++)
		free(s->reporter_keys[i]);
	free(s->reporter_keys);
	strmap_free(s->reporters);
	for (size_t i = 0; i < s->njobs; i++)
		job_rec_free(s->jobs[i]);
	free(s->jobs);
	free(s->globals);
	free(s->ansible_override);
	for (size_t i = 0; s->events != NULL && i < s->nevents; i++)
		audit_event_finish(&s->events[(s->events_head + i) % STATE_EVENTS_KEEP]);
	free(s->events);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

int
state_log(struct state *s, const struct watermark *wm, struct node *const *nodes,
    size_t n, uint64_t *ret_seq)
{
	const struct audit_event **evs = NULL;
	struct job_rec **jobs = NULL;
	struct records_extra x = { 0 };
	uint64_t unlogged = s->next_event_id - s->events_logged;
	char *buf = NULL;
	size_t len;
	int rc = -ENOMEM;

	/* Events not yet logged are the newest ones of the ring. */
	if (unlogged > s->nevents)
		unlogged = s->nevents;
	if (unlogged > 0) {
		evs = malloc(unlogged * sizeof(*evs));
		if (evs == NULL)
			goto out;
		for (size_t i = 0; i < unlogged; i++)
			evs[i] = state_event_at(s, s->nevents - unlogged + i);
	}
	for (size_t i = 0; i < s->njobs; i++) {
		if (!s->jobs[i]->dirty)
			continue;
		if (jobs == NULL && (jobs = malloc(s->njobs * sizeof(*jobs))) == NULL)
			goto out;
		jobs[x.njobs++] = s->jobs[i];
	}
	x.jobs = jobs;
	x.events = evs;
	x.nevents = unlogged;
	x.globals = s->globals_dirty ? s->globals : NULL;
	x.config = s->config_dirty ? (s->ansible_override ? s->ansible_override : "") : NULL;
	rc = records_encode_batch(wm, nodes, n, &x, fsio_now_ms(), &buf, &len);
	if (rc < 0)
		goto out;
	rc = store_append(s->store, buf, len, ret_seq);
	if (rc == 0) {
		for (size_t i = 0; i < x.njobs; i++)
			jobs[i]->dirty = false;
		s->globals_dirty = false;
		s->config_dirty = false;
		s->events_logged = s->next_event_id;
	}
out:
	free(buf);
	free(evs);
	free(jobs);
	return rc;
}

static char *
dup0(const char *v)
{
	return strdup(v != NULL ? v : "");
}

int
state_event(struct state *s, const char *node, const char *kind, const char *old_val,
    const char *new_val, const char *actor, const char *comment)
{
	struct audit_event e = { 0 };

	e.id = s->next_event_id;
	e.time_ms = fsio_now_ms();
	e.node = dup0(node);
	e.kind = dup0(kind);
	e.old_val = dup0(old_val);
	e.new_val = dup0(new_val);
	e.actor = dup0(actor);
	e.comment = dup0(comment);
	if (e.node == NULL || e.kind == NULL || e.old_val == NULL || e.new_val == NULL ||
	    e.actor == NULL || e.comment == NULL) {
		audit_event_finish(&e);
		return -ENOMEM;
	}
	s->next_event_id++;
	ring_push(s, &e);
	return 0;
}

const struct audit_event *
state_event_at(const struct state *s, size_t i)
{
	return &s->events[(s->events_head + i) % STATE_EVENTS_KEEP];
}

static const char *op_names[JOB_OP_COUNT] = { "commission", "decommission", "update",
	"discover" };

const char *
job_op_name(enum job_op op)
{
	return (unsigned)op < JOB_OP_COUNT ? op_names[op] : "unknown";
}

int
job_op_parse(const char *v)
{
	for (int i = 0; i < JOB_OP_COUNT; i++)
		if (strcmp(v, op_names[i]) == 0)
			return i;
	return -1;
}

void
job_rec_free(struct job_rec *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->nnodes; i++)
		free(j->nodes[i]);
	free(j->nodes);
	free(j->host_group);
	free(j->extra_vars);
	free(j->error);
	free(j->actor);
	free(j);
}

struct job_rec *
state_job_new(struct state *s, enum job_op op)
{
	struct job_rec *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->op = op;
	j->id = s->next_job_id;
	j->exit_code = -1;
	j->created_ms = fsio_now_ms();
	j->dirty = true;
	if ((j->host_group = strdup("")) == NULL || (j->extra_vars = strdup("")) == NULL ||
	    (j->error = strdup("")) == NULL || (j->actor = strdup("")) == NULL ||
	    recover_job(j, s) < 0) {
		job_rec_free(j);
		return NULL;
	}
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

int
state_set_globals(struct state *s, const char *json)
{
	char *g = strdup(json);

	if (g == NULL)
		return -ENOMEM;
	free(s->globals);
	s->globals = g;
	s->globals_dirty = true;
	return 0;
}

int
state_set_ansible_override(struct state *s, const char *json)
{
	char *g = NULL;

	if (json != NULL && json[0] != '\0' && (g = strdup(json)) == NULL)
		return -ENOMEM;
	free(s->ansible_override);
	s->ansible_override = g;
	s->config_dirty = true;
	return 0;
}

int
state_wait(struct state *s, uint64_t seq)
{
	return store_wait(s->store, seq);
}

struct watermark *
state_watermark(struct state *s, const char *reporter)
{
	return strmap_get(s->wm_index, reporter);
}

int
state_set_watermark(struct state *s, const char *reporter, const char *epoch, uint64_t seq)
{
	struct watermark *wm = strmap_get(s->wm_index, reporter);
	char *ep;

	if (wm == NULL) {
		struct watermark **v;
		if (s->nwms == s->capwms) {
			size_t cap = s->capwms ? s->capwms * 2 : 16;
			v = realloc(s->wms, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			s->wms = v;
			s->capwms = cap;
		}
		wm = calloc(1, sizeof(*wm));
		if (wm == NULL || (wm->reporter = strdup(reporter)) == NULL ||
		    (wm->epoch = strdup(epoch)) == NULL ||
		    strmap_put(s->wm_index, wm->reporter, wm) < 0) {
			if (wm != NULL) {
				free(wm->reporter);
				free(wm->epoch);
			}
			free(wm);
			return -ENOMEM;
		}
		s->wms[s->nwms++] = wm;
		wm->seq = seq;
		return 0;
	}
	if (strcmp(wm->epoch, epoch) != 0) {
		if ((ep = strdup(epoch)) == NULL)
			return -ENOMEM;
		free(wm->epoch);
		wm->epoch = ep;
	}
	wm->seq = seq;
	return 0;
}

int
state_add_reporter(struct state *s, const char *member)
{
	char **v, *key;

	if (strmap_get(s->reporters, member) != NULL)
		return 0;
	v = realloc(s->reporter_keys, (s->nreporters + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	s->reporter_keys = v;
	key = strdup(member);
	if (key == NULL)
		return -ENOMEM;
	if (strmap_put(s->reporters, key, key) < 0) {
		free(key);
		return -ENOMEM;
	}
	s->reporter_keys[s->nreporters++] = key;
	return 0;
}

bool
state_is_reporter(const struct state *s, const char *member)
{
	return strmap_get(s->reporters, member) != NULL;
}

int
state_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen)
{
	struct store_stats st;
	uint64_t gen;
	char *buf = NULL;
	size_t len;
	int rc;

	store_get_stats(s->store, &st);
	if (!force && st.log_records < STATE_SNAPSHOT_RECORDS &&
	    st.log_bytes < STATE_SNAPSHOT_BYTES)
		return 0;
	/* A shared lock keeps writers (who append) out while the log is cut. */
	pthread_rwlock_rdlock(&s->lock);
	rc = store_snapshot_begin(s->store, &gen);
	if (rc == 0)
		rc = records_encode_snapshot(s, fsio_now_ms(), &buf, &len);
	pthread_rwlock_unlock(&s->lock);
	if (rc < 0) {
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
		return rc;
	}
	rc = store_snapshot_commit(s->store, gen, buf, len);
	free(buf);
	if (rc < 0)
		snprintf(err, errlen, "snapshot %llu: %s", (unsigned long long)gen,
		    strerror(-rc));
	return rc < 0 ? rc : 1;
}
