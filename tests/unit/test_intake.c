/*
 * Unit tests: monitor intake through the real apply step (CONTRACT 3.2).
 * Scripted cases apply crafted operations, at times the test chooses, under
 * the write lock, and check every node's state after each step; the
 * watermark and durability cases go through intake_apply() and the fake
 * store, which fails an append or an fsync on command.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oplog.h"
#include "state_fixture.h"
#include "state_impl.h"
#include "votes.h"

#define STEPS		12
#define SCALE_N		300

static struct state *S;
static struct store *ST;
static char err[512];

static void
open_state(long long grace_ms, long quorum)
{
	struct votes_params p = { .grace_ms = grace_ms, .quorum = quorum,
		.disruption_ratio = 0.55, .disruption_window_ms = 60000 };

	S = fix_open(&p, &ST);
}

static void
teardown(void)
{
	state_close(S);
	S = NULL;
}

/* ---- scripted cases ---- */

enum act {
	A_MESH,		/* each of nodes reports all of nodes alive */
	A_UP,		/* who reports nodes alive (member-join) */
	A_DOWN,		/* who reports nodes gone (member-failed) */
	A_LEAVE,	/* who reports nodes gone with member-leave */
	A_OPUP,		/* operator report: nodes Discovered */
	A_OPDOWN,	/* operator report: nodes Disappeared */
	A_TICK,		/* the grace timer fires */
	A_GRACE,	/* OP_PARAMS with grace_ms = v */
	A_QUORUM,	/* OP_PARAMS with quorum = v */
};

struct step {
	long long t;
	enum act act;
	const char *who;
	const char *nodes;
	const char *want;	/* "a:D b:G c:U" after the step; NULL: no check */
	long long v;
};

