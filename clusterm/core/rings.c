/*
 * K rings of member names as sorted arrays (see rings.h). Every ring holds
 * the same names (one copy each, shared by the rings), ordered by
 * (rings_hash(k, name), name).
 */
#include "rings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The members whose observers one insert or removal may change. */
#define AFFECTED_MAX (RINGS_MAX_K + 2)

struct ring_entry {
	uint64_t h;
	char *name;	/* shared by the rings, owned by struct rings */
};

struct rings {
	uint32_t k;
	uint32_t nrings;	/* max(k, 1): ring 0 also lists the members when k = 0 */
	size_t n, cap;
	struct ring_entry *ring[RINGS_MAX_K];
	uint64_t version;
	char *removed;		/* the last name removed, alive for its delta */
	struct rings_pair delta[2 * AFFECTED_MAX * RINGS_MAX_K];
	size_t ndelta;
	const char *before[AFFECTED_MAX][RINGS_MAX_K];
	size_t nbefore[AFFECTED_MAX];
};

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
	h += 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
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
	return r;
}

static void free_entries(struct rings *r)
{
	if (r->ring[0])
		for (size_t i = 0; i < r->n; i++)
			free(r->ring[0][i].name);
	for (uint32_t i = 0; i < RINGS_MAX_K; i++) {
		free(r->ring[i]);
		r->ring[i] = NULL;
	}
	r->n = r->cap = 0;
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

/* The first index of ring i whose entry is not below (h, name). */
static size_t lower_bound(const struct rings *r, uint32_t i, uint64_t h, const char *name)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (entry_cmp(h, name, &r->ring[i][mid]) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* name's index on ring i, or -1. */
static long find(const struct rings *r, uint32_t i, const char *name)
{
	uint64_t h;
	size_t pos;

	if (r->n == 0)
		return -1;
	h = rings_hash(i, name);
	pos = lower_bound(r, i, h, name);
	if (pos < r->n && entry_cmp(h, name, &r->ring[i][pos]) == 0)
		return (long)pos;
	return -1;
}

bool rings_contains(const struct rings *r, const char *name)
{
	return find(r, 0, name) >= 0;
}

static bool has(const char *const *list, size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == p)
			return true;
	return false;
}

/*
 * Neighbours of name (dir +1: successors = observers, -1: predecessors =
 * subjects) as the rings' own pointers. Everyone else while there are K or
 * fewer others.
 */
static size_t neighbours(const struct rings *r, const char *name, int dir,
    const char **ret, size_t max)
{
	size_t cnt = 0;
	long pos;

	if (r->k == 0 || (pos = find(r, 0, name)) < 0)
		return 0;
	if (r->n - 1 <= r->k) {
		for (size_t j = 0; j < r->n && cnt < max; j++)
			if (j != (size_t)pos)
				ret[cnt++] = r->ring[0][j].name;
		return cnt;
	}
	for (uint32_t i = 0; i < r->k && cnt < max; i++) {
		size_t p = i == 0 ? (size_t)pos : (size_t)find(r, i, name);
		size_t q = dir > 0 ? (p + 1) % r->n : (p + r->n - 1) % r->n;
		const char *o = r->ring[i][q].name;

		if (!has(ret, cnt, o))
			ret[cnt++] = o;
	}
	return cnt;
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
	const char *obs[RINGS_MAX_K];
	size_t n = rings_observers(r, subject, obs, RINGS_MAX_K);

	for (size_t i = 0; i < n; i++)
		if (strcmp(obs[i], observer) == 0)
			return true;
	return false;
}

const struct rings_pair *rings_delta(const struct rings *r, size_t *ret_n)
{
	*ret_n = r->ndelta;
	return r->delta;
}

static int reserve(struct rings *r, size_t want)
{
	size_t cap;

	if (want <= r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : 64;
	while (cap < want)
		cap *= 2;
	for (uint32_t i = 0; i < r->nrings; i++) {
		struct ring_entry *e = realloc(r->ring[i], cap * sizeof(*e));

		if (!e)
			return -ENOMEM;	/* the rings grown so far keep their room */
		r->ring[i] = e;
	}
	r->cap = cap;
	return 0;
}

/* Adds p to the affected list unless there. */
static void affect(const char **aff, size_t *naff, const char *p)
{
	if (!has(aff, *naff, p) && *naff < AFFECTED_MAX)
		aff[(*naff)++] = p;
}

/* Records the observers of every affected member before the change. */
static void snapshot_before(struct rings *r, const char **aff, size_t naff)
{
	for (size_t a = 0; a < naff; a++)
		r->nbefore[a] = neighbours(r, aff[a], 1, r->before[a], RINGS_MAX_K);
}

/* The delta: each affected member's observers after against before. */
static void diff_after(struct rings *r, const char **aff, size_t naff)
{
	const char *after[RINGS_MAX_K];

	r->ndelta = 0;
	for (size_t a = 0; a < naff; a++) {
		size_t nafter = neighbours(r, aff[a], 1, after, RINGS_MAX_K);

		for (size_t j = 0; j < r->nbefore[a]; j++)
			if (!has(after, nafter, r->before[a][j]))
				r->delta[r->ndelta++] = (struct rings_pair){
					aff[a], r->before[a][j], false };
		for (size_t j = 0; j < nafter; j++)
			if (!has(r->before[a], r->nbefore[a], after[j]))
				r->delta[r->ndelta++] = (struct rings_pair){
					aff[a], after[j], true };
	}
}

int rings_insert(struct rings *r, const char *name)
{
	const char *aff[AFFECTED_MAX];
	size_t naff = 0, pos[RINGS_MAX_K];
	uint64_t h[RINGS_MAX_K];
	char *copy;

	free(r->removed);
	r->removed = NULL;
	r->ndelta = 0;
	if (rings_contains(r, name))
		return -EEXIST;
	if (reserve(r, r->n + 1) < 0)
		return -ENOMEM;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nrings; i++) {
		h[i] = rings_hash(i, name);
		pos[i] = lower_bound(r, i, h[i], name);
	}
	if (r->k > 0 && r->n <= (size_t)r->k + 1) {
		for (size_t j = 0; j < r->n; j++)
			affect(aff, &naff, r->ring[0][j].name);
	} else if (r->k > 0) {
		for (uint32_t i = 0; i < r->k; i++)
			affect(aff, &naff, r->ring[i][(pos[i] + r->n - 1) % r->n].name);
	}
	snapshot_before(r, aff, naff);
	for (uint32_t i = 0; i < r->nrings; i++) {
		struct ring_entry *e = r->ring[i];

		memmove(&e[pos[i] + 1], &e[pos[i]], (r->n - pos[i]) * sizeof(*e));
		e[pos[i]] = (struct ring_entry){ h[i], copy };
	}
	r->n++;
	r->nbefore[naff] = 0;
	if (r->k > 0)
		aff[naff++] = copy;
	diff_after(r, aff, naff);
	r->version++;
	return 0;
}

int rings_remove(struct rings *r, const char *name)
{
	const char *aff[AFFECTED_MAX];
	size_t naff = 0, pos[RINGS_MAX_K];
	char *gone;
	long p0;

	free(r->removed);
	r->removed = NULL;
	r->ndelta = 0;
	if ((p0 = find(r, 0, name)) < 0)
		return -ENOENT;
	gone = r->ring[0][p0].name;
	for (uint32_t i = 0; i < r->nrings; i++)
		pos[i] = i == 0 ? (size_t)p0 : (size_t)find(r, i, name);
	if (r->k > 0) {
		affect(aff, &naff, gone);
		if (r->n <= (size_t)r->k + 2) {
			for (size_t j = 0; j < r->n; j++)
				affect(aff, &naff, r->ring[0][j].name);
		} else {
			for (uint32_t i = 0; i < r->k; i++)
				affect(aff, &naff,
				    r->ring[i][(pos[i] + r->n - 1) % r->n].name);
		}
	}
	snapshot_before(r, aff, naff);
	for (uint32_t i = 0; i < r->nrings; i++) {
		struct ring_entry *e = r->ring[i];

		memmove(&e[pos[i]], &e[pos[i] + 1], (r->n - pos[i] - 1) * sizeof(*e));
	}
	r->n--;
	r->removed = gone;	/* no longer findable: its observers are now none */
	diff_after(r, aff, naff);
	r->version++;
	return 0;
}

int rings_rebuild(struct rings *r, uint32_t k, const char *const *names, size_t n)
{
	struct rings tmp = { .k = k, .nrings = k ? k : 1 };
	size_t m = 0;
	int ret = -ENOMEM;

	if (k > RINGS_MAX_K)
		return -EINVAL;
	if (n > 0 && reserve(&tmp, n) < 0)
		goto fail;
	for (size_t j = 0; j < n; j++) {
		char *copy = strdup(names[j]);

		if (!copy)
			goto fail;
		tmp.ring[0][j] = (struct ring_entry){ rings_hash(0, copy), copy };
		tmp.n = j + 1;
	}
	if (n > 0)
		qsort(tmp.ring[0], n, sizeof(struct ring_entry), qsort_cmp);
	for (size_t j = 0; j < tmp.n; j++) {
		if (m > 0 && strcmp(tmp.ring[0][m - 1].name, tmp.ring[0][j].name) == 0) {
			free(tmp.ring[0][j].name);
			continue;
		}
		tmp.ring[0][m++] = tmp.ring[0][j];
	}
	tmp.n = m;
	for (uint32_t i = 1; i < tmp.nrings; i++) {
		for (size_t j = 0; j < m; j++) {
			char *nm = tmp.ring[0][j].name;

			tmp.ring[i][j] = (struct ring_entry){ rings_hash(i, nm), nm };
		}
		if (m > 0)	/* no rings allocated for no names */
			qsort(tmp.ring[i], m, sizeof(struct ring_entry), qsort_cmp);
	}
	free_entries(r);
	free(r->removed);
	r->removed = NULL;
	r->k = tmp.k;
	r->nrings = tmp.nrings;
	r->n = tmp.n;
	r->cap = tmp.cap;
	memcpy(r->ring, tmp.ring, sizeof(r->ring));
	r->ndelta = 0;
	r->version++;
	return 0;
fail:
	free_entries(&tmp);
	return ret;
}
