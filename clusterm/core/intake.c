/* Monitor reports: operations in, and their deterministic apply step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "forget.h"
#include "intake.h"
#include "log.h"
#include "observers.h"
#include "oplog.h"
#include "reporters.h"
#include "state_impl.h"
#include "votes.h"

/* ---- the apply step (write lock held, time from the operation) ---- */

static void
enqueue(struct state *s, struct node *n)
{
	state_work_push(s, n->id);
}

/*
 * Reporter rid starts or stops counting (or, with observers, may have
 * moved to another node: force): its votes on every node it voted on are
 * counted again, and the nodes whose counts moved are evaluated again.
 */
static void
set_counts(struct state *s, uint32_t rid, bool counts, bool force)
{
	struct reporter *r = &s->reps[rid];

	if (r->counts == counts && !force)
		return;
	r->counts = counts;
	for (uint32_t i = 0; i < r->nvoted; i++) {
		struct node *m = inventory_at(s->inv, r->voted[i]);
		if (votes_set_counted(m, rid, state_reporter_counts(rid, m, s)))
			enqueue(s, m);
	}
}

/* Binds reporter name to the node whose Node-Name it is now. */
static void
rebind(struct state *s, const char *name)
{
	uint32_t rid;
	struct node *b;

	if (name == NULL || (rid = state_reporter_find(s, name)) == VOTE_NO_REPORTER)
		return;
	b = inventory_by_member(s->inv, name);
	s->reps[rid].node = b != NULL ? b->id : VOTE_NO_REPORTER;
	set_counts(s, rid, b == NULL || b->state != MON_DISAPPEARED, s->params.observers > 0);
}

/* A node's own reporter id changed: its votes are counted again from scratch. */
static void
set_self(struct state *s, struct node *n)
{
	uint32_t rid = n->rep.name != NULL ? state_reporter_find(s, n->rep.name) :
	    VOTE_NO_REPORTER;

	if (rid == n->self_rid)
		return;
	n->self_rid = rid;
	votes_recount(n, state_reporter_counts, s);
	enqueue(s, n);
}

static uint32_t
intern(struct state *s, const char *name)
{
	uint32_t rid = state_reporter_find(s, name);
	struct node *b;

	if (rid != VOTE_NO_REPORTER)
		return rid;
	rid = state_reporter(s, name);
	rebind(s, name);
	if ((b = inventory_by_member(s->inv, name)) != NULL)
		set_self(s, b);
	return rid;
}

static void
set_state(struct state *s, struct node *n, enum mon_state to)
{
	enum mon_state from = n->state;
	struct reporter *r;

	if (!inventory_set_state(n, to, s->now))
		return;
	s->changes++;
	forget_watch(s, n);
	if (to == MON_DISAPPEARED) {
		s->gone_count++;
		state_window_enter(s, n, s->now);
	} else if (from == MON_DISAPPEARED) {
		s->gone_count--;
		state_window_leave(s, n);
	}
	if (!s->recovering)
		log_info("node %s: %s -> %s (%s)", n->name, mon_state_name(from),
		    mon_state_name(to), s->actor);
	state_event(s, n->name, "state", mon_state_name(from), mon_state_name(to), s->actor,
	    s->why);
	/* A reporter's own node turning Disappeared (or back) changes its weight. */
	if ((from == MON_DISAPPEARED || to == MON_DISAPPEARED) &&
	    n->self_rid != VOTE_NO_REPORTER && (r = &s->reps[n->self_rid])->node == n->id)
		set_counts(s, n->self_rid, to != MON_DISAPPEARED, false);
	/* With observers: joining or leaving Discovered moves it on the rings. */
	observers_node_state(s, n, from, to);
}

/* A flag of CONTRACT 11 turns on or off: the node's audit log says why. */
static void
set_flag(struct state *s, struct node *n, const char *flag, bool *cur, bool to,
    const char *why)
{
	if (*cur == to)
		return;
	*cur = to;
	if (!s->recovering)
		log_info("node %s: %s %s (%s)", n->name, flag, to ? "on" : "off", why);
	state_event(s, n->name, flag, to ? "off" : "on", to ? "on" : "off", s->actor, why);
}