static const struct script {
	const char *what;
	long long grace_ms;
	long quorum;
	struct step steps[STEPS];
} scripts[] = {
	{ "lone node discovered by its own join", 0, 0, {
	    { 1000, A_UP, "a", "a", "a:D", 0 } } },
	{ "majority decides; a dead node cannot keep itself alive", 0, 0, {
	    { 1000, A_MESH, NULL, "a b c", "a:D b:D c:D", 0 },
	    { 2000, A_DOWN, "a", "c", "c:D", 0 },	/* 1 of 2: not a majority */
	    { 2000, A_DOWN, "b", "c", "c:G", 0 },
	    { 3000, A_UP, "c", "c", "c:G", 0 },		/* its own vote is not heard */
	    { 3000, A_UP, "c", "a b c", "a:D b:D c:G", 0 },
	    { 4000, A_UP, "a", "c", "c:D", 0 } } },	/* 1 alive, 1 gone */
	{ "3/2 partition, majority reports first", 0, 0, {
	    { 1000, A_MESH, NULL, "a b c d e", "a:D b:D c:D d:D e:D", 0 },
	    { 2000, A_DOWN, "a", "d e", NULL, 0 },
	    { 2000, A_DOWN, "b", "d e", "d:D e:D", 0 },
	    { 2000, A_DOWN, "c", "d e", "d:G e:G", 0 },
	    { 2000, A_DOWN, "d", "a b c", NULL, 0 },
	    { 2000, A_DOWN, "e", "a b c", "a:D b:D c:D d:G e:G", 0 } } },
	{ "3/2 partition, minority reports first", 0, 0, {
	    { 1000, A_MESH, NULL, "a b c d e", NULL, 0 },
	    { 2000, A_DOWN, "d", "a b c", NULL, 0 },
	    { 2000, A_DOWN, "e", "a b c", "a:D b:D c:D d:D e:D", 0 },
	    { 2000, A_DOWN, "a", "d e", NULL, 0 },
	    { 2000, A_DOWN, "b", "d e", NULL, 0 },
	    { 2000, A_DOWN, "c", "d e", "a:D b:D c:D d:G e:G", 0 } } },
	{ "flapping within grace keeps the state", 5000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_DOWN, "a", "c", NULL, 0 },
	    { 2000, A_DOWN, "b", "c", "c:D", 0 },	/* deadline 7000 */
	    { 3000, A_UP, "a", "c", "c:D", 0 },		/* pending period ends */
	    { 4000, A_DOWN, "a", "c", "c:D", 0 },	/* a new one: deadline 9000 */
	    { 7000, A_TICK, NULL, "", "c:D", 0 },
	    { 8999, A_TICK, NULL, "", "c:D", 0 },
	    { 9000, A_TICK, NULL, "", "c:G", 0 } } },
	{ "grace: a tick before the deadline changes nothing, one at it does", 5000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_DOWN, "a", "c", NULL, 0 },
	    { 2000, A_DOWN, "b", "c", "c:D", 0 },
	    { 6999, A_TICK, NULL, "", "a:D b:D c:D", 0 },
	    { 7000, A_TICK, NULL, "", "a:D b:D c:G", 0 } } },
	{ "grace: a late tick makes it Disappeared", 5000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_DOWN, "a", "c", NULL, 0 },
	    { 2000, A_DOWN, "b", "c", "c:D", 0 },
	    { 60000, A_TICK, NULL, "", "c:G", 0 } } },
	{ "quorum 1: one gone vote is enough", 0, 1, {
	    { 1000, A_MESH, NULL, "a b c d", NULL, 0 },
	    { 2000, A_DOWN, "a", "d", "a:D b:D c:D d:G", 0 } } },
	{ "quorum 3: a gone majority below the quorum keeps the state", 0, 3, {
	    { 1000, A_MESH, NULL, "a b c d", NULL, 0 },
	    { 2000, A_DOWN, "a", "d", NULL, 0 },
	    { 2000, A_DOWN, "b", "d", "d:D", 0 },	/* 2 of 3 gone, quorum 3 */
	    { 2000, A_DOWN, "c", "d", "d:G", 0 } } },
	{ "cascade: a Disappeared reporter's votes stop counting, and count again", 0, 0, {
	    { 1000, A_MESH, NULL, "r x o p q", NULL, 0 },
	    { 2000, A_DOWN, "o", "x", NULL, 0 },
	    { 2000, A_DOWN, "p", "x", "x:D", 0 },	/* r, q alive; o, p gone */
	    { 3000, A_DOWN, "o", "r", NULL, 0 },
	    { 3000, A_DOWN, "p", "r", "r:D x:D", 0 },
	    { 3000, A_DOWN, "q", "r", "r:G x:G o:D p:D q:D", 0 },	/* r's vote on x went */
	    { 4000, A_UP, "o", "r", "r:G x:G", 0 },
	    { 4000, A_UP, "p", "r", "r:D x:D o:D p:D q:D", 0 } } },	/* and is back */
	{ "graceful leave of the reporter's own node: Disappeared at once", 60000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_LEAVE, "a", "a", "a:G b:D c:D", 0 } } },
	{ "a member-leave about another node is an ordinary gone vote", 60000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_LEAVE, "a", "b", "a:D b:D c:D", 0 } } },
	{ "operator report sets the state at once", 60000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_OPDOWN, NULL, "c", "a:D b:D c:G", 0 },
	    { 3000, A_OPUP, NULL, "c", "c:D", 0 },
	    { 3000, A_OPUP, NULL, "z", "z:D", 0 },
	    { 4000, A_OPDOWN, NULL, "z", "z:G", 0 } } },
	{ "a shorter grace (OP_PARAMS) ends a pending period at once", 10000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_DOWN, "a", "c", NULL, 0 },
	    { 2000, A_DOWN, "b", "c", "c:D", 0 },
	    { 3000, A_GRACE, NULL, "", "c:G", 500 } } },
	{ "a lower quorum (OP_PARAMS) applies to the votes already cast", 0, 3, {
	    { 1000, A_MESH, NULL, "a b c d", NULL, 0 },
	    { 2000, A_DOWN, "a", "d", NULL, 0 },
	    { 2000, A_DOWN, "b", "d", "d:D", 0 },	/* 2 gone, quorum 3 */
	    { 3000, A_QUORUM, NULL, "", "d:G", 2 } } },
	{ "a higher quorum (OP_PARAMS) brings a node back", 0, 1, {
	    { 1000, A_MESH, NULL, "a b c d", NULL, 0 },
	    { 2000, A_DOWN, "a", "d", "d:G", 0 },
	    { 3000, A_QUORUM, NULL, "", "d:D", 2 } } },
	{ "a longer grace (OP_PARAMS) moves the deadline", 1000, 0, {
	    { 1000, A_MESH, NULL, "a b c", NULL, 0 },
	    { 2000, A_DOWN, "a", "c", NULL, 0 },
	    { 2000, A_DOWN, "b", "c", "c:D", 0 },	/* deadline 3000 */
	    { 2500, A_GRACE, NULL, "", "c:D", 10000 },	/* deadline 12000 */
	    { 3000, A_TICK, NULL, "", "c:D", 0 },
	    { 11999, A_TICK, NULL, "", "c:D", 0 },
	    { 12000, A_TICK, NULL, "", "c:G", 0 } } },
};

