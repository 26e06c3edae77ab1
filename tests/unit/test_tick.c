/* Unit tests: a tick's pure parts (sync due times, the name's order, the lock). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "tick.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_tick.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_next_due_jitter)
{
	const long iv = 300;
	const long long last = 1000000;

	/* u = 0: the whole interval; u -> 1: 20 % early, never later */
	ck_assert_int_eq(tick_next_due(last, iv, 0.0), last + 300000);
	ck_assert_int_eq(tick_next_due(last, iv, 0.5), last + 270000);
	ck_assert_int_ge(tick_next_due(last, iv, 0.9999999), last + 240000);
	ck_assert_int_lt(tick_next_due(last, iv, 0.9999999), last + 240010);
	/* out of range u is clamped, never beyond the bounds */
	ck_assert_int_eq(tick_next_due(last, iv, -3.0), last + 300000);
	ck_assert_int_ge(tick_next_due(last, iv, 7.0), last + 240000);
	ck_assert_int_eq(tick_next_due(last, iv, 0.0 / 0.0), last + 300000);
	for (int i = 0; i < 1000; i++) {
		long long d = tick_next_due(last, 10, (double)i / 1000);
		ck_assert_int_ge(d, last + 8000);
		ck_assert_int_le(d, last + 10000);
	}
}
END_TEST

START_TEST(test_sync_due)
{
	/* nothing recorded: due */
	ck_assert(tick_sync_due(5000, -1, 300));
	/* at and after the due time: due; before: not */
	ck_assert(tick_sync_due(5000, 5000, 300));
	ck_assert(tick_sync_due(5001, 5000, 300));
	ck_assert(!tick_sync_due(4999, 5000, 300));
	ck_assert(!tick_sync_due(0, 300000, 300));
	/* more than one interval ahead: the clock went back, or the interval shrank */
	ck_assert(tick_sync_due(0, 300001, 300));
	ck_assert(tick_sync_due(1000, 100000, 60));
}
END_TEST

START_TEST(test_state_file)
{
	long long last = -1, due = -1;

	ck_assert_int_eq(tick_state_parse("12 34\n", &last, &due), 0);
	ck_assert_int_eq(last, 12);
	ck_assert_int_eq(due, 34);
	ck_assert_int_eq(tick_state_parse("12 34", &last, &due), 0);
	ck_assert_int_eq(tick_state_parse("12", &last, &due), -EINVAL);
	ck_assert_int_eq(tick_state_parse("12 x", &last, &due), -EINVAL);
	ck_assert_int_eq(tick_state_parse("-1 5", &last, &due), -EINVAL);
	ck_assert_int_eq(tick_state_parse("1 5 6", &last, &due), -EINVAL);
	ck_assert_int_eq(tick_state_parse("", &last, &due), -EINVAL);

	ck_assert_int_eq(tick_state_load(dir, &last, &due), -ENOENT);
	ck_assert_int_eq(tick_state_save(dir, 1700000000000LL, 1700000300000LL), 0);
	ck_assert_int_eq(tick_state_load(dir, &last, &due), 0);
	ck_assert_int_eq(last, 1700000000000LL);
	ck_assert_int_eq(due, 1700000300000LL);
}
END_TEST

START_TEST(test_name_order)
{
	const char *name = NULL;
	enum tick_name_src src;
	char longname[200];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';

	/* SERF_SELF_NAME, then node_name, then the last event run's */
	ck_assert_int_eq(tick_name_pick("env", "cfg", "ev", &name, &src), 0);
	ck_assert_str_eq(name, "env");
	ck_assert_int_eq(src, TICK_NAME_ENV);
	ck_assert_int_eq(tick_name_pick(NULL, "cfg", "ev", &name, &src), 0);
	ck_assert_str_eq(name, "cfg");
	ck_assert_int_eq(src, TICK_NAME_CONFIG);
	ck_assert_int_eq(tick_name_pick("", "", "ev", &name, &src), 0);
	ck_assert_str_eq(name, "ev");
	ck_assert_int_eq(src, TICK_NAME_LAST_EVENT);
	/* invalid ones are passed over */
	ck_assert_int_eq(tick_name_pick("a\nb", longname, "ev", &name, &src), 0);
	ck_assert_str_eq(name, "ev");
	/* none: the caller asks serf info */
	ck_assert_int_eq(tick_name_pick(NULL, "", NULL, &name, &src), -ENOENT);
	ck_assert_str_eq(tick_name_src_str(TICK_NAME_LAST_EVENT), "the last event run");
}
END_TEST

