/*
 * The persistence interface. Records and snapshots are opaque byte strings
 * (msgpack made by the caller); the store makes them durable and gives them
 * back in order at start-up. store.c dispatches to a backend through the
 * table at the end of this header and knows none of them: each backend
 * provides its own opener, which wraps its handle with store_wrap(). The
 * embedded one is store_wal.c (write-ahead log segments + snapshots in the
 * state dir), opened by store_open(); store_fake.c is an in-memory backend
 * for tests (store_open_fake()). A second backend (etcd) would add a file
 * and an opener beside them, without touching the callers.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
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
	int64_t applied_rev;		/* shared log (etcd): the revision applied here */
	int64_t head_rev;		/* the newest revision etcd has told of */
};

/* store_append_flags(): a write only the leader may make (fenced). */
#define STORE_FENCED	1u

/*
 * A shared log (several instances, etcd) is followed rather than replayed
 * once: after store_recover() the backend hands over every record that any
 * instance appends, in log order, on its own thread. own_seq is the
 * store_append() sequence number when this store appended it, else 0.
 * on_reset: the log behind the state was compacted away; a reload begins
 * (again, when one was under way): on_snapshot and on_record come again
 * from the newest snapshot, into a state built afresh, until
 * on_reload_done says whether that state is whole (ok: it replaces the
 * one in force; else it is dropped and the old one stays). pos is the
 * record's position in the log (etcd's revision), 0 for a record that
 * more of the same log key follow.
 */
struct store_follow {
	void (*on_reset)(void *arg);
	void (*on_reload_done)(void *arg, bool ok);
	int (*on_snapshot)(const void *buf, size_t len, int64_t pos, void *arg);
	void (*on_record)(const void *buf, size_t len, int64_t pos, uint64_t own_seq,
	    void *arg);
	void *arg;
};

/* Called by recovery with each byte string, in order; non-zero stops recovery. */
typedef int (*store_visit_fn)(const void *buf, size_t len, void *arg);
/* Called by recovery with one warning sentence (a torn last commit dropped). */
typedef void (*store_warn_fn)(const char *msg, void *arg);

/*
 * The embedded backend (store_wal.c, which defines this function). Opens
 * the state dir (created 0700 when missing) and locks it (flock on
 * STATE_DIR/lock, not waiting): -EWOULDBLOCK when another process holds it.
 * On failure err holds one sentence naming the path.
 */
int store_open(const char *state_dir, struct store **ret, char *err, size_t errlen);

/*
 * Replays what is on disk: on_snapshot once with the newest snapshot (when
 * there is one), then on_record for every log record after it, in append
 * order. Damage within the last group commit of the newest segment (a
 * power loss during that commit: a torn record, or an earlier page of the
 * commit missing while a later one made it) drops that whole commit, whose
 * records were never acknowledged: the file is truncated where the commit
 * began and one sentence naming the file and offset goes to warn. Damage
 * in a commit that a later one followed (a complete commit after the
 * damage, or the damaged commit's own commit record intact with more
 * written after it: acknowledged data is bad), or in an older segment,
 * returns -EBADMSG with err naming the file and byte offset; nothing is
 * cut. After any error the records visited so far (all from before the
 * damage) are not the whole state: the caller discards what it rebuilt.
 * Must be called once, before the first append.
 */
int store_recover(struct store *s, store_visit_fn on_snapshot, store_visit_fn on_record,
    void *arg, store_warn_fn warn, void *warn_arg, char *err, size_t errlen);

/*
 * Queues one record (copied) and returns its sequence number. Does not wait:
 * callers append under their own state lock, so the log order is the order
 * in which they applied changes, then call store_wait() outside the lock.
 * Sequence numbers are consecutive from 1 in each open store (the first
 * append after store_recover() gets 1, the next 2, ...) and the log holds
 * the records in that order. -EIO once the store has failed.
 */
int store_append(struct store *s, const void *buf, size_t len, uint64_t *ret_seq);

/*
 * store_append() with flags: STORE_FENCED makes the write only while this
 * instance leads; store_wait() returns -EPERM when it does not. A backend
 * without a leader takes every write (the flag means nothing there).
 */
int store_append_flags(struct store *s, const void *buf, size_t len, unsigned flags,
    uint64_t *ret_seq);

/*
 * Whether s is a shared log (store_follow() needed; a store_wait() failure
 * of -EAGAIN / -EPERM is then temporary: the store has not failed).
 */
bool store_is_shared(struct store *s);

/*
 * Starts following a shared log (see struct store_follow). Called once,
 * after store_recover(). -ENOTSUP on a backend that is not shared.
 */
int store_follow(struct store *s, const struct store_follow *f);

/*
 * A shared log keeps the logs of ended jobs too, so that every instance can
 * read them whichever ran the job: the last STORE_JOBLOG_BYTES of each, for
 * the newest STORE_JOBLOGS_KEEP jobs. put is a leader's write (fenced:
 * -EPERM otherwise); get returns a malloc'd copy, -ENOENT when there is
 * none. -ENOTSUP on a store that is not shared.
 */
