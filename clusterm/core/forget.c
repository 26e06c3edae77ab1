/* Forgetting nodes: the operation, the reaper and its heap (forget.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forget.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "log.h"
#include "oplog.h"
#include "state_impl.h"

/* ---- the reap heap: Disappeared, Unallocated nodes by disappeared_ms ---- */

static bool
before(const struct state *s, uint32_t a, uint32_t b)
{
	const struct node *x = inventory_at(s->inv, a), *y = inventory_at(s->inv, b);

	return x->disappeared_ms < y->disappeared_ms ||
	    (x->disappeared_ms == y->disappeared_ms && a < b);
}

static void
place(struct state *s, size_t i, uint32_t id)
{
	s->reap[i] = id;
	inventory_at(s->inv, id)->reap_idx = (int32_t)i;
}

static void
sift_up(struct state *s, size_t i)
{
	uint32_t id = s->reap[i];

	while (i > 0 && before(s, id, s->reap[(i - 1) / 2])) {
		place(s, i, s->reap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(s, i, id);
}

static void
sift_down(struct state *s, size_t i)
{
	uint32_t id = s->reap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->nreap)
			break;
		if (c + 1 < s->nreap && before(s, s->reap[c + 1], s->reap[c]))
			c++;
		if (!before(s, s->reap[c], id))
			break;
		place(s, i, s->reap[c]);
		i = c;
	}
	place(s, i, id);
}

static void
heap_remove(struct state *s, struct node *n)
{
	size_t i = (size_t)n->reap_idx;
	uint32_t last = s->reap[--s->nreap];

	n->reap_idx = -1;
	if (i < s->nreap) {
		place(s, i, last);
		sift_up(s, i);
		sift_down(s, (size_t)inventory_at(s->inv, last)->reap_idx);
	}
}

static void
heap_insert(struct state *s, struct node *n)
{
	if (s->nreap == s->capreap) {
		size_t cap = s->capreap ? s->capreap * 2 : 64;
		uint32_t *v = realloc(s->reap, cap * sizeof(*v));
		if (v == NULL)
			state_apply_oom("the reap heap");
		s->reap = v;
		s->capreap = cap;
	}
	s->nreap++;
	place(s, s->nreap - 1, n->id);
	sift_up(s, s->nreap - 1);
}

void
forget_watch(struct state *s, struct node *n)
{
	bool due = n->state == MON_DISAPPEARED && n->status == NS_UNALLOCATED;

	/* Taken off and put back: disappeared_ms may have moved meanwhile. */
	if (n->reap_idx >= 0)
		heap_remove(s, n);
	if (due)
		heap_insert(s, n);
}

long long
forget_next_ms(const struct state *s)
{
	/* Disruption mode suspends automatic actions (CONTRACT 3.2 rule 5): this is one. */
	if (s->params.reap_after_ms <= 0 || s->nreap == 0 || s->disruption)
		return 0;
	return inventory_at(s->inv, s->reap[0])->disappeared_ms + s->params.reap_after_ms;
}

/* ---- removing nodes (write lock held) ---- */

/* The active job node name takes part in, NULL when none (discover names addresses). */
static const struct job_rec *
job_of(const struct state *s, const char *name)
{
	for (size_t i = 0; i < s->njobs; i++) {
		const struct job_rec *j = s->jobs[i];
		if (!lifecycle_is_active(j) || j->op == JOB_OP_DISCOVER)
			continue;
		for (size_t k = 0; k < j->nnodes; k++)
			if (strcmp(j->nodes[k], name) == 0)
				return j;
	}
	return NULL;
}

/* Why node n may not be forgotten now, into err: -EPERM, -EBUSY; 0 when it may. */
static int
refusal(const struct state *s, const struct node *n, char *err, size_t errlen)
{
	const struct job_rec *j;

	if (n->state != MON_DISAPPEARED) {
		snprintf(err, errlen, "node %s is %s: only a Disappeared node can be forgotten",
		    n->name, mon_state_name(n->state));
		return -EPERM;
	}
	if ((j = job_of(s, n->name)) != NULL) {
		snprintf(err, errlen, "node %s is in job %llu (%s, %s): it cannot be forgotten "
		    "until the job ends", n->name, (unsigned long long)j->id, job_op_name(j->op),
		    jobs_state_name(j->status));
		return -EBUSY;
	}
	return 0;
}

/* Whether a node other than n carries Node-Name member. */
static bool
member_elsewhere(const struct state *s, const struct node *n, const char *member)
{
	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		const struct node *m = inventory_at(s->inv, i);
		if (m != n && m->rep.name != NULL && strcmp(m->rep.name, member) == 0)
			return true;
	}
	return false;
}

