/* Lifecycle requests: rules, job records, outcomes, recovery. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "conf.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "log.h"
#include "oplog.h"
#include "report.h"
#include "state_impl.h"

/* Bytes of the list of node names in a refusal. */
#define LC_NAMES_TEXT	256

struct lifecycle {
	struct state *s;
	const struct ansible_conf *conf;
	char state_dir[PATH_MAX];
	char jobs_dir[PATH_MAX];
	struct jobs *runner;
	long max_jobs;
	bool queue_jobs;
	char boot_id[JOBS_BOOT_ID_SIZE];	/* "" when unknown */
};

_Static_assert(sizeof(((struct job_rec *)0)->boot_id) == JOBS_BOOT_ID_SIZE,
    "a job record holds a boot id");

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool
active(const struct job_rec *j)
{
	return j->status == JOB_QUEUED || j->status == JOB_RUNNING;
}

/* ---- the apply step (write lock held) ---- */

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
	state_event(s, n->name, "status", node_status_name(from), node_status_name(to), actor,
	    why);
	return 0;
}

/* Status a job's nodes get when the job fails (or clusterm died during it). */
static enum node_status
failure_status(enum job_op op)
{
	return op == JOB_OP_DECOMMISSION ? NS_DECOMMISSIONED : NS_UNALLOCATED;
}

static enum node_status
success_status(enum job_op op)
{
	return op == JOB_OP_DECOMMISSION ? NS_DECOMMISSIONED : NS_ALLOCATED;
}

static enum node_status
request_status(enum job_op op)
{
	return op == JOB_OP_COMMISSION ? NS_PROVISIONING :
	    op == JOB_OP_DECOMMISSION ? NS_CANCELLED : NS_MAINTENANCE;
}

/* The job a node takes part in, NULL when it is in none that is active. */
static struct job_rec *
busy_with(struct state *s, const char *name)
{
	for (size_t i = 0; i < s->njobs; i++) {
		struct job_rec *j = s->jobs[i];
		if (!active(j) || j->op == JOB_OP_DISCOVER)
			continue;
		for (size_t k = 0; k < j->nnodes; k++)
			if (strcmp(j->nodes[k], name) == 0)
				return j;
	}
	return NULL;
}

static size_t
active_jobs(struct state *s, uint64_t *ret_newest)
{
	size_t n = 0;

	for (size_t i = 0; i < s->njobs; i++) {
		if (active(s->jobs[i])) {
			n++;
			*ret_newest = s->jobs[i]->id;
		}
	}
	return n;
}

static bool
in_request(const struct op_job_request *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->names[i], name) == 0)
			return true;
	return false;
}

/*
 * The master rule: after the request, some Discovered, Allocated master must
 * remain whenever an Allocated worker remains or is being added. The
 * request's nodes are left out (decommission), count with the group they
 * will have (update; group NULL keeps each node's own), or count as workers
 * only (commission: a master being commissioned is not up yet).
 */
static bool
masters_ok(struct state *s, const struct op_job_request *r, const char *group)
{
	bool worker = false, master = false;

	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		struct node *n = inventory_at(s->inv, i);
		const char *g = n->host_group;
		bool mine = in_request(r, n->name);

		if (mine && r->op == JOB_OP_DECOMMISSION)
			continue;
		if (mine && group != NULL)
			g = group;
		if (!mine && n->status != NS_ALLOCATED)
			continue;
		if (strcmp(g, LC_GROUP_WORKER) == 0)
			worker = true;
		else if (strcmp(g, LC_GROUP_MASTER) == 0 && n->state == MON_DISCOVERED &&
		    !(mine && r->op == JOB_OP_COMMISSION))
			master = true;
	}
	return !worker || master;
}

static bool
group_valid(const char *g)
{
	return strcmp(g, LC_GROUP_MASTER) == 0 || strcmp(g, LC_GROUP_WORKER) == 0;
}

