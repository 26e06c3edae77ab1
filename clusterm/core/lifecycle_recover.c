/* Recovery at start: ends what jobs of a previous run left (process groups, files, records). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ansible.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "log.h"
#include "state_impl.h"


/* A job a previous run left active, and the group of its latest step. */
struct orphan {
	uint64_t id;
	int pgid, sid;
	unsigned long long start_ticks;
	bool same_boot;
	bool signalled;		/* SIGTERM sent, not seen gone yet */
};

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits up to ms for the signalled groups to go; returns how many are left. */
static size_t
wait_gone(struct orphan *v, size_t n, long ms, const char *how)
{
	long long deadline = fsio_mono_ms() + ms;
	size_t left;

	for (;;) {
		left = 0;
		for (size_t i = 0; i < n; i++) {
			if (!v[i].signalled)
				continue;
			if (jobs_group_check(&jobs_procfs_real, v[i].pgid, v[i].sid,
			    v[i].start_ticks) == 1) {
				left++;
				continue;
			}
			v[i].signalled = false;
			log_warn("job %llu: killed process group %d that the previous run left "
			    "running (%s)", (unsigned long long)v[i].id, v[i].pgid, how);
		}
		if (left == 0 || fsio_mono_ms() >= deadline)
			return left;
		nap_ms(LC_ORPHAN_POLL_MS);
	}
}

/*
 * Ends the process groups that jobs of a previous run left: SIGTERM to each
 * group that is still the job's (same boot, start time: jobs_group_check),
 * up to LC_ORPHAN_WAIT_MS for them to go, then SIGKILL.
 */
static void
end_orphans(struct orphan *v, size_t n)
{
	size_t left = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (v[i].pgid <= 0)
			continue;	/* never started */
		if (!v[i].same_boot) {
			log_info("job %llu: process group %d was of an earlier boot",
			    (unsigned long long)v[i].id, v[i].pgid);
			continue;
		}
		rc = jobs_group_signal(&jobs_procfs_real, v[i].pgid, v[i].sid, v[i].start_ticks,
		    SIGTERM);
		if (rc < 0)
			log_error("job %llu: cannot look for process group %d: %s",
			    (unsigned long long)v[i].id, v[i].pgid, strerror(-rc));
		else if (rc > 0) {
			log_warn("job %llu: process group %d of the previous run still runs: "
			    "SIGTERM", (unsigned long long)v[i].id, v[i].pgid);
			v[i].signalled = true;
			left++;
		}
	}
	if (left == 0)
		return;
	if (wait_gone(v, n, LC_ORPHAN_WAIT_MS, "SIGTERM") == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!v[i].signalled)
			continue;
		log_warn("job %llu: process group %d still runs %d ms after SIGTERM: SIGKILL",
		    (unsigned long long)v[i].id, v[i].pgid, LC_ORPHAN_WAIT_MS);
		if (jobs_group_signal(&jobs_procfs_real, v[i].pgid, v[i].sid, v[i].start_ticks,
		    SIGKILL) <= 0)
			v[i].signalled = false;
	}
	if (wait_gone(v, n, LC_ORPHAN_WAIT_MS, "SIGKILL") > 0)
		log_error("process groups of the previous run are still there after SIGKILL");
}

/* Removes every extra-vars file in the jobs dir (at start, before any job runs). */
static void
sweep_vars_files(const char *dir)
{
	size_t sl = strlen(ANSIBLE_VARS_SUFFIX);
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l <= sl || strcmp(de->d_name + l - sl, ANSIBLE_VARS_SUFFIX) != 0)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("%s/%s: extra-vars file of an interrupted job removed", dir,
			    de->d_name);
		else
			log_warn("%s/%s: cannot remove: %s", dir, de->d_name, strerror(errno));
	}
	closedir(d);
}

static int recover_with(struct lifecycle *lc, const char *why, bool at_start);

int
lifecycle_recover(struct lifecycle *lc)
{
	return recover_with(lc, "clusterm restarted", true);
}

int
lifecycle_takeover(struct lifecycle *lc)
{
	return recover_with(lc, "the leader that ran it stopped leading", false);
}

static int
recover_with(struct lifecycle *lc, const char *why, bool at_start)
{
	struct state *s = lc->s;
	struct orphan *v = NULL;
	size_t n = 0;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	if (s->njobs > 0 && (v = calloc(s->njobs, sizeof(*v))) == NULL)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < s->njobs; i++) {
		const struct job_rec *j = s->jobs[i];
		/* A takeover's own jobs (a flap) are the runner's, not orphans. */
		if (!lifecycle_is_active(j) || lifecycle_running(lc, j->id))
			continue;
		v[n].id = j->id;
		v[n].pgid = j->pgid;
		v[n].sid = j->sid;
		v[n].start_ticks = j->start_ticks;
		v[n].same_boot = lc->boot_id[0] != '\0' && strcmp(j->boot_id, lc->boot_id) == 0;
		n++;
	}
	pthread_rwlock_unlock(&s->lock);
	/* Before the failure path moves the nodes: nothing of the old run touches them. */
	if (rc == 0)
		end_orphans(v, n);
	/*
	 * At a start no job runs yet: extra-vars files left by a crash hold
	 * secrets of nobody's. (At a takeover the runner may hold jobs.)
	 */
	if (rc == 0 && at_start)
		sweep_vars_files(lc->jobs_dir);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = lifecycle_submit_end(s, v[i].id, false, -1, why, 0, 0);
	free(v);
	return rc < 0 ? rc : (int)n;
}