/* The start of several cases: a, b and c see each other. */
static const struct step mesh_abc = { 1000, A_MESH, NULL, "a b c", NULL, 0 };

static void
run_step(const struct step *st)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	struct op op = { .time_ms = st->t };
	size_t n;

	switch (st->act) {
	case A_MESH:
		n = fix_words(st->nodes, w);
		for (size_t i = 0; i < n; i++)
			fix_reports_at(S, st->t, w[i], REPORT_KIND_DISCOVERED, "member-join",
			    st->nodes);
		break;
	case A_UP:
		fix_reports_at(S, st->t, st->who, REPORT_KIND_DISCOVERED, "member-join",
		    st->nodes);
		break;
	case A_DOWN:
		fix_reports_at(S, st->t, st->who, REPORT_KIND_DISAPPEARED, "member-failed",
		    st->nodes);
		break;
	case A_LEAVE:
		fix_reports_at(S, st->t, st->who, REPORT_KIND_DISAPPEARED, "member-leave",
		    st->nodes);
		break;
	case A_OPUP:
	case A_OPDOWN:
		fix_reports_at(S, st->t, NULL, st->act == A_OPUP ? REPORT_KIND_DISCOVERED :
		    REPORT_KIND_DISAPPEARED, NULL, st->nodes);
		break;
	case A_TICK:
		op.kind = OP_TICK;
		fix_apply(S, &op);
		break;
	case A_GRACE:
	case A_QUORUM:
		op.kind = OP_PARAMS;
		op.u.params = S->params;
		if (st->act == A_GRACE)
			op.u.params.grace_ms = st->v;
		else
			op.u.params.quorum = (long)st->v;
		fix_apply(S, &op);
		break;
	}
}

/* Checks "a:D b:G c:U" against the inventory. */
static void
expect(const char *what, size_t step, const char *want)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	size_t n = fix_words(want, w);

	for (size_t i = 0; i < n; i++) {
		char *colon = strchr(w[i], ':');
		int st;
		ck_assert_ptr_nonnull(colon);
		*colon = '\0';
		st = colon[1] == 'D' ? MON_DISCOVERED : colon[1] == 'G' ? MON_DISAPPEARED :
		    MON_UNKNOWN;
		ck_assert_msg(fix_state_of(S, w[i]) == st, "%s, step %zu: %s is %s, want %s",
		    what, step + 1, w[i], fix_state_of(S, w[i]) < 0 ? "not known" :
		    mon_state_name((enum mon_state)fix_state_of(S, w[i])), mon_state_name(st));
	}
}

START_TEST(test_script)
{
	const struct script *sc = &scripts[_i];

	open_state(sc->grace_ms, sc->quorum);
	for (size_t k = 0; k < STEPS && sc->steps[k].nodes != NULL; k++) {
		run_step(&sc->steps[k]);
		if (sc->steps[k].want != NULL)
			expect(sc->what, k, sc->steps[k].want);
	}
}
END_TEST

