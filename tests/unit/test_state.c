/*
 * Unit tests: operation records and snapshots round trip, recovery through
 * the real write-ahead log (snapshot + replay gives the state of before),
 * the manager's clock, and the fuzz regression corpus of fuzz_records.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_regress.h"
#include "jobs.h"
#include "lifecycle.h"
#include "oplog.h"
#include "records.h"
#include "state_fixture.h"
#include "state_impl.h"
#include "tests/fuzz/fuzz_state.h"

static const struct votes_params params0 = { .grace_ms = 0, .quorum = 0,
	.disruption_ratio = 0.55, .disruption_window_ms = 60000,
	.reporter_stale_ms = 30000, .hb_timeout_ms = 25000, .hb_interval_ms = 10000 };

static char err[512];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---- operation records ---- */

#define NOPS	14

static const char *const req_names[] = { "m1", "w1-serial" };
static const char *const req_addrs[] = { "10.0.0.7", "node7.example.org" };

/* Operation i of the round-trip table; reps holds its reports. */
static void
make_op(int i, struct op *op, struct report reps[2])
{
	memset(op, 0, sizeof(*op));
	op->time_ms = i == 3 ? 0 : 1700000000000LL + i;
	switch (i) {
	case 0:
		fix_report(&reps[0], "a", "member-failed");
		fix_report(&reps[1], "b", "member-leave");
		ck_assert_int_eq(report_set(&reps[1], REPORT_KEY_SERIAL, "s1"), 0);
		ck_assert_int_eq(report_set(&reps[1], REPORT_KEY_ROLE, "master"), 0);
		ck_assert_int_eq(report_set(&reps[1], REPORT_KEY_STATUS, "left"), 0);
		ck_assert_int_eq(report_set(&reps[1], "rack", "r1"), 0);
		op->kind = OP_REPORTS;
		op->u.reports = (struct op_reports){ .reporter = "a", .epoch = "ep", .seq = 42,
			.has_seq = true, .actor = "a (tok)", .kind = REPORT_KIND_DISAPPEARED,
			.reports = reps, .n = 2 };
		break;
	case 1:
		fix_report(&reps[0], "z", NULL);
		op->kind = OP_REPORTS;
		op->u.reports = (struct op_reports){ .reporter = NULL, .epoch = "",
			.actor = "operator", .kind = REPORT_KIND_DISCOVERED, .reports = reps, .n = 1 };
		break;
	case 2:
		op->kind = OP_REPORTS;
		op->u.reports = (struct op_reports){ .reporter = "q", .epoch = "",
			.seq = UINT64_MAX, .has_seq = true, .actor = "", .kind = REPORT_KIND_NONE };
		break;
	case 3:
		op->kind = OP_TICK;
		break;
	case 4:
		op->kind = OP_PARAMS;
		op->u.params = (struct votes_params){ .grace_ms = 7000, .quorum = 2,
			.disruption_ratio = 0.4, .disruption_window_ms = 90000,
			.reporter_stale_ms = 30000, .hb_timeout_ms = 25000, .hb_interval_ms = 10000,
			.reap_after_ms = 3000, .observers = 3 };
		break;
	case 5:
	case 6:
		op->kind = OP_JOB_REQUEST;
		op->u.job = (struct op_job_request){ .op = i == 5 ? JOB_OP_UPDATE : JOB_OP_DISCOVER,
			.names = i == 5 ? req_names : req_addrs, .n = 2,
			.host_group = i == 5 ? "" : "cluster-node", .extra_vars = "{\"k\":1}",
			.actor = "admin (127.0.0.1)", .comment = "c", .max_jobs = 3,
			.queue_jobs = i == 5 };
		break;
	case 7:
		op->kind = OP_JOB_END;
		op->u.end = (struct op_job_end){ 9, false, 2, "step configure failed", 100, 200 };
		break;
	case 8:
		op->kind = OP_JOB_CANCEL;
		op->u.cancel = (struct op_job_cancel){ 9, "admin" };
		break;
	case 9:
		op->kind = OP_GLOBALS;
		op->u.text = (struct op_text){ "{\"env\":\"x\"}", "admin", "keys: env" };
		break;
	case 10:
	case 11:
		op->kind = OP_CONFIG;
		op->u.text = (struct op_text){ i == 10 ? "{\"timeout_s\":5}" : NULL, "admin",
			i == 10 ? "keys: timeout_s" : "back to the file's" };
		break;
	case 12:
	case 13:
		op->kind = OP_HEARTBEAT;
		op->u.hb = (struct op_heartbeat){ .reporter = "n1", .epoch = i == 12 ? "ep" : "",
			.seq = i == 12 ? 77 : 0, .has_seq = i == 12,
			.spool_depth = i == 12 ? 3 : -1 };
		break;
	}
}

static void
str_eq_null(const char *a, const char *b)
{
	ck_assert_msg((a == NULL) == (b == NULL), "one is NULL: %s / %s", a ? a : "NULL",
	    b ? b : "NULL");
	if (a != NULL)
		ck_assert_str_eq(a, b);
}

