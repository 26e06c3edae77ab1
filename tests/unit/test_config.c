/* Unit tests: the typed config loader and its key-path errors. */
#include <check.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct conf {
	char addr[64];
	long grace;
	long big;
	double ratio;
	bool flag;
	struct config_strlist urls;
};

static const struct config_key keys[] = {
	{ "manager.addr", CONFIG_STRING, offsetof(struct conf, addr), 64, 0, 0, 0, 0 },
	{ "monitor.grace_s", CONFIG_INT, offsetof(struct conf, grace), 0, 0, 3600, 0, 0 },
	{ "big", CONFIG_INT, offsetof(struct conf, big), 0, LONG_MIN, LONG_MAX, 0, 0 },
	{ "monitor.ratio", CONFIG_DOUBLE, offsetof(struct conf, ratio), 0, 0, 0, 0.0, 1.0 },
	{ "flag", CONFIG_BOOL, offsetof(struct conf, flag), 0, 0, 0, 0, 0 },
	{ "urls", CONFIG_STRLIST, offsetof(struct conf, urls), 0, 0, 0, 0, 0 },
	{ "serf", CONFIG_IGNORED, 0, 0, 0, 0, 0, 0 },
};

static int warnings;

static void
on_warn(const char *msg, void *arg)
{
	(void)arg;
	(void)msg;
	warnings++;
}

static int
load(const char *text, struct conf *c, char *err)
{
	return config_load_json(text, strlen(text), keys, sizeof(keys) / sizeof(keys[0]), c,
	    err, 256, on_warn, NULL);
}

static const struct {
	const char *text;
	int ok;
	const char *err_has;
} cases[] = {
	{ "{}", 1, NULL },
	{ "{\"manager\":{\"addr\":\"1.2.3.4:5\"}}", 1, NULL },
	{ "{\"manager\":{\"addr\":5}}", 0, "manager.addr: expected a string" },
	{ "{\"manager\":{\"adr\":\"x\"}}", 0, "manager.adr: unknown key" },
	{ "{\"monitor\":{\"grace_s\":1.5}}", 0, "monitor.grace_s: expected an integer" },
	{ "{\"monitor\":{\"grace_s\":-1}}", 0, "monitor.grace_s: must be between" },
	{ "{\"monitor\":{\"ratio\":\"x\"}}", 0, "monitor.ratio: expected a number" },
	{ "{\"monitor\":{\"ratio\":2}}", 0, "monitor.ratio: must be between" },
	{ "{\"monitor\":5}", 0, "monitor: expected an object" },
	{ "{\"flag\":1}", 0, "flag: expected true or false" },
	{ "{\"urls\":[\"a\",2]}", 0, "urls: expected an array of strings" },
	{ "{\"serf\":{\"anything\":[1,2]}}", 1, NULL },
	/* Integers outside long, or not integers at all, name the key. */
	{ "{\"big\":9223372036854775808}", 0, "big: must be between" },
	{ "{\"big\":9223372036854775807}", 0, "big: must be between" },
	{ "{\"big\":-9223372036854777856}", 0, "big: must be between" },
	{ "{\"big\":1e300}", 0, "big: must be between" },
	{ "{\"big\":-1e300}", 0, "big: must be between" },
	{ "{\"big\":1e999}", 0, "big: expected an integer" },
	{ "{\"big\":-1e999}", 0, "big: expected an integer" },
	{ "{\"big\":1.5}", 0, "big: expected an integer" },
	{ "{\"big\":\"12\"}", 0, "big: expected an integer" },
	{ "{\"big\":NaN}", 0, "not valid JSON" },
	{ "{\"big\":nan}", 0, "not valid JSON" },
	{ "{\"big\":-9223372036854775808}", 1, NULL },
	{ "{\"big\":9223372036854774784}", 1, NULL },
	{ "{\"monitor\":{\"grace_s\":1e300}}", 0, "monitor.grace_s: must be between" },
	{ "{\"monitor\":{\"grace_s\":3601}}", 0, "monitor.grace_s: must be between" },
	{ "{\"monitor\":{\"grace_s\":3600}}", 1, NULL },
	{ "[1]", 0, "top level" },
	{ "{", 0, "not valid JSON" },
};

START_TEST(test_table)
{
	struct conf c = { .grace = 5 };
	char err[256] = "";
	int rc = load(cases[_i].text, &c, err);

	ck_assert_msg((rc == 0) == cases[_i].ok, "case %d: rc %d '%s'", _i, rc, err);
	if (!cases[_i].ok)
		ck_assert_msg(strstr(err, cases[_i].err_has) != NULL, "case %d: '%s'", _i, err);
	config_strlist_free(&c.urls);
}
END_TEST

START_TEST(test_values)
{
	struct conf c = { .grace = 5 };
	char err[256];

	warnings = 0;
	ck_assert_int_eq(load("{\"manager\":{\"addr\":\"0.0.0.0:1\"},\"monitor\":"
	    "{\"grace_s\":0,\"ratio\":0.5},\"flag\":true,\"urls\":[\"u1\",\"u2\"],"
	    "\"serf\":{}}", &c, err), 0);
	ck_assert_str_eq(c.addr, "0.0.0.0:1");
	ck_assert_int_eq(c.grace, 0);
	ck_assert(c.ratio == 0.5);
	ck_assert(c.flag);
	ck_assert_uint_eq(c.urls.n, 2);
	ck_assert_str_eq(c.urls.v[1], "u2");
	ck_assert_int_eq(warnings, 1);
	ck_assert_int_eq(load("{\"urls\":\" a , b,,c \"}", &c, err), 0);
	ck_assert_uint_eq(c.urls.n, 3);
	ck_assert_str_eq(c.urls.v[0], "a");
	ck_assert_str_eq(c.urls.v[2], "c");
	config_strlist_free(&c.urls);
}
END_TEST

/* The ends of long that a double holds exactly load exactly. */
START_TEST(test_long_edges)
{
	struct conf c = { .grace = 5 };
	char err[256];

	ck_assert_int_eq(load("{\"big\":-9223372036854775808}", &c, err), 0);
	ck_assert(c.big == LONG_MIN);
	ck_assert_int_eq(load("{\"big\":9223372036854774784}", &c, err), 0);
	ck_assert(c.big == 9223372036854774784L);
	c.big = 7;
	ck_assert_int_ne(load("{\"big\":9223372036854775808}", &c, err), 0);
	ck_assert(c.big == 7);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_table, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_long_edges);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