/* The grace deadline is on the timer heap; a due tick takes it off. */
START_TEST(test_timer_heap)
{
	struct op tick = { .kind = OP_TICK, .time_ms = 7000 };
	struct node *c;

	open_state(5000, 0);
	run_step(&mesh_abc);
	fix_reports_at(S, 2000, "a", REPORT_KIND_DISAPPEARED, "member-failed", "c");
	fix_reports_at(S, 2000, "b", REPORT_KIND_DISAPPEARED, "member-failed", "c");
	c = inventory_get(S->inv, "c");
	ck_assert_int_eq(state_timer_next(S), 7000);
	ck_assert_int_eq(c->deadline_ms, 7000);
	ck_assert_int_eq(c->gone_since_ms, 2000);
	fix_apply(S, &tick);
	ck_assert_int_eq(tick.res.state_changes, 1);
	ck_assert_int_eq(c->state, MON_DISAPPEARED);
	ck_assert_int_eq(state_timer_next(S), 0);
	ck_assert_int_eq(c->heap_idx, -1);
}
END_TEST

/* Rule 1: an operator report clears the node's votes and pending period. */
START_TEST(test_operator_clears_votes)
{
	struct node *c;

	open_state(60000, 0);
	run_step(&mesh_abc);
	fix_reports_at(S, 2000, "a", REPORT_KIND_DISAPPEARED, "member-failed", "c");
	fix_reports_at(S, 2000, "b", REPORT_KIND_DISAPPEARED, "member-failed", "c");
	c = inventory_get(S->inv, "c");
	ck_assert_int_eq(c->oth_gone, 2);
	ck_assert_int_ne(c->deadline_ms, 0);
	fix_reports_at(S, 3000, NULL, REPORT_KIND_DISCOVERED, NULL, "c");
	ck_assert_int_eq(c->state, MON_DISCOVERED);
	ck_assert_int_eq(c->oth_alive + c->oth_gone, 0);
	ck_assert_int_eq(c->self_kind, VOTE_NONE);
	ck_assert_int_eq(c->gone_since_ms, 0);
	ck_assert_int_eq(c->deadline_ms, 0);
	ck_assert_int_eq(state_timer_next(S), 0);
	for (uint32_t i = 0; i < c->votes.cap; i++)
		ck_assert_int_eq(c->votes.slots[i].kind, VOTE_NONE);
	/* Later votes count from scratch: one gone vote is all there is. */
	fix_reports_at(S, 4000, "a", REPORT_KIND_DISAPPEARED, "member-failed", "c");
	ck_assert_int_eq(c->oth_gone, 1);
	ck_assert_int_eq(c->oth_alive, 0);
}
END_TEST

/* Rule 5: more than the ratio within the window enters, falling below leaves. */
START_TEST(test_disruption)
{
	open_state(0, 0);
	run_step(&(struct step){ 1000, A_MESH, NULL, "a b c d e", NULL, 0 });
	ck_assert(!S->disruption);
	fix_reports_at(S, 2000, NULL, REPORT_KIND_DISAPPEARED, NULL, "c d");
	ck_assert(!S->disruption);		/* 2 of 5 */
	fix_reports_at(S, 3000, NULL, REPORT_KIND_DISAPPEARED, NULL, "e");
	ck_assert(S->disruption);		/* 3 of 5 > 0.55 */
	ck_assert_int_eq(S->disruption_changed_ms, 3000);
	ck_assert_uint_eq(S->gone_count, 3);
	fix_reports_at(S, 4000, NULL, REPORT_KIND_DISCOVERED, NULL, "e");
	ck_assert(!S->disruption);		/* 2 of 5 < 0.55 */
	ck_assert_int_eq(S->disruption_changed_ms, 4000);
	ck_assert_uint_eq(S->gone_count, 2);
}
END_TEST

/* The same number of nodes, disappearing further apart than the window: no mode. */
START_TEST(test_disruption_window)
{
	open_state(0, 0);
	run_step(&(struct step){ 1000, A_MESH, NULL, "a b c d e", NULL, 0 });
	fix_reports_at(S, 2000, NULL, REPORT_KIND_DISAPPEARED, NULL, "c");
	fix_reports_at(S, 70000, NULL, REPORT_KIND_DISAPPEARED, NULL, "d");
	fix_reports_at(S, 140000, NULL, REPORT_KIND_DISAPPEARED, NULL, "e");
	ck_assert_uint_eq(S->gone_count, 3);
	ck_assert(!S->disruption);
	fix_reports_at(S, 141000, NULL, REPORT_KIND_DISAPPEARED, NULL, "b");
	ck_assert_uint_eq(S->gone_count, 4);
	ck_assert(!S->disruption);		/* e and b within the window: 2 of 5 */
	fix_reports_at(S, 141500, NULL, REPORT_KIND_DISAPPEARED, NULL, "a");
	ck_assert(S->disruption);		/* e, b and a: 3 of 5 */
}
END_TEST

