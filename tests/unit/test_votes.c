/*
 * Unit tests: the vote rules of CONTRACT 3.2, table driven. Each case is a
 * cluster of nodes (by member name, with their current states), the votes on
 * one target node, and the state the rules must give at a point in time.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "votes.h"

#define MAXV 8

struct vote_in {
	const char *reporter;
	bool alive;
};

struct member_in {
	const char *member;
	enum mon_state state;
};

static const struct {
	const char *what;
	const char *target;		/* the target's own member name */
	enum mon_state current;
	long long gone_since;		/* 0 = none pending */
	struct vote_in votes[MAXV];
	struct member_in members[MAXV];	/* states of the reporters' nodes */
	long long grace_ms, now;
	long quorum;
	enum mon_state want;
	int want_alive, want_gone;
	long long want_deadline;
} cases[] = {
	{ "lone node discovered by its own join", "a", MON_UNKNOWN, 0,
	    { { "a", true } }, { { "a", MON_UNKNOWN } }, 0, 1000, 0,
	    MON_DISCOVERED, 1, 0, 0 },
	{ "own vote ignored once others vote", "c", MON_DISCOVERED, 0,
	    { { "c", true }, { "a", false }, { "b", false } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 0, 1000, 0,
	    MON_DISAPPEARED, 0, 2, 0 },
	{ "exact half is not a majority", "c", MON_DISCOVERED, 0,
	    { { "a", false }, { "b", true } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 0, 1000, 0,
	    MON_DISCOVERED, 1, 1, 0 },
	{ "3/2 partition, majority side's view of a minority node", "d", MON_DISCOVERED, 0,
	    { { "a", false }, { "b", false }, { "c", false }, { "e", true }, { "d", true } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED }, { "c", MON_DISCOVERED },
	      { "e", MON_DISCOVERED } }, 0, 1000, 0,
	    MON_DISAPPEARED, 1, 3, 0 },
	{ "3/2 partition, minority's votes on a majority node", "a", MON_DISCOVERED, 0,
	    { { "d", false }, { "e", false }, { "b", true }, { "c", true }, { "a", true } },
	    { { "b", MON_DISCOVERED }, { "c", MON_DISCOVERED }, { "d", MON_DISCOVERED },
	      { "e", MON_DISCOVERED } }, 0, 1000, 0,
	    MON_DISCOVERED, 2, 2, 0 },
	{ "votes of Disappeared reporters do not count", "a", MON_DISCOVERED, 0,
	    { { "d", false }, { "e", false }, { "b", true } },
	    { { "b", MON_DISCOVERED }, { "d", MON_DISAPPEARED }, { "e", MON_DISAPPEARED } },
	    0, 1000, 0, MON_DISCOVERED, 1, 0, 0 },
	{ "a disappeared reporter's own vote on itself still counts alone", "z",
	    MON_DISAPPEARED, 0, { { "z", true } }, { { "z", MON_DISAPPEARED } }, 0, 1000, 0,
	    MON_DISCOVERED, 1, 0, 0 },
	{ "only Disappeared others: own vote counts again", "z", MON_DISCOVERED, 0,
	    { { "z", true }, { "y", false } }, { { "y", MON_DISAPPEARED } }, 0, 1000, 0,
	    MON_DISCOVERED, 1, 0, 0 },
	{ "grace: gone majority just seen holds the state", "c", MON_DISCOVERED, 0,
	    { { "a", false }, { "b", false } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 5000, 1000, 0,
	    MON_DISCOVERED, 0, 2, 6000 },
	{ "grace: still within", "c", MON_DISCOVERED, 1000,
	    { { "a", false }, { "b", false } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 5000, 5999, 0,
	    MON_DISCOVERED, 0, 2, 6000 },
	{ "grace: ended", "c", MON_DISCOVERED, 1000,
	    { { "a", false }, { "b", false } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 5000, 6000, 0,
	    MON_DISAPPEARED, 0, 2, 0 },
	{ "flap: alive again within grace clears the pending", "c", MON_DISCOVERED, 1000,
	    { { "a", true }, { "b", false } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 5000, 3000, 0,
	    MON_DISCOVERED, 1, 1, 0 },
	{ "fixed quorum reached by a minority of votes", "c", MON_DISCOVERED, 0,
	    { { "a", false }, { "b", false }, { "d", true }, { "e", true }, { "f", true } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED }, { "d", MON_DISCOVERED },
	      { "e", MON_DISCOVERED }, { "f", MON_DISCOVERED } }, 0, 1000, 2,
	    MON_DISAPPEARED, 3, 2, 0 },
	{ "fixed quorum not reached by a majority", "c", MON_DISCOVERED, 0,
	    { { "a", false }, { "b", false } },
	    { { "a", MON_DISCOVERED }, { "b", MON_DISCOVERED } }, 0, 1000, 3,
	    MON_DISCOVERED, 0, 2, 0 },
	{ "no counted votes keep the state", "c", MON_DISAPPEARED, 0,
	    { { "x", true } }, { { "x", MON_DISAPPEARED } }, 0, 1000, 0,
	    MON_DISAPPEARED, 0, 0, 0 },
	{ "unknown reporters count", "c", MON_UNKNOWN, 0,
	    { { "outsider", true } }, { { NULL, MON_UNKNOWN } }, 0, 1000, 0,
	    MON_DISCOVERED, 1, 0, 0 },
	{ "one-reporter cluster: the lone reporter says another node is gone", "b",
	    MON_DISCOVERED, 0, { { "a", false } }, { { "a", MON_DISCOVERED } }, 0, 1000, 0,
	    MON_DISAPPEARED, 0, 1, 0 },
};

static const struct member_in *cur_members;

/* Reporter ids: a name's position in a small table of the case's names. */
static const char *rid_names[2 * MAXV];
static uint32_t nrids;

static uint32_t
rid_of(const char *name)
{
	for (uint32_t i = 0; i < nrids; i++)
		if (strcmp(rid_names[i], name) == 0)
			return i;
	rid_names[nrids] = name;
	return nrids++;
}

static enum mon_state
member_state(const char *member)
{
	for (int i = 0; i < MAXV && cur_members[i].member != NULL; i++)
		if (strcmp(cur_members[i].member, member) == 0)
			return cur_members[i].state;
	return MON_UNKNOWN;
}

/* Rule 2: a reporter's votes count unless its node is Disappeared. */
static bool
counts(uint32_t rid, const struct node *n, void *arg)
{
	(void)arg;
	(void)n;
	return member_state(rid_names[rid]) != MON_DISAPPEARED;
}

static void
make_node(struct node *n, int c)
{
	memset(n, 0, sizeof(*n));
	nrids = 0;
	report_init(&n->rep);
	n->name = strdup(cases[c].target);
	n->host_group = strdup("");
	report_set(&n->rep, REPORT_KEY_NAME, cases[c].target);
	n->self_rid = rid_of(cases[c].target);
	n->state = cases[c].current;
	n->gone_since_ms = cases[c].gone_since;
	for (int i = 0; i < MAXV && cases[c].votes[i].reporter != NULL; i++) {
		uint32_t rid = rid_of(cases[c].votes[i].reporter);
		ck_assert_int_eq(votes_record(n, rid, cases[c].votes[i].alive ? VOTE_ALIVE :
		    VOTE_GONE, (uint64_t)i + 1, 1, counts(rid, n, NULL), NULL), 0);
	}
}

START_TEST(test_rules)
{
	struct votes_params p = { .grace_ms = cases[_i].grace_ms, .quorum = cases[_i].quorum,
		.disruption_ratio = 0.55, .disruption_window_ms = 60000 };
	struct votes_result r;
	struct node n;

	cur_members = cases[_i].members;
	make_node(&n, _i);
	votes_evaluate(&n, &p, cases[_i].now, NULL, &r);
	ck_assert_msg(r.state == cases[_i].want, "%s: state %s, want %s", cases[_i].what,
	    mon_state_name(r.state), mon_state_name(cases[_i].want));
	ck_assert_msg(r.alive == cases[_i].want_alive && r.gone == cases[_i].want_gone,
	    "%s: counted %d alive %d gone", cases[_i].what, r.alive, r.gone);
	ck_assert_msg(r.deadline_ms == cases[_i].want_deadline, "%s: deadline %lld",
	    cases[_i].what, r.deadline_ms);
	/* Counting again from the table gives the same counts. */
	{
		uint32_t a = n.oth_alive, g = n.oth_gone;
		uint8_t sk = n.self_kind;
		votes_recount(&n, counts, NULL);
		ck_assert_uint_eq(a, n.oth_alive);
		ck_assert_uint_eq(g, n.oth_gone);
		ck_assert_uint_eq(sk, n.self_kind);
	}
	node_finish(&n);
}
END_TEST

START_TEST(test_newer_vote_replaces_older)
{
	struct node n;
	struct vote *v;
	bool fresh;

	memset(&n, 0, sizeof(n));
	n.self_rid = VOTE_NO_REPORTER;
	ck_assert_int_eq(votes_record(&n, 0, VOTE_ALIVE, 1, 10, true, &fresh), 0);
	ck_assert(fresh);
	ck_assert_int_eq(votes_record(&n, 1, VOTE_ALIVE, 1, 10, true, &fresh), 0);
	ck_assert_int_eq(votes_record(&n, 0, VOTE_GONE, 2, 20, true, &fresh), 0);
	ck_assert(!fresh);
	ck_assert_uint_eq(n.votes.used, 2);
	ck_assert_uint_eq(n.oth_alive, 1);
	ck_assert_uint_eq(n.oth_gone, 1);
	v = votes_find(&n, 0);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v->kind, VOTE_GONE);
	ck_assert_uint_eq(v->seq, 2);
	ck_assert_int_eq(v->received_ms, 20);
	votes_clear(&n);
	/* Cleared votes stay as entries of kind none; nothing counts. */
	ck_assert_uint_eq(n.votes.used, 2);
	ck_assert_uint_eq(n.oth_alive + n.oth_gone, 0);
	ck_assert_uint_eq(votes_find(&n, 1)->kind, VOTE_NONE);
	node_finish(&n);
}
END_TEST

START_TEST(test_table_grows)
{
	struct node n;

	memset(&n, 0, sizeof(n));
	n.self_rid = VOTE_NO_REPORTER;
	for (uint32_t i = 0; i < 5000; i++)
		ck_assert_int_eq(votes_record(&n, i * 7, i % 3 ? VOTE_ALIVE : VOTE_GONE, i, 1,
		    true, NULL), 0);
	ck_assert_uint_eq(n.votes.used, 5000);
	ck_assert_uint_eq(n.oth_alive + n.oth_gone, 5000);
	for (uint32_t i = 0; i < 5000; i++)
		ck_assert_uint_eq(votes_find(&n, i * 7)->seq, i);
	ck_assert_ptr_null(votes_find(&n, 1));
	node_finish(&n);
}
END_TEST

START_TEST(test_reporter_flip)
{
	struct node n;

	memset(&n, 0, sizeof(n));
	n.self_rid = 9;
	ck_assert_int_eq(votes_record(&n, 1, VOTE_GONE, 1, 1, true, NULL), 0);
	ck_assert_int_eq(votes_record(&n, 9, VOTE_ALIVE, 1, 1, true, NULL), 0);
	ck_assert_uint_eq(n.oth_gone, 1);
	ck_assert(votes_set_counted(&n, 1, false));
	ck_assert_uint_eq(n.oth_gone, 0);
	/* The node's own vote is not a reporter's weight: it never flips. */
	ck_assert(!votes_set_counted(&n, 9, false));
	ck_assert(!votes_set_counted(&n, 4, true));
	ck_assert(votes_set_counted(&n, 1, true));
	ck_assert_uint_eq(n.oth_gone, 1);
	node_finish(&n);
}
END_TEST

START_TEST(test_counted_flags)
{
	struct node n;

	cur_members = cases[1].members;
	make_node(&n, 1);	/* own vote plus two others */
	ck_assert(!votes_counted(&n, votes_find(&n, rid_of("c"))));
	ck_assert(votes_counted(&n, votes_find(&n, rid_of("a"))));
	ck_assert(votes_set_counted(&n, rid_of("a"), false));
	ck_assert(!votes_counted(&n, votes_find(&n, rid_of("a"))));
	/* Set again to the same: nothing moves. */
	ck_assert(!votes_set_counted(&n, rid_of("a"), false));
	node_finish(&n);
}
END_TEST

START_TEST(test_self_leave)
{
	struct report r;

	report_init(&r);
	report_set(&r, REPORT_KEY_NAME, "n1");
	report_set(&r, REPORT_KEY_EVENT, "member-leave");
	ck_assert(votes_is_self_leave(&r, "n1"));
	ck_assert(!votes_is_self_leave(&r, "n2"));
	ck_assert(!votes_is_self_leave(&r, NULL));
	report_finish(&r);
	report_init(&r);
	report_set(&r, REPORT_KEY_NAME, "n1");
	report_set(&r, REPORT_KEY_EVENT, "member-failed");
	ck_assert(!votes_is_self_leave(&r, "n1"));
	report_finish(&r);
}
END_TEST

static const struct {
	bool current;
	size_t recent, gone, total;
	bool want;
} disruption[] = {
	{ false, 0, 0, 0, false },
	{ false, 3, 3, 5, true },	/* 0.6 > 0.55 */
	{ false, 2, 2, 5, false },	/* 0.4 */
	{ false, 2, 4, 5, false },	/* old losses do not enter the mode */
	{ true, 0, 3, 5, true },	/* stays while most are gone */
	{ true, 0, 2, 5, false },	/* leaves when back below */
	{ true, 0, 11, 20, true },	/* 0.55 is not below 0.55 */
	{ false, 11, 11, 20, false },	/* 0.55 is not more than 0.55 */
	{ false, 12, 12, 20, true },
};

START_TEST(test_disruption)
{
	struct votes_params p = { .disruption_ratio = 0.55, .disruption_window_ms = 60000 };

	ck_assert_msg(votes_disruption(disruption[_i].current, disruption[_i].recent,
	    disruption[_i].gone, disruption[_i].total, &p) == disruption[_i].want,
	    "case %d", _i);
}
END_TEST

/*
 * CONTRACT 11 in votes_evaluate alone: a node with gone and alive votes of
 * others, its own evidence of life (heard, heartbeat), at a time. grace 5 s,
 * heartbeat timeout 25 s, heartbeat interval 10 s.
 */
static const struct life_case {
	const char *what;
	int gone, alive;		/* counted votes of other reporters */
	enum mon_state current;
	long long first_gone, gone_since;	/* as stored in the node (0 none) */
	long long heard, hb;		/* its evidence; hb 0 = never a heartbeat */
	long long now;
	enum mon_state want;
	bool partitioned, unreachable;
	long long deadline;
} life_cases[] = {
	{ "gone-majority, heard after the first gone-vote: partitioned", 3, 1,
	    MON_DISCOVERED, 10000, 10000, 12000, 12000, 20000, MON_DISCOVERED, true, false,
	    12000 + 25000 },
	{ "partitioned, then silent for the timeout: Disappeared", 3, 1, MON_DISCOVERED,
	    10000, 10000, 12000, 12000, 37000, MON_DISAPPEARED, false, false, 0 },
	{ "gone-majority, silent: held for the heartbeat interval past the grace", 3, 1,
	    MON_DISCOVERED, 10000, 10000, 9000, 9000, 15000, MON_DISCOVERED, false, false,
	    20000 },
	{ "gone-majority, silent for grace and interval: Disappeared", 3, 1, MON_DISCOVERED,
	    10000, 10000, 9000, 9000, 20000, MON_DISAPPEARED, false, false, 0 },
	{ "the grace longer than the interval decides", 3, 0, MON_DISCOVERED, 10000, 16000,
	    9000, 9000, 20500, MON_DISCOVERED, false, false, 21000 },
	{ "alive votes, heartbeat stale: unreachable", 0, 3, MON_DISCOVERED, 0, 0, 1000,
	    1000, 26000, MON_DISCOVERED, false, true, 0 },
	{ "alive votes, heartbeat fresh: nothing", 0, 3, MON_DISCOVERED, 0, 0, 1000, 1000,
	    25999, MON_DISCOVERED, false, false, 0 },
	{ "no heartbeat ever: judged as before", 3, 1, MON_DISCOVERED, 10000, 10000, 12000,
	    0, 15000, MON_DISAPPEARED, false, false, 0 },
};

START_TEST(test_life_rules)
{
	const struct life_case *lc = &life_cases[_i];
	struct votes_params p = { .grace_ms = 5000, .quorum = 0, .disruption_ratio = 0.55,
		.disruption_window_ms = 60000, .reporter_stale_ms = 30000,
		.hb_timeout_ms = 25000, .hb_interval_ms = 10000 };
	struct votes_life life = { .heard_ms = lc->heard, .hb_ms = lc->hb };
	struct votes_result r;
	struct node n;
	uint32_t rid = 0;

	memset(&n, 0, sizeof(n));
	n.self_rid = 1000;
	n.state = lc->current;
	n.first_gone_ms = lc->first_gone;
	n.gone_since_ms = lc->gone_since;
	for (int i = 0; i < lc->gone; i++)
		ck_assert_int_eq(votes_record(&n, rid++, VOTE_GONE, 1, 1, true, NULL), 0);
	for (int i = 0; i < lc->alive; i++)
		ck_assert_int_eq(votes_record(&n, rid++, VOTE_ALIVE, 1, 1, true, NULL), 0);
	votes_evaluate(&n, &p, lc->now, lc->hb != 0 ? &life : NULL, &r);
	ck_assert_msg(r.state == lc->want && r.partitioned == lc->partitioned &&
	    r.unreachable == lc->unreachable && r.deadline_ms == lc->deadline,
	    "%s: state %s partitioned %d unreachable %d deadline %lld", lc->what,
	    mon_state_name(r.state), r.partitioned, r.unreachable, r.deadline_ms);
	free(n.votes.slots);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("votes");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_rules, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_life_rules, 0, sizeof(life_cases) / sizeof(life_cases[0]));
	tcase_add_test(tc, test_newer_vote_replaces_older);
	tcase_add_test(tc, test_counted_flags);
	tcase_add_test(tc, test_table_grows);
	tcase_add_test(tc, test_reporter_flip);
	tcase_add_test(tc, test_self_leave);
	tcase_add_loop_test(tc, test_disruption, 0, sizeof(disruption) / sizeof(disruption[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
