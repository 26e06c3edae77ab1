/* Unit tests: sorted directory listing by prefix and suffix; atomic writes. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirlist.h"
#include "fsio.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/test_dirlist.XXXXXX", t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char **v;
	size_t n;
	char p[PATH_MAX * 2];

	if (dirlist(dir, NULL, NULL, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			snprintf(p, sizeof(p), "%s/%s", dir, v[i]);
			unlink(p);
		}
		dirlist_free(v, n);
	}
	rmdir(dir);
}

static void
touch(const char *name)
{
	ck_assert_int_eq(fsio_write_atomic_nosync(dir, name, "x", 1, 0600), 0);
}

START_TEST(test_list)
{
	char **v;
	size_t n;

	touch("wal-0002.log");
	touch("wal-0001.log");
	touch("wal-0003.tmp");
	touch("snap-0001.mp");
	touch("wal-.log");
	ck_assert_int_eq(dirlist(dir, "wal-", ".log", &v, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0], "wal-.log");
	ck_assert_str_eq(v[1], "wal-0001.log");
	ck_assert_str_eq(v[2], "wal-0002.log");
	dirlist_free(v, n);
	ck_assert_int_eq(dirlist(dir, NULL, "", &v, &n), 0);
	ck_assert_uint_eq(n, 5);	/* no "." or ".." */
	ck_assert_str_eq(v[0], "snap-0001.mp");
	dirlist_free(v, n);
	ck_assert_int_eq(dirlist(dir, "none", NULL, &v, &n), 0);
	ck_assert_uint_eq(n, 0);
	dirlist_free(v, n);
	ck_assert_int_eq(dirlist("/nonexistent-dirlist", NULL, NULL, &v, &n), -ENOENT);
}
END_TEST

START_TEST(test_atomic)
{
	char path[PATH_MAX * 2], *data;
	size_t len;
	struct stat st;

	ck_assert_int_eq(fsio_write_atomic(dir, "f", "one", 3, 0640), 0);
	ck_assert_int_eq(fsio_write_atomic_nosync(dir, "f", "second", 6, 0600), 0);
	snprintf(path, sizeof(path), "%s/f", dir);
	ck_assert_int_eq(fsio_read_file(path, 100, &data, &len), 0);
	ck_assert_str_eq(data, "second");
	ck_assert_uint_eq(len, 6);
	free(data);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(fsio_write_atomic_nosync("/nonexistent-dirlist", "f", "x", 1, 0600),
	    -ENOENT);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("dirlist");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_atomic);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
