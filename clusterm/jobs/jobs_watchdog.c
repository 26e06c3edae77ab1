/*
 * The watchdog: a thread of its own that ends the runner's processes once
 * the deadline (jobs_set_deadline) has passed, whatever the runner thread
 * is doing (a callback may wait on a store that does not answer).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "jobs_impl.h"

/* Sleeps ms on the watchdog's condition; true when it is to stop. */
static bool
nap(struct jobs *j, long ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->wd_mu);
	if (!j->wd_stop)
		pthread_cond_timedwait(&j->wd_cv, &j->wd_mu, &ts);
	stop = j->wd_stop;
	pthread_mutex_unlock(&j->wd_mu);
	return stop;
}

/*
 * The deadline has passed: SIGTERM to every running step's group (once),
 * SIGKILL to those still there after the grace. The runner reaps only
 * under the lock, so a group id held here is still the job's.
 */
static void
end_all(struct jobs *j, long long now)
{
	bool woke = false;

	pthread_mutex_lock(&j->lock);
	for (struct job *job = j->head; job != NULL; job = job->next) {
		if (job->done || job->pid <= 0)
			continue;
		if (job->term == TERM_NONE) {
			job->out.stopped = true;
			job->abandon_req = true;
			jobs_terminate(j, job, TERM_LEASE, now);
			woke = true;
		} else if (job->kill_at > 0 && now >= job->kill_at) {
			jobs_job_log(job, "sending SIGKILL to process group %ld", (long)job->pid);
			(void)kill(-job->pid, SIGKILL);
			job->kill_at = 0;
		}
	}
	if (woke) {
		uint64_t one = 1;

		if (write(j->wake_fd, &one, sizeof(one)) < 0)
			woke = false;	/* a full counter wakes the runner all the same */
	}
	pthread_mutex_unlock(&j->lock);
}

void *
jobs_watchdog_main(void *arg)
{
	struct jobs *j = arg;

	while (!nap(j, JOBS_WATCHDOG_MS)) {
		long long d = jobs_deadline_now(j), now = fsio_mono_ms();

		if (d != JOBS_NO_DEADLINE && now >= d)
			end_all(j, now);
	}
	return NULL;
}
