/*
 * Unit tests: the K rings of observers. The file is included so that the
 * tie order of two equal hashes can be tested on the comparison itself.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../clusterm/core/rings.c"

#define NAME_LEN 24
#define BIG_N 10000
#define RANDOM_N 300
#define RANDOM_OPS 3000

static char (*names_new(size_t n))[NAME_LEN]
{
	char (*names)[NAME_LEN] = calloc(n, NAME_LEN);

	ck_assert_ptr_nonnull(names);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(names[i], NAME_LEN, "node-%zu", i);
		ck_assert(len > 0 && len < NAME_LEN);
	}
	return names;
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Reference: the successor (dir 1) or predecessor (-1) of name on ring k among members. */
static const char *ref_neighbour(uint32_t k, const char *name, const char **members,
    size_t n, int dir)
{
	uint64_t h = rings_hash(k, name);
	const char *best = NULL, *wrap = NULL;
	uint64_t bh = 0, wh = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t mh = rings_hash(k, members[i]);
		int c;

		if (strcmp(members[i], name) == 0)
			continue;
		c = entry_cmp(mh, members[i], &(struct ring_entry){ h, (char *)name });
		if (dir < 0)
			c = -c;
		/* candidates after name in direction dir: the nearest one */
		if (c > 0 && (!best || (dir > 0 ? entry_cmp(mh, members[i],
		    &(struct ring_entry){ bh, (char *)best }) < 0 : entry_cmp(mh, members[i],
		    &(struct ring_entry){ bh, (char *)best }) > 0))) {
			best = members[i];
			bh = mh;
		}
		/* for the wrap: the first (dir 1) or last (-1) of the ring */
		if (!wrap || (dir > 0 ? entry_cmp(mh, members[i],
		    &(struct ring_entry){ wh, (char *)wrap }) < 0 : entry_cmp(mh, members[i],
		    &(struct ring_entry){ wh, (char *)wrap }) > 0)) {
			wrap = members[i];
			wh = mh;
		}
	}
	return best ? best : wrap;
}

static bool in_list(const char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

/* The rings' observers and subjects of every member equal the reference. */
static void check_against_reference(const struct rings *r, const char **members, size_t n)
{
	uint32_t k = rings_k(r);

	for (size_t i = 0; i < n; i++) {
		const char *obs[RINGS_MAX_K], *sub[RINGS_MAX_K];
		size_t no = rings_observers(r, members[i], obs, RINGS_MAX_K);
		size_t ns = rings_subjects(r, members[i], sub, RINGS_MAX_K);

		if (n - 1 <= k) {
			ck_assert_uint_eq(no, n - 1);
			ck_assert_uint_eq(ns, n - 1);
			for (size_t j = 0; j < n; j++)
				if (j != i) {
					ck_assert(in_list(obs, no, members[j]));
					ck_assert(in_list(sub, ns, members[j]));
				}
			continue;
		}
		ck_assert_uint_le(no, k);
		for (uint32_t ring = 0; ring < k; ring++) {
			ck_assert(in_list(obs, no, ref_neighbour(ring, members[i], members, n, 1)));
			ck_assert(in_list(sub, ns, ref_neighbour(ring, members[i], members, n, -1)));
		}
		for (size_t j = 0; j < no; j++)
			ck_assert(rings_is_observer(r, members[i], obs[j]));
	}
}

START_TEST(test_hash_fixed)
{
	/* The order of the rings is part of the contract between releases. */
	ck_assert(rings_hash(0, "a") != rings_hash(1, "a"));
	ck_assert(rings_hash(0, "a") != rings_hash(0, "b"));
	ck_assert_uint_eq(rings_hash(3, "node-1"), rings_hash(3, "node-1"));
	ck_assert_uint_eq(rings_hash(0, ""), 0x5ba314b8cfda3b6bULL);
	ck_assert_uint_eq(rings_hash(3, "node-1"), 0xee2aa273602727c5ULL);
}
END_TEST

START_TEST(test_ties_by_name)
{
	struct ring_entry e[3] = { { 7, "b" }, { 7, "a" }, { 3, "z" } };

	qsort(e, 3, sizeof(e[0]), qsort_cmp);
	ck_assert_str_eq(e[0].name, "z");
	ck_assert_str_eq(e[1].name, "a");
	ck_assert_str_eq(e[2].name, "b");
}
END_TEST

START_TEST(test_successors_predecessors)
{
	char (*names)[NAME_LEN] = names_new(50);
	const char *members[50];
	struct rings *r = rings_new(4);

	ck_assert_ptr_nonnull(r);
	for (size_t i = 0; i < 50; i++) {
		members[i] = names[i];
		ck_assert_int_eq(rings_insert(r, names[i]), 0);
	}
	ck_assert_int_eq(rings_insert(r, names[3]), -EEXIST);
	ck_assert_int_eq(rings_remove(r, "nope"), -ENOENT);
	ck_assert_uint_eq(rings_count(r), 50);
	check_against_reference(r, members, 50);
	/* an observer's subjects include the node it observes */
	for (size_t i = 0; i < 50; i++) {
		const char *obs[RINGS_MAX_K], *sub[RINGS_MAX_K];
		size_t no = rings_observers(r, members[i], obs, RINGS_MAX_K);

		for (size_t j = 0; j < no; j++) {
			size_t ns = rings_subjects(r, obs[j], sub, RINGS_MAX_K);
			ck_assert(in_list(sub, ns, members[i]));
			ck_assert_str_ne(obs[j], members[i]);
		}
	}
	rings_free(r);
	free(names);
}
END_TEST

START_TEST(test_k_covers_everyone)
{
	char (*names)[NAME_LEN] = names_new(12);
	const char *members[12];
	struct rings *r = rings_new(10);

	for (size_t i = 0; i < 12; i++) {
		members[i] = names[i];
		ck_assert_int_eq(rings_insert(r, names[i]), 0);
		check_against_reference(r, members, i + 1);
	}
	/* 11 others > K = 10: the rings decide, fewer than 11 observers may result */
	ck_assert_int_eq(rings_remove(r, names[11]), 0);
	check_against_reference(r, members, 11);
	{
		const char *obs[RINGS_MAX_K];
		ck_assert_uint_eq(rings_observers(r, names[0], obs, RINGS_MAX_K), 10);
	}
	rings_free(r);
	free(names);
}
END_TEST

/* Every member's observers in r equal those in s. */
static void check_same(const struct rings *r, const struct rings *s, const char **members,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *a[RINGS_MAX_K], *b[RINGS_MAX_K];
		size_t na = rings_observers(r, members[i], a, RINGS_MAX_K);
		size_t nb = rings_observers(s, members[i], b, RINGS_MAX_K);

		ck_assert_uint_eq(na, nb);
		for (size_t j = 0; j < na; j++)
			ck_assert_str_eq(a[j], b[j]);
		na = rings_subjects(r, members[i], a, RINGS_MAX_K);
		nb = rings_subjects(s, members[i], b, RINGS_MAX_K);
		ck_assert_uint_eq(na, nb);
		for (size_t j = 0; j < na; j++)
			ck_assert_str_eq(a[j], b[j]);
	}
}

