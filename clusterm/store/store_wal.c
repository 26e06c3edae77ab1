/*
 * The embedded store backend (store_wal.h): the entry points of its table.
 * Appenders frame their record (length, CRC) outside the lock and copy it
 * into an in-memory queue under the lock; the committer thread
 * (wal_commit.c) writes the queue in group commits and wakes the waiters;
 * recovery (wal_recover.c) replays the state dir and starts the committer.
 * No wait in this backend has a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cm_limits.h"
#include "crc32c.h"
#include "fsio.h"
#include "le.h"
#include "store.h"
#include "store_wal.h"
#include "store_wal_impl.h"
#include "wal_dir.h"
#include "wal_format.h"
#include "wal_recover.h"

static int
wal_open(const char *state_dir, void **ret, char *err, size_t errlen)
{
	char path[PATH_MAX], eb[128];
	struct wal *w;
	struct stat st;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" STORE_WAL_LOCK_NAME, state_dir) >=
	    sizeof(path)) {
		set_err(err, errlen, "state dir %s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->dirfd = w->lockfd = w->seg_fd = -1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->done_cv, NULL);
	pthread_cond_init(&w->gen_cv[0], NULL);
	pthread_cond_init(&w->gen_cv[1], NULL);
	w->dir = strdup(state_dir);
	if (w->dir == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = fsio_mkdir_p(state_dir, 0700);
	if (r < 0) {
		set_err(err, errlen, "cannot create state dir %s: %s", state_dir,
		    errstr(r, eb, sizeof(eb)));
		goto fail;
	}
	w->dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dirfd < 0 || fstat(w->dirfd, &st) < 0) {
		r = -errno;
		set_err(err, errlen, "cannot open state dir %s: %s", state_dir,
		    errstr(r, eb, sizeof(eb)));
		goto fail;
	}
	r = fsio_lock(path, 0, &w->lockfd);
	if (r == -EWOULDBLOCK) {
		set_err(err, errlen, "state dir %s is locked by another process (%s)",
		    state_dir, path);
		goto fail;
	}
	if (r < 0) {
		set_err(err, errlen, "cannot lock %s: %s", path, errstr(r, eb, sizeof(eb)));
		goto fail;
	}
	*ret = w;
	return 0;
fail:
	if (w->dirfd >= 0)
		close(w->dirfd);
	free(w->dir);
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->gen_cv[0]);
	pthread_cond_destroy(&w->gen_cv[1]);
	pthread_cond_destroy(&w->work_cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return r;
}

static int
wal_append(void *b, const void *buf, size_t len, uint64_t *ret_seq)
{
	struct wal *w = b;
	unsigned char hdr[STORE_WAL_REC_HDR];
	size_t need = STORE_WAL_REC_HDR + len;
	uint64_t seq;
	int r;

	if (len == 0)
		return -EINVAL;
	if (len > LIMIT_RECORD_BYTES)
		return -E2BIG;
	le_put32(hdr, (uint32_t)len);
	le_put32(hdr + 4, crc32c(0, buf, len));	/* outside the lock */

	pthread_mutex_lock(&w->mu);
	if (!w->recovered) {
		r = -EINVAL;
		goto out;
	}
	while (!w->failed && w->q.len > 0 && w->q.len + need > QUEUE_MAX) {
		w->swap_waiters++;
		pthread_cond_wait(&w->done_cv, &w->mu);
		w->swap_waiters--;
	}
	if (w->failed) {
		r = -EIO;
		goto out;
	}
	/* The first time QUEUE_INIT in all (buf keeps a byte for the NUL). */
	r = buf_reserve(&w->q, w->q.cap == 0 && need < QUEUE_INIT ? QUEUE_INIT - 1 : need);
	if (r < 0)
		goto out;
	(void)buf_add(&w->q, hdr, sizeof(hdr));	/* reserved above: cannot fail */
	(void)buf_add(&w->q, buf, len);
	seq = ++w->last_seq;
	w->st.appended_records++;
	w->st.appended_bytes += len;
	w->st.log_records++;
	w->st.log_bytes += need;
	pthread_cond_signal(&w->work_cv);
	*ret_seq = seq;
out:
	pthread_mutex_unlock(&w->mu);
	return r;
}

static int
wal_wait(void *b, uint64_t seq)
{
	struct wal *w = b;
	int r;

	pthread_mutex_lock(&w->mu);
	if (seq > w->last_seq) {
		r = -EINVAL;
		goto out;
	}
	/* In the batch in flight, or in the next one: wait for that commit. */
	while (w->durable_seq < seq && !w->failed)
		pthread_cond_wait(&w->gen_cv[(seq <= w->inflight_upto ? w->gen : w->gen + 1) & 1],
		    &w->mu);
	r = w->durable_seq >= seq ? 0 : -EIO;
out:
	pthread_mutex_unlock(&w->mu);
	return r;
}

