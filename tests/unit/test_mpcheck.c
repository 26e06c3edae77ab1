/* Unit tests: mpcheck_bounded() accepts what msgpack-c packs and refuses
 * container claims the input cannot hold. */
#include <check.h>
#include <msgpack.h>
#include <stdlib.h>

#include "mpcheck.h"

START_TEST(test_packed_accepted)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 9);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "B", 1);
	msgpack_pack_int64(&pk, -1700000000000LL);
	msgpack_pack_uint64(&pk, 1ULL << 40);
	msgpack_pack_nil(&pk);
	msgpack_pack_true(&pk);
	msgpack_pack_double(&pk, 0.5);
	msgpack_pack_map(&pk, 1);
	msgpack_pack_str(&pk, 300);
	for (int i = 0; i < 300; i++)
		msgpack_pack_str_body(&pk, "k", 1);
	msgpack_pack_array(&pk, 0);
	msgpack_pack_bin(&pk, 2);
	msgpack_pack_bin_body(&pk, "ab", 2);
	msgpack_pack_ext(&pk, 3, 7);
	msgpack_pack_ext_body(&pk, "xyz", 3);
	ck_assert(mpcheck_bounded(sb.data, sb.size));
	/* Every cut is refused: the object is incomplete. */
	for (size_t cut = 0; cut < sb.size; cut++)
		ck_assert(!mpcheck_bounded(sb.data, cut));
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_claims_refused)
{
	static const unsigned char arr32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char map16[] = { 0xde, 0x00, 0x02, 0x01, 0x02, 0x03 };
	static const unsigned char str32[] = { 0xdb, 0x00, 0x01, 0x00, 0x00, 'a' };
	static const unsigned char fixarr[] = { 0x93, 0x01, 0x02 };
	static const unsigned char unused[] = { 0xc1 };
	static const unsigned char ok[] = { 0x92, 0x01, 0x91, 0xa1, 'x' };

	ck_assert(!mpcheck_bounded(arr32, sizeof(arr32)));
	ck_assert(!mpcheck_bounded(map16, sizeof(map16)));
	ck_assert(!mpcheck_bounded(str32, sizeof(str32)));
	ck_assert(!mpcheck_bounded(fixarr, sizeof(fixarr)));
	ck_assert(!mpcheck_bounded(unused, sizeof(unused)));
	ck_assert(mpcheck_bounded(ok, sizeof(ok)));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("mpcheck");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_packed_accepted);
	tcase_add_test(tc, test_claims_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
