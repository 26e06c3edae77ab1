/*
 * The job runner: runs each job's steps (argv + envp, no shell) one after
 * the other, each child in its own process group with stdin from /dev/null
 * and stdout and stderr appended to the job's log file. A bounded number of
 * jobs run at once; a timeout or a cancel sends SIGTERM to the step's
 * process group, SIGKILL after a grace, then the job's failure step runs.
 *
 * One runner thread owns every child: it spawns them (fork, then only
 * async-signal-safe calls in the child until exec), waits on a pidfd per
 * child (or polls when pidfds are missing), reaps them and calls the
 * callbacks. Each child gets SIGTERM when the runner thread dies
 * (PR_SET_PDEATHSIG), so a clusterm killed with SIGKILL does not leave the
 * step's leader running; what the leader started is found again, by the
 * group and start time the start callback reported, at the next start
 * (jobs_group_check()). When a step's leader exits, whatever
 * it left in its process group is killed (SIGKILL) before the leader is
 * reaped, so no stray process outlives its step and no zombie is left
 * (a process that leaves the group with setsid/setpgid escapes this).
 * The process must not set SIGCHLD to SIG_IGN nor reap with waitpid(-1).
 *
 * The runner keeps only jobs that are queued or running; finished jobs are
 * the caller's record (it gets the outcome through the callback).
 */
#ifndef JOBS_H
#define JOBS_H

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

/*
 * Starts the runner thread. -EINVAL for max_jobs 0, -errno from the
 * thread, eventfd or allocation. *ret is freed by jobs_stop().
 */
int jobs_start(const struct jobs_conf *conf, struct jobs **ret);

/*
 * Queues a job (everything in spec is copied) and opens its log file, so a
 * log that cannot be created fails here, with open's -errno. -EBUSY when
 * max_jobs run and max_queued wait already, -EEXIST for an id the runner
 * holds, -EINVAL for a malformed spec, -ESHUTDOWN once jobs_stop() began.
 */
int jobs_submit(struct jobs *j, const struct job_spec *spec);

/*
 * Asks for a job's end: a queued job ends without running anything; a
 * running step gets SIGTERM (SIGKILL after the grace) and then the failure
 * step runs; cancelling while the failure step runs stops that too.
 * Returns at once (the outcome comes through the callback); -ENOENT when
 * the runner does not hold the job.
 */
int jobs_cancel(struct jobs *j, uint64_t id);

/* Jobs queued or running. */
unsigned jobs_active(struct jobs *j);

/* Whether the job is queued or running (false once its callback began). */
bool jobs_is_running(struct jobs *j, uint64_t id);

/* Status of a queued or running job; -ENOENT otherwise. */
int jobs_status(struct jobs *j, uint64_t id, struct job_status *ret);

/*
 * Copies a queued or running job's log path into buf: -ENOENT, or
 * -ENOBUFS when len is too small. Followers read the file until
 * jobs_is_running() turns false, then read to its end once more.
 */
int jobs_log_path(struct jobs *j, uint64_t id, char *buf, size_t len);

/* "<state_dir>/jobs/<id>.log" into buf; -ENAMETOOLONG when it does not fit. */
int jobs_log_path_make(const char *state_dir, uint64_t id, char *buf, size_t len);

/*
 * Shutdown: queued jobs end at once, running steps get SIGTERM then SIGKILL
 * after JOBS_STOP_GRACE_MS (no failure step runs); every job's callback is
 * called (stopped set), the thread is joined and j freed. Bounded by about
 * that grace. Called once, never from the callback. NULL ok.
 */
void jobs_stop(struct jobs *j);

/*
 * Processes a previous run left behind. A step's group is known by its id
 * (the leader's pid), its session and the leader's start time: the group is
 * still the job's when its leader lives with that start time, or, the
 * leader gone, while a process of the group in that session started no
 * earlier (a pid is not reused while a group of that id exists, so a
 * leader with another start time means the job's group is gone). Reading
 * /proc goes through a table so that tests can fake it.
 */
struct jobs_procfs {
	/* The process pid: 0, -ENOENT when there is none, -errno. */
	int (*read)(pid_t pid, struct jobs_proc *ret, void *arg);
	/* Every process id now, malloc'd (the caller frees it): 0 or -errno. */
	int (*list)(pid_t **ret, size_t *ret_n, void *arg);
	void *arg;
};

/* The real /proc. */
extern const struct jobs_procfs jobs_procfs_real;

/* Parses one /proc/<pid>/stat line (the name may hold spaces and ')'). -EBADMSG. */
int jobs_proc_parse(const char *line, struct jobs_proc *ret);
/* Reads /proc/<pid>/stat: 0, -ENOENT, -EBADMSG, -errno. */
int jobs_proc_read(pid_t pid, struct jobs_proc *ret);
/* The boot id into buf (JOBS_BOOT_ID_SIZE): 0 or -errno. */
int jobs_boot_id(char *buf, size_t len);

/*
 * Whether the group (pgid, sid, start_ticks) that a previous run recorded
 * still has a live process that is the job's: 1 yes, 0 no (gone, or the id
 * now names another group), -errno when /proc cannot be read. Zombies do
 * not count.
 */
int jobs_group_check(const struct jobs_procfs *fs, pid_t pgid, pid_t sid,
    unsigned long long start_ticks);
/*
 * Sends sig to the group when jobs_group_check() says it is the job's and
 * alive: 1 sent, 0 not (nothing of the job's is left), -errno.
 */
int jobs_group_signal(const struct jobs_procfs *fs, pid_t pgid, pid_t sid,
    unsigned long long start_ticks, int sig);

/* "Queued", "Running", "Complete", "Errored". */
const char *jobs_state_name(enum job_state s);

#endif
