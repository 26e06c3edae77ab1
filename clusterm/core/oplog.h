/*
 * The operation log: every change to the state is an operation (ops.h),
 * appended to the store, made durable, then applied under the state's
 * write lock in log order, then answered. Recovery is the newest snapshot
 * plus a replay of the operations logged after it; snapshots are taken
 * here too. The locks it uses live in struct state (state_impl.h).
 */
#ifndef OPLOG_H
#define OPLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "ops.h"
#include "state.h"
#include "store.h"

/*
 * Opens the state dir, recovers what it holds (the apply function replays
 * operations). On failure err names the file or path. Progress warnings (a
 * torn tail) go to warn.
 */
int oplog_open(const char *dir, const struct votes_params *params, state_apply_fn apply,
    void *apply_arg, struct state **ret, char *err, size_t errlen, store_warn_fn warn,
    void *warn_arg);
/* The same over a store already open (tests use the fake one); takes it over. */
int oplog_open_store(struct store *st, const struct votes_params *params,
    state_apply_fn apply, void *apply_arg, struct state **ret, char *err, size_t errlen,
    store_warn_fn warn, void *warn_arg);

/*
 * Appends op, waits until it is durable, applies it (and every operation
 * before it) and returns: 0 with op->res filled by the apply step, or -EIO
 * when the store failed (nothing of op is visible; op->res.err says why)
 * or -ENOMEM. op->time_ms is set here. Takes no lock of the caller's.
 */
int oplog_submit(struct state *s, struct op *op);

/* Whether the store has failed; why gets the reason. Any thread. */
bool oplog_failed(struct state *s, char *why, size_t len);

/* The manager's clock: wall time advanced by the monotonic clock, never back. */
long long oplog_clock_ms(struct state *s);

/*
 * Waits until an audit event with an id >= next_id exists, at most
 * timeout_ms, or until the watchers are closed. Returns 1 when there is
 * one, 0 on timeout, -ESHUTDOWN once closed. Takes no state lock.
 */
int oplog_watch_events(struct state *s, uint64_t next_id, long timeout_ms);
/* Wakes every watcher; with closing, they all return -ESHUTDOWN from now on. */
void oplog_wake_watchers(struct state *s, bool closing);

/*
 * Log records after which a snapshot is due (STATE_SNAPSHOT_RECORDS by
 * default; store.etcd.snapshot_records on etcd). Before the ticker starts.
 */
void oplog_set_snapshot_records(struct state *s, uint64_t n);

/* Takes a snapshot when the log has grown past the thresholds (or force). */
int oplog_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen);

#endif
