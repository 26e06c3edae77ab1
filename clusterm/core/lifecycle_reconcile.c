/*
 * The leader's job reconcile (CONTRACT 9): what the state says of jobs
 * against what the runner holds, and the job ends and starts that the
 * store did not take, retried until they commit. Level-triggered: no job
 * stays Queued or Running because one write was lost or ambiguous.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "log.h"
#include "oplog.h"
#include "state_impl.h"

/* The error of a job that was recorded active but that no instance runs. */
#define LC_NOBODY_RUNS	"no instance runs it"

static struct lc_unsent *
find_unsent(struct lifecycle *lc, uint64_t id, enum op_kind kind)
{
	for (size_t i = 0; i < lc->nunsent; i++)
		if (lc->unsent[i].id == id && lc->unsent[i].kind == kind)
			return &lc->unsent[i];
	return NULL;
}

void
lifecycle_unsent_put(struct lifecycle *lc, const struct lc_unsent *u)
{
	struct lc_unsent *e;

	pthread_mutex_lock(&lc->unsent_mu);
	e = find_unsent(lc, u->id, u->kind);
	if (e == NULL) {
		if (lc->nunsent == LC_MAX_UNSENT) {
			log_error("job %llu: more than %d job changes wait for the store; the "
			    "oldest is dropped (the reconcile ends its job)",
			    (unsigned long long)lc->unsent[0].id, LC_MAX_UNSENT);
			memmove(&lc->unsent[0], &lc->unsent[1],
			    (LC_MAX_UNSENT - 1) * sizeof(lc->unsent[0]));
			lc->nunsent--;
		}
		e = &lc->unsent[lc->nunsent++];
	}
	*e = *u;
	pthread_mutex_unlock(&lc->unsent_mu);
}

void
lifecycle_unsent_done(struct lifecycle *lc, uint64_t id, enum op_kind kind, bool committed)
{
	struct lc_unsent *e;

	pthread_mutex_lock(&lc->unsent_mu);
	e = find_unsent(lc, id, kind);
	if (e != NULL && committed) {
		size_t i = (size_t)(e - lc->unsent);
		memmove(&lc->unsent[i], &lc->unsent[i + 1],
		    (lc->nunsent - i - 1) * sizeof(lc->unsent[0]));
		lc->nunsent--;
	} else if (e != NULL) {
		e->inflight = false;
	}
	pthread_mutex_unlock(&lc->unsent_mu);
}

int
lifecycle_unsent_submit(struct lifecycle *lc, const struct lc_unsent *u)
{
	struct op op = { .kind = u->kind };

	if (u->kind == OP_JOB_END)
		return lifecycle_submit_end(lc->s, u->id, u->ok, u->exit_code, u->error,
		    u->start_ms, u->end_ms);
	op.u.started.id = u->id;
	op.u.started.pgid = (int)u->p.pgrp;
	op.u.started.sid = (int)u->p.sid;
	op.u.started.start_ticks = u->p.start_ticks;
	op.u.started.boot_id = lc->boot_id;
	op.u.started.start_ms = u->start_ms;
	return oplog_submit(lc->s, &op);
}

/* Retries what the store refused, oldest first. -EIO when one is refused again. */
static int
retry_unsent(struct lifecycle *lc)
{
	struct lc_unsent u;
	int rc = 0;

	for (size_t i = 0; ; i++) {
		bool have = false;

		pthread_mutex_lock(&lc->unsent_mu);
		for (; i < lc->nunsent; i++)
			if (!lc->unsent[i].inflight) {
				u = lc->unsent[i];
				have = true;
				break;
			}
		pthread_mutex_unlock(&lc->unsent_mu);
		if (!have)
			return rc;
		/* A job end the state no longer needs (ended meanwhile) commits as a no-op. */
		if (lifecycle_unsent_submit(lc, &u) < 0) {
			rc = -EIO;
			continue;
		}
		if (u.kind == OP_JOB_END)
			log_info("job %llu: its outcome, refused before, is committed now",
			    (unsigned long long)u.id);
		lifecycle_unsent_done(lc, u.id, u.kind, true);
		i--;	/* the list moved down by one */
	}
}

/* Whether a change of job id is kept or under way. */
static bool
has_unsent(struct lifecycle *lc, uint64_t id)
{
	bool r = false;

	pthread_mutex_lock(&lc->unsent_mu);
	for (size_t i = 0; i < lc->nunsent && !r; i++)
		r = lc->unsent[i].id == id && lc->unsent[i].kind == OP_JOB_END;
	pthread_mutex_unlock(&lc->unsent_mu);
	return r;
}

static bool
was_unheld(const struct lifecycle *lc, uint64_t id)
{
	for (size_t i = 0; i < lc->nunheld; i++)
		if (lc->unheld[i] == id)
			return true;
	return false;
}

/* One active job that nobody runs: started (Queued) or ended. 1 acted, 0 not yet, -errno. */
static int
heal(struct lifecycle *lc, uint64_t id, int status)
{
	char why[320];
	int rc;

	if (status == JOB_QUEUED) {
		rc = lifecycle_plan_start(lc, id, why, sizeof(why));
		if (rc == 0) {
			log_warn("job %llu: recorded Queued but held by no runner: started",
			    (unsigned long long)id);
			return 1;
		}
		if (rc == -EEXIST || rc == -EBUSY || rc == -EPERM)
			return 0;	/* started meanwhile, no slot now, or not leading: later */
		log_error("job %llu: recorded Queued but cannot start: %s",
		    (unsigned long long)id, why);
	} else {
		snprintf(why, sizeof(why), "%s", LC_NOBODY_RUNS);
	}
	rc = lifecycle_submit_end(lc->s, id, false, -1, why, 0, 0);
	if (rc < 0)
		return rc;
	log_warn("job %llu: recorded %s but no instance runs it: ended Errored",
	    (unsigned long long)id, status == JOB_QUEUED ? "Queued" : "Running");
	return 1;
}

int
lifecycle_reconcile(struct lifecycle *lc)
{
	struct state *s = lc->s;
	struct { uint64_t id; int status; } *v = NULL;
	uint64_t next[LC_MAX_UNHELD];
	size_t n = 0, nnext = 0;
	int rc, acted = 0;

	rc = retry_unsent(lc);
	pthread_rwlock_rdlock(&s->lock);
	if (s->njobs > 0 && (v = calloc(s->njobs, sizeof(*v))) == NULL) {
		pthread_rwlock_unlock(&s->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->njobs; i++) {
		const struct job_rec *j = s->jobs[i];

		if (!lifecycle_is_active(j) || lifecycle_running(lc, j->id))
			continue;
		v[n].id = j->id;
		v[n].status = j->status;
		n++;
	}
	pthread_rwlock_unlock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		int r;

		if (has_unsent(lc, v[i].id))
			continue;	/* its outcome is known: retry_unsent commits it */
		if (!was_unheld(lc, v[i].id)) {
			if (nnext < LC_MAX_UNHELD)
				next[nnext++] = v[i].id;
			continue;
		}
		r = heal(lc, v[i].id, v[i].status);
		if (r < 0) {
			rc = r;
			if (nnext < LC_MAX_UNHELD)
				next[nnext++] = v[i].id;	/* still lost: at once next time */
		} else if (r == 0 && nnext < LC_MAX_UNHELD) {
			next[nnext++] = v[i].id;
		} else {
			acted += r;
		}
	}
	memcpy(lc->unheld, next, nnext * sizeof(next[0]));
	lc->nunheld = nnext;
	free(v);
	return rc < 0 ? rc : acted;
}
