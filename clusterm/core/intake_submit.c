/*
 * Monitor intake, the submitting half: batches and heartbeats become
 * operations through the log (intake.h); the apply steps are intake.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cm_limits.h"
#include "intake.h"
#include "oplog.h"
#include "reporters.h"
#include "state_impl.h"

/* ---- submitting ---- */

/* Whether reporter may be taken (LIMIT_REPORTERS); err says why not. */
static bool
room(struct state *s, const char *reporter, char *err, size_t errlen)
{
	bool ok = true;

	/* Never waits behind an applier: the apply step checks again anyway. */
	if (pthread_rwlock_tryrdlock(&s->lock) == 0) {
		ok = reporters_room(s, reporter);
		pthread_rwlock_unlock(&s->lock);
	}
	if (!ok)
		snprintf(err, errlen, "clusterm keeps at most %d reporters (LIMIT_REPORTERS); "
		    "reporter %s is not taken", LIMIT_REPORTERS, reporter);
	return ok;
}

int
intake_apply(struct state *s, const struct report_batch *b, enum report_kind kind,
    const struct intake_origin *o, struct intake_result *ret, char *err, size_t errlen)
{
	char actor[LIMIT_MEMBER_NAME_LEN + 128];
	struct watermark *cur;
	struct op op = { .kind = OP_REPORTS };
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (o->reporter != NULL && !room(s, o->reporter, err, errlen))
		return -ENOSPC;
	if (o->reporter != NULL && o->has_seq) {
		/* Applied means durable: such a duplicate is answered at once. */
		bool dup = false;
		/* Never waits behind an applier: the apply step checks again anyway. */
		if (pthread_rwlock_tryrdlock(&s->lock) == 0) {
			cur = state_watermark(s, o->reporter);
			dup = cur != NULL && strcmp(cur->epoch, o->epoch) == 0 &&
			    o->seq <= cur->seq;
			pthread_rwlock_unlock(&s->lock);
		}
		if (dup) {
			ret->duplicates = b->n;
			return 0;
		}
	}
	/* The audit names the reporter and the token (or peer) it came with. */
	snprintf(actor, sizeof(actor), "%s%s%s%s", o->reporter ? o->reporter : "",
	    o->reporter ? " (" : "", o->remote ? o->remote : "operator", o->reporter ? ")" : "");
	op.u.reports.reporter = o->reporter;
	op.u.reports.epoch = o->epoch != NULL ? o->epoch : "";
	op.u.reports.seq = o->seq;
	op.u.reports.has_seq = o->has_seq;
	op.u.reports.actor = actor;
	op.u.reports.kind = (int)kind;
	op.u.reports.reports = b->reports;
	op.u.reports.n = b->n;
	op.u.reports.spool_depth = o->spool_depth;
	rc = oplog_submit(s, &op);
	if (rc == 0)
		rc = op.res.rc;
	if (rc < 0) {
		snprintf(err, errlen, "%s", op.res.err);
		return rc;
	}
	ret->accepted = op.res.accepted;
	ret->duplicates = op.res.duplicates;
	ret->state_changes = op.res.state_changes;
	return 0;
}

int
intake_heartbeat(struct state *s, const struct intake_origin *o, char *err, size_t errlen)
{
	struct op op = { .kind = OP_HEARTBEAT };
	int rc;

	if (!room(s, o->reporter, err, errlen))
		return -ENOSPC;
	op.u.hb.reporter = o->reporter;
	op.u.hb.epoch = o->epoch != NULL ? o->epoch : "";
	op.u.hb.seq = o->seq;
	op.u.hb.has_seq = o->has_seq;
	op.u.hb.spool_depth = o->spool_depth;
	rc = oplog_submit(s, &op);
	if (rc == 0)
		rc = op.res.rc;
	if (rc < 0)
		snprintf(err, errlen, "%s", op.res.err);
	return rc;
}

int
intake_tick(struct state *s)
{
	struct op op = { .kind = OP_TICK };
	long long next, hb;
	int rc;

	pthread_rwlock_rdlock(&s->lock);
	next = state_timer_next(s);
	hb = reporters_hb_next(s);
	pthread_rwlock_unlock(&s->lock);
	if (hb != 0 && (next == 0 || hb < next))
		next = hb;
	if (next == 0 || next > oplog_clock_ms(s))
		return 0;
	rc = oplog_submit(s, &op);
	return rc < 0 ? rc : (int)op.res.state_changes;
}

int
intake_set_params(struct state *s, const struct votes_params *p, const char *actor)
{
	struct op op = { .kind = OP_PARAMS };
	bool same;

	(void)actor;
	pthread_rwlock_rdlock(&s->lock);
	same = s->params.grace_ms == p->grace_ms && s->params.quorum == p->quorum &&
	    s->params.disruption_ratio == p->disruption_ratio &&
	    s->params.disruption_window_ms == p->disruption_window_ms &&
	    s->params.reporter_stale_ms == p->reporter_stale_ms &&
	    s->params.hb_timeout_ms == p->hb_timeout_ms &&
	    s->params.hb_interval_ms == p->hb_interval_ms &&
	    s->params.reap_after_ms == p->reap_after_ms &&
	    s->params.observers == p->observers;
	pthread_rwlock_unlock(&s->lock);
	if (same)
		return 0;
	op.u.params = *p;
	return oplog_submit(s, &op);
}