static void
same_op(const struct op *a, const struct op *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_int_eq(a->time_ms, b->time_ms);
	switch (a->kind) {
	case OP_REPORTS:
		str_eq_null(a->u.reports.reporter, b->u.reports.reporter);
		ck_assert_str_eq(a->u.reports.epoch, b->u.reports.epoch);
		ck_assert_uint_eq(a->u.reports.seq, b->u.reports.seq);
		ck_assert_int_eq(a->u.reports.has_seq, b->u.reports.has_seq);
		ck_assert_str_eq(a->u.reports.actor, b->u.reports.actor);
		ck_assert_int_eq(a->u.reports.kind, b->u.reports.kind);
		ck_assert_int_eq(a->u.reports.spool_depth, b->u.reports.spool_depth);
		ck_assert_uint_eq(a->u.reports.n, b->u.reports.n);
		for (size_t i = 0; i < a->u.reports.n; i++)
			ck_assert(report_equal(&a->u.reports.reports[i], &b->u.reports.reports[i]));
		break;
	case OP_PARAMS:
		ck_assert(memcmp(&a->u.params, &b->u.params, sizeof(a->u.params)) == 0);
		break;
	case OP_HEARTBEAT:
		ck_assert_str_eq(a->u.hb.reporter, b->u.hb.reporter);
		ck_assert_str_eq(a->u.hb.epoch, b->u.hb.epoch);
		ck_assert_uint_eq(a->u.hb.seq, b->u.hb.seq);
		ck_assert_int_eq(a->u.hb.has_seq, b->u.hb.has_seq);
		ck_assert_int_eq(a->u.hb.spool_depth, b->u.hb.spool_depth);
		break;
	case OP_JOB_REQUEST:
		ck_assert_int_eq(a->u.job.op, b->u.job.op);
		ck_assert_uint_eq(a->u.job.n, b->u.job.n);
		for (size_t i = 0; i < a->u.job.n; i++)
			ck_assert_str_eq(a->u.job.names[i], b->u.job.names[i]);
		ck_assert_str_eq(a->u.job.host_group, b->u.job.host_group);
		ck_assert_str_eq(a->u.job.extra_vars, b->u.job.extra_vars);
		ck_assert_str_eq(a->u.job.actor, b->u.job.actor);
		ck_assert_str_eq(a->u.job.comment, b->u.job.comment);
		ck_assert_int_eq(a->u.job.max_jobs, b->u.job.max_jobs);
		ck_assert_int_eq(a->u.job.queue_jobs, b->u.job.queue_jobs);
		break;
	case OP_JOB_END:
		ck_assert_uint_eq(a->u.end.id, b->u.end.id);
		ck_assert_int_eq(a->u.end.ok, b->u.end.ok);
		ck_assert_int_eq(a->u.end.exit_code, b->u.end.exit_code);
		ck_assert_str_eq(a->u.end.error, b->u.end.error);
		ck_assert_int_eq(a->u.end.start_ms, b->u.end.start_ms);
		ck_assert_int_eq(a->u.end.end_ms, b->u.end.end_ms);
		break;
	case OP_JOB_CANCEL:
		ck_assert_uint_eq(a->u.cancel.id, b->u.cancel.id);
		ck_assert_str_eq(a->u.cancel.actor, b->u.cancel.actor);
		break;
	case OP_GLOBALS:
	case OP_CONFIG:
		str_eq_null(a->u.text.json, b->u.text.json);
		ck_assert_str_eq(a->u.text.actor, b->u.text.actor);
		ck_assert_str_eq(a->u.text.comment, b->u.text.comment);
		break;
	default:
		break;
	}
}

/* Each kind round trips; every truncation, and a trailing byte, is refused. */
START_TEST(test_op_roundtrip)
{
	struct report reps[2] = { { 0 }, { 0 } };
	struct op op, dec;
	char *buf, *longer;
	size_t len;

	make_op(_i, &op, reps);
	ck_assert_int_eq(ops_encode(&op, &buf, &len), 0);
	ck_assert(ops_is_op(buf, len));
	ck_assert_int_eq(ops_decode(buf, len, &dec, err, sizeof(err)), 0);
	same_op(&op, &dec);
	ops_free(&dec);
	for (size_t l = 0; l < len; l++) {
		ck_assert_msg(ops_decode(buf, l, &dec, err, sizeof(err)) == -EBADMSG,
		    "op %d cut at %zu of %zu bytes was not refused", _i, l, len);
		ck_assert_ptr_null(dec.owned);
	}
	ck_assert_ptr_nonnull(longer = malloc(len + 1));
	memcpy(longer, buf, len);
	longer[len] = (char)0xc0;
	ck_assert_int_eq(ops_decode(longer, len + 1, &dec, err, sizeof(err)), -EBADMSG);
	free(longer);
	free(buf);
	report_finish(&reps[0]);
	report_finish(&reps[1]);
}
END_TEST

/* ---- comparing two states ---- */

