/*
 * The job runner's types and limits (see jobs.h for the runner itself):
 * apart so that the runner's internals (jobs_impl.h) need not include the
 * interface that jobs.c implements. Include jobs.h, which includes this.
 */
#ifndef JOBS_TYPES_H
#define JOBS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Between SIGTERM and SIGKILL to a step's process group. */
#define JOBS_KILL_GRACE_MS	10000
/* The same when clusterm stops (jobs_stop), shorter than a service manager's wait. */
#define JOBS_STOP_GRACE_MS	2000
/* Step starts handed to the start callback per pass of the runner. */
#define JOBS_START_BATCH	16
/* Size of a boot id (/proc/sys/kernel/random/boot_id, 36 characters) with the NUL. */
#define JOBS_BOOT_ID_SIZE	40
/* Steps of one job, without the failure step. */
#define JOBS_MAX_STEPS		8
/* Size of the error sentence of an outcome, with the NUL. */
#define JOBS_ERROR_SIZE		256
/* The option whose "@PATH" argument names an extra-vars file (see job_step). */
#define JOBS_VARS_OPTION	"--extra-vars"
/* Poll period when pidfd_open is not available. */
#define JOBS_POLL_FALLBACK_MS	50
/* How often the watchdog looks at the deadline (jobs_set_deadline). */
#define JOBS_WATCHDOG_MS	50
/* A deadline getter's "no limit". */
#define JOBS_NO_DEADLINE	(-1LL)

struct jobs;

/*
 * One command of a job. Everything is copied by jobs_submit().
 *
 * Extra-vars files: an argument "--extra-vars" followed by "@PATH" (what
 * ansible_build_cmd makes) hands PATH to the runner, which removes the file
 * when the job ends, whatever the outcome (complete, failed, timed out,
 * cancelled, stopped), before the callback; and also when jobs_submit fails
 * for any reason but -EEXIST (the path may be the other job's then).
 */
struct job_step {
	const char *title;		/* "configure", shown in the log; NULL ok */
	/* argv[0] is a path, or a name looked up in envp's PATH. */
	const char *const *argv;
	/* The child's whole environment; NULL means an empty one. */
	const char *const *envp;
};

struct job_spec {
	uint64_t id;			/* unique among the runner's jobs */
	const char *log_path;		/* appended to, created 0600 */
	const struct job_step *steps;	/* run in order until one fails */
	size_t nsteps;			/* 1 .. JOBS_MAX_STEPS */
	const struct job_step *failure_step;	/* after a failure, timeout or cancel; NULL none */
	/*
	 * Seconds for all the steps together, 0 = none. The failure step gets
	 * the same time again, on its own.
	 */
	long timeout_s;
};

enum job_state {
	JOB_QUEUED,		/* waiting for a free slot */
	JOB_RUNNING,		/* a step (or the failure step) runs */
	JOB_COMPLETE,		/* every step exited 0 */
	JOB_ERRORED,		/* a step failed, timed out, was cancelled or stopped */
	JOB_STATE_LAST = JOB_ERRORED,	/* the highest value (range checks) */
};

/* What became of a job; passed to the callback. */
struct job_outcome {
	uint64_t id;
	enum job_state state;		/* JOB_COMPLETE or JOB_ERRORED */
	char error[JOBS_ERROR_SIZE];	/* one sentence, "" when Complete */
	int failed_step;		/* index of the step that failed, -1 none */
	int exit_code;			/* of the failed step; -1 when it did not exit */
	int signal;			/* that ended the failed step, 0 none */
	/* A timeout, cancel or jobs_stop() ended a step (main or failure). */
	bool timed_out, cancelled, stopped;
	bool failure_step_ran;		/* the failure step was started */
	int failure_exit_code;		/* its exit code, -1 when it did not exit */
	int failure_signal;		/* that ended it, 0 none */
	long long start_ms, end_ms;	/* wall clock; start 0 when it never ran */
};

/*
 * Called once per submitted job, from the runner thread, without the
 * runner's lock: it may call jobs_submit/status/cancel, never jobs_stop.
 * o is valid during the call only.
 */
typedef void (*jobs_done_fn)(const struct job_outcome *o, void *arg);

/* A process as /proc/<pid>/stat shows it. */
struct jobs_proc {
	pid_t pid;
	char state;			/* 'R', 'S', ... 'Z' a zombie */
	pid_t pgrp;			/* field 5 */
	pid_t sid;			/* field 6 */
	unsigned long long start_ticks;	/* field 22: clock ticks since boot */
};

/*
 * A step's process has started (main or failure step): p->pid leads its
 * own process group. Called from the runner thread without the runner's
 * lock, right after the fork and before any callback about the job's end;
 * it may wait (for one fsync, say) but the runner waits with it. When the
 * child's /proc entry could not be read, p->start_ticks is 0.
 */
typedef void (*jobs_start_fn)(uint64_t id, const struct jobs_proc *p, long long start_ms,
    void *arg);

/*
 * The instant (CLOCK_MONOTONIC ms) until which this runner may run
 * processes: past it none starts, and those running are ended (see
 * jobs_set_deadline). JOBS_NO_DEADLINE for no limit; 0 for none at all.
 * Called from the runner and the watchdog threads, without the runner's
 * lock: it must not block.
 */
typedef long long (*jobs_deadline_fn)(void *arg);

struct jobs_conf {
	unsigned max_jobs;	/* jobs running at once, >= 1 */
	/*
	 * Jobs allowed to wait for a slot (FIFO). 0: jobs_submit refuses with
	 * -EBUSY as soon as max_jobs jobs are running.
	 */
	unsigned max_queued;
	long kill_grace_ms;	/* 0: JOBS_KILL_GRACE_MS */
	jobs_done_fn on_done;	/* may be NULL */
	jobs_start_fn on_start;	/* may be NULL */
	void *arg;		/* of both callbacks */
};

/* What a queued or running job is doing now. */
struct job_status {
	uint64_t id;
	enum job_state state;	/* JOB_QUEUED or JOB_RUNNING */
	int step;		/* index of the running step, -1 none or the failure step */
	size_t nsteps;
	bool in_failure_step;
	bool terminating;	/* SIGTERM sent, waiting for the group to go */
	pid_t pid;		/* the step's process (group leader), 0 none */
	long long start_ms;	/* wall clock, 0 while queued */
};

#endif
