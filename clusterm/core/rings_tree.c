/*
 * The rings' treaps and name table (rings_impl.h). Ring i is a treap of
 * the slots ordered by (t[i][s].h, name) whose priorities are a second mix
 * of that hash: its shape depends on the members alone, expected O(log N)
 * deep whatever the order of the changes.
 */
#include "rings_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* (h, name) against slot s on ring i. */
static int slot_cmp(const struct rings *r, uint32_t i, uint64_t h, const char *name,
    uint32_t s)
{
	if (h != r->t[i][s].h)
		return h < r->t[i][s].h ? -1 : 1;
	return strcmp(name, r->name[s]);
}

/* The table index of name (h0: its ring 0 hash): its entry or the empty one. */
static size_t tab_pos(const struct rings *r, uint64_t h0, const char *name)
{
	size_t mask = r->tabcap - 1, p = (size_t)h0 & mask;

	while (r->tab[p] != 0) {
		uint32_t s = r->tab[p] - 1;

		if (r->t[0][s].h == h0 && strcmp(r->name[s], name) == 0)
			break;
		p = (p + 1) & mask;
	}
	return p;
}

uint32_t rings_slot_of_h(const struct rings *r, uint64_t h0, const char *name)
{
	size_t p;

	if (r->n == 0)
		return NIL;
	p = tab_pos(r, h0, name);
	return r->tab[p] == 0 ? NIL : r->tab[p] - 1;
}

uint32_t rings_slot_of(const struct rings *r, const char *name)
{
	return r->n == 0 ? NIL : rings_slot_of_h(r, rings_hash(0, name), name);
}

/* Adds slot s (not in the table, room made by tab_reserve). */
void rings_tab_add(struct rings *r, uint32_t s)
{
	r->tab[tab_pos(r, r->t[0][s].h, r->name[s])] = s + 1;
}

/* Removes slot s: backward-shift deletion keeps every probe run whole. */
void rings_tab_del(struct rings *r, uint32_t s)
{
	size_t mask = r->tabcap - 1, i = tab_pos(r, r->t[0][s].h, r->name[s]), j = i;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (r->tab[j] == 0)
			break;
		home = (size_t)r->t[0][r->tab[j] - 1].h & mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		r->tab[i] = r->tab[j];
		i = j;
	}
	r->tab[i] = 0;
}

/* Room in the table for want names, at most half full. -ENOMEM. */
int rings_tab_reserve(struct rings *r, size_t want)
{
	size_t cap = r->tabcap ? r->tabcap : 64;
	uint32_t *old = r->tab;
	size_t oldcap = r->tabcap;

	while (cap < 2 * want)
		cap *= 2;
	if (cap == r->tabcap)
		return 0;
	r->tab = calloc(cap, sizeof(*r->tab));
	if (!r->tab) {
		r->tab = old;
		return -ENOMEM;
	}
	r->tabcap = cap;
	for (size_t p = 0; p < oldcap; p++)
		if (old[p] != 0)
			rings_tab_add(r, old[p] - 1);
	free(old);
	return 0;
}

static uint32_t leftmost(const struct rings *r, uint32_t i, uint32_t x)
{
	while (r->t[i][x].left != NIL)
		x = r->t[i][x].left;
	return x;
}

uint32_t rings_first(const struct rings *r, uint32_t i)
{
	return leftmost(r, i, r->root[i]);
}

/* Makes c take old's place under old's parent (or as the root). */
static void replace_child(struct rings *r, uint32_t i, uint32_t old, uint32_t c)
{
	struct tnode *t = r->t[i];
	uint32_t p = t[old].parent;

	if (c != NIL)
		t[c].parent = p;
	if (p == NIL)
		r->root[i] = c;
	else if (t[p].left == old)
		t[p].left = c;
	else
		t[p].right = c;
}

/* Rotates x above its parent, the order kept. */
static void rotate_up(struct rings *r, uint32_t i, uint32_t x)
{
	struct tnode *t = r->t[i];
	uint32_t p = t[x].parent;

	replace_child(r, i, p, x);
	if (t[p].left == x) {
		t[p].left = t[x].right;
		if (t[x].right != NIL)
			t[t[x].right].parent = p;
		t[x].right = p;
	} else {
		t[p].right = t[x].left;
		if (t[x].left != NIL)
			t[t[x].left].parent = p;
		t[x].left = p;
	}
	t[p].parent = x;
}