static int
check_discover(struct state *s, const struct op_job_request *r, char *err, size_t errlen)
{
	char known[LC_NAMES_TEXT] = "";
	size_t len = 0, nknown = 0;

	if (r->n == 0) {
		say(err, errlen, "addrs must name at least one address");
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (!report_addr_valid(r->names[i])) {
			say(err, errlen, "address %.64s is not an IPv4, IPv6 address or host name",
			    r->names[i]);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(r->names[k], r->names[i]) == 0) {
				say(err, errlen, "address %s is named twice", r->names[i]);
				return -EINVAL;
			}
		}
	}
	/* Every address already known, as contiv lists them: [name:addr ...]. */
	for (size_t i = 0; i < r->n; i++) {
		for (size_t k = 0; k < inventory_count(s->inv); k++) {
			struct node *n = inventory_at(s->inv, k);
			if (n->rep.addr == NULL || strcmp(n->rep.addr, r->names[i]) != 0)
				continue;
			if (len < sizeof(known))
				len += (size_t)snprintf(known + len, sizeof(known) - len, "%s%s:%s",
				    nknown ? " " : "", n->name, n->rep.addr);
			nknown++;
		}
	}
	if (nknown == 0)
		return 0;
	say(err, errlen, "one or more nodes already exist with the specified management "
	    "addresses. Existing nodes: [%s] (an address already known is not discovered "
	    "again)", known);
	return -EPERM;
}

/* Every named node exists, once, and is in no active job. */
static int
check_nodes(struct state *s, const struct op_job_request *r, char *err, size_t errlen)
{
	struct job_rec *busy;

	for (size_t i = 0; i < r->n; i++) {
		struct node *n = inventory_get(s->inv, r->names[i]);

		for (size_t k = 0; k < i; k++) {
			if (strcmp(r->names[k], r->names[i]) == 0) {
				say(err, errlen, "node %s is named twice", r->names[i]);
				return -EINVAL;
			}
		}
		if (n == NULL) {
			/* contiv's words, which scripts grep for. */
			say(err, errlen, "node with name or address \"%.128s\" doesn't exists",
			    r->names[i]);
			return -ENOENT;
		}
		if ((busy = busy_with(s, n->name)) != NULL) {
			say(err, errlen, "node %s is busy with job %llu (%s)", n->name,
			    (unsigned long long)busy->id, job_op_name(busy->op));
			return -EBUSY;
		}
	}
	return 0;
}

/* Every node Discovered (contiv: commission, update and decommission alike). */
static int
check_discovered(struct state *s, const struct op_job_request *r, char *err, size_t errlen)
{
	char names[LC_NAMES_TEXT] = "", states[LC_NAMES_TEXT] = "";
	size_t len = 0, slen = 0, bad = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct node *n = inventory_get(s->inv, r->names[i]);
		if (n->state == MON_DISCOVERED)
			continue;
		if (len < sizeof(names))
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
			    bad ? " " : "", n->name);
		if (slen < sizeof(states))
			slen += (size_t)snprintf(states + slen, sizeof(states) - slen, "%s%s is %s",
			    bad ? ", " : "", n->name, mon_state_name(n->state));
		bad++;
	}
	if (bad == 0)
		return 0;
	/* contiv's sentence, then ours: which node is in which state. */
	say(err, errlen, "one or more nodes are not in discovered state, please check their "
	    "network reachability. Non-discovered nodes: [%s] (%s)", names, states);
	return -EPERM;
}

/* Every node may move to the request's status (the contiv transition table). */
static int
check_transitions(struct state *s, const struct op_job_request *r, char *err,
    size_t errlen)
{
	enum node_status to = request_status(r->op);

	for (size_t i = 0; i < r->n; i++) {
		struct node *n = inventory_get(s->inv, r->names[i]);
		if (r->op == JOB_OP_COMMISSION && n->status != NS_UNALLOCATED &&
		    n->status != NS_DECOMMISSIONED)
			goto bad;
		if (!inventory_transition_allowed(n->status, to))
			goto bad;
		continue;
bad:
		say(err, errlen, "failed to update %s's state in inventory, Error: transition "
		    "from \"%s\" to \"%s\" is not allowed", n->name, node_status_name(n->status),
		    node_status_name(to));
		return -EPERM;
	}
	return 0;
}