START_TEST(test_incremental_equals_rebuild)
{
	char (*names)[NAME_LEN] = names_new(BIG_N);
	const char **members = calloc(BIG_N, sizeof(*members));
	struct rings *r = rings_new(10), *s = rings_new(0);
	size_t m = 0;

	ck_assert_ptr_nonnull(members);
	for (size_t i = 0; i < BIG_N; i++)
		ck_assert_int_eq(rings_insert(r, names[i]), 0);
	/* remove every third one */
	for (size_t i = 0; i < BIG_N; i++) {
		if (i % 3 == 0)
			ck_assert_int_eq(rings_remove(r, names[i]), 0);
		else
			members[m++] = names[i];
	}
	ck_assert_uint_eq(rings_count(r), m);
	ck_assert_int_eq(rings_rebuild(s, 10, members, m), 0);
	ck_assert_uint_eq(rings_count(s), m);
	check_same(r, s, members, m);
	/* a rebuild takes duplicates once */
	ck_assert_int_eq(rings_rebuild(s, 10, (const char *[]){ "a", "b", "a" }, 3), 0);
	ck_assert_uint_eq(rings_count(s), 2);
	ck_assert_int_eq(rings_rebuild(s, RINGS_MAX_K + 1, members, m), -EINVAL);
	rings_free(r);
	rings_free(s);
	free(members);
	free(names);
}
END_TEST

/*
 * The pairs reported by each change, applied to a table, give the rings'
 * observers; in a large population (loop 0) and a small one that crosses
 * K + 1 members often (loop 1).
 */
START_TEST(test_random_ops_delta)
{
	size_t pop = _i == 0 ? RANDOM_N : 9;
	char (*names)[NAME_LEN] = names_new(RANDOM_N);
	bool in[RANDOM_N] = { false };
	static bool pair[RANDOM_N][RANDOM_N];	/* [subject][observer] */
	struct rings *r = rings_new(5);
	uint64_t version = rings_version(r);

	memset(pair, 0, sizeof(pair));
	for (int op = 0; op < RANDOM_OPS; op++) {
		size_t x = rnd() % pop, nd;
		const struct rings_pair *d;

		/* small clusters too: grow mostly in the first third */
		if (!in[x] && ((pop == RANDOM_N && op < RANDOM_OPS / 3) || rnd() % 2)) {
			ck_assert_int_eq(rings_insert(r, names[x]), 0);
			in[x] = true;
		} else if (in[x]) {
			ck_assert_int_eq(rings_remove(r, names[x]), 0);
			in[x] = false;
		} else {
			continue;
		}
		ck_assert_uint_gt(rings_version(r), version);
		version = rings_version(r);
		d = rings_delta(r, &nd);
		ck_assert_uint_le(nd, 2 * AFFECTED_MAX * 5);
		for (size_t i = 0; i < nd; i++) {
			size_t s = (size_t)strtoul(d[i].subject + 5, NULL, 10);
			size_t o = (size_t)strtoul(d[i].observer + 5, NULL, 10);

			ck_assert(pair[s][o] != d[i].added);
			pair[s][o] = d[i].added;
		}
		if (pop == RANDOM_N && op % 50 != 0 && op < RANDOM_OPS - 1)
			continue;
		for (size_t s = 0; s < RANDOM_N; s++) {
			const char *obs[RINGS_MAX_K];
			size_t no = rings_observers(r, names[s], obs, RINGS_MAX_K), cnt = 0;

			for (size_t o = 0; o < RANDOM_N; o++)
				if (pair[s][o]) {
					cnt++;
					ck_assert(in_list(obs, no, names[o]));
				}
			ck_assert_uint_eq(cnt, no);
		}
	}
	rings_free(r);
	free(names);
}
END_TEST

static Suite *rings_suite(void)
{
	Suite *s = suite_create("rings");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hash_fixed);
	tcase_add_test(tc, test_ties_by_name);
	tcase_add_test(tc, test_successors_predecessors);
	tcase_add_test(tc, test_k_covers_everyone);
	tcase_add_test(tc, test_incremental_equals_rebuild);
	tcase_add_loop_test(tc, test_random_ops_delta, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rings_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
