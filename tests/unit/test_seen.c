/* Unit tests: member-update suppression (hashicorp/serf#555). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "seen.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_seen.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
rep(struct report *r, const char *name, const char *event, const char *rack)
{
	report_init(r);
	ck_assert_int_eq(report_set(r, REPORT_KEY_LABEL, name), 0);
	ck_assert_int_eq(report_set(r, REPORT_KEY_ADDR, "10.0.0.1"), 0);
	ck_assert_int_eq(report_set(r, REPORT_KEY_NAME, name), 0);
	ck_assert_int_eq(report_set(r, REPORT_KEY_EVENT, event), 0);
	ck_assert_int_eq(report_set(r, "rack", rack), 0);
}

START_TEST(test_suppression)
{
	struct seen *s;
	struct report join, upd, changed, other;

	rep(&join, "m1", "member-join", "r1");
	rep(&upd, "m1", "member-update", "r1");
	rep(&changed, "m1", "member-update", "r2");
	rep(&other, "m2", "member-update", "r1");

	ck_assert_int_eq(seen_load(dir, &s), 0);
	ck_assert(!seen_unchanged(s, &upd));		/* nothing known yet */
	ck_assert_int_eq(seen_note(s, REPORT_KIND_DISCOVERED, &join), 0);
	ck_assert(seen_unchanged(s, &upd));		/* the event aside, equal */
	ck_assert(!seen_unchanged(s, &changed));	/* a tag changed */
	ck_assert(!seen_unchanged(s, &other));
	for (char c = 'z'; c >= 'a'; c--) {		/* many members, out of order */
		struct report r;
		char name[8] = { 'x', c, '\0' };
		rep(&r, name, "member-join", "r");
		ck_assert_int_eq(seen_note(s, REPORT_KIND_DISCOVERED, &r), 0);
		report_finish(&r);
	}
	ck_assert_int_eq(seen_save(s, dir), 0);
	seen_free(s);

	/* it survives a run */
	ck_assert_int_eq(seen_load(dir, &s), 0);
	ck_assert(seen_unchanged(s, &upd));
	struct report xq;
	rep(&xq, "xq", "member-update", "r");
	ck_assert(seen_unchanged(s, &xq));
	report_finish(&xq);
	/* a failure forgets the member: the same update after it is news */
	ck_assert_int_eq(seen_note(s, REPORT_KIND_DISAPPEARED, &join), 0);
	ck_assert(!seen_unchanged(s, &upd));
	ck_assert_int_eq(seen_note(s, REPORT_KIND_DISCOVERED, &changed), 0);
	ck_assert(seen_unchanged(s, &changed));
	ck_assert(!seen_unchanged(s, &upd));
	ck_assert_int_eq(seen_save(s, dir), 0);
	seen_free(s);

	report_finish(&join);
	report_finish(&upd);
	report_finish(&changed);
	report_finish(&other);
}
END_TEST

START_TEST(test_corrupt_file)
{
	char path[PATH_MAX + 8];
	struct seen *s;
	struct report upd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/seen", dir);
	f = fopen(path, "w");
	fputs("not a record", f);
	fclose(f);
	ck_assert_int_eq(seen_load(dir, &s), 0);
	rep(&upd, "m1", "member-update", "r1");
	ck_assert(!seen_unchanged(s, &upd));
	report_finish(&upd);
	seen_free(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("seen");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_suppression);
	tcase_add_test(tc, test_corrupt_file);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
