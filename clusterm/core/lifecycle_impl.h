/*
 * The lifecycle's internals, shared by its files (lifecycle.c: requests,
 * the runner's callbacks; lifecycle_rules.c: contiv's rules;
 * lifecycle_apply.c: the apply steps; lifecycle_plan.c: a job's steps;
 * lifecycle_recover.c: what a previous run left). Only clusterm/core/
 * includes it; it includes nothing of the lifecycle itself.
 */
#ifndef LIFECYCLE_IMPL_H
#define LIFECYCLE_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs.h"
#include "ops.h"
#include "state.h"

/* Bytes of the list of node names in a refusal. */
#define LC_NAMES_TEXT	256

struct ansible_conf;

/* A job's end or start that the store did not take (yet): kept and retried. */
struct lc_unsent {
	uint64_t id;
	enum op_kind kind;		/* OP_JOB_END or OP_JOB_STARTED */
	bool inflight;			/* its first submit is under way */
	bool ok;
	int exit_code;
	char error[JOBS_ERROR_SIZE];
	long long start_ms, end_ms;
	struct jobs_proc p;		/* OP_JOB_STARTED: the step's process */
};

struct lifecycle {
	struct state *s;
	const struct ansible_conf *conf;
	char state_dir[PATH_MAX];
	char jobs_dir[PATH_MAX];
	struct jobs *runner;
	long max_jobs;
	bool queue_jobs;
	char boot_id[JOBS_BOOT_ID_SIZE];	/* "" when unknown */
	pthread_mutex_t unsent_mu;	/* the two lists below */
	struct lc_unsent unsent[LC_MAX_UNSENT];
	size_t nunsent;
	uint64_t unheld[LC_MAX_UNHELD];	/* active, not the runner's, at the last reconcile */
	size_t nunheld;
};

/* ---- lifecycle.c ---- */

/* One sentence into err (truncated to errlen). */
void lifecycle_say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether a job record is Queued or Running. */
bool lifecycle_is_active(const struct job_rec *j);
/* Submits a job's end (OP_JOB_END) and waits for it: oplog_submit's result. */
int lifecycle_submit_end(struct state *s, uint64_t id, bool ok, int exit_code,
    const char *error, long long start_ms, long long end_ms);

/* ---- lifecycle_reconcile.c ---- */

/*
 * Keeps u (copied) as under way (inflight) or refused; an entry of the same
 * job and kind is replaced. When the list is full the oldest goes.
 */
void lifecycle_unsent_put(struct lifecycle *lc, const struct lc_unsent *u);
/* The submit of job id's kind is done: committed (drop it) or refused (retry it). */
void lifecycle_unsent_done(struct lifecycle *lc, uint64_t id, enum op_kind kind,
    bool committed);
/* Submits u (OP_JOB_END or OP_JOB_STARTED) and waits: oplog_submit's result. */
int lifecycle_unsent_submit(struct lifecycle *lc, const struct lc_unsent *u);

/* ---- lifecycle_rules.c ---- */

/* Status a job's nodes get when the job fails (or clusterm died during it). */
enum node_status lifecycle_rules_failure_status(enum job_op op);
/* Status a job's nodes get when it completes. */
enum node_status lifecycle_rules_success_status(enum job_op op);
/* Status a request moves its nodes to while the job runs. */
enum node_status lifecycle_rules_request_status(enum job_op op);
/* Checks a request against the rules (lock held). 0 or -errno with a sentence in err. */
int lifecycle_rules_check(struct state *s, const struct op_job_request *r, char *err,
    size_t errlen);

/* ---- lifecycle_plan.c ---- */

/*
 * Builds the steps of recorded job id (inventories, commands) and hands
 * it to the runner; takes the state's read lock. 0 or -errno, err says why.
 */
int lifecycle_plan_start(struct lifecycle *lc, uint64_t id, char *err, size_t errlen);

#endif
