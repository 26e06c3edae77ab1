/*
 * Node lifecycle (CONTRACT 3.3): commission, decommission, update and
 * discover requests become operations; applying one checks it against
 * contiv's rules and records the job (durable before anything runs); then
 * the job runner starts ansible-playbook, and its outcome comes back as an
 * operation that moves the nodes' statuses.
 */
#ifndef LIFECYCLE_H
#define LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ansible.h"
#include "jobs.h"
#include "state.h"

#define LC_GROUP_MASTER		"service-master"
#define LC_GROUP_WORKER		"service-worker"
#define LC_GROUP_DISCOVER	"cluster-node"
/* Nodes or addresses in one request. */
#define LC_MAX_NODES		1024
/* Jobs waiting for a free runner slot (manager.queue_jobs). */
#define LC_MAX_QUEUED		64
/*
 * At a restart: how long a process group left by the previous run gets
 * after SIGTERM (and again after SIGKILL), and the period it is looked at.
 */
#define LC_ORPHAN_WAIT_MS	5000
#define LC_ORPHAN_POLL_MS	50
/* Job ends and starts that the store refused, kept for the reconcile to retry. */
#define LC_MAX_UNSENT		256
/* Active jobs that the runner did not hold, remembered from one reconcile to the next. */
#define LC_MAX_UNHELD		256

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
 * swaps it under the write lock). state_dir holds the jobs/ directory
 * (logs, inventories). While max_jobs jobs are active a request is refused
 * unless queue_jobs.
 */
int lifecycle_start(struct state *s, const struct ansible_conf *conf, const char *state_dir,
    long max_jobs, bool queue_jobs, struct lifecycle **ret);

/*
 * Ends jobs left Queued or Running by a previous run as Errored ("clusterm
 * restarted"), which gives their nodes the failure path's status. First,
 * the process group of each such job's latest step, when it is still the
 * job's (same boot, same start time), gets SIGTERM, then SIGKILL after
 * LC_ORPHAN_WAIT_MS. Call once after lifecycle_start. Returns the number
 * of jobs so ended, or -errno.
 */
int lifecycle_recover(struct lifecycle *lc);

/*
 * The same when this instance has just become the leader (several
 * instances): the jobs the old leader left end Errored ("the leader that
 * ran it stopped leading"), their nodes taking the failure path's status.
 */
int lifecycle_takeover(struct lifecycle *lc);

/*
 * Submits a request: returns 0 with the job id once the job is durable and
 * handed to the runner, or: -EINVAL (bad request: 400), -ENOENT (unknown
 * node: 404), -EBUSY or -EPERM (a node is busy, a job is active, or a rule
 * forbids it: 409), -EIO (store: 503), -ENOMEM. err holds one sentence
 * naming the node and the rule. A refused request changes nothing but the
 * audit log.
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

/*
 * This instance stops leading: its queued and running jobs end as at a stop
 * (playbooks get SIGTERM, no failure step here; the new leader ends their
 * records). Returns the number of jobs so ended.
 */
int lifecycle_abandon(struct lifecycle *lc);

/*
 * Several instances: the lease as a deadline (see jobs_set_deadline): no
 * process of a job starts past it, and a watchdog ends those running when
 * it passes. Call once, right after lifecycle_start. -errno.
 */
int lifecycle_set_deadline(struct lifecycle *lc, jobs_deadline_fn fn, void *arg);

/*
 * The leader's reconcile (every manager.reconcile_s): retries the job ends
 * and starts the store refused until they commit; then each job recorded
 * Queued or Running that the runner does not hold, and did not hold at the
 * previous call either (so that a start or end under way is not taken for
 * a lost one), is started (Queued: handed to the runner, when its nodes
 * allow) or ended Errored ("no instance runs it"), its nodes taking the
 * failure path's status. Returns the number of jobs so started or ended,
 * or -errno (the store refused one: the next call tries again).
 */
int lifecycle_reconcile(struct lifecycle *lc);

/* Whether the job is still queued or running in the runner. */
bool lifecycle_running(struct lifecycle *lc, uint64_t id);

/* The ansible section in force: the file's, overlaid by POST /config (lock held). */
int lifecycle_effective_conf(struct lifecycle *lc, struct ansible_conf *ret, char *err,
    size_t errlen);

/*
 * Sets the globals (a JSON object text) / the ansible override (NULL: back
 * to the file's), durably. The audit names the keys, never the values.
 * -EIO (store), -ENOMEM; err says why.
 */
int lifecycle_set_globals(struct state *s, const char *json, const char *actor, char *err,
    size_t errlen);
int lifecycle_set_config(struct state *s, const char *json, const char *actor, char *err,
    size_t errlen);

/* Stops the runner (running jobs are terminated and recorded Errored). NULL ok. */
void lifecycle_stop(struct lifecycle *lc);

/* The apply steps (apply.c calls them, write lock held). */
void lifecycle_apply_request(struct state *s, struct op *op);
void lifecycle_apply_end(struct state *s, struct op *op);
void lifecycle_apply_started(struct state *s, struct op *op);
void lifecycle_apply_cancel(struct state *s, struct op *op);
void lifecycle_apply_text(struct state *s, struct op *op);

#endif
