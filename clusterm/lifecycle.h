/*
 * Node lifecycle (CONTRACT 3.3): commission, decommission, update and
 * discover requests are checked against the rules, turned into jobs that
 * run ansible-playbook through the job runner, and their outcomes moved
 * into the nodes' statuses. Everything goes through the state lock and the
 * store, like intake.
 */
#ifndef LIFECYCLE_H
#define LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ansible.h"
#include "state.h"

#define LC_GROUP_MASTER		"service-master"
#define LC_GROUP_WORKER		"service-worker"
#define LC_GROUP_DISCOVER	"cluster-node"
/* Nodes or addresses in one request. */
#define LC_MAX_NODES		1024
/* Jobs waiting for a free runner slot. */
#define LC_MAX_QUEUED		64

struct lifecycle;

struct lc_request {
	enum job_op op;
	const char *const *nodes;	/* node names (commission, decommission, update) */
	size_t nnodes;
	const char *const *addrs;	/* addresses (discover) */
	size_t naddrs;
	const char *host_group;		/* NULL or "" = none / keep */
	const char *extra_vars;		/* JSON object text, NULL or "" = {} */
	const char *actor;
	const char *comment;
};

/*
 * conf is the running ansible section (read under the state lock; SIGHUP
 * and POST /config change it under the write lock). state_dir holds the
 * jobs/ directory (logs, inventories).
 */
int lifecycle_start(struct state *s, const struct ansible_conf *conf, const char *state_dir,
    long max_jobs, struct lifecycle **ret);

/*
 * Marks jobs left Queued or Running by a previous run as Errored ("clusterm
 * restarted") and gives their nodes the failure path's status. Call once
 * after lifecycle_start. Returns the number of jobs so ended, or -errno.
 */
int lifecycle_recover(struct lifecycle *lc);

/*
 * Checks and queues a request. Returns 0 with the job id, or: -EINVAL (bad
 * request: 400), -ENOENT (unknown node: 404), -EBUSY or -EPERM (a node is
 * busy, or a rule forbids it: 409), -EIO (store), -ENOMEM. err holds one
 * sentence naming the node and the rule. Nothing changes on failure.
 */
int lifecycle_submit(struct lifecycle *lc, const struct lc_request *r, uint64_t *ret_id,
    char *err, size_t errlen);

/* Cancels a queued or running job: -ENOENT unknown, -EALREADY when it ended. */
int lifecycle_cancel(struct lifecycle *lc, uint64_t id, const char *actor, char *err,
    size_t errlen);

/*
 * Status and start time of a job as they are now: for a job not yet ended
 * the runner's (Queued, or Running since when), else the record's.
 */
void lifecycle_live(struct lifecycle *lc, const struct job_rec *j, int *ret_status,
    long long *ret_started_ms);

/* Whether the job is still queued or running in the runner. */
bool lifecycle_running(struct lifecycle *lc, uint64_t id);

/* The ansible section in force: the file's, overlaid by POST /config (lock held). */
int lifecycle_effective_conf(struct lifecycle *lc, struct ansible_conf *ret, char *err,
    size_t errlen);

/* Stops the runner (running jobs are terminated and recorded Errored). NULL ok. */
void lifecycle_stop(struct lifecycle *lc);

#endif
