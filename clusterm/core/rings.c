/*
 * K rings of member names (see rings.h). Each member has a slot: its name
 * (one copy, shared by the rings), and per ring a tree node and list
 * links. Ring k is a treap of the slots ordered by (rings_hash(k, name),
 * name) whose priorities are a second mix of that hash, so the shape is
 * fixed by the members alone and expected O(log N) deep; a name finds its
 * slot in an open-addressing table keyed by ring 0's hash. A member's
 * neighbours on a ring are read from the ring's circular list.
 */
#include "rings_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t rings_hash(uint32_t k, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a 64 offset basis */
	uint64_t seed = k;

	for (int i = 0; i < 8; i++) {
		h ^= (seed >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	/* SplitMix64's finalizer spreads FNV's weak low bits. */
	return rings_mix64(h + 0x9e3779b97f4a7c15ULL);
}

struct rings *rings_new(uint32_t k)
{
	struct rings *r;

	if (k > RINGS_MAX_K)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->k = k;
	r->nrings = k ? k : 1;
	for (uint32_t i = 0; i < RINGS_MAX_K; i++)
		r->root[i] = NIL;
	return r;
}

static void free_entries(struct rings *r)
{
	for (uint32_t s = 0; r->name && s < r->top; s++)
		free(r->name[s]);
	free(r->name);
	free(r->freeslot);
	free(r->tab);
	free(r->next);
	free(r->prev);
	r->next = r->prev = NULL;
	for (uint32_t i = 0; i < RINGS_MAX_K; i++) {
		free(r->t[i]);
		r->t[i] = NULL;
		r->root[i] = NIL;
	}
	r->name = NULL;
	r->freeslot = NULL;
	r->tab = NULL;
	r->tabcap = 0;
	r->n = 0;
	r->cap = r->top = r->nfree = 0;
}

void rings_free(struct rings *r)
{
	if (!r)
		return;
	free_entries(r);
	free(r->removed);
	free(r);
}

uint32_t rings_k(const struct rings *r) { return r->k; }
size_t rings_count(const struct rings *r) { return r->n; }
uint64_t rings_version(const struct rings *r) { return r->version; }
void rings_set_version(struct rings *r, uint64_t version) { r->version = version; }

static int entry_cmp(uint64_t h, const char *name, const struct ring_entry *e)
{
	if (h != e->h)
		return h < e->h ? -1 : 1;
	return strcmp(name, e->name);
}

static int qsort_cmp(const void *a, const void *b)
{
	const struct ring_entry *x = a;

	return entry_cmp(x->h, x->name, b);
}

/* ---- observers and subjects ---- */

bool rings_contains(const struct rings *r, const char *name)
{
	return rings_slot_of(r, name) != NIL;
}

static bool has(const char *const *list, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == p)
			return true;
	return false;
}

/*
 * The neighbours of slot s (dir +1: successors = observers, -1:
 * predecessors = subjects) as the rings' own names, ring order,
 * deduplicated; as if slot skip (or NIL) were not on the rings, n members
 * counted. Everyone else while there are K or fewer others.
 */
static size_t neighbours_of(const struct rings *r, uint32_t s, int dir, uint32_t skip,
    size_t n, const char **ret, size_t max)
{
	size_t cnt = 0;

	if (n - 1 <= r->k) {
		uint32_t x = rings_first(r, 0);

		for (size_t j = 0; j < r->n && cnt < max; j++, x = rings_succ(r, 0, x))
			if (x != s && x != skip)
				ret[cnt++] = r->name[x];
		return cnt;
	}
	for (uint32_t i = 0; i < r->k && cnt < max; i++) {
		uint32_t x = dir > 0 ? rings_succ(r, i, s) : rings_pred(r, i, s);
		const char *o;

		if (x == skip)
			x = dir > 0 ? rings_succ(r, i, x) : rings_pred(r, i, x);
		o = r->name[x];
		if (!has(ret, cnt, o))
			ret[cnt++] = o;
	}
	return cnt;
}

static size_t neighbours(const struct rings *r, const char *name, int dir,
    const char **ret, size_t max)
{
	uint32_t s;

	if (r->k == 0 || (s = rings_slot_of(r, name)) == NIL)
		return 0;
	return neighbours_of(r, s, dir, NIL, r->n, ret, max);
}

size_t rings_observers(const struct rings *r, const char *name, const char **ret,
    size_t max)
{
	return neighbours(r, name, 1, ret, max);
}

size_t rings_subjects(const struct rings *r, const char *name, const char **ret,
    size_t max)
{
	return neighbours(r, name, -1, ret, max);
}

bool rings_is_observer(const struct rings *r, const char *subject, const char *observer)
{
	uint32_t s, o;

	if (r->k == 0 || (s = rings_slot_of(r, subject)) == NIL ||
	    (o = rings_slot_of(r, observer)) == NIL || s == o)
		return false;
	if (r->n - 1 <= r->k)
		return true;
	for (uint32_t i = 0; i < r->k; i++)
		if (rings_succ(r, i, s) == o)
			return true;
	return false;
}