/* Checks a request against the rules. 0 or -errno with a sentence in err. */
static int
check(struct state *s, const struct op_job_request *r, char *err, size_t errlen)
{
	const char *g = r->host_group[0] ? r->host_group : NULL;
	uint64_t newest = 0;
	size_t nactive = active_jobs(s, &newest);
	int rc;

	if (nactive >= (size_t)r->max_jobs &&
	    (!r->queue_jobs || nactive >= (size_t)r->max_jobs + LC_MAX_QUEUED)) {
		if (r->queue_jobs)
			say(err, errlen, "%d jobs are queued already; try later", LC_MAX_QUEUED);
		else
			say(err, errlen, "there is already an active job, please try in "
			    "sometime. Job: %llu", (unsigned long long)newest);
		return -EBUSY;
	}
	if (r->op == JOB_OP_DISCOVER)
		return check_discover(s, r, err, errlen);
	if (r->n == 0) {
		say(err, errlen, "atleast one node should be specified: nodes must name at "
		    "least one node");
		return -EINVAL;
	}
	if (r->op == JOB_OP_COMMISSION && (g == NULL || !group_valid(g))) {
		say(err, errlen, "invalid or empty host-group specified: \"%.64s\" (%s or %s)",
		    g != NULL ? g : "", LC_GROUP_MASTER, LC_GROUP_WORKER);
		return -EINVAL;
	}
	if (g != NULL && !group_valid(g)) {
		say(err, errlen, "invalid host-group specified: \"%.64s\" (%s or %s)", g,
		    LC_GROUP_MASTER, LC_GROUP_WORKER);
		return -EINVAL;
	}
	if ((rc = check_nodes(s, r, err, errlen)) < 0 ||
	    (rc = check_discovered(s, r, err, errlen)) < 0 ||
	    (rc = check_transitions(s, r, err, errlen)) < 0)
		return rc;
	if (!masters_ok(s, r, r->op == JOB_OP_DECOMMISSION ? NULL : g)) {
		/* contiv's sentence for each operation, then ours. */
		say(err, errlen, "%s (node %s: %s nodes would have no Discovered, Allocated %s)",
		    r->op == JOB_OP_COMMISSION ? "Cannot commission a worker node without "
		    "existence of a master node in the cluster, make sure atleast one master "
		    "node is commissioned." : r->op == JOB_OP_UPDATE ? "Updating these nodes "
		    "as worker will result in no master node in the cluster, make sure atleast "
		    "one node is commissioned as master." : "decommissioning the specified "
		    "node(s) will leave only worker nodes in the cluster, make sure all worker "
		    "nodes are decommissioned before last master node.", r->names[0],
		    LC_GROUP_WORKER, LC_GROUP_MASTER);
		return -EPERM;
	}
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
	op->res.rc = check(s, r, op->res.err, sizeof(op->res.err));
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
		if (move(s, n, request_status(r->op), r->actor, why) < 0 && !s->recovering)
			log_error("job %llu: node %s: %s -> %s refused by the table",
			    (unsigned long long)j->id, n->name, node_status_name(n->status),
			    node_status_name(request_status(r->op)));
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
	if (j == NULL || !active(j)) {
		op->res.rc = -ENOENT;
		return;
	}
	to = e->ok ? success_status(j->op) : failure_status(j->op);
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
	if (j == NULL || !active(j)) {
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
		say(op->res.err, sizeof(op->res.err), "job %llu does not exist",
		    (unsigned long long)op->u.cancel.id);
		return;
	}
	if (!active(j)) {
		op->res.rc = -EALREADY;
		say(op->res.err, sizeof(op->res.err), "job %llu has ended already (%s)",
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

/* ---- submitting, and the runner ---- */

static int
submit_end(struct state *s, uint64_t id, bool ok, int exit_code, const char *error,
    long long start_ms, long long end_ms)
{
	struct op op = { .kind = OP_JOB_END };

	op.u.end.id = id;
	op.u.end.ok = ok;
	op.u.end.exit_code = exit_code;
	op.u.end.error = error;
	op.u.end.start_ms = start_ms;
	op.u.end.end_ms = end_ms;
	return oplog_submit(s, &op);
}

static void
on_done(const struct job_outcome *o, void *arg)
{
	struct lifecycle *lc = arg;
	int rc;

	rc = submit_end(lc->s, o->id, o->state == JOB_COMPLETE, o->exit_code, o->error,
	    o->start_ms, o->end_ms > 0 ? o->end_ms : fsio_now_ms());
	if (rc < 0)
		log_error("job %llu: the store refused its outcome", (unsigned long long)o->id);
	else
		log_info("job %llu: %s%s%s", (unsigned long long)o->id,
		    jobs_state_name(o->state), o->error[0] ? ": " : "", o->error);
}

/*
 * The runner started a step: its group goes into the log (one fsync, on the
 * runner's thread, not under its lock), so that a restart after a crash
 * can end what the step left running.
 */
static void
on_start(uint64_t id, const struct jobs_proc *p, long long start_ms, void *arg)
{
	struct lifecycle *lc = arg;
	struct op op = { .kind = OP_JOB_STARTED };

	op.u.started.id = id;
	op.u.started.pgid = (int)p->pgrp;
	op.u.started.sid = (int)p->sid;
	op.u.started.start_ticks = p->start_ticks;
	op.u.started.boot_id = lc->boot_id;
	op.u.started.start_ms = start_ms;
	if (oplog_submit(lc->s, &op) < 0)
		log_error("job %llu: the store refused the start of process group %ld",
		    (unsigned long long)id, (long)p->pgrp);
}

int
lifecycle_start(struct state *s, const struct ansible_conf *conf, const char *state_dir,
    long max_jobs, bool queue_jobs, struct lifecycle **ret)
{
	struct jobs_conf jc = { 0 };
	struct lifecycle *lc;
	int rc;

	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return -ENOMEM;
	lc->s = s;
	lc->conf = conf;
	lc->max_jobs = max_jobs;
	lc->queue_jobs = queue_jobs;
	if ((size_t)snprintf(lc->state_dir, sizeof(lc->state_dir), "%s", state_dir) >=
	    sizeof(lc->state_dir) || (size_t)snprintf(lc->jobs_dir, sizeof(lc->jobs_dir),
	    "%s/jobs", state_dir) >= sizeof(lc->jobs_dir)) {
		free(lc);
		return -ENAMETOOLONG;
	}
	rc = fsio_mkdir_p(lc->jobs_dir, 0700);
	if (rc < 0) {
		free(lc);
		return rc;
	}
	jc.max_jobs = (unsigned)max_jobs;
	jc.max_queued = LC_MAX_QUEUED;
	if (jobs_boot_id(lc->boot_id, sizeof(lc->boot_id)) < 0)
		lc->boot_id[0] = '\0';	/* no /proc: a restart will not look for groups */
	jc.on_done = on_done;
	jc.on_start = on_start;
	jc.arg = lc;
	rc = jobs_start(&jc, &lc->runner);
	if (rc < 0) {
		free(lc);
		return rc;
	}
	*ret = lc;
	return 0;
}

void
lifecycle_stop(struct lifecycle *lc)
{
	if (lc == NULL)
		return;
	jobs_stop(lc->runner);
	free(lc);
}

/* A job a previous run left active, and the group of its latest step. */
struct orphan {
	uint64_t id;
	int pgid, sid;
	unsigned long long start_ticks;
	bool same_boot;
	bool signalled;		/* SIGTERM sent, not seen gone yet */
};

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits up to ms for the signalled groups to go; returns how many are left. */
static size_t
wait_gone(struct orphan *v, size_t n, long ms, const char *how)
{
	long long deadline = fsio_mono_ms() + ms;
	size_t left;

	for (;;) {
		left = 0;
		for (size_t i = 0; i < n; i++) {
			if (!v[i].signalled)
				continue;
			if (jobs_group_check(&jobs_procfs_real, v[i].pgid, v[i].sid,
			    v[i].start_ticks) == 1) {
				left++;
				continue;
			}
			v[i].signalled = false;
			log_warn("job %llu: killed process group %d that the previous run left "
			    "running (%s)", (unsigned long long)v[i].id, v[i].pgid, how);
		}
		if (left == 0 || fsio_mono_ms() >= deadline)
			return left;
		nap_ms(LC_ORPHAN_POLL_MS);
	}
}

/*
 * Ends the process groups that jobs of a previous run left: SIGTERM to each
 * group that is still the job's (same boot, start time: jobs_group_check),
 * up to LC_ORPHAN_WAIT_MS for them to go, then SIGKILL.
 */
static void
end_orphans(struct orphan *v, size_t n)
{
	size_t left = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (v[i].pgid <= 0)
			continue;	/* never started */
		if (!v[i].same_boot) {
			log_info("job %llu: process group %d was of an earlier boot",
			    (unsigned long long)v[i].id, v[i].pgid);
			continue;
		}
		rc = jobs_group_signal(&jobs_procfs_real, v[i].pgid, v[i].sid, v[i].start_ticks,
		    SIGTERM);
		if (rc < 0)
			log_error("job %llu: cannot look for process group %d: %s",
			    (unsigned long long)v[i].id, v[i].pgid, strerror(-rc));
		else if (rc > 0) {
			log_warn("job %llu: process group %d of the previous run still runs: "
			    "SIGTERM", (unsigned long long)v[i].id, v[i].pgid);
			v[i].signalled = true;
			left++;
		}
	}
	if (left == 0)
		return;
	if (wait_gone(v, n, LC_ORPHAN_WAIT_MS, "SIGTERM") == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].signalled)
			continue;
		log_warn("job %llu: process group %d still runs %d ms after SIGTERM: SIGKILL",
		    (unsigned long long)v[i].id, v[i].pgid, LC_ORPHAN_WAIT_MS);
		if (jobs_group_signal(&jobs_procfs_real, v[i].pgid, v[i].sid, v[i].start_ticks,
		    SIGKILL) <= 0)
			v[i].signalled = false;
	}
	if (wait_gone(v, n, LC_ORPHAN_WAIT_MS, "SIGKILL") > 0)
		log_error("process groups of the previous run are still there after SIGKILL");
}

