/*
 * Unit tests: serf-forwarder's observer assignment (observe.c): parsing a
 * reply's observe, the file kept in the spool dir, which members a run
 * reports, the members seen, the reports left out as reported already.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsio.h"
#include "observe.h"

static char why[256];

START_TEST(test_parse)
{
	struct observe o;

	ck_assert_int_eq(observe_parse("{\"version\":7,\"subjects\":[\"a\",\"b\"]}", &o, why,
	    sizeof(why)), 0);
	ck_assert(o.known && o.on);
	ck_assert_uint_eq(o.version, 7);
	ck_assert_uint_eq(o.n, 2);
	ck_assert(observe_wants(&o, "me", "me"));
	ck_assert(observe_wants(&o, "me", "b"));
	ck_assert(!observe_wants(&o, "me", "c"));
	ck_assert(!observe_wants(&o, "me", NULL));
	observe_finish(&o);
	/* off: every member */
	ck_assert_int_eq(observe_parse("{\"version\":0}", &o, why, sizeof(why)), 0);
	ck_assert(o.known && !o.on);
	ck_assert(observe_wants(&o, "me", "c"));
	observe_finish(&o);
	/* malformed: refused with a reason, nothing taken */
	static const char *bad[] = { "[]", "{\"version\":\"1\",\"subjects\":[]}",
		"{\"version\":-1,\"subjects\":[]}", "{\"version\":1.5,\"subjects\":[]}",
		"{\"version\":3}", "{\"version\":3,\"subjects\":[1]}",
		"{\"version\":3,\"subjects\":[\"\"]}", "{\"version\":3,\"subjects\":\"a\"}",
		"{\"version\":3,\"subjects\":[\"a\\nb\"]}", "{not json" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(observe_parse(bad[i], &o, why, sizeof(why)) == -EINVAL, "%s", bad[i]);
		ck_assert(why[0] != '\0');
	}
	/* none known: every member */
	memset(&o, 0, sizeof(o));
	ck_assert(observe_wants(&o, "me", "c"));
}
END_TEST

START_TEST(test_file_round_trip)
{
	char dir[] = "/tmp/test_observe.XXXXXX";
	struct observe o, back;
	char path[128];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(observe_load(dir, &back, why, sizeof(why)), 0);
	ck_assert(!back.known);
	ck_assert_int_eq(observe_parse("{\"version\":12,\"subjects\":[\"x\",\"y\",\"z\"]}", &o,
	    why, sizeof(why)), 0);
	ck_assert_int_eq(observe_save(dir, &o), 0);
	ck_assert_int_eq(observe_load(dir, &back, why, sizeof(why)), 0);
	ck_assert(back.known && back.on);
	ck_assert_uint_eq(back.version, 12);
	ck_assert_uint_eq(back.n, 3);
	ck_assert_str_eq(back.subjects[2], "z");
	observe_finish(&back);
	observe_finish(&o);
	/* a damaged file is an error with a reason (the caller ignores it) */
	snprintf(path, sizeof(path), "%s/%s", dir, OBSERVE_FILE);
	ck_assert_int_eq(fsio_write_atomic(dir, OBSERVE_FILE, "{\"vers", 6, 0600), 0);
	ck_assert_int_eq(observe_load(dir, &back, why, sizeof(why)), -EINVAL);
	unlink(path);
	rmdir(dir);
}
END_TEST

static void
add(struct batch *b, const char *name)
{
	struct report r;

	report_init(&r);
	ck_assert_int_eq(report_set(&r, REPORT_KEY_LABEL, name), 0);
	ck_assert_int_eq(report_set(&r, REPORT_KEY_ADDR, "10.0.0.1"), 0);
	ck_assert_int_eq(report_set(&r, REPORT_KEY_NAME, name), 0);
	ck_assert_int_eq(batch_add(b, &r), 0);
}

START_TEST(test_members_seen)
{
	char dir[] = "/tmp/test_observe_m.XXXXXX", path[128];
	struct batch b, m;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	batch_init(&b);
	b.kind = REPORT_KIND_DISCOVERED;
	add(&b, "a");
	add(&b, "b");
	add(&b, "c");
	ck_assert_int_eq(observe_members_update(dir, &b), 0);
	batch_finish(&b);
	batch_init(&b);
	b.kind = REPORT_KIND_DISAPPEARED;
	add(&b, "b");
	ck_assert_int_eq(observe_members_update(dir, &b), 0);
	batch_finish(&b);
	struct batch g;
	ck_assert_int_eq(observe_members_load(dir, &m, &g), 0);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_str_eq(m.reports[0].name, "a");
	ck_assert_str_eq(m.reports[1].name, "c");
	/* b, seen gone last, is kept as such: a later subject's failure is told */
	ck_assert_uint_eq(g.n, 1);
	ck_assert_str_eq(g.reports[0].name, "b");
	batch_finish(&m);
	batch_finish(&g);
	/* a long log is compacted on load to one line per member, its last */
	for (int i = 0; i < 100; i++) {
		batch_init(&b);
		b.kind = i % 2 ? REPORT_KIND_DISCOVERED : REPORT_KIND_DISAPPEARED;
		add(&b, "a");
		ck_assert_int_eq(observe_members_update(dir, &b), 0);
		batch_finish(&b);
	}
	ck_assert_int_eq(observe_members_load(dir, &m, NULL), 0);
	ck_assert_uint_eq(m.n, 2);	/* a (last seen alive), c */
	batch_finish(&m);
	snprintf(path, sizeof(path), "%s/%s", dir, OBSERVE_MEMBERS_FILE);
	{
		char *buf;
		size_t len, lines = 0;
		ck_assert_int_eq(fsio_read_file(path, 1 << 20, &buf, &len), 0);
		for (size_t i = 0; i < len; i++)
			lines += buf[i] == '\n';
		ck_assert_uint_eq(lines, 3);	/* a and c alive, b gone */
		free(buf);
	}
	unlink(path);
	rmdir(dir);
}
END_TEST

/* The batch after an assignment taken leaves out what was reported on taking it. */
START_TEST(test_drop_reported)
{
	struct batch b, sent;

	batch_init(&b);
	batch_init(&sent);
	b.kind = sent.kind = REPORT_KIND_DISCOVERED;
	add(&b, "a");
	add(&b, "b");
	add(&b, "c");
	add(&sent, "b");
	add(&sent, "c");
	add(&sent, "x");
	/* c as reported differs from c in the batch (a tag changed): it stays */
	ck_assert_int_eq(report_set(&sent.reports[1], "rack", "r1"), 0);
	ck_assert_uint_eq(observe_drop_reported(&b, &sent), 1);
	ck_assert_uint_eq(b.n, 2);
	ck_assert_str_eq(b.reports[0].name, "a");
	ck_assert_str_eq(b.reports[1].name, "c");
	/* reported alive, the batch says gone: nothing dropped */
	b.kind = REPORT_KIND_DISAPPEARED;
	add(&sent, "a");
	ck_assert_uint_eq(observe_drop_reported(&b, &sent), 0);
	ck_assert_uint_eq(b.n, 2);
	batch_finish(&b);
	batch_finish(&sent);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("observe");
	TCase *tc = tcase_create("forwarder");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_file_round_trip);
	tcase_add_test(tc, test_members_seen);
	tcase_add_test(tc, test_drop_reported);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