static void
set_flags(struct state *s, struct node *n, const struct votes_result *vr,
    const struct votes_life *life)
{
	char why[200];

	if (vr->partitioned)
		snprintf(why, sizeof(why), "%d of %d votes say gone, but the node itself "
		    "was heard after the first gone-vote: alive, cut off from its peers",
		    vr->gone, vr->alive + vr->gone);
	else if (life != NULL && vr->gone * 2 > vr->alive + vr->gone)
		snprintf(why, sizeof(why), "no sign of life from the node for %llds",
		    s->params.hb_timeout_ms / 1000);
	else
		snprintf(why, sizeof(why), "the votes no longer say gone");
	set_flag(s, n, "partitioned", &n->partitioned, vr->partitioned, why);
	if (vr->unreachable)
		snprintf(why, sizeof(why), "no heartbeat for %llds while %d counted votes say "
		    "alive: the path to the manager is broken, not the node",
		    s->params.hb_timeout_ms / 1000, vr->alive);
	else if (life != NULL && s->now - life->hb_ms < s->params.hb_timeout_ms)
		snprintf(why, sizeof(why), "heartbeats arrive again");
	else
		snprintf(why, sizeof(why), "the votes no longer say alive");
	set_flag(s, n, "unreachable", &n->unreachable, vr->unreachable, why);
}

/*
 * Rules 2 and 3 from n's counts, with the node's own evidence of life once
 * it has sent a heartbeat; the deadline goes on the timer heap.
 */
static void
evaluate(struct state *s, struct node *n)
{
	struct votes_result vr;
	struct votes_life life, *lp = NULL;

	if (n->mark != s->mark) {
		n->mark = s->mark;
		n->evals = 0;
	}
	n->evals++;
	if (n->self_rid != VOTE_NO_REPORTER && s->reps[n->self_rid].hb_ms != 0) {
		life.heard_ms = s->reps[n->self_rid].heard_ms;
		life.hb_ms = s->reps[n->self_rid].hb_ms;
		lp = &life;
	}
	votes_evaluate(n, &s->params, s->now, lp, &vr);
	n->gone_since_ms = vr.gone_since_ms;
	n->first_gone_ms = vr.first_gone_ms;
	if (vr.deadline_ms != n->deadline_ms)
		state_timer_set(s, n, vr.deadline_ms);
	if (lp != NULL || n->partitioned || n->unreachable)
		set_flags(s, n, &vr, lp);
	set_state(s, n, vr.state);
}

static int
by_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Evaluates the nodes whose counts moved, each at most
 * INTAKE_CASCADE_PASSES times, in rounds: a round's nodes in id order, the
 * nodes they move in the next round. The order depends on the state only
 * (not on the order a reporter's index was built in, which a snapshot does
 * not keep), so a replay from a snapshot evaluates as the live run did.
 */
static void
drain(struct state *s)
{
	while (s->nwork > 0) {
		uint32_t *round = s->work;
		size_t n = s->nwork, cap = s->capwork;

		/* This round is processed from one buffer; the next fills the other. */
		s->work = s->round;
		s->capwork = s->capround;
		s->nwork = 0;
		s->round = round;
		s->capround = cap;
		qsort(round, n, sizeof(*round), by_id);
		for (size_t i = 0; i < n; i++) {
			struct node *m;
			if (i > 0 && round[i] == round[i - 1])
				continue;
			m = inventory_at(s->inv, round[i]);
			if (m->mark == s->mark && m->evals >= INTAKE_CASCADE_PASSES)
				continue;
			evaluate(s, m);
		}
	}
}

