/* Planning a recorded job: its hosts and groups, inventories, commands; handing it to the runner. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ansible.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "state_impl.h"
#include "store.h"

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
		lifecycle_say(err, errlen, "cannot write inventory %s: %s", path, strerror(-rc));
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

/*
 * The commands of a plan's steps: cmds[0] and cmds[1] the steps (their
 * count in *ret_nsteps), cmds[2] the failure step (argv NULL: none); each
 * with its inventory written. The caller finishes or discards cmds.
 */
static int
build_cmds(struct lifecycle *lc, const struct ansible_conf *conf, const struct job_plan *p,
    struct ansible_cmd *cmds, size_t *ret_nsteps, char *err, size_t errlen)
{
	int rc;

	switch (p->op) {
	case JOB_OP_COMMISSION:
	case JOB_OP_DISCOVER:
		rc = make_step(lc, conf, p, p->new_groups, "configure", conf->configure_playbook,
		    &cmds[0], err, errlen);
		if (rc == 0 && p->op == JOB_OP_COMMISSION)
			rc = make_step(lc, conf, p, p->new_groups, "cleanup",
			    conf->cleanup_playbook, &cmds[2], err, errlen);
		*ret_nsteps = 1;
		break;
	case JOB_OP_DECOMMISSION:
		/* Each node is cleaned up in its own group. */
		rc = make_step(lc, conf, p, p->old_groups, "cleanup", conf->cleanup_playbook,
		    &cmds[0], err, errlen);
		*ret_nsteps = 1;
		break;
	case JOB_OP_UPDATE:
		rc = make_step(lc, conf, p, p->old_groups, "cleanup", conf->cleanup_playbook,
		    &cmds[0], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, p, p->new_groups, "configure",
			    conf->configure_playbook, &cmds[1], err, errlen);
		if (rc == 0)
			rc = make_step(lc, conf, p, p->new_groups, "failure-cleanup",
			    conf->cleanup_playbook, &cmds[2], err, errlen);
		*ret_nsteps = 2;
		break;
	default:
		return -EINVAL;
	}
	return rc;
}

/* Builds the steps of a recorded job and hands it to the runner. */
int
lifecycle_plan_start(struct lifecycle *lc, uint64_t id, char *err, size_t errlen)
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
	rc = build_cmds(lc, conf, &p, cmds, &spec.nsteps, err, errlen);
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
	/* Deposed since the job was recorded: the new leader ends it, nothing runs here. */
	if (!store_leads(state_store(lc->s))) {
		rc = -EPERM;
		lifecycle_say(err, errlen, "this instance stopped leading before job %llu "
		    "started; the leader ends it", (unsigned long long)id);
		goto out;
	}
	rc = jobs_submit(lc->runner, &spec);
	if (rc < 0)
		lifecycle_say(err, errlen, "the job runner refused it: %s", strerror(-rc));
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

