/* Unit tests: CRC-32C against its check value, in one piece and in parts. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

START_TEST(test_check_value)
{
	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros. */
	static const unsigned char zeros[32];
	ck_assert_uint_eq(crc32c(0, zeros, sizeof(zeros)), 0x8a9136aau);
}
END_TEST

START_TEST(test_incremental)
{
	unsigned char buf[1031];
	uint32_t whole, parts;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	whole = crc32c(0, buf, sizeof(buf));
	/* Every split point, so both the 8-byte and the byte loops meet. */
	for (size_t cut = 0; cut <= sizeof(buf); cut += 13) {
		parts = crc32c(crc32c(0, buf, cut), buf + cut, sizeof(buf) - cut);
		ck_assert_uint_eq(parts, whole);
	}
	/* Unaligned starts. */
	ck_assert_uint_eq(crc32c(0, buf + 1, 100), crc32c(crc32c(0, buf + 1, 51), buf + 52, 49));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_check_value);
	tcase_add_test(tc, test_incremental);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