/* Removes every extra-vars file in the jobs dir (at start, before any job runs). */
static void
sweep_vars_files(const char *dir)
{
	size_t sl = strlen(ANSIBLE_VARS_SUFFIX);
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l <= sl || strcmp(de->d_name + l - sl, ANSIBLE_VARS_SUFFIX) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("%s/%s: extra-vars file of an interrupted job removed", dir,
			    de->d_name);
		else
			log_warn("%s/%s: cannot remove: %s", dir, de->d_name, strerror(errno));
	}
	closedir(d);
}

int
lifecycle_recover(struct lifecycle *lc)
{
	struct state *s = lc->s;
	struct orphan *v = NULL;
	size_t n = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	if (s->njobs > 0 && (v = calloc(s->njobs, sizeof(*v))) == NULL)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < s->njobs; i++) {
		const struct job_rec *j = s->jobs[i];
		if (!active(j))
			continue;
		v[n].id = j->id;
		v[n].pgid = j->pgid;
		v[n].sid = j->sid;
		v[n].start_ticks = j->start_ticks;
		v[n].same_boot = lc->boot_id[0] != '\0' && strcmp(j->boot_id, lc->boot_id) == 0;
		n++;
	}
	pthread_rwlock_unlock(&s->lock);
	/* Before the failure path moves the nodes: nothing of the old run touches them. */
	if (rc == 0)
		end_orphans(v, n);
	/* No job runs yet: extra-vars files left by a crash hold secrets of nobody's. */
	if (rc == 0)
		sweep_vars_files(lc->jobs_dir);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = submit_end(s, v[i].id, false, -1, "clusterm restarted", 0, 0);
	free(v);
	return rc < 0 ? rc : (int)n;
}