static void
check_disruption(struct state *s)
{
	size_t total = inventory_count(s->inv);
	size_t recent = state_window_count(s, s->now, s->params.disruption_window_ms);
	bool was = s->disruption;

	s->disruption = votes_disruption(was, recent, s->gone_count, total, &s->params);
	if (s->disruption == was)
		return;
	s->disruption_changed_ms = s->now;
	if (s->recovering)
		return;
	if (s->disruption)
		log_warn("disruption mode: %zu of %zu nodes disappeared within %llds; "
		    "automatic actions suspended", recent, total,
		    s->params.disruption_window_ms / 1000);
	else
		log_info("disruption mode over: %zu of %zu nodes disappeared", s->gone_count,
		    total);
}

static void
begin(struct state *s, const struct op *op, const char *actor, const char *why)
{
	s->mark++;
	s->changes = 0;
	s->nwork = 0;
	s->now = op->time_ms;
	s->actor = actor;
	s->why = why;
}

static bool
report_alive(const struct report *r, int kind)
{
	if (kind != REPORT_KIND_NONE)
		return kind == REPORT_KIND_DISCOVERED;
	return r->status != NULL && strcmp(r->status, "alive") == 0;
}

/* A snapshot member that says its sender has left is a self-leave too. */
static bool
self_leave(const struct report *r, int kind, const char *reporter)
{
	if (reporter == NULL || r->name == NULL || strcmp(r->name, reporter) != 0)
		return false;
	if (kind == REPORT_KIND_NONE)
		return r->status != NULL && (strcmp(r->status, "left") == 0 ||
		    strcmp(r->status, "leaving") == 0);
	return kind == REPORT_KIND_DISAPPEARED && votes_is_self_leave(r, reporter);
}

/*
 * The node a report is about, its report brought up to date; created when
 * new if create (a report that it is alive), else NULL with *ret_unknown.
 */
static struct node *
node_of(struct state *s, const struct report *r, bool movable, bool create,
    bool *ret_unknown)
{
	char name[LIMIT_NODE_NAME_LEN + 1];
	struct node *n;
	char *old = NULL;
	bool rename;

	/* Validated before it was logged; a damaged record must not make a node "". */
	if (r->label == NULL || !report_label_valid(r->label) ||
	    (r->serial != NULL && r->serial[0] != '\0' && !report_label_valid(r->serial)) ||
	    report_node_name(r, name, sizeof(name)) < 0)
		return NULL;
	n = inventory_get(s->inv, name);
	if (n == NULL && !create) {
		*ret_unknown = true;
		return NULL;
	}
	if (n == NULL && inventory_add(s->inv, name, &n) < 0)
		state_apply_oom("a node");
	if (report_equal(&n->rep, r))
		return n;
	rename = r->name != NULL && (n->rep.name == NULL || strcmp(r->name, n->rep.name) != 0);
	if (rename && n->rep.name != NULL && (old = strdup(n->rep.name)) == NULL)
		state_apply_oom("a report");
	/* A decoded operation's report is moved, not copied (recovery's hot path). */
	if ((movable ? inventory_take_report(s->inv, n, (struct report *)r, s->now) :
	    inventory_set_report(s->inv, n, r, s->now)) < 0)
		state_apply_oom("a report");
	if (rename) {
		rebind(s, old);
		rebind(s, n->rep.name);
		set_self(s, n);
		free(old);
	}
	return n;
}

static void
clear_votes(struct state *s, struct node *n)
{
	votes_clear(n);
	state_timer_set(s, n, 0);
}