/*
 * The first part of forgetting n, while node ids still hold: the audit
 * line, and the votes n cast as a reporter (unless another node carries its
 * Node-Name, whose votes they are then). The caller then removes the node
 * (inventory_remove) and rebuilds what holds node ids (timers, window,
 * reporter index, reap heap) once for all it removes.
 */
static void
prepare(struct state *s, struct node *n, const char *actor, const char *why)
{
	uint32_t rid;

	state_event(s, n->name, "forget", mon_state_name(n->state), "forgotten", actor, why);
	if (!s->recovering)
		log_info("node %s forgotten (%s: %s)", n->name, actor, why);
	if (n->reap_idx >= 0)
		heap_remove(s, n);
	if (n->rep.name == NULL || member_elsewhere(s, n, n->rep.name) ||
	    (rid = state_reporter_find(s, n->rep.name)) == VOTE_NO_REPORTER)
		return;
	for (uint32_t i = 0; i < s->reps[rid].nvoted; i++) {
		struct node *m = inventory_at(s->inv, s->reps[rid].voted[i]);
		struct vote *v = m != NULL ? votes_find(m, rid) : NULL;
		if (v != NULL && v->kind != VOTE_NONE && votes_record(m, rid, VOTE_NONE, v->seq,
		    v->received_ms, s->reps[rid].counts, NULL) < 0)
			state_apply_oom("forgetting a node's votes");
	}
}

void
forget_apply(struct state *s, struct op *op)
{
	const struct op_forget *f = &op->u.forget;
	struct node *n;

	s->now = op->time_ms;
	n = inventory_get(s->inv, f->name);
	if (n == NULL) {
		snprintf(op->res.err, sizeof(op->res.err), INVENTORY_NO_SUCH_NODE, f->name,
		    f->name);
		op->res.rc = -ENOENT;
		return;
	}
	op->res.rc = refusal(s, n, op->res.err, sizeof(op->res.err));
	if (op->res.rc < 0) {
		/* A refusal is audited too, with the reason. */
		state_event(s, f->name, "request", "", "forget refused", f->actor, op->res.err);
		return;
	}
	prepare(s, n, f->actor, f->comment);
	if (inventory_remove(s->inv, n) < 0)
		state_apply_oom("forgetting a node");
	state_rebuild_derived(s);
	op->res.state_changes = 1;
}

size_t
forget_apply_tick(struct state *s, struct op *op)
{
	struct node **due = NULL;
	size_t n = 0, cap = 0;
	char why[128];

	s->now = op->time_ms;
	while (forget_next_ms(s) != 0 && forget_next_ms(s) <= s->now) {
		struct node *d = inventory_at(s->inv, s->reap[0]);

		heap_remove(s, d);
		/* Unallocated nodes are in no job (a request moves them): defensive. */
		if (job_of(s, d->name) != NULL)
			continue;
		if (n == cap) {
			struct node **v;
			cap = cap ? cap * 2 : 16;
			if ((v = realloc(due, cap * sizeof(*v))) == NULL)
				state_apply_oom("the reaper");
			due = v;
		}
		due[n++] = d;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(why, sizeof(why), "monitor.reap_after_s: Disappeared and Unallocated "
		    "for %llds", (s->now - due[i]->disappeared_ms) / 1000);
		prepare(s, due[i], "clusterm", why);
	}
	/* Node pointers are stable; inventory_remove renumbers the ids after each. */
	for (size_t i = 0; i < n; i++)
		if (inventory_remove(s->inv, due[i]) < 0)
			state_apply_oom("forgetting a node");
	free(due);
	if (n > 0) {
		state_rebuild_derived(s);
		op->res.state_changes += n;
	}
	return n;
}

/* ---- submitting ---- */

int
forget_node(struct state *s, const char *name, const char *actor, const char *why,
    char *err, size_t errlen)
{
	struct op op = { .kind = OP_FORGET };
	int rc;

	op.u.forget.name = name;
	op.u.forget.actor = actor;
	op.u.forget.comment = why != NULL ? why : "";
	rc = oplog_submit(s, &op);
	if (rc == 0)
		rc = op.res.rc;
	if (rc < 0)
		snprintf(err, errlen, "%s", op.res.err);
	return rc;
}

int
forget_tick(struct state *s)
{
	struct op op = { .kind = OP_TICK };
	long long next;
	int rc;

	pthread_rwlock_rdlock(&s->lock);
	next = forget_next_ms(s);
	pthread_rwlock_unlock(&s->lock);
	if (next == 0 || next > oplog_clock_ms(s))
		return 0;
	rc = oplog_submit(s, &op);
	return rc < 0 ? rc : 1;
}