void
lifecycle_live(struct lifecycle *lc, const struct job_rec *j, int *ret_status,
    long long *ret_started_ms)
{
	struct job_status st;

	*ret_status = j->status;
	*ret_started_ms = j->started_ms;
	if (!active(j))
		return;
	if (jobs_status(lc->runner, j->id, &st) < 0)
		return;	/* ended: its outcome is on the way */
	*ret_status = st.state;
	if (st.state == JOB_RUNNING)
		*ret_started_ms = st.start_ms;
}

bool
lifecycle_running(struct lifecycle *lc, uint64_t id)
{
	return jobs_is_running(lc->runner, id);
}

int
lifecycle_effective_conf(struct lifecycle *lc, struct ansible_conf *ret, char *err,
    size_t errlen)
{
	*ret = *lc->conf;
	if (lc->s->ansible_override != NULL)
		return conf_ansible_apply(ret, lc->s->ansible_override, err, errlen);
	return 0;
}

/* What a job runs: its hosts and their groups, copied out of the state. */
struct job_plan {
	enum job_op op;
	uint64_t id;
	size_t n;
	struct ansible_host *hosts;
	char **names, **addrs, **old_groups, **new_groups;
	char *vars;
};

static void
plan_finish(struct job_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->names[i]);
		free(p->addrs[i]);
		free(p->old_groups[i]);
		free(p->new_groups[i]);
	}
	free(p->hosts);
	free(p->names);
	free(p->addrs);
	free(p->old_groups);
	free(p->new_groups);
	free(p->vars);
}

