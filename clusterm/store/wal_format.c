/*
 * The WAL's on-disk format (wal_format.h): file names, headers, record and
 * commit record encoding, and the checks recovery makes on mapped bytes.
 * Pure functions of their arguments: no I/O, no state.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cm_limits.h"
#include "crc32c.h"
#include "le.h"
#include "wal_format.h"

/* The commit record's mark must not read as a record length. */
_Static_assert(STORE_WAL_COMMIT_MARK > LIMIT_RECORD_BYTES, "commit mark is a record length");

/* Parses "<prefix><16 hex digits><suffix>" into *ret_gen; false otherwise. */
bool
wal_format_parse_gen(const char *name, const char *prefix, const char *suffix,
    uint64_t *ret_gen)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	uint64_t v = 0;

	if (strlen(name) != pl + 16 + sl || strncmp(name, prefix, pl) != 0 ||
	    strcmp(name + pl + 16, suffix) != 0)
		return false;
	for (size_t i = pl; i < pl + 16; i++) {
		char c = name[i];
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*ret_gen = v;
	return true;
}

void
wal_format_seg_name(char *buf, size_t len, uint64_t gen)
{
	(void)snprintf(buf, len, STORE_WAL_SEG_FMT, (unsigned long long)gen);
}

void
wal_format_snap_name(char *buf, size_t len, uint64_t gen)
{
	(void)snprintf(buf, len, STORE_WAL_SNAP_FMT, (unsigned long long)gen);
}

void
wal_format_seg_header(uint8_t hdr[STORE_WAL_SEG_HDR], uint64_t gen)
{
	memcpy(hdr, STORE_WAL_SEG_MAGIC, STORE_WAL_MAGIC_LEN);
	le_put64(hdr + STORE_WAL_MAGIC_LEN, gen);
}

void
wal_format_snap_header(uint8_t hdr[STORE_WAL_SNAP_HDR], uint64_t gen, const void *buf,
    size_t len)
{
	memcpy(hdr, STORE_WAL_SNAP_MAGIC, STORE_WAL_MAGIC_LEN);
	le_put64(hdr + 8, gen);
	le_put64(hdr + 16, len);
	le_put32(hdr + 24, crc32c(0, buf, len));
	le_put32(hdr + 28, 0);
}

/*
 * Fills rec with the commit record that closes a group commit of the framed
 * records p[0..len) in segment gen: their byte length, count and a CRC over
 * their CRC fields, under a CRC of its own.
 */
void
wal_format_commit_record(uint8_t rec[STORE_WAL_COMMIT_REC], uint64_t gen, const char *p,
    size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t n = 0, rcrc = 0;

	for (size_t off = 0; off < len; off += STORE_WAL_REC_HDR + le_get32(u + off)) {
		rcrc = crc32c(rcrc, u + off + 4, 4);
		n++;
	}
	le_put32(rec, STORE_WAL_COMMIT_MARK);
	le_put64(rec + 8, gen);
	le_put64(rec + 16, len);
	le_put32(rec + 24, n);
	le_put32(rec + 28, rcrc);
	le_put32(rec + 4, crc32c(0, rec + 8, STORE_WAL_COMMIT_REC - 8));
}

bool
wal_format_all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

const char wal_format_past_end[] = "record runs past the end of the file";

/*
 * Checks the frame header at off of a mapped segment: a record length in
 * range that ends by size. NULL (the length in *ret_len) or why not.
 */
static const char *
check_len(const unsigned char *p, size_t size, size_t off, uint32_t *ret_len)
{
	uint32_t len;

	if (size - off < STORE_WAL_REC_HDR)
		return "incomplete record header";
	len = le_get32(p + off);
	if (len == 0 || len > LIMIT_RECORD_BYTES)
		return "record length out of range";
	if (len > size - off - STORE_WAL_REC_HDR)
		return wal_format_past_end;
	*ret_len = len;
	return NULL;
}

static const char *
check_crc(const unsigned char *p, size_t off, uint32_t len)
{
	if (crc32c(0, p + off + STORE_WAL_REC_HDR, len) != le_get32(p + off + 4))
		return "checksum mismatch";
	return NULL;
}

/*
 * Checks the frame at off of a mapped segment. Returns NULL when it is a
 * good record (its payload length in *ret_len), else why it is not.
 */
const char *
wal_format_check_frame(const unsigned char *p, size_t size, size_t off,
    uint32_t *ret_len)
{
	const char *why = check_len(p, size, off, ret_len);

	return why != NULL ? why : check_crc(p, off, *ret_len);
}

/*
 * Whether the bad bytes from off to the end of the newest segment are a
 * torn write: zeros, or nothing that frames as a good record at any offset
 * after off. A good record after a bad one means the damage is not at the
 * tail. Only runs on a damaged segment; costs at most one CRC per offset.
 */
bool
wal_format_tail_is_torn(const unsigned char *p, size_t size, size_t off)
{
	uint32_t len;

	if (wal_format_all_zero(p + off, size - off))
		return true;
	for (size_t o = off + 1; o + STORE_WAL_REC_HDR < size; o++)
		if (wal_format_check_frame(p, size, o, &len) == NULL)
			return false;
	return true;
}

