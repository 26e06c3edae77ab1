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

#include "jobs_types.h"

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

/*
 * Ends every job as a stop does (queued ones at once, running steps get
 * SIGTERM then SIGKILL after the grace, no failure step), the runner going
 * on for later jobs: an instance that stops leading stops its playbooks.
 * Returns the number of jobs asked to end.
 */
int jobs_abandon(struct jobs *j);

/*
 * From now on every process start (a step, the failure step, a queued
 * job's first step) is checked against fn's deadline right before the
 * fork, and by the child again right before its exec: past it nothing
 * starts and the job ends Errored, stopped. A watchdog thread of its own
 * (independent of the runner thread, which may be in a callback) looks at
 * the deadline every JOBS_WATCHDOG_MS and, once it has passed, sends
 * SIGTERM to every running step's process group, SIGKILL after
 * JOBS_STOP_GRACE_MS (no failure step runs). Called once, before any
 * job is submitted. -errno when the watchdog thread cannot start.
 */
int jobs_set_deadline(struct jobs *j, jobs_deadline_fn fn, void *arg);

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