static const char *
rep_name(const struct state *s, uint32_t rid)
{
	return rid == VOTE_NO_REPORTER ? "(none)" : rid < s->nreps ? s->reps[rid].name : "?";
}

static void
same_node(const struct state *sa, const struct node *a, const struct state *sb,
    const struct node *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_msg(report_equal(&a->rep, &b->rep), "%s: reports differ", a->name);
	ck_assert_int_eq(a->state, b->state);
	ck_assert_int_eq(a->prev_state, b->prev_state);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_int_eq(a->prev_status, b->prev_status);
	ck_assert_str_eq(a->host_group, b->host_group);
	ck_assert_int_eq(a->gone_since_ms, b->gone_since_ms);
	ck_assert_int_eq(a->deadline_ms, b->deadline_ms);
	ck_assert_int_eq(a->state_ms, b->state_ms);
	ck_assert_int_eq(a->disappeared_ms, b->disappeared_ms);
	ck_assert_int_eq(a->recent_ms, b->recent_ms);
	ck_assert_uint_eq(a->last_job, b->last_job);
	ck_assert_int_eq(a->first_gone_ms, b->first_gone_ms);
	ck_assert_int_eq(a->partitioned, b->partitioned);
	ck_assert_int_eq(a->unreachable, b->unreachable);
	ck_assert_msg(a->oth_alive == b->oth_alive && a->oth_gone == b->oth_gone &&
	    a->self_kind == b->self_kind, "%s: counts %u/%u/%u vs %u/%u/%u", a->name,
	    a->oth_alive, a->oth_gone, a->self_kind, b->oth_alive, b->oth_gone, b->self_kind);
	ck_assert_str_eq(rep_name(sa, a->self_rid), rep_name(sb, b->self_rid));
	ck_assert_uint_eq(a->votes.used, b->votes.used);
	for (uint32_t i = 0; i < a->votes.cap; i++) {
		const struct vote *v = &a->votes.slots[i], *w;
		if (v->rid == VOTE_NO_REPORTER)
			continue;
		w = votes_find(b, state_reporter_find(sb, rep_name(sa, v->rid)));
		ck_assert_msg(w != NULL, "%s: no vote of %s", a->name, rep_name(sa, v->rid));
		ck_assert_int_eq(v->kind, w->kind);
		ck_assert_uint_eq(v->seq, w->seq);
		ck_assert_int_eq(v->received_ms, w->received_ms);
	}
}

static void
same_job(const struct job_rec *a, const struct job_rec *b)
{
	ck_assert_uint_eq(a->id, b->id);
	ck_assert_int_eq(a->op, b->op);
	ck_assert_uint_eq(a->nnodes, b->nnodes);
	ck_assert_int_eq(a->groups == NULL, b->groups == NULL);
	for (size_t i = 0; i < a->nnodes; i++) {
		ck_assert_str_eq(a->nodes[i], b->nodes[i]);
		if (a->groups != NULL)
			ck_assert_str_eq(a->groups[i], b->groups[i]);
	}
	ck_assert_str_eq(a->host_group, b->host_group);
	ck_assert_str_eq(a->extra_vars, b->extra_vars);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_int_eq(a->created_ms, b->created_ms);
	ck_assert_int_eq(a->started_ms, b->started_ms);
	ck_assert_int_eq(a->ended_ms, b->ended_ms);
	ck_assert_int_eq(a->exit_code, b->exit_code);
	ck_assert_str_eq(a->error, b->error);
	ck_assert_str_eq(a->actor, b->actor);
}

