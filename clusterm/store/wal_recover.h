/* WAL recovery at start. */
#ifndef WAL_RECOVER_H
#define WAL_RECOVER_H

#include <stddef.h>

#include "store.h"

struct wal;

/*
 * The backend's recover entry (store_recover() in store.h): replays the
 * newest good snapshot and the segments after it, then creates a fresh
 * segment and starts the committer. 0 or -errno, err set.
 */
int wal_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen);

#endif
