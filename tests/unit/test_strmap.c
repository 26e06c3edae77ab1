/*
 * Unit tests: the string map and its keyed hash. The file is included so
 * the tests can see each map's SipHash key without widening strmap.h.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../clusterm/core/strmap.c"

#define MANY_KEYS 20000
#define KEY_LEN 16

START_TEST(test_put_get_del)
{
	struct strmap *m = strmap_new();
	int a = 1, b = 2, c = 3;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_null(strmap_get(m, "n1"));
	ck_assert_ptr_null(strmap_del(m, "n1"));
	ck_assert_int_eq(strmap_put(m, "n1", &a), 0);
	ck_assert_int_eq(strmap_put(m, "n2", &b), 0);
	ck_assert_ptr_eq(strmap_get(m, "n1"), &a);
	ck_assert_ptr_eq(strmap_get(m, "n2"), &b);
	ck_assert_uint_eq(strmap_count(m), 2);
	ck_assert_int_eq(strmap_put(m, "n1", &c), 0);
	ck_assert_ptr_eq(strmap_get(m, "n1"), &c);
	ck_assert_uint_eq(strmap_count(m), 2);
	ck_assert_ptr_eq(strmap_del(m, "n1"), &c);
	ck_assert_ptr_null(strmap_get(m, "n1"));
	ck_assert_ptr_eq(strmap_get(m, "n2"), &b);
	ck_assert_uint_eq(strmap_count(m), 1);
	ck_assert_int_eq(strmap_put(m, "", &a), 0);
	ck_assert_ptr_eq(strmap_get(m, ""), &a);
	strmap_free(m);
	strmap_free(NULL);
}
END_TEST

/* Enough keys to grow many times; deleting every other one keeps the rest. */
START_TEST(test_many_keys)
{
	static char keys[MANY_KEYS][KEY_LEN];
	struct strmap *m = strmap_new();

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < MANY_KEYS; i++) {
		int n = snprintf(keys[i], KEY_LEN, "node-%zu", i);
		ck_assert(n > 0 && n < KEY_LEN);
		ck_assert_int_eq(strmap_put(m, keys[i], keys[i]), 0);
	}
	ck_assert_uint_eq(strmap_count(m), MANY_KEYS);
	for (size_t i = 0; i < MANY_KEYS; i++)
		ck_assert_ptr_eq(strmap_get(m, keys[i]), keys[i]);
	for (size_t i = 0; i < MANY_KEYS; i += 2)
		ck_assert_ptr_eq(strmap_del(m, keys[i]), keys[i]);
	ck_assert_uint_eq(strmap_count(m), MANY_KEYS / 2);
	for (size_t i = 0; i < MANY_KEYS; i++) {
		if (i % 2 == 0)
			ck_assert_ptr_null(strmap_get(m, keys[i]));
		else
			ck_assert_ptr_eq(strmap_get(m, keys[i]), keys[i]);
	}
	ck_assert_ptr_null(strmap_get(m, "node-x"));
	strmap_free(m);
}
END_TEST

/* SipHash-1-3 under the all-zero key, checked against a reference implementation. */
START_TEST(test_siphash_vectors)
{
	static const struct {
		const char *in;
		uint64_t out;
	} v[] = {
		{ "a", 4644417185603328019ULL },
		{ "hello", 16350172494705860510ULL },
		{ "abcdefgh", 4574395652268504554ULL },
		{ "abcdefghijklmnopq", 7044894726457044172ULL },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_msg(siphash13(0, 0, (const unsigned char *)v[i].in,
		    strlen(v[i].in)) == v[i].out, "vector %zu", i);
}
END_TEST

/* Each map has its own non-zero key, and the map's hash is under that key. */
START_TEST(test_seeded)
{
	struct strmap *a = strmap_new(), *b = strmap_new();
	const char *name = "n1";
	size_t differ = 0;
	char buf[KEY_LEN];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(a->k0 != 0 || a->k1 != 0);
	ck_assert(a->k0 != b->k0 || a->k1 != b->k1);
	ck_assert(proc_key[0] != 0 || proc_key[1] != 0);
	ck_assert(hash_str(a, name) == siphash13(a->k0, a->k1,
	    (const unsigned char *)name, strlen(name)));
	ck_assert(hash_str(a, name) != siphash13(0, 0, (const unsigned char *)name,
	    strlen(name)));
	for (int i = 0; i < 64; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		if (hash_str(a, buf) != hash_str(b, buf))
			differ++;
	}
	ck_assert_uint_gt(differ, 60);
	ck_assert_int_eq(strmap_put(a, name, b), 0);
	ck_assert_ptr_eq(strmap_get(a, name), b);
	strmap_free(a);
	strmap_free(b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("strmap");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_put_get_del);
	tcase_add_test(tc, test_many_keys);
	tcase_add_test(tc, test_siphash_vectors);
	tcase_add_test(tc, test_seeded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