/* Everything a snapshot or a replay must give back, a against b. */
static void
same_state(struct state *a, struct state *b)
{
	ck_assert_uint_eq(inventory_count(a->inv), inventory_count(b->inv));
	for (size_t i = 0; i < inventory_count(a->inv); i++)
		same_node(a, inventory_at(a->inv, i), b, inventory_at(b->inv, i));
	ck_assert_uint_eq(a->nreps, b->nreps);
	for (uint32_t i = 0; i < a->nreps; i++) {
		ck_assert_str_eq(a->reps[i].name, b->reps[i].name);
		ck_assert_int_eq(a->reps[i].counts, b->reps[i].counts);
		ck_assert_uint_eq(a->reps[i].node, b->reps[i].node);
		/* The reporters' records (CONTRACT 11). */
		ck_assert_str_eq(a->reps[i].epoch, b->reps[i].epoch);
		ck_assert_uint_eq(a->reps[i].last_seq, b->reps[i].last_seq);
		ck_assert_int_eq(a->reps[i].heard_ms, b->reps[i].heard_ms);
		ck_assert_int_eq(a->reps[i].sync_ms, b->reps[i].sync_ms);
		ck_assert_int_eq(a->reps[i].hb_ms, b->reps[i].hb_ms);
		ck_assert_uint_eq(a->reps[i].batches, b->reps[i].batches);
		ck_assert_uint_eq(a->reps[i].reports, b->reps[i].reports);
		ck_assert_int_eq(a->reps[i].spool_depth, b->reps[i].spool_depth);
		ck_assert_int_eq(a->reps[i].hb_queued, b->reps[i].hb_queued);
	}
	ck_assert_uint_eq(a->hb_head, b->hb_head);
	ck_assert_uint_eq(a->hb_tail, b->hb_tail);
	ck_assert_uint_eq(a->nwms, b->nwms);
	for (size_t i = 0; i < a->nwms; i++) {
		struct watermark *w = state_watermark(b, a->wms[i]->reporter);
		ck_assert_ptr_nonnull(w);
		ck_assert_str_eq(a->wms[i]->epoch, w->epoch);
		ck_assert_uint_eq(a->wms[i]->seq, w->seq);
	}
	ck_assert(memcmp(&a->params, &b->params, sizeof(a->params)) == 0);
	ck_assert_int_eq(a->disruption, b->disruption);
	ck_assert_int_eq(a->disruption_changed_ms, b->disruption_changed_ms);
	ck_assert_uint_eq(a->gone_count, b->gone_count);
	ck_assert_uint_eq(a->recent_live, b->recent_live);
	ck_assert_uint_eq(a->nheap, b->nheap);
	ck_assert_int_eq(state_timer_next(a), state_timer_next(b));
	ck_assert_uint_eq(a->njobs, b->njobs);
	for (size_t i = 0; i < a->njobs; i++)
		same_job(a->jobs[i], b->jobs[i]);
	ck_assert_uint_eq(a->next_job_id, b->next_job_id);
	ck_assert_uint_eq(a->nevents, b->nevents);
	for (size_t i = 0; i < a->nevents; i++) {
		const struct audit_event *x = state_event_at(a, i), *y = state_event_at(b, i);
		ck_assert_uint_eq(x->id, y->id);
		ck_assert_int_eq(x->time_ms, y->time_ms);
		ck_assert_str_eq(x->node, y->node);
		ck_assert_str_eq(x->kind, y->kind);
		ck_assert_str_eq(x->old_val, y->old_val);
		ck_assert_str_eq(x->new_val, y->new_val);
		ck_assert_str_eq(x->actor, y->actor);
		ck_assert_str_eq(x->comment, y->comment);
	}
	ck_assert_uint_eq(a->next_event_id, b->next_event_id);
	ck_assert_str_eq(a->globals, b->globals);
	str_eq_null(a->ansible_override, b->ansible_override);
	ck_assert_int_eq(a->clock_last_ms, b->clock_last_ms);
}

/* A copy of s through a snapshot, into a fresh state over the fake store. */
static struct state *
snapshot_copy(struct state *s)
{
	struct state *c = fix_open(&params0, NULL);
	char *buf;
	size_t len;

	pthread_rwlock_rdlock(&s->lock);
	ck_assert_int_eq(records_encode_snapshot(s, &buf, &len), 0);
	pthread_rwlock_unlock(&s->lock);
	pthread_rwlock_wrlock(&c->lock);
	ck_assert_msg(records_decode_snapshot(c, buf, len, err, sizeof(err)) == 0, "%s", err);
	pthread_rwlock_unlock(&c->lock);
	free(buf);
	return c;
}

/* ---- snapshots ---- */

static void
job_at(struct state *s, long long t, enum job_op jop, const char *name, const char *group,
    long max_jobs)
{
	struct op op = { .kind = OP_JOB_REQUEST, .time_ms = t };

	op.u.job = (struct op_job_request){ .op = jop, .names = &name, .n = 1,
		.host_group = group, .extra_vars = "{\"v\":2}", .actor = "admin", .comment = "",
		.max_jobs = max_jobs };
	fix_apply(s, &op);
}

/*
 * A state with some of everything: votes with a pending grace period,
 * reporters that no longer count, a graceful leave, an operator report,
 * disruption mode, a complete job, an active one, a refused request, globals
 * and an ansible override.
 */
