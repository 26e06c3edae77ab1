/*
 * The spool's internals, shared by spool.c (directory, lock, epoch and
 * counter, the queue), spool_record.c (the record format), spool_compact.c
 * and spool_incoming.c (incoming/, absorb, status). Only this folder
 * includes it.
 */
#ifndef SPOOL_IMPL_H
#define SPOOL_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "spool.h"

#define SEQ_BLOCK	1024ULL
#define HDR_LEN		8
#define QDIR		"q"
#define INDIR		"incoming"
#define BOOT_HEX_LEN	32	/* the boot id without its dashes */
/* incoming/ names: 20-digit stamp, 10-digit pid, 6-digit counter, boot id, ".b". */
#define IN_NAME_LEN	(20 + 1 + 10 + 1 + 6 + 1 + BOOT_HEX_LEN + 2)
/*
 * A temporary file in incoming/ older than this is a killed writer's (a
 * run lasts at most 3600 s); younger ones may still be written.
 */
#define IN_TMP_STALE_S	(2 * 3600)

struct spool {
	char dir[PATH_MAX];
	char qdir[PATH_MAX];
	int lock_fd;
	bool loaded;			/* epoch and counter read */
	bool seq_stale;			/* the seq file is not this boot's */
	char epoch[LIMIT_EPOCH_LEN + 1];
	unsigned long long next, reserved;
	char boot[64];
	size_t ncorrupt;
	char last_aside[IN_NAME_LEN + 64];	/* the last incoming/ file moved aside, why */
};

/* a/b into buf: 0 or -ENAMETOOLONG. */
int spool_join(char *buf, size_t len, const char *a, const char *b);
/* The kernel's boot id, "-" when unreadable. */
void spool_read_boot_id(char *buf, size_t len);
/* strtoull with end; -EINVAL when there is no number or it overflows. */
int spool_parse_ull(const char *s, char **end, unsigned long long *ret);
/* Queue file name for seq: 20 digits, so names sort like numbers. */
void spool_entry_name(char *buf, size_t len, unsigned long long seq);
/* q/ sorted by seq (malloc'd array); clean_tmp removes killed writers' files. */
int spool_list_dir(const char *qdir, bool clean_tmp, struct spool_entry **ret,
    size_t *ret_n);
/* Reads and decodes one record file; -EBADMSG when it is not one. */
int spool_load_path(const char *path, struct batch *ret);
/* Reads the epoch and counter once. */
int spool_ensure_loaded(struct spool *s);
/*
 * Rewrites the queue e[0..ne) plus nb as the newest report per (reporter,
 * node) (spool_compact.c). 0 or -errno.
 */
int spool_compact(struct spool *s, const struct batch *nb, const struct spool_entry *e,
    size_t ne);

#endif
