/*
 * The WAL's committer thread (group commit): it swaps the queue of framed
 * records for an empty one, writes the whole batch and a commit record that
 * closes it with one writev(2), calls fdatasync(2) once and wakes every
 * waiter whose record the batch held. A snapshot's cut is a position in the
 * queue: the records before it go to the old segment, those after it to a
 * new one (two group commits). The fsync timings use CLOCK_MONOTONIC.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsio.h"
#include "store_wal_impl.h"
#include "wal_commit.h"
#include "wal_format.h"

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Counts one fsync of the given duration into the stats. Caller holds mu. */
void
wal_commit_count_fsync(struct wal *w, double secs)
{
	size_t i;

	for (i = 0; i < STORE_FSYNC_BUCKETS; i++)
		if (secs <= store_fsync_bounds[i])
			break;
	w->st.fsync_bucket[i]++;
	w->st.fsyncs++;
	w->st.fsync_sum_s += secs;
}

/*
 * fdatasync (or fsync for a directory) of fd, timed. The duration is added
 * to *acc so the caller can count it under mu. 0 or -errno.
 */
static int
timed_sync(int fd, bool dir, double *acc, int *nsyncs)
{
	double t0 = mono_s();
	int r = dir ? fsync(fd) : fdatasync(fd);

	acc[(*nsyncs)++] = mono_s() - t0;
	return r < 0 ? -errno : 0;
}

/*
 * Creates segment gen (must not exist) with its header, durably: the file
 * and the directory entry are fsync'd. *ret_fd is open for writing at the
 * end of the header. Sync durations go to acc/nsyncs. On failure why holds
 * one sentence naming the file.
 */