static char *
group_or_master(const char *g)
{
	return strdup(g != NULL && g[0] ? g : LC_GROUP_MASTER);
}

/* Lock held (read): the plan of job id. */
static int
plan_of(struct lifecycle *lc, struct ansible_conf *conf, uint64_t id, struct job_plan *p,
    char *err, size_t errlen)
{
	struct state *s = lc->s;
	struct job_rec *j = state_job_get(s, id);
	int rc;

	if (j == NULL || j->nnodes == 0)
		return -ENOENT;
	p->op = j->op;
	p->id = id;
	p->hosts = calloc(j->nnodes, sizeof(*p->hosts));
	p->names = calloc(j->nnodes, sizeof(*p->names));
	p->addrs = calloc(j->nnodes, sizeof(*p->addrs));
	p->old_groups = calloc(j->nnodes, sizeof(*p->old_groups));
	p->new_groups = calloc(j->nnodes, sizeof(*p->new_groups));
	if (p->hosts == NULL || p->names == NULL || p->addrs == NULL || p->old_groups == NULL ||
	    p->new_groups == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < j->nnodes; i++) {
		const char *addr = j->nodes[i], *g = j->groups != NULL ? j->groups[i] : "";
		char name[32];
		struct node *n = NULL;
		p->n++;
		if (j->op == JOB_OP_DISCOVER) {
			snprintf(name, sizeof(name), "discover-%zu", i + 1);
			p->names[i] = strdup(name);
			p->old_groups[i] = strdup(LC_GROUP_DISCOVER);
			p->new_groups[i] = strdup(LC_GROUP_DISCOVER);
		} else {
			n = inventory_get(s->inv, j->nodes[i]);
			addr = n != NULL && n->rep.addr != NULL ? n->rep.addr : "";
			p->names[i] = strdup(j->nodes[i]);
			p->old_groups[i] = group_or_master(g);
			p->new_groups[i] = group_or_master(j->host_group[0] ? j->host_group : g);
		}
		p->addrs[i] = strdup(addr);
		if (p->names[i] == NULL || p->addrs[i] == NULL || p->old_groups[i] == NULL ||
		    p->new_groups[i] == NULL)
			return -ENOMEM;
		p->hosts[i].name = p->names[i];
		p->hosts[i].addr = p->addrs[i];
	}
	if ((rc = lifecycle_effective_conf(lc, conf, err, errlen)) < 0)
		return rc;
	return ansible_merge_extra_vars(j->extra_vars, s->globals, conf->extra_variables,
	    &p->vars, err, errlen);
}

/*
 * An inventory with one section per group, each node in the group given
 * by groups[i], written to the jobs dir as <id>-<tag>.inventory.
 */
static int
write_inventory(struct lifecycle *lc, const struct job_plan *p, char *const *groups,
    const char *tag, char *path, size_t pathlen, char *err, size_t errlen)
{
	struct ansible_host *sub = calloc(p->n, sizeof(*sub));
	char name[64], *all = NULL, *text;
	size_t len = 0;
	int rc = 0;

	if (sub == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "%llu-%s.inventory", (unsigned long long)p->id, tag);
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		size_t k = 0;
		bool seen = false;
		for (size_t x = 0; x < i; x++)
			seen = seen || strcmp(groups[x], groups[i]) == 0;
		if (seen)
			continue;
		for (size_t x = i; x < p->n; x++)
			if (strcmp(groups[x], groups[i]) == 0)
				sub[k++] = p->hosts[x];
		rc = ansible_inventory_text(groups[i], sub, k, &text, err, errlen);
		if (rc == 0) {
			size_t tl = strlen(text);
			char *v = realloc(all, len + tl + 1);
			if (v == NULL)
				rc = -ENOMEM;
			else {
				all = v;
				memcpy(all + len, text, tl + 1);
				len += tl;
			}
			free(text);
		}
	}
	free(sub);
	if (rc == 0 && (size_t)snprintf(path, pathlen, "%s/%s", lc->jobs_dir, name) >= pathlen)
		rc = -ENAMETOOLONG;
	if (rc == 0 && (rc = fsio_write_atomic(lc->jobs_dir, name, all, len, 0600)) < 0)
		say(err, errlen, "cannot write inventory %s: %s", path, strerror(-rc));
	free(all);
	return rc;
}

