/* The runner thread: advances every job, times, kills and reaps its steps. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsio.h"
#include "jobs_impl.h"

/* Ends the job: the outcome is final, the callback is due. */
static void
job_finish(struct job *job, enum job_state st)
{
	job->out.state = st;
	job->out.end_ms = fsio_now_ms();
	jobs_job_remove_files(job);
	if (st == JOB_COMPLETE)
		jobs_job_log(job, "Complete");
	else
		jobs_job_log(job, "Errored: %s", job->out.error);
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

long long
jobs_deadline_now(struct jobs *j)
{
	return j->deadline_fn != NULL ? j->deadline_fn(j->deadline_arg) : JOBS_NO_DEADLINE;
}

/*
 * Whether a process may start now (the deadline has not passed); else the
 * job ends Errored, stopped, with why in its log. Lock held.
 */
static bool
may_start(struct jobs *j, struct job *job, long long *ret_not_after)
{
	long long d = jobs_deadline_now(j);

	*ret_not_after = d;
	if (d == JOBS_NO_DEADLINE || fsio_mono_ms() < d)
		return true;
	jobs_job_log(job, "this instance no longer leads: nothing more of the job starts here");
	set_error(job, "the instance that ran it stopped leading");
	job->out.stopped = true;
	job->cur = -1;
	job_finish(job, JOB_ERRORED);
	return false;
}

/* Starts the failure step, or ends the job Errored when there is none. */
static void
run_failure(struct jobs *j, struct job *job, long long now)
{
	long long not_after;
	int r;

	job->cur = -1;
	if (!job->has_failure || job->out.stopped) {
		job_finish(job, JOB_ERRORED);
		return;
	}
	if (!may_start(j, job, &not_after))
		return;
	job->in_failure = true;
	jobs_job_log(job, "failure step (%s): %s", job->failure.title, job->failure.argv[0]);
	r = jobs_child_spawn(job, &job->failure, not_after);
	if (r == -ETIME) {
		(void)may_start(j, job, &not_after);
		if (!job->done)
			job_finish(job, JOB_ERRORED);
		return;
	}
	if (r < 0) {
		jobs_job_log(job, "failure step (%s) could not start: %s", job->failure.title,
		    strerror(-r));
		job_finish(job, JOB_ERRORED);
		return;
	}
	job->out.failure_step_ran = true;
	job->deadline = job->timeout_s > 0 ? now + job->timeout_s * 1000 : 0;
}

/* Starts main step i (or, past the last, completes the job). */
static void
run_step(struct jobs *j, struct job *job, size_t i, long long now)
{
	long long not_after;
	int r;

	if (i >= job->nsteps) {
		job->cur = -1;
		job_finish(job, JOB_COMPLETE);
		return;
	}
	if (!may_start(j, job, &not_after))
		return;
	job->cur = (int)i;
	jobs_job_log(job, "step %zu/%zu (%s): %s", i + 1, job->nsteps, job->steps[i].title,
	    job->steps[i].argv[0]);
	r = jobs_child_spawn(job, &job->steps[i], not_after);
	if (r == -ETIME) {
		/* The child saw the deadline pass before its exec. */
		(void)may_start(j, job, &not_after);
		if (!job->done) {
			set_error(job, "the instance that ran it stopped leading");
			job->out.stopped = true;
			job_finish(job, JOB_ERRORED);
		}
		return;
	}
	if (r < 0) {
		jobs_job_log(job, "step %zu/%zu (%s) could not start: %s", i + 1, job->nsteps,
		    job->steps[i].title, strerror(-r));
		set_error(job, "step %zu (%s) could not start %s: %s", i + 1,
		    job->steps[i].title, job->steps[i].argv[0], strerror(-r));
		job->out.failed_step = (int)i;
		job->out.exit_code = -1;
		run_failure(j, job, now);
	}
}

static void
start_job(struct jobs *j, struct job *job, long long now)
{
	job->state = JOB_RUNNING;
	job->out.start_ms = fsio_now_ms();
	job->deadline = job->timeout_s > 0 ? now + job->timeout_s * 1000 : 0;
	run_step(j, job, 0, now);
}

void
jobs_terminate(struct jobs *j, struct job *job, enum term why, long long now)
{
	bool quick = why == TERM_STOP || why == TERM_LEASE;

	if (job->pid <= 0 || job->term != TERM_NONE)
		return;
	job->term = why;
	jobs_job_log(job, "%s: sending SIGTERM to process group %ld",
	    why == TERM_TIMEOUT ? "timed out" : why == TERM_CANCEL ? "cancelled" :
	    why == TERM_LEASE ? "this instance no longer leads" : "stopping", (long)job->pid);
	(void)kill(-job->pid, SIGTERM);
	job->kill_at = now + (quick && j->grace_ms > JOBS_STOP_GRACE_MS ?
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
step_ended(struct jobs *j, struct job *job, int st, long long now)
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
			jobs_job_log(job, "failure step (%s) was killed by signal %d",
			    job->failure.title, sig);
		else
			jobs_job_log(job, "failure step (%s) exited with status %d",
			    job->failure.title, code);
		job_finish(job, JOB_ERRORED);
		return;
	}

	title = job->steps[job->cur].title;
	if (sig != 0)
		jobs_job_log(job, "step %d/%zu (%s) was killed by signal %d", job->cur + 1,
		    job->nsteps, title, sig);
	else
		jobs_job_log(job, "step %d/%zu (%s) exited with status %d", job->cur + 1,
		    job->nsteps, title, code);

	if (why == TERM_NONE && code == 0) {
		run_step(j, job, (size_t)job->cur + 1, now);
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
	case TERM_LEASE:
		set_error(job, "the instance that ran it stopped leading during step %d (%s)",
		    job->cur + 1, title);
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
	run_failure(j, job, now);
}

/*
 * Reaps the job's step if its leader has exited. The group is swept with
 * SIGKILL first, while the unreaped leader still pins the group id, so
 * the kill cannot reach a process that reused the id.
 */
static void
check_exit(struct jobs *j, struct job *job, long long now)
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
		step_ended(j, job, 0xff00, now);
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
	step_ended(j, job, st, now);
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
			if (j->stopping || job->abandon_req || job->cancel_req) {
				job->out.stopped = j->stopping || job->abandon_req;
				job->out.cancelled = job->cancel_req;
				set_error(job, j->stopping || job->abandon_req ?
				    "clusterm stopped before the job started" :
				    "the job was cancelled before it started");
				job_finish(job, JOB_ERRORED);
			}
			continue;
		}
		check_exit(j, job, now);
		if (job->done)
			continue;
		if ((j->stopping || job->abandon_req) && !job->out.stopped) {
			job->out.stopped = true;
			jobs_terminate(j, job, TERM_STOP, now);
		}
		if (job->cancel_req) {
			job->cancel_req = false;
			job->out.cancelled = true;
			jobs_terminate(j, job, TERM_CANCEL, now);
		}
		if (job->deadline > 0 && now >= job->deadline && job->term == TERM_NONE) {
			job->out.timed_out = true;
			jobs_terminate(j, job, TERM_TIMEOUT, now);
		}
		if (job->kill_at > 0 && now >= job->kill_at && job->pid > 0) {
			jobs_job_log(job, "sending SIGKILL to process group %ld", (long)job->pid);
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
		start_job(j, job, now);
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
 * Calls the start callback for the due step starts, then the done callback
 * for the finished jobs (freeing them), outside the lock. Whether it called
 * any: the caller goes round again (a slot may be free now). Lock held.
 */
static bool
call_back(struct jobs *j)
{
	struct job_start starts[JOBS_START_BATCH];
	struct job *done;
	size_t n;

	/* Starts first: a job's start is told before its end. */
	n = take_starts(j, starts, JOBS_START_BATCH);
	if (n > 0 && j->on_start != NULL) {
		pthread_mutex_unlock(&j->lock);
		for (size_t i = 0; i < n; i++)
			j->on_start(starts[i].id, &starts[i].p, starts[i].ms, j->arg);
		pthread_mutex_lock(&j->lock);
		return true;
	}
	done = take_done(j);
	if (done == NULL)
		return false;
	pthread_mutex_unlock(&j->lock);
	while (done != NULL) {
		struct job *next = done->next;

		if (j->on_done != NULL)
			j->on_done(&done->out, j->arg);
		jobs_job_free(done);
		done = next;
	}
	pthread_mutex_lock(&j->lock);
	return true;
}

/* The poll set: the wake eventfd, then the children's pidfds. */
struct pollset {
	struct pollfd *pfd;	/* grown as needed, freed at the end */
	size_t cap;
	struct pollfd one;	/* the set when pfd cannot be had */
};

/*
 * Fills ps with the descriptors to wait on; returns the set and its count
 * in *ret_n, and shortens *timeout when some child cannot be waited on.
 * Lock held.
 */
static struct pollfd *
pollset_fill(struct jobs *j, struct pollset *ps, size_t *ret_n, int *timeout)
{
	struct pollfd *set;
	size_t n = 0, cap;

	for (struct job *job = j->head; job != NULL; job = job->next)
		n++;
	if (n + 1 > ps->cap) {
		struct pollfd *p = realloc(ps->pfd, (n + 1) * sizeof(*p));

		if (p != NULL) {
			ps->pfd = p;
			ps->cap = n + 1;
		}
	}
	set = ps->cap > 0 ? ps->pfd : &ps->one;
	cap = ps->cap > 0 ? ps->cap : 1;
	n = 0;
	set[n++] = (struct pollfd){ .fd = j->wake_fd, .events = POLLIN };
	for (struct job *job = j->head; job != NULL; job = job->next) {
		if (job->pid <= 0 || job->pidfd < 0)
			continue;
		if (n == cap) {
			/* Out of memory for the set: check the rest by polling. */
			if (*timeout < 0 || *timeout > JOBS_POLL_FALLBACK_MS)
				*timeout = JOBS_POLL_FALLBACK_MS;
			break;
		}
		set[n++] = (struct pollfd){ .fd = job->pidfd, .events = POLLIN };
	}
	*ret_n = n;
	return set;
}

/*
 * The runner thread: advances every job, calls callbacks outside the lock,
 * then sleeps in poll() on the wake eventfd and the children's pidfds until
 * the next deadline.
 */
void *
jobs_runner_main(void *arg)
{
	struct jobs *j = arg;
	struct pollset ps = { 0 };

	pthread_mutex_lock(&j->lock);
	for (;;) {
		struct pollfd *set;
		size_t n;
		int timeout;
		long long now = fsio_mono_ms();

		advance(j, now);
		if (call_back(j))
			continue;
		if (j->stopping && j->head == NULL)
			break;
		timeout = next_timeout(j, now);
		set = pollset_fill(j, &ps, &n, &timeout);
		pthread_mutex_unlock(&j->lock);
		if (poll(set, n, timeout) > 0 && (set[0].revents & POLLIN)) {
			uint64_t v;
			ssize_t got = read(j->wake_fd, &v, sizeof(v));

			(void)got;	/* EAGAIN: nothing pending; either way we go round */
		}
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	free(ps.pfd);
	return NULL;
}
