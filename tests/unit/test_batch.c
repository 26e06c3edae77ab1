/* Unit tests: serf event -> kind, serf member -> report. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

static const struct {
	const char *event;
	enum report_kind kind;
} events[] = {
	{ "member-join", REPORT_KIND_DISCOVERED },
	{ "member-update", REPORT_KIND_DISCOVERED },
	{ "member-leave", REPORT_KIND_DISAPPEARED },
	{ "member-failed", REPORT_KIND_DISAPPEARED },
	{ "member-reap", REPORT_KIND_DISAPPEARED },
	{ "user", REPORT_KIND_NONE },
	{ "query", REPORT_KIND_NONE },
	{ "member-frobbed", REPORT_KIND_NONE },
	{ "", REPORT_KIND_NONE },
};

START_TEST(test_event_kind)
{
	ck_assert_int_eq(batch_event_kind(events[_i].event), events[_i].kind);
}
END_TEST

static const struct batch_tags dflt = { "NodeLabel", "NodeSerial", "NodeAddr" };

static int
map(const char *line, const struct batch_tags *t, struct report *r, char *why)
{
	struct serf_member m;
	int rc;

	ck_assert_int_eq(serf_input_parse_line(line, strlen(line), &m, why, 256), 0);
	rc = batch_member_report(&m, "member-join", t, r, why, 256);
	serf_member_finish(&m);
	return rc;
}

START_TEST(test_from_tags)
{
	struct report r;
	char why[256];

	ck_assert_int_eq(map("m1\t10.0.0.1\tweb\tNodeLabel=host1,NodeSerial=SN9,"
	    "NodeAddr=192.168.1.1,role=web,rack=r4", &dflt, &r, why), 0);
	ck_assert_str_eq(r.label, "host1");
	ck_assert_str_eq(r.serial, "SN9");
	ck_assert_str_eq(r.addr, "192.168.1.1");
	ck_assert_str_eq(r.name, "m1");
	ck_assert_str_eq(r.role, "web");
	ck_assert_str_eq(r.event, "member-join");
	ck_assert_uint_eq(r.ntags, 1);	/* role and the key tags are not repeated */
	ck_assert_str_eq(report_get(&r, "rack"), "r4");
	report_finish(&r);
}
END_TEST

START_TEST(test_fallbacks)
{
	struct report r;
	char why[256];

	ck_assert_int_eq(map("m1\t10.0.0.1\t\t", &dflt, &r, why), 0);
	ck_assert_str_eq(r.label, "m1");
	ck_assert_str_eq(r.serial, "");
	ck_assert_str_eq(r.addr, "10.0.0.1");
	ck_assert_str_eq(r.role, "");
	report_finish(&r);
	/* an empty label or address tag falls back too */
	ck_assert_int_eq(map("m1\t10.0.0.1\t\tNodeLabel=,NodeAddr=", &dflt, &r, why), 0);
	ck_assert_str_eq(r.label, "m1");
	ck_assert_str_eq(r.addr, "10.0.0.1");
	report_finish(&r);
}
END_TEST

START_TEST(test_custom_tag_names)
{
	const struct batch_tags t = { "hostname", "sn", "mgmt" };
	struct report r;
	char why[256];

	ck_assert_int_eq(map("m1\t10.0.0.1\t\thostname=h,sn=1,mgmt=h.example.org,NodeLabel=x",
	    &t, &r, why), 0);
	ck_assert_str_eq(r.label, "h");
	ck_assert_str_eq(r.serial, "1");
	ck_assert_str_eq(r.addr, "h.example.org");
	ck_assert_str_eq(report_get(&r, "NodeLabel"), "x");
	report_finish(&r);
}
END_TEST

/* Members clusterm would refuse are refused here, with a reason. */
static const char *invalid[] = {
	"bad name\t10.0.0.1\t\t",			/* label from a name with a space */
	"m1\t10.0.0.1\t\tNodeLabel=-x",
	"m1\t10.0.0.1\t\tNodeSerial=a/b",
	"m1\t999.0.0.1\t\t",				/* no address */
	"m1\t10.0.0.1\t\tNodeAddr=not an address",
	"m1\t10.0.0.1\t\tNodeLabel=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

START_TEST(test_invalid)
{
	struct report r;
	char why[256] = "";

	int rc = map(invalid[_i], &dflt, &r, why);

	ck_assert_msg(rc == -EINVAL || rc == -E2BIG, "rc %d for %s", rc, invalid[_i]);
	ck_assert_msg(why[0] != '\0', "no reason for %s", invalid[_i]);
}
END_TEST

START_TEST(test_too_many_tags)
{
	char line[4096] = "m1\t10.0.0.1\t\t";
	struct report r;
	char why[256];

	for (int i = 0; i < LIMIT_REPORT_TAGS + 1; i++) {
		size_t l = strlen(line);
		snprintf(line + l, sizeof(line) - l, "%st%d=v", i ? "," : "", i);
	}
	ck_assert_int_eq(map(line, &dflt, &r, why), -E2BIG);
}
END_TEST

START_TEST(test_json)
{
	struct batch b;
	struct report r;
	char why[256], *js;

	batch_init(&b);
	ck_assert_int_eq(map("m1\t10.0.0.1\t\tk=a,b", &dflt, &r, why), 0);
	ck_assert_int_eq(batch_add(&b, &r), 0);
	js = batch_json(&b);
	ck_assert_ptr_nonnull(strstr(js, "\"Node-Label\":\"m1\""));
	ck_assert_ptr_nonnull(strstr(js, "\"k\":\"a,b\""));
	ck_assert_ptr_nonnull(strstr(js, "\"Serf-Event\":\"member-join\""));
	free(js);
	batch_remove(&b, 0);
	ck_assert_uint_eq(b.n, 0);
	batch_finish(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_event_kind, 0, sizeof(events) / sizeof(events[0]));
	tcase_add_test(tc, test_from_tags);
	tcase_add_test(tc, test_fallbacks);
	tcase_add_test(tc, test_custom_tag_names);
	tcase_add_loop_test(tc, test_invalid, 0, sizeof(invalid) / sizeof(invalid[0]));
	tcase_add_test(tc, test_too_many_tags);
	tcase_add_test(tc, test_json);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
