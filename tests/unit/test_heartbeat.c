/*
 * Unit tests: heartbeats and the node's own evidence of life (CONTRACT 11)
 * through the real apply step, at times the test chooses (time comes from
 * the records): the partitioned and unreachable rules, Disappeared needing
 * both the gone-majority and silence, nodes without heartbeats judged as
 * before, and a heartbeat that is never a batch (no dedupe, no watermark).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reporters.h"
#include "state_fixture.h"

#define GRACE	5000
#define HB_TO	25000
#define HB_IV	10000

static struct state *S;
static char err[512];

static void
setup(void)
{
	struct votes_params p = { .grace_ms = GRACE, .quorum = 0, .disruption_ratio = 0.55,
		.disruption_window_ms = 60000, .reporter_stale_ms = 30000,
		.hb_timeout_ms = HB_TO, .hb_interval_ms = HB_IV };

	S = fix_open(&p, NULL);
}

static void
teardown(void)
{
	state_close(S);
	S = NULL;
}

static void
hb_at(long long t, const char *who)
{
	struct op op = { .kind = OP_HEARTBEAT, .time_ms = t };

	op.u.hb = (struct op_heartbeat){ .reporter = who, .epoch = "e", .seq = 0,
		.has_seq = false, .spool_depth = 0 };
	fix_apply(S, &op);
	ck_assert_int_eq(op.res.rc, 0);
}

static void
tick_at(long long t)
{
	struct op op = { .kind = OP_TICK, .time_ms = t };

	fix_apply(S, &op);
}

/* Every node of names reports every node of names alive at t. */
static void
mesh_at(long long t, const char *names)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	size_t n = fix_words(names, w);

	for (size_t i = 0; i < n; i++)
		fix_reports_at(S, t, w[i], REPORT_KIND_DISCOVERED, "member-join", names);
}

static void
gone_at(long long t, const char *who, const char *names)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	size_t n = fix_words(who, w);

	for (size_t i = 0; i < n; i++)
		fix_reports_at(S, t, w[i], REPORT_KIND_DISAPPEARED, "member-failed", names);
}

static void
alive_at(long long t, const char *who, const char *names)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	size_t n = fix_words(who, w);

	for (size_t i = 0; i < n; i++)
		fix_reports_at(S, t, w[i], REPORT_KIND_DISCOVERED, "member-join", names);
}

struct flags {
	int state;
	bool partitioned, unreachable;
};

static struct flags
flags_of(const char *name)
{
	struct flags f = { -1, false, false };
	struct node *n;

	pthread_rwlock_rdlock(&S->lock);
	if ((n = inventory_get(S->inv, name)) != NULL) {
		f.state = (int)n->state;
		f.partitioned = n->partitioned;
		f.unreachable = n->unreachable;
	}
	pthread_rwlock_unlock(&S->lock);
	return f;
}

static void
want(const char *name, int state, bool partitioned, bool unreachable)
{
	struct flags f = flags_of(name);

	ck_assert_msg(f.state == state && f.partitioned == partitioned &&
	    f.unreachable == unreachable, "%s: state %d partitioned %d unreachable %d, "
	    "wanted %d %d %d", name, f.state, f.partitioned, f.unreachable, state, partitioned,
	    unreachable);
}

/* How many audit events of kind about node say new_val. */
static int
events(const char *node, const char *kind, const char *new_val)
{
	int n = 0;

	pthread_rwlock_rdlock(&S->lock);
	for (size_t i = 0; i < state_nevents(S); i++) {
		const struct audit_event *e = state_event_at(S, i);
		if (strcmp(e->node, node) == 0 && strcmp(e->kind, kind) == 0 &&
		    strcmp(e->new_val, new_val) == 0)
			n++;
	}
	pthread_rwlock_unlock(&S->lock);
	return n;
}

/* Gone-voted by the majority, heard after the first gone-vote: partitioned, never gone. */
START_TEST(test_partitioned)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	gone_at(2000, "a b c", "e");
	want("e", MON_DISCOVERED, false, false);
	hb_at(5000, "e");
	tick_at(8000);
	want("e", MON_DISCOVERED, true, false);
	for (long long t = 15000; t <= 95000; t += 10000) {
		hb_at(t, "e");
		tick_at(t + 500);
		want("e", MON_DISCOVERED, true, false);
	}
	ck_assert_int_eq(events("e", "partitioned", "on"), 1);
	ck_assert_int_eq(events("e", "state", "Disappeared"), 0);
	/* Healed: the peers see it again. */
	alive_at(96000, "a b c", "e");
	want("e", MON_DISCOVERED, false, false);
	ck_assert_int_eq(events("e", "partitioned", "off"), 1);
}
END_TEST

