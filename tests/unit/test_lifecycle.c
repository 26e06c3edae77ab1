/*
 * Unit tests: lifecycle requests over the fake store and the real job
 * runner, whose ansible command is a small script: it waits while the test
 * holds it (a file), then leaves a marker named after its inventory and
 * playbook and exits 0. contiv's rules, messages and codes; durability
 * before anything runs; each node's own host group in multi-node jobs.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "state_fixture.h"

#define WAIT_MS		20000	/* bound of every wait for a job */

static const struct votes_params params0 = { .grace_ms = 0, .quorum = 0,
	.disruption_ratio = 0.55, .disruption_window_ms = 60000 };

static char tmp[64];
static struct ansible_conf *conf;
static struct state *S;
static struct store *ST;
static struct lifecycle *LC;
static char err[512];

static const char *
tpath(char *buf, size_t len, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", tmp, name);

	ck_assert(n > 0 && (size_t)n < len);
	return buf;
}

static void
setup(void)
{
	char path[256], script[1024];
	int n;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "/tmp/test_lifecycle.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	/* argv: -i INVENTORY --extra-vars @FILE PLAYBOOK (ansible.h). */
	n = snprintf(script, sizeof(script),
	    "#!/bin/sh\n"
	    "inv=; last=\n"
	    "while [ $# -gt 0 ]; do\n"
	    "  if [ \"$1\" = -i ]; then inv=$2; fi\n"
	    "  last=$1; shift\n"
	    "done\n"
	    "n=0\n"
	    "while [ -e %s/hold ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done\n"
	    "touch \"%s/ran-$(basename \"$inv\")-$(basename \"$last\")\"\n", tmp, tmp);
	ck_assert(n > 0 && (size_t)n < sizeof(script));
	ck_assert_ptr_nonnull(f = fopen(tpath(path, sizeof(path), "ansible"), "w"));
	ck_assert_int_eq(fputs(script, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0755), 0);

	ck_assert_ptr_nonnull(conf = malloc(sizeof(*conf)));
	ansible_conf_defaults(conf);
	snprintf(conf->command, sizeof(conf->command), "%s", path);
	snprintf(conf->playbook_location, sizeof(conf->playbook_location), "%s", tmp);
	conf->timeout_s = 60;
	S = fix_open(&params0, &ST);
	ck_assert_int_eq(lifecycle_start(S, conf, tmp, 1, false, &LC), 0);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
teardown(void)
{
	char path[256];

	(void)unlink(tpath(path, sizeof(path), "hold"));
	lifecycle_stop(LC);
	state_close(S);
	free(conf);
	/* The runner reaped every step: no child left, no zombie. */
	errno = 0;
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
	ck_assert_int_eq(nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---- helpers ---- */

static void
hold(bool on)
{
	char path[256];

	tpath(path, sizeof(path), "hold");
	if (on)
		ck_assert_int_eq(fsio_write_atomic(tmp, "hold", "", 0, 0600), 0);
	else
		ck_assert_int_eq(unlink(path), 0);
}

/* Operator reports: names Discovered (up) or Disappeared. */
static void
operator(const char *names, bool up)
{
	struct intake_result r;

	ck_assert_msg(fix_submit(S, NULL, "", 0, up ? REPORT_KIND_DISCOVERED :
	    REPORT_KIND_DISAPPEARED, names, &r, err, sizeof(err)) == 0, "%s", err);
}

static int
request(enum job_op op, const char *names, const char *group, uint64_t *ret_id)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	const char *v[FIX_MAXN];
	struct lc_request r = { .op = op, .nodes = v, .host_group = group, .actor = "test",
		.comment = "" };

	r.nnodes = fix_words(names, w);
	for (size_t i = 0; i < r.nnodes; i++)
		v[i] = w[i];
	err[0] = '\0';
	return lifecycle_submit(LC, &r, ret_id, err, sizeof(err));
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits (bounded) until job id's record has status want. */
static void
wait_job(uint64_t id, int want)
{
	for (long waited = 0;; waited += 10) {
		struct job_rec *j;
		int st;
		pthread_rwlock_rdlock(&S->lock);
		j = state_job_get(S, id);
		st = j != NULL ? (int)j->status : -1;
		pthread_rwlock_unlock(&S->lock);
		if (st == want)
			return;
		ck_assert_msg(waited < WAIT_MS, "job %llu is %d after %d ms, want %d",
		    (unsigned long long)id, st, WAIT_MS, want);
		pause_ms(10);
	}
}

static uint64_t
commission_ok(const char *names, const char *group)
{
	uint64_t id = 0;

	ck_assert_msg(request(JOB_OP_COMMISSION, names, group, &id) == 0, "%s", err);
	wait_job(id, JOB_COMPLETE);
	return id;
}

static enum node_status
status_of(const char *name)
{
	enum node_status st;

	pthread_rwlock_rdlock(&S->lock);
	st = inventory_get(S->inv, name)->status;
	pthread_rwlock_unlock(&S->lock);
	return st;
}

/* Whether tmp holds a file whose name begins with prefix. */
static bool
has_file(const char *dir, const char *prefix)
{
	struct dirent *de;
	bool found = false;
	DIR *d = opendir(dir);

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		found = found || strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return found;
}

/* ---- cases ---- */

START_TEST(test_commission_master)
{
	char path[256], marker[64];
	struct job_rec *j;
	uint64_t id = 0;

	operator("m1", true);
	ck_assert_msg(request(JOB_OP_COMMISSION, "m1", LC_GROUP_MASTER, &id) == 0, "%s", err);
	ck_assert_uint_eq(id, 1);
	/* Durable and recorded before lifecycle_submit returned. */
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_ptr_nonnull(j = state_job_get(S, id));
	ck_assert_int_eq(j->op, JOB_OP_COMMISSION);
	ck_assert_uint_eq(j->nnodes, 1);
	ck_assert_str_eq(j->nodes[0], "m1");
	ck_assert_str_eq(j->host_group, LC_GROUP_MASTER);
	ck_assert_uint_eq(inventory_get(S->inv, "m1")->last_job, id);
	pthread_rwlock_unlock(&S->lock);
	wait_job(id, JOB_COMPLETE);
	ck_assert_int_eq(status_of("m1"), NS_ALLOCATED);
	ck_assert_str_eq(inventory_get(S->inv, "m1")->host_group, LC_GROUP_MASTER);
	snprintf(marker, sizeof(marker), "ran-%llu-configure.inventory-site.yml",
	    (unsigned long long)id);
	ck_assert_int_eq(access(tpath(path, sizeof(path), marker), F_OK), 0);
	ck_assert(!lifecycle_running(LC, id));
}
END_TEST

/* A request the store cannot make durable never runs anything. */
START_TEST(test_commission_store_fault)
{
	char jobs[256];
	uint64_t id = 0;

	operator("m1", true);
	store_fake_fail(ST, STORE_FAULT_FSYNC);
	ck_assert_int_eq(request(JOB_OP_COMMISSION, "m1", LC_GROUP_MASTER, &id), -EIO);
	ck_assert_msg(err[0] != '\0', "no reason given");
	ck_assert_uint_eq(id, 0);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_uint_eq(S->njobs, 0);
	ck_assert_ptr_null(state_job_get(S, 1));
	pthread_rwlock_unlock(&S->lock);
	ck_assert_int_eq(status_of("m1"), NS_UNALLOCATED);
	pause_ms(1000);	/* a playbook started by mistake would have left its marker */
	ck_assert(!has_file(tmp, "ran-"));
	ck_assert(!has_file(tpath(jobs, sizeof(jobs), "jobs"), "1"));
	ck_assert(!lifecycle_running(LC, 1));
	/* The next request is refused by the failed store the same way. */
	ck_assert_int_eq(request(JOB_OP_COMMISSION, "m1", LC_GROUP_MASTER, &id), -EIO);
}
END_TEST

enum prep {
	P_DISCOVERED,		/* m1, m2 Discovered, Unallocated */
	P_ALLOCATED,		/* m1 Allocated (commissioned), m2 Discovered */
	P_ALLOCATED_GONE,	/* m1 Allocated, then Disappeared */
	P_BUSY,			/* m1's commission running (held), m2 Discovered */
};

static const struct refusal {
	const char *what;
	enum prep prep;
	enum job_op op;
	const char *nodes, *group;
	int rc;
	const char *words;	/* contiv's, in the message */
} refusals[] = {
	{ "unknown node", P_DISCOVERED, JOB_OP_COMMISSION, "m1 nope", LC_GROUP_MASTER,
	    -ENOENT, "doesn't exists" },
	{ "commission without a host group", P_DISCOVERED, JOB_OP_COMMISSION, "m1", "",
	    -EINVAL, "invalid or empty host-group specified" },
	{ "commission with a bad host group", P_DISCOVERED, JOB_OP_COMMISSION, "m1", "db",
	    -EINVAL, "invalid or empty host-group specified" },
	{ "update of an Allocated, Disappeared node", P_ALLOCATED_GONE, JOB_OP_UPDATE, "m1",
	    "", -EPERM, "one or more nodes are not in discovered state" },
	{ "decommission of an Allocated, Disappeared node", P_ALLOCATED_GONE,
	    JOB_OP_DECOMMISSION, "m1", "", -EPERM,
	    "one or more nodes are not in discovered state" },
	{ "a second job while max_jobs are active", P_BUSY, JOB_OP_COMMISSION, "m2",
	    LC_GROUP_MASTER, -EBUSY, "there is already an active job" },
	{ "update of an Unallocated node", P_DISCOVERED, JOB_OP_UPDATE, "m1", "", -EPERM,
	    "transition from \"Unallocated\" to \"Maintenance\" is not allowed" },
	{ "commission of an Allocated node", P_ALLOCATED, JOB_OP_COMMISSION, "m1",
	    LC_GROUP_MASTER, -EPERM, "transition from \"Allocated\" to \"Provisioning\"" },
	{ "a worker without an Allocated master", P_DISCOVERED, JOB_OP_COMMISSION, "m2",
	    LC_GROUP_WORKER, -EPERM,
	    "Cannot commission a worker node without existence of a master node" },
};

START_TEST(test_refusal)
{
	const struct refusal *c = &refusals[_i];
	enum node_status before[2];
	const struct audit_event *ev;
	char groups[2][32], want[64];
	uint64_t busy = 0, id = 0;
	size_t njobs;

	operator("m1 m2", true);
	if (c->prep == P_ALLOCATED || c->prep == P_ALLOCATED_GONE)
		commission_ok("m1", LC_GROUP_MASTER);
	if (c->prep == P_ALLOCATED_GONE)
		operator("m1", false);
	if (c->prep == P_BUSY) {
		hold(true);
		ck_assert_msg(request(JOB_OP_COMMISSION, "m1", LC_GROUP_MASTER, &busy) == 0,
		    "%s", err);
	}
	pthread_rwlock_rdlock(&S->lock);
	for (int i = 0; i < 2; i++) {
		struct node *n = inventory_get(S->inv, i == 0 ? "m1" : "m2");
		before[i] = n->status;
		snprintf(groups[i], sizeof(groups[i]), "%s", n->host_group);
	}
	njobs = S->njobs;
	pthread_rwlock_unlock(&S->lock);

	ck_assert_int_eq(request(c->op, c->nodes, c->group, &id), c->rc);
	ck_assert_msg(strstr(err, c->words) != NULL, "%s: \"%s\" lacks \"%s\"", c->what, err,
	    c->words);
	ck_assert_uint_eq(id, 0);

	pthread_rwlock_rdlock(&S->lock);
	for (int i = 0; i < 2; i++) {
		struct node *n = inventory_get(S->inv, i == 0 ? "m1" : "m2");
		ck_assert_int_eq(n->status, before[i]);
		ck_assert_str_eq(n->host_group, groups[i]);
	}
	ck_assert_uint_eq(S->njobs, njobs);
	ev = state_event_at(S, S->nevents - 1);
	snprintf(want, sizeof(want), "%s refused", job_op_name(c->op));
	ck_assert_str_eq(ev->kind, "request");
	ck_assert_str_eq(ev->new_val, want);
	ck_assert_str_eq(ev->comment, err);
	ck_assert_str_eq(ev->actor, "test");
	pthread_rwlock_unlock(&S->lock);
	if (c->prep == P_BUSY) {
		hold(false);
		wait_job(busy, JOB_COMPLETE);
	}
}
END_TEST

/* With manager.queue_jobs a request while max_jobs run waits as Queued. */
START_TEST(test_queue_jobs)
{
	uint64_t a = 0, b = 0;
	struct job_rec *j;
	long long started;
	int st;

	lifecycle_stop(LC);
	ck_assert_int_eq(lifecycle_start(S, conf, tmp, 1, true, &LC), 0);
	operator("m1 m2", true);
	hold(true);
	ck_assert_msg(request(JOB_OP_COMMISSION, "m1", LC_GROUP_MASTER, &a) == 0, "%s", err);
	ck_assert_msg(request(JOB_OP_COMMISSION, "m2", LC_GROUP_MASTER, &b) == 0, "%s", err);
	ck_assert_uint_ne(a, b);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_ptr_nonnull(j = state_job_get(S, b));
	ck_assert_int_eq(j->status, JOB_QUEUED);
	lifecycle_live(LC, j, &st, &started);
	ck_assert_int_eq(st, JOB_QUEUED);
	pthread_rwlock_unlock(&S->lock);
	ck_assert(lifecycle_running(LC, b));
	hold(false);
	wait_job(a, JOB_COMPLETE);
	wait_job(b, JOB_COMPLETE);
	ck_assert_int_eq(status_of("m1"), NS_ALLOCATED);
	ck_assert_int_eq(status_of("m2"), NS_ALLOCATED);
}
END_TEST

/* The text of section [group] of an inventory (up to the next section). */
static char *
section(const char *text, const char *group)
{
	char head[64];
	const char *p, *end;

	snprintf(head, sizeof(head), "[%s]\n", group);
	if ((p = strstr(text, head)) == NULL)
		return NULL;
	p += strlen(head);
	end = strchr(p, '[');
	return strndup(p, end != NULL ? (size_t)(end - p) : strlen(p));
}

/* Both sections hold the right node, and only it. */
static void
check_inventory(uint64_t id, const char *tag)
{
	char path[256], name[64], *text, *m, *w;
	size_t len;

	snprintf(name, sizeof(name), "jobs/%llu-%s.inventory", (unsigned long long)id, tag);
	ck_assert_int_eq(fsio_read_file(tpath(path, sizeof(path), name), 1 << 20, &text, &len),
	    0);
	m = section(text, LC_GROUP_MASTER);
	w = section(text, LC_GROUP_WORKER);
	ck_assert_msg(m != NULL && w != NULL, "%s: %s", name, text);
	ck_assert_msg(strncmp(m, "m1 ", 3) == 0 && strstr(m, "w1 ") == NULL, "%s: %s", name,
	    text);
	ck_assert_msg(strncmp(w, "w1 ", 3) == 0 && strstr(w, "m1 ") == NULL, "%s: %s", name,
	    text);
	free(m);
	free(w);
	free(text);
}

/* An update of a master and a worker without a new group keeps each one's own. */
/* A job recorded (through the log only: no runner holds it), as a lost start leaves it. */
static uint64_t
record_only(const char *node, bool started)
{
	const char *v[1] = { node };
	struct op op = { .kind = OP_JOB_REQUEST };

	op.u.job = (struct op_job_request){ .op = JOB_OP_COMMISSION, .names = v, .n = 1,
		.host_group = LC_GROUP_MASTER, .extra_vars = "", .actor = "test", .comment = "",
		.max_jobs = 4, .queue_jobs = true };
	ck_assert_int_eq(oplog_submit(S, &op), 0);
	ck_assert_int_eq(op.res.rc, 0);
	if (started) {
		struct op st = { .kind = OP_JOB_STARTED };
		st.u.started = (struct op_job_started){ .id = op.res.job_id, .boot_id = "" };
		ck_assert_int_eq(oplog_submit(S, &st), 0);
	}
	return op.res.job_id;
}

/*
 * The reconcile: a job recorded Queued that no runner holds is started at
 * the second pass (the first only remembers it: a start may be under way);
 * one recorded Running is ended Errored, its node taking the failure
 * path's status; nothing more to do after that.
 */
START_TEST(test_reconcile)
{
	struct job_rec *j;
	uint64_t q, r;

	operator("m1 m2", true);
	q = record_only("m1", false);
	r = record_only("m2", true);
	ck_assert(!lifecycle_running(LC, q) && !lifecycle_running(LC, r));
	ck_assert_int_eq(lifecycle_reconcile(LC), 0);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_int_eq(state_job_get(S, q)->status, JOB_QUEUED);
	ck_assert_int_eq(state_job_get(S, r)->status, JOB_RUNNING);
	pthread_rwlock_unlock(&S->lock);
	ck_assert_int_eq(lifecycle_reconcile(LC), 2);
	wait_job(q, JOB_COMPLETE);
	wait_job(r, JOB_ERRORED);
	ck_assert_int_eq(status_of("m1"), NS_ALLOCATED);
	ck_assert_int_eq(status_of("m2"), NS_UNALLOCATED);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_ptr_nonnull(j = state_job_get(S, r));
	ck_assert_str_eq(j->error, "no instance runs it");
	pthread_rwlock_unlock(&S->lock);
	ck_assert(has_file(tmp, "ran-1-"));
	ck_assert(!has_file(tmp, "ran-2-"));
	ck_assert_int_eq(lifecycle_reconcile(LC), 0);
	ck_assert_int_eq(lifecycle_reconcile(LC), 0);
}
END_TEST

START_TEST(test_update_keeps_groups)
{
	struct job_rec *j;
	uint64_t id = 0;

	operator("m1 w1", true);
	commission_ok("m1", LC_GROUP_MASTER);
	commission_ok("w1", LC_GROUP_WORKER);
	ck_assert_msg(request(JOB_OP_UPDATE, "m1 w1", "", &id) == 0, "%s", err);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_ptr_nonnull(j = state_job_get(S, id));
	ck_assert_ptr_nonnull(j->groups);
	ck_assert_str_eq(j->groups[0], LC_GROUP_MASTER);
	ck_assert_str_eq(j->groups[1], LC_GROUP_WORKER);
	ck_assert_str_eq(j->host_group, "");
	pthread_rwlock_unlock(&S->lock);
	wait_job(id, JOB_COMPLETE);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_str_eq(inventory_get(S->inv, "m1")->host_group, LC_GROUP_MASTER);
	ck_assert_str_eq(inventory_get(S->inv, "w1")->host_group, LC_GROUP_WORKER);
	ck_assert_int_eq(inventory_get(S->inv, "m1")->status, NS_ALLOCATED);
	ck_assert_int_eq(inventory_get(S->inv, "w1")->status, NS_ALLOCATED);
	pthread_rwlock_unlock(&S->lock);
	check_inventory(id, "cleanup");
	check_inventory(id, "configure");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_commission_master);
	tcase_add_test(tc, test_commission_store_fault);
	tcase_add_loop_test(tc, test_refusal, 0, sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_test(tc, test_queue_jobs);
	tcase_add_test(tc, test_update_keeps_groups);
	tcase_add_test(tc, test_reconcile);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
