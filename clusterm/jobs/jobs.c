/* The job runner: one thread spawns, times, kills and reaps every step. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "jobs.h"

/* Why a step's process group is being terminated. */
enum term {
	TERM_NONE,
	TERM_TIMEOUT,
	TERM_CANCEL,
	TERM_STOP,
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
};

const char *
jobs_state_name(enum job_state s)
{
	switch (s) {
	case JOB_QUEUED:
		return "Queued";
	case JOB_RUNNING:
		return "Running";
	case JOB_COMPLETE:
		return "Complete";
	case JOB_ERRORED:
		return "Errored";
	}
	return "Unknown";
}

int
jobs_log_path_make(const char *state_dir, uint64_t id, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/jobs/%" PRIu64 ".log", state_dir, id);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void
strv_free(char **v)
{
	for (char **p = v; p != NULL && *p != NULL; p++)
		free(*p);
	free(v);
}

/* Deep copy of a NULL-terminated array (NULL gives an empty one). */
static char **
strv_copy(const char *const *v)
{
	size_t n = 0;
	char **c;

	while (v != NULL && v[n] != NULL)
		n++;
	c = calloc(n + 1, sizeof(char *));
	if (c == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i] = strdup(v[i]);
		if (c[i] == NULL) {
			strv_free(c);
			return NULL;
		}
	}
	return c;
}

static void
step_finish(struct step *s)
{
	free(s->title);
	strv_free(s->argv);
	strv_free(s->envp);
	memset(s, 0, sizeof(*s));
}

static int
step_copy(struct step *dst, const struct job_step *src)
{
	if (src->argv == NULL || src->argv[0] == NULL || src->argv[0][0] == '\0')
		return -EINVAL;
	dst->title = strdup(src->title != NULL ? src->title : "step");
	dst->argv = strv_copy(src->argv);
	dst->envp = strv_copy(src->envp);
	if (dst->title == NULL || dst->argv == NULL || dst->envp == NULL) {
		step_finish(dst);
		return -ENOMEM;
	}
	return 0;
}

