/*
 * libFuzzer target: the store's recovery (clusterm/store_wal.c) with
 * the state's decoders (operations applied, snapshots loaded) as the visitor, over a state dir built from the input.
 * First byte: bit 0 set, the rest is the log segment file as it is; clear,
 * the rest is split at "RECD" into payloads that get a correct segment
 * header and frames (bit 1: the first payload becomes a snapshot instead;
 * bit 2: a v02 segment, with a commit record closing a group commit after
 * every payload of odd length and after the last one, else v01 with
 * records only; bits 3-7: that many bytes cut from the segment's end, a
 * torn write). Recovery must return 0 or -EBADMSG, never crash.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "fuzz_state.h"
#include "store.h"
#include "store_wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "RECD"
#define SEPLEN 4

static char dir[PATH_MAX];

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void
put(struct buf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = (b->len + len) * 2 + 64;
		unsigned char *n = realloc(b->p, cap);
		if (n == NULL)
			abort();
		b->p = n;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void
put_le(struct buf *b, uint64_t v, int bytes)
{
	unsigned char le[8];

	for (int i = 0; i < bytes; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	put(b, le, (size_t)bytes);
}

/* Closes the group commit of the records seg->p[start..len) of segment 1. */
static void
put_commit(struct buf *seg, size_t start)
{
	unsigned char body[24];
	uint32_t rcrc = 0, n = 0;
	size_t len = seg->len - start;

	for (size_t off = start; off < seg->len; n++) {
		const unsigned char *h = seg->p + off;
		rcrc = crc32c(rcrc, h + 4, 4);
		off += STORE_WAL_REC_HDR + ((size_t)h[0] | (size_t)h[1] << 8 |
		    (size_t)h[2] << 16 | (size_t)h[3] << 24);
	}
	for (int i = 0; i < 8; i++) {
		body[i] = (unsigned char)(i == 0);	/* gen 1 */
		body[8 + i] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	for (int i = 0; i < 4; i++) {
		body[16 + i] = (unsigned char)(n >> (8 * i));
		body[20 + i] = (unsigned char)(rcrc >> (8 * i));
	}
	put_le(seg, STORE_WAL_COMMIT_MARK, 4);
	put_le(seg, crc32c(0, body, sizeof(body)), 4);
	put(seg, body, sizeof(body));
}

static void
write_file(const char *name, const unsigned char *p, size_t len)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (len > 0 && write(fd, p, len) != (ssize_t)len))
		abort();
	close(fd);
}

/* Empties the state dir between runs. */
static void
clear_dir(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static int
visit(const void *buf, size_t len, void *arg)
{
	return fuzz_state_visit(arg, buf, len);
}

static void
remove_dir(void)
{
	clear_dir();
	(void)rmdir(dir);
}

/* Builds the segment (and maybe a snapshot) from the input's payloads. */
static void
build_framed(uint8_t mode, const uint8_t *p, size_t size)
{
	struct buf seg = { 0 }, snap = { 0 };
	bool want_snap = mode & 2, v2 = mode & 4;
	size_t cut = mode >> 3, start;

	put(&seg, v2 ? "CMWALv02" : "CMWALv01", 8);
	put_le(&seg, 1, 8);
	start = seg.len;
	while (size > 0) {
		const uint8_t *end = memmem(p, size, SEP, SEPLEN);
		size_t len = end != NULL ? (size_t)(end - p) : size;

		if (want_snap) {
			put(&snap, "CMSNPv01", 8);
			put_le(&snap, 1, 8);
			put_le(&snap, len, 8);
			put_le(&snap, crc32c(0, p, len), 4);
			put_le(&snap, 0, 4);
			put(&snap, p, len);
			write_file("snap-0000000000000001.mp", snap.p, snap.len);
			want_snap = false;
		} else if (len > 0) {
			put_le(&seg, len, 4);
			put_le(&seg, crc32c(0, p, len), 4);
			put(&seg, p, len);
			if (v2 && (len & 1)) {
				put_commit(&seg, start);
				start = seg.len;
			}
		}
		if (end == NULL)
			break;
		size -= len + SEPLEN;
		p += len + SEPLEN;
	}
	if (v2 && seg.len > start)
		put_commit(&seg, start);
	write_file("wal-0000000000000001.log", seg.p, seg.len > cut ? seg.len - cut : 0);
	free(seg.p);
	free(snap.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state *fs;
	struct store *st;
	char err[512];
	int rc;

	if (size < 1)
		return 0;
	if (dir[0] == '\0') {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(dir, sizeof(dir), "%s/fuzz_store.XXXXXX", base);
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(remove_dir);
	}
	clear_dir();
	if (data[0] & 1)
		write_file("wal-0000000000000001.log", data + 1, size - 1);
	else
		build_framed(data[0], data + 1, size - 1);
	rc = store_open(dir, &st, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "store_open: %s\n", err);
		abort();
	}
	fs = fuzz_state_new();
	rc = store_recover(st, visit, visit, fs, NULL, NULL, err, sizeof(err));
	if (rc != 0 && rc != -EBADMSG) {
		fprintf(stderr, "store_recover: unexpected %d: %s\n", rc, err);
		abort();
	}
	store_close(st);
	state_close(fs);
	return 0;
}