/*
 * Checks the commit record at off of segment gen, which closes the group
 * commit that began at start with n records whose CRC fields CRC to rcrc.
 * NULL when it is good, else why not.
 */
const char *
wal_format_check_commit(const unsigned char *p, size_t size, size_t off, uint64_t gen,
    size_t start, uint32_t n, uint32_t rcrc)
{
	const unsigned char *c = p + off;

	if (size - off < STORE_WAL_COMMIT_REC)
		return "incomplete commit record";
	if (crc32c(0, c + 8, STORE_WAL_COMMIT_REC - 8) != le_get32(c + 4))
		return "commit record checksum mismatch";
	if (le_get64(c + 8) != gen)
		return "commit record of another segment";
	if (n == 0 || le_get64(c + 16) != off - start || le_get32(c + 24) != n ||
	    le_get32(c + 28) != rcrc)
		return "commit record does not match the records before it";
	return NULL;
}

/*
 * Reads the group commit that starts at off of segment gen: its records
 * frame (and with payloads, their payloads check out) and a good commit
 * record closes them. Frames end at size at the latest. On success returns
 * NULL with *ret_end at the commit record; else why not, with *ret_end at
 * the first bad frame.
 */
const char *
wal_format_read_commit(const unsigned char *p, size_t size, size_t off, uint64_t gen,
    bool payloads, size_t *ret_end)
{
	const char *why;
	uint32_t n = 0, rcrc = 0, len;
	size_t start = off;

	for (;;) {
		*ret_end = off;
		if (off == size)
			return n > 0 ? "group commit without its commit record" :
			    "empty group commit";
		if (size - off < STORE_WAL_REC_HDR)
			return "incomplete record header";
		if (le_get32(p + off) == STORE_WAL_COMMIT_MARK)
			return wal_format_check_commit(p, size, off, gen, start, n, rcrc);
		why = payloads ? wal_format_check_frame(p, size, off, &len) : check_len(p, size, off, &len);
		if (why != NULL)
			return why;
		rcrc = crc32c(rcrc, p + off + 4, 4);
		n++;
		off += STORE_WAL_REC_HDR + (size_t)len;
	}
}

/*
 * Whether the group commit that begins at cstart and is bad at bad was
 * followed by another one, so that it was fsync'd and acknowledged (the
 * committer writes a commit only after the one before it is durable) and
 * its damage is corruption, not a torn write. Either a complete commit
 * begins after bad (a good commit record whose records, from where it says
 * they begin up to it, all check out), or the damaged commit's own commit
 * record is there with more written after it. Only runs on a damaged
 * newest segment: one memmem(3) scan, a CRC per mark found, the records of
 * each good commit record once. *ret_off: where the later commit begins.
 */
bool
wal_format_later_commit(const unsigned char *p, size_t size, uint64_t gen, size_t cstart,
    size_t bad, size_t *ret_off)
{
	unsigned char mark[4];
	size_t o = bad + 1, end, start;
	const unsigned char *hit;
	uint64_t len;

	le_put32(mark, STORE_WAL_COMMIT_MARK);
	while (o < size && (hit = memmem(p + o, size - o, mark, sizeof(mark))) != NULL) {
		o = (size_t)(hit - p);
		if (size - o < STORE_WAL_COMMIT_REC)
			break;
		len = le_get64(p + o + 16);
		if (crc32c(0, p + o + 8, STORE_WAL_COMMIT_REC - 8) != le_get32(p + o + 4) ||
		    le_get64(p + o + 8) != gen) {
			o++;
			continue;
		}
		if (len == o - cstart && size - o > STORE_WAL_COMMIT_REC) {
			*ret_off = o + STORE_WAL_COMMIT_REC;
			return true;
		}
		if (len > 0 && len < o - bad) {
			start = o - (size_t)len;
			if (wal_format_read_commit(p, o + STORE_WAL_COMMIT_REC, start, gen, true, &end) == NULL &&
			    end == o) {
				*ret_off = start;
				return true;
			}
		}
		o++;
	}
	return false;
}

/*
 * Whether the newest segment ends in a complete group commit of segment
 * gen: a good commit record in its last bytes whose records all check out.
 * *ret_off: where that commit begins. Every commit before it was followed
 * by it, so damage there is corruption, and they can be read in one pass.
 */
bool
wal_format_final_commit(const unsigned char *p, size_t size, uint64_t gen,
    size_t *ret_off)
{
	const unsigned char *c;
	size_t o, end;
	uint64_t len;

	if (size < STORE_WAL_SEG_HDR + STORE_WAL_COMMIT_REC)
		return false;
	o = size - STORE_WAL_COMMIT_REC;
	c = p + o;
	len = le_get64(c + 16);
	if (le_get32(c) != STORE_WAL_COMMIT_MARK ||
	    crc32c(0, c + 8, STORE_WAL_COMMIT_REC - 8) != le_get32(c + 4) ||
	    le_get64(c + 8) != gen || len == 0 || len > o - STORE_WAL_SEG_HDR)
		return false;
	if (wal_format_read_commit(p, size, o - (size_t)len, gen, true, &end) != NULL || end != o)
		return false;
	*ret_off = o - (size_t)len;
	return true;
}
