/* Unit tests: the node table, its indexes, the transition table; the string map. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "strmap.h"
#include "votes.h"


static const struct {
	enum node_status from, to;
	bool ok;
} trans[] = {
	{ NS_INCOMPLETE, NS_UNALLOCATED, true },
	{ NS_UNALLOCATED, NS_PROVISIONING, true },
	{ NS_PROVISIONING, NS_UNALLOCATED, true },
	{ NS_PROVISIONING, NS_ALLOCATED, true },
	{ NS_ALLOCATED, NS_CANCELLED, true },
	{ NS_ALLOCATED, NS_MAINTENANCE, true },
	{ NS_CANCELLED, NS_DECOMMISSIONED, true },
	{ NS_DECOMMISSIONED, NS_PROVISIONING, true },
	{ NS_MAINTENANCE, NS_UNALLOCATED, true },
	{ NS_MAINTENANCE, NS_ALLOCATED, true },
	{ NS_UNALLOCATED, NS_ALLOCATED, false },
	{ NS_ALLOCATED, NS_UNALLOCATED, false },
	{ NS_DECOMMISSIONED, NS_ALLOCATED, false },
	{ NS_CANCELLED, NS_ALLOCATED, false },
	{ NS_ALLOCATED, NS_DECOMMISSIONED, false },
	{ NS_NEW, NS_PROVISIONING, false },
};

START_TEST(test_transitions)
{
	struct node n = { .status = trans[_i].from };

	ck_assert_msg(inventory_transition_allowed(trans[_i].from, trans[_i].to) ==
	    trans[_i].ok, "%s -> %s", node_status_name(trans[_i].from),
	    node_status_name(trans[_i].to));
	ck_assert_int_eq(inventory_set_status(&n, trans[_i].to), trans[_i].ok ? 0 : -EPERM);
	ck_assert_int_eq(n.status, trans[_i].ok ? trans[_i].to : trans[_i].from);
	if (trans[_i].ok)
		ck_assert_int_eq(n.prev_status, trans[_i].from);
}
END_TEST

START_TEST(test_names)
{
	for (int i = 0; i < NS_COUNT; i++)
		ck_assert_int_eq(node_status_parse(node_status_name(i)), i);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(mon_state_parse(mon_state_name(i)), i);
	ck_assert_int_eq(node_status_parse("Bogus"), -1);
}
END_TEST

static void
set_member(struct inventory *inv, struct node *n, const char *label, const char *member)
{
	struct report r;

	report_init(&r);
	report_set(&r, REPORT_KEY_LABEL, label);
	report_set(&r, REPORT_KEY_ADDR, "10.0.0.1");
	if (member != NULL)
		report_set(&r, REPORT_KEY_NAME, member);
	ck_assert_int_eq(inventory_set_report(inv, n, &r, 0), 0);
	report_finish(&r);
}

START_TEST(test_table_and_member_index)
{
	struct inventory *inv = inventory_new();
	struct node *n, *m;
	char name[16];

	ck_assert_int_eq(inventory_add(inv, "n1", &n), 0);
	ck_assert_int_eq(n->status, NS_UNALLOCATED);
	ck_assert_int_eq(n->state, MON_UNKNOWN);
	ck_assert_int_eq(inventory_add(inv, "n1", &m), -EEXIST);
	set_member(inv, n, "n1", "serf-1");
	ck_assert_ptr_eq(inventory_by_member(inv, "serf-1"), n);
	set_member(inv, n, "n1", "serf-renamed");
	ck_assert_ptr_null(inventory_by_member(inv, "serf-1"));
	ck_assert_ptr_eq(inventory_by_member(inv, "serf-renamed"), n);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		ck_assert_int_eq(inventory_add(inv, name, &m), 0);
	}
	ck_assert_uint_eq(inventory_count(inv), 1001);
	ck_assert_ptr_eq(inventory_get(inv, "n1"), n);	/* pointers stay stable */
	ck_assert_str_eq(inventory_get(inv, "x999")->name, "x999");
	ck_assert_ptr_null(inventory_get(inv, "x1000"));
	inventory_free(inv);
}
END_TEST

START_TEST(test_last_event_kept_by_a_sync)
{
	struct inventory *inv = inventory_new();
	struct report r;
	struct node *n;

	ck_assert_int_eq(inventory_add(inv, "n1", &n), 0);
	report_init(&r);
	report_set(&r, REPORT_KEY_NAME, "serf-1");
	report_set(&r, REPORT_KEY_EVENT, "member-failed");
	ck_assert_int_eq(inventory_set_report(inv, n, &r, 0), 0);
	report_finish(&r);
	/* A sync's report of the same member carries no event. */
	set_member(inv, n, "n1", "serf-1");
	ck_assert_str_eq(n->rep.event, "member-failed");
	ck_assert_str_eq(n->rep.label, "n1");
	/* A contiv report (no Node-Name, no event) keeps both. */
	set_member(inv, n, "n1", NULL);
	ck_assert_str_eq(n->rep.event, "member-failed");
	ck_assert_str_eq(n->rep.name, "serf-1");
	/* A later event replaces it. */
	report_init(&r);
	report_set(&r, REPORT_KEY_NAME, "serf-1");
	report_set(&r, REPORT_KEY_EVENT, "member-join");
	ck_assert_int_eq(inventory_set_report(inv, n, &r, 0), 0);
	report_finish(&r);
	ck_assert_str_eq(n->rep.event, "member-join");
	inventory_free(inv);
}
END_TEST

START_TEST(test_strmap)
{
	struct strmap *m = strmap_new();
	static char keys[5000][8];

	for (int i = 0; i < 5000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		ck_assert_int_eq(strmap_put(m, keys[i], keys[i]), 0);
	}
	for (int i = 0; i < 5000; i += 2)
		ck_assert_ptr_eq(strmap_del(m, keys[i]), keys[i]);
	ck_assert_uint_eq(strmap_count(m), 2500);
	for (int i = 0; i < 5000; i++)
		ck_assert_ptr_eq(strmap_get(m, keys[i]), i % 2 ? keys[i] : NULL);
	strmap_free(m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("inventory");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_transitions, 0, sizeof(trans) / sizeof(trans[0]));
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_table_and_member_index);
	tcase_add_test(tc, test_last_event_kept_by_a_sync);
	tcase_add_test(tc, test_strmap);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
