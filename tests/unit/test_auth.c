/* Unit tests: the tokens file, bound and shared reporter tokens, checks. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterm/http/auth.h"
#include "cm_limits.h"

static char dir[PATH_MAX];
static char path[PATH_MAX + 16];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_auth.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tokens.json", dir);
}

static void
teardown(void)
{
	remove(path);
	rmdir(dir);
}

/* Writes text as the tokens file (mode 0600) and loads it. */
static int
load(const char *text, struct auth **ret, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0600), 0);
	return auth_load(path, ret, err, errlen);
}

#define TOK(n, r, extra, t) "{\"name\":\"" n "\",\"role\":\"" r "\"" extra ",\"token\":\"" t "\"}"

START_TEST(test_bound_and_shared)
{
	struct auth *a = NULL;
	struct auth_id id = { 0 };
	char err[512] = "", names[64];

	ck_assert_int_eq(load("{\"tokens\":["
	    TOK("ops", "admin", "", "admin-token-0123456789") ","
	    TOK("node-n1", "reporter", ",\"reporter\":\"n1\"", "n1-token-0123456789") ","
	    TOK("fwd", "reporter", "", "shared-token-0123456789") ","
	    TOK("fwd2", "reporter", "", "shared-token-2123456789") "]}", &a, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(auth_count(a), 4);

	ck_assert_int_eq(auth_check(a, "Bearer n1-token-0123456789", AUTH_REPORTER, &id), 0);
	ck_assert_str_eq(id.name, "node-n1");
	ck_assert_int_eq(id.role, AUTH_REPORTER);
	ck_assert_str_eq(id.reporter, "n1");

	ck_assert_int_eq(auth_check(a, "Bearer shared-token-0123456789", AUTH_REPORTER, &id), 0);
	ck_assert_str_eq(id.name, "fwd");
	ck_assert_ptr_null(id.reporter);

	/* A known token without the role: 403, and still named. */
	memset(&id, 0, sizeof(id));
	ck_assert_int_eq(auth_check(a, "Bearer n1-token-0123456789", AUTH_READER, &id), 403);
	ck_assert_str_eq(id.name, "node-n1");
	ck_assert_int_eq(auth_check(a, "Bearer admin-token-0123456789", AUTH_REPORTER, &id), 0);
	ck_assert_int_eq(id.role, AUTH_ADMIN);
	ck_assert_int_eq(auth_check(a, "Bearer nope-nope-nope-nope", AUTH_REPORTER, &id), 401);
	ck_assert_int_eq(auth_check(a, NULL, AUTH_REPORTER, &id), 401);

	ck_assert_uint_eq(auth_shared_reporters(a, names, sizeof(names)), 2);
	ck_assert_str_eq(names, "fwd, fwd2");
	/* Too small a buffer: still the count, the list marked as cut. */
	ck_assert_uint_eq(auth_shared_reporters(a, names, 7), 2);
	ck_assert_str_eq(names, "fwd...");
	ck_assert_uint_eq(auth_shared_reporters(a, names, 0), 2);
	ck_assert_uint_eq(auth_shared_reporters(NULL, names, sizeof(names)), 0);
	ck_assert_str_eq(names, "");
	auth_free(a);
}
END_TEST

START_TEST(test_reporter_key_checked)
{
	static const char *bad[] = { "5", "\"\"", "\"a b\"", "null", "[\"n1\"]", "true",
		"\"a\\u0001b\"" };
	struct auth *a = NULL;
	char err[512], text[512], longname[LIMIT_MEMBER_NAME_LEN + 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"tokens\":[{\"name\":\"x\",\"role\":\"reporter\","
		    "\"reporter\":%s,\"token\":\"abcdefghijklmnopqrstuvwxyz\"}]}", bad[i]);
		err[0] = '\0';
		ck_assert_int_lt(load(text, &a, err, sizeof(err)), 0);
		ck_assert_ptr_null(a);
		ck_assert_msg(strstr(err, "token x: reporter must be") != NULL, "%s: %s", bad[i],
		    err);
	}
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text), "{\"tokens\":[" TOK("x", "reporter", ",\"reporter\":\"%s\"",
	    "abcdefghijklmnopqrstuvwxyz") "]}", longname);
	ck_assert_int_lt(load(text, &a, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "reporter must be"));
	longname[LIMIT_MEMBER_NAME_LEN] = '\0';
	snprintf(text, sizeof(text), "{\"tokens\":[" TOK("x", "reporter", ",\"reporter\":\"%s\"",
	    "abcdefghijklmnopqrstuvwxyz") "]}", longname);
	ck_assert_int_eq(load(text, &a, err, sizeof(err)), 0);
	auth_free(a);
	a = NULL;

	ck_assert_int_lt(load("{\"tokens\":[" TOK("x", "admin", ",\"reporter\":\"n1\"",
	    "abcdefghijklmnopqrstuvwxyz") "]}", &a, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "only for tokens of role reporter"));
}
END_TEST

START_TEST(test_member_name)
{
	ck_assert(auth_member_name_valid("n1"));
	ck_assert(auth_member_name_valid("node-1.example_net"));
	ck_assert(!auth_member_name_valid(""));
	ck_assert(!auth_member_name_valid("a b"));
	ck_assert(!auth_member_name_valid("a\tb"));
	ck_assert(!auth_member_name_valid("a\x7f"));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bound_and_shared);
	tcase_add_test(tc, test_reporter_key_checked);
	tcase_add_test(tc, test_member_name);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