static void
apply_one(struct state *s, const struct op_reports *o, uint32_t rid, const struct report *r)
{
	/* Read the report before node_of(), which may take its strings over. */
	bool alive = report_alive(r, o->kind), fresh = false;
	bool leave = self_leave(r, o->kind, o->reporter), unknown = false;
	bool join = r->event != NULL && strcmp(r->event, "member-join") == 0;
	struct node *n = node_of(s, r, o->movable, alive && !leave, &unknown);
	struct reporter *rep;
	char name[LIMIT_NODE_NAME_LEN + 1];

	if (n == NULL) {
		/*
		 * As contiv: news of the end of a node never known makes none. An
		 * event is audited; a snapshot's failed or left member is not (each
		 * reporter's periodic sync would repeat it while serf remembers it).
		 */
		if (unknown && o->kind != REPORT_KIND_NONE &&
		    report_node_name(r, name, sizeof(name)) == 0)
			state_event(s, name, "report", "", mon_state_name(MON_DISAPPEARED),
			    s->actor, "about a node never known: recorded, no node made");
		return;
	}
	/* Observers: a node off the rings reporting its own join starts afresh. */
	if (join && alive && observers_fresh_join(s, n, rid))
		clear_votes(s, n);
	if (o->reporter == NULL) {
		/* Rule 1: an operator report sets the state and clears the votes. */
		clear_votes(s, n);
		set_flag(s, n, "partitioned", &n->partitioned, false, "operator report");
		set_flag(s, n, "unreachable", &n->unreachable, false, "operator report");
		set_state(s, n, alive ? MON_DISCOVERED : MON_DISAPPEARED);
		return;
	}
	if (leave) {
		/* Rule 4: its own graceful leave; the votes of before are moot. */
		clear_votes(s, n);
		if (votes_record(n, rid, VOTE_GONE, o->seq, s->now,
		    state_reporter_counts(rid, n, s), &fresh) < 0)
			state_apply_oom("a vote");
		set_state(s, n, MON_DISAPPEARED);
	} else {
		if (votes_record(n, rid, alive ? VOTE_ALIVE : VOTE_GONE, o->seq, s->now,
		    state_reporter_counts(rid, n, s), &fresh) < 0)
			state_apply_oom("a vote");
		evaluate(s, n);
	}
	if (fresh) {
		rep = &s->reps[rid];
		if (rep->nvoted == rep->capvoted) {
			uint32_t cap = rep->capvoted ? rep->capvoted * 2 : 16;
			uint32_t *v = realloc(rep->voted, (size_t)cap * sizeof(*v));
			if (v == NULL)
				state_apply_oom("the reporter index");
			rep->voted = v;
			rep->capvoted = cap;
		}
		rep->voted[rep->nvoted++] = n->id;
	}
}

/*
 * Reporter rid was heard (any POST): its record, and its own node's
 * evidence of life, which is evaluated again once it sends heartbeats.
 */
static void
heard(struct state *s, uint32_t rid, const char *epoch, uint64_t seq, bool has_seq,
    long long spool_depth)
{
	struct reporter *r = &s->reps[rid];

	reporters_heard(s, rid, epoch, seq, has_seq, spool_depth);
	if (r->hb_ms != 0 && r->node != VOTE_NO_REPORTER)
		enqueue(s, inventory_at(s->inv, r->node));
}

void
intake_apply_reports(struct state *s, struct op *op)
{
	const struct op_reports *o = &op->u.reports;
	uint32_t rid = VOTE_NO_REPORTER;
	struct watermark *wm;

	if (o->reporter != NULL && o->has_seq) {
		wm = state_watermark(s, o->reporter);
		if (wm != NULL && strcmp(wm->epoch, o->epoch) == 0 && o->seq <= wm->seq) {
			op->res.duplicates = o->n;
			/* Not applied again, but its sender was heard. */
			if ((rid = state_reporter_find(s, o->reporter)) != VOTE_NO_REPORTER) {
				begin(s, op, o->actor, "votes");
				heard(s, rid, o->epoch, o->seq, o->has_seq, o->spool_depth);
				drain(s);
				if (s->changes > 0)
					check_disruption(s);
			}
			return;
		}
	}
	if (o->reporter != NULL && !reporters_room(s, o->reporter)) {
		op->res.rc = -ENOSPC;
		snprintf(op->res.err, sizeof(op->res.err), "clusterm keeps at most %d "
		    "reporters (LIMIT_REPORTERS); reporter %s is not taken", LIMIT_REPORTERS,
		    o->reporter);
		return;
	}
	begin(s, op, o->actor, o->reporter != NULL ? "votes" : "operator report");
	if (o->reporter != NULL) {
		rid = intern(s, o->reporter);
		heard(s, rid, o->epoch, o->seq, o->has_seq, o->spool_depth);
		if (o->kind == REPORT_KIND_NONE) {
			s->reps[rid].sync_ms = s->now;
		} else {
			s->reps[rid].batches++;
		}
		s->reps[rid].reports += o->n;
	}
	for (size_t i = 0; i < o->n; i++)
		apply_one(s, o, rid, &o->reports[i]);
	drain(s);
	if (s->changes > 0)
		check_disruption(s);
	if (o->reporter != NULL && o->has_seq)
		state_set_watermark(s, o->reporter, o->epoch, o->seq);
	op->res.accepted = o->n;
	op->res.state_changes = s->changes;
}

