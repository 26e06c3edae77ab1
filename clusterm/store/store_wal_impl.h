/*
 * The WAL backend's internals, shared by its files: store_wal.c (the
 * backend's entry points: open, append, wait, snapshots, close),
 * wal_commit.c (the committer thread), wal_recover.c (replay at start).
 * Only clusterm/store/ includes it.
 */
#ifndef STORE_WAL_IMPL_H
#define STORE_WAL_IMPL_H

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "store.h"

/* Room for one failure sentence: a path and an strerror text. */
#define WHY_MAX		(PATH_MAX + 256)

/* Queue buffer sizes: first allocation, largest one kept after a flush. */
#define QUEUE_INIT	(1024 * 1024)
#define QUEUE_KEEP	(16 * 1024 * 1024)
/*
 * Appenders wait (the only time they do) while this much is queued and the
 * disk has not caught up, so a stalled disk cannot eat all memory.
 */
#define QUEUE_MAX	((size_t)256 * 1024 * 1024)

struct wal {
	char *dir;		/* owned copy of the state dir path */
	int dirfd;
	int lockfd;
	int seg_fd;		/* the segment being written; the committer's once started */
	uint64_t seg_fd_gen;	/* its gen, the committer's like seg_fd */
	bool recover_called;
	bool recovered;		/* set under mu once the committer runs */
	bool thread_started;
	pthread_t thread;

	/* Everything below is guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;	/* committer: something queued, a cut, or stop */
	pthread_cond_t done_cv;	/* cut and space waiters: a batch finished, or failure */
	/*
	 * store_wait() callers, by batch generation: the commit of batch g
	 * wakes only gen_cv[g & 1], so requests whose records went into the
	 * next batch sleep on (no thundering herd on every fsync).
	 */
	pthread_cond_t gen_cv[2];
	uint64_t gen;		/* generation of the batch in flight (or last) */
	uint64_t inflight_upto;	/* last seq of that batch */
	struct buf q;		/* framed records waiting for the committer */
	uint64_t last_seq;	/* last sequence number handed out */
	uint64_t durable_seq;	/* every record up to it is fsync'd */
	bool failed;
	char why[WHY_MAX];	/* what failed, one sentence, once failed */
	bool stopping;
	bool cut_pending;	/* a cut in q not yet taken by the committer */
	size_t cut_off;		/* offset in q where the cut is */
	uint64_t cut_gen;	/* segment gen the records after the cut go to */
	uint64_t append_gen;	/* segment gen new appends go to */
	uint64_t seg_gen;	/* segment gen the committer has reached */
	uint64_t snap_gen;	/* newest durable snapshot, 0 for none */
	bool snap_busy;		/* a snapshot commit is running */
	size_t swap_waiters;	/* appenders / begin waiting for the queue to move */
	uint64_t cut_log_records, cut_log_bytes;	/* log size at the last cut */
	struct store_stats st;
};

/* Formats one sentence into err (errlen bytes; a cut one is still useful). */
static inline void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* strerror_r of a -errno (or errno) into buf. */
static inline const char *
errstr(int r, char *buf, size_t len)
{
	return strerror_r(r < 0 ? -r : r, buf, len);
}

#endif
