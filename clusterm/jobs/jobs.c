/*
 * The job runner's interface: start, submit, cancel, status, stop. The
 * runner thread is in jobs_runner.c, a step's process in jobs_child.c, a
 * job's copy of its spec in jobs_job.c, what a previous run left in
 * jobs_proc.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "jobs_impl.h"

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
wake(struct jobs *j)
{
	uint64_t one = 1;

	/* A full counter already means "wake up"; nothing to retry. */
	if (write(j->wake_fd, &one, sizeof(one)) < 0)
		return;
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
	r = pthread_create(&j->thread, NULL, jobs_runner_main, j);
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


/* Queued and running jobs against the limits: 0, -ESHUTDOWN, -EEXIST, -EBUSY. Lock held. */
static int
admit(struct jobs *j, uint64_t id)
{
	unsigned running = 0, queued = 0;

	if (j->stopping)
		return -ESHUTDOWN;
	if (find(j, id) != NULL)
		return -EEXIST;
	for (struct job *o = j->head; o != NULL; o = o->next) {
		if (o->done)
			continue;
		if (o->state == JOB_QUEUED)
			queued++;
		else
			running++;
	}
	if (running + queued >= j->max_jobs + j->max_queued)
		return -EBUSY;
	return 0;
}

int
jobs_submit(struct jobs *j, const struct job_spec *spec)
{
	struct job *job, **pp;
	int r;

	if (spec == NULL)
		return -EINVAL;
	r = jobs_job_new(spec, &job);
	if (r < 0) {
		jobs_job_remove_spec_files(spec);
		return r;
	}
	pthread_mutex_lock(&j->lock);
	if ((r = admit(j, spec->id)) < 0)
		goto fail;
	/* Opened under the lock so that a refused job leaves no new file. */
	if ((r = jobs_job_open_log(job)) < 0)
		goto fail;
	for (pp = &j->head; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = job;
	jobs_job_log(job, "queued: %zu step(s)%s, timeout %ld s", job->nsteps,
	    job->has_failure ? " and a failure step" : "", job->timeout_s);
	wake(j);
	pthread_mutex_unlock(&j->lock);
	return 0;
fail:
	pthread_mutex_unlock(&j->lock);
	if (r == -EEXIST) {
		/* The files may be the running job's of that id: not ours to remove. */
		jobs_job_forget_files(job);
	} else {
		jobs_job_remove_spec_files(spec);
	}
	jobs_job_free(job);
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

int
jobs_abandon(struct jobs *j)
{
	int n = 0;

	pthread_mutex_lock(&j->lock);
	for (struct job *job = j->head; job != NULL; job = job->next)
		if (!job->done) {
			job->abandon_req = true;
			n++;
		}
	if (n > 0)
		wake(j);
	pthread_mutex_unlock(&j->lock);
	return n;
}

int
jobs_set_deadline(struct jobs *j, jobs_deadline_fn fn, void *arg)
{
	pthread_condattr_t ca;
	int r;

	if (j->watchdog_on || fn == NULL)
		return -EINVAL;
	pthread_mutex_lock(&j->lock);
	j->deadline_fn = fn;
	j->deadline_arg = arg;
	pthread_mutex_unlock(&j->lock);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->wd_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&j->wd_mu, NULL);
	r = pthread_create(&j->watchdog, NULL, jobs_watchdog_main, j);
	if (r != 0) {
		pthread_cond_destroy(&j->wd_cv);
		pthread_mutex_destroy(&j->wd_mu);
		return -r;
	}
	j->watchdog_on = true;
	return 0;
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
	if (j->watchdog_on) {
		pthread_mutex_lock(&j->wd_mu);
		j->wd_stop = true;
		pthread_cond_broadcast(&j->wd_cv);
		pthread_mutex_unlock(&j->wd_mu);
		pthread_join(j->watchdog, NULL);
		pthread_cond_destroy(&j->wd_cv);
		pthread_mutex_destroy(&j->wd_mu);
	}
	pthread_mutex_destroy(&j->lock);
	close(j->wake_fd);
	free(j);
}
