/*
 * The backend interface behind store.h, and the embedded backend that
 * implements it: write-ahead log segments and snapshots in the state dir.
 *
 * A backend is a table of functions over its own opaque handle; store.c
 * holds the table and the handle and forwards every call. The semantics of
 * each entry are those of the store_* function of the same name in
 * store.h. A second backend (etcd) would move struct store_backend into a
 * header of its own and export a table beside store_wal_backend.
 *
 * On-disk format of the embedded backend (all integers little-endian):
 *
 *   STATE_DIR/lock                  flock(2) target, empty
 *   STATE_DIR/wal-<16 hex gen>.log  a log segment:
 *       header  8 bytes magic "CMWALv02", u64 gen (same as the name)
 *       then group commits, each what one write(2) + fdatasync(2) put there:
 *       records u32 len, u32 crc32c(payload), payload[len]; 1 <= len <=
 *               LIMIT_RECORD_BYTES
 *       commit  (the commit's last frame, STORE_WAL_COMMIT_REC bytes)
 *               u32 STORE_WAL_COMMIT_MARK ("CMMT", above every record
 *               length), u32 crc32c(the 24 bytes that follow),
 *               u64 gen, u64 len (bytes of the commit's records before this
 *               frame), u32 records, u32 crc32c over the records' crc fields
 *   STATE_DIR/snap-<16 hex gen>.mp  a snapshot, written atomically:
 *       header  8 bytes magic "CMSNPv01", u64 gen, u64 len,
 *               u32 crc32c(payload), u32 zero
 *       payload[len] (the caller's msgpack), nothing after it
 *
 * Segments with magic "CMWALv01" (written before commit records existed:
 * records only) are still read, with the rules they were written under: a
 * bad spot of the newest one is a torn tail when nothing after it frames as
 * a record. New segments are always v02.
 *
 * Snapshot gen G holds the state of every record in segments below G;
 * recovery replays segments G, G+1, ... in order, and hands a group
 * commit's records to the caller only once its commit record checks out.
 * Every store_recover() starts a new segment, so only the newest segment
 * can end in a torn commit: damage anywhere in its last group commit drops
 * that whole commit (nothing in it was acknowledged). Damage followed by a
 * complete group commit, or in a commit whose own commit record is intact
 * with more written after it (the next commit was begun, so this one had
 * been fsync'd), or in an older segment, is corruption.
 */
#ifndef STORE_WAL_H
#define STORE_WAL_H

#include "store.h"

struct store_backend {
	const char *name;
	int (*open)(const char *state_dir, void **ret, char *err, size_t errlen);
	int (*recover)(void *b, store_visit_fn on_snapshot, store_visit_fn on_record,
	    void *arg, store_warn_fn warn, void *warn_arg, char *err, size_t errlen);
	int (*append)(void *b, const void *buf, size_t len, uint64_t *ret_seq);
	int (*wait)(void *b, uint64_t seq);
	int (*snapshot_begin)(void *b, uint64_t *ret_gen);
	int (*snapshot_commit)(void *b, uint64_t gen, const void *buf, size_t len);
	void (*get_stats)(void *b, struct store_stats *ret);
	int (*failure)(void *b, char *ret_why, size_t len);
	void (*close)(void *b);
};

/* The embedded write-ahead-log backend. */
extern const struct store_backend store_wal_backend;

/*
 * For backends opened outside store_open() (store_fake.c): wraps handle b
 * of backend be in a struct store, which owns b from then on (store_close
 * calls be->close). -ENOMEM, and b is closed.
 */
int store_wrap(const struct store_backend *be, void *b, struct store **ret);
/* The backend handle of s when s runs backend be, else NULL. */
void *store_backend_handle(struct store *s, const struct store_backend *be);

/* File names used by the WAL backend, exposed for tests and tools. */
#define STORE_WAL_LOCK_NAME	"lock"
#define STORE_WAL_SEG_FMT	"wal-%016llx.log"
#define STORE_WAL_SNAP_FMT	"snap-%016llx.mp"
#define STORE_WAL_SEG_HDR	16
#define STORE_WAL_SNAP_HDR	32
#define STORE_WAL_REC_HDR	8
#define STORE_WAL_COMMIT_REC	32
#define STORE_WAL_COMMIT_MARK	0x544d4d43u	/* "CMMT" little-endian */

#endif