void
intake_apply_tick(struct state *s, struct op *op)
{
	struct node *n;

	uint32_t rid;

	begin(s, op, "clusterm", "grace period over");
	while ((n = state_timer_due(s, s->now)) != NULL)
		evaluate(s, n);
	/* Heartbeats gone stale: their nodes are judged again (in id order). */
	while ((rid = reporters_hb_due(s, s->now)) != VOTE_NO_REPORTER)
		if (s->reps[rid].node != VOTE_NO_REPORTER)
			enqueue(s, inventory_at(s->inv, s->reps[rid].node));
	drain(s);
	if (s->changes > 0)
		check_disruption(s);
	op->res.state_changes = s->changes;
}

void
intake_apply_heartbeat(struct state *s, struct op *op)
{
	const struct op_heartbeat *h = &op->u.hb;
	uint32_t rid;

	if (!reporters_room(s, h->reporter)) {
		op->res.rc = -ENOSPC;
		snprintf(op->res.err, sizeof(op->res.err), "clusterm keeps at most %d "
		    "reporters (LIMIT_REPORTERS); reporter %s is not taken", LIMIT_REPORTERS,
		    h->reporter);
		return;
	}
	/* No vote, no watermark: the reporter's record and its node's life. */
	begin(s, op, h->reporter, "heartbeat");
	rid = intern(s, h->reporter);
	reporters_heartbeat(s, rid);
	heard(s, rid, h->epoch, h->seq, h->has_seq, h->spool_depth);
	drain(s);
	if (s->changes > 0)
		check_disruption(s);
	op->res.state_changes = s->changes;
}

void
intake_apply_params(struct state *s, struct op *op)
{
	char why[320];

	begin(s, op, "clusterm", "monitor parameters changed");
	s->params = op->u.params;
	snprintf(why, sizeof(why), "grace_s %lld, quorum %ld, disruption_ratio %g, "
	    "disruption_window_s %lld, reporter_stale_s %lld, heartbeat_timeout_s %lld, "
	    "heartbeat_interval_s %lld, reap_after_s %lld, observers %u",
	    s->params.grace_ms / 1000, s->params.quorum, s->params.disruption_ratio,
	    s->params.disruption_window_ms / 1000, s->params.reporter_stale_ms / 1000,
	    s->params.hb_timeout_ms / 1000, s->params.hb_interval_ms / 1000,
	    s->params.reap_after_ms / 1000, s->params.observers);
	/* A new K: the rings again from the Discovered nodes, every node recounted. */
	observers_set_k(s, s->params.observers);
	state_event(s, "", "config", "", "monitor", "clusterm", why);
	/*
	 * Pending grace periods are measured with the new length, and a node
	 * with a gone vote may now reach (or miss) the new quorum.
	 */
	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		struct node *n = inventory_at(s->inv, i);
		if (n->gone_since_ms != 0 || n->oth_gone > 0 || n->self_kind == VOTE_GONE ||
		    n->partitioned || n->unreachable)
			evaluate(s, n);
	}
	drain(s);
	check_disruption(s);
	op->res.state_changes = s->changes;
}

void
intake_recheck_disruption(struct state *s)
{
	check_disruption(s);
}

bool
intake_vote_counted(const struct state *s, const struct node *n, const struct vote *v)
{
	(void)s;
	return votes_counted(n, v);
}