static void
build_rich(struct state *s)
{
	struct op op = { .kind = OP_PARAMS, .time_ms = 1000 };
	struct report r;

	op.u.params = (struct votes_params){ .grace_ms = 5000,
	    .disruption_ratio = 0.3, .disruption_window_ms = 60000,
	    .reporter_stale_ms = 30000, .hb_timeout_ms = 25000, .hb_interval_ms = 10000,
	    .reap_after_ms = 0 };
	fix_apply(s, &op);
	for (const char *m = "abcde"; *m != '\0'; m++) {
		char who[2] = { *m, '\0' };
		fix_reports_at(s, 1000, who, REPORT_KIND_DISCOVERED, "member-join", "a b c d e");
	}
	fix_report(&r, "a", "member-update");
	ck_assert_int_eq(report_set(&r, REPORT_KEY_ROLE, "master"), 0);
	ck_assert_int_eq(report_set(&r, "rack", "r1"), 0);
	op = (struct op){ .kind = OP_REPORTS, .time_ms = 1500 };
	op.u.reports = (struct op_reports){ .reporter = "a", .epoch = "other", .seq = 7,
		.has_seq = true, .actor = "a", .kind = REPORT_KIND_DISCOVERED, .reports = &r,
		.n = 1 };
	fix_apply(s, &op);
	report_finish(&r);
	fix_reports_at(s, 2000, "a", REPORT_KIND_DISAPPEARED, "member-failed", "d");
	fix_reports_at(s, 2000, "b", REPORT_KIND_DISAPPEARED, "member-failed", "d");
	fix_reports_at(s, 2000, "c", REPORT_KIND_DISAPPEARED, "member-failed", "d");
	fix_reports_at(s, 2500, NULL, REPORT_KIND_DISAPPEARED, NULL, "e");
	fix_reports_at(s, 3000, "c", REPORT_KIND_DISAPPEARED, "member-leave", "c");
	job_at(s, 3500, JOB_OP_COMMISSION, "a", "service-master", 1);
	op = (struct op){ .kind = OP_JOB_END, .time_ms = 4000 };
	op.u.end = (struct op_job_end){ 1, true, 0, "", 3600, 3900 };
	fix_apply(s, &op);
	job_at(s, 4500, JOB_OP_COMMISSION, "b", "service-master", 2);
	job_at(s, 4700, JOB_OP_COMMISSION, "nope", "service-master", 2);
	op = (struct op){ .kind = OP_GLOBALS, .time_ms = 4800 };
	op.u.text = (struct op_text){ "{\"env\":\"test\"}", "admin", "keys: env" };
	fix_apply(s, &op);
	op = (struct op){ .kind = OP_CONFIG, .time_ms = 4900 };
	op.u.text = (struct op_text){ "{\"timeout_s\":30}", "admin", "keys: timeout_s" };
	fix_apply(s, &op);
	s->clock_last_ms = 4900;

	/* What the snapshot must carry, so that the comparison is not vacuous. */
	ck_assert_int_eq(fix_state_of(s, "c"), MON_DISAPPEARED);
	ck_assert_int_eq(fix_state_of(s, "d"), MON_DISCOVERED);
	ck_assert_int_eq(state_timer_next(s), 7000);
	ck_assert(s->disruption);
	ck_assert_uint_eq(s->njobs, 2);
	ck_assert_int_eq(state_job_get(s, 1)->status, JOB_COMPLETE);
	ck_assert_int_eq(state_job_get(s, 2)->status, JOB_QUEUED);
	ck_assert(!s->reps[state_reporter_find(s, "e")].counts);
	ck_assert_int_eq(inventory_get(s->inv, "a")->status, NS_ALLOCATED);
}

START_TEST(test_snapshot_roundtrip)
{
	struct state *a = fix_open(&params0, NULL), *b, *c;
	struct op tick = { .kind = OP_TICK, .time_ms = 7000 };
	struct op vote = { .kind = OP_REPORTS, .time_ms = 8000 };
	struct report r;
	char *buf;
	size_t len;

	build_rich(a);
	b = snapshot_copy(a);
	same_state(a, b);
	/* The derived parts (timer heap, counts, cascade index) work on after it. */
	fix_apply(a, &tick);
	tick.res = (struct op_result){ 0 };
	fix_apply(b, &tick);
	ck_assert_int_eq(fix_state_of(b, "d"), MON_DISAPPEARED);
	fix_report(&r, "d", "member-join");
	vote.u.reports = (struct op_reports){ .reporter = "a", .epoch = "e", .seq = 1000,
		.has_seq = true, .actor = "a", .kind = REPORT_KIND_DISCOVERED, .reports = &r,
		.n = 1 };
	fix_apply(a, &vote);
	fix_apply(b, &vote);
	report_finish(&r);
	ck_assert_int_eq(fix_state_of(b, "d"), MON_DISCOVERED);
	same_state(a, b);
	/* Every truncation of a snapshot is refused, and leaves the state untouched. */
	c = fix_open(&params0, NULL);
	ck_assert_int_eq(records_encode_snapshot(a, &buf, &len), 0);
	for (size_t l = 0; l < len; l++) {
		ck_assert_msg(records_decode_snapshot(c, buf, l, err, sizeof(err)) == -EBADMSG,
		    "snapshot cut at %zu of %zu was not refused", l, len);
		ck_assert_uint_eq(inventory_count(c->inv), 0);
	}
	free(buf);
	state_close(a);
	state_close(b);
	state_close(c);
}
END_TEST

/* ---- recovery through the write-ahead log ---- */

static struct state *
open_dir(const char *dir)
{
	struct state *s;

	ck_assert_msg(oplog_open(dir, &params0, apply_op, NULL, &s, err, sizeof(err), NULL,
	    NULL) == 0, "oplog_open: %s", err);
	return s;
}

static void
submit_ok(struct state *s, const char *reporter, uint64_t seq, enum report_kind kind,
    const char *names)
{
	struct intake_result r;

	ck_assert_msg(fix_submit(s, reporter, "e1", seq, kind, names, &r, err,
	    sizeof(err)) == 0, "%s", err);
}