/* Appends one line "--- job <id> <text>" to the job's log; best effort. */
static void
log_line(struct job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The extra-vars file a step's argv names at index k, or NULL. */
static const char *
vars_file_at(const char *const *argv, size_t k)
{
	if (strcmp(argv[k], JOBS_VARS_OPTION) != 0 || argv[k + 1] == NULL ||
	    argv[k + 1][0] != '@' || argv[k + 1][1] == '\0')
		return NULL;
	return argv[k + 1] + 1;
}

/* Adds the extra-vars files of s's argv to the job's list. -ENOMEM. */
static int
collect_files(struct job *job, const struct job_step *s)
{
	for (size_t k = 0; s != NULL && s->argv != NULL && s->argv[k] != NULL; k++) {
		const char *f = vars_file_at(s->argv, k);
		char **v;

		if (f == NULL)
			continue;
		v = realloc(job->files, (job->nfiles + 2) * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		job->files = v;
		if ((v[job->nfiles] = strdup(f)) == NULL)
			return -ENOMEM;
		v[++job->nfiles] = NULL;
	}
	return 0;
}

/* Forgets the job's extra-vars files without removing them. */
static void
forget_files(struct job *job)
{
	for (size_t i = 0; i < job->nfiles; i++)
		free(job->files[i]);
	free(job->files);
	job->files = NULL;
	job->nfiles = 0;
}

/* Removes the job's extra-vars files (best effort) and forgets them. */
static void
remove_files(struct job *job)
{
	for (size_t i = 0; i < job->nfiles; i++) {
		if (unlink(job->files[i]) < 0 && errno != ENOENT && job->log_fd >= 0)
			log_line(job, "cannot remove the extra vars file %s: %s",
			    job->files[i], strerror(errno));
		free(job->files[i]);
	}
	free(job->files);
	job->files = NULL;
	job->nfiles = 0;
}

static void
unlink_step_files(const struct job_step *s)
{
	for (size_t k = 0; s != NULL && s->argv != NULL && s->argv[k] != NULL; k++) {
		const char *f = vars_file_at(s->argv, k);

		if (f != NULL)
			(void)unlink(f);
	}
}

/*
 * The same straight from a spec, for a submit that failed (the caller's
 * arrays). An nsteps out of range may not be the array's length: those
 * steps are not looked at.
 */
static void
remove_spec_files(const struct job_spec *spec)
{
	for (size_t i = 0; spec->steps != NULL && spec->nsteps <= JOBS_MAX_STEPS &&
	    i < spec->nsteps; i++)
		unlink_step_files(&spec->steps[i]);
	unlink_step_files(spec->failure_step);
}

static void
job_free(struct job *job)
{
	if (job == NULL)
		return;
	remove_files(job);
	for (size_t i = 0; i < job->nsteps; i++)
		step_finish(&job->steps[i]);
	step_finish(&job->failure);
	if (job->log_fd >= 0)
		close(job->log_fd);
	if (job->pidfd >= 0)
		close(job->pidfd);
	free(job->log_path);
	free(job);
}

static void
wake(struct jobs *j)
{
	uint64_t one = 1;

	/* A full counter already means "wake up"; nothing to retry. */
	if (write(j->wake_fd, &one, sizeof(one)) < 0)
		return;
}

static void
log_line(struct job *job, const char *fmt, ...)
{
	char msg[1024], line[1200], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp),
	    "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	n = snprintf(line, sizeof(line), "--- %s job %" PRIu64 " %s\n", stamp, job->id, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;	/* a truncated header is still a header */
	(void)fsio_write_all(job->log_fd, line, (size_t)n);
}

/* Value of PATH in envp, NULL when absent. */
static const char *
env_path(char **envp)
{
	for (char **p = envp; p != NULL && *p != NULL; p++)
		if (strncmp(*p, "PATH=", 5) == 0)
			return *p + 5;
	return NULL;
}

/*
 * Resolves argv[0] like execvp, but with the PATH of the step's own
 * environment (the one the child will have). *ret is malloc'd.
 */
static int
resolve(const char *name, char **envp, char **ret)
{
	const char *path, *p;
	int err = -ENOENT;

	if (strchr(name, '/') != NULL) {
		*ret = strdup(name);
		return *ret != NULL ? 0 : -ENOMEM;
	}
	path = env_path(envp);
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; ) {
		const char *end = strchr(p, ':');
		size_t dl = end != NULL ? (size_t)(end - p) : strlen(p);
		size_t nl = strlen(name);
		char *cand = malloc(dl + 1 + nl + 1);
		struct stat st;

		if (cand == NULL)
			return -ENOMEM;
		if (dl == 0) {
			memcpy(cand, name, nl + 1);	/* an empty entry is "." */
		} else {
			memcpy(cand, p, dl);
			cand[dl] = '/';
			memcpy(cand + dl + 1, name, nl + 1);
		}
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(cand, X_OK) == 0) {
				*ret = cand;
				return 0;
			}
			err = -EACCES;
		}
		free(cand);
		if (end == NULL)
			break;
		p = end + 1;
	}
	return err;
}

static int
open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	long fd = syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0) {
		/* pidfd_open sets O_CLOEXEC itself. */
		return (int)fd;
	}
#else
	(void)pid;
#endif
	return -1;
}

/* fd moved to 3 or above (a daemon may run with stdio closed), close-on-exec. */
static int
above_stdio(int fd)
{
	int d;

	if (fd < 0 || fd > 2)
		return fd;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return d;
}

/*
 * The child between fork and exec: only async-signal-safe calls (the
 * parent has other threads). Its own process group, SIGTERM when the
 * runner thread dies, default signal handling and an empty mask, stdin
 * /dev/null, stdout and stderr on the log, no other descriptor. An errno
 * before or from exec goes back through err_fd (close-on-exec).
 */
