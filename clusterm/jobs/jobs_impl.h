/*
 * The job runner's internals, shared by its files (jobs.c: the interface
 * and the lock; jobs_job.c: a job's copy of its spec, its files and log;
 * jobs_child.c: fork and exec of a step; jobs_runner.c: the thread).
 * Only clusterm/jobs/ includes it.
 */
#ifndef JOBS_IMPL_H
#define JOBS_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "jobs_types.h"

/* Why a step's process group is being terminated. */
enum term {
	TERM_NONE,
	TERM_TIMEOUT,
	TERM_CANCEL,
	TERM_STOP,
	TERM_LEASE,	/* the deadline passed (jobs_set_deadline) */
};

struct step {
	char *title;
	char **argv;
	char **envp;
};

struct job {
	struct job *next;
	uint64_t id;
	char *log_path;
	int log_fd;
	struct step steps[JOBS_MAX_STEPS];
	size_t nsteps;
	struct step failure;
	bool has_failure;
	long timeout_s;

	enum job_state state;
	int cur;		/* running main step, -1 none */
	bool in_failure;	/* the failure step runs */
	pid_t pid;		/* 0: no process */
	int pidfd;		/* -1: none (poll instead) */
	long long deadline;	/* monotonic ms, 0 none */
	long long kill_at;	/* monotonic ms of the SIGKILL, 0 none */
	enum term term;		/* why the current process is being ended */
	bool cancel_req;	/* set by jobs_cancel, consumed by the runner */
	bool abandon_req;	/* set by jobs_abandon: ends as at a stop */
	bool done;		/* outcome final, callback pending */
	bool start_pending;	/* a step started: the start callback is due */
	struct jobs_proc started;	/* that step's process */
	long long started_ms;	/* wall clock of that start */
	struct job_outcome out;
	char **files;		/* extra-vars files, removed at the end; NULL-terminated */
	size_t nfiles;
};

/* A step start on its way to the start callback. */
struct job_start {
	uint64_t id;
	struct jobs_proc p;
	long long ms;
};

struct jobs {
	pthread_mutex_t lock;
	pthread_t thread;
	int wake_fd;		/* eventfd: submit, cancel and stop wake the runner */
	struct job *head;	/* queued and running jobs, in submit order */
	unsigned max_jobs, max_queued;
	long grace_ms;
	jobs_done_fn on_done;
	jobs_start_fn on_start;
	void *arg;
	bool stopping;
	jobs_deadline_fn deadline_fn;	/* NULL: no deadline */
	void *deadline_arg;
	pthread_t watchdog;
	bool watchdog_on;
	pthread_mutex_t wd_mu;		/* the watchdog's sleep and stop */
	pthread_cond_t wd_cv;
	bool wd_stop;
};

/* ---- jobs_job.c ---- */

/*
 * A new Queued job holding a copy of spec (steps, log path, the list of
 * its extra-vars files); its log is not open yet (log_fd -1). 0, -EINVAL
 * for a malformed spec, -ENOMEM. On failure *ret is untouched and nothing
 * is removed: the caller decides about the spec's files.
 */
int jobs_job_new(const struct job_spec *spec, struct job **ret);
/* Opens (creates 0600, appends) the job's log, on a descriptor above 2. 0 or -errno. */
int jobs_job_open_log(struct job *job);
/* Removes the job's extra-vars files and frees it (log and pidfd closed). NULL ok. */
void jobs_job_free(struct job *job);
/* Removes the job's extra-vars files (best effort) and forgets them. */
void jobs_job_remove_files(struct job *job);
/* Forgets the job's extra-vars files without removing them. */
void jobs_job_forget_files(struct job *job);
/* Removes the extra-vars files a spec names (a submit that failed). */
void jobs_job_remove_spec_files(const struct job_spec *spec);
/* Appends one line "--- <time> job <id> <text>" to the job's log; best effort. */
void jobs_job_log(struct job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- jobs_child.c ---- */

/*
 * Starts one step of the job in a process group of its own (fork, exec;
 * see jobs.h). not_after: a CLOCK_MONOTONIC ms past which the child does
 * not exec (-ETIME), JOBS_NO_DEADLINE for none. 0 or -errno, exec errors
 * included; on success job->pid, pidfd and started are set and the start
 * callback is due.
 */
int jobs_child_spawn(struct job *job, struct step *s, long long not_after);

/* ---- jobs_runner.c ---- */

/* The runner thread's body; arg is the struct jobs. Returns NULL. */
void *jobs_runner_main(void *arg);
/* The deadline now (JOBS_NO_DEADLINE without one). */
long long jobs_deadline_now(struct jobs *j);
/* SIGTERM to the current step's group; SIGKILL follows after the grace. Lock held. */
void jobs_terminate(struct jobs *j, struct job *job, enum term why, long long now);

/* ---- jobs_watchdog.c ---- */

/* The watchdog thread's body; arg is the struct jobs. Returns NULL. */
void *jobs_watchdog_main(void *arg);

#endif
