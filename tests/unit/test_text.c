/* Unit tests: text checks (control characters, visible bytes). */
#include <check.h>
#include <stdlib.h>

#include "text.h"

START_TEST(test_ctrl)
{
	ck_assert(!text_has_ctrl("", 0));
	ck_assert(!text_has_ctrl("a b~\x80\xff", 6));
	ck_assert(text_has_ctrl("a\tb", 3));
	ck_assert(text_has_ctrl("a\x7f", 2));
	ck_assert(text_has_ctrl("a\0b", 3));
	ck_assert(!text_has_ctrl("a\nb", 1));	/* only n bytes */
	ck_assert(text_str_has_ctrl("x\r\n"));
	ck_assert(!text_str_has_ctrl("node-1 ok"));
}
END_TEST

START_TEST(test_visible)
{
	ck_assert(text_visible("abc", 3, false));
	ck_assert(!text_visible("a c", 3, false));
	ck_assert(!text_visible("a\tc", 3, false));
	ck_assert(text_visible("a c", 3, true));
	ck_assert(text_visible("a\tc", 3, true));
	ck_assert(!text_visible("a\rc", 3, true));
	ck_assert(!text_visible("a\x7f", 2, true));
	ck_assert(text_visible("\xc3\xa9", 2, false));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_ctrl);
	tcase_add_test(tc, test_visible);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