static void __attribute__((noreturn))
child(const char *exe, char *const *argv, char *const *envp, int log_fd, int err_fd,
    pid_t parent)
{
	struct sigaction dfl;
	sigset_t none;
	struct rlimit rl;
	int fd, e;

	if (setpgid(0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		goto fail;
	/* The parent may have died before the prctl: then nobody would send it. */
	if (getppid() != parent) {
		errno = ESRCH;
		goto fail;
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);	/* SIG_IGN would survive exec */
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		goto fail;
	if ((fd = open("/dev/null", O_RDONLY | O_NOCTTY)) < 0)
		goto fail;
	if (fd != 0 && (dup2(fd, 0) < 0 || close(fd) < 0))
		goto fail;
	if (dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
		goto fail;
	if (err_fd != 3) {
		if (dup3(err_fd, 3, O_CLOEXEC) < 0)
			goto fail;
		err_fd = 3;
	}
	if (close_range(4, ~0U, 0) < 0) {
		/* A kernel before 5.9: one by one, up to the descriptor limit. */
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 65536)
			rl.rlim_cur = 65536;
		for (fd = 4; fd < (int)rl.rlim_cur; fd++)
			(void)close(fd);
	}
	execve(exe, argv, envp);
fail:
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/*
 * Starts one step (see child()). 0 or -errno, exec errors included. The
 * step's start is then due to the start callback.
 */
static int
spawn_step(struct job *job, struct step *s)
{
	int pfd[2], e = 0, st;
	pid_t pid, parent = getpid(), w;
	char *exe = NULL;
	ssize_t n;
	int r;

	r = resolve(s->argv[0], s->envp, &exe);
	if (r < 0)
		return r;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		r = -errno;
		free(exe);
		return r;
	}
	pfd[0] = above_stdio(pfd[0]);
	pfd[1] = above_stdio(pfd[1]);
	if (pfd[0] < 0 || pfd[1] < 0) {
		r = -EMFILE;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child(exe, s->argv, s->envp, job->log_fd, pfd[1], parent);
	close(pfd[1]);
	pfd[1] = -1;
	/* The group exists before the first kill; EACCES once the child has exec'd. */
	(void)setpgid(pid, pid);
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(e)) {
		do
			w = waitpid(pid, &st, 0);
		while (w < 0 && errno == EINTR);
		r = -(e > 0 ? e : EIO);
		goto out;
	}

	job->pid = pid;
	job->pidfd = open_pidfd(pid);
	job->term = TERM_NONE;
	job->kill_at = 0;
	/* Unreaped, the child's /proc entry is there even if it has exited. */
	if (jobs_proc_read(pid, &job->started) < 0) {
		memset(&job->started, 0, sizeof(job->started));
		job->started.sid = getsid(0);
	}
	job->started.pid = pid;
	job->started.pgrp = pid;
	job->started_ms = fsio_now_ms();
	job->start_pending = true;
	r = 0;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(exe);
	return r;
}

/* Ends the job: the outcome is final, the callback is due. */
static void
job_finish(struct job *job, enum job_state st)
{
	job->out.state = st;
	job->out.end_ms = fsio_now_ms();
	remove_files(job);
	if (st == JOB_COMPLETE)
		log_line(job, "Complete");
	else
		log_line(job, "Errored: %s", job->out.error);
	job->done = true;
}

/* Records the first error of a job (later ones do not replace it). */
static void
set_error(struct job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_error(struct job *job, const char *fmt, ...)
{
	va_list ap;

	if (job->out.error[0] != '\0')
		return;
	va_start(ap, fmt);
	(void)vsnprintf(job->out.error, sizeof(job->out.error), fmt, ap);
	va_end(ap);
}

/* Starts the failure step, or ends the job Errored when there is none. */
static void
run_failure(struct job *job, long long now)
{
	int r;

	job->cur = -1;
	if (!job->has_failure || job->out.stopped) {
		job_finish(job, JOB_ERRORED);
		return;
	}
	job->in_failure = true;
	log_line(job, "failure step (%s): %s", job->failure.title, job->failure.argv[0]);
	r = spawn_step(job, &job->failure);
	if (r < 0) {
		log_line(job, "failure step (%s) could not start: %s", job->failure.title,
		    strerror(-r));
		job_finish(job, JOB_ERRORED);
		return;
	}
	job->out.failure_step_ran = true;
	job->deadline = job->timeout_s > 0 ? now + job->timeout_s * 1000 : 0;
}

/* Starts main step i (or, past the last, completes the job). */
static void
run_step(struct job *job, size_t i, long long now)
{
	int r;

	if (i >= job->nsteps) {
		job->cur = -1;
		job_finish(job, JOB_COMPLETE);
		return;
	}
	job->cur = (int)i;
	log_line(job, "step %zu/%zu (%s): %s", i + 1, job->nsteps, job->steps[i].title,
	    job->steps[i].argv[0]);
	r = spawn_step(job, &job->steps[i]);
	if (r < 0) {
		log_line(job, "step %zu/%zu (%s) could not start: %s", i + 1, job->nsteps,
		    job->steps[i].title, strerror(-r));
		set_error(job, "step %zu (%s) could not start %s: %s", i + 1,
		    job->steps[i].title, job->steps[i].argv[0], strerror(-r));
		job->out.failed_step = (int)i;
		job->out.exit_code = -1;
		run_failure(job, now);
	}
}

static void
start_job(struct job *job, long long now)
{
	job->state = JOB_RUNNING;
	job->out.start_ms = fsio_now_ms();
	job->deadline = job->timeout_s > 0 ? now + job->timeout_s * 1000 : 0;
	run_step(job, 0, now);
}

/* SIGTERM to the current step's group; SIGKILL follows after the grace. */
static void
terminate(struct jobs *j, struct job *job, enum term why, long long now)
{
	if (job->pid <= 0 || job->term != TERM_NONE)
		return;
	job->term = why;
	log_line(job, "%s: sending SIGTERM to process group %ld",
	    why == TERM_TIMEOUT ? "timed out" : why == TERM_CANCEL ? "cancelled" : "stopping",
	    (long)job->pid);
	(void)kill(-job->pid, SIGTERM);
	job->kill_at = now + (why == TERM_STOP && j->grace_ms > JOBS_STOP_GRACE_MS ?
	    JOBS_STOP_GRACE_MS : j->grace_ms);
}

/* Describes how a step ended, into exit code and signal. */
static void
decode_status(int st, int *code, int *sig)
{
	*code = -1;
	*sig = 0;
	if (WIFEXITED(st))
		*code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		*sig = WTERMSIG(st);
}

/* The current step's leader has ended with wait status st. */
static void
step_ended(struct job *job, int st, long long now)
{
	const char *title;
	int code, sig;
	enum term why = job->term;

	decode_status(st, &code, &sig);
	job->pid = 0;
	if (job->pidfd >= 0) {
		close(job->pidfd);
		job->pidfd = -1;
	}
	job->term = TERM_NONE;
	job->kill_at = 0;

	if (job->in_failure) {
		job->out.failure_exit_code = code;
		job->out.failure_signal = sig;
		if (sig != 0)
			log_line(job, "failure step (%s) was killed by signal %d",
			    job->failure.title, sig);
		else
			log_line(job, "failure step (%s) exited with status %d",
			    job->failure.title, code);
		job_finish(job, JOB_ERRORED);
		return;
	}

	title = job->steps[job->cur].title;
	if (sig != 0)
		log_line(job, "step %d/%zu (%s) was killed by signal %d", job->cur + 1,
		    job->nsteps, title, sig);
	else
		log_line(job, "step %d/%zu (%s) exited with status %d", job->cur + 1,
		    job->nsteps, title, code);

	if (why == TERM_NONE && code == 0) {
		run_step(job, (size_t)job->cur + 1, now);
		return;
	}
	job->out.failed_step = job->cur;
	job->out.exit_code = code;
	job->out.signal = sig;
	switch (why) {
	case TERM_TIMEOUT:
		set_error(job, "the job timed out after %ld s in step %d (%s)", job->timeout_s,
		    job->cur + 1, title);
		break;
	case TERM_CANCEL:
		set_error(job, "the job was cancelled in step %d (%s)", job->cur + 1, title);
		break;
	case TERM_STOP:
		set_error(job, "clusterm stopped during step %d (%s)", job->cur + 1, title);
		break;
	case TERM_NONE:
		if (sig != 0)
			set_error(job, "step %d (%s) was killed by signal %d", job->cur + 1,
			    title, sig);
		else
			set_error(job, "step %d (%s) exited with status %d", job->cur + 1,
			    title, code);
		break;
	}
	run_failure(job, now);
}

/*
 * Reaps the job's step if its leader has exited. The group is swept with
 * SIGKILL first, while the unreaped leader still pins the group id, so
 * the kill cannot reach a process that reused the id.
 */
static void
check_exit(struct job *job, long long now)
{
	siginfo_t si;
	int st = 0;
	pid_t r;

	if (job->pid <= 0)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)job->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno == EINTR)
			return;
		/* ECHILD: someone else reaped it (SIGCHLD ignored?); nothing to wait for. */
		step_ended(job, 0xff00, now);
		return;
	}
	if (si.si_pid != job->pid)
		return;
	(void)kill(-job->pid, SIGKILL);
	do
		r = waitpid(job->pid, &st, 0);	/* a zombie already: does not block */
	while (r < 0 && errno == EINTR);
	if (r < 0)
		st = 0xff00;	/* exit status 255 */
	step_ended(job, st, now);
}