#define STORE_JOBLOG_BYTES	(256 * 1024)
#define STORE_JOBLOGS_KEEP	128
int store_put_joblog(struct store *s, uint64_t id, const void *buf, size_t len);
int store_get_joblog(struct store *s, uint64_t id, char **ret, size_t *ret_len);

/*
 * Whether this instance may act as the leader now: for a shared log, while
 * its fence holds (store_append_flags); always for one that is not.
 */
bool store_leads(struct store *s);

/* Why the last write failed, for a shared log ("" none). */
void store_last_error(struct store *s, char *ret, size_t len);

/*
 * Waits until the record seq is on disk and fsync'd. Concurrent waiters
 * share one fsync (group commit). 0 means the record seq and every record
 * with a lower seq are durable (commits reach the disk in seq order). -EIO
 * when the write or fsync of a commit failed before seq was durable: the
 * store is then failed, refuses every later append with -EIO, and
 * store_wait() of every seq not yet durable returns -EIO (a failed fsync
 * is not retried); seqs that were durable before still return 0. -EINVAL
 * for a seq not handed out yet.
 */
int store_wait(struct store *s, uint64_t seq);

/*
 * Snapshots, in two steps. store_snapshot_begin(), called under the caller's
 * state lock right before it serialises its state, cuts the log: records
 * appended after it go to a new segment. store_snapshot_commit() (no lock
 * needed) writes the snapshot durably and atomically, then removes the log
 * segments and snapshots it replaces. Only one snapshot at a time. A
 * failed snapshot write returns its error without failing the store (the
 * log still holds everything); on a failed store both return -EIO.
 */
int store_snapshot_begin(struct store *s, uint64_t *ret_gen);
int store_snapshot_commit(struct store *s, uint64_t gen, const void *buf, size_t len);

void store_get_stats(struct store *s, struct store_stats *ret);

/*
 * Once the store has failed (a write or fsync of the log, see store_wait()),
 * returns 1 and writes one sentence saying what failed into ret_why (len
 * bytes, truncated to fit), e.g. "fdatasync of /var/lib/clusterm/
 * wal-0000000000000003.log failed: No space left on device". 0 and ret_why
 * untouched while the store works.
 */
int store_failure(struct store *s, char *ret_why, size_t len);

/* Faults the in-memory store can be told to inject (store_fake_fail()). */
enum store_fault { STORE_FAULT_NONE, STORE_FAULT_APPEND, STORE_FAULT_FSYNC };

/*
 * An in-memory store for tests: nothing on disk, no state dir, no lock.
 * store_recover() visits nothing (the store is new each time) and must be
 * called before the first append, as with store_open(). Commits happen
 * synchronously inside store_wait(): the first waiter commits every record
 * queued so far, so later waiters of those records find them durable (they
 * share that commit); there is no committer thread. Records are counted,
 * not kept; the last committed snapshot is kept in memory. Close with
 * store_close(). -ENOMEM.
 */
int store_open_fake(struct store **ret);

/*
 * From now on: APPEND makes store_append fail with -EIO (and the store
 * failed); FSYNC lets appends queue but makes the next commit fail:
 * store_wait of every record not yet durable returns -EIO and the store is
 * failed. NONE: no fault (a failed store stays failed). Does nothing on a
 * store not opened by store_open_fake().
 */
void store_fake_fail(struct store *s, enum store_fault f);

/* Writes and fsyncs what is queued, stops the committer, unlocks. NULL ok. */
void store_close(struct store *s);

/*
 * For backends. A backend is a table of functions over its own opaque
 * handle; store.c holds the table and the handle and forwards every call.
 * The semantics of each entry are those of the store_* function of the
 * same name above.
 */
struct store_backend {
	const char *name;
	int (*recover)(void *b, store_visit_fn on_snapshot, store_visit_fn on_record,
	    void *arg, store_warn_fn warn, void *warn_arg, char *err, size_t errlen);
	int (*append)(void *b, const void *buf, size_t len, uint64_t *ret_seq);
	int (*wait)(void *b, uint64_t seq);
	int (*snapshot_begin)(void *b, uint64_t *ret_gen);
	int (*snapshot_commit)(void *b, uint64_t gen, const void *buf, size_t len);
	void (*get_stats)(void *b, struct store_stats *ret);
	int (*failure)(void *b, char *ret_why, size_t len);
	void (*close)(void *b);
	/* Shared logs only (NULL otherwise). */
	int (*append_flags)(void *b, const void *buf, size_t len, unsigned flags,
	    uint64_t *ret_seq);
	int (*follow)(void *b, const struct store_follow *f);
	void (*last_error)(void *b, char *ret, size_t len);
	int (*put_joblog)(void *b, uint64_t id, const void *buf, size_t len);
	int (*get_joblog)(void *b, uint64_t id, char **ret, size_t *ret_len);
	bool (*leads)(void *b);
};

/*
 * For a backend's opener: wraps handle b of backend be in a struct store,
 * which owns b from then on (store_close calls be->close). -ENOMEM, and b
 * is closed.
 */
int store_wrap(const struct store_backend *be, void *b, struct store **ret);
/* The backend handle of s when s runs backend be, else NULL. */
void *store_backend_handle(struct store *s, const struct store_backend *be);

#endif
