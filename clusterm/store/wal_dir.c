/* The WAL's state dir: which segments and snapshots it holds, and their cleanup. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "dirlist.h"
#include "store_wal_impl.h"
#include "wal_dir.h"
#include "wal_format.h"

static int
gens_push(struct wal_gens *g, uint64_t v)
{
	if (g->n == g->cap) {
		size_t cap = g->cap > 0 ? g->cap * 2 : 16;
		uint64_t *p = realloc(g->v, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		g->v = p;
		g->cap = cap;
	}
	g->v[g->n++] = v;
	return 0;
}

/* Appends the gens of the names <prefix><16 hex><suffix> in the state dir, in order. */
static int
list_gens(struct wal *w, const char *prefix, const char *suffix, struct wal_gens *ret)
{
	char **names;
	uint64_t gen;
	size_t n;
	int r;

	r = dirlist(w->dir, prefix, suffix, &names, &n);
	if (r < 0)
		return r;
	/* Sorted by name is sorted by gen: the 16 hex digits are fixed width. */
	for (size_t i = 0; i < n && r == 0; i++)
		if (wal_format_parse_gen(names[i], prefix, suffix, &gen))
			r = gens_push(ret, gen);
	dirlist_free(names, n);
	return r;
}

int
wal_dir_list(struct wal *w, struct wal_gens *segs, struct wal_gens *snaps)
{
	char **tmp;
	size_t n;
	int r;

	r = dirlist(w->dir, ".snap-", NULL, &tmp, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		(void)unlinkat(w->dirfd, tmp[i], 0);	/* fsio_write_atomic leftovers */
	dirlist_free(tmp, n);
	r = list_gens(w, "wal-", ".log", segs);
	if (r == 0)
		r = list_gens(w, "snap-", ".mp", snaps);
	return r;
}

void
wal_dir_remove_below(struct wal *w, uint64_t gen)
{
	struct wal_gens segs = { NULL, 0, 0 }, snaps = { NULL, 0, 0 };
	char name[64];
	bool removed = false;

	if (wal_dir_list(w, &segs, &snaps) == 0) {
		for (size_t i = 0; i < segs.n && segs.v[i] < gen; i++) {
			wal_format_seg_name(name, sizeof(name), segs.v[i]);
			removed |= unlinkat(w->dirfd, name, 0) == 0;
		}
		for (size_t i = 0; i < snaps.n && snaps.v[i] < gen; i++) {
			wal_format_snap_name(name, sizeof(name), snaps.v[i]);
			removed |= unlinkat(w->dirfd, name, 0) == 0;
		}
		if (removed)
			(void)fsync(w->dirfd);
	}
	free(segs.v);
	free(snaps.v);
}
