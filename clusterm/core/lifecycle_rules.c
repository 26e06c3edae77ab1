/* Lifecycle rules: whether a request may run (contiv's refusals), and the statuses it gives. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "inventory.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "report.h"
#include "state_impl.h"

/* Status a job's nodes get when the job fails (or clusterm died during it). */
enum node_status
lifecycle_rules_failure_status(enum job_op op)
{
	return op == JOB_OP_DECOMMISSION ? NS_DECOMMISSIONED : NS_UNALLOCATED;
}

enum node_status
lifecycle_rules_success_status(enum job_op op)
{
	return op == JOB_OP_DECOMMISSION ? NS_DECOMMISSIONED : NS_ALLOCATED;
}

enum node_status
lifecycle_rules_request_status(enum job_op op)
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
		if (!lifecycle_is_active(j) || j->op == JOB_OP_DISCOVER)
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
		if (lifecycle_is_active(s->jobs[i])) {
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
		lifecycle_say(err, errlen, "addrs must name at least one address");
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (!report_addr_valid(r->names[i])) {
			lifecycle_say(err, errlen, "address %.64s is not an IPv4, IPv6 address or host name",
			    r->names[i]);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(r->names[k], r->names[i]) == 0) {
				lifecycle_say(err, errlen, "address %s is named twice", r->names[i]);
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
	lifecycle_say(err, errlen, "one or more nodes already exist with the specified management "
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
				lifecycle_say(err, errlen, "node %s is named twice", r->names[i]);
				return -EINVAL;
			}
		}
		if (n == NULL) {
			/* contiv's words, which scripts grep for. */
			lifecycle_say(err, errlen, INVENTORY_NO_SUCH_NODE, r->names[i],
			    r->names[i]);
			return -ENOENT;
		}
		if ((busy = busy_with(s, n->name)) != NULL) {
			lifecycle_say(err, errlen, "node %s is busy with job %llu (%s)", n->name,
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
	lifecycle_say(err, errlen, "one or more nodes are not in discovered state, please check their "
	    "network reachability. Non-discovered nodes: [%s] (%s)", names, states);
	return -EPERM;
}

/* Every node may move to the request's status (the contiv transition table). */
static int
check_transitions(struct state *s, const struct op_job_request *r, char *err,
    size_t errlen)
{
	enum node_status to = lifecycle_rules_request_status(r->op);

	for (size_t i = 0; i < r->n; i++) {
		struct node *n = inventory_get(s->inv, r->names[i]);
		if (r->op == JOB_OP_COMMISSION && n->status != NS_UNALLOCATED &&
		    n->status != NS_DECOMMISSIONED)
			goto bad;
		if (!inventory_transition_allowed(n->status, to))
			goto bad;
		continue;
bad:
		lifecycle_say(err, errlen, "failed to update %s's state in inventory, Error: transition "
		    "from \"%s\" to \"%s\" is not allowed", n->name, node_status_name(n->status),
		    node_status_name(to));
		return -EPERM;
	}
	return 0;
}

int
lifecycle_rules_check(struct state *s, const struct op_job_request *r, char *err,
    size_t errlen)
{
	const char *g = r->host_group[0] ? r->host_group : NULL;
	uint64_t newest = 0;
	size_t nactive = active_jobs(s, &newest);
	int rc;

	if (nactive >= (size_t)r->max_jobs &&
	    (!r->queue_jobs || nactive >= (size_t)r->max_jobs + LC_MAX_QUEUED)) {
		if (r->queue_jobs)
			lifecycle_say(err, errlen, "%d jobs are queued already; try later", LC_MAX_QUEUED);
		else
			lifecycle_say(err, errlen, "there is already an active job, please try in "
			    "sometime. Job: %llu", (unsigned long long)newest);
		return -EBUSY;
	}
	if (r->op == JOB_OP_DISCOVER)
		return check_discover(s, r, err, errlen);
	if (r->n == 0) {
		lifecycle_say(err, errlen, "atleast one node should be specified: nodes must name at "
		    "least one node");
		return -EINVAL;
	}
	if (r->op == JOB_OP_COMMISSION && (g == NULL || !group_valid(g))) {
		lifecycle_say(err, errlen, "invalid or empty host-group specified: \"%.64s\" (%s or %s)",
		    g != NULL ? g : "", LC_GROUP_MASTER, LC_GROUP_WORKER);
		return -EINVAL;
	}
	if (g != NULL && !group_valid(g)) {
		lifecycle_say(err, errlen, "invalid host-group specified: \"%.64s\" (%s or %s)", g,
		    LC_GROUP_MASTER, LC_GROUP_WORKER);
		return -EINVAL;
	}
	if ((rc = check_nodes(s, r, err, errlen)) < 0 ||
	    (rc = check_discovered(s, r, err, errlen)) < 0 ||
	    (rc = check_transitions(s, r, err, errlen)) < 0)
		return rc;
	if (!masters_ok(s, r, r->op == JOB_OP_DECOMMISSION ? NULL : g)) {
		/* contiv's sentence for each operation, then ours. */
		lifecycle_say(err, errlen, "%s (node %s: %s nodes would have no Discovered, Allocated %s)",
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

