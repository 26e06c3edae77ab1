/*
 * Unit tests of forgetting nodes (forget.h): the operation's refusals and
 * audit, what goes with a forgotten node, the reaper on the timer
 * operation, the record round trips, and recovery through the real
 * write-ahead log.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forget.h"
#include "oplog.h"
#include "records.h"
#include "state_fixture.h"
#include "state_impl.h"

static const struct votes_params params0 = { .grace_ms = 0, .quorum = 0,
	.disruption_ratio = 0.99, .disruption_window_ms = 60000 };
static const struct votes_params reap10 = { .grace_ms = 0, .quorum = 0,
	.disruption_ratio = 0.99, .disruption_window_ms = 60000, .reap_after_ms = 10000 };

static char err[512];

static struct op_result
forget_at(struct state *s, long long t, const char *name, const char *why)
{
	struct op op = { .kind = OP_FORGET, .time_ms = t };

	op.u.forget = (struct op_forget){ .name = name, .actor = "ops", .comment = why };
	fix_apply(s, &op);
	return op.res;
}

static void
tick_at(struct state *s, long long t)
{
	struct op op = { .kind = OP_TICK, .time_ms = t };

	fix_apply(s, &op);
}

/* The newest audit event about node of kind, NULL when none. */
static const struct audit_event *
event_of(struct state *s, const char *node, const char *kind)
{
	for (size_t i = s->nevents; i-- > 0;) {
		const struct audit_event *e = state_event_at(s, i);
		if (strcmp(e->node, node) == 0 && strcmp(e->kind, kind) == 0)
			return e;
	}
	return NULL;
}

static struct node *
node_of(struct state *s, const char *name)
{
	return inventory_get(s->inv, name);
}

/* Every structure that holds node ids agrees with the inventory. */
static void
check_ids(struct state *s)
{
	for (size_t i = 0; i < inventory_count(s->inv); i++)
		ck_assert_uint_eq(inventory_at(s->inv, i)->id, i);
	for (uint32_t r = 0; r < s->nreps; r++)
		for (uint32_t k = 0; k < s->reps[r].nvoted; k++) {
			struct node *n = inventory_at(s->inv, s->reps[r].voted[k]);
			ck_assert_ptr_nonnull(n);
			ck_assert_ptr_nonnull(votes_find(n, r));
		}
	for (size_t i = 0; i < s->nheap; i++)
		ck_assert_int_eq(inventory_at(s->inv, s->heap[i])->heap_idx, (int)i);
	for (size_t i = 0; i < s->nreap; i++)
		ck_assert_int_eq(inventory_at(s->inv, s->reap[i])->reap_idx, (int)i);
}

START_TEST(test_refusals)
{
	struct state *s = fix_open(&params0, NULL);
	struct op_result r;
	const char *name = "c";
	struct op job = { .kind = OP_JOB_REQUEST, .time_ms = 3000 };

	fix_reports_at(s, 1000, NULL, REPORT_KIND_DISCOVERED, NULL, "a b c");
	r = forget_at(s, 2000, "nosuch", "");
	ck_assert_int_eq(r.rc, -ENOENT);
	ck_assert_ptr_nonnull(strstr(r.err, "no such node: nosuch"));
	ck_assert_ptr_nonnull(strstr(r.err, "doesn't exists"));
	/* Discovered: 409's reason, audited, nothing removed. */
	r = forget_at(s, 2000, "a", "");
	ck_assert_int_eq(r.rc, -EPERM);
	ck_assert_ptr_nonnull(strstr(r.err, "Discovered"));
	ck_assert_ptr_nonnull(event_of(s, "a", "request"));
	ck_assert_str_eq(event_of(s, "a", "request")->new_val, "forget refused");
	ck_assert_int_eq(fix_state_of(s, "a"), MON_DISCOVERED);
	/* In a job: c is Provisioning, then disappears; it stays while the job is active. */
	job.u.job = (struct op_job_request){ .op = JOB_OP_COMMISSION, .names = &name, .n = 1,
		.host_group = "service-master", .extra_vars = "", .actor = "ops", .comment = "",
		.max_jobs = 1 };
	fix_apply(s, &job);
	ck_assert_int_eq(job.res.rc, 0);
	fix_reports_at(s, 4000, NULL, REPORT_KIND_DISAPPEARED, NULL, "c");
	ck_assert_int_eq(fix_state_of(s, "c"), MON_DISAPPEARED);
	r = forget_at(s, 5000, "c", "");
	ck_assert_int_eq(r.rc, -EBUSY);
	ck_assert_ptr_nonnull(strstr(r.err, "job 1"));
	ck_assert_int_eq(fix_state_of(s, "c"), MON_DISAPPEARED);
	state_close(s);
}
END_TEST

