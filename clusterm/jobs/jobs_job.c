/* One job of the runner: its copy of the spec, its extra-vars files, its log. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "jobs_impl.h"

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

void
jobs_job_forget_files(struct job *job)
{
	for (size_t i = 0; i < job->nfiles; i++)
		free(job->files[i]);
	free(job->files);
	job->files = NULL;
	job->nfiles = 0;
}

void
jobs_job_remove_files(struct job *job)
{
	for (size_t i = 0; i < job->nfiles; i++) {
		if (unlink(job->files[i]) < 0 && errno != ENOENT && job->log_fd >= 0)
			jobs_job_log(job, "cannot remove the extra vars file %s: %s",
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
void
jobs_job_remove_spec_files(const struct job_spec *spec)
{
	for (size_t i = 0; spec->steps != NULL && spec->nsteps <= JOBS_MAX_STEPS &&
	    i < spec->nsteps; i++)
		unlink_step_files(&spec->steps[i]);
	unlink_step_files(spec->failure_step);
}

void
jobs_job_free(struct job *job)
{
	if (job == NULL)
		return;
	jobs_job_remove_files(job);
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

void
jobs_job_log(struct job *job, const char *fmt, ...)
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

/* The spec's steps and failure step into the job. 0, -EINVAL, -ENOMEM. */
static int
copy_steps(struct job *job, const struct job_spec *spec)
{
	int r;

	for (size_t i = 0; i < spec->nsteps; i++) {
		r = step_copy(&job->steps[i], &spec->steps[i]);
		if (r < 0)
			return r;
		job->nsteps++;
	}
	if (spec->failure_step != NULL) {
		r = step_copy(&job->failure, spec->failure_step);
		if (r < 0)
			return r;
		job->has_failure = true;
	}
	return 0;
}

int
jobs_job_new(const struct job_spec *spec, struct job **ret)
{
	struct job *job;
	int r;

	if (spec->log_path == NULL || spec->log_path[0] == '\0' ||
	    spec->steps == NULL || spec->nsteps == 0 || spec->nsteps > JOBS_MAX_STEPS ||
	    spec->timeout_s < 0 || spec->timeout_s > LLONG_MAX / 2000)
		return -EINVAL;
	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return -ENOMEM;
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
	if ((r = copy_steps(job, spec)) < 0)
		goto fail;
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
	*ret = job;
	return 0;
fail:
	/* The files are the spec's: the caller removes them, or not. */
	jobs_job_forget_files(job);
	jobs_job_free(job);
	return r;
}

int
jobs_job_open_log(struct job *job)
{
	int fd, r;

	job->log_fd = open(job->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (job->log_fd < 0)
		return -errno;
	if (job->log_fd < 3) {
		/* A daemon with closed stdio: keep 0-2 free for the child's own. */
		fd = fcntl(job->log_fd, F_DUPFD_CLOEXEC, 3);
		r = fd < 0 ? -errno : 0;
		close(job->log_fd);
		job->log_fd = fd;
		if (r < 0)
			return r;
	}
	return 0;
}