static int
make_step(struct lifecycle *lc, const struct ansible_conf *c, const struct job_plan *p,
    char *const *groups, const char *tag, const char *playbook, struct ansible_cmd *cmd,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc;

	rc = write_inventory(lc, p, groups, tag, path, sizeof(path), err, errlen);
	if (rc < 0)
		return rc;
	return ansible_build_cmd(c, path, playbook, p->vars, NULL, cmd, err, errlen);
}

/* Builds the steps of a recorded job and hands it to the runner. */
static int
start_job(struct lifecycle *lc, uint64_t id, char *err, size_t errlen)
{
	struct ansible_conf *conf = malloc(sizeof(*conf));	/* ~80 KiB */
	struct ansible_cmd cmds[3] = { 0 };
	struct job_step steps[2], fail;
	struct job_spec spec = { 0 };
	struct job_plan p = { 0 };
	char logp[PATH_MAX];
	int rc;

	if (conf == NULL)
		return -ENOMEM;
	pthread_rwlock_rdlock(&lc->s->lock);
	rc = plan_of(lc, conf, id, &p, err, errlen);
	pthread_rwlock_unlock(&lc->s->lock);
	if (rc < 0)
		goto out;
	switch (p.op) {
	case JOB_OP_COMMISSION:
	case JOB_OP_DISCOVER:
		rc = make_step(lc, conf, &p, p.new_groups, "configure", conf->configure_playbook,
		    &cmds[0], err, errlen);
		if (rc == 0 && p.op == JOB_OP_COMMISSION)
			rc = make_step(lc, conf, &p, p.new_groups, "cleanup",
			    conf->cleanup_playbook, &cmds[2], err, errlen);
		spec.nsteps = 1;
		break;
	case JOB_OP_DECOMMISSION:
		/* Each node is cleaned up in its own group. */
		rc = make_step(lc, conf, &p, p.old_groups, "cleanup", conf->cleanup_playbook,
		    &cmds[0], err, errlen);
		spec.nsteps = 1;
		break;
	case JOB_OP_UPDATE:
		rc = make_step(lc, conf, &p, p.old_groups, "cleanup", conf->cleanup_playbook,
		    &cmds[0], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, &p, p.new_groups, "configure",
			    conf->configure_playbook, &cmds[1], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, &p, p.new_groups, "failure-cleanup",
			    conf->cleanup_playbook, &cmds[2], err, errlen);
		spec.nsteps = 2;
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < spec.nsteps; i++) {
		steps[i].title = (p.op == JOB_OP_UPDATE && i == 0) ||
		    p.op == JOB_OP_DECOMMISSION ? "cleanup" : "configure";
		steps[i].argv = (const char *const *)cmds[i].argv;
		steps[i].envp = (const char *const *)cmds[i].envp;
	}
	fail.title = "cleanup after failure";
	fail.argv = (const char *const *)cmds[2].argv;
	fail.envp = (const char *const *)cmds[2].envp;
	if ((rc = jobs_log_path_make(lc->state_dir, id, logp, sizeof(logp))) < 0)
		goto out;
	spec.id = id;
	spec.log_path = logp;
	spec.steps = steps;
	spec.failure_step = cmds[2].argv != NULL ? &fail : NULL;
	spec.timeout_s = conf->timeout_s;
	rc = jobs_submit(lc->runner, &spec);
	if (rc < 0)
		say(err, errlen, "the job runner refused it: %s", strerror(-rc));
out:
	/* Submitted, the runner removes the extra-vars files; else they go now. */
	for (size_t i = 0; i < 3; i++) {
		/* -EEXIST: the files are the running job's of that id, not ours. */
		if (rc < 0 && rc != -EEXIST)
			ansible_cmd_discard(&cmds[i]);
		else
			ansible_cmd_finish(&cmds[i]);
	}
	plan_finish(&p);
	free(conf);
	return rc;
}

