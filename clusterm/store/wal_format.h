/*
 * The on-disk format of the WAL backend, and its encoding and checks.
 *
 * All integers little-endian:
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
#ifndef WAL_FORMAT_H
#define WAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* File names and sizes, exposed for tests and tools. */
#define STORE_WAL_LOCK_NAME	"lock"
#define STORE_WAL_SEG_FMT	"wal-%016llx.log"
#define STORE_WAL_SNAP_FMT	"snap-%016llx.mp"
#define STORE_WAL_SEG_HDR	16
#define STORE_WAL_SNAP_HDR	32
#define STORE_WAL_REC_HDR	8
#define STORE_WAL_COMMIT_REC	32
#define STORE_WAL_COMMIT_MARK	0x544d4d43u	/* "CMMT" little-endian */

#define STORE_WAL_SEG_MAGIC	"CMWALv02"	/* group commits closed by commit records */
#define STORE_WAL_SEG_MAGIC_V1	"CMWALv01"	/* records only: read, never written */
#define STORE_WAL_SNAP_MAGIC	"CMSNPv01"
#define STORE_WAL_MAGIC_LEN	8

/* Parses "<prefix><16 hex digits><suffix>" into *ret_gen; false otherwise. */
bool wal_format_parse_gen(const char *name, const char *prefix, const char *suffix,
    uint64_t *ret_gen);
/* The file name of segment or snapshot gen into buf (64 bytes are enough). */
void wal_format_seg_name(char *buf, size_t len, uint64_t gen);
void wal_format_snap_name(char *buf, size_t len, uint64_t gen);

/* The header of segment gen; of snapshot gen with payload buf[0..len). */
void wal_format_seg_header(uint8_t hdr[STORE_WAL_SEG_HDR], uint64_t gen);
void wal_format_snap_header(uint8_t hdr[STORE_WAL_SNAP_HDR], uint64_t gen, const void *buf,
    size_t len);

/* The commit record closing the framed records p[0..len) in segment gen. */
void wal_format_commit_record(uint8_t rec[STORE_WAL_COMMIT_REC], uint64_t gen, const char *p,
    size_t len);

/* true when p[0..len) is all zero bytes. */
bool wal_format_all_zero(const unsigned char *p, size_t len);

/*
 * The checks below return NULL when the bytes are good, else a static
 * sentence saying why not. wal_format_past_end is the one for a record
 * that runs past size (callers compare the pointer).
 */
extern const char wal_format_past_end[];

/* The record frame at off ends by size and its CRC checks; *ret_len its length. */
const char *wal_format_check_frame(const unsigned char *p, size_t size, size_t off,
    uint32_t *ret_len);

/* The bad bytes from off to size are a torn write (zeros, or no good frame after). */
bool wal_format_tail_is_torn(const unsigned char *p, size_t size, size_t off);

/* The commit record at off closes the commit begun at start (n records, rcrc). */
const char *wal_format_check_commit(const unsigned char *p, size_t size, size_t off,
    uint64_t gen, size_t start, uint32_t n, uint32_t rcrc);

/*
 * The group commit at off frames (payloads: and checks) up to a good commit
 * record; *ret_end at that record, or at the first bad frame.
 */
const char *wal_format_read_commit(const unsigned char *p, size_t size, size_t off,
    uint64_t gen, bool payloads, size_t *ret_end);

/*
 * true when the commit begun at cstart, bad at bad, was followed by another
 * (so it was acknowledged); *ret_off where the later one begins.
 */
bool wal_format_later_commit(const unsigned char *p, size_t size, uint64_t gen, size_t cstart,
    size_t bad, size_t *ret_off);

/* true when the segment ends in a complete group commit; *ret_off its start. */
bool wal_format_final_commit(const unsigned char *p, size_t size, uint64_t gen,
    size_t *ret_off);

#endif
