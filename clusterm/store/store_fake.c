/*
 * An in-memory store backend for tests (store_open_fake() in store.h):
 * nothing on disk. Records are counted, not kept; the last committed
 * snapshot is kept. A commit is synchronous: the first store_wait() of a
 * record not yet durable makes every record queued so far durable, so the
 * waiters of those records share it (group commit without a thread).
 * store_fake_fail() injects an append or a commit (fsync) failure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "store.h"
#include "wal_format.h"

/* Room for one failure sentence. */
#define FAKE_WHY_MAX	128

struct fake {
	pthread_mutex_t mu;	/* guards everything below */
	bool recover_called;
	enum store_fault fault;
	bool failed;
	char why[FAKE_WHY_MAX];
	uint64_t last_seq;	/* last sequence number handed out */
	uint64_t durable_seq;	/* every record up to it is committed */
	uint64_t append_gen;	/* the gen of the last snapshot_begin, 1 before */
	uint64_t snap_gen;	/* the gen of the kept snapshot, 0 for none */
	unsigned char *snap;	/* owned, snap_len bytes */
	size_t snap_len;
	uint64_t cut_log_records, cut_log_bytes;	/* log size at the last cut */
	struct store_stats st;
};

static const struct store_backend store_fake_backend;

/* Marks f failed with the sentence why. Caller holds mu. */
static void
fail(struct fake *f, const char *why)
{
	if (f->failed)
		return;
	f->failed = true;
	(void)snprintf(f->why, sizeof(f->why), "%s", why);	/* fits */
}

int
store_open_fake(struct store **ret)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	f->append_gen = 1;
	return store_wrap(&store_fake_backend, f, ret);
}

void
store_fake_fail(struct store *s, enum store_fault fault)
{
	struct fake *f = store_backend_handle(s, &store_fake_backend);

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->fault = fault;
	pthread_mutex_unlock(&f->mu);
}

/* A new fake store holds nothing: visits nothing. */
static int
fake_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
	struct fake *f = b;
	int r = 0;

	(void)on_snapshot;
	(void)on_record;
	(void)arg;
	(void)warn;
	(void)warn_arg;
	pthread_mutex_lock(&f->mu);
	if (f->recover_called) {
		if (errlen > 0)
			(void)snprintf(err, errlen, "fake store: store_recover called twice");
		r = -EINVAL;
	}
	f->recover_called = true;
	pthread_mutex_unlock(&f->mu);
	return r;
}

static int
fake_append(void *b, const void *buf, size_t len, uint64_t *ret_seq)
{
	struct fake *f = b;
	int r = 0;

	(void)buf;
	if (len == 0)
		return -EINVAL;
	if (len > LIMIT_RECORD_BYTES)
		return -E2BIG;
	pthread_mutex_lock(&f->mu);
	if (!f->recover_called)
		r = -EINVAL;
	else if (f->fault == STORE_FAULT_APPEND) {
		fail(f, "append to the fake store failed: injected fault");
		r = -EIO;
	} else if (f->failed)
		r = -EIO;
	if (r == 0) {
		*ret_seq = ++f->last_seq;
		f->st.appended_records++;
		f->st.appended_bytes += len;
		f->st.log_records++;
		f->st.log_bytes += STORE_WAL_REC_HDR + len;	/* as the WAL counts them */
	}
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* Commits everything queued unless an FSYNC fault is set. */
static int
fake_wait(void *b, uint64_t seq)
{
	struct fake *f = b;
	int r = 0;

	pthread_mutex_lock(&f->mu);
	if (seq > f->last_seq)
		r = -EINVAL;
	else if (seq <= f->durable_seq)
		r = 0;
	else if (f->failed)
		r = -EIO;
	else if (f->fault == STORE_FAULT_FSYNC) {
		fail(f, "fsync of the fake store failed: injected fault");
		r = -EIO;
	} else {
		f->durable_seq = f->last_seq;
		f->st.fsyncs++;
		f->st.fsync_bucket[0]++;	/* no time at all */
	}
	pthread_mutex_unlock(&f->mu);
	return r;
}

static int
fake_snapshot_begin(void *b, uint64_t *ret_gen)
{
	struct fake *f = b;
	int r = 0;

	pthread_mutex_lock(&f->mu);
	if (!f->recover_called)
		r = -EINVAL;
	else if (f->failed)
		r = -EIO;
	else {
		*ret_gen = ++f->append_gen;
		f->cut_log_records = f->st.log_records;
		f->cut_log_bytes = f->st.log_bytes;
	}
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* Keeps a copy of buf as the snapshot, replacing the one before. */
static int
fake_snapshot_commit(void *b, uint64_t gen, const void *buf, size_t len)
{
	struct fake *f = b;
	unsigned char *copy;
	int r = 0;

	copy = malloc(len > 0 ? len : 1);
	if (copy == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(copy, buf, len);
	pthread_mutex_lock(&f->mu);
	if (!f->recover_called || gen <= f->snap_gen || gen > f->append_gen)
		r = -EINVAL;
	else if (f->failed)
		r = -EIO;
	if (r == 0) {
		free(f->snap);
		f->snap = copy;
		f->snap_len = len;
		copy = NULL;
		f->snap_gen = gen;
		if (gen == f->append_gen) {	/* the counters at the cut are this gen's */
			f->st.log_records -= f->cut_log_records;
			f->st.log_bytes -= f->cut_log_bytes;
			f->cut_log_records = f->cut_log_bytes = 0;
		}
	}
	pthread_mutex_unlock(&f->mu);
	free(copy);
	return r;
}

static void
fake_get_stats(void *b, struct store_stats *ret)
{
	struct fake *f = b;

	pthread_mutex_lock(&f->mu);
	*ret = f->st;
	ret->failed = f->failed ? 1 : 0;
	pthread_mutex_unlock(&f->mu);
}

static int
fake_failure(void *b, char *ret_why, size_t len)
{
	struct fake *f = b;
	int failed;

	pthread_mutex_lock(&f->mu);
	failed = f->failed ? 1 : 0;
	if (failed && len > 0)	/* cut to fit, as documented */
		(void)snprintf(ret_why, len, "%s", f->why);
	pthread_mutex_unlock(&f->mu);
	return failed;
}

static void
fake_close(void *b)
{
	struct fake *f = b;

	if (f == NULL)
		return;
	free(f->snap);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static const struct store_backend store_fake_backend = {
	.name = "fake",
	.recover = fake_recover,
	.append = fake_append,
	.wait = fake_wait,
	.snapshot_begin = fake_snapshot_begin,
	.snapshot_commit = fake_snapshot_commit,
	.get_stats = fake_get_stats,
	.failure = fake_failure,
	.close = fake_close,
};