static int
wal_snapshot_begin(void *b, uint64_t *ret_gen)
{
	struct wal *w = b;
	int r = 0;

	pthread_mutex_lock(&w->mu);
	if (!w->recovered) {
		r = -EINVAL;
		goto out;
	}
	/* One cut in the queue at a time; the committer takes it promptly. */
	while (w->cut_pending && !w->failed) {
		w->swap_waiters++;
		pthread_cond_wait(&w->done_cv, &w->mu);
		w->swap_waiters--;
	}
	if (w->failed) {
		r = -EIO;
		goto out;
	}
	w->cut_gen = ++w->append_gen;
	w->cut_off = w->q.len;
	w->cut_pending = true;
	w->cut_log_records = w->st.log_records;
	w->cut_log_bytes = w->st.log_bytes;
	pthread_cond_signal(&w->work_cv);
	*ret_gen = w->cut_gen;
out:
	pthread_mutex_unlock(&w->mu);
	return r;
}

static int
wal_snapshot_commit(void *b, uint64_t gen, const void *buf, size_t len)
{
	struct wal *w = b;
	unsigned char *frame = NULL;
	char name[64];
	int r;

	pthread_mutex_lock(&w->mu);
	if (!w->recovered || gen <= w->snap_gen || gen > w->append_gen)
		r = -EINVAL;
	else if (w->failed)
		r = -EIO;
	else if (w->snap_busy)
		r = -EBUSY;
	else
		r = 0;
	if (r == 0)
		w->snap_busy = true;
	pthread_mutex_unlock(&w->mu);
	if (r < 0)
		return r;

	frame = malloc(STORE_WAL_SNAP_HDR + len);
	if (frame == NULL) {
		r = -ENOMEM;
		goto out;
	}
	wal_format_snap_header(frame, gen, buf, len);
	if (len > 0)
		memcpy(frame + STORE_WAL_SNAP_HDR, buf, len);
	wal_format_snap_name(name, sizeof(name), gen);
	r = fsio_write_atomic(w->dir, name, frame, STORE_WAL_SNAP_HDR + len, 0600);
	free(frame);
	if (r < 0)
		goto out;

	/* Let the committer finish the old segments before they go. */
	pthread_mutex_lock(&w->mu);
	while (w->seg_gen < gen && !w->failed)
		pthread_cond_wait(&w->done_cv, &w->mu);
	if (w->failed) {
		r = -EIO;
		pthread_mutex_unlock(&w->mu);
		goto out;
	}
	w->snap_gen = gen;
	if (w->cut_gen == gen) {	/* the counters at the cut are this gen's */
		w->st.log_records -= w->cut_log_records;
		w->st.log_bytes -= w->cut_log_bytes;
		w->cut_log_records = w->cut_log_bytes = 0;
	}
	pthread_mutex_unlock(&w->mu);
	wal_dir_remove_below(w, gen);
out:
	pthread_mutex_lock(&w->mu);
	w->snap_busy = false;
	pthread_mutex_unlock(&w->mu);
	return r;
}

static void
wal_get_stats(void *b, struct store_stats *ret)
{
	struct wal *w = b;

	pthread_mutex_lock(&w->mu);
	*ret = w->st;
	ret->failed = w->failed ? 1 : 0;
	pthread_mutex_unlock(&w->mu);
}

static int
wal_failure(void *b, char *ret_why, size_t len)
{
	struct wal *w = b;
	int failed;

	pthread_mutex_lock(&w->mu);
	failed = w->failed ? 1 : 0;
	if (failed && len > 0)	/* cut to fit, as documented */
		(void)snprintf(ret_why, len, "%s",
		    w->why[0] != '\0' ? w->why : "the write-ahead log failed");
	pthread_mutex_unlock(&w->mu);
	return failed;
}

static void
wal_close(void *b)
{
	struct wal *w = b;

	if (w == NULL)
		return;
	if (w->thread_started) {
		pthread_mutex_lock(&w->mu);
		w->stopping = true;
		pthread_cond_signal(&w->work_cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	if (w->seg_fd >= 0)
		close(w->seg_fd);
	if (w->dirfd >= 0)
		close(w->dirfd);
	if (w->lockfd >= 0)
		close(w->lockfd);	/* releases the flock */
	buf_free(&w->q);
	free(w->dir);
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->gen_cv[0]);
	pthread_cond_destroy(&w->gen_cv[1]);
	pthread_cond_destroy(&w->work_cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static const struct store_backend store_wal_backend = {
	.name = "wal",
	.recover = wal_recover,
	.append = wal_append,
	.wait = wal_wait,
	.snapshot_begin = wal_snapshot_begin,
	.snapshot_commit = wal_snapshot_commit,
	.get_stats = wal_get_stats,
	.failure = wal_failure,
	.close = wal_close,
};

int
store_open(const char *state_dir, struct store **ret, char *err, size_t errlen)
{
	void *w;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	r = wal_open(state_dir, &w, err, errlen);
	if (r < 0)
		return r;
	return store_wrap(&store_wal_backend, w, ret);
}
