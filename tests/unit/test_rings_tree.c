/*
 * Unit tests: the rings' insides (rings_tree.c). After a rebuild and
 * after every insert or removal, each ring is a treap in ring order (the
 * search order, the priorities' heap order, the parent links) threaded by
 * a circular list in the same order, and the name table finds every
 * member. The file is included for the structure's fields.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../clusterm/core/rings.c"

#define POP 400
#define OPS 4000

static uint32_t rnd_state = 777;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* Checks subtree x of ring i; fills order[] in order; returns its size. */
static size_t check_subtree(const struct rings *r, uint32_t i, uint32_t x, uint32_t parent,
    uint32_t *order, size_t at)
{
	const struct tnode *t = r->t[i];
	size_t n;

	if (x == NIL)
		return 0;
	ck_assert_uint_eq(t[x].parent, parent);
	if (parent != NIL)
		ck_assert(rings_prio(t[x].h) <= rings_prio(t[parent].h));
	n = check_subtree(r, i, t[x].left, x, order, at);
	order[at + n] = x;
	n++;
	n += check_subtree(r, i, t[x].right, x, order, at + n);
	return n;
}

static void check_structure(const struct rings *r)
{
	uint32_t *order = malloc((r->n + 1) * sizeof(*order));

	ck_assert_ptr_nonnull(order);
	for (uint32_t i = 0; i < r->nrings; i++) {
		size_t n = check_subtree(r, i, r->root[i], NIL, order, 0);

		ck_assert_uint_eq(n, r->n);
		for (size_t j = 0; j < n; j++) {
			uint32_t x = order[j], nx = order[(j + 1) % n];

			if (j + 1 < n)
				ck_assert_int_lt(entry_cmp(r->t[i][x].h, r->name[x],
				    &(struct ring_entry){ r->t[i][nx].h, r->name[nx] }), 0);
			ck_assert_uint_eq(rings_succ(r, i, x), nx);
			ck_assert_uint_eq(rings_pred(r, i, nx), x);
			ck_assert_uint_eq(rings_slot_of(r, r->name[x]), x);
		}
		if (n > 0)
			ck_assert_uint_eq(rings_first(r, i), order[0]);
	}
	free(order);
}

/* Rebuilt, then changed one member at a time: the structure holds, the answers equal a rebuild's. */
START_TEST(test_structure_after_changes)
{
	static char names[POP][16];
	const char *members[POP];
	bool in[POP] = { false };
	struct rings *r = rings_new(7), *ref = rings_new(0);
	size_t m = 0;

	ck_assert_ptr_nonnull(r);
	for (size_t j = 0; j < POP; j++) {
		snprintf(names[j], sizeof(names[j]), "node-%zu", j * 7919 % 100003);
		if (j % 2 == 0) {
			members[m++] = names[j];
			in[j] = true;
		}
	}
	ck_assert_int_eq(rings_rebuild(r, 7, members, m), 0);
	check_structure(r);
	for (int op = 0; op < OPS; op++) {
		size_t x = rnd() % POP;

		if (in[x])
			ck_assert_int_eq(rings_remove(r, names[x]), 0);
		else
			ck_assert_int_eq(rings_insert(r, names[x]), 0);
		in[x] = !in[x];
		if (op % 97 != 0 && op != OPS - 1)
			continue;
		check_structure(r);
		m = 0;
		for (size_t j = 0; j < POP; j++)
			if (in[j])
				members[m++] = names[j];
		ck_assert_int_eq(rings_rebuild(ref, 7, members, m), 0);
		check_structure(ref);
		for (size_t j = 0; j < m; j++) {
			const char *a[RINGS_MAX_K], *b[RINGS_MAX_K];
			size_t na = rings_subjects(r, members[j], a, RINGS_MAX_K);
			size_t nb = rings_subjects(ref, members[j], b, RINGS_MAX_K);

			ck_assert_uint_eq(na, nb);
			for (size_t q = 0; q < na; q++)
				ck_assert_str_eq(a[q], b[q]);
		}
	}
	/* Down to nothing and up again. */
	for (size_t j = 0; j < POP; j++)
		if (in[j])
			ck_assert_int_eq(rings_remove(r, names[j]), 0);
	ck_assert_uint_eq(rings_count(r), 0);
	check_structure(r);
	ck_assert_int_eq(rings_insert(r, names[0]), 0);
	check_structure(r);
	rings_free(r);
	rings_free(ref);
}
END_TEST

static Suite *rings_tree_suite(void)
{
	Suite *s = suite_create("rings_tree");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_structure_after_changes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rings_tree_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
