/* Unit tests: the three report body forms and the snapshot body. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "report_json.h"

static int
decode(const char *body, enum report_form f, struct report_batch *b, char *err)
{
	return report_json_decode(body, strlen(body), f, b, err, 256);
}

static const struct {
	const char *body;
	enum report_form form;
	int rc;
	size_t n;
	const char *err_has;
} cases[] = {
	{ "[]", REPORT_FORM_ARRAY, 0, 0, NULL },
	{ "[{\"Node-Label\":\"n1\",\"Node-Serial\":\"\",\"Node-Mgmt-Address\":\"10.0.0.1\"}]",
	    REPORT_FORM_ARRAY, 0, 1, NULL },
	{ "[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"10.0.0.1\"},"
	  "{\"Node-Label\":\"n2\",\"Node-Mgmt-Address\":\"::1\",\"rack\":\"r9\"}]",
	    REPORT_FORM_ARRAY, 0, 2, NULL },
	{ "[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"10.0.0.1\"},"
	  "{\"Node-Label\":\"bad label\",\"Node-Mgmt-Address\":\"10.0.0.1\"}]",
	    REPORT_FORM_ARRAY, -EINVAL, 0, "element 1" },
	{ "[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":7}]", REPORT_FORM_ARRAY, -EINVAL, 0,
	    "Node-Mgmt-Address must be a string" },
	{ "[{\"Node-Label\":\"n1\"}]", REPORT_FORM_ARRAY, -EINVAL, 0, "Node-Mgmt-Address" },
	{ "[1]", REPORT_FORM_ARRAY, -EINVAL, 0, "not a JSON object" },
	{ "{\"Node-Label\":\"n1\"}", REPORT_FORM_ARRAY, -EINVAL, 0, "array" },
	{ "[{", REPORT_FORM_ARRAY, -EBADMSG, 0, "not valid JSON" },
	{ "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]", REPORT_FORM_ARRAY, -E2BIG, 0, "nesting" },
	{ "{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"h.example\"}", REPORT_FORM_SINGLE,
	    0, 1, NULL },
	{ "[]", REPORT_FORM_SINGLE, -EINVAL, 0, "not a JSON object" },
	{ "{\"monitor_event\":{\"name\":\"discovered\",\"nodes\":[{\"label\":\"n1\","
	  "\"serial\":\"s1\",\"addr\":\"1.1.1.1\"}]}}", REPORT_FORM_CONTIV, 0, 1, NULL },
	{ "{\"monitor_event\":{\"name\":\"exploded\",\"nodes\":[]}}", REPORT_FORM_CONTIV,
	    -EINVAL, 0, "monitor_event.name" },
	{ "{\"monitor_event\":{\"name\":\"exploded\",\"nodes\":[]}}", REPORT_FORM_CONTIV,
	    -EINVAL, 0, "Invalid or empty event name specified: \"exploded\"" },
	{ "{\"monitor_event\":{\"name\":\"\",\"nodes\":null}}", REPORT_FORM_CONTIV,
	    -EINVAL, 0, "Invalid or empty event name specified: \"\"" },
	/* contiv's monitor: its enum's String(), Go's Encoder's newline after the body. */
	{ "{\"monitor_event\":{\"name\":\"Discovered\",\"nodes\":[{\"label\":\"n1\","
	  "\"serial\":\"s1\",\"addr\":\"1.1.1.1\"}]}}\n", REPORT_FORM_CONTIV, 0, 1, NULL },
	{ "{\"monitor_event\":{\"name\":\"DISAPPEARED\",\"nodes\":[{\"label\":\"n1\","
	  "\"serial\":\"\",\"addr\":\"1.1.1.1\"}]}}", REPORT_FORM_CONTIV, 0, 1, NULL },
	{ "{\"monitor_event\":{\"name\":\"Discovered\",\"nodes\":null}}",
	    REPORT_FORM_CONTIV, 0, 0, NULL },
	{ "{\"monitor_event\":{\"name\":\"Discovered\",\"nodes\":{}}}",
	    REPORT_FORM_CONTIV, -EINVAL, 0, "nodes must be a JSON array" },
	{ "{\"monitor_event\":{\"name\":\"disappeared\",\"nodes\":[{\"label\":\"n1\"}]}}",
	    REPORT_FORM_CONTIV, -EINVAL, 0, "Node-Mgmt-Address" },
	{ "{\"members\":[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"1.1.1.1\","
	  "\"Serf-Status\":\"alive\"}]}", REPORT_FORM_SNAPSHOT, 0, 1, NULL },
	{ "{\"members\":[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"1.1.1.1\"}]}",
	    REPORT_FORM_SNAPSHOT, -EINVAL, 0, "Serf-Status" },
	{ "{\"members\":[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"1.1.1.1\","
	  "\"Serf-Status\":\"zombie\"}]}", REPORT_FORM_SNAPSHOT, -EINVAL, 0, "Serf-Status" },
	{ "[{\"Node-Label\":\"n1\",\"Node-Label\":\"n2\",\"Node-Mgmt-Address\":\"1.1.1.1\"}]",
	    REPORT_FORM_ARRAY, -EINVAL, 0, "twice" },
	{ "[{\"Node-Label\":\"a\\u0000b\",\"Node-Mgmt-Address\":\"1.1.1.1\"}]",
	    REPORT_FORM_ARRAY, -EINVAL, 0, "NUL" },
	{ "[{\"Node-Label\":\"n1\",\"Node-Mgmt-Address\":\"1.1.1.1\",\"t\":\"a\\\\u0000\"}]",
	    REPORT_FORM_ARRAY, 0, 1, NULL },	/* an escaped backslash, then text */
};