int
wal_commit_segment_create(struct wal *w, uint64_t gen, int *ret_fd, double *acc, int *nsyncs,
    char *why, size_t whylen)
{
	uint8_t hdr[STORE_WAL_SEG_HDR];
	char name[64], eb[128];
	int fd, r;

	wal_format_seg_name(name, sizeof(name), gen);
	fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		set_err(why, whylen, "cannot create %s/%s: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		return r;
	}
	wal_format_seg_header(hdr, gen);
	r = fsio_write_all(fd, hdr, sizeof(hdr));
	if (r < 0) {
		set_err(why, whylen, "write to %s/%s failed: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		goto fail;
	}
	r = timed_sync(fd, false, acc, nsyncs);
	if (r < 0) {
		set_err(why, whylen, "fdatasync of %s/%s failed: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		goto fail;
	}
	r = timed_sync(w->dirfd, true, acc, nsyncs);
	if (r < 0) {
		set_err(why, whylen, "fsync of the state dir %s failed: %s", w->dir,
		    errstr(r, eb, sizeof(eb)));
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	close(fd);
	return r;
}

/*
 * Writes one group commit, the records p[0..len) and their commit record,
 * to the committer's segment with one writev(2) (repeated only for a short
 * write), then fdatasyncs it. On failure why holds the sentence.
 */
static int
write_commit(struct wal *w, const char *p, size_t len, double *acc, int *nsyncs,
    char *why, size_t whylen)
{
	unsigned char rec[STORE_WAL_COMMIT_REC];
	struct iovec iov[2];
	char name[64], eb[128];
	int i = 0, r = 0;

	wal_format_commit_record(rec, w->seg_fd_gen, p, len);
	iov[0].iov_base = (void *)p;
	iov[0].iov_len = len;
	iov[1].iov_base = rec;
	iov[1].iov_len = sizeof(rec);
	while (i < 2) {
		ssize_t n = writev(w->seg_fd, iov + i, 2 - i);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		for (; i < 2 && (size_t)n >= iov[i].iov_len; i++)
			n -= (ssize_t)iov[i].iov_len;
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	wal_format_seg_name(name, sizeof(name), w->seg_fd_gen);
	if (r < 0) {
		set_err(why, whylen, "write to %s/%s failed: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		return r;
	}
	r = timed_sync(w->seg_fd, false, acc, nsyncs);
	if (r < 0)
		set_err(why, whylen, "fdatasync of %s/%s failed: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
	return r;
}

/*
 * Writes one batch taken from the queue: the part before the cut (all of
 * it without a cut) to the current segment as one group commit, then, with
 * a cut, creates segment cut_gen and writes the rest there as another. One
 * fdatasync per segment written. Runs without mu; only the committer
 * touches seg_fd. On failure why holds the sentence.
 */
static int
flush_batch(struct wal *w, const struct buf *b, bool cut, size_t cut_off,
    uint64_t cut_gen, double *acc, int *nsyncs, char *why, size_t whylen)
{
	size_t first = cut ? cut_off : b->len;
	int fd, r = 0;

	if (first > 0) {
		r = write_commit(w, b->data, first, acc, nsyncs, why, whylen);
		if (r < 0)
			return r;
	}
	if (!cut)
		return 0;
	r = wal_commit_segment_create(w, cut_gen, &fd, acc, nsyncs, why, whylen);
	if (r < 0)
		return r;
	close(w->seg_fd);
	w->seg_fd = fd;
	w->seg_fd_gen = cut_gen;
	if (b->len > first)
		r = write_commit(w, b->data + first, b->len - first, acc, nsyncs, why, whylen);
	return r;
}

/* The committer thread: batches, writes, syncs and wakes, until stopped. */
static void *
committer(void *arg)
{
	struct wal *w = arg;
	struct buf batch, tmp;

	buf_init(&batch, 0);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		char why[WHY_MAX];
		double acc[4];
		int nsyncs = 0, r;
		uint64_t upto, cut_gen;
		size_t cut_off;
		bool cut;

		while (!w->stopping && w->q.len == 0 && !w->cut_pending)
			pthread_cond_wait(&w->work_cv, &w->mu);
		if (w->q.len == 0 && !w->cut_pending)
			break;	/* stopping, and nothing left */
		if (w->failed) {
			/* Nothing more reaches the disk once a write failed. */
			buf_reset(&w->q);
			w->cut_pending = false;
			pthread_cond_broadcast(&w->done_cv);
			pthread_cond_broadcast(&w->gen_cv[0]);
			pthread_cond_broadcast(&w->gen_cv[1]);
			continue;
		}
		tmp = batch;
		batch = w->q;
		w->q = tmp;
		upto = w->last_seq;
		w->gen++;
		w->inflight_upto = upto;
		cut = w->cut_pending;
		cut_off = w->cut_off;
		cut_gen = w->cut_gen;
		w->cut_pending = false;
		if (w->swap_waiters > 0)
			pthread_cond_broadcast(&w->done_cv);
		pthread_mutex_unlock(&w->mu);

		why[0] = '\0';
		r = flush_batch(w, &batch, cut, cut_off, cut_gen, acc, &nsyncs, why,
		    sizeof(why));

		pthread_mutex_lock(&w->mu);
		for (int i = 0; i < nsyncs; i++)
			wal_commit_count_fsync(w, acc[i]);
		if (r < 0) {
			w->failed = true;
			w->st.failed = 1;
			memcpy(w->why, why, sizeof(w->why));
		} else {
			w->durable_seq = upto;
			if (cut)
				w->seg_gen = cut_gen;
		}
		if (batch.cap > QUEUE_KEEP)
			buf_free(&batch);
		else
			buf_reset(&batch);
		pthread_cond_broadcast(&w->done_cv);
		pthread_cond_broadcast(&w->gen_cv[w->gen & 1]);
		if (w->failed)
			pthread_cond_broadcast(&w->gen_cv[(w->gen + 1) & 1]);
	}
	pthread_mutex_unlock(&w->mu);
	buf_free(&batch);
	return NULL;
}

int
wal_commit_start(struct wal *w)
{
	return -pthread_create(&w->thread, NULL, committer, w);
}