START_TEST(test_forget_removes_all_of_it)
{
	struct state *s = fix_open(&params0, NULL);
	const struct audit_event *e;
	struct op_result r;
	struct node *d;

	/* Everyone votes on everyone; b's own gone-vote leaves it in the others' hands. */
	fix_reports_at(s, 1000, "a", REPORT_KIND_DISCOVERED, "member-join", "a b c d");
	fix_reports_at(s, 1000, "b", REPORT_KIND_DISCOVERED, "member-join", "a b c d");
	fix_reports_at(s, 1000, "c", REPORT_KIND_DISCOVERED, "member-join", "a b c d");
	fix_reports_at(s, 1000, "d", REPORT_KIND_DISCOVERED, "member-join", "a b c d");
	fix_reports_at(s, 2000, NULL, REPORT_KIND_DISAPPEARED, NULL, "b");
	ck_assert_int_eq(fix_state_of(s, "b"), MON_DISAPPEARED);
	r = forget_at(s, 3000, "b", "decommissioned hardware");
	ck_assert_int_eq(r.rc, 0);
	ck_assert_ptr_null(node_of(s, "b"));
	ck_assert_uint_eq(inventory_count(s->inv), 3);
	ck_assert_ptr_null(inventory_by_member(s->inv, "b"));
	e = event_of(s, "b", "forget");
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->actor, "ops");
	ck_assert_str_eq(e->comment, "decommissioned hardware");
	ck_assert_str_eq(e->new_val, "forgotten");
	/* b's votes on the others went with it (they would count again without its node). */
	d = node_of(s, "d");
	ck_assert_int_eq(votes_find(d, state_reporter_find(s, "b"))->kind, VOTE_NONE);
	check_ids(s);
	/* The ids moved down: votes on d (id 3 -> 2) are still found by its reporters. */
	fix_reports_at(s, 4000, "a", REPORT_KIND_DISAPPEARED, "member-failed", "d");
	fix_reports_at(s, 4000, "c", REPORT_KIND_DISAPPEARED, "member-failed", "d");
	ck_assert_int_eq(fix_state_of(s, "d"), MON_DISAPPEARED);
	/* d's own node gone: its vote on a stops counting (the reporter index moved too). */
	fix_reports_at(s, 5000, "c", REPORT_KIND_DISAPPEARED, "member-failed", "a");
	ck_assert_int_eq(fix_state_of(s, "a"), MON_DISAPPEARED);
	check_ids(s);
	/* A name forgotten may come back: a new node. */
	fix_reports_at(s, 6000, NULL, REPORT_KIND_DISCOVERED, NULL, "b");
	ck_assert_int_eq(fix_state_of(s, "b"), MON_DISCOVERED);
	ck_assert_int_eq(node_of(s, "b")->prev_status, NS_INCOMPLETE);
	check_ids(s);
	state_close(s);
}
END_TEST

/* A gone report about a node never known makes none; it is audited (contiv ignores it). */
START_TEST(test_unknown_gone_report)
{
	struct state *s = fix_open(&params0, NULL);

	fix_reports_at(s, 1000, NULL, REPORT_KIND_DISAPPEARED, NULL, "ghost");
	fix_reports_at(s, 1000, "a", REPORT_KIND_DISAPPEARED, "member-failed", "ghost2");
	ck_assert_int_eq(fix_state_of(s, "ghost"), -1);
	ck_assert_int_eq(fix_state_of(s, "ghost2"), -1);
	ck_assert_ptr_nonnull(event_of(s, "ghost", "report"));
	ck_assert_ptr_nonnull(event_of(s, "ghost2", "report"));
	fix_reports_at(s, 2000, "a", REPORT_KIND_DISCOVERED, "member-join", "ghost");
	ck_assert_int_eq(fix_state_of(s, "ghost"), MON_DISCOVERED);
	state_close(s);
}
END_TEST