START_TEST(test_info_name)
{
	const char *info = "{\"agent\":{\"name\":\"node7\"},\"runtime\":{\"name\":\"x\"},"
	    "\"tags\":{\"name\":\"y\"}}";
	const char *tagsfirst = "{\"tags\":{\"name\":\"y\"},\"agent\":{\"name\":\"node8\"}}";
	char *name = NULL;

	ck_assert_int_eq(tick_info_name(info, strlen(info), &name), 0);
	ck_assert_str_eq(name, "node7");
	free(name);
	/* agent.name, not the first "name" of the text */
	ck_assert_int_eq(tick_info_name(tagsfirst, strlen(tagsfirst), &name), 0);
	ck_assert_str_eq(name, "node8");
	free(name);
	ck_assert_int_eq(tick_info_name("{}", 2, &name), -EBADMSG);
	ck_assert_int_eq(tick_info_name("{\"agent\":{\"name\":3}}", 20, &name), -EBADMSG);
	ck_assert_int_eq(tick_info_name("{\"agent\":{\"name\":\"\"}}", 21, &name), -EBADMSG);
	ck_assert_int_eq(tick_info_name("not json", 8, &name), -EBADMSG);
}
END_TEST

START_TEST(test_self_file)
{
	char *name = NULL, path[PATH_MAX + 16];
	FILE *f;

	ck_assert_int_eq(tick_self_load(dir, &name), -ENOENT);
	ck_assert_int_eq(tick_self_save(dir, "node1"), 0);
	ck_assert_int_eq(tick_self_load(dir, &name), 0);
	ck_assert_str_eq(name, "node1");
	free(name);
	ck_assert_int_eq(tick_self_save(dir, "node1"), 0);
	ck_assert_int_eq(tick_self_save(dir, "node2"), 0);
	ck_assert_int_eq(tick_self_load(dir, &name), 0);
	ck_assert_str_eq(name, "node2");
	free(name);
	ck_assert_int_eq(tick_self_save(dir, "bad\x01name"), -EINVAL);
	/* a file that holds no valid name is not used */
	snprintf(path, sizeof(path), "%s/%s", dir, TICK_SELF_FILE);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("\x01\x02\n", f);
	fclose(f);
	ck_assert_int_eq(tick_self_load(dir, &name), -EINVAL);
}
END_TEST

START_TEST(test_lock)
{
	int fd1 = -1, fd2 = -1;

	/* flock locks belong to the open file: a second open in one process conflicts */
	ck_assert_int_eq(tick_lock(dir, &fd1), 0);
	ck_assert_int_eq(tick_lock(dir, &fd2), -EWOULDBLOCK);
	close(fd1);
	ck_assert_int_eq(tick_lock(dir, &fd2), 0);
	close(fd2);
	/* the spool's own lock is another: an event run does not block a tick */
	{
		struct spool *sp = NULL;
		ck_assert_int_eq(spool_open(dir, 0, &sp), 0);
		ck_assert_int_eq(tick_lock(dir, &fd1), 0);
		close(fd1);
		spool_close(sp);
	}
	ck_assert_int_lt(tick_lock("/nonexistent/dir", &fd1), 0);
}
END_TEST

START_TEST(test_position_takes_no_seq)
{
	char epoch[LIMIT_EPOCH_LEN + 1], epoch2[LIMIT_EPOCH_LEN + 1];
	unsigned long long last = 99, last2 = 99;
	struct spool *sp = NULL;
	struct batch b;

	ck_assert_int_eq(spool_open(dir, 0, &sp), 0);
	ck_assert_int_eq(spool_position(sp, epoch, &last), 0);
	ck_assert_int_eq(last, 0);
	ck_assert_int_gt(strlen(epoch), 0);
	batch_init(&b);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	ck_assert_int_eq(b.seq, 1);
	ck_assert_int_eq(spool_position(sp, epoch2, &last2), 0);
	ck_assert_int_eq(last2, 1);
	ck_assert_str_eq(epoch, epoch2);
	ck_assert_int_eq(spool_position(sp, epoch2, &last2), 0);
	ck_assert_int_eq(last2, 1);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	ck_assert_int_eq(b.seq, 2);
	batch_finish(&b);
	spool_close(sp);

	/* a later run sees the same position */
	ck_assert_int_eq(spool_open(dir, 0, &sp), 0);
	ck_assert_int_eq(spool_position(sp, epoch2, &last2), 0);
	ck_assert_int_eq(last2, 2);
	ck_assert_str_eq(epoch, epoch2);
	spool_close(sp);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tick");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_next_due_jitter);
	tcase_add_test(tc, test_sync_due);
	tcase_add_test(tc, test_state_file);
	tcase_add_test(tc, test_name_order);
	tcase_add_test(tc, test_info_name);
	tcase_add_test(tc, test_self_file);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_position_takes_no_seq);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