/* A partitioned node that then goes silent is gone once its signs are stale. */
START_TEST(test_partitioned_then_silent)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	gone_at(2000, "a b c", "e");
	hb_at(5000, "e");
	tick_at(8000);
	want("e", MON_DISCOVERED, true, false);
	tick_at(5000 + HB_TO - 1);
	want("e", MON_DISCOVERED, true, false);
	tick_at(5000 + HB_TO);
	want("e", MON_DISAPPEARED, false, false);
}
END_TEST

/* Heartbeats stop while the votes say alive: unreachable, never Disappeared. */
START_TEST(test_unreachable)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	hb_at(11000, "e");
	tick_at(11000 + HB_TO - 1);
	want("e", MON_DISCOVERED, false, false);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_int_eq(reporters_hb_next(S), 11000 + HB_TO);
	pthread_rwlock_unlock(&S->lock);
	tick_at(11000 + HB_TO);
	want("e", MON_DISCOVERED, false, true);
	ck_assert_int_eq(events("e", "unreachable", "on"), 1);
	/* Off the queue: later ticks touch it no more. */
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_int_eq(reporters_hb_next(S), 0);
	pthread_rwlock_unlock(&S->lock);
	tick_at(200000);
	want("e", MON_DISCOVERED, false, true);
	ck_assert(!state_disruption(S, NULL));
	hb_at(210000, "e");
	want("e", MON_DISCOVERED, false, false);
	ck_assert_int_eq(events("e", "unreachable", "off"), 1);
}
END_TEST

/* An operator report sets the state and drops the flags with the votes. */
START_TEST(test_operator_report_drops_flags)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	tick_at(1000 + HB_TO);
	want("e", MON_DISCOVERED, false, true);
	fix_reports_at(S, 30000, NULL, REPORT_KIND_DISAPPEARED, NULL, "e");
	want("e", MON_DISAPPEARED, false, false);
	ck_assert_int_eq(events("e", "unreachable", "off"), 1);
}
END_TEST

/* Every node cut off from the manager: all unreachable, none gone, no disruption. */
START_TEST(test_unreachable_all_no_disruption)
{
	const char *names[] = { "a", "b", "c", "d", "e" };

	mesh_at(1000, "a b c d e");
	for (size_t i = 0; i < 5; i++)
		hb_at(1000, names[i]);
	tick_at(1000 + HB_TO);
	for (size_t i = 0; i < 5; i++)
		want(names[i], MON_DISCOVERED, false, true);
	ck_assert(!state_disruption(S, NULL));
}
END_TEST

/* Disappeared needs the gone-majority for grace_s and no life for an interval. */
START_TEST(test_disappeared_needs_both)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	hb_at(11000, "e");
	gone_at(12000, "a b c", "e");
	tick_at(12000 + GRACE);
	/* The grace has passed, the heartbeat interval has not. */
	want("e", MON_DISCOVERED, false, false);
	pthread_rwlock_rdlock(&S->lock);
	ck_assert_int_eq(state_timer_next(S), 12000 + HB_IV);
	pthread_rwlock_unlock(&S->lock);
	tick_at(12000 + HB_IV - 1);
	want("e", MON_DISCOVERED, false, false);
	tick_at(12000 + HB_IV);
	want("e", MON_DISAPPEARED, false, false);
	ck_assert(!flags_of("e").partitioned);
}
END_TEST

/* A heartbeat in flight (within the interval) saves it: partitioned instead. */
START_TEST(test_heartbeat_in_flight)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	gone_at(12000, "a b c", "e");
	tick_at(12000 + GRACE);
	hb_at(12000 + HB_IV - 1, "e");
	tick_at(12000 + HB_IV);
	want("e", MON_DISCOVERED, true, false);
}
END_TEST

/* Nodes that never sent a heartbeat are judged as before: grace_s alone. */
START_TEST(test_never_heartbeating)
{
	mesh_at(1000, "a b c d e");
	gone_at(12000, "a b c", "e");
	tick_at(12000 + GRACE - 1);
	want("e", MON_DISCOVERED, false, false);
	tick_at(12000 + GRACE);
	want("e", MON_DISAPPEARED, false, false);
	/* And no staleness flags without heartbeats, however long. */
	tick_at(500000);
	want("a", MON_DISCOVERED, false, false);
}
END_TEST

