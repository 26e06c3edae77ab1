/*
 * libFuzzer target: the store's recovery (clusterm/store_wal.c) with
 * the state's decoders (operations applied, snapshots loaded) as the visitor, over a state dir built from the input.
 * First byte: bit 0 set, the rest is the log segment file as it is; clear,
 * the rest is split at "RECD" into payloads that get a correct segment
 * header and frames (bit 1: the first payload becomes a snapshot instead;
 * bits 3-7: that many bytes cut from the segment's end, a torn write).
 * Recovery must return 0 or -EBADMSG, never crash.
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
	bool want_snap = mode & 2;
	size_t cut = mode >> 3;

	put(&seg, "CMWALv01", 8);
	put_le(&seg, 1, 8);
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
		}
		if (end == NULL)
			break;
		size -= len + SEPLEN;
		p += len + SEPLEN;
	}
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