int
lifecycle_submit(struct lifecycle *lc, const struct lc_request *r, uint64_t *ret_id,
    char *err, size_t errlen)
{
	struct op op = { .kind = OP_JOB_REQUEST };
	struct op_job_request *j = &op.u.job;
	char why[320];
	int rc;

	if (r->nnodes > LC_MAX_NODES || r->naddrs > LC_MAX_NODES) {
		say(err, errlen, "more than %d nodes in one request", LC_MAX_NODES);
		return -EINVAL;
	}
	{
		/* The request's own extra vars must be a JSON object: 400, nothing logged. */
		char *vars = NULL, why_vars[256];
		rc = ansible_merge_extra_vars(r->extra_vars, NULL, NULL, &vars, why_vars,
		    sizeof(why_vars));
		free(vars);
		if (rc < 0) {
			/* contiv's words, then ours. */
			say(err, errlen, "\"extra_vars\" should be a valid json. Error: %s",
			    why_vars);
			return rc;
		}
	}
	j->op = r->op;
	j->names = r->op == JOB_OP_DISCOVER ? r->addrs : r->nodes;
	j->n = r->op == JOB_OP_DISCOVER ? r->naddrs : r->nnodes;
	j->host_group = r->host_group != NULL ? r->host_group : "";
	j->extra_vars = r->extra_vars != NULL ? r->extra_vars : "";
	j->actor = r->actor != NULL ? r->actor : "";
	j->comment = r->comment != NULL ? r->comment : "";
	j->max_jobs = lc->max_jobs;
	j->queue_jobs = lc->queue_jobs;
	rc = oplog_submit(lc->s, &op);
	if (rc < 0) {
		say(err, errlen, "%s", op.res.err);
		return rc;
	}
	if (op.res.rc < 0) {
		say(err, errlen, "%s", op.res.err);
		return op.res.rc;
	}
	/* Durable now: the playbook may start. */
	rc = start_job(lc, op.res.job_id, why, sizeof(why));
	if (rc < 0) {
		log_error("job %llu: cannot start: %s", (unsigned long long)op.res.job_id, why);
		if (submit_end(lc->s, op.res.job_id, false, -1, why, 0, 0) < 0)
			log_error("job %llu: the store refused its outcome",
			    (unsigned long long)op.res.job_id);
	}
	*ret_id = op.res.job_id;
	return 0;
}

int
lifecycle_cancel(struct lifecycle *lc, uint64_t id, const char *actor, char *err,
    size_t errlen)
{
	struct op op = { .kind = OP_JOB_CANCEL };
	int rc;

	op.u.cancel.id = id;
	op.u.cancel.actor = actor != NULL ? actor : "";
	rc = oplog_submit(lc->s, &op);
	if (rc == 0)
		rc = op.res.rc;
	if (rc < 0) {
		say(err, errlen, "%s", op.res.err);
		return rc;
	}
	rc = jobs_cancel(lc->runner, id);
	if (rc == -ENOENT) {
		say(err, errlen, "job %llu has ended already", (unsigned long long)id);
		return -EALREADY;
	}
	return rc;
}

/* "keys: a, b" of a JSON object text: what changed, never the values. */
static void
keys_of(const char *json, char *buf, size_t len)
{
	cJSON *o = json != NULL ? cJSON_Parse(json) : NULL, *it;
	size_t used;

	used = (size_t)snprintf(buf, len, "%s", json == NULL ? "back to the file's" : "keys:");
	cJSON_ArrayForEach(it, o) {
		if (used >= len || it->string == NULL)
			break;
		used += (size_t)snprintf(buf + used, len - used, " %s", it->string);
	}
	if (json != NULL && (o == NULL || o->child == NULL) && used < len)
		snprintf(buf + used, len - used, " none");
	cJSON_Delete(o);
}

static int
set_text(struct state *s, enum op_kind kind, const char *json, const char *actor,
    char *err, size_t errlen)
{
	struct op op = { .kind = kind };
	char comment[256];
	int rc;

	keys_of(json, comment, sizeof(comment));
	op.u.text.json = json;
	op.u.text.actor = actor != NULL ? actor : "";
	op.u.text.comment = comment;
	rc = oplog_submit(s, &op);
	if (rc < 0)
		say(err, errlen, "%s", op.res.err);
	return rc;
}

int
lifecycle_set_globals(struct state *s, const char *json, const char *actor, char *err,
    size_t errlen)
{
	return set_text(s, OP_GLOBALS, json, actor, err, errlen);
}

int
lifecycle_set_config(struct state *s, const char *json, const char *actor, char *err,
    size_t errlen)
{
	return set_text(s, OP_CONFIG, json, actor, err, errlen);
}
