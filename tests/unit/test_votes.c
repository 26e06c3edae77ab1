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

static enum mon_state
member_state(const char *member, void *arg)
{
	(void)arg;
	for (int i = 0; i < MAXV && cur_members[i].member != NULL; i++)
		if (strcmp(cur_members[i].member, member) == 0)
			return cur_members[i].state;
	return MON_UNKNOWN;
}

static void
make_node(struct node *n, int c)
{
	memset(n, 0, sizeof(*n));
	report_init(&n->rep);
	n->name = strdup(cases[c].target);
	n->host_group = strdup("");
	report_set(&n->rep, REPORT_KEY_NAME, cases[c].target);
	n->state = cases[c].current;
	n->gone_since_ms = cases[c].gone_since;
	for (int i = 0; i < MAXV && cases[c].votes[i].reporter != NULL; i++)
		ck_assert_int_eq(votes_record(n, cases[c].votes[i].reporter,
		    cases[c].votes[i].alive, (uint64_t)i + 1, 1), 0);
}

START_TEST(test_rules)
{
	struct votes_params p = { .grace_ms = cases[_i].grace_ms, .quorum = cases[_i].quorum,
		.disruption_ratio = 0.55, .disruption_window_ms = 60000 };
	struct votes_result r;
	struct node n;

	cur_members = cases[_i].members;
	make_node(&n, _i);
	votes_evaluate(&n, &p, member_state, NULL, cases[_i].now, &r);
	ck_assert_msg(r.state == cases[_i].want, "%s: state %s, want %s", cases[_i].what,
	    mon_state_name(r.state), mon_state_name(cases[_i].want));
	ck_assert_msg(r.alive == cases[_i].want_alive && r.gone == cases[_i].want_gone,
	    "%s: counted %d alive %d gone", cases[_i].what, r.alive, r.gone);
	ck_assert_msg(r.deadline_ms == cases[_i].want_deadline, "%s: deadline %lld",
	    cases[_i].what, r.deadline_ms);
	node_finish(&n);
}
END_TEST

START_TEST(test_newer_vote_replaces_older)
{
	struct node n;

	memset(&n, 0, sizeof(n));
	ck_assert_int_eq(votes_record(&n, "a", true, 1, 10), 0);
	ck_assert_int_eq(votes_record(&n, "b", true, 1, 10), 0);
	ck_assert_int_eq(votes_record(&n, "a", false, 2, 20), 0);
	ck_assert_uint_eq(n.nvotes, 2);
	ck_assert(!n.votes[0].alive);
	ck_assert_uint_eq(n.votes[0].seq, 2);
	ck_assert_int_eq(n.votes[0].received_ms, 20);
	votes_clear(&n);
	ck_assert_uint_eq(n.nvotes, 0);
	node_finish(&n);
}
END_TEST

START_TEST(test_counted_flags)
{
	struct node n;

	cur_members = cases[1].members;
	make_node(&n, 1);	/* own vote plus two others */
	ck_assert(!votes_counted(&n, 0, member_state, NULL));
	ck_assert(votes_counted(&n, 1, member_state, NULL));
	ck_assert(votes_counted(&n, 2, member_state, NULL));
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

int
main(void)
{
	Suite *s = suite_create("votes");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_rules, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_newer_vote_replaces_older);
	tcase_add_test(tc, test_counted_flags);
	tcase_add_test(tc, test_self_leave);
	tcase_add_loop_test(tc, test_disruption, 0, sizeof(disruption) / sizeof(disruption[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
