/*
 * The persistence interface. Records and snapshots are opaque byte strings
 * (msgpack made by the caller); the store makes them durable and gives them
 * back in order at start-up. store.c dispatches to a backend; the embedded
 * one is store_wal.c (write-ahead log segments + snapshots in the state
 * dir). A second backend (etcd) would add a file beside it and a case in
 * store_open(), without touching the callers.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* Number of buckets in the fsync latency histogram and their upper bounds (s). */
#define STORE_FSYNC_BUCKETS 12
extern const double store_fsync_bounds[STORE_FSYNC_BUCKETS];

struct store_stats {
	uint64_t appended_records;	/* since open */
	uint64_t appended_bytes;
	uint64_t log_records;		/* in the log behind the last snapshot */
	uint64_t log_bytes;
	uint64_t fsyncs;
	uint64_t fsync_bucket[STORE_FSYNC_BUCKETS + 1];	/* last: +Inf */
	double fsync_sum_s;
	int failed;			/* 1 once a write or fsync failed */
};

/* Called by recovery with each byte string, in order; non-zero stops recovery. */
typedef int (*store_visit_fn)(const void *buf, size_t len, void *arg);
/* Called by recovery with one warning sentence (a torn tail dropped). */
typedef void (*store_warn_fn)(const char *msg, void *arg);

/*
 * Opens the state dir (created 0700 when missing) and locks it (flock on
 * STATE_DIR/lock, not waiting): -EWOULDBLOCK when another process holds it.
 * On failure err holds one sentence naming the path.
 */
int store_open(const char *state_dir, struct store **ret, char *err, size_t errlen);

/*
 * Replays what is on disk: on_snapshot once with the newest snapshot (when
 * there is one), then on_record for every log record after it, in append
 * order. A torn last record is dropped (the file truncated) and reported
 * through warn. Corruption before the tail returns -EBADMSG with err naming
 * the file and byte offset. Must be called once, before the first append.
 */
int store_recover(struct store *s, store_visit_fn on_snapshot, store_visit_fn on_record,
    void *arg, store_warn_fn warn, void *warn_arg, char *err, size_t errlen);

/*
 * Queues one record (copied) and returns its sequence number. Does not wait:
 * callers append under their own state lock, so the log order is the order
 * in which they applied changes, then call store_wait() outside the lock.
 * -EIO once the store has failed.
 */
int store_append(struct store *s, const void *buf, size_t len, uint64_t *ret_seq);

/*
 * Waits until the record seq is on disk and fsync'd. Concurrent waiters
 * share one fsync (group commit). 0, or -EIO when the write or fsync failed
 * (the store then refuses every later append: a failed fsync is not retried).
 */
int store_wait(struct store *s, uint64_t seq);

/*
 * Snapshots, in two steps. store_snapshot_begin(), called under the caller's
 * state lock right before it serialises its state, cuts the log: records
 * appended after it go to a new segment. store_snapshot_commit() (no lock
 * needed) writes the snapshot durably and atomically, then removes the log
 * segments and snapshots it replaces. Only one snapshot at a time.
 */
int store_snapshot_begin(struct store *s, uint64_t *ret_gen);
int store_snapshot_commit(struct store *s, uint64_t gen, const void *buf, size_t len);

void store_get_stats(struct store *s, struct store_stats *ret);

/* Writes and fsyncs what is queued, stops the committer, unlocks. NULL ok. */
void store_close(struct store *s);

#endif
