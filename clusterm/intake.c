/* Applying batches of reports under the state lock, durably. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "fsio.h"
#include "intake.h"
#include "log.h"
#include "votes.h"

/* Bound on re-evaluation passes when reporters' own states change. */
#define CASCADE_PASSES 8

enum mon_state
intake_member_state(const char *member, void *arg)
{
	struct state *s = arg;
	struct node *n = inventory_by_member(s->inv, member);

	return n != NULL ? n->state : MON_UNKNOWN;
}

/* A growing list of the nodes a batch changed, each once. */
struct touched {
	struct node **v;
	size_t n, cap;
	struct node **changed;	/* nodes whose state changed, for the cascade */
	size_t nchanged, capchanged;
	uint64_t gen;
	bool gone_moved;	/* some node turned Disappeared or came back */
	size_t state_changes;
	const char *actor;	/* who caused the changes, for the audit log */
	const char *why;
	bool oom;		/* the changed list could not grow */
};

static int
touch(struct touched *t, struct node *n)
{
	if (n->touched == t->gen)
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct node **v = realloc(t->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	n->touched = t->gen;
	t->v[t->n++] = n;
	return 0;
}

static void
set_state(struct state *s, struct touched *t, struct node *n, enum mon_state to,
    long long now)
{
	enum mon_state from = n->state;

	if (!inventory_set_state(n, to, now))
		return;
	t->state_changes++;
	if (t->nchanged == t->capchanged) {
		size_t cap = t->capchanged ? t->capchanged * 2 : 16;
		struct node **v = realloc(t->changed, cap * sizeof(*v));
		if (v == NULL) {
			t->oom = true;
			return;
		}
		t->changed = v;
		t->capchanged = cap;
	}
	t->changed[t->nchanged++] = n;
	if (from == MON_DISAPPEARED || to == MON_DISAPPEARED)
		t->gone_moved = true;
	log_info("node %s: %s -> %s (%s)", n->name, mon_state_name(from), mon_state_name(to),
	    t->actor);
	/* The audit line is best effort: it must not fail the report. */
	(void)state_event(s, n->name, "state", mon_state_name(from), mon_state_name(to),
	    t->actor, t->why);
}

/* Evaluates n's votes and applies the result. */
static int
evaluate(struct state *s, struct touched *t, struct node *n, long long now)
{
	struct votes_result vr;
	enum mon_state before = n->state;
	long long since = n->gone_since_ms;

	votes_evaluate(n, &s->params, intake_member_state, s, now, &vr);
	n->gone_since_ms = vr.gone_since_ms;
	set_state(s, t, n, vr.state, now);
	if (n->state != before || n->gone_since_ms != since)
		return touch(t, n);
	return 0;
}

/*
 * When a reporter's own node changed state, the nodes it voted on may
 * change too (its votes start or stop counting). Re-evaluate those. Only a
 * state change of a reporter starts a scan, so a batch that changes no
 * reporter's state costs nothing here.
 */
static int
cascade(struct state *s, struct touched *t, long long now)
{
	size_t done = 0;
	int rc;

	for (int pass = 0; pass < CASCADE_PASSES; pass++) {
		size_t end = t->nchanged;
		bool any = t->oom;	/* lost track: re-evaluate everything */

		for (size_t i = done; i < end && !any; i++) {
			struct node *r = t->changed[i];
			any = r->rep.name != NULL && state_is_reporter(s, r->rep.name);
		}
		done = end;
		t->oom = false;
		if (!any)
			return 0;
		for (size_t i = 0; i < inventory_count(s->inv); i++) {
			struct node *n = inventory_at(s->inv, i);
			if (n->nvotes > 0 && (rc = evaluate(s, t, n, now)) < 0)
				return rc;
		}
		if (t->nchanged == end)
			return 0;
	}
	return 0;
}

static void
check_disruption(struct state *s, long long now)
{
	size_t total = inventory_count(s->inv), gone = 0, recent = 0;
	bool was = s->disruption;

	for (size_t i = 0; i < total; i++) {
		struct node *n = inventory_at(s->inv, i);
		if (n->state != MON_DISAPPEARED)
			continue;
		gone++;
		if (now - n->disappeared_ms <= s->params.disruption_window_ms)
			recent++;
	}
	s->disruption = votes_disruption(was, recent, gone, total, &s->params);
	if (s->disruption != was) {
		s->disruption_changed_ms = now;
		if (s->disruption)
			log_warn("disruption mode: %zu of %zu nodes disappeared within %llds; "
			    "automatic actions suspended", recent, total,
			    s->params.disruption_window_ms / 1000);
		else
			log_info("disruption mode over: %zu of %zu nodes disappeared", gone,
			    total);
	}
}

static bool
report_alive(const struct report *r, enum report_kind kind)
{
	if (kind != REPORT_KIND_NONE)
		return kind == REPORT_KIND_DISCOVERED;
	return r->status != NULL && strcmp(r->status, "alive") == 0;
}

/* A snapshot member that says its sender has left is a self-leave too. */
static bool
self_leave(const struct report *r, enum report_kind kind, const char *reporter)
{
	if (reporter == NULL || r->name == NULL || strcmp(r->name, reporter) != 0)
		return false;
	if (kind == REPORT_KIND_NONE)
		return r->status != NULL && (strcmp(r->status, "left") == 0 ||
		    strcmp(r->status, "leaving") == 0);
	return kind == REPORT_KIND_DISAPPEARED && votes_is_self_leave(r, reporter);
}

static int
apply_one(struct state *s, struct touched *t, const struct report *r, enum report_kind kind,
    const struct intake_origin *o, long long now)
{
	char name[LIMIT_NODE_NAME_LEN + 1];
	bool alive = report_alive(r, kind);
	struct node *n;
	int rc;

	rc = report_node_name(r, name, sizeof(name));
	if (rc < 0)
		return rc;
	n = inventory_get(s->inv, name);
	if (n == NULL && (rc = inventory_add(s->inv, name, &n)) < 0)
		return rc;
	if ((rc = inventory_set_report(s->inv, n, r)) < 0 || (rc = touch(t, n)) < 0)
		return rc;

	if (o->reporter == NULL) {
		/* Rule 1: an operator report sets the state and clears the votes. */
		votes_clear(n);
		set_state(s, t, n, alive ? MON_DISCOVERED : MON_DISAPPEARED, now);
		return 0;
	}
	if ((rc = state_add_reporter(s, o->reporter)) < 0)
		return rc;
	if (self_leave(r, kind, o->reporter)) {
		/* Rule 4: its own graceful leave; the votes of before are moot. */
		votes_clear(n);
		if ((rc = votes_record(n, o->reporter, false, o->seq, now)) < 0)
			return rc;
		set_state(s, t, n, MON_DISAPPEARED, now);
		return 0;
	}
	if ((rc = votes_record(n, o->reporter, alive, o->seq, now)) < 0)
		return rc;
	return evaluate(s, t, n, now);
}

int
intake_apply(struct state *s, const struct report_batch *b, enum report_kind kind,
    const struct intake_origin *o, struct intake_result *ret, char *err, size_t errlen)
{
	struct touched t = { 0 };
	struct watermark wm, *cur;
	char actor[LIMIT_MEMBER_NAME_LEN + 128];
	long long now = fsio_now_ms();
	uint64_t seq = 0;
	bool logged = false;
	int rc = 0;

	memset(ret, 0, sizeof(*ret));
	pthread_rwlock_wrlock(&s->lock);
	if (o->reporter != NULL && o->has_seq) {
		cur = state_watermark(s, o->reporter);
		if (cur != NULL && strcmp(cur->epoch, o->epoch) == 0 && o->seq <= cur->seq) {
			pthread_rwlock_unlock(&s->lock);
			ret->duplicates = b->n;
			return 0;
		}
	}
	t.gen = ++s->touch_gen;
	/* The audit names the reporter and the token (or peer) it came with. */
	snprintf(actor, sizeof(actor), "%s%s%s%s", o->reporter ? o->reporter : "",
	    o->reporter ? " (" : "", o->remote ? o->remote : "operator", o->reporter ? ")" : "");
	t.actor = actor;
	t.why = o->reporter != NULL ? "votes" : "operator report";
	for (size_t i = 0; i < b->n && rc == 0; i++)
		rc = apply_one(s, &t, &b->reports[i], kind, o, now);
	if (rc == 0)
		rc = cascade(s, &t, now);
	if (rc == 0 && t.gone_moved)
		check_disruption(s, now);
	if (rc == 0 && o->reporter != NULL && o->has_seq)
		rc = state_set_watermark(s, o->reporter, o->epoch, o->seq);
	if (rc == 0) {
		wm.reporter = (char *)o->reporter;
		wm.epoch = (char *)o->epoch;
		wm.seq = o->seq;
		rc = state_log(s, o->reporter != NULL && o->has_seq ? &wm : NULL, t.v, t.n,
		    &seq);
		logged = rc == 0;
	}
	pthread_rwlock_unlock(&s->lock);
	free(t.v);
	free(t.changed);

	if (rc == 0)
		rc = state_wait(s, seq);
	if (rc < 0) {
		snprintf(err, errlen, "%s", rc == -ENOMEM ? "out of memory" :
		    logged ? "the store could not make the reports durable" :
		    "the store refuses writes after an earlier failure");
		return rc;
	}
	ret->accepted = b->n;
	ret->state_changes = t.state_changes;
	return 0;
}

int
intake_tick(struct state *s, long long now_ms)
{
	struct touched t = { 0 };
	uint64_t seq;
	int rc = 0;

	pthread_rwlock_wrlock(&s->lock);
	t.gen = ++s->touch_gen;
	t.actor = "clusterm";
	t.why = "grace period over";
	for (size_t i = 0; i < inventory_count(s->inv) && rc == 0; i++) {
		struct node *n = inventory_at(s->inv, i);
		if (n->gone_since_ms != 0 && n->state != MON_DISAPPEARED)
			rc = evaluate(s, &t, n, now_ms);
	}
	if (rc == 0 && t.state_changes > 0)
		rc = cascade(s, &t, now_ms);
	/*
	 * Entering needs a fresh turn; leaving is checked on every tick; and
	 * once after a start, since the mode itself is not persisted.
	 */
	if (rc == 0 && (t.gone_moved || s->disruption || !s->disruption_checked)) {
		check_disruption(s, now_ms);
		s->disruption_checked = true;
	}
	if (rc == 0 && (t.n > 0 || s->next_event_id != s->events_logged))
		rc = state_log(s, NULL, t.v, t.n, &seq);
	pthread_rwlock_unlock(&s->lock);
	free(t.v);
	free(t.changed);
	if (rc < 0)
		return rc;
	return (int)t.state_changes;
}
