/* The lifecycle's apply steps: what a job's operations do to the state (write lock held). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forget.h"
#include "inventory.h"
#include "jobs.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "log.h"
#include "state_impl.h"


/* Moves a node's status and records the change. */
static int
move(struct state *s, struct node *n, enum node_status to, const char *actor,
    const char *why)
{
	enum node_status from = n->status;
	int rc;

	if (from == to)
		return 0;
	rc = inventory_set_status(n, to);
	if (rc < 0)
		return rc;
	forget_watch(s, n);
	state_event(s, n->name, "status", node_status_name(from), node_status_name(to), actor,
	    why);
	return 0;
}


static char *
xdup(const char *v)
{
	char *d = strdup(v != NULL ? v : "");

	if (d == NULL)
		state_apply_oom("a job");
	return d;
}

void
lifecycle_apply_request(struct state *s, struct op *op)
{
	const struct op_job_request *r = &op->u.job;
	const char *g = r->host_group[0] ? r->host_group : NULL;
	struct job_rec *j;
	char why[128];

	s->now = op->time_ms;
	op->res.rc = lifecycle_rules_check(s, r, op->res.err, sizeof(op->res.err));
	if (op->res.rc < 0) {
		/* A refused request is audited too, with the rule it broke. */
		snprintf(why, sizeof(why), "%s refused", job_op_name(r->op));
		state_event(s, r->n > 0 ? r->names[0] : "", "request", "", why, r->actor,
		    op->res.err);
		return;
	}
	j = state_job_new(s, r->op);
	j->status = JOB_QUEUED;
	free(j->host_group);
	free(j->extra_vars);
	free(j->actor);
	j->host_group = xdup(r->op == JOB_OP_DISCOVER ? LC_GROUP_DISCOVER : r->host_group);
	j->extra_vars = xdup(r->extra_vars);
	j->actor = xdup(r->actor);
	if (r->n > 0 && ((j->nodes = calloc(r->n, sizeof(*j->nodes))) == NULL ||
	    (j->groups = calloc(r->n, sizeof(*j->groups))) == NULL))
		state_apply_oom("a job");
	snprintf(why, sizeof(why), "job %llu (%s)", (unsigned long long)j->id,
	    job_op_name(r->op));
	state_event(s, "", "request", "", why, r->actor, r->comment);
	for (size_t i = 0; i < r->n; i++) {
		struct node *n = r->op == JOB_OP_DISCOVER ? NULL : inventory_get(s->inv, r->names[i]);
		j->nodes[i] = xdup(r->names[i]);
		/* Each node's group before the job: update cleans up in it. */
		j->groups[i] = xdup(n != NULL ? n->host_group : LC_GROUP_DISCOVER);
		j->nnodes++;
		if (n == NULL)
			continue;
		if (move(s, n, lifecycle_rules_request_status(r->op), r->actor, why) < 0 && !s->recovering)
			log_error("job %llu: node %s: %s -> %s refused by the table",
			    (unsigned long long)j->id, n->name, node_status_name(n->status),
			    node_status_name(lifecycle_rules_request_status(r->op)));
		if (g != NULL && r->op != JOB_OP_DECOMMISSION) {
			free(n->host_group);
			n->host_group = xdup(g);
		}
		n->last_job = j->id;
	}
	op->res.job_id = j->id;
}

void
lifecycle_apply_end(struct state *s, struct op *op)
{
	const struct op_job_end *e = &op->u.end;
	struct job_rec *j = state_job_get(s, e->id);
	enum node_status to;
	char why[96];

	s->now = op->time_ms;
	if (j == NULL || !lifecycle_is_active(j)) {
		op->res.rc = -ENOENT;
		return;
	}
	to = e->ok ? lifecycle_rules_success_status(j->op) : lifecycle_rules_failure_status(j->op);
	j->status = e->ok ? JOB_COMPLETE : JOB_ERRORED;
	if (e->start_ms > 0)
		j->started_ms = e->start_ms;
	j->ended_ms = e->end_ms > 0 ? e->end_ms : op->time_ms;
	/* The runner reports the failed step's code; a complete job exited 0. */
	j->exit_code = e->ok ? 0 : e->exit_code;
	free(j->error);
	j->error = xdup(e->error);
	snprintf(why, sizeof(why), "job %llu %s", (unsigned long long)j->id,
	    e->ok ? "complete" : "errored");
	for (size_t i = 0; j->op != JOB_OP_DISCOVER && i < j->nnodes; i++) {
		struct node *n = inventory_get(s->inv, j->nodes[i]);
		if (n != NULL && move(s, n, to, "clusterm", why) < 0 && !s->recovering)
			log_error("job %llu: node %s: cannot move %s to %s",
			    (unsigned long long)j->id, n->name, node_status_name(n->status),
			    node_status_name(to));
	}
	state_event(s, "", "job", "Running", jobs_state_name(j->status), "clusterm", why);
}

void
lifecycle_apply_started(struct state *s, struct op *op)
{
	const struct op_job_started *b = &op->u.started;
	struct job_rec *j = state_job_get(s, b->id);
	char why[64];

	s->now = op->time_ms;
	if (j == NULL || !lifecycle_is_active(j)) {
		op->res.rc = -ENOENT;
		return;
	}
	if (j->status == JOB_QUEUED) {
		j->status = JOB_RUNNING;
		j->started_ms = b->start_ms > 0 ? b->start_ms : op->time_ms;
		snprintf(why, sizeof(why), "job %llu started", (unsigned long long)j->id);
		state_event(s, "", "job", "Queued", "Running", "clusterm", why);
	}
	/* Each step runs in a group of its own: the latest is the one to end. */
	j->pgid = b->pgid;
	j->sid = b->sid;
	j->start_ticks = b->start_ticks;
	snprintf(j->boot_id, sizeof(j->boot_id), "%s", b->boot_id != NULL ? b->boot_id : "");
}

void
lifecycle_apply_cancel(struct state *s, struct op *op)
{
	struct job_rec *j = state_job_get(s, op->u.cancel.id);
	char why[64];

	s->now = op->time_ms;
	if (j == NULL) {
		op->res.rc = -ENOENT;
		lifecycle_say(op->res.err, sizeof(op->res.err), "job %llu does not exist",
		    (unsigned long long)op->u.cancel.id);
		return;
	}
	if (!lifecycle_is_active(j)) {
		op->res.rc = -EALREADY;
		lifecycle_say(op->res.err, sizeof(op->res.err), "job %llu has ended already (%s)",
		    (unsigned long long)j->id, jobs_state_name(j->status));
		return;
	}
	snprintf(why, sizeof(why), "cancel of job %llu", (unsigned long long)j->id);
	state_event(s, "", "request", "", why, op->u.cancel.actor, "");
}

void
lifecycle_apply_text(struct state *s, struct op *op)
{
	const struct op_text *t = &op->u.text;

	s->now = op->time_ms;
	if (op->kind == OP_GLOBALS) {
		state_set_globals(s, t->json);
		state_event(s, "", "config", "", "globals", t->actor, t->comment);
	} else {
		state_set_ansible_override(s, t->json);
		state_event(s, "", "config", "", t->json != NULL ? "ansible" : "file", t->actor,
		    t->comment);
	}
}