START_TEST(test_recovery)
{
	char dir[] = "/tmp/test_state.XXXXXX";
	struct op op = { .kind = OP_JOB_REQUEST };
	const char *name = "a";
	struct state *s, *copy;
	size_t nevents;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	s = open_dir(dir);
	submit_ok(s, "a", 1, REPORT_KIND_DISCOVERED, "a b c");
	submit_ok(s, "b", 1, REPORT_KIND_DISCOVERED, "a b c");
	submit_ok(s, "c", 1, REPORT_KIND_DISCOVERED, "a b c");
	submit_ok(s, "a", 2, REPORT_KIND_DISAPPEARED, "c");
	ck_assert_int_eq(lifecycle_set_globals(s, "{\"x\":1}", "test", err, sizeof(err)), 0);
	ck_assert_msg(oplog_maybe_snapshot(s, true, err, sizeof(err)) == 1, "%s", err);
	/* After the snapshot: the log holds these. */
	submit_ok(s, "b", 2, REPORT_KIND_DISAPPEARED, "c");
	submit_ok(s, NULL, 0, REPORT_KIND_DISCOVERED, "z");
	submit_ok(s, NULL, 0, REPORT_KIND_DISAPPEARED, "z");
	ck_assert_int_eq(lifecycle_set_config(s, "{\"timeout_s\":9}", "test", err,
	    sizeof(err)), 0);
	op.u.job = (struct op_job_request){ .op = JOB_OP_COMMISSION, .names = &name, .n = 1,
		.host_group = "service-master", .extra_vars = "", .actor = "test", .comment = "",
		.max_jobs = 1 };
	ck_assert_int_eq(oplog_submit(s, &op), 0);
	ck_assert_int_eq(op.res.rc, 0);
	ck_assert_int_eq(fix_state_of(s, "c"), MON_DISAPPEARED);
	copy = snapshot_copy(s);
	nevents = s->nevents;
	ck_assert_uint_gt(nevents, 0);
	state_close(s);

	s = open_dir(dir);
	same_state(copy, s);
	ck_assert_uint_eq(s->nevents, nevents);
	ck_assert_int_eq(fix_state_of(s, "c"), MON_DISAPPEARED);
	ck_assert_int_eq(fix_state_of(s, "z"), MON_DISAPPEARED);
	ck_assert_int_eq(inventory_get(s->inv, "a")->status, NS_PROVISIONING);
	ck_assert_str_eq(s->globals, "{\"x\":1}");
	ck_assert_str_eq(s->ansible_override, "{\"timeout_s\":9}");
	ck_assert_int_eq(state_job_get(s, 1)->status, JOB_QUEUED);
	/* A retry of a batch logged before the restart is a duplicate. */
	{
		struct intake_result r;
		ck_assert_int_eq(fix_submit(s, "b", "e1", 2, REPORT_KIND_DISAPPEARED, "c", &r,
		    err, sizeof(err)), 0);
		ck_assert_uint_eq(r.duplicates, 1);
	}
	/* A second round: snapshot of the recovered state, more log, reopen. */
	ck_assert_int_eq(oplog_maybe_snapshot(s, true, err, sizeof(err)), 1);
	submit_ok(s, "c", 2, REPORT_KIND_DISCOVERED, "c");
	state_close(copy);
	copy = snapshot_copy(s);
	state_close(s);
	s = open_dir(dir);
	same_state(copy, s);
	state_close(s);
	state_close(copy);
	rm_tree(dir);
}
END_TEST

static void
heartbeat_ok(struct state *s, const char *reporter, uint64_t seq, long long depth)
{
	struct intake_origin o = { .reporter = reporter, .epoch = "e1", .seq = seq,
		.has_seq = true, .remote = "127.0.0.1", .spool_depth = depth };

	ck_assert_msg(intake_heartbeat(s, &o, err, sizeof(err)) == 0, "%s", err);
}

/*
 * The reporters' records (CONTRACT 11) come back from a snapshot and from
 * the log behind it: heartbeats, batches, snapshots, spool depths.
 */
