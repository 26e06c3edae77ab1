/* Lifecycle requests: rules, job creation, outcomes, recovery. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "log.h"
#include "report.h"

struct lifecycle {
	struct state *s;
	const struct ansible_conf *conf;
	char state_dir[PATH_MAX];
	char jobs_dir[PATH_MAX];
	struct jobs *runner;
};

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Moves a node's status and records the change (write lock held). */
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
	n->touched = ++s->touch_gen;
	return state_event(s, n->name, "status", node_status_name(from), node_status_name(to),
	    actor, why);
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

/* Collects touched nodes of the job, logs them with the job and its events. */
static int
log_job_nodes(struct state *s, struct job_rec *j, uint64_t *ret_seq)
{
	struct node **v = calloc(j->nnodes ? j->nnodes : 1, sizeof(*v));
	size_t n = 0;
	int rc;

	if (v == NULL)
		return -ENOMEM;
	if (j->op != JOB_OP_DISCOVER)
		for (size_t i = 0; i < j->nnodes; i++)
			if ((v[n] = inventory_get(s->inv, j->nodes[i])) != NULL)
				n++;
	j->dirty = true;
	rc = state_log(s, NULL, v, n, ret_seq);
	free(v);
	return rc;
}

/* Applies a finished job's outcome to its record and nodes (write lock held). */
static void
settle(struct state *s, struct job_rec *j, bool ok, const char *error, int exit_code,
    long long start_ms, long long end_ms)
{
	enum node_status to = ok ? success_status(j->op) : failure_status(j->op);
	char why[96];
	char *e;

	j->status = ok ? JOB_COMPLETE : JOB_ERRORED;
	if (start_ms > 0)
		j->started_ms = start_ms;
	j->ended_ms = end_ms;
	/* The runner reports the failed step's code; a complete job exited 0. */
	j->exit_code = ok ? 0 : exit_code;
	if ((e = strdup(error != NULL ? error : "")) != NULL) {
		free(j->error);
		j->error = e;
	}
	snprintf(why, sizeof(why), "job %llu %s", (unsigned long long)j->id,
	    ok ? "complete" : "errored");
	if (j->op != JOB_OP_DISCOVER) {
		for (size_t i = 0; i < j->nnodes; i++) {
			struct node *n = inventory_get(s->inv, j->nodes[i]);
			if (n != NULL && move(s, n, to, "clusterm", why) < 0)
				log_error("job %llu: node %s: cannot move %s to %s",
				    (unsigned long long)j->id, n->name, node_status_name(n->status),
				    node_status_name(to));
		}
	}
	state_event(s, "", "job", "Running", jobs_state_name(j->status), "clusterm",
	    why);
}

static void
on_done(const struct job_outcome *o, void *arg)
{
	struct lifecycle *lc = arg;
	struct state *s = lc->s;
	struct job_rec *j;
	uint64_t seq = 0;
	int rc = -ENOENT;

	pthread_rwlock_wrlock(&s->lock);
	j = state_job_get(s, o->id);
	if (j != NULL) {
		settle(s, j, o->state == JOB_COMPLETE, o->error, o->exit_code, o->start_ms,
		    o->end_ms > 0 ? o->end_ms : fsio_now_ms());
		rc = log_job_nodes(s, j, &seq);
	}
	pthread_rwlock_unlock(&s->lock);
	if (rc == 0)
		rc = state_wait(s, seq);
	if (j == NULL)
		log_error("job %llu: outcome for an unknown job", (unsigned long long)o->id);
	else if (rc < 0)
		log_error("job %llu: the store refused its outcome", (unsigned long long)o->id);
	else
		log_info("job %llu (%s): %s%s%s", (unsigned long long)o->id, job_op_name(j->op),
		    jobs_state_name(o->state), o->error[0] ? ": " : "", o->error);
}