static unsigned
count_running(struct jobs *j)
{
	unsigned n = 0;

	for (struct job *job = j->head; job != NULL; job = job->next)
		if (job->state == JOB_RUNNING && !job->done)
			n++;
	return n;
}

/* One pass over the jobs: cancels, exits, deadlines, starts. Lock held. */
static void
advance(struct jobs *j, long long now)
{
	unsigned running;

	for (struct job *job = j->head; job != NULL; job = job->next) {
		if (job->done)
			continue;
		if (job->state == JOB_QUEUED) {
			if (j->stopping || job->cancel_req) {
				job->out.stopped = j->stopping;
				job->out.cancelled = job->cancel_req;
				set_error(job, j->stopping ? "clusterm stopped before the job started" :
				    "the job was cancelled before it started");
				job_finish(job, JOB_ERRORED);
			}
			continue;
		}
		check_exit(job, now);
		if (job->done)
			continue;
		if (j->stopping && !job->out.stopped) {
			job->out.stopped = true;
			terminate(j, job, TERM_STOP, now);
		}
		if (job->cancel_req) {
			job->cancel_req = false;
			job->out.cancelled = true;
			terminate(j, job, TERM_CANCEL, now);
		}
		if (job->deadline > 0 && now >= job->deadline && job->term == TERM_NONE) {
			job->out.timed_out = true;
			terminate(j, job, TERM_TIMEOUT, now);
		}
		if (job->kill_at > 0 && now >= job->kill_at && job->pid > 0) {
			log_line(job, "sending SIGKILL to process group %ld", (long)job->pid);
			(void)kill(-job->pid, SIGKILL);
			job->kill_at = 0;
		}
	}
	if (j->stopping)
		return;
	running = count_running(j);
	for (struct job *job = j->head; job != NULL && running < j->max_jobs; job = job->next) {
		if (job->state != JOB_QUEUED || job->done)
			continue;
		start_job(job, now);
		if (!job->done)
			running++;
	}
}

