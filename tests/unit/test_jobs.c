/*
 * Unit tests: the job runner with /bin/sh scripts as steps (success,
 * failure, timeout, cancel, max_jobs, shutdown, no zombies), and one run of
 * the real ansible-playbook on tests/playbooks with connection local.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clusterm/jobs/ansible.h"
#include "clusterm/jobs/jobs.h"
#include "fsio.h"

#define WAIT_MS		15000	/* bound of every wait in these tests */
#define GRACE_MS	300	/* SIGTERM -> SIGKILL in these tests */
#define MAX_OUTCOMES	64

static const char *const test_env[] = { "PATH=/usr/bin:/bin", "LANG=C", NULL };

/* Outcomes collected from the runner's callback. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job_outcome o[MAX_OUTCOMES];
	size_t n;
	unsigned calls_per_id[64];
} col = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { { 0 } }, 0, { 0 } };

static char tmp[64];

static void
on_done(const struct job_outcome *o, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&col.lock);
	if (col.n < MAX_OUTCOMES)
		col.o[col.n++] = *o;
	if (o->id < 64)
		col.calls_per_id[o->id]++;
	pthread_cond_broadcast(&col.cond);
	pthread_mutex_unlock(&col.lock);
}

/* Waits (bounded) for job id's outcome and copies it. */
static void
wait_outcome(uint64_t id, struct job_outcome *ret)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&col.lock);
	for (;;) {
		for (size_t i = 0; i < col.n; i++) {
			if (col.o[i].id == id) {
				*ret = col.o[i];
				pthread_mutex_unlock(&col.lock);
				return;
			}
		}
		if (pthread_cond_timedwait(&col.cond, &col.lock, &ts) == ETIMEDOUT) {
			pthread_mutex_unlock(&col.lock);
			ck_abort_msg("no outcome for job %llu within %d ms", (unsigned long long)id,
			    WAIT_MS);
		}
	}
}

static void
setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/test_jobs.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	pthread_mutex_lock(&col.lock);
	col.n = 0;
	memset(col.calls_per_id, 0, sizeof(col.calls_per_id));
	pthread_mutex_unlock(&col.lock);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes the temp dir and what the test (or ansible) left in it. */