/*
 * Links slot x (its h set on every ring, on none of them) into every ring,
 * tree and list. The K descents go level by level side by side: each step
 * is a cache miss at large N, and misses of different rings overlap.
 */
void rings_tree_insert(struct rings *r, uint32_t x)
{
	uint32_t c[RINGS_MAX_K], p[RINGS_MAX_K], below[RINGS_MAX_K], above[RINGS_MAX_K];
	size_t nr = r->nrings, left = 0;

	for (uint32_t i = 0; i < nr; i++) {
		c[i] = r->root[i];
		p[i] = below[i] = above[i] = NIL;
		left += c[i] != NIL;
	}
	while (left > 0) {
		for (uint32_t i = 0; i < nr; i++) {
			const struct tnode *t = r->t[i];

			if (c[i] == NIL)
				continue;
			p[i] = c[i];
			if (slot_cmp(r, i, t[x].h, r->name[x], c[i]) < 0) {
				above[i] = c[i];
				c[i] = t[c[i]].left;
			} else {
				below[i] = c[i];
				c[i] = t[c[i]].right;
			}
			left -= c[i] == NIL;
		}
	}
	for (uint32_t i = 0; i < nr; i++) {
		struct tnode *t = r->t[i];
		uint64_t px = rings_prio(t[x].h);

		t[x].left = t[x].right = NIL;
		t[x].parent = p[i];
		if (p[i] == NIL)
			r->root[i] = x;
		else if (above[i] == p[i])
			t[p[i]].left = x;
		else
			t[p[i]].right = x;
		/* The list: between its neighbours in order, the last wrapping to the first. */
		if (p[i] == NIL) {
			below[i] = above[i] = x;
		} else if (below[i] == NIL) {
			below[i] = r->prev[above[i] * nr + i];
		} else if (above[i] == NIL) {
			above[i] = r->next[below[i] * nr + i];
		}
		r->next[x * nr + i] = above[i];
		r->prev[x * nr + i] = below[i];
		r->next[below[i] * nr + i] = x;
		r->prev[above[i] * nr + i] = x;
		while (t[x].parent != NIL && rings_prio(t[t[x].parent].h) < px)
			rotate_up(r, i, x);
	}
}

/* Unlinks slot x from ring i: rotated down to at most one child, spliced. */
void rings_tree_remove(struct rings *r, uint32_t i, uint32_t x)
{
	struct tnode *t = r->t[i];
	size_t nr = r->nrings;
	uint32_t below = r->prev[x * nr + i], above = r->next[x * nr + i];

	r->next[below * nr + i] = above;
	r->prev[above * nr + i] = below;

	while (t[x].left != NIL && t[x].right != NIL)
		rotate_up(r, i, rings_prio(t[t[x].left].h) > rings_prio(t[t[x].right].h) ?
		    t[x].left : t[x].right);
	replace_child(r, i, x, t[x].left != NIL ? t[x].left : t[x].right);
}

/*
 * Builds ring i as a treap over slots[0..m) given in ring order (a
 * Cartesian tree: the right spine on a stack), O(m).
 */
void rings_tree_build(struct rings *r, uint32_t i, const uint32_t *slots, size_t m,
    uint32_t *stack)
{
	struct tnode *t = r->t[i];
	size_t top = 0;

	for (size_t j = 0; j < m; j++) {
		uint32_t x = slots[j], last = NIL;
		uint64_t px = rings_prio(t[x].h);

		t[x].left = t[x].right = t[x].parent = NIL;
		while (top > 0 && rings_prio(t[stack[top - 1]].h) < px)
			last = stack[--top];
		t[x].left = last;
		if (last != NIL)
			t[last].parent = x;
		if (top > 0) {
			t[stack[top - 1]].right = x;
			t[x].parent = stack[top - 1];
		}
		stack[top++] = x;
		r->next[x * r->nrings + i] = slots[(j + 1) % m];
		r->prev[x * r->nrings + i] = slots[(j + m - 1) % m];
	}
	r->root[i] = top > 0 ? stack[0] : NIL;
}
