/* A step's process: PATH lookup, fork, the child until exec, pidfd. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "jobs.h"
#include "jobs_impl.h"

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
    pid_t parent, long long not_after)
{
	struct sigaction dfl;
	struct timespec ts;
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
	/* The last moment before the exec: the parent may have been stopped since its check. */
	if (not_after != JOBS_NO_DEADLINE && (clock_gettime(CLOCK_MONOTONIC, &ts) < 0 ||
	    ts.tv_sec * 1000LL + ts.tv_nsec / 1000000 >= not_after)) {
		errno = ETIME;
		goto fail;
	}
	execve(exe, argv, envp);
fail:
	e = errno;
	if (write(err_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* See jobs_impl.h; the child's side is child(). */
int
jobs_child_spawn(struct job *job, struct step *s, long long not_after)
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
		child(exe, s->argv, s->envp, job->log_fd, pfd[1], parent, not_after);
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
