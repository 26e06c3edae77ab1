/* Unit tests: the growable buffer (appends, limit, take, reset). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

START_TEST(test_add)
{
	struct buf b;

	buf_init(&b, 0);
	ck_assert_ptr_null(b.data);
	ck_assert_int_eq(buf_add(&b, "ab", 2), 0);
	ck_assert_int_eq(buf_addc(&b, 'c'), 0);
	ck_assert_int_eq(buf_addf(&b, "-%d-%s", 42, "x"), 0);
	ck_assert_str_eq(b.data, "abc-42-x");
	ck_assert_uint_eq(b.len, 8);
	/* Past the first allocation, byte by byte and in one piece. */
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_addc(&b, (char)('a' + i % 26)), 0);
	ck_assert_uint_eq(b.len, 1008);
	ck_assert_uint_eq(strlen(b.data), 1008);
	ck_assert_int_eq(buf_add(&b, NULL, 0), 0);
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	ck_assert_uint_ge(b.cap, 1009);
	buf_free(&b);
	ck_assert_ptr_null(b.data);
	buf_free(NULL);
}
END_TEST

START_TEST(test_max)
{
	struct buf b;

	buf_init(&b, 4);
	ck_assert_int_eq(buf_add(&b, "abc", 3), 0);
	ck_assert_int_eq(buf_add(&b, "de", 2), -E2BIG);
	ck_assert_str_eq(b.data, "abc");
	ck_assert_int_eq(buf_addc(&b, 'd'), 0);
	ck_assert_int_eq(buf_addc(&b, 'e'), -E2BIG);
	ck_assert_int_eq(buf_addf(&b, "%s", "f"), -E2BIG);
	ck_assert_str_eq(b.data, "abcd");
	buf_free(&b);
}
END_TEST

START_TEST(test_take)
{
	struct buf b;
	char *p;

	buf_init(&b, 10);
	p = buf_take(&b);
	ck_assert_str_eq(p, "");
	free(p);
	ck_assert_int_eq(buf_addf(&b, "%05u", 7u), 0);
	p = buf_take(&b);
	ck_assert_str_eq(p, "00007");
	free(p);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(b.max, 10);
	ck_assert_int_eq(buf_reserve(&b, 10), 0);
	ck_assert_int_eq(buf_reserve(&b, 11), -E2BIG);
	buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_add);
	tcase_add_test(tc, test_max);
	tcase_add_test(tc, test_take);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