int
lifecycle_start(struct state *s, const struct ansible_conf *conf, const char *state_dir,
    long max_jobs, struct lifecycle **ret)
{
	struct jobs_conf jc = { 0 };
	struct lifecycle *lc;
	int rc;

	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return -ENOMEM;
	lc->s = s;
	lc->conf = conf;
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
	jc.on_done = on_done;
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

int
lifecycle_recover(struct lifecycle *lc)
{
	struct state *s = lc->s;
	uint64_t seq = 0;
	int n = 0, rc = 0;

	pthread_rwlock_wrlock(&s->lock);
	for (size_t i = 0; i < s->njobs && rc == 0; i++) {
		struct job_rec *j = s->jobs[i];
		if (j->status != JOB_QUEUED && j->status != JOB_RUNNING)
			continue;
		settle(s, j, false, "clusterm restarted", -1, 0, fsio_now_ms());
		rc = log_job_nodes(s, j, &seq);
		n++;
	}
	pthread_rwlock_unlock(&s->lock);
	if (rc == 0 && n > 0)
		rc = state_wait(s, seq);
	return rc < 0 ? rc : n;
}

void
lifecycle_live(struct lifecycle *lc, const struct job_rec *j, int *ret_status,
    long long *ret_started_ms)
{
	struct job_status st;

	*ret_status = j->status;
	*ret_started_ms = j->started_ms;
	if (j->status != JOB_QUEUED && j->status != JOB_RUNNING)
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

/* Whether a node takes part in a queued or running job. */
static struct job_rec *
busy_with(struct state *s, const char *name)
{
	for (size_t i = 0; i < s->njobs; i++) {
		struct job_rec *j = s->jobs[i];
		if (j->status != JOB_QUEUED && j->status != JOB_RUNNING)
			continue;
		for (size_t k = 0; k < j->nnodes; k++)
			if (strcmp(j->nodes[k], name) == 0)
				return j;
	}
	return NULL;
}

static bool
in_request(const struct lc_request *r, const char *name)
{
	for (size_t i = 0; i < r->nnodes; i++)
		if (strcmp(r->nodes[i], name) == 0)
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
masters_ok(struct state *s, const struct lc_request *r, const char *group)
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

/* Checks a request against the rules (write lock held). 0 or -errno + err. */
static int
check(struct state *s, const struct lc_request *r, char *err, size_t errlen)
{
	const char *g = r->host_group != NULL && r->host_group[0] ? r->host_group : NULL;
	struct job_rec *busy;

	if (r->op == JOB_OP_DISCOVER) {
		if (r->naddrs == 0) {
			say(err, errlen, "addrs must name at least one address");
			return -EINVAL;
		}
		for (size_t i = 0; i < r->naddrs; i++) {
			if (!report_addr_valid(r->addrs[i])) {
				say(err, errlen, "address %.64s is not an IPv4, IPv6 address or "
				    "host name", r->addrs[i]);
				return -EINVAL;
			}
			for (size_t k = 0; k < inventory_count(s->inv); k++) {
				struct node *n = inventory_at(s->inv, k);
				if (n->rep.addr != NULL && strcmp(n->rep.addr, r->addrs[i]) == 0) {
					say(err, errlen, "address %s is already known as node %s",
					    r->addrs[i], n->name);
					return -EPERM;
				}
			}
		}
		return 0;
	}
	if (r->nnodes == 0) {
		say(err, errlen, "nodes must name at least one node");
		return -EINVAL;
	}
	if (g != NULL && strcmp(g, LC_GROUP_MASTER) != 0 && strcmp(g, LC_GROUP_WORKER) != 0) {
		say(err, errlen, "host group %.64s is not %s or %s", g, LC_GROUP_MASTER,
		    LC_GROUP_WORKER);
		return -EINVAL;
	}
	if (r->op == JOB_OP_COMMISSION && g == NULL) {
		say(err, errlen, "commission needs a host group: %s or %s", LC_GROUP_MASTER,
		    LC_GROUP_WORKER);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->nnodes; i++) {
		struct node *n = inventory_get(s->inv, r->nodes[i]);

		for (size_t k = 0; k < i; k++) {
			if (strcmp(r->nodes[k], r->nodes[i]) == 0) {
				say(err, errlen, "node %s is named twice", r->nodes[i]);
				return -EINVAL;
			}
		}
		if (n == NULL) {
			say(err, errlen, "node %.128s does not exist", r->nodes[i]);
			return -ENOENT;
		}
		if ((busy = busy_with(s, n->name)) != NULL) {
			say(err, errlen, "node %s is busy with job %llu (%s)", n->name,
			    (unsigned long long)busy->id, job_op_name(busy->op));
			return -EBUSY;
		}
		switch (r->op) {
		case JOB_OP_COMMISSION:
			if (n->state != MON_DISCOVERED) {
				say(err, errlen, "node %s is %s: only Discovered nodes can be "
				    "commissioned", n->name, mon_state_name(n->state));
				return -EPERM;
			}
			if (n->status != NS_UNALLOCATED && n->status != NS_DECOMMISSIONED) {
				say(err, errlen, "node %s is %s: only Unallocated or "
				    "Decommissioned nodes can be commissioned", n->name,
				    node_status_name(n->status));
				return -EPERM;
			}
			break;
		case JOB_OP_DECOMMISSION:
		case JOB_OP_UPDATE:
			if (n->status != NS_ALLOCATED) {
				say(err, errlen, "node %s is %s: only Allocated nodes can be %s",
				    n->name, node_status_name(n->status),
				    r->op == JOB_OP_UPDATE ? "updated" : "decommissioned");
				return -EPERM;
			}
			break;
		default:
			return -EINVAL;
		}
	}
	if (!masters_ok(s, r, g)) {
		say(err, errlen, "node %s: %s would leave %s nodes without a Discovered, "
		    "Allocated %s", r->nodes[0], r->op == JOB_OP_COMMISSION ? "commissioning "
		    "a worker" : r->op == JOB_OP_UPDATE ? "this update" : "decommissioning it",
		    LC_GROUP_WORKER, LC_GROUP_MASTER);
		return -EPERM;
	}
	return 0;
}

/* Inventory hosts of a request: node names and addresses, or discover-N. */
static int
hosts_of(struct state *s, const struct lc_request *r, struct ansible_host **ret,
    char ***ret_names, size_t *ret_n)
{
	size_t n = r->op == JOB_OP_DISCOVER ? r->naddrs : r->nnodes;
	struct ansible_host *h = calloc(n, sizeof(*h));
	char **names = calloc(n, sizeof(*names));

	if (h == NULL || names == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		if (r->op == JOB_OP_DISCOVER) {
			char buf[32];
			snprintf(buf, sizeof(buf), "discover-%zu", i + 1);
			if ((names[i] = strdup(buf)) == NULL)
				goto oom;
			h[i].name = names[i];
			h[i].addr = r->addrs[i];
		} else {
			struct node *node = inventory_get(s->inv, r->nodes[i]);
			h[i].name = node->name;
			h[i].addr = node->rep.addr;
		}
	}
	*ret = h;
	*ret_names = names;
	*ret_n = n;
	return 0;
oom:
	free(h);
	free(names);
	return -ENOMEM;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
}

/* One step: an inventory file for group, then ansible-playbook on playbook. */
static int
make_step(struct lifecycle *lc, const struct ansible_conf *c, uint64_t id, const char *tag,
    const char *group, const struct ansible_host *hosts, size_t n, const char *playbook,
    const char *vars, struct ansible_cmd *cmd, char *err, size_t errlen)
{
	char name[64], path[PATH_MAX];
	int rc;

	snprintf(name, sizeof(name), "%llu-%s.inventory", (unsigned long long)id, tag);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", lc->jobs_dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	rc = ansible_inventory_write(lc->jobs_dir, name, group, hosts, n, err, errlen);
	if (rc < 0)
		return rc;
	return ansible_build_cmd(c, path, playbook, vars, NULL, cmd, err, errlen);
}

int
lifecycle_submit(struct lifecycle *lc, const struct lc_request *r, uint64_t *ret_id,
    char *err, size_t errlen)
{
	struct state *s = lc->s;
	struct ansible_conf *conf = NULL;	/* ~80 KiB: not on a worker's stack */
	struct ansible_cmd cmds[3] = { 0 };
	struct job_step steps[2], fail;
	struct job_spec spec = { 0 };
	struct ansible_host *hosts = NULL;
	char **names = NULL, *vars = NULL, logp[PATH_MAX], why[128];
	const char *g = r->host_group != NULL && r->host_group[0] ? r->host_group : NULL;
	const char *run_group;
	struct job_rec *j = NULL;
	size_t nhosts = 0;
	uint64_t seq = 0, id;
	int rc;

	if (r->nnodes > LC_MAX_NODES || r->naddrs > LC_MAX_NODES) {
		say(err, errlen, "more than %d nodes in one request", LC_MAX_NODES);
		return -EINVAL;
	}
	if ((conf = malloc(sizeof(*conf))) == NULL)
		return -ENOMEM;
	pthread_rwlock_wrlock(&s->lock);
	if ((rc = check(s, r, err, errlen)) < 0)
		goto out;
	if ((rc = lifecycle_effective_conf(lc, conf, err, errlen)) < 0)
		goto out;
	rc = ansible_merge_extra_vars(r->extra_vars, s->globals, conf->extra_variables, &vars,
	    err, errlen);
	if (rc < 0)
		goto out;
	if ((rc = hosts_of(s, r, &hosts, &names, &nhosts)) < 0)
		goto out;
	id = s->next_job_id;
	run_group = r->op == JOB_OP_DISCOVER ? LC_GROUP_DISCOVER : g;

	/* The steps of each operation and what runs when one fails. */
	switch (r->op) {
	case JOB_OP_COMMISSION:
		rc = make_step(lc, conf, id, "configure", run_group, hosts, nhosts,
		    conf->configure_playbook, vars, &cmds[0], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, id, "cleanup", run_group, hosts, nhosts,
			    conf->cleanup_playbook, vars, &cmds[2], err, errlen);
		spec.nsteps = 1;
		break;
	case JOB_OP_DECOMMISSION:
		/* Each node is cleaned up in its own group: one inventory per group. */
		rc = make_step(lc, conf, id, "cleanup", inventory_get(s->inv,
		    r->nodes[0])->host_group[0] ? inventory_get(s->inv, r->nodes[0])->host_group :
		    LC_GROUP_MASTER, hosts, nhosts, conf->cleanup_playbook, vars, &cmds[0], err,
		    errlen);
		spec.nsteps = 1;
		break;
	case JOB_OP_UPDATE: {
		struct node *first = inventory_get(s->inv, r->nodes[0]);
		const char *old = first->host_group[0] ? first->host_group : LC_GROUP_MASTER;
		run_group = g != NULL ? g : old;
		rc = make_step(lc, conf, id, "cleanup", old, hosts, nhosts,
		    conf->cleanup_playbook, vars, &cmds[0], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, id, "configure", run_group, hosts, nhosts,
			    conf->configure_playbook, vars, &cmds[1], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, id, "failure-cleanup", run_group, hosts, nhosts,
			    conf->cleanup_playbook, vars, &cmds[2], err, errlen);
		spec.nsteps = 2;
		break;
	}
	case JOB_OP_DISCOVER:
		rc = make_step(lc, conf, id, "configure", run_group, hosts, nhosts,
		    conf->configure_playbook, vars, &cmds[0], err, errlen);
		spec.nsteps = 1;
		break;
	default:
		rc = -EINVAL;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < spec.nsteps; i++) {
		steps[i].title = r->op == JOB_OP_UPDATE && i == 0 ? "cleanup" :
		    r->op == JOB_OP_DECOMMISSION ? "cleanup" : "configure";
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

	/* The record first, so the runner's callback finds it (it waits for our lock). */
	j = state_job_new(s, r->op);
	if (j == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	j->nodes = calloc(nhosts, sizeof(*j->nodes));
	free(j->host_group);
	free(j->extra_vars);
	free(j->actor);
	j->host_group = strdup(run_group != NULL ? run_group : "");
	j->extra_vars = strdup(r->extra_vars != NULL ? r->extra_vars : "");
	j->actor = strdup(r->actor != NULL ? r->actor : "");
	if (j->nodes == NULL || j->host_group == NULL || j->extra_vars == NULL ||
	    j->actor == NULL) {
		rc = -ENOMEM;
		goto drop;
	}
	for (size_t i = 0; i < nhosts; i++) {
		const char *v = r->op == JOB_OP_DISCOVER ? r->addrs[i] : r->nodes[i];
		if ((j->nodes[i] = strdup(v)) == NULL) {
			rc = -ENOMEM;
			goto drop;
		}
		j->nnodes++;
	}
	j->status = JOB_QUEUED;
	rc = jobs_submit(lc->runner, &spec);
	if (rc < 0) {
		if (rc == -EBUSY)
			say(err, errlen, "%d jobs are queued already; try later", LC_MAX_QUEUED);
		else
			say(err, errlen, "cannot start the job: %s", strerror(-rc));
		goto drop;
	}
	/* Waiting for a slot, or started at once: the runner knows. */
	lifecycle_live(lc, j, &j->status, &j->started_ms);

	snprintf(why, sizeof(why), "job %llu (%s)", (unsigned long long)id, job_op_name(r->op));
	state_event(s, "", "request", "", why, r->actor, r->comment);
	if (r->op != JOB_OP_DISCOVER) {
		enum node_status to = r->op == JOB_OP_COMMISSION ? NS_PROVISIONING :
		    r->op == JOB_OP_DECOMMISSION ? NS_CANCELLED : NS_MAINTENANCE;
		for (size_t i = 0; i < r->nnodes; i++) {
			struct node *n = inventory_get(s->inv, r->nodes[i]);
			/* Decommissioned -> Provisioning is allowed; the table says so. */
			if ((rc = move(s, n, to, r->actor, why)) < 0) {
				say(err, errlen, "node %s: %s -> %s is not allowed", n->name,
				    node_status_name(n->status), node_status_name(to));
				break;
			}
			if (run_group != NULL && r->op != JOB_OP_DECOMMISSION) {
				char *hg = strdup(run_group);
				if (hg != NULL) {
					free(n->host_group);
					n->host_group = hg;
				}
			}
			n->last_job = id;
		}
	}
	if (rc == 0)
		rc = log_job_nodes(s, j, &seq);
	if (rc < 0) {
		/* Already running: let it run; its outcome settles the nodes. */
		say(err, errlen, "the store refused job %llu", (unsigned long long)id);
		rc = -EIO;
		goto out;
	}
	*ret_id = id;
	goto out;
drop:
	/* Not submitted: take the record back out of the table. */
	s->njobs--;
	s->next_job_id--;
	job_rec_free(j);
out:
	if (rc < 0 && rc != -ENOMEM && rc != -EIO) {
		/* A refused request is audited too, with the rule it broke. */
		int orc = rc;
		snprintf(why, sizeof(why), "%s refused", job_op_name(r->op));
		if (state_event(s, r->nnodes > 0 ? r->nodes[0] : "", "request", "", why,
		    r->actor, err) == 0 && state_log(s, NULL, NULL, 0, &seq) == 0) {
			pthread_rwlock_unlock(&s->lock);
			(void)state_wait(s, seq);
		} else {
			pthread_rwlock_unlock(&s->lock);
		}
		rc = orc;
		goto done;
	}
	pthread_rwlock_unlock(&s->lock);
	if (rc == 0)
		rc = state_wait(s, seq);
done:
	for (size_t i = 0; i < 3; i++)
		ansible_cmd_finish(&cmds[i]);
	free(hosts);
	free_names(names, nhosts);
	free(vars);
	free(conf);
	return rc;
}

int
lifecycle_cancel(struct lifecycle *lc, uint64_t id, const char *actor, char *err,
    size_t errlen)
{
	struct state *s = lc->s;
	struct job_rec *j;
	char why[64];
	int rc;

	pthread_rwlock_wrlock(&s->lock);
	j = state_job_get(s, id);
	if (j == NULL) {
		pthread_rwlock_unlock(&s->lock);
		say(err, errlen, "job %llu does not exist", (unsigned long long)id);
		return -ENOENT;
	}
	if (j->status != JOB_QUEUED && j->status != JOB_RUNNING) {
		pthread_rwlock_unlock(&s->lock);
		say(err, errlen, "job %llu has ended already (%s)", (unsigned long long)id,
		    jobs_state_name(j->status));
		return -EALREADY;
	}
	snprintf(why, sizeof(why), "cancel of job %llu", (unsigned long long)id);
	state_event(s, "", "request", "", why, actor, "");
	pthread_rwlock_unlock(&s->lock);
	rc = jobs_cancel(lc->runner, id);
	if (rc == -ENOENT) {
		say(err, errlen, "job %llu has ended already", (unsigned long long)id);
		return -EALREADY;
	}
	return rc;
}