START_TEST(test_reap)
{
	struct state *s = fix_open(&reap10, NULL), *c;
	const char *name = "m";
	struct op job = { .kind = OP_JOB_REQUEST, .time_ms = 1500 };
	char *buf;
	size_t len;

	fix_reports_at(s, 1000, NULL, REPORT_KIND_DISCOVERED, NULL, "a b m x");
	/* m is Provisioning (not Unallocated): never reaped. */
	job.u.job = (struct op_job_request){ .op = JOB_OP_COMMISSION, .names = &name, .n = 1,
		.host_group = "service-master", .extra_vars = "", .actor = "ops", .comment = "",
		.max_jobs = 1 };
	fix_apply(s, &job);
	ck_assert_int_eq(job.res.rc, 0);
	fix_reports_at(s, 2000, NULL, REPORT_KIND_DISAPPEARED, NULL, "a m");
	fix_reports_at(s, 4000, NULL, REPORT_KIND_DISAPPEARED, NULL, "b");
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_int_eq(forget_next_ms(s), 12000);
	ck_assert_uint_eq(s->nreap, 2);
	pthread_rwlock_unlock(&s->lock);
	tick_at(s, 11999);
	ck_assert_int_eq(fix_state_of(s, "a"), MON_DISAPPEARED);
	tick_at(s, 12000);
	ck_assert_int_eq(fix_state_of(s, "a"), -1);
	ck_assert_int_eq(fix_state_of(s, "b"), MON_DISAPPEARED);
	ck_assert_str_eq(event_of(s, "a", "forget")->actor, "clusterm");
	ck_assert_ptr_nonnull(strstr(event_of(s, "a", "forget")->comment, "reap_after_s"));
	check_ids(s);
	/* A snapshot rebuilds the heap alike. */
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_int_eq(records_encode_snapshot(s, &buf, &len), 0);
	pthread_rwlock_unlock(&s->lock);
	c = fix_open(&params0, NULL);
	pthread_rwlock_wrlock(&c->lock);
	ck_assert_msg(records_decode_snapshot(c, buf, len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(c->params.reap_after_ms, 10000);
	ck_assert_int_eq(forget_next_ms(c), 14000);
	pthread_rwlock_unlock(&c->lock);
	free(buf);
	/* b back before its time: off the heap. */
	fix_reports_at(s, 13000, NULL, REPORT_KIND_DISCOVERED, NULL, "b");
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_int_eq(forget_next_ms(s), 0);
	pthread_rwlock_unlock(&s->lock);
	tick_at(s, 100000);
	ck_assert_int_eq(fix_state_of(s, "b"), MON_DISCOVERED);
	ck_assert_int_eq(fix_state_of(s, "m"), MON_DISAPPEARED);
	tick_at(c, 14000);
	ck_assert_int_eq(fix_state_of(c, "b"), -1);
	ck_assert_int_eq(fix_state_of(c, "x"), MON_DISCOVERED);
	check_ids(c);
	state_close(c);
	state_close(s);
}
END_TEST

/* Disruption mode suspends the reaper, an automatic action; it goes on after. */
START_TEST(test_reap_waits_out_disruption)
{
	struct votes_params p = reap10;
	struct state *s;

	p.disruption_ratio = 0.5;
	s = fix_open(&p, NULL);
	fix_reports_at(s, 1000, NULL, REPORT_KIND_DISCOVERED, NULL, "a b c");
	fix_reports_at(s, 2000, NULL, REPORT_KIND_DISAPPEARED, NULL, "a b");
	ck_assert(s->disruption);
	tick_at(s, 50000);
	ck_assert_int_eq(fix_state_of(s, "a"), MON_DISAPPEARED);
	/* b back: 1 of 3 gone, below the ratio, the mode ends; a is reaped. */
	fix_reports_at(s, 60000, NULL, REPORT_KIND_DISCOVERED, NULL, "b");
	ck_assert(!s->disruption);
	tick_at(s, 60100);
	ck_assert_int_eq(fix_state_of(s, "a"), -1);
	state_close(s);
}
END_TEST

/* With reaping off (0), nothing is ever due. */
START_TEST(test_reap_off)
{
	struct state *s = fix_open(&params0, NULL);

	fix_reports_at(s, 1000, NULL, REPORT_KIND_DISAPPEARED, NULL, "a");
	fix_reports_at(s, 1000, NULL, REPORT_KIND_DISCOVERED, NULL, "a");
	fix_reports_at(s, 2000, NULL, REPORT_KIND_DISAPPEARED, NULL, "a");
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_int_eq(forget_next_ms(s), 0);
	pthread_rwlock_unlock(&s->lock);
	tick_at(s, 1000LL * 86400 * 400);
	ck_assert_int_eq(fix_state_of(s, "a"), MON_DISAPPEARED);
	state_close(s);
}
END_TEST

START_TEST(test_records)
{
	struct op op = { .kind = OP_FORGET, .time_ms = 77 }, back;
	char *buf;
	size_t len;

	op.u.forget = (struct op_forget){ .name = "n1", .actor = "ops", .comment = "why" };
	ck_assert_int_eq(ops_encode(&op, &buf, &len), 0);
	ck_assert_int_eq(ops_decode(buf, len, &back, err, sizeof(err)), 0);
	ck_assert_int_eq(back.kind, OP_FORGET);
	ck_assert_str_eq(back.u.forget.name, "n1");
	ck_assert_str_eq(back.u.forget.actor, "ops");
	ck_assert_str_eq(back.u.forget.comment, "why");
	ops_free(&back);
	free(buf);
	op = (struct op){ .kind = OP_PARAMS, .time_ms = 5 };
	op.u.params = reap10;
	ck_assert_int_eq(ops_encode(&op, &buf, &len), 0);
	ck_assert_int_eq(ops_decode(buf, len, &back, err, sizeof(err)), 0);
	ck_assert_int_eq(back.u.params.reap_after_ms, 10000);
	ops_free(&back);
	free(buf);
	/* A record of an older clusterm: four parameters, reaping off. */
	{
		static const unsigned char old[] = { 0x98, 0xa1, 'O', 0x01, OP_PARAMS, 0x05,
			0xcd, 0x13, 0x88, 0x00, 0xcb, 0x3f, 0xe1, 0x99, 0x99, 0x99, 0x99, 0x99,
			0x9a, 0xcd, 0xea, 0x60 };
		ck_assert_msg(ops_decode(old, sizeof(old), &back, err, sizeof(err)) == 0, "%s",
		    err);
		ck_assert_int_eq(back.u.params.grace_ms, 5000);
		ck_assert_int_eq(back.u.params.disruption_window_ms, 60000);
		ck_assert_int_eq(back.u.params.reap_after_ms, 0);
		ops_free(&back);
	}
}
END_TEST

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Through the real log: forgotten stays forgotten after a restart (replay). */
START_TEST(test_recovery)
{
	char dir[] = "/tmp/test_forget.XXXXXX";
	struct intake_result ir;
	struct state *s;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(oplog_open(dir, &params0, apply_op, NULL, &s, err, sizeof(err), NULL,
	    NULL), 0);
	ck_assert_int_eq(fix_submit(s, NULL, "", 0, REPORT_KIND_DISCOVERED, "p q r", &ir, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(fix_submit(s, NULL, "", 0, REPORT_KIND_DISAPPEARED, "q", &ir, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(forget_node(s, "p", "ops", "", err, sizeof(err)), -EPERM);
	ck_assert_msg(forget_node(s, "q", "ops", "retired", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(forget_node(s, "q", "ops", "", err, sizeof(err)), -ENOENT);
	state_close(s);
	ck_assert_int_eq(oplog_open(dir, &params0, apply_op, NULL, &s, err, sizeof(err), NULL,
	    NULL), 0);
	ck_assert_int_eq(fix_state_of(s, "q"), -1);
	ck_assert_int_eq(fix_state_of(s, "r"), MON_DISCOVERED);
	ck_assert_str_eq(event_of(s, "q", "forget")->comment, "retired");
	check_ids(s);
	state_close(s);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static Suite *
suite(void)
{
	Suite *su = suite_create("forget");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_forget_removes_all_of_it);
	tcase_add_test(tc, test_unknown_gone_report);
	tcase_add_test(tc, test_reap);
	tcase_add_test(tc, test_reap_waits_out_disruption);
	tcase_add_test(tc, test_reap_off);
	tcase_add_test(tc, test_records);
	tcase_add_test(tc, test_recovery);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