START_TEST(test_decode_table)
{
	struct report_batch b = { 0 };
	char err[256] = "";
	int rc = decode(cases[_i].body, cases[_i].form, &b, err);

	ck_assert_msg(rc == cases[_i].rc, "case %d: rc %d (%s)", _i, rc, err);
	if (rc == 0) {
		ck_assert_uint_eq(b.n, cases[_i].n);
		report_batch_finish(&b);
	} else if (cases[_i].err_has != NULL) {
		ck_assert_msg(strstr(err, cases[_i].err_has) != NULL, "case %d: '%s'", _i, err);
	}
}
END_TEST

START_TEST(test_contiv_kind)
{
	struct report_batch b = { 0 };
	char err[256];

	ck_assert_int_eq(decode("{\"monitor_event\":{\"name\":\"disappeared\",\"nodes\":"
	    "[{\"label\":\"n1\",\"addr\":\"1.1.1.1\"}]}}", REPORT_FORM_CONTIV, &b, err), 0);
	ck_assert_int_eq(b.kind, REPORT_KIND_DISAPPEARED);
	ck_assert_str_eq(b.reports[0].label, "n1");
	ck_assert_ptr_null(b.reports[0].serial);
	report_batch_finish(&b);
	ck_assert_int_eq(decode("{\"monitor_event\":{\"name\":\"Discovered\",\"nodes\":"
	    "[{\"label\":\"n1\",\"serial\":\"\",\"addr\":\"1.1.1.1\"}]}}", REPORT_FORM_CONTIV,
	    &b, err), 0);
	ck_assert_int_eq(b.kind, REPORT_KIND_DISCOVERED);
	report_batch_finish(&b);
	ck_assert_int_eq(report_kind_parse("DisAppeared"), REPORT_KIND_DISAPPEARED);
	ck_assert_int_eq(report_kind_parse("discover"), REPORT_KIND_NONE);
	ck_assert_str_eq(report_kind_name(report_kind_parse("DISCOVERED")), "discovered");
}
END_TEST

START_TEST(test_batch_limit)
{
	const char *one = "{\"Node-Label\":\"n\",\"Node-Mgmt-Address\":\"1.1.1.1\"},";
	size_t n = LIMIT_BATCH_REPORTS + 1, len = strlen(one) * n + 3;
	char *body = malloc(len), *p = body, err[256];
	struct report_batch b = { 0 };

	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(p, one, strlen(one));
		p += strlen(one);
	}
	p[-1] = ']';
	*p = '\0';
	ck_assert_int_eq(decode(body, REPORT_FORM_ARRAY, &b, err), -E2BIG);
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	free(body);
}
END_TEST

START_TEST(test_roundtrip)
{
	struct report_batch b = { 0 }, c = { 0 };
	char err[256], *out;

	ck_assert_int_eq(decode("[{\"Node-Label\":\"n1\",\"Node-Serial\":\"S\","
	    "\"Node-Mgmt-Address\":\"1.1.1.1\",\"Node-Name\":\"serf-1\",\"k\":\"a,b=c\"}]",
	    REPORT_FORM_ARRAY, &b, err), 0);
	out = report_json_encode(b.reports, b.n, 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(decode(out, REPORT_FORM_ARRAY, &c, err), 0);
	ck_assert_uint_eq(c.n, 1);
	ck_assert(report_equal(&b.reports[0], &c.reports[0]));
	free(out);
	report_batch_finish(&b);
	report_batch_finish(&c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("report_json");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_decode_table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_contiv_kind);
	tcase_add_test(tc, test_batch_limit);
	tcase_add_test(tc, test_roundtrip);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