/* Its own graceful leave (rule 4) is Disappeared at once, heartbeats or not. */
START_TEST(test_self_leave)
{
	mesh_at(1000, "a b c d e");
	hb_at(1000, "e");
	fix_reports_at(S, 2000, "e", REPORT_KIND_DISAPPEARED, "member-leave", "e");
	want("e", MON_DISAPPEARED, false, false);
	hb_at(3000, "e");
	tick_at(9000);
	want("e", MON_DISAPPEARED, false, false);
}
END_TEST

/* A heartbeat is no batch: not a duplicate, no watermark moved, no vote. */
START_TEST(test_heartbeat_not_a_batch)
{
	struct intake_result r;
	struct intake_origin o = { .reporter = "a", .epoch = "e1", .seq = 5, .has_seq = true,
		.remote = "127.0.0.1", .spool_depth = 7 };
	struct watermark *wm;
	size_t votes;

	ck_assert_int_eq(fix_submit(S, "a", "e1", 5, REPORT_KIND_DISCOVERED, "a b", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 2);
	/* The same seq as the last batch, twice: both taken, neither a duplicate. */
	ck_assert_int_eq(intake_heartbeat(S, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(intake_heartbeat(S, &o, err, sizeof(err)), 0);
	/* A heartbeat with a seq ahead of the batches moves no watermark... */
	o.seq = 9;
	ck_assert_int_eq(intake_heartbeat(S, &o, err, sizeof(err)), 0);
	pthread_rwlock_rdlock(&S->lock);
	wm = state_watermark(S, "a");
	ck_assert_uint_eq(wm->seq, 5);
	votes = inventory_get(S->inv, "b")->votes.used;
	{
		uint32_t rid = state_reporter_find(S, "a");
		ck_assert_uint_eq(S->reps[rid].batches, 1);
		ck_assert_uint_eq(S->reps[rid].reports, 2);
		ck_assert_uint_eq(S->reps[rid].last_seq, 9);
		ck_assert_int_eq(S->reps[rid].spool_depth, 7);
		ck_assert_int_ne(S->reps[rid].hb_ms, 0);
	}
	pthread_rwlock_unlock(&S->lock);
	ck_assert_uint_eq(votes, 1);
	/* ...so the next batch (seq 6) is taken, not answered as a duplicate. */
	ck_assert_int_eq(fix_submit(S, "a", "e1", 6, REPORT_KIND_DISAPPEARED, "b", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.duplicates, 0);
	/* A true duplicate still is one, and still counts as heard. */
	ck_assert_int_eq(fix_submit(S, "a", "e1", 6, REPORT_KIND_DISAPPEARED, "b", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.duplicates, 1);
}
END_TEST

/* A reporter's record: the highest seq of an epoch; a new epoch starts again. */
START_TEST(test_record_epochs)
{
	struct intake_origin o = { .reporter = "x", .epoch = "e1", .seq = 10, .has_seq = true,
		.remote = "127.0.0.1", .spool_depth = -1 };
	struct reporter_view v;

	ck_assert_int_eq(intake_heartbeat(S, &o, err, sizeof(err)), 0);
	o.seq = 4;
	ck_assert_int_eq(intake_heartbeat(S, &o, err, sizeof(err)), 0);
	pthread_rwlock_rdlock(&S->lock);
	reporters_get(S, state_reporter_find(S, "x"), &v);
	ck_assert_uint_eq(v.last_seq, 10);
	ck_assert_int_eq(v.spool_depth, -1);
	ck_assert_str_eq(v.epoch, "e1");
	pthread_rwlock_unlock(&S->lock);
	o.epoch = "e2";
	o.seq = 1;
	o.spool_depth = 0;
	ck_assert_int_eq(intake_heartbeat(S, &o, err, sizeof(err)), 0);
	pthread_rwlock_rdlock(&S->lock);
	reporters_get(S, state_reporter_find(S, "x"), &v);
	ck_assert_uint_eq(v.last_seq, 1);
	ck_assert_str_eq(v.epoch, "e2");
	ck_assert_int_eq(v.spool_depth, 0);
	ck_assert(!reporters_stale(&v, state_params(S), v.heard_ms + 29999));
	ck_assert(reporters_stale(&v, state_params(S), v.heard_ms + 30000));
	pthread_rwlock_unlock(&S->lock);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("heartbeat");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_partitioned);
	tcase_add_test(tc, test_partitioned_then_silent);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_unreachable_all_no_disruption);
	tcase_add_test(tc, test_operator_report_drops_flags);
	tcase_add_test(tc, test_disappeared_needs_both);
	tcase_add_test(tc, test_heartbeat_in_flight);
	tcase_add_test(tc, test_never_heartbeating);
	tcase_add_test(tc, test_self_leave);
	tcase_add_test(tc, test_heartbeat_not_a_batch);
	tcase_add_test(tc, test_record_epochs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
