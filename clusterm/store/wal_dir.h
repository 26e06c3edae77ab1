/* The WAL's state dir: listing its segments and snapshots, removing old ones. */
#ifndef WAL_DIR_H
#define WAL_DIR_H

#include <stddef.h>
#include <stdint.h>

struct wal;

/* A growable array of gens, sorted ascending by wal_dir_list(); free(v). */
struct wal_gens {
	uint64_t *v;
	size_t n, cap;
};

/*
 * Appends the gens of the segments and of the snapshots in w's state dir
 * to segs and snaps, each sorted, and removes the temporary files of
 * snapshot writes that stopped halfway. 0 or -errno.
 */
int wal_dir_list(struct wal *w, struct wal_gens *segs, struct wal_gens *snaps);

/* Removes segments and snapshots below gen (replaced by snapshot gen). Best effort. */
void wal_dir_remove_below(struct wal *w, uint64_t gen);

#endif
