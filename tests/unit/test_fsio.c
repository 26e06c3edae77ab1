/* fsio: mkdir -p (each directory it creates made durable by an fsync of its parent). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsio.h"

static char tmp[64];

static void
tmp_up(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/clusterm-fsio-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
tmp_down(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmp);
}

static bool
is_dir(const char *path, mode_t mode)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == mode;
}

START_TEST(test_mkdir_p)
{
	char p[PATH_MAX], f[PATH_MAX];
	FILE *fp;

	umask(022);
	snprintf(p, sizeof(p), "%s/a/b//c/", tmp);
	ck_assert_int_eq(fsio_mkdir_p(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/a", tmp);
	ck_assert(is_dir(p, 0700));
	snprintf(p, sizeof(p), "%s/a/b/c", tmp);
	ck_assert(is_dir(p, 0700));
	/* Again: there already, nothing to do. */
	ck_assert_int_eq(fsio_mkdir_p(p, 0700), 0);
	/* One more level under an existing one. */
	snprintf(p, sizeof(p), "%s/a/b/c/d", tmp);
	ck_assert_int_eq(fsio_mkdir_p(p, 0750), 0);
	ck_assert(is_dir(p, 0750));
	/* A relative path (its parent is the working directory). */
	ck_assert_int_eq(chdir(tmp), 0);
	ck_assert_int_eq(fsio_mkdir_p("rel/x", 0700), 0);
	ck_assert(is_dir("rel/x", 0700));
	/* Under a file: the error, nothing made. */
	snprintf(f, sizeof(f), "%s/file", tmp);
	ck_assert_ptr_nonnull(fp = fopen(f, "w"));
	fclose(fp);
	snprintf(p, sizeof(p), "%s/file/sub", tmp);
	ck_assert_int_eq(fsio_mkdir_p(p, 0700), -ENOTDIR);
	ck_assert_int_eq(fsio_mkdir_p("", 0700), -ENAMETOOLONG);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("fsio");
	TCase *tc = tcase_create("mkdir_p");

	tcase_add_checked_fixture(tc, tmp_up, tmp_down);
	tcase_add_test(tc, test_mkdir_p);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
