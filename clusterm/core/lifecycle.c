/*
 * Lifecycle requests (submit, cancel, globals, config) and the runner's
 * callbacks; the rules are in lifecycle_rules.c, the apply steps in
 * lifecycle_apply.c, a job's commands in lifecycle_plan.c, the restart in
 * lifecycle_recover.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "conf.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "lifecycle_impl.h"
#include "log.h"
#include "oplog.h"
#include "state_impl.h"
#include "store.h"

_Static_assert(sizeof(((struct job_rec *)0)->boot_id) == JOBS_BOOT_ID_SIZE,
    "a job record holds a boot id");

void
lifecycle_say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

bool
lifecycle_is_active(const struct job_rec *j)
{
	return j->status == JOB_QUEUED || j->status == JOB_RUNNING;
}

/* ---- submitting, and the runner ---- */

int
lifecycle_submit_end(struct state *s, uint64_t id, bool ok, int exit_code, const char *error,
    long long start_ms, long long end_ms)
{
	struct op op = { .kind = OP_JOB_END };

	op.u.end.id = id;
	op.u.end.ok = ok;
	op.u.end.exit_code = exit_code;
	op.u.end.error = error;
	op.u.end.start_ms = start_ms;
	op.u.end.end_ms = end_ms;
	return oplog_submit(s, &op);
}