static void
teardown(void)
{
	ck_assert_int_eq(nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* tmp/<name> into buf. */
static const char *
tpath(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tmp, name);

	ck_assert(n > 0 && (size_t)n < len);
	return buf;
}

/* Writes an executable /bin/sh script tmp/<name> from a format. */
static void
script(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
script(const char *name, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	FILE *f;

	f = fopen(tpath(path, sizeof(path), name), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0700), 0);
}

/* Reads a whole (small) file, "" when missing. */
static char *
slurp(const char *path)
{
	char *buf = NULL;
	size_t len;

	if (fsio_read_file(path, 1 << 20, &buf, &len) < 0)
		return strdup("");
	return buf;
}

static bool
exists(const char *name)
{
	char path[PATH_MAX];

	return access(tpath(path, sizeof(path), name), F_OK) == 0;
}

/* Polls (bounded) until tmp/<name> exists. */
static void
wait_file(const char *name)
{
	long long end = fsio_mono_ms() + WAIT_MS;
	struct timespec ts = { 0, 5 * 1000000L };

	while (!exists(name)) {
		ck_assert_msg(fsio_mono_ms() < end, "%s did not appear", name);
		nanosleep(&ts, NULL);
	}
}

/* Reads a pid written by a script into tmp/<name>. */
static pid_t
read_pid(const char *name)
{
	char path[PATH_MAX], *s, *end;
	long v;

	wait_file(name);
	/* The script writes "pid\n" with one write; wait for the newline. */
	for (long long stop = fsio_mono_ms() + WAIT_MS;; ) {
		s = slurp(tpath(path, sizeof(path), name));
		if (strchr(s, '\n') != NULL)
			break;
		free(s);
		ck_assert(fsio_mono_ms() < stop);
	}
	errno = 0;
	v = strtol(s, &end, 10);
	ck_assert(errno == 0 && end != s && v > 1 && v < INT_MAX);
	free(s);
	return (pid_t)v;
}

static struct jobs *
start_runner(unsigned max_jobs, unsigned max_queued)
{
	struct jobs_conf conf = { .max_jobs = max_jobs, .max_queued = max_queued,
	    .kill_grace_ms = GRACE_MS, .on_done = on_done, .arg = NULL };
	struct jobs *j = NULL;

	ck_assert_int_eq(jobs_start(&conf, &j), 0);
	ck_assert_ptr_nonnull(j);
	return j;
}

/* A step running tmp/<name> (a script) with test_env. */
struct sstep {
	const char *argv[3];
	char path[PATH_MAX];
	struct job_step step;
};

static void
sstep_init(struct sstep *s, const char *title, const char *name)
{
	tpath(s->path, sizeof(s->path), name);
	s->argv[0] = s->path;
	s->argv[1] = NULL;
	s->step = (struct job_step){ .title = title, .argv = s->argv, .envp = test_env };
}

static int
submit(struct jobs *j, uint64_t id, const struct job_step *steps, size_t n,
    const struct job_step *failure, long timeout_s)
{
	char log[PATH_MAX], name[32];
	struct job_spec spec = { .id = id, .steps = steps, .nsteps = n,
	    .failure_step = failure, .timeout_s = timeout_s };

	snprintf(name, sizeof(name), "%llu.log", (unsigned long long)id);
	spec.log_path = tpath(log, sizeof(log), name);
	return jobs_submit(j, &spec);
}

static char *
job_log(uint64_t id)
{
	char path[PATH_MAX], name[32];

	snprintf(name, sizeof(name), "%llu.log", (unsigned long long)id);
	return slurp(tpath(path, sizeof(path), name));
}

/* No child of this process is left: nothing to reap, no zombie. */
static void
assert_no_children(void)
{
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

/* Polls (bounded) until the job is running a process; returns its pid. */
static pid_t
wait_running(struct jobs *j, uint64_t id)
{
	long long end = fsio_mono_ms() + WAIT_MS;
	struct timespec ts = { 0, 5 * 1000000L };
	struct job_status st;

	for (;;) {
		ck_assert_int_eq(jobs_status(j, id, &st), 0);
		if (st.state == JOB_RUNNING && st.pid > 0)
			return st.pid;
		ck_assert(fsio_mono_ms() < end);
		nanosleep(&ts, NULL);
	}
}

START_TEST(test_success)
{
	struct jobs *j = start_runner(1, 0);
	struct sstep s1, s2, fail;
	struct job_step steps[2];
	struct job_outcome o;
	struct stat st;
	char path[PATH_MAX], *log;

	script("one.sh", "echo out-one\necho err-one >&2\n");
	script("two.sh", "echo out-two\n");
	script("fail.sh", "touch %s/failure-ran\n", tmp);
	sstep_init(&s1, "first", "one.sh");
	sstep_init(&s2, "second", "two.sh");
	sstep_init(&fail, "cleanup", "fail.sh");
	steps[0] = s1.step;
	steps[1] = s2.step;
	ck_assert_int_eq(submit(j, 1, steps, 2, &fail.step, 30), 0);
	ck_assert_int_eq(submit(j, 1, steps, 2, NULL, 30), -EEXIST);
	wait_outcome(1, &o);
	ck_assert_int_eq(o.state, JOB_COMPLETE);
	ck_assert_str_eq(o.error, "");
	ck_assert_int_eq(o.failed_step, -1);
	ck_assert(!o.failure_step_ran && !o.timed_out && !o.cancelled && !o.stopped);
	ck_assert(o.start_ms > 0 && o.end_ms >= o.start_ms);
	ck_assert(!exists("failure-ran"));
	ck_assert(!jobs_is_running(j, 1));
	ck_assert_int_eq(jobs_status(j, 1, &(struct job_status){ 0 }), -ENOENT);

	log = job_log(1);
	ck_assert_ptr_nonnull(strstr(log, "step 1/2 (first)"));
	ck_assert_ptr_nonnull(strstr(log, "out-one\nerr-one\n"));
	ck_assert_ptr_nonnull(strstr(log, "step 1/2 (first) exited with status 0"));
	ck_assert_ptr_nonnull(strstr(log, "step 2/2 (second)"));
	ck_assert_ptr_nonnull(strstr(log, "out-two\n"));
	ck_assert_ptr_nonnull(strstr(log, "job 1 Complete\n"));
	ck_assert(strstr(log, "out-one") < strstr(log, "out-two"));
	free(log);
	ck_assert_int_eq(stat(tpath(path, sizeof(path), "1.log"), &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);

	jobs_stop(j);
	ck_assert_int_eq(col.calls_per_id[1], 1);
	assert_no_children();
}
END_TEST

START_TEST(test_failure_runs_failure_step)
{
	struct jobs *j = start_runner(1, 0);
	struct sstep s1, s2, fail;
	struct job_step steps[2];
	struct job_outcome o;
	char *log;

	script("bad.sh", "echo about to fail\nexit 3\n");
	script("never.sh", "touch %s/never\n", tmp);
	script("fail.sh", "echo cleaning\ntouch %s/failure-ran\nexit 4\n", tmp);
	sstep_init(&s1, "configure", "bad.sh");
	sstep_init(&s2, "later", "never.sh");
	sstep_init(&fail, "cleanup", "fail.sh");
	steps[0] = s1.step;
	steps[1] = s2.step;
	ck_assert_int_eq(submit(j, 2, steps, 2, &fail.step, 30), 0);
	wait_outcome(2, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert_int_eq(o.failed_step, 0);
	ck_assert_int_eq(o.exit_code, 3);
	ck_assert_int_eq(o.signal, 0);
	ck_assert_str_eq(o.error, "step 1 (configure) exited with status 3");
	ck_assert(o.failure_step_ran);
	ck_assert_int_eq(o.failure_exit_code, 4);
	ck_assert(!o.timed_out && !o.cancelled);
	ck_assert(exists("failure-ran"));
	ck_assert(!exists("never"));
	log = job_log(2);
	ck_assert_ptr_nonnull(strstr(log, "about to fail\n"));
	ck_assert_ptr_nonnull(strstr(log, "failure step (cleanup)"));
	ck_assert_ptr_nonnull(strstr(log, "cleaning\n"));
	ck_assert_ptr_nonnull(strstr(log, "failure step (cleanup) exited with status 4"));
	ck_assert_ptr_nonnull(strstr(log, "Errored: step 1 (configure) exited with status 3"));
	free(log);
	jobs_stop(j);
	assert_no_children();
}
END_TEST

/*
 * Timeout: the step spawns a sleeping grandchild; both must die. With
 * ignore_term the whole group ignores SIGTERM, so only the SIGKILL after
 * the grace ends it.
 */
static void
timeout_case(bool ignore_term)
{
	struct jobs *j;
	struct sstep s1, fail;
	struct job_outcome o;
	long long t0;
	pid_t gc, leader, r;
	int st;
	char *log;

	/* Orphaned grandchildren come to this process, so their end can be waited for. */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	j = start_runner(1, 0);
	script("slow.sh", "%s\nsleep 300 &\necho $! > %s/gc.tmp && mv %s/gc.tmp %s/gc.pid\n"
	    "echo $$ > %s/leader.tmp && mv %s/leader.tmp %s/leader.pid\nwait\n",
	    ignore_term ? "trap '' TERM" : "", tmp, tmp, tmp, tmp, tmp, tmp);
	script("fail.sh", "touch %s/failure-ran\n", tmp);
	sstep_init(&s1, "configure", "slow.sh");
	sstep_init(&fail, "cleanup", "fail.sh");
	t0 = fsio_mono_ms();
	ck_assert_int_eq(submit(j, 3, &s1.step, 1, &fail.step, 1), 0);
	gc = read_pid("gc.pid");
	leader = read_pid("leader.pid");
	ck_assert_int_eq(getpgid(gc), leader);	/* the grandchild is in the step's group */
	wait_outcome(3, &o);
	ck_assert(fsio_mono_ms() - t0 >= 1000);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.timed_out);
	ck_assert_int_eq(o.signal, ignore_term ? SIGKILL : SIGTERM);
	ck_assert_int_eq(o.exit_code, -1);
	ck_assert_ptr_nonnull(strstr(o.error, "timed out after 1 s"));
	ck_assert(o.failure_step_ran);
	ck_assert_int_eq(o.failure_exit_code, 0);
	ck_assert(exists("failure-ran"));
	log = job_log(3);
	ck_assert_ptr_nonnull(strstr(log, "timed out: sending SIGTERM"));
	ck_assert(ignore_term == (strstr(log, "sending SIGKILL") != NULL));
	free(log);

	/* The grandchild was killed: it is (or becomes) our zombie, reaped here. */
	for (long long end = fsio_mono_ms() + WAIT_MS;; ) {
		r = waitpid(gc, &st, WNOHANG);
		if (r == gc)
			break;
		ck_assert_int_eq(r, 0);
		ck_assert_msg(fsio_mono_ms() < end, "grandchild %d still alive", (int)gc);
		nanosleep(&(struct timespec){ 0, 5 * 1000000L }, NULL);
	}
	ck_assert(WIFSIGNALED(st));
	ck_assert_int_eq(kill(gc, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	jobs_stop(j);
	assert_no_children();
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

START_TEST(test_timeout_kills_group)
{
	timeout_case(false);
}
END_TEST

START_TEST(test_timeout_sigkill_after_grace)
{
	timeout_case(true);
}
END_TEST

START_TEST(test_cancel)
{
	struct jobs *j = start_runner(1, 1);
	struct sstep s1, s2, fail;
	struct job_outcome o;
	struct job_status st;
	char logp[PATH_MAX];

	script("long.sh", "exec sleep 300\n");
	script("never.sh", "touch %s/never\n", tmp);
	script("fail.sh", "touch %s/failure-ran\n", tmp);
	sstep_init(&s1, "configure", "long.sh");
	sstep_init(&s2, "other", "never.sh");
	sstep_init(&fail, "cleanup", "fail.sh");
	ck_assert_int_eq(jobs_cancel(j, 4), -ENOENT);
	ck_assert_int_eq(submit(j, 4, &s1.step, 1, &fail.step, 0), 0);
	ck_assert_int_eq(submit(j, 5, &s2.step, 1, &fail.step, 0), 0);	/* queued */
	wait_running(j, 4);
	ck_assert_int_eq(jobs_status(j, 5, &st), 0);
	ck_assert_int_eq(st.state, JOB_QUEUED);
	ck_assert_int_eq(jobs_active(j), 2);
	ck_assert_int_eq(jobs_log_path(j, 4, logp, sizeof(logp)), 0);
	ck_assert_ptr_nonnull(strstr(logp, "/4.log"));
	ck_assert_int_eq(jobs_log_path(j, 4, logp, 4), -ENOBUFS);

	/* The queued job ends without running anything. */
	ck_assert_int_eq(jobs_cancel(j, 5), 0);
	wait_outcome(5, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.cancelled && !o.failure_step_ran);
	ck_assert_int_eq(o.start_ms, 0);
	ck_assert_str_eq(o.error, "the job was cancelled before it started");
	ck_assert(!exists("never"));

	ck_assert_int_eq(jobs_cancel(j, 4), 0);
	wait_outcome(4, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.cancelled && !o.timed_out);
	ck_assert_int_eq(o.signal, SIGTERM);
	ck_assert_str_eq(o.error, "the job was cancelled in step 1 (configure)");
	ck_assert(o.failure_step_ran);
	ck_assert(exists("failure-ran"));
	ck_assert_int_eq(jobs_cancel(j, 4), -ENOENT);
	ck_assert_int_eq(jobs_log_path(j, 4, logp, sizeof(logp)), -ENOENT);
	ck_assert_int_eq(jobs_active(j), 0);
	jobs_stop(j);
	ck_assert_int_eq(col.calls_per_id[4], 1);
	ck_assert_int_eq(col.calls_per_id[5], 1);
	assert_no_children();
}
END_TEST

START_TEST(test_max_jobs)
{
	struct jobs *j = start_runner(2, 1);
	struct sstep gate;
	struct job_outcome o;
	struct job_status st;
	char path[PATH_MAX];
	int fd;

	/* Each job notes that it runs, then waits (bounded) for the gate file. */
	script("gate.sh", "touch %s/running.$1\ni=0\nwhile [ ! -e %s/gate ] && [ $i -lt 600 ]; "
	    "do sleep 0.05; i=$((i+1)); done\n[ -e %s/gate ]\n", tmp, tmp, tmp);
	tpath(gate.path, sizeof(gate.path), "gate.sh");
	for (uint64_t id = 10; id < 14; id++) {
		char arg[8];
		const char *argv[] = { gate.path, arg, NULL };
		struct job_step s = { .title = "gated", .argv = argv, .envp = test_env };

		snprintf(arg, sizeof(arg), "%u", (unsigned)id);
		ck_assert_int_eq(submit(j, id, &s, 1, NULL, 60), id < 13 ? 0 : -EBUSY);
	}
	wait_file("running.10");
	wait_file("running.11");
	ck_assert_int_eq(jobs_status(j, 12, &st), 0);
	ck_assert_int_eq(st.state, JOB_QUEUED);
	ck_assert_int_eq(st.pid, 0);
	ck_assert(!exists("running.12"));
	ck_assert_int_eq(jobs_active(j), 3);
	ck_assert(jobs_is_running(j, 10) && jobs_is_running(j, 12));
	ck_assert_int_eq(access(tpath(path, sizeof(path), "13.log"), F_OK), -1);

	fd = open(tpath(path, sizeof(path), "gate"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	for (uint64_t id = 10; id < 13; id++) {
		wait_outcome(id, &o);
		ck_assert_int_eq(o.state, JOB_COMPLETE);
	}
	ck_assert(exists("running.12"));
	ck_assert_int_eq(jobs_active(j), 0);
	jobs_stop(j);
	assert_no_children();
}
END_TEST

START_TEST(test_stop_terminates)
{
	struct jobs *j = start_runner(1, 1);
	struct sstep s1, fail;
	struct job_outcome o;
	long long t0;

	script("long.sh", "sleep 300 &\nwait\n");
	script("fail.sh", "touch %s/failure-ran\n", tmp);
	sstep_init(&s1, "configure", "long.sh");
	sstep_init(&fail, "cleanup", "fail.sh");
	ck_assert_int_eq(submit(j, 20, &s1.step, 1, &fail.step, 0), 0);
	ck_assert_int_eq(submit(j, 21, &s1.step, 1, &fail.step, 0), 0);
	wait_running(j, 20);
	t0 = fsio_mono_ms();
	jobs_stop(j);
	ck_assert(fsio_mono_ms() - t0 < GRACE_MS + 2000);
	wait_outcome(20, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.stopped && !o.failure_step_ran);
	ck_assert_str_eq(o.error, "clusterm stopped during step 1 (configure)");
	wait_outcome(21, &o);
	ck_assert(o.stopped && o.start_ms == 0);
	ck_assert(!exists("failure-ran"));
	assert_no_children();
}
END_TEST

START_TEST(test_exec_env_fds)
{
	struct jobs *j = start_runner(1, 0);
	const char *nocmd[] = { "/nonexistent/cmd", NULL };
	const char *lookup[] = { "sh", "-c", "echo looked-up; env; ls /proc/self/fd; cat", NULL };
	const char *nopath_env[] = { "PATH=/nonexistent", NULL };
	const char *byname[] = { "true", NULL };
	struct job_step bad = { .title = "configure", .argv = nocmd, .envp = test_env };
	struct job_step ok = { .title = "env", .argv = lookup, .envp = test_env };
	struct job_step unfound = { .title = "x", .argv = byname, .envp = nopath_env };
	struct sstep fail;
	struct job_outcome o;
	char path[PATH_MAX], *log;
	int leak;

	/* A descriptor without O_CLOEXEC must not reach the child. */
	leak = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(leak, 3);
	setenv("LEAKED_VAR", "1", 1);
	script("fail.sh", "touch %s/failure-ran\n", tmp);
	sstep_init(&fail, "cleanup", "fail.sh");

	ck_assert_int_eq(submit(j, 30, &bad, 1, &fail.step, 10), 0);
	wait_outcome(30, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert_ptr_nonnull(strstr(o.error, "could not start /nonexistent/cmd"));
	ck_assert(o.failure_step_ran);
	ck_assert(exists("failure-ran"));

	ck_assert_int_eq(submit(j, 31, &unfound, 1, NULL, 10), 0);
	wait_outcome(31, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert_ptr_nonnull(strstr(o.error, "could not start true"));

	/* PATH lookup in the step's env, exact env, fds 0-2 only, stdin at EOF. */
	ck_assert_int_eq(submit(j, 32, &ok, 1, NULL, 10), 0);
	wait_outcome(32, &o);
	ck_assert_int_eq(o.state, JOB_COMPLETE);
	log = job_log(32);
	ck_assert_ptr_nonnull(strstr(log, "looked-up\n"));
	ck_assert_ptr_nonnull(strstr(log, "PATH=/usr/bin:/bin\n"));
	ck_assert_ptr_nonnull(strstr(log, "LANG=C\n"));
	ck_assert_ptr_null(strstr(log, "LEAKED_VAR"));
	ck_assert_ptr_nonnull(strstr(log, "\n0\n1\n2\n3\n---"));	/* 3 is ls's own dir */
	free(log);

	/* A log that cannot be created is refused at submit. */
	{
		struct job_spec spec = { .id = 33, .log_path = "/nonexistent/dir/33.log",
		    .steps = &ok, .nsteps = 1 };
		ck_assert_int_eq(jobs_submit(j, &spec), -ENOENT);
		spec.log_path = tpath(path, sizeof(path), "33.log");
		spec.nsteps = 0;
		ck_assert_int_eq(jobs_submit(j, &spec), -EINVAL);
		spec.nsteps = JOBS_MAX_STEPS + 1;
		ck_assert_int_eq(jobs_submit(j, &spec), -EINVAL);
		spec.nsteps = 1;
		spec.timeout_s = -1;
		ck_assert_int_eq(jobs_submit(j, &spec), -EINVAL);
	}
	close(leak);
	jobs_stop(j);
	assert_no_children();
}
END_TEST

/* A failure step that hangs is bounded too: by cancel, and by the timeout. */
START_TEST(test_failure_step_bounded)
{
	struct jobs *j = start_runner(2, 0);
	struct sstep bad, slow, hang;
	struct job_outcome o;
	struct job_status st;
	long long end;

	script("bad.sh", "exit 1\n");
	script("slow.sh", "exec sleep 300\n");
	script("hang.sh", "exec sleep 300\n");
	sstep_init(&bad, "configure", "bad.sh");
	sstep_init(&slow, "configure", "slow.sh");
	sstep_init(&hang, "cleanup", "hang.sh");

	ck_assert_int_eq(submit(j, 50, &bad.step, 1, &hang.step, 0), 0);
	ck_assert_int_eq(submit(j, 51, &slow.step, 1, &hang.step, 1), 0);
	end = fsio_mono_ms() + WAIT_MS;
	for (;;) {
		ck_assert_int_eq(jobs_status(j, 50, &st), 0);
		if (st.in_failure_step && st.pid > 0)
			break;
		ck_assert(fsio_mono_ms() < end);
		nanosleep(&(struct timespec){ 0, 5 * 1000000L }, NULL);
	}
	ck_assert_int_eq(st.step, -1);
	ck_assert_int_eq(jobs_cancel(j, 50), 0);
	wait_outcome(50, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert_str_eq(o.error, "step 1 (configure) exited with status 1");
	ck_assert(o.failure_step_ran && o.cancelled);
	ck_assert_int_eq(o.failure_signal, SIGTERM);
	ck_assert_int_eq(o.failure_exit_code, -1);

	/* 1 s in the step, then 1 s in the failure step. */
	wait_outcome(51, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.timed_out && o.failure_step_ran);
	ck_assert_int_eq(o.signal, SIGTERM);
	ck_assert_int_eq(o.failure_signal, SIGTERM);
	/* Wall-clock stamps vs monotonic deadlines: allow for rounding. */
	ck_assert(o.end_ms - o.start_ms >= 1900);
	jobs_stop(j);
	assert_no_children();
}
END_TEST

/* Many short jobs through a small runner: all end once, none left behind. */
START_TEST(test_many_jobs)
{
	struct jobs *j = start_runner(4, 40);
	struct sstep ok, bad;
	struct job_outcome o;

	char path[PATH_MAX];
	int fd;

	/* Held at a gate until all are submitted, so the bound is hit for sure. */
	script("ok.sh", "i=0\nwhile [ ! -e %s/gate ] && [ $i -lt 600 ]; do sleep 0.05; "
	    "i=$((i+1)); done\necho ok\n", tmp);
	script("bad.sh", "echo bad\nexit 7\n");
	sstep_init(&ok, "ok", "ok.sh");
	sstep_init(&bad, "bad", "bad.sh");
	for (uint64_t id = 0; id < 44; id++)
		ck_assert_int_eq(submit(j, id, id % 3 ? &ok.step : &bad.step, 1,
		    id % 3 ? NULL : &ok.step, 10), 0);
	ck_assert_int_eq(submit(j, 44, &ok.step, 1, NULL, 10), -EBUSY);
	fd = open(tpath(path, sizeof(path), "gate"), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	for (uint64_t id = 0; id < 44; id++) {
		wait_outcome(id, &o);
		ck_assert_int_eq(o.state, id % 3 ? JOB_COMPLETE : JOB_ERRORED);
		if (id % 3 == 0)
			ck_assert(o.exit_code == 7 && o.failure_step_ran && o.failure_exit_code == 0);
	}
	jobs_stop(j);
	for (uint64_t id = 0; id < 44; id++)
		ck_assert_int_eq(col.calls_per_id[id], 1);
	assert_no_children();
}
END_TEST

/* The runner waits on pidfds; this kernel must have pidfd_open (5.3+). */
START_TEST(test_pidfd_available)
{
	long fd = syscall(SYS_pidfd_open, getpid(), 0);

	ck_assert_msg(fd >= 0, "pidfd_open: %s (the runner falls back to polling every %d ms)",
	    strerror(errno), JOBS_POLL_FALLBACK_MS);
	close((int)fd);
}
END_TEST

START_TEST(test_log_path_make)
{
	char buf[64];

	ck_assert_int_eq(jobs_log_path_make("/var/lib/clusterm", 42, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/var/lib/clusterm/jobs/42.log");
	ck_assert_int_eq(jobs_log_path_make("/var/lib/clusterm", 42, buf, 10), -ENAMETOOLONG);
	ck_assert_str_eq(jobs_state_name(JOB_ERRORED), "Errored");
	ck_assert_str_eq(jobs_state_name(JOB_COMPLETE), "Complete");
}
END_TEST

/* tests/playbooks, from this file's path (relative to the build dir when relative). */
static bool
playbook_dir(char *buf, size_t len)
{
	char exe[PATH_MAX], src[PATH_MAX * 2], real[PATH_MAX], *d;
	ssize_t n;

	if (getenv("TEST_PLAYBOOK_DIR") != NULL) {
		snprintf(buf, len, "%s", getenv("TEST_PLAYBOOK_DIR"));
		return true;
	}
	if (__FILE__[0] == '/') {
		snprintf(src, sizeof(src), "%s", __FILE__);
	} else {
		/* build/tests/unit/test_jobs -> build */
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return false;
		exe[n] = '\0';
		d = dirname(dirname(dirname(exe)));
		snprintf(src, sizeof(src), "%s/%s", d, __FILE__);
	}
	if (realpath(src, real) == NULL)
		return false;
	d = dirname(dirname(real));	/* .../tests */
	snprintf(buf, len, "%s/playbooks", d);
	return access(buf, F_OK) == 0;
}

/* A command in this process's PATH, or false. */
static bool
in_path(const char *cmd)
{
	const char *p = getenv("PATH");
	char buf[PATH_MAX];

	while (p != NULL && *p != '\0') {
		size_t l = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)l, p, cmd);
		if (access(buf, X_OK) == 0)
			return true;
		p += l + (p[l] == ':');
	}
	return false;
}

/*
 * Builds one ansible step for playbook into cmd, on its own inventory
 * tmp/<inv_name> (so its own extra-vars file, which the job's end removes).
 */
static void
ansible_step(const struct ansible_conf *c, const char *inv_name, const char *playbook,
    const char *vars, const char *const *env, struct ansible_cmd *cmd, struct job_step *ret)
{
	const struct ansible_host hosts[] = { { "node1-SER1", "127.0.0.1" },
	    { "node2", "localhost" } };
	char err[256], inv[PATH_MAX];

	ck_assert_msg(ansible_inventory_write(tmp, inv_name, "service-master", hosts, 2, err,
	    sizeof(err)) == 0, "%s", err);
	tpath(inv, sizeof(inv), inv_name);
	ck_assert_msg(ansible_build_cmd(c, inv, playbook, vars, env, cmd, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(access(cmd->vars_path, F_OK), 0);
	*ret = (struct job_step){ .title = playbook, .argv = (const char *const *)cmd->argv,
	    .envp = (const char *const *)cmd->envp };
}

START_TEST(test_real_ansible)
{
	struct ansible_conf *c = malloc(sizeof(*c));
	struct ansible_cmd cmds[4] = { { 0 } };
	struct job_step steps[4];
	struct job_outcome o;
	struct jobs *j;
	char req[PATH_MAX + 64], home[PATH_MAX + 8], path[PATH_MAX];
	char err[256], *vars = NULL, *s;
	const char *env[3];

	ck_assert_ptr_nonnull(c);
	if (!in_path("ansible-playbook")) {
		fprintf(stderr, "test_real_ansible: SKIPPED, ansible-playbook is not installed "
		    "(Debian package ansible)\n");
		free(c);
		return;
	}
	ansible_conf_defaults(c);
	ck_assert_msg(playbook_dir(c->playbook_location, sizeof(c->playbook_location)),
	    "tests/playbooks not found (set TEST_PLAYBOOK_DIR)");
	c->timeout_s = 120;

	snprintf(req, sizeof(req), "{\"marker_dir\":\"%s\"}", tmp);
	ck_assert_int_eq(ansible_merge_extra_vars(req, "{\"g\":1}", "{\"marker_dir\":\"/x\"}",
	    &vars, err, sizeof(err)), 0);
	/* HOME in the temp dir keeps ~/.ansible out of the real home. */
	snprintf(home, sizeof(home), "HOME=%s", tmp);
	env[0] = "PATH=/usr/local/bin:/usr/bin:/bin";
	env[1] = home;
	env[2] = NULL;

	ansible_step(c, "40-configure.inv", c->configure_playbook, vars, env, &cmds[0],
	    &steps[0]);
	ansible_step(c, "40-cleanup.inv", c->cleanup_playbook, vars, env, &cmds[1], &steps[1]);
	ansible_step(c, "41-configure.inv", "site-fail.yml", vars, env, &cmds[2], &steps[2]);
	ansible_step(c, "41-cleanup.inv", c->cleanup_playbook, vars, env, &cmds[3], &steps[3]);

	j = start_runner(1, 0);
	/* A good configure; marker_dir reached ansible through the vars file. */
	ck_assert_int_eq(submit(j, 40, &steps[0], 1, &steps[1], c->timeout_s), 0);
	wait_outcome(40, &o);
	s = job_log(40);
	ck_assert_msg(o.state == JOB_COMPLETE, "ansible failed: %s\n%s", o.error, s);
	ck_assert_ptr_nonnull(strstr(s, "PLAY RECAP"));
	ck_assert_ptr_null(strstr(s, "marker_dir"));
	free(s);
	s = slurp(tpath(path, sizeof(path), "node1-SER1.configure"));
	ck_assert_str_eq(s, "node1-SER1 127.0.0.1 service-master\n");
	free(s);
	s = slurp(tpath(path, sizeof(path), "node2.configure"));
	ck_assert_str_eq(s, "node2 localhost service-master\n");
	free(s);
	ck_assert(!exists("node1-SER1.cleanup"));
	ck_assert(!exists("40-configure.inv" ANSIBLE_VARS_SUFFIX));
	ck_assert(!exists("40-cleanup.inv" ANSIBLE_VARS_SUFFIX));
	ck_assert(exists("41-configure.inv" ANSIBLE_VARS_SUFFIX));
	ck_assert_int_eq(unlink(tpath(path, sizeof(path), "node1-SER1.configure")), 0);

	/* A failing configure: the cleanup playbook runs as the failure step. */
	ck_assert_int_eq(submit(j, 41, &steps[2], 1, &steps[3], c->timeout_s), 0);
	wait_outcome(41, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert_int_eq(o.exit_code, 2);	/* ansible-playbook: a host failed */
	ck_assert(o.failure_step_ran);
	ck_assert_int_eq(o.failure_exit_code, 0);
	ck_assert(exists("node1-SER1.configure") && exists("node2.configure"));
	ck_assert(exists("node1-SER1.cleanup") && exists("node2.cleanup"));
	ck_assert(!exists("41-configure.inv" ANSIBLE_VARS_SUFFIX));
	ck_assert(!exists("41-cleanup.inv" ANSIBLE_VARS_SUFFIX));
	s = job_log(41);
	ck_assert_ptr_nonnull(strstr(s, "fails on purpose"));
	free(s);

	jobs_stop(j);
	assert_no_children();
	for (size_t i = 0; i < 4; i++)
		ansible_cmd_finish(&cmds[i]);
	free(vars);
	free(c);
}
END_TEST

/*
 * A step "<script> --extra-vars @tmp/<id>.<tag>.vars" whose vars file the
 * test writes (0600, holding a secret) before submitting.
 */
struct vstep {
	const char *argv[4];
	char path[PATH_MAX], at[PATH_MAX + 1], file[PATH_MAX];
	struct job_step step;
};

static void
vstep_init(struct vstep *v, const char *script_name, uint64_t id, const char *tag)
{
	char name[64];
	int fd;

	tpath(v->path, sizeof(v->path), script_name);
	snprintf(name, sizeof(name), "%llu.%s.vars", (unsigned long long)id, tag);
	tpath(v->file, sizeof(v->file), name);
	snprintf(v->at, sizeof(v->at), "@%s", v->file);
	fd = open(v->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fsio_write_all(fd, "{\"db_password\":\"s3cret\"}", 24), 0);
	close(fd);
	v->argv[0] = v->path;
	v->argv[1] = JOBS_VARS_OPTION;
	v->argv[2] = v->at;
	v->argv[3] = NULL;
	v->step = (struct job_step){ .title = tag, .argv = v->argv, .envp = test_env };
}

static bool
gone(const struct vstep *v)
{
	return access(v->file, F_OK) == -1 && errno == ENOENT;
}

/* The job's vars files are removed whatever the outcome, before the callback. */
START_TEST(test_vars_files_removed)
{
	struct jobs *j = start_runner(1, 1);
	struct vstep ok, bad, fail, slow, slow2, queued, busy, inval, dup;
	struct job_outcome o;
	struct job_spec spec = { 0 };
	char logp[PATH_MAX], *s;

	/* Each step saves what its vars file held, to show it was there while it ran. */
	script("show.sh", "cat \"${2#@}\" > \"${2#@}.seen\"\n");
	script("bad.sh", "cat \"${2#@}\" > \"${2#@}.seen\"\nexit 1\n");
	script("slow.sh", "cat \"${2#@}\" > \"${2#@}.seen\"\nexec sleep 300\n");

	/* Complete. */
	vstep_init(&ok, "show.sh", 60, "configure");
	ck_assert_int_eq(submit(j, 60, &ok.step, 1, NULL, 30), 0);
	wait_outcome(60, &o);
	ck_assert_int_eq(o.state, JOB_COMPLETE);
	ck_assert(gone(&ok));
	s = slurp(tpath(logp, sizeof(logp), "60.configure.vars.seen"));
	ck_assert_str_eq(s, "{\"db_password\":\"s3cret\"}");
	free(s);

	/* A failed step and the failure step: both files go. */
	vstep_init(&bad, "bad.sh", 61, "configure");
	vstep_init(&fail, "show.sh", 61, "cleanup");
	ck_assert_int_eq(submit(j, 61, &bad.step, 1, &fail.step, 30), 0);
	wait_outcome(61, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.failure_step_ran);
	ck_assert(gone(&bad) && gone(&fail));
	ck_assert(exists("61.cleanup.vars.seen"));

	/* A timeout; the unused failure step's file goes too. */
	vstep_init(&slow, "slow.sh", 62, "configure");
	vstep_init(&fail, "show.sh", 62, "cleanup");
	ck_assert_int_eq(submit(j, 62, &slow.step, 1, &fail.step, 1), 0);
	wait_outcome(62, &o);
	ck_assert(o.timed_out);
	ck_assert(gone(&slow) && gone(&fail));

	/* Cancelled while running, and while queued behind it. */
	vstep_init(&slow, "slow.sh", 63, "configure");
	vstep_init(&queued, "show.sh", 64, "configure");
	ck_assert_int_eq(submit(j, 63, &slow.step, 1, NULL, 0), 0);
	ck_assert_int_eq(submit(j, 64, &queued.step, 1, NULL, 0), 0);
	wait_running(j, 63);
	wait_file("63.configure.vars.seen");
	ck_assert(!gone(&slow) && !gone(&queued));

	/* Refused submits: -EBUSY and -EINVAL remove, -EEXIST leaves the other job's file. */
	vstep_init(&busy, "show.sh", 65, "configure");
	ck_assert_int_eq(submit(j, 65, &busy.step, 1, NULL, 0), -EBUSY);
	ck_assert(gone(&busy));
	vstep_init(&inval, "show.sh", 66, "configure");
	spec.id = 66;
	spec.log_path = "";
	spec.steps = &inval.step;
	spec.nsteps = 1;
	ck_assert_int_eq(jobs_submit(j, &spec), -EINVAL);
	ck_assert(gone(&inval));
	dup = slow;	/* the same argv as the running job 63 */
	ck_assert_int_eq(submit(j, 63, &dup.step, 1, NULL, 0), -EEXIST);
	ck_assert(!gone(&slow));

	ck_assert_int_eq(jobs_cancel(j, 64), 0);
	wait_outcome(64, &o);
	ck_assert(o.cancelled && o.start_ms == 0);
	ck_assert(gone(&queued));
	ck_assert(!exists("64.configure.vars.seen"));
	ck_assert_int_eq(jobs_cancel(j, 63), 0);
	wait_outcome(63, &o);
	ck_assert(o.cancelled);
	ck_assert(gone(&slow));

	/* Stopped: the running job and the queued one. */
	vstep_init(&slow, "slow.sh", 67, "configure");
	vstep_init(&slow2, "slow.sh", 68, "configure");
	ck_assert_int_eq(submit(j, 67, &slow.step, 1, NULL, 0), 0);
	ck_assert_int_eq(submit(j, 68, &slow2.step, 1, NULL, 0), 0);
	wait_running(j, 67);
	jobs_stop(j);
	wait_outcome(67, &o);
	ck_assert(o.stopped);
	wait_outcome(68, &o);
	ck_assert(o.stopped);
	ck_assert(gone(&slow) && gone(&slow2));
	assert_no_children();
}
END_TEST

/* ansible_build_cmd and the runner together: the secret is in the file, not argv. */
START_TEST(test_vars_file_argv)
{
	struct ansible_conf *c = malloc(sizeof(*c));
	struct ansible_cmd cmd = { 0 };
	struct job_step step;
	struct job_outcome o;
	struct jobs *j = start_runner(1, 0);
	char path[PATH_MAX], *s;
	const char *env[] = { "PATH=/usr/bin:/bin", NULL };

	ck_assert_ptr_nonnull(c);
	ansible_conf_defaults(c);
	/* The "command" records its argv and the vars file's mode and content. */
	script("fake-ansible.sh", "for a in \"$@\"; do echo \"arg:$a\"; done > %s/argv\n"
	    "for a in \"$@\"; do case \"$a\" in @*) f=\"${a#@}\";; esac; done\n"
	    "stat -c %%a \"$f\" > %s/mode\ncat \"$f\" > %s/content\n", tmp, tmp, tmp);
	snprintf(c->command, sizeof(c->command), "%s", tpath(path, sizeof(path),
	    "fake-ansible.sh"));
	snprintf(c->playbook_location, sizeof(c->playbook_location), "%s", tmp);
	ansible_step(c, "70-configure.inv", c->configure_playbook,
	    "{\"db_password\":\"s3cret\"}", env, &cmd, &step);
	ck_assert_int_eq(submit(j, 70, &step, 1, NULL, 30), 0);
	wait_outcome(70, &o);
	ck_assert_int_eq(o.state, JOB_COMPLETE);
	s = slurp(tpath(path, sizeof(path), "argv"));
	ck_assert_ptr_nonnull(strstr(s, "arg:--extra-vars\narg:@"));
	ck_assert_ptr_null(strstr(s, "s3cret"));
	free(s);
	s = slurp(tpath(path, sizeof(path), "mode"));
	ck_assert_str_eq(s, "600\n");
	free(s);
	s = slurp(tpath(path, sizeof(path), "content"));
	ck_assert_str_eq(s, "{\"db_password\":\"s3cret\"}");
	free(s);
	ck_assert_int_eq(access(cmd.vars_path, F_OK), -1);
	s = job_log(70);
	ck_assert_ptr_null(strstr(s, "s3cret"));
	free(s);
	jobs_stop(j);
	ansible_cmd_finish(&cmd);
	free(c);
	assert_no_children();
}
END_TEST

/* ---- step starts and the groups a previous run left ---- */

#define MAX_STARTS	16

static struct {
	pthread_mutex_t lock;
	struct { uint64_t id; struct jobs_proc p; bool done_before; } v[MAX_STARTS];
	size_t n;
} starts = { PTHREAD_MUTEX_INITIALIZER, { { 0, { 0 }, false } }, 0 };

static void
on_start(uint64_t id, const struct jobs_proc *p, long long start_ms, void *arg)
{
	bool done = false;

	(void)arg;
	ck_assert(start_ms > 0);
	pthread_mutex_lock(&col.lock);
	for (size_t i = 0; i < col.n; i++)
		done = done || col.o[i].id == id;
	pthread_mutex_unlock(&col.lock);
	pthread_mutex_lock(&starts.lock);
	if (starts.n < MAX_STARTS) {
		starts.v[starts.n].id = id;
		starts.v[starts.n].p = *p;
		starts.v[starts.n].done_before = done;
		starts.n++;
	}
	pthread_mutex_unlock(&starts.lock);
}

/* Every step start is told, with its own group and /proc start time, before the end. */
START_TEST(test_start_callback)
{
	struct jobs_conf conf = { .max_jobs = 1, .kill_grace_ms = GRACE_MS, .on_done = on_done,
	    .on_start = on_start };
	struct sstep a, f;
	struct job_outcome o;
	struct jobs *j = NULL;
	pid_t pa, pf;

	pthread_mutex_lock(&starts.lock);
	starts.n = 0;
	pthread_mutex_unlock(&starts.lock);
	script("fails", "echo $$ > %s/fails.pid\nexit 3\n", tmp);
	script("cleanup", "echo $$ > %s/cleanup.pid\nexit 0\n", tmp);
	sstep_init(&a, "configure", "fails");
	sstep_init(&f, "cleanup", "cleanup");
	ck_assert_int_eq(jobs_start(&conf, &j), 0);
	ck_assert_int_eq(submit(j, 80, &a.step, 1, &f.step, 0), 0);
	wait_outcome(80, &o);
	ck_assert(o.failure_step_ran);
	jobs_stop(j);
	pa = read_pid("fails.pid");
	pf = read_pid("cleanup.pid");
	pthread_mutex_lock(&starts.lock);
	ck_assert_uint_eq(starts.n, 2);
	ck_assert_int_eq(starts.v[0].p.pid, pa);
	ck_assert_int_eq(starts.v[0].p.pgrp, pa);
	ck_assert_int_eq(starts.v[1].p.pid, pf);
	ck_assert_int_eq(starts.v[1].p.pgrp, pf);
	for (size_t i = 0; i < 2; i++) {
		ck_assert_uint_eq(starts.v[i].id, 80);
		ck_assert(starts.v[i].p.start_ticks > 0);
		ck_assert_int_eq(starts.v[i].p.sid, getsid(0));
		ck_assert(!starts.v[i].done_before);
	}
	pthread_mutex_unlock(&starts.lock);
	assert_no_children();
}
END_TEST

/*
 * The step's leader gets SIGTERM when the runner's thread dies without
 * jobs_stop (clusterm killed): a helper process runs a runner and exits
 * under it; this process, a subreaper, reaps the orphaned leader.
 */
START_TEST(test_pdeathsig)
{
	long long end = fsio_mono_ms() + WAIT_MS;
	struct timespec ts = { 0, 5 * 1000000L };
	struct sstep a;
	pid_t helper, pid, w;
	int st;

	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	script("sleeper", "echo $$ > %s/sleeper.pid\nexec sleep 300\n", tmp);
	sstep_init(&a, "configure", "sleeper");
	helper = fork();
	ck_assert_int_ge(helper, 0);
	if (helper == 0) {
		struct jobs_conf conf = { .max_jobs = 1, .kill_grace_ms = GRACE_MS };
		struct jobs *j = NULL;

		if (jobs_start(&conf, &j) < 0 || submit(j, 81, &a.step, 1, NULL, 0) < 0)
			_exit(1);
		while (!exists("sleeper.pid"))
			nanosleep(&ts, NULL);
		_exit(0);	/* the runner's thread dies with the process */
	}
	do
		w = waitpid(helper, &st, 0);
	while (w < 0 && errno == EINTR);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pid = read_pid("sleeper.pid");
	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (fsio_mono_ms() >= end) {
			kill(pid, SIGKILL);
			ck_abort_msg("the step's leader %ld outlived its runner", (long)pid);
		}
		nanosleep(&ts, NULL);
	}
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	assert_no_children();
}
END_TEST

START_TEST(test_proc_parse)
{
	struct jobs_proc p;
	char line[512];

	snprintf(line, sizeof(line), "4242 (a) b (c)) S 1 4242 4100 34816 -1 4194560 101 0 0 0 "
	    "1 2 0 0 20 0 1 0 987654321 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 "
	    "17 3 0 0 0 0 0\n");
	ck_assert_int_eq(jobs_proc_parse(line, &p), 0);
	ck_assert_int_eq(p.pid, 4242);
	ck_assert_int_eq(p.state, 'S');
	ck_assert_int_eq(p.pgrp, 4242);
	ck_assert_int_eq(p.sid, 4100);
	ck_assert(p.start_ticks == 987654321ULL);
	ck_assert_int_eq(jobs_proc_parse("4242 (x) S 1 2", &p), -EBADMSG);
	ck_assert_int_eq(jobs_proc_parse("garbage", &p), -EBADMSG);
	ck_assert_int_eq(jobs_proc_read(getpid(), &p), 0);
	ck_assert_int_eq(p.pid, getpid());
	ck_assert_int_eq(p.pgrp, getpgrp());
	ck_assert(p.start_ticks > 0);
}
END_TEST

/* A fake /proc: a table of processes. */
struct fake_proc {
	struct jobs_proc v[8];
	size_t n;
};

static int
fake_read(pid_t pid, struct jobs_proc *ret, void *arg)
{
	struct fake_proc *f = arg;

	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].pid == pid) {
			*ret = f->v[i];
			return 0;
		}
	}
	return -ENOENT;
}

static int
fake_list(pid_t **ret, size_t *ret_n, void *arg)
{
	struct fake_proc *f = arg;
	pid_t *v = calloc(f->n + 1, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < f->n; i++)
		v[i] = f->v[i].pid;
	*ret = v;
	*ret_n = f->n;
	return 0;
}

static int
check_fake(struct fake_proc *f, pid_t pgid, pid_t sid, unsigned long long start)
{
	struct jobs_procfs fs = { fake_read, fake_list, f };

	return jobs_group_check(&fs, pgid, sid, start);
}

/* The guard against pid reuse, over a fake /proc. Recorded: group 500, session 40, start 1000. */
START_TEST(test_group_check_fake)
{
	struct fake_proc f = { .n = 0 };

	/* Nothing left. */
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	/* The leader, with the recorded start: the job's. */
	f.v[0] = (struct jobs_proc){ 500, 'S', 500, 40, 1000 };
	f.n = 1;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 1);
	/* Another process got the id (a later start): not the job's, whatever its group. */
	f.v[0].start_ticks = 5000;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	f.v[1] = (struct jobs_proc){ 501, 'S', 500, 40, 5001 };
	f.n = 2;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	/* An earlier start under the id: the same. */
	f.v[0].start_ticks = 10;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	/* Leader gone, a member of the group in the job's session: the job's. */
	f.v[0] = (struct jobs_proc){ 501, 'S', 500, 40, 1002 };
	f.n = 1;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 1);
	/* ... in another session, or started before the leader: not the job's. */
	f.v[0].sid = 41;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	f.v[0].sid = 40;
	f.v[0].start_ticks = 999;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	/* Zombies do not count; other groups do not either. */
	f.v[0] = (struct jobs_proc){ 500, 'Z', 500, 40, 1000 };
	f.v[1] = (struct jobs_proc){ 502, 'Z', 500, 40, 1003 };
	f.v[2] = (struct jobs_proc){ 503, 'S', 600, 40, 1004 };
	f.n = 3;
	ck_assert_int_eq(check_fake(&f, 500, 40, 1000), 0);
	/* Nothing recorded: nothing is the job's. */
	f.v[0].state = 'S';
	ck_assert_int_eq(check_fake(&f, 500, 40, 0), 0);
	ck_assert_int_eq(check_fake(&f, 0, 40, 1000), 0);
}
END_TEST

/* The same on real processes: a group whose start time does not match is not signalled. */
START_TEST(test_group_signal_real)
{
	struct jobs_proc p;
	int st, ready[2];
	char c;
	pid_t pid, w;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/*
		 * Not the test framework's handler, which answers SIGTERM by
		 * signalling the whole test's process group: the parent waits
		 * for this before it sends one.
		 */
		signal(SIGTERM, SIG_DFL);
		setpgid(0, 0);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ck_assert_int_eq(setpgid(pid, pid) == 0 || errno == EACCES, 1);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	ck_assert_int_eq(jobs_proc_read(pid, &p), 0);
	ck_assert_int_eq(p.pgrp, pid);
	/* A recorded start that is not this process's: the id was reused. */
	ck_assert_int_eq(jobs_group_signal(&jobs_procfs_real, pid, p.sid, p.start_ticks + 1,
	    SIGTERM), 0);
	ck_assert_int_eq(jobs_group_signal(&jobs_procfs_real, pid, p.sid, p.start_ticks - 1,
	    SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &st, WNOHANG), 0);	/* still there */
	ck_assert_int_eq(jobs_group_check(&jobs_procfs_real, pid, p.sid, p.start_ticks), 1);
	ck_assert_int_eq(jobs_group_signal(&jobs_procfs_real, pid, p.sid, p.start_ticks,
	    SIGTERM), 1);
	do
		w = waitpid(pid, &st, 0);
	while (w < 0 && errno == EINTR);
	ck_assert_int_eq(w, pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	ck_assert_int_eq(jobs_group_check(&jobs_procfs_real, pid, p.sid, p.start_ticks), 0);
}
END_TEST

START_TEST(test_boot_id)
{
	char id[JOBS_BOOT_ID_SIZE];

	ck_assert_int_eq(jobs_boot_id(id, sizeof(id)), 0);
	ck_assert_uint_eq(strlen(id), 36);
	ck_assert_int_eq(jobs_boot_id(id, 8), -EBADMSG);
}
END_TEST

/* The deadline of the runner in the deadline tests (jobs_set_deadline). */
static volatile long long test_deadline = JOBS_NO_DEADLINE;

static long long
get_deadline(void *arg)
{
	(void)arg;
	return test_deadline;
}

/*
 * Past the deadline the watchdog ends the running step's group (SIGTERM),
 * no failure step runs, and the queued job starts nothing.
 */
START_TEST(test_deadline_watchdog)
{
	struct jobs *j = start_runner(1, 1);
	struct sstep slow, fail, q;
	struct job_outcome o;
	long long t0;
	pid_t pid;
	char *log;

	test_deadline = JOBS_NO_DEADLINE;
	ck_assert_int_eq(jobs_set_deadline(j, get_deadline, NULL), 0);
	script("slow.sh", "echo $$ > %s/slow.pid\nexec sleep 30\n", tmp);
	script("fail.sh", "touch %s/failure-ran\n", tmp);
	script("q.sh", "touch %s/q-ran\n", tmp);
	sstep_init(&slow, "configure", "slow.sh");
	sstep_init(&fail, "cleanup", "fail.sh");
	sstep_init(&q, "configure", "q.sh");
	ck_assert_int_eq(submit(j, 40, &slow.step, 1, &fail.step, 60), 0);
	ck_assert_int_eq(submit(j, 41, &q.step, 1, NULL, 60), 0);
	pid = read_pid("slow.pid");
	t0 = fsio_mono_ms();
	test_deadline = t0;
	wait_outcome(40, &o);
	ck_assert_msg(fsio_mono_ms() - t0 < 2000, "the watchdog took %lld ms",
	    fsio_mono_ms() - t0);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.stopped);
	ck_assert(!o.failure_step_ran);
	ck_assert_int_eq(o.signal, SIGTERM);
	ck_assert_ptr_nonnull(strstr(o.error, "stopped leading"));
	ck_assert_int_eq(kill(pid, 0), -1);
	wait_outcome(41, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.stopped);
	ck_assert_int_eq(o.start_ms == 0 || o.failed_step == -1, 1);
	ck_assert(!exists("failure-ran"));
	ck_assert(!exists("q-ran"));
	log = job_log(40);
	ck_assert_ptr_nonnull(strstr(log, "this instance no longer leads: sending SIGTERM"));
	free(log);
	jobs_stop(j);
	assert_no_children();
	test_deadline = JOBS_NO_DEADLINE;
}
END_TEST

/* A deadline already past: the job starts nothing; later, without one, jobs run again. */
START_TEST(test_deadline_past_starts_nothing)
{
	struct jobs *j = start_runner(1, 0);
	struct sstep s;
	struct job_outcome o;

	test_deadline = fsio_mono_ms() - 1;
	ck_assert_int_eq(jobs_set_deadline(j, get_deadline, NULL), 0);
	ck_assert_int_eq(jobs_set_deadline(j, get_deadline, NULL), -EINVAL);
	script("touch.sh", "touch %s/ran\n", tmp);
	sstep_init(&s, "configure", "touch.sh");
	ck_assert_int_eq(submit(j, 42, &s.step, 1, NULL, 60), 0);
	wait_outcome(42, &o);
	ck_assert_int_eq(o.state, JOB_ERRORED);
	ck_assert(o.stopped);
	ck_assert(!exists("ran"));
	test_deadline = fsio_mono_ms() + 60000;
	ck_assert_int_eq(submit(j, 43, &s.step, 1, NULL, 60), 0);
	wait_outcome(43, &o);
	ck_assert_int_eq(o.state, JOB_COMPLETE);
	ck_assert(exists("ran"));
	jobs_stop(j);
	assert_no_children();
	test_deadline = JOBS_NO_DEADLINE;
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("jobs");
	TCase *tc = tcase_create("runner");
	TCase *ta = tcase_create("ansible");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_success);
	tcase_add_test(tc, test_failure_runs_failure_step);
	tcase_add_test(tc, test_timeout_kills_group);
	tcase_add_test(tc, test_timeout_sigkill_after_grace);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_max_jobs);
	tcase_add_test(tc, test_stop_terminates);
	tcase_add_test(tc, test_exec_env_fds);
	tcase_add_test(tc, test_failure_step_bounded);
	tcase_add_test(tc, test_many_jobs);
	tcase_add_test(tc, test_log_path_make);
	tcase_add_test(tc, test_pidfd_available);
	tcase_add_test(tc, test_vars_files_removed);
	tcase_add_test(tc, test_vars_file_argv);
	tcase_add_test(tc, test_start_callback);
	tcase_add_test(tc, test_pdeathsig);
	tcase_add_test(tc, test_proc_parse);
	tcase_add_test(tc, test_group_check_fake);
	tcase_add_test(tc, test_group_signal_real);
	tcase_add_test(tc, test_boot_id);
	tcase_add_test(tc, test_deadline_watchdog);
	tcase_add_test(tc, test_deadline_past_starts_nothing);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(ta, setup, teardown);
	tcase_set_timeout(ta, 300);
	tcase_add_test(ta, test_real_ansible);
	suite_add_tcase(s, ta);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