const struct rings_pair *rings_delta(const struct rings *r, size_t *ret_n)
{
	*ret_n = r->ndelta;
	return r->delta;
}

/* ---- changes ---- */

/* Room for cap slots on nrings rings. -ENOMEM (what grew keeps its room). */
static int grow(struct rings *r, uint32_t nrings, uint32_t cap)
{
	size_t links = (size_t)cap * nrings;
	char **nm;
	uint32_t *v;

	if (cap <= r->cap)
		return 0;
	if (!(nm = realloc(r->name, cap * sizeof(*nm))))
		return -ENOMEM;
	r->name = nm;
	if (!(v = realloc(r->freeslot, cap * sizeof(*v))))
		return -ENOMEM;
	r->freeslot = v;
	if (!(v = realloc(r->next, links * sizeof(*v))))
		return -ENOMEM;
	r->next = v;
	if (!(v = realloc(r->prev, links * sizeof(*v))))
		return -ENOMEM;
	r->prev = v;
	for (uint32_t i = 0; i < nrings; i++) {
		struct tnode *t = realloc(r->t[i], cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		r->t[i] = t;
	}
	r->cap = cap;
	return 0;
}

/* Room for one more member (a free slot and a table entry). -ENOMEM. */
static int reserve_one(struct rings *r)
{
	if (r->nfree == 0 && r->top == r->cap) {
		uint32_t cap;

		if (r->cap >= SLOTS_MAX)
			return -ENOMEM;
		cap = r->cap == 0 ? 64 : r->cap > SLOTS_MAX / 2 ? SLOTS_MAX : 2 * r->cap;
		if (grow(r, r->nrings, cap) < 0)
			return -ENOMEM;
	}
	return rings_tab_reserve(r, r->n + 1);
}

/* Adds slot x to the affected list unless there. */
static void affect(uint32_t *aff, size_t *naff, uint32_t x)
{
	for (size_t a = 0; a < *naff; a++)
		if (aff[a] == x)
			return;
	if (*naff < AFFECTED_MAX)
		aff[(*naff)++] = x;
}

/* Every member but skip, ring 0's order, into the affected list. */
static void affect_all(const struct rings *r, uint32_t skip, uint32_t *aff, size_t *naff)
{
	uint32_t x = r->n ? rings_first(r, 0) : NIL;

	for (size_t j = 0; j < r->n; j++, x = rings_succ(r, 0, x))
		if (x != skip)
			affect(aff, naff, x);
}

/*
 * The delta: each affected member's observers now against before; dead
 * (or NIL) is the slot just removed, whose observers are now none.
 */
static void diff_after(struct rings *r, const uint32_t *aff, size_t naff, uint32_t dead)
{
	const char *after[RINGS_MAX_K];

	r->ndelta = 0;
	for (size_t a = 0; a < naff; a++) {
		const char *subj = aff[a] == dead ? r->removed : r->name[aff[a]];
		size_t nafter = aff[a] == dead ? 0 :
		    neighbours_of(r, aff[a], 1, NIL, r->n, after, RINGS_MAX_K);

		for (size_t j = 0; j < r->nbefore[a]; j++)
			if (!has(after, nafter, r->before[a][j]))
				r->delta[r->ndelta++] = (struct rings_pair){
					subj, r->before[a][j], false };
		for (size_t j = 0; j < nafter; j++)
			if (!has(r->before[a], r->nbefore[a], after[j]))
				r->delta[r->ndelta++] = (struct rings_pair){
					subj, after[j], true };
	}
}

int rings_insert(struct rings *r, const char *name)
{
	uint32_t aff[AFFECTED_MAX];
	size_t naff = 0;
	uint64_t h[RINGS_MAX_K];
	uint32_t s;
	char *copy;

	free(r->removed);
	r->removed = NULL;
	r->ndelta = 0;
	for (uint32_t i = 0; i < r->nrings; i++)
		h[i] = rings_hash(i, name);
	if (rings_slot_of_h(r, h[0], name) != NIL)
		return -EEXIST;
	if (reserve_one(r) < 0)
		return -ENOMEM;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	s = r->nfree > 0 ? r->freeslot[--r->nfree] : r->top++;
	r->name[s] = copy;
	for (uint32_t i = 0; i < r->nrings; i++)
		r->t[i][s].h = h[i];
	rings_tree_insert(r, s);
	rings_tab_add(r, s);
	r->n++;
	/* Whose successor is now s: its predecessors (all, when few). */
	if (r->k > 0 && r->n - 1 <= (size_t)r->k + 1) {
		affect_all(r, s, aff, &naff);
	} else if (r->k > 0) {
		for (uint32_t i = 0; i < r->k; i++)
			affect(aff, &naff, rings_pred(r, i, s));
	}
	/* Their observers before: the same rings without s. */
	for (size_t a = 0; a < naff; a++)
		r->nbefore[a] = neighbours_of(r, aff[a], 1, s, r->n - 1, r->before[a],
		    RINGS_MAX_K);
	r->nbefore[naff] = 0;
	if (r->k > 0)
		aff[naff++] = s;
	diff_after(r, aff, naff, NIL);
	r->version++;
	return 0;
}

int rings_remove(struct rings *r, const char *name)
{
	uint32_t aff[AFFECTED_MAX];
	size_t naff = 0;
	uint32_t s;

	free(r->removed);
	r->removed = NULL;
	r->ndelta = 0;
	if ((s = rings_slot_of(r, name)) == NIL)
		return -ENOENT;
	if (r->k > 0) {
		affect(aff, &naff, s);
		if (r->n <= (size_t)r->k + 2) {
			affect_all(r, NIL, aff, &naff);
		} else {
			for (uint32_t i = 0; i < r->k; i++)
				affect(aff, &naff, rings_pred(r, i, s));
		}
	}
	for (size_t a = 0; a < naff; a++)
		r->nbefore[a] = neighbours_of(r, aff[a], 1, NIL, r->n, r->before[a],
		    RINGS_MAX_K);
	rings_tab_del(r, s);
	for (uint32_t i = 0; i < r->nrings; i++)
		rings_tree_remove(r, i, s);
	r->removed = r->name[s];	/* alive for the delta; its observers are now none */
	r->name[s] = NULL;
	r->freeslot[r->nfree++] = s;	/* room: a slot below top */
	r->n--;
	diff_after(r, aff, naff, s);
	r->version++;
	return 0;
}

/* A ring_entry (first, for qsort_cmp) with its slot. */
struct sort_entry {
	struct ring_entry e;
	uint32_t slot;
};

/*
 * Fills tmp (k rings, empty) with names[0..n), duplicates once: slots in
 * ring 0's order, each ring sorted and built as a treap. -ENOMEM.
 */
static int build(struct rings *tmp, const char *const *names, size_t n)
{
	struct sort_entry *e = malloc((n ? n : 1) * sizeof(*e));
	uint32_t *slots = malloc((n ? n : 1) * sizeof(*slots));
	uint32_t *stack = malloc((n ? n : 1) * sizeof(*stack));
	uint32_t m = 0;
	int ret = -ENOMEM;

	if (!e || !slots || !stack || n > SLOTS_MAX)
		goto out;
	for (size_t j = 0; j < n; j++)
		e[j].e = (struct ring_entry){ rings_hash(0, names[j]), (char *)names[j] };
	qsort(e, n, sizeof(*e), qsort_cmp);
	if (grow(tmp, tmp->nrings, n > 64 ? (uint32_t)n : 64) < 0 || rings_tab_reserve(tmp, n) < 0)
		goto out;
	for (size_t j = 0; j < n; j++) {
		if (m > 0 && strcmp(tmp->name[m - 1], e[j].e.name) == 0)
			continue;
		if (!(tmp->name[m] = strdup(e[j].e.name)))
			goto out;
		tmp->t[0][m].h = e[j].e.h;
		slots[m] = m;
		tmp->top = ++m;
		rings_tab_add(tmp, m - 1);
	}
	tmp->n = m;
	rings_tree_build(tmp, 0, slots, m, stack);
	for (uint32_t i = 1; i < tmp->nrings; i++) {
		for (uint32_t s = 0; s < m; s++) {
			tmp->t[i][s].h = rings_hash(i, tmp->name[s]);
			e[s] = (struct sort_entry){ { tmp->t[i][s].h, tmp->name[s] }, s };
		}
		qsort(e, m, sizeof(*e), qsort_cmp);
		for (uint32_t j = 0; j < m; j++)
			slots[j] = e[j].slot;
		rings_tree_build(tmp, i, slots, m, stack);
	}
	ret = 0;
out:
	free(e);
	free(slots);
	free(stack);
	return ret;
}

int rings_rebuild(struct rings *r, uint32_t k, const char *const *names, size_t n)
{
	struct rings tmp = { .k = k, .nrings = k ? k : 1 };
	int rc;

	if (k > RINGS_MAX_K)
		return -EINVAL;
	for (uint32_t i = 0; i < RINGS_MAX_K; i++)
		tmp.root[i] = NIL;
	if ((rc = build(&tmp, names, n)) < 0) {
		free_entries(&tmp);
		return rc;
	}
	free_entries(r);
	free(r->removed);
	r->removed = NULL;
	r->k = tmp.k;
	r->nrings = tmp.nrings;
	r->n = tmp.n;
	r->cap = tmp.cap;
	r->top = tmp.top;
	r->nfree = 0;
	r->name = tmp.name;
	r->freeslot = tmp.freeslot;
	r->tab = tmp.tab;
	r->tabcap = tmp.tabcap;
	r->next = tmp.next;
	r->prev = tmp.prev;
	memcpy(r->t, tmp.t, sizeof(r->t));
	memcpy(r->root, tmp.root, sizeof(r->root));
	r->ndelta = 0;
	r->version++;
	return 0;
}