START_TEST(test_reporter_records_recovery)
{
	char dir[] = "/tmp/test_state.XXXXXX";
	struct state *s, *copy;
	struct intake_result r;
	uint32_t rid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	s = open_dir(dir);
	submit_ok(s, "a", 1, REPORT_KIND_DISCOVERED, "a b c");
	submit_ok(s, "b", 1, REPORT_KIND_DISCOVERED, "a b c");
	heartbeat_ok(s, "a", 1, 0);
	heartbeat_ok(s, "b", 1, 4);
	ck_assert_msg(oplog_maybe_snapshot(s, true, err, sizeof(err)) == 1, "%s", err);
	/* After the snapshot: in the log only. */
	heartbeat_ok(s, "c", 0, 2);
	submit_ok(s, "a", 2, REPORT_KIND_DISAPPEARED, "c");
	ck_assert_int_eq(fix_submit(s, "b", "e1", 2, REPORT_KIND_NONE, "a b", &r, err,
	    sizeof(err)), 0);
	heartbeat_ok(s, "a", 2, 1);
	pthread_rwlock_rdlock(&s->lock);
	rid = state_reporter_find(s, "a");
	ck_assert_uint_eq(s->reps[rid].batches, 2);
	ck_assert_uint_eq(s->reps[rid].reports, 4);
	ck_assert_uint_eq(s->reps[rid].last_seq, 2);
	ck_assert_int_eq(s->reps[rid].spool_depth, 1);
	ck_assert_int_ne(s->reps[rid].hb_ms, 0);
	rid = state_reporter_find(s, "b");
	ck_assert_int_ne(s->reps[rid].sync_ms, 0);
	ck_assert_int_eq(s->reps[rid].spool_depth, 4);
	ck_assert_int_eq(s->hb_tail, state_reporter_find(s, "a"));
	pthread_rwlock_unlock(&s->lock);
	copy = snapshot_copy(s);
	state_close(s);

	s = open_dir(dir);
	same_state(copy, s);
	state_close(copy);
	/* And a snapshot of the recovered state gives them again. */
	copy = snapshot_copy(s);
	same_state(copy, s);
	state_close(s);
	state_close(copy);
	rm_tree(dir);
}
END_TEST

/* ---- the clock ---- */

START_TEST(test_clock_monotonic)
{
	struct state *s = fix_open(&params0, NULL);
	long long prev = oplog_clock_ms(s), last_op = 0;

	for (int i = 0; i < 100000; i++) {
		long long t = oplog_clock_ms(s);
		ck_assert_int_ge(t, prev);
		prev = t;
	}
	for (int i = 0; i < 50; i++) {
		struct op op = { .kind = OP_TICK };
		long long before = oplog_clock_ms(s);
		ck_assert_int_eq(oplog_submit(s, &op), 0);
		ck_assert_int_ge(op.time_ms, before);
		ck_assert_int_ge(op.time_ms, last_op);
		last_op = op.time_ms;
	}
	ck_assert_int_ge(oplog_clock_ms(s), last_op);
	state_close(s);
}
END_TEST

/* After a reopen the clock goes on from the last logged operation, even one ahead. */
START_TEST(test_clock_after_reopen)
{
	char dir[] = "/tmp/test_state.XXXXXX";
	struct op op = { .kind = OP_TICK };
	struct state *s;
	long long ahead;
	uint64_t seq;
	char *buf;
	size_t len;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	s = open_dir(dir);
	ck_assert_int_eq(oplog_submit(s, &op), 0);
	ahead = op.time_ms + 3600 * 1000;
	/* A record from a clock an hour ahead, as if the wall clock stepped back since. */
	op.time_ms = ahead;
	ck_assert_int_eq(ops_encode(&op, &buf, &len), 0);
	ck_assert_int_eq(store_append(s->store, buf, len, &seq), 0);
	ck_assert_int_eq(store_wait(s->store, seq), 0);
	free(buf);
	state_close(s);

	s = open_dir(dir);
	ck_assert_int_eq(s->clock_last_ms, ahead);
	ck_assert_int_ge(oplog_clock_ms(s), ahead);
	op = (struct op){ .kind = OP_TICK };
	ck_assert_int_eq(oplog_submit(s, &op), 0);
	ck_assert_int_ge(op.time_ms, ahead);
	state_close(s);
	rm_tree(dir);
}
END_TEST

/* ---- fuzz regressions ---- */

static void
visit_regression(const unsigned char *buf, size_t len, const char *name)
{
	struct state *s = fuzz_state_new();
	int rc = fuzz_state_visit(s, buf, len);

	ck_assert_msg(rc == 0 || rc == -EBADMSG, "%s: %d", name, rc);
	state_close(s);
}

START_TEST(test_fuzz_regressions)
{
	ck_assert_uint_gt(fuzz_regress_each("fuzz_records", visit_regression), 0);
}
END_TEST

/*
 * A cascade after a restart from a snapshot evaluates as the live run did:
 * the order must not come from the reporter index's build order, which a
 * snapshot does not keep. a and b vote each other gone, c props both up
 * (b first); the operator then says c is gone.
 */
