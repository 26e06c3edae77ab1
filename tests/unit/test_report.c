/* Unit tests: report validation and node naming (CONTRACT section 2). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "report.h"

static const struct {
	const char *s;
	bool ok;
} labels[] = {
	{ "node1", true }, { "a", true }, { "A.b_c-d", true }, { "9x", true },
	{ "", false }, { "-x", false }, { ".x", false }, { "_x", false },
	{ "a b", false }, { "a;b", false }, { "a$(id)", false }, { "../x", false },
	{ "a\nb", false }, { "a/b", false }, { "\xc3\xa9t\xc3\xa9", false },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true },	/* 63 */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },	/* 64 */
};

START_TEST(test_label)
{
	ck_assert_msg(report_label_valid(labels[_i].s) == labels[_i].ok, "label '%s'",
	    labels[_i].s);
}
END_TEST

static const struct {
	const char *s;
	bool ok;
} addrs[] = {
	{ "10.0.0.1", true }, { "127.0.0.2", true }, { "::1", true },
	{ "fe80::1:2", true }, { "host.example.com", true }, { "node-1", true },
	{ "host.example.com.", true }, { "", false }, { "999.1.1.1", false },
	{ "1.2.3", false }, { "-bad.com", false }, { "bad-.com", false },
	{ "a..b", false }, { "a b", false }, { "x;rm", false }, { "$(id)", false },
	{ "a_b", false }, { "[::1]", false },
};

START_TEST(test_addr)
{
	ck_assert_msg(report_addr_valid(addrs[_i].s) == addrs[_i].ok, "addr '%s'",
	    addrs[_i].s);
}
END_TEST

START_TEST(test_validate_and_name)
{
	struct report r;
	char why[256], name[LIMIT_NODE_NAME_LEN + 1];

	report_init(&r);
	ck_assert_int_eq(report_validate(&r, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "Node-Label"));
	ck_assert_int_eq(report_set(&r, "Node-Label", "n1"), 0);
	ck_assert_int_eq(report_validate(&r, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "Node-Mgmt-Address"));
	ck_assert_int_eq(report_set(&r, "Node-Mgmt-Address", "10.1.1.1"), 0);
	ck_assert_int_eq(report_validate(&r, why, sizeof(why)), 0);
	ck_assert_int_eq(report_node_name(&r, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "n1");
	ck_assert_int_eq(report_set(&r, "Node-Serial", "SN9"), 0);
	ck_assert_int_eq(report_node_name(&r, name, sizeof(name)), 0);
	ck_assert_str_eq(name, "n1-SN9");
	ck_assert_int_eq(report_set(&r, "Node-Serial", "x"), -EEXIST);
	ck_assert_int_eq(report_set(&r, "rack", "r1"), 0);
	ck_assert_str_eq(report_get(&r, "rack"), "r1");
	ck_assert_int_eq(report_set(&r, "Serf-Event", "user"), 0);
	ck_assert_int_eq(report_validate(&r, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "Serf-Event"));
	report_finish(&r);
}
END_TEST

START_TEST(test_limits)
{
	struct report r;
	char key[32], big[LIMIT_TAG_VALUE_LEN + 2];

	report_init(&r);
	for (int i = 0; i < LIMIT_REPORT_TAGS; i++) {
		snprintf(key, sizeof(key), "t%d", i);
		ck_assert_int_eq(report_set(&r, key, "v"), 0);
	}
	ck_assert_int_eq(report_set(&r, "one-more", "v"), -E2BIG);
	report_finish(&r);

	report_init(&r);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(report_set(&r, "tag", big), -E2BIG);
	ck_assert_int_eq(report_set(&r, "Node-Label", big), -E2BIG);
	report_finish(&r);
}
END_TEST

START_TEST(test_copy_equal)
{
	struct report a, b;

	report_init(&a);
	report_init(&b);
	report_set(&a, "Node-Label", "n1");
	report_set(&a, "Node-Mgmt-Address", "1.2.3.4");
	report_set(&a, "x", "1");
	report_set(&a, "y", "2");
	ck_assert_int_eq(report_copy(&b, &a), 0);
	ck_assert(report_equal(&a, &b));
	report_finish(&b);
	report_init(&b);
	report_set(&b, "Node-Label", "n1");
	report_set(&b, "Node-Mgmt-Address", "1.2.3.4");
	report_set(&b, "y", "2");
	report_set(&b, "x", "1");
	ck_assert(report_equal(&a, &b));	/* tag order does not matter */
	report_finish(&b);
	report_init(&b);
	report_set(&b, "Node-Label", "n1");
	report_set(&b, "Node-Mgmt-Address", "1.2.3.5");
	ck_assert(!report_equal(&a, &b));
	report_finish(&a);
	report_finish(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_label, 0, sizeof(labels) / sizeof(labels[0]));
	tcase_add_loop_test(tc, test_addr, 0, sizeof(addrs) / sizeof(addrs[0]));
	tcase_add_test(tc, test_validate_and_name);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_copy_equal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
