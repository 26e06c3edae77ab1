/* Unit tests: little-endian put and get, round trips at odd offsets. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "le.h"

START_TEST(test_layout)
{
	uint8_t b[17] = { 0 };

	le_put16(b + 1, 0x0102);
	ck_assert_uint_eq(b[1], 0x02);
	ck_assert_uint_eq(b[2], 0x01);
	le_put32(b + 3, 0x01020304u);
	ck_assert_uint_eq(b[3], 0x04);
	ck_assert_uint_eq(b[6], 0x01);
	le_put64(b + 7, 0x0102030405060708ull);
	ck_assert_uint_eq(b[7], 0x08);
	ck_assert_uint_eq(b[14], 0x01);
	ck_assert_uint_eq(b[15], 0);
	ck_assert_uint_eq(le_get16(b + 1), 0x0102);
	ck_assert_uint_eq(le_get32(b + 3), 0x01020304u);
	ck_assert_uint_eq(le_get64(b + 7), 0x0102030405060708ull);
	le_put64(b + 9, UINT64_MAX);
	ck_assert_uint_eq(le_get64(b + 9), UINT64_MAX);
	le_put32(b + 1, 0xfedcba98u);
	ck_assert_uint_eq(le_get32(b + 1), 0xfedcba98u);
	le_put16(b, 0xffff);
	ck_assert_uint_eq(le_get16(b), 0xffff);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("le");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_layout);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