START_TEST(test_cascade_order_after_snapshot)
{
	static const struct votes_params p0 = { .grace_ms = 0, .quorum = 0,
		.disruption_ratio = 0.99, .disruption_window_ms = 60000 };
	struct state *a = fix_open(&p0, NULL), *b, *c;
	long long t = 1000;
	char *buf;
	size_t len;

	fix_reports_at(a, t++, "a", REPORT_KIND_DISCOVERED, "member-join", "a");
	fix_reports_at(a, t++, "b", REPORT_KIND_DISCOVERED, "member-join", "b");
	fix_reports_at(a, t++, "c", REPORT_KIND_DISCOVERED, "member-join", "c");
	fix_reports_at(a, t++, "c", REPORT_KIND_DISCOVERED, NULL, "b");
	fix_reports_at(a, t++, "c", REPORT_KIND_DISCOVERED, NULL, "a");
	fix_reports_at(a, t++, "a", REPORT_KIND_DISAPPEARED, NULL, "b");
	fix_reports_at(a, t++, "b", REPORT_KIND_DISAPPEARED, NULL, "a");
	b = fix_open(&p0, NULL);
	pthread_rwlock_rdlock(&a->lock);
	ck_assert_int_eq(records_encode_snapshot(a, &buf, &len), 0);
	pthread_rwlock_unlock(&a->lock);
	pthread_rwlock_wrlock(&b->lock);
	ck_assert_msg(records_decode_snapshot(b, buf, len, err, sizeof(err)) == 0, "%s", err);
	pthread_rwlock_unlock(&b->lock);
	free(buf);
	fix_reports_at(a, t, NULL, REPORT_KIND_DISAPPEARED, NULL, "c");
	fix_reports_at(b, t, NULL, REPORT_KIND_DISAPPEARED, NULL, "c");
	ck_assert_int_eq(fix_state_of(a, "a"), fix_state_of(b, "a"));
	ck_assert_int_eq(fix_state_of(a, "b"), fix_state_of(b, "b"));
	ck_assert_uint_eq(a->nevents, b->nevents);
	for (size_t i = 0; i < a->nevents; i++) {
		const struct audit_event *x = state_event_at(a, i), *y = state_event_at(b, i);
		ck_assert_uint_eq(x->id, y->id);
		ck_assert_str_eq(x->node, y->node);
		ck_assert_str_eq(x->new_val, y->new_val);
	}
	c = snapshot_copy(a);
	state_close(c);
	state_close(a);
	state_close(b);
}
END_TEST

/* One report of node label with Node-Name member, applied at t. */
static void
member_at(struct state *s, long long t, const char *reporter, enum report_kind kind,
    const char *label, const char *member)
{
	static uint64_t seqno;
	struct op op = { .kind = OP_REPORTS, .time_ms = t };
	struct report r;

	report_init(&r);
	ck_assert_int_eq(report_set(&r, REPORT_KEY_LABEL, label), 0);
	ck_assert_int_eq(report_set(&r, REPORT_KEY_ADDR, "10.1.1.1"), 0);
	ck_assert_int_eq(report_set(&r, REPORT_KEY_NAME, member), 0);
	op.u.reports.reporter = reporter;
	op.u.reports.epoch = "e";
	op.u.reports.seq = ++seqno;
	op.u.reports.has_seq = reporter != NULL;
	op.u.reports.actor = reporter != NULL ? reporter : "operator";
	op.u.reports.kind = (int)kind;
	op.u.reports.reports = &r;
	op.u.reports.n = 1;
	fix_apply(s, &op);
	report_finish(&r);
}

/*
 * Two nodes carried Node-Name x (hardware replaced under one name); the
 * newer one renames itself. Reporter x's binding after a snapshot is the
 * live run's (the member index is a function of the nodes, not of the
 * order reports came in).
 */
START_TEST(test_member_index_after_snapshot)
{
	static const struct votes_params p0 = { .grace_ms = 0, .quorum = 0,
		.disruption_ratio = 0.99, .disruption_window_ms = 60000 };
	struct state *a = fix_open(&p0, NULL), *b;
	long long t = 1000;
	uint32_t rx;

	member_at(a, t++, NULL, REPORT_KIND_DISCOVERED, "nodea", "x");
	member_at(a, t++, "x", REPORT_KIND_DISCOVERED, "c", "c");
	member_at(a, t++, NULL, REPORT_KIND_DISAPPEARED, "nodea", "x");
	member_at(a, t++, NULL, REPORT_KIND_DISCOVERED, "nodeb", "x");
	member_at(a, t++, NULL, REPORT_KIND_DISCOVERED, "nodeb", "y");
	b = snapshot_copy(a);
	rx = state_reporter_find(a, "x");
	ck_assert_uint_ne(rx, VOTE_NO_REPORTER);
	ck_assert_uint_eq(a->reps[rx].node, b->reps[rx].node);
	ck_assert_int_eq(a->reps[rx].counts, b->reps[rx].counts);
	/* x's node is nodea again (Disappeared): x's votes do not count. */
	ck_assert(!a->reps[rx].counts);
	member_at(a, t, "z", REPORT_KIND_DISAPPEARED, "c", "c");
	member_at(b, t, "z", REPORT_KIND_DISAPPEARED, "c", "c");
	ck_assert_int_eq(fix_state_of(a, "c"), fix_state_of(b, "c"));
	state_close(a);
	state_close(b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_op_roundtrip, 0, NOPS);
	tcase_add_test(tc, test_snapshot_roundtrip);
	tcase_add_test(tc, test_recovery);
	tcase_add_test(tc, test_reporter_records_recovery);
	tcase_add_test(tc, test_clock_monotonic);
	tcase_add_test(tc, test_clock_after_reopen);
	tcase_add_test(tc, test_fuzz_regressions);
	tcase_add_test(tc, test_cascade_order_after_snapshot);
	tcase_add_test(tc, test_member_index_after_snapshot);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