/*
 * Poll timeout until the next deadline, -1 for none; at most
 * JOBS_POLL_FALLBACK_MS while a child has no pidfd to wait on. Lock held.
 */
static int
next_timeout(struct jobs *j, long long now)
{
	long long next = -1;
	bool fallback = false;

	for (struct job *job = j->head; job != NULL; job = job->next) {
		long long d[2] = { job->term == TERM_NONE ? job->deadline : 0, job->kill_at };

		if (job->pid > 0 && job->pidfd < 0)
			fallback = true;
		for (int i = 0; i < 2; i++)
			if (d[i] > 0 && (next < 0 || d[i] < next))
				next = d[i];
	}
	if (next >= 0) {
		next -= now;
		if (next < 0)
			next = 0;
		if (next > INT_MAX)
			next = INT_MAX;
	}
	if (fallback && (next < 0 || next > JOBS_POLL_FALLBACK_MS))
		next = JOBS_POLL_FALLBACK_MS;
	return (int)next;
}

/* Moves up to max due step starts into v and clears them. Lock held. */
static size_t
take_starts(struct jobs *j, struct job_start *v, size_t max)
{
	size_t n = 0;

	for (struct job *job = j->head; job != NULL && n < max; job = job->next) {
		if (!job->start_pending)
			continue;
		job->start_pending = false;
		v[n].id = job->id;
		v[n].p = job->started;
		v[n].ms = job->started_ms;
		n++;
	}
	return n;
}

/* Unlinks the finished jobs and returns them as a list. Lock held. */
static struct job *
take_done(struct jobs *j)
{
	struct job *done = NULL, **pp;

	for (pp = &j->head; *pp != NULL; ) {
		struct job *job = *pp;

		if (job->done) {
			*pp = job->next;
			job->next = done;
			done = job;
		} else {
			pp = &job->next;
		}
	}
	return done;
}

/*
 * The runner thread: advances every job, calls callbacks outside the lock,
 * then sleeps in poll() on the wake eventfd and the children's pidfds until
 * the next deadline.
 */