/* The last max bytes of a file, malloc'd. 0 or -errno. */
static int
read_tail(const char *path, size_t max, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t want, got = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	want = (size_t)st.st_size < max ? (size_t)st.st_size : max;
	if ((buf = malloc(want + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got, st.st_size - (off_t)want + (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*ret = buf;
	*ret_len = got;
	return 0;
}

/* Several instances: the ended job's log goes into the shared store, for all to read. */
static void
keep_log(struct lifecycle *lc, uint64_t id)
{
	struct store *st = state_store(lc->s);
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int rc;

	if (!store_is_shared(st) || jobs_log_path_make(lc->state_dir, id, path, sizeof(path)) < 0)
		return;
	rc = read_tail(path, STORE_JOBLOG_BYTES, &text, &len);
	if (rc == 0)
		rc = store_put_joblog(st, id, text, len);
	free(text);
	if (rc < 0 && rc != -EPERM)
		log_warn("job %llu: its log is not in etcd (%s); only this instance has it",
		    (unsigned long long)id, strerror(-rc));
}

/*
 * The runner's outcome goes into the log. Refused (etcd away, an ambiguous
 * answer), it is kept, and the reconcile retries it until it commits.
 */
static void
on_done(const struct job_outcome *o, void *arg)
{
	struct lifecycle *lc = arg;
	struct lc_unsent u = { .id = o->id, .kind = OP_JOB_END, .inflight = true };
	int rc;

	u.ok = o->state == JOB_COMPLETE;
	u.exit_code = o->exit_code;
	snprintf(u.error, sizeof(u.error), "%s", o->error);
	u.start_ms = o->start_ms;
	u.end_ms = o->end_ms > 0 ? o->end_ms : fsio_now_ms();
	lifecycle_unsent_put(lc, &u);
	rc = lifecycle_unsent_submit(lc, &u);
	lifecycle_unsent_done(lc, o->id, OP_JOB_END, rc == 0);
	if (rc < 0) {
		log_error("job %llu: the store refused its outcome (%s%s%s); kept, it is "
		    "retried", (unsigned long long)o->id, jobs_state_name(o->state),
		    o->error[0] ? ": " : "", o->error);
		return;
	}
	log_info("job %llu: %s%s%s", (unsigned long long)o->id,
	    jobs_state_name(o->state), o->error[0] ? ": " : "", o->error);
	keep_log(lc, o->id);
}

/*
 * The runner started a step: its group goes into the log (one fsync, on the
 * runner's thread, not under its lock), so that a restart after a crash
 * can end what the step left running. Refused, it is kept and retried.
 */
static void
on_start(uint64_t id, const struct jobs_proc *p, long long start_ms, void *arg)
{
	struct lifecycle *lc = arg;
	struct lc_unsent u = { .id = id, .kind = OP_JOB_STARTED, .inflight = true };
	int rc;

	u.p = *p;
	u.start_ms = start_ms;
	lifecycle_unsent_put(lc, &u);
	rc = lifecycle_unsent_submit(lc, &u);
	lifecycle_unsent_done(lc, id, OP_JOB_STARTED, rc == 0);
	if (rc < 0)
		log_error("job %llu: the store refused the start of process group %ld; kept, "
		    "it is retried", (unsigned long long)id, (long)p->pgrp);
}

int
lifecycle_start(struct state *s, const struct ansible_conf *conf, const char *state_dir,
    long max_jobs, bool queue_jobs, struct lifecycle **ret)
{
	struct jobs_conf jc = { 0 };
	struct lifecycle *lc;
	int rc;

	lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return -ENOMEM;
	lc->s = s;
	lc->conf = conf;
	lc->max_jobs = max_jobs;
	lc->queue_jobs = queue_jobs;
	if ((size_t)snprintf(lc->state_dir, sizeof(lc->state_dir), "%s", state_dir) >=
	    sizeof(lc->state_dir) || (size_t)snprintf(lc->jobs_dir, sizeof(lc->jobs_dir),
	    "%s/jobs", state_dir) >= sizeof(lc->jobs_dir)) {
		free(lc);
		return -ENAMETOOLONG;
	}
	rc = fsio_mkdir_p(lc->jobs_dir, 0700);
	if (rc < 0) {
		free(lc);
		return rc;
	}
	jc.max_jobs = (unsigned)max_jobs;
	jc.max_queued = LC_MAX_QUEUED;
	if (jobs_boot_id(lc->boot_id, sizeof(lc->boot_id)) < 0)
		lc->boot_id[0] = '\0';	/* no /proc: a restart will not look for groups */
	jc.on_done = on_done;
	jc.on_start = on_start;
	jc.arg = lc;
	pthread_mutex_init(&lc->unsent_mu, NULL);
	rc = jobs_start(&jc, &lc->runner);
	if (rc < 0) {
		pthread_mutex_destroy(&lc->unsent_mu);
		free(lc);
		return rc;
	}
	*ret = lc;
	return 0;
}

void
lifecycle_stop(struct lifecycle *lc)
{
	if (lc == NULL)
		return;
	jobs_stop(lc->runner);
	pthread_mutex_destroy(&lc->unsent_mu);
	free(lc);
}

int
lifecycle_set_deadline(struct lifecycle *lc, jobs_deadline_fn fn, void *arg)
{
	return jobs_set_deadline(lc->runner, fn, arg);
}
void
lifecycle_live(struct lifecycle *lc, const struct job_rec *j, int *ret_status,
    long long *ret_started_ms)
{
	struct job_status st;

	*ret_status = j->status;
	*ret_started_ms = j->started_ms;
	if (!lifecycle_is_active(j))
		return;
	if (jobs_status(lc->runner, j->id, &st) < 0)
		return;	/* ended: its outcome is on the way */
	*ret_status = st.state;
	if (st.state == JOB_RUNNING)
		*ret_started_ms = st.start_ms;
}

int
lifecycle_abandon(struct lifecycle *lc)
{
	return jobs_abandon(lc->runner);
}

bool
lifecycle_running(struct lifecycle *lc, uint64_t id)
{
	return jobs_is_running(lc->runner, id);
}

int
lifecycle_effective_conf(struct lifecycle *lc, struct ansible_conf *ret, char *err,
    size_t errlen)
{
	*ret = *lc->conf;
	if (lc->s->ansible_override != NULL)
		return conf_ansible_apply(ret, lc->s->ansible_override, err, errlen);
	return 0;
}

/* The request's own limits and extra vars (a JSON object): 400, nothing logged. */
static int
request_valid(const struct lc_request *r, char *err, size_t errlen)
{
	char *vars = NULL, why_vars[256];
	int rc;

	if (r->nnodes > LC_MAX_NODES || r->naddrs > LC_MAX_NODES) {
		lifecycle_say(err, errlen, "more than %d nodes in one request", LC_MAX_NODES);
		return -EINVAL;
	}
	rc = ansible_merge_extra_vars(r->extra_vars, NULL, NULL, &vars, why_vars,
	    sizeof(why_vars));
	free(vars);
	if (rc < 0) {
		/* contiv's words, then ours. */
		lifecycle_say(err, errlen, "\"extra_vars\" should be a valid json. Error: %s",
		    why_vars);
		return rc;
	}
	return 0;
}

/* The operation that records request r (pointers into r, valid while r is). */
static void
request_op(struct lifecycle *lc, const struct lc_request *r, struct op_job_request *j)
{
	j->op = r->op;
	j->names = r->op == JOB_OP_DISCOVER ? r->addrs : r->nodes;
	j->n = r->op == JOB_OP_DISCOVER ? r->naddrs : r->nnodes;
	j->host_group = r->host_group != NULL ? r->host_group : "";
	j->extra_vars = r->extra_vars != NULL ? r->extra_vars : "";
	j->actor = r->actor != NULL ? r->actor : "";
	j->comment = r->comment != NULL ? r->comment : "";
	j->max_jobs = lc->max_jobs;
	j->queue_jobs = lc->queue_jobs;
}

int
lifecycle_submit(struct lifecycle *lc, const struct lc_request *r, uint64_t *ret_id,
    char *err, size_t errlen)
{
	struct op op = { .kind = OP_JOB_REQUEST };
	char why[320];
	int rc;

	if ((rc = request_valid(r, err, errlen)) < 0)
		return rc;
	request_op(lc, r, &op.u.job);
	/* The rules are checked where the op is applied (lifecycle_rules_check). */
	rc = oplog_submit(lc->s, &op);
	if (rc < 0) {
		lifecycle_say(err, errlen, "%s", op.res.err);
		return rc;
	}
	if (op.res.rc < 0) {
		lifecycle_say(err, errlen, "%s", op.res.err);
		return op.res.rc;
	}
	/* Durable now: the playbook may start. */
	rc = lifecycle_plan_start(lc, op.res.job_id, why, sizeof(why));
	/* -EEXIST: the reconcile found it first and started it. */
	if (rc < 0 && rc != -EEXIST) {
		log_error("job %llu: cannot start: %s", (unsigned long long)op.res.job_id, why);
		if (lifecycle_submit_end(lc->s, op.res.job_id, false, -1, why, 0, 0) < 0)
			log_error("job %llu: the store refused its outcome",
			    (unsigned long long)op.res.job_id);
	}
	*ret_id = op.res.job_id;
	return 0;
}

int
lifecycle_cancel(struct lifecycle *lc, uint64_t id, const char *actor, char *err,
    size_t errlen)
{
	struct op op = { .kind = OP_JOB_CANCEL };
	int rc;

	op.u.cancel.id = id;
	op.u.cancel.actor = actor != NULL ? actor : "";
	rc = oplog_submit(lc->s, &op);
	if (rc == 0)
		rc = op.res.rc;
	if (rc < 0) {
		lifecycle_say(err, errlen, "%s", op.res.err);
		return rc;
	}
	rc = jobs_cancel(lc->runner, id);
	if (rc == -ENOENT) {
		lifecycle_say(err, errlen, "job %llu has ended already", (unsigned long long)id);
		return -EALREADY;
	}
	return rc;
}

/* "keys: a, b" of a JSON object text: what changed, never the values. */
static void
keys_of(const char *json, char *buf, size_t len)
{
	cJSON *o = json != NULL ? cJSON_Parse(json) : NULL, *it;
	size_t used;

	used = (size_t)snprintf(buf, len, "%s", json == NULL ? "back to the file's" : "keys:");
	cJSON_ArrayForEach(it, o) {
		if (used >= len || it->string == NULL)
			break;
		used += (size_t)snprintf(buf + used, len - used, " %s", it->string);
	}
	if (json != NULL && (o == NULL || o->child == NULL) && used < len)
		snprintf(buf + used, len - used, " none");
	cJSON_Delete(o);
}

static int
set_text(struct state *s, enum op_kind kind, const char *json, const char *actor,
    char *err, size_t errlen)
{
	struct op op = { .kind = kind };
	char comment[256];
	int rc;

	keys_of(json, comment, sizeof(comment));
	op.u.text.json = json;
	op.u.text.actor = actor != NULL ? actor : "";
	op.u.text.comment = comment;
	rc = oplog_submit(s, &op);
	if (rc < 0)
		lifecycle_say(err, errlen, "%s", op.res.err);
	return rc;
}

int
lifecycle_set_globals(struct state *s, const char *json, const char *actor, char *err,
    size_t errlen)
{
	return set_text(s, OP_GLOBALS, json, actor, err, errlen);
}

int
lifecycle_set_config(struct state *s, const char *json, const char *actor, char *err,
    size_t errlen)
{
	return set_text(s, OP_CONFIG, json, actor, err, errlen);
}