/* ---- through the pipeline ---- */

START_TEST(test_watermark)
{
	struct intake_result r;
	struct watermark *wm;

	open_state(0, 0);
	ck_assert_int_eq(fix_submit(S, "a", "e1", 5, REPORT_KIND_DISCOVERED, "a b", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 2);
	ck_assert_uint_eq(r.duplicates, 0);
	/* The same batch again, and an older one: duplicates, nothing applied. */
	ck_assert_int_eq(fix_submit(S, "a", "e1", 5, REPORT_KIND_DISCOVERED, "a b", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 0);
	ck_assert_uint_eq(r.duplicates, 2);
	ck_assert_int_eq(fix_submit(S, "a", "e1", 4, REPORT_KIND_DISCOVERED, "q", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.duplicates, 1);
	ck_assert_int_eq(fix_state_of(S, "q"), -1);
	ck_assert_int_eq(fix_submit(S, "a", "e1", 6, REPORT_KIND_DISCOVERED, "c", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_int_eq(fix_state_of(S, "c"), MON_DISCOVERED);
	/* A new epoch (the forwarder lost its state) starts over at any seq. */
	ck_assert_int_eq(fix_submit(S, "a", "e2", 1, REPORT_KIND_DISCOVERED, "d", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 1);
	ck_assert_uint_eq(r.duplicates, 0);
	pthread_rwlock_rdlock(&S->lock);
	wm = state_watermark(S, "a");
	ck_assert_ptr_nonnull(wm);
	ck_assert_str_eq(wm->epoch, "e2");
	ck_assert_uint_eq(wm->seq, 1);
	pthread_rwlock_unlock(&S->lock);
	/* Another reporter has its own watermark. */
	ck_assert_int_eq(fix_submit(S, "b", "e1", 1, REPORT_KIND_DISCOVERED, "a", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 1);
}
END_TEST

/* A batch the store failed to take (append) or to make durable (fsync). */
START_TEST(test_store_fault)
{
	const enum store_fault f = _i == 0 ? STORE_FAULT_FSYNC : STORE_FAULT_APPEND;
	struct intake_result r;
	char why[256] = "";
	struct watermark *wm;

	open_state(0, 0);
	ck_assert_int_eq(fix_submit(S, "a", "e1", 1, REPORT_KIND_DISCOVERED, "a", &r, err,
	    sizeof(err)), 0);
	ck_assert(!oplog_failed(S, NULL, 0));
	store_fake_fail(ST, f);
	err[0] = '\0';
	ck_assert_int_eq(fix_submit(S, "a", "e1", 2, REPORT_KIND_DISCOVERED, "x y", &r, err,
	    sizeof(err)), -EIO);
	ck_assert_msg(err[0] != '\0', "no reason given");
	ck_assert_uint_eq(r.accepted + r.duplicates, 0);
	ck_assert_int_eq(fix_state_of(S, "x"), -1);
	ck_assert_int_eq(fix_state_of(S, "y"), -1);
	pthread_rwlock_rdlock(&S->lock);
	wm = state_watermark(S, "a");
	ck_assert_str_eq(wm->epoch, "e1");
	ck_assert_uint_eq(wm->seq, 1);
	pthread_rwlock_unlock(&S->lock);
	ck_assert(oplog_failed(S, why, sizeof(why)));
	ck_assert_msg(why[0] != '\0', "oplog_failed gave no reason");
	/* The retry is refused too, never answered as a duplicate. */
	err[0] = '\0';
	ck_assert_int_eq(fix_submit(S, "a", "e1", 2, REPORT_KIND_DISCOVERED, "x y", &r, err,
	    sizeof(err)), -EIO);
	ck_assert_uint_eq(r.duplicates, 0);
	ck_assert_ptr_nonnull(strstr(err, why));
	ck_assert_int_eq(fix_state_of(S, "x"), -1);
	/* So is an operator report. */
	ck_assert_int_eq(fix_submit(S, NULL, "", 0, REPORT_KIND_DISCOVERED, "z", &r, err,
	    sizeof(err)), -EIO);
	ck_assert_int_eq(fix_state_of(S, "z"), -1);
}
END_TEST

START_TEST(test_retry_after_success)
{
	struct intake_result r;

	open_state(0, 0);
	ck_assert_int_eq(fix_submit(S, "a", "e1", 1, REPORT_KIND_DISCOVERED, "a x", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 2);
	ck_assert_int_eq(fix_submit(S, "a", "e1", 1, REPORT_KIND_DISCOVERED, "a x", &r, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(r.accepted, 0);
	ck_assert_uint_eq(r.duplicates, 2);
	ck_assert_int_eq(fix_state_of(S, "x"), MON_DISCOVERED);
}
END_TEST

/*
 * Scale: SCALE_N reporters each report all SCALE_N nodes alive, then all
 * but one report that one gone. Its state, every other node's, and the
 * incremental counts against a recount from scratch.
 */
START_TEST(test_scale)
{
	struct report *all = calloc(SCALE_N, sizeof(*all));
	char names[SCALE_N][8];
	const char *victim = names[SCALE_N / 2];
	struct report_batch b = { .reports = all, .n = SCALE_N };
	struct intake_result r;

	ck_assert_ptr_nonnull(all);
	open_state(0, 0);
	for (size_t i = 0; i < SCALE_N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%03zu", i);
		fix_report(&all[i], names[i], "member-join");
	}
	for (size_t i = 0; i < SCALE_N; i++) {
		struct intake_origin o = { .reporter = names[i], .epoch = "e", .seq = 1,
			.has_seq = true, .remote = "test" };
		ck_assert_int_eq(intake_apply(S, &b, REPORT_KIND_DISCOVERED, &o, &r, err,
		    sizeof(err)), 0);
		ck_assert_uint_eq(r.accepted, SCALE_N);
	}
	for (size_t i = 0; i < SCALE_N; i++) {
		if (names[i] == victim)
			continue;
		ck_assert_int_eq(fix_submit(S, names[i], "e", 2, REPORT_KIND_DISAPPEARED, victim,
		    &r, err, sizeof(err)), 0);
	}
	pthread_rwlock_wrlock(&S->lock);
	ck_assert_uint_eq(inventory_count(S->inv), SCALE_N);
	for (size_t i = 0; i < SCALE_N; i++) {
		struct node *n = inventory_get(S->inv, names[i]);
		uint32_t alive = n->oth_alive, gone = n->oth_gone;
		uint8_t self = n->self_kind;
		bool is_victim = names[i] == victim;

		ck_assert_msg(n->state == (is_victim ? MON_DISAPPEARED : MON_DISCOVERED),
		    "%s is %s", n->name, mon_state_name(n->state));
		/* The victim's own votes stopped counting when it disappeared. */
		ck_assert_uint_eq(alive, (is_victim ? 0 : SCALE_N - 2));
		ck_assert_uint_eq(gone, (is_victim ? SCALE_N - 1 : 0));
		votes_recount(n, state_reporter_counts, S);
		ck_assert_msg(n->oth_alive == alive && n->oth_gone == gone &&
		    n->self_kind == self, "%s: incremental %u/%u, recount %u/%u", n->name,
		    alive, gone, n->oth_alive, n->oth_gone);
	}
	pthread_rwlock_unlock(&S->lock);
	for (size_t i = 0; i < SCALE_N; i++)
		report_finish(&all[i]);
	free(all);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("intake");
	TCase *tc = tcase_create("rules");
	TCase *tp = tcase_create("pipeline");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_script, 0, sizeof(scripts) / sizeof(scripts[0]));
	tcase_add_test(tc, test_timer_heap);
	tcase_add_test(tc, test_operator_clears_votes);
	tcase_add_test(tc, test_disruption);
	tcase_add_test(tc, test_disruption_window);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tp, NULL, teardown);
	tcase_set_timeout(tp, 120);
	tcase_add_test(tp, test_watermark);
	tcase_add_loop_test(tp, test_store_fault, 0, 2);
	tcase_add_test(tp, test_retry_after_success);
	tcase_add_test(tp, test_scale);
	suite_add_tcase(s, tp);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