static void *
runner(void *arg)
{
	struct jobs *j = arg;
	struct pollfd *pfd = NULL, one;
	size_t pfd_cap = 0;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		struct job_start starts[JOBS_START_BATCH];
		struct job *done;
		struct pollfd *set;
		size_t n = 0, cap;
		int timeout;
		long long now = fsio_mono_ms();

		advance(j, now);
		/* Starts first: a job's start is told before its end. */
		n = take_starts(j, starts, JOBS_START_BATCH);
		if (n > 0 && j->on_start != NULL) {
			pthread_mutex_unlock(&j->lock);
			for (size_t i = 0; i < n; i++)
				j->on_start(starts[i].id, &starts[i].p, starts[i].ms, j->arg);
			pthread_mutex_lock(&j->lock);
			continue;
		}
		n = 0;
		done = take_done(j);
		if (done != NULL) {
			pthread_mutex_unlock(&j->lock);
			while (done != NULL) {
				struct job *next = done->next;

				if (j->on_done != NULL)
					j->on_done(&done->out, j->arg);
				job_free(done);
				done = next;
			}
			pthread_mutex_lock(&j->lock);
			continue;	/* a slot may be free now */
		}
		if (j->stopping && j->head == NULL)
			break;

		timeout = next_timeout(j, now);
		for (struct job *job = j->head; job != NULL; job = job->next)
			n++;
		if (n + 1 > pfd_cap) {
			struct pollfd *p = realloc(pfd, (n + 1) * sizeof(*p));

			if (p != NULL) {
				pfd = p;
				pfd_cap = n + 1;
			}
		}
		set = pfd_cap > 0 ? pfd : &one;
		cap = pfd_cap > 0 ? pfd_cap : 1;
		n = 0;
		set[n++] = (struct pollfd){ .fd = j->wake_fd, .events = POLLIN };
		for (struct job *job = j->head; job != NULL; job = job->next) {
			if (job->pid <= 0 || job->pidfd < 0)
				continue;
			if (n == cap) {
				/* Out of memory for the set: check the rest by polling. */
				if (timeout < 0 || timeout > JOBS_POLL_FALLBACK_MS)
					timeout = JOBS_POLL_FALLBACK_MS;
				break;
			}
			set[n++] = (struct pollfd){ .fd = job->pidfd, .events = POLLIN };
		}
		pthread_mutex_unlock(&j->lock);
		if (poll(set, n, timeout) > 0 && (set[0].revents & POLLIN)) {
			uint64_t v;
			ssize_t got = read(j->wake_fd, &v, sizeof(v));

			(void)got;	/* EAGAIN: nothing pending; either way we go round */
		}
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	free(pfd);
	return NULL;
}

int
jobs_start(const struct jobs_conf *conf, struct jobs **ret)
{
	struct jobs *j;
	int r;

	if (conf == NULL || conf->max_jobs == 0 || conf->kill_grace_ms < 0)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->max_jobs = conf->max_jobs;
	j->max_queued = conf->max_queued;
	j->grace_ms = conf->kill_grace_ms > 0 ? conf->kill_grace_ms : JOBS_KILL_GRACE_MS;
	j->on_done = conf->on_done;
	j->on_start = conf->on_start;
	j->arg = conf->arg;
	j->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = pthread_mutex_init(&j->lock, NULL);
	if (r != 0) {
		r = -r;
		goto fail_fd;
	}
	r = pthread_create(&j->thread, NULL, runner, j);
	if (r != 0) {
		r = -r;
		goto fail_mutex;
	}
	*ret = j;
	return 0;
fail_mutex:
	pthread_mutex_destroy(&j->lock);
fail_fd:
	close(j->wake_fd);
fail:
	free(j);
	return r;
}

static struct job *
find(struct jobs *j, uint64_t id)
{
	for (struct job *job = j->head; job != NULL; job = job->next)
		if (job->id == id && !job->done)
			return job;
	return NULL;
}

int
jobs_submit(struct jobs *j, const struct job_spec *spec)
{
	struct job *job, **pp;
	unsigned running = 0, queued = 0;
	int r;

	if (spec == NULL)
		return -EINVAL;
	if (spec->log_path == NULL || spec->log_path[0] == '\0' ||
	    spec->steps == NULL || spec->nsteps == 0 || spec->nsteps > JOBS_MAX_STEPS ||
	    spec->timeout_s < 0 || spec->timeout_s > LLONG_MAX / 2000) {
		remove_spec_files(spec);
		return -EINVAL;
	}
	job = calloc(1, sizeof(*job));
	if (job == NULL) {
		remove_spec_files(spec);
		return -ENOMEM;
	}
	job->log_fd = -1;
	job->pidfd = -1;
	job->id = spec->id;
	job->timeout_s = spec->timeout_s;
	job->cur = -1;
	job->state = JOB_QUEUED;
	job->out.id = spec->id;
	job->out.failed_step = -1;
	job->out.exit_code = -1;
	job->out.failure_exit_code = -1;
	for (size_t i = 0; i < spec->nsteps; i++) {
		r = step_copy(&job->steps[i], &spec->steps[i]);
		if (r < 0)
			goto fail;
		job->nsteps++;
	}
	if (spec->failure_step != NULL) {
		r = step_copy(&job->failure, spec->failure_step);
		if (r < 0)
			goto fail;
		job->has_failure = true;
	}
	job->log_path = strdup(spec->log_path);
	if (job->log_path == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < spec->nsteps; i++)
		if ((r = collect_files(job, &spec->steps[i])) < 0)
			goto fail;
	if ((r = collect_files(job, spec->failure_step)) < 0)
		goto fail;

	pthread_mutex_lock(&j->lock);
	if (j->stopping) {
		r = -ESHUTDOWN;
		goto fail_locked;
	}
	if (find(j, spec->id) != NULL) {
		r = -EEXIST;
		goto fail_locked;
	}
	for (struct job *o = j->head; o != NULL; o = o->next) {
		if (o->done)
			continue;
		if (o->state == JOB_QUEUED)
			queued++;
		else
			running++;
	}
	if (running + queued >= j->max_jobs + j->max_queued) {
		r = -EBUSY;
		goto fail_locked;
	}
	/* Opened under the lock so that a refused job leaves no new file. */
	job->log_fd = open(job->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (job->log_fd < 0) {
		r = -errno;
		goto fail_locked;
	}
	if (job->log_fd < 3) {
		/* A daemon with closed stdio: keep 0-2 free for the child's own. */
		int fd = fcntl(job->log_fd, F_DUPFD_CLOEXEC, 3);

		r = fd < 0 ? -errno : 0;
		close(job->log_fd);
		job->log_fd = fd;
		if (r < 0)
			goto fail_locked;
	}
	for (pp = &j->head; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = job;
	log_line(job, "queued: %zu step(s)%s, timeout %ld s", job->nsteps,
	    job->has_failure ? " and a failure step" : "", job->timeout_s);
	wake(j);
	pthread_mutex_unlock(&j->lock);
	return 0;
fail_locked:
	pthread_mutex_unlock(&j->lock);
fail:
	if (r == -EEXIST) {
		/* The files may be the running job's of that id: not ours to remove. */
		forget_files(job);
	} else {
		remove_spec_files(spec);
	}
	job_free(job);
	return r;
}

int
jobs_cancel(struct jobs *j, uint64_t id)
{
	struct job *job;
	int r = -ENOENT;

	pthread_mutex_lock(&j->lock);
	job = find(j, id);
	if (job != NULL) {
		job->cancel_req = true;
		wake(j);
		r = 0;
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

unsigned
jobs_active(struct jobs *j)
{
	unsigned n = 0;

	pthread_mutex_lock(&j->lock);
	for (struct job *job = j->head; job != NULL; job = job->next)
		if (!job->done)
			n++;
	pthread_mutex_unlock(&j->lock);
	return n;
}

bool
jobs_is_running(struct jobs *j, uint64_t id)
{
	bool r;

	pthread_mutex_lock(&j->lock);
	r = find(j, id) != NULL;
	pthread_mutex_unlock(&j->lock);
	return r;
}

int
jobs_status(struct jobs *j, uint64_t id, struct job_status *ret)
{
	struct job *job;
	int r = -ENOENT;

	pthread_mutex_lock(&j->lock);
	job = find(j, id);
	if (job != NULL) {
		*ret = (struct job_status){
			.id = job->id,
			.state = job->state,
			.step = job->cur,
			.nsteps = job->nsteps,
			.in_failure_step = job->in_failure,
			.terminating = job->term != TERM_NONE,
			.pid = job->pid,
			.start_ms = job->out.start_ms,
		};
		r = 0;
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

int
jobs_log_path(struct jobs *j, uint64_t id, char *buf, size_t len)
{
	struct job *job;
	int r = -ENOENT;

	pthread_mutex_lock(&j->lock);
	job = find(j, id);
	if (job != NULL) {
		if (strlen(job->log_path) >= len) {
			r = -ENOBUFS;
		} else {
			memcpy(buf, job->log_path, strlen(job->log_path) + 1);
			r = 0;
		}
	}
	pthread_mutex_unlock(&j->lock);
	return r;
}

void
jobs_stop(struct jobs *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	wake(j);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	pthread_mutex_destroy(&j->lock);
	close(j->wake_fd);
	free(j);
}

/* ---- what a previous run left behind ---- */

int
jobs_proc_parse(const char *line, struct jobs_proc *ret)
{
	const char *p = strrchr(line, ')');	/* the name is "(...)" and may hold ')' */
	struct jobs_proc r = { 0 };
	char *end;
	long pid;

	pid = strtol(line, &end, 10);
	if (p == NULL || end == line || *end != ' ' || pid <= 0 || pid > INT_MAX ||
	    p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
		return -EBADMSG;
	r.pid = (pid_t)pid;
	r.state = p[2];
	p += 4;
	/* Fields 4 (ppid) to 22 (starttime); p is at field 4. */
	for (int field = 4; field <= 22; field++) {
		unsigned long long v;

		errno = 0;
		if (*p == '-' && field != 22)
			v = (unsigned long long)strtoll(p, &end, 10);	/* tty_pgrp -1 */
		else
			v = strtoull(p, &end, 10);
		if (end == p || errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
			return -EBADMSG;
		if (field == 5 || field == 6) {
			if (v > INT_MAX)
				return -EBADMSG;
			if (field == 5)
				r.pgrp = (pid_t)v;
			else
				r.sid = (pid_t)v;
		} else if (field == 22) {
			r.start_ticks = v;
		}
		p = *end == ' ' ? end + 1 : end;
	}
	*ret = r;
	return 0;
}

int
jobs_proc_read(pid_t pid, struct jobs_proc *ret)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	r = n < 0 ? (errno == ESRCH ? -ENOENT : -errno) : 0;
	close(fd);
	if (r < 0)
		return r;
	if (n == 0)
		return -ENOENT;	/* it went while we read */
	buf[n] = '\0';
	return jobs_proc_parse(buf, ret);
}

int
jobs_boot_id(char *buf, size_t len)
{
	char text[128];
	ssize_t n;
	int fd, r = 0;

	/* A /proc file has no size to go by: one read. */
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, text, sizeof(text) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	if (n == 0 || (size_t)n >= len)
		return -EBADMSG;
	memcpy(buf, text, (size_t)n);
	buf[n] = '\0';
	return 0;
}

static int
real_read(pid_t pid, struct jobs_proc *ret, void *arg)
{
	(void)arg;
	return jobs_proc_read(pid, ret);
}

static int
real_list(pid_t **ret, size_t *ret_n, void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t *v = NULL;
	size_t n = 0, cap = 0;

	(void)arg;
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (end == e->d_name || *end != '\0' || pid <= 0 || pid > INT_MAX)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			pid_t *nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = (pid_t)pid;
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

const struct jobs_procfs jobs_procfs_real = { real_read, real_list, NULL };

int
jobs_group_check(const struct jobs_procfs *fs, pid_t pgid, pid_t sid,
    unsigned long long start_ticks)
{
	struct jobs_proc p;
	bool leader = false;
	pid_t *all = NULL;
	size_t n = 0;
	int r;

	if (pgid <= 1 || start_ticks == 0)
		return 0;
	r = fs->read(pgid, &p, fs->arg);
	if (r == 0) {
		/* The id is in use: by the leader, or by a new process (the group is gone). */
		if (p.start_ticks != start_ticks)
			return 0;
		leader = true;
	} else if (r != -ENOENT) {
		return r;
	}
	if ((r = fs->list(&all, &n, fs->arg)) < 0)
		return r;
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (fs->read(all[i], &p, fs->arg) < 0 || p.pgrp != pgid || p.state == 'Z')
			continue;
		/*
		 * Leader gone: the id was not reused while its group lived; the
		 * session and start time keep out a group made under that id
		 * after the job's had emptied.
		 */
		if (leader || (p.sid == sid && p.start_ticks >= start_ticks))
			r = 1;
	}
	free(all);
	return r;
}

int
jobs_group_signal(const struct jobs_procfs *fs, pid_t pgid, pid_t sid,
    unsigned long long start_ticks, int sig)
{
	int r = jobs_group_check(fs, pgid, sid, start_ticks);

	if (r <= 0)
		return r;
	if (kill(-pgid, sig) < 0)
		return errno == ESRCH ? 0 : -errno;
	return 1;
}
