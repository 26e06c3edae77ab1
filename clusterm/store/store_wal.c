/*
 * The embedded store backend: write-ahead log segments with group commit,
 * and snapshots, in the state dir. The on-disk format is described in
 * store_wal.h.
 *
 * Appenders frame their record (length, CRC) outside the lock and copy it
 * into an in-memory queue under the lock. One committer thread swaps the
 * queue for an empty one, writes the whole batch and a commit record that
 * closes it with one writev(2), calls fdatasync(2) once and wakes every
 * waiter whose record the batch held. A snapshot's cut is a position in
 * that queue, so the records before it land in the old segment and the
 * records after it in the new one (two group commits).
 *
 * Recovery reads a segment group commit by group commit and hands the
 * records of one to the caller only when its commit record checks out, so
 * a commit torn by a power loss is dropped whole. No wait in this file has
 * a timeout; the fsync timings use CLOCK_MONOTONIC.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cm_limits.h"
#include "crc32c.h"
#include "fsio.h"
#include "store_wal.h"

#define SEG_MAGIC	"CMWALv02"	/* group commits closed by commit records */
#define SEG_MAGIC_V1	"CMWALv01"	/* records only: read, never written */
#define SNAP_MAGIC	"CMSNPv01"
#define MAGIC_LEN	8

/* The commit record's mark must not read as a record length. */
_Static_assert(STORE_WAL_COMMIT_MARK > LIMIT_RECORD_BYTES, "commit mark is a record length");

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

struct qbuf {
	char *p;
	size_t len, cap;
};

struct gens {
	uint64_t *v;
	size_t n, cap;
};

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
	struct qbuf q;		/* framed records waiting for the committer */
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

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);	/* a cut sentence is still useful */
	va_end(ap);
}

static const char *
errstr(int r, char *buf, size_t len)
{
	return strerror_r(r < 0 ? -r : r, buf, len);
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static double
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Grows b so that it holds at least need more bytes. -ENOMEM. */
static int
qbuf_reserve(struct qbuf *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= need)
		return 0;
	cap = b->cap > 0 ? b->cap : QUEUE_INIT;
	while (cap - b->len < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
gens_push(struct gens *g, uint64_t v)
{
	if (g->n == g->cap) {
		size_t cap = g->cap > 0 ? g->cap * 2 : 16;
		uint64_t *p = realloc(g->v, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		g->v = p;
		g->cap = cap;
	}
	g->v[g->n++] = v;
	return 0;
}

static int
cmp_gen(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Parses "<prefix><16 hex digits><suffix>" into *ret_gen; false otherwise. */
static bool
parse_gen(const char *name, const char *prefix, const char *suffix, uint64_t *ret_gen)
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

static void
seg_name(char *buf, size_t len, uint64_t gen)
{
	(void)snprintf(buf, len, STORE_WAL_SEG_FMT, (unsigned long long)gen);
}

static void
snap_name(char *buf, size_t len, uint64_t gen)
{
	(void)snprintf(buf, len, STORE_WAL_SNAP_FMT, (unsigned long long)gen);
}

/* Counts one fsync of the given duration into the stats. Caller holds mu. */
static void
count_fsync(struct wal *w, double secs)
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
static int
segment_create(struct wal *w, uint64_t gen, int *ret_fd, double *acc, int *nsyncs,
    char *why, size_t whylen)
{
	unsigned char hdr[STORE_WAL_SEG_HDR];
	char name[64], eb[128];
	int fd, r;

	seg_name(name, sizeof(name), gen);
	fd = openat(w->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		set_err(why, whylen, "cannot create %s/%s: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		return r;
	}
	memcpy(hdr, SEG_MAGIC, MAGIC_LEN);
	put_le64(hdr + MAGIC_LEN, gen);
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
 * Fills rec with the commit record that closes a group commit of the framed
 * records p[0..len) in segment gen: their byte length, count and a CRC over
 * their CRC fields, under a CRC of its own.
 */
static void
commit_record(unsigned char rec[STORE_WAL_COMMIT_REC], uint64_t gen, const char *p,
    size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t n = 0, rcrc = 0;

	for (size_t off = 0; off < len; off += STORE_WAL_REC_HDR + get_le32(u + off)) {
		rcrc = crc32c(rcrc, u + off + 4, 4);
		n++;
	}
	put_le32(rec, STORE_WAL_COMMIT_MARK);
	put_le64(rec + 8, gen);
	put_le64(rec + 16, len);
	put_le32(rec + 24, n);
	put_le32(rec + 28, rcrc);
	put_le32(rec + 4, crc32c(0, rec + 8, STORE_WAL_COMMIT_REC - 8));
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

	commit_record(rec, w->seg_fd_gen, p, len);
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
	seg_name(name, sizeof(name), w->seg_fd_gen);
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
flush_batch(struct wal *w, const struct qbuf *b, bool cut, size_t cut_off,
    uint64_t cut_gen, double *acc, int *nsyncs, char *why, size_t whylen)
{
	size_t first = cut ? cut_off : b->len;
	int fd, r = 0;

	if (first > 0) {
		r = write_commit(w, b->p, first, acc, nsyncs, why, whylen);
		if (r < 0)
			return r;
	}
	if (!cut)
		return 0;
	r = segment_create(w, cut_gen, &fd, acc, nsyncs, why, whylen);
	if (r < 0)
		return r;
	close(w->seg_fd);
	w->seg_fd = fd;
	w->seg_fd_gen = cut_gen;
	if (b->len > first)
		r = write_commit(w, b->p + first, b->len - first, acc, nsyncs, why, whylen);
	return r;
}

/* The committer thread: batches, writes, syncs and wakes, until stopped. */
static void *
committer(void *arg)
{
	struct wal *w = arg;
	struct qbuf batch = { NULL, 0, 0 }, tmp;

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
			w->q.len = 0;
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
			count_fsync(w, acc[i]);
		if (r < 0) {
			w->failed = true;
			w->st.failed = 1;
			memcpy(w->why, why, sizeof(w->why));
		} else {
			w->durable_seq = upto;
			if (cut)
				w->seg_gen = cut_gen;
		}
		batch.len = 0;
		if (batch.cap > QUEUE_KEEP) {
			free(batch.p);
			batch.p = NULL;
			batch.cap = 0;
		}
		pthread_cond_broadcast(&w->done_cv);
		pthread_cond_broadcast(&w->gen_cv[w->gen & 1]);
		if (w->failed)
			pthread_cond_broadcast(&w->gen_cv[(w->gen + 1) & 1]);
	}
	pthread_mutex_unlock(&w->mu);
	free(batch.p);
	return NULL;
}

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

/* A file of the state dir mapped read-only (NULL for an empty one). */
struct mapped {
	int fd;
	unsigned char *p;
	size_t size;
};

static int
map_file(struct wal *w, const char *name, bool writable, struct mapped *ret)
{
	struct stat st;
	void *p = NULL;
	int fd, r;

	fd = openat(w->dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (st.st_size > 0) {
		/* One mapping, populated up front: no syscall or fault per record. */
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
		    fd, 0);
		if (p == MAP_FAILED) {
			r = -errno;
			goto fail;
		}
		(void)madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
	}
	ret->fd = fd;
	ret->p = p;
	ret->size = (size_t)st.st_size;
	return 0;
fail:
	close(fd);
	return r;
}

static void
unmap_file(struct mapped *m)
{
	if (m->p != NULL)
		munmap(m->p, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->p = NULL;
	m->fd = -1;
}

static bool
all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static const char past_end[] = "record runs past the end of the file";

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
	len = get_le32(p + off);
	if (len == 0 || len > LIMIT_RECORD_BYTES)
		return "record length out of range";
	if (len > size - off - STORE_WAL_REC_HDR)
		return past_end;
	*ret_len = len;
	return NULL;
}

static const char *
check_crc(const unsigned char *p, size_t off, uint32_t len)
{
	if (crc32c(0, p + off + STORE_WAL_REC_HDR, len) != get_le32(p + off + 4))
		return "checksum mismatch";
	return NULL;
}

/*
 * Checks the frame at off of a mapped segment. Returns NULL when it is a
 * good record (its payload length in *ret_len), else why it is not.
 */
static const char *
check_frame(const unsigned char *p, size_t size, size_t off, uint32_t *ret_len)
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
static bool
tail_is_torn(const unsigned char *p, size_t size, size_t off)
{
	uint32_t len;

	if (all_zero(p + off, size - off))
		return true;
	for (size_t o = off + 1; o + STORE_WAL_REC_HDR < size; o++)
		if (check_frame(p, size, o, &len) == NULL)
			return false;
	return true;
}

/* Recovery state shared by the helpers below. */
struct recov {
	store_visit_fn on_record;
	void *arg;
	store_warn_fn warn;
	void *warn_arg;
	char *err;
	size_t errlen;
	uint64_t records, bytes;
};

static void
warn_msg(struct recov *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warn_msg(struct recov *rc, const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;

	if (rc->warn == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc->warn(msg, rc->warn_arg);
}

/*
 * Cuts the newest segment at off (a torn tail) or removes it when even its
 * header is torn, durably.
 */
static int
drop_tail(struct wal *w, struct mapped *m, const char *name, size_t off)
{
	int r = 0;

	if (off == 0) {
		if (unlinkat(w->dirfd, name, 0) < 0)
			return -errno;
		return fsio_fsync_dir(w->dir);
	}
	if (ftruncate(m->fd, (off_t)off) < 0 || fsync(m->fd) < 0)
		r = -errno;
	return r;
}

/* Hands the record at off of a mapped segment to the caller. */
static int
visit_record(struct wal *w, struct recov *rc, const struct mapped *m, const char *name,
    size_t off, uint32_t len)
{
	int r;

	if (rc->on_record != NULL) {
		r = rc->on_record(m->p + off + STORE_WAL_REC_HDR, len, rc->arg);
		if (r != 0) {
			set_err(rc->err, rc->errlen,
			    "recovery stopped by the caller at %s/%s byte offset %zu",
			    w->dir, name, off);
			return r < 0 ? r : -ECANCELED;
		}
	}
	rc->records++;
	rc->bytes += STORE_WAL_REC_HDR + (uint64_t)len;
	return 0;
}

/*
 * Checks the commit record at off of segment gen, which closes the group
 * commit that began at start with n records whose CRC fields CRC to rcrc.
 * NULL when it is good, else why not.
 */
static const char *
check_commit(const unsigned char *p, size_t size, size_t off, uint64_t gen, size_t start,
    uint32_t n, uint32_t rcrc)
{
	const unsigned char *c = p + off;

	if (size - off < STORE_WAL_COMMIT_REC)
		return "incomplete commit record";
	if (crc32c(0, c + 8, STORE_WAL_COMMIT_REC - 8) != get_le32(c + 4))
		return "commit record checksum mismatch";
	if (get_le64(c + 8) != gen)
		return "commit record of another segment";
	if (n == 0 || get_le64(c + 16) != off - start || get_le32(c + 24) != n ||
	    get_le32(c + 28) != rcrc)
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
static const char *
read_commit(const unsigned char *p, size_t size, size_t off, uint64_t gen, bool payloads,
    size_t *ret_end)
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
		if (get_le32(p + off) == STORE_WAL_COMMIT_MARK)
			return check_commit(p, size, off, gen, start, n, rcrc);
		why = payloads ? check_frame(p, size, off, &len) : check_len(p, size, off, &len);
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
static bool
later_commit(const unsigned char *p, size_t size, uint64_t gen, size_t cstart, size_t bad,
    size_t *ret_off)
{
	unsigned char mark[4];
	size_t o = bad + 1, end, start;
	const unsigned char *hit;
	uint64_t len;

	put_le32(mark, STORE_WAL_COMMIT_MARK);
	while (o < size && (hit = memmem(p + o, size - o, mark, sizeof(mark))) != NULL) {
		o = (size_t)(hit - p);
		if (size - o < STORE_WAL_COMMIT_REC)
			break;
		len = get_le64(p + o + 16);
		if (crc32c(0, p + o + 8, STORE_WAL_COMMIT_REC - 8) != get_le32(p + o + 4) ||
		    get_le64(p + o + 8) != gen) {
			o++;
			continue;
		}
		if (len == o - cstart && size - o > STORE_WAL_COMMIT_REC) {
			*ret_off = o + STORE_WAL_COMMIT_REC;
			return true;
		}
		if (len > 0 && len < o - bad) {
			start = o - (size_t)len;
			if (read_commit(p, o + STORE_WAL_COMMIT_REC, start, gen, true, &end) == NULL &&
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
static bool
final_commit(const unsigned char *p, size_t size, uint64_t gen, size_t *ret_off)
{
	const unsigned char *c;
	size_t o, end;
	uint64_t len;

	if (size < STORE_WAL_SEG_HDR + STORE_WAL_COMMIT_REC)
		return false;
	o = size - STORE_WAL_COMMIT_REC;
	c = p + o;
	len = get_le64(c + 16);
	if (get_le32(c) != STORE_WAL_COMMIT_MARK ||
	    crc32c(0, c + 8, STORE_WAL_COMMIT_REC - 8) != get_le32(c + 4) ||
	    get_le64(c + 8) != gen || len == 0 || len > o - STORE_WAL_SEG_HDR)
		return false;
	if (read_commit(p, size, o - (size_t)len, gen, true, &end) != NULL || end != o)
		return false;
	*ret_off = o - (size_t)len;
	return true;
}

/*
 * Checks the group commit at *off of segment gen and hands each record to
 * the caller as soon as it checked out (while it is in the cache), frames
 * ending by bound. Only for a commit known to be followed by another, where
 * damage is corruption whatever it is. On success *off is past its commit
 * record. Returns NULL, or why it is bad with *off at the bad frame (and
 * *ret_r 0), or NULL with *ret_r < 0 when the caller stopped recovery.
 */
static const char *
replay_one(struct wal *w, struct recov *rc, const struct mapped *m, const char *name,
    uint64_t gen, size_t *off, size_t bound, int *ret_r)
{
	const char *why;
	size_t start = *off, o = start;
	uint32_t n = 0, rcrc = 0, len;

	*ret_r = 0;
	for (;;) {
		*off = o;
		if (o == bound)
			return "group commit without its commit record";
		if (bound - o >= STORE_WAL_REC_HDR && get_le32(m->p + o) == STORE_WAL_COMMIT_MARK) {
			why = check_commit(m->p, bound, o, gen, start, n, rcrc);
			if (why == NULL)
				*off = o + STORE_WAL_COMMIT_REC;
			return why;
		}
		why = check_frame(m->p, bound, o, &len);
		if (why != NULL)
			return why == past_end && bound < m->size ?
			    "record runs into the group commit after it" : why;
		rcrc = crc32c(rcrc, m->p + o + 4, 4);
		n++;
		*ret_r = visit_record(w, rc, m, name, o, len);
		if (*ret_r < 0)
			return NULL;
		o += STORE_WAL_REC_HDR + (size_t)len;
	}
}

/*
 * Replays a v02 segment, one group commit at a time. A commit followed by
 * another (a later commit, or a later segment) was acknowledged, so damage
 * in it can only be corruption: it is checked and handed to the caller in
 * one pass. In the newest segment (last) that holds for every commit
 * before a complete final one; when it does not end in one, each commit's
 * frames are walked first to see whether more follows it. The last commit
 * is checked whole before any of it goes to the caller, and damage there
 * drops it: cut off at its start and reported. Damage followed by a
 * complete commit, or in an older segment, is -EBADMSG naming the file and
 * offset.
 */
static int
replay_commits(struct wal *w, struct recov *rc, struct mapped *m, const char *name,
    uint64_t gen, bool last)
{
	const char *why;
	size_t off = STORE_WAL_SEG_HDR, start, end, later = 0, fast_end = m->size, bound;
	char eb[128];
	int r;

	if (last && !final_commit(m->p, m->size, gen, &fast_end))
		fast_end = 0;
	while (off < m->size) {
		start = off;
		if (off < fast_end)
			bound = later = fast_end;
		else if (read_commit(m->p, m->size, start, gen, false, &end) == NULL &&
		    (!last || m->size - end > STORE_WAL_COMMIT_REC))
			bound = later = end + STORE_WAL_COMMIT_REC;	/* followed */
		else {
			why = read_commit(m->p, m->size, start, gen, true, &end);
			if (why != NULL)
				goto bad;
			bound = later = end + STORE_WAL_COMMIT_REC;	/* checked whole */
		}
		why = replay_one(w, rc, m, name, gen, &off, bound, &r);
		if (r < 0)
			return r;
		if (why != NULL) {
			end = off;
			goto corrupt;
		}
	}
	return 0;
bad:
	if (last && !later_commit(m->p, m->size, gen, start, end, &later)) {
		r = drop_tail(w, m, name, start);
		if (r < 0) {
			set_err(rc->err, rc->errlen, "cannot drop the torn last group commit "
			    "of %s/%s: %s", w->dir, name, errstr(r, eb, sizeof(eb)));
			return r;
		}
		warn_msg(rc, "%s/%s: torn last group commit at byte offset %zu dropped (%zu "
		    "bytes never acknowledged; %s at byte offset %zu)", w->dir, name, start,
		    m->size - start, why, end);
		return 0;
	}
corrupt:
	if (last)
		set_err(rc->err, rc->errlen, "%s/%s: corrupt at byte offset %zu: %s, and the "
		    "later group commit at byte offset %zu shows the damaged data was "
		    "acknowledged", w->dir, name, end, why, later);
	else
		set_err(rc->err, rc->errlen, "%s/%s: corrupt at byte offset %zu: %s, in a "
		    "segment older than the newest (acknowledged data)", w->dir, name, end,
		    why);
	return -EBADMSG;
}

/*
 * Replays a v01 segment (records only, no commit records) as it was
 * written: a bad spot of the newest one is a torn tail when nothing after it
 * frames as a record; any other damage is -EBADMSG.
 */
static int
replay_records_v1(struct wal *w, struct recov *rc, struct mapped *m, const char *name,
    bool last)
{
	const char *why;
	size_t off = STORE_WAL_SEG_HDR;
	uint32_t len;
	char eb[128];
	int r;

	while (off < m->size) {
		why = check_frame(m->p, m->size, off, &len);
		if (why != NULL)
			goto bad;
		r = visit_record(w, rc, m, name, off, len);
		if (r < 0)
			return r;
		off += STORE_WAL_REC_HDR + (size_t)len;
	}
	return 0;
bad:
	if (!last || !tail_is_torn(m->p, m->size, off)) {
		set_err(rc->err, rc->errlen, "%s/%s: corrupt at byte offset %zu: %s", w->dir,
		    name, off, why);
		return -EBADMSG;
	}
	r = drop_tail(w, m, name, off);
	if (r < 0) {
		set_err(rc->err, rc->errlen, "cannot drop the torn tail of %s/%s: %s",
		    w->dir, name, errstr(r, eb, sizeof(eb)));
		return r;
	}
	warn_msg(rc, "%s/%s: torn tail at byte offset %zu dropped (%zu bytes, %s)",
	    w->dir, name, off, m->size - off, why);
	return 0;
}

/*
 * Replays one segment, v02 or v01. The newest one (last) may end in a torn
 * write, which is cut off and reported; any other damage is -EBADMSG naming
 * the file and the byte offset. Returns 1 when even the segment header was
 * torn and the file removed.
 */
static int
replay_segment(struct wal *w, struct recov *rc, uint64_t gen, bool last)
{
	char name[64], eb[128];
	struct mapped m = { -1, NULL, 0 };
	const char *why = NULL;
	int r;

	seg_name(name, sizeof(name), gen);
	r = map_file(w, name, last, &m);
	if (r < 0) {
		set_err(rc->err, rc->errlen, "cannot read %s/%s: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		return r;
	}
	if (m.size < STORE_WAL_SEG_HDR)
		why = "incomplete segment header";
	else if ((memcmp(m.p, SEG_MAGIC, MAGIC_LEN) != 0 &&
	    memcmp(m.p, SEG_MAGIC_V1, MAGIC_LEN) != 0) || get_le64(m.p + MAGIC_LEN) != gen)
		why = "bad segment header";
	if (why == NULL && memcmp(m.p, SEG_MAGIC, MAGIC_LEN) == 0)
		r = replay_commits(w, rc, &m, name, gen, last);
	else if (why == NULL)
		r = replay_records_v1(w, rc, &m, name, last);
	else if (last && (m.size < STORE_WAL_SEG_HDR || all_zero(m.p, m.size))) {
		r = drop_tail(w, &m, name, 0);
		if (r < 0)
			set_err(rc->err, rc->errlen, "cannot remove the torn %s/%s: %s",
			    w->dir, name, errstr(r, eb, sizeof(eb)));
		else {
			warn_msg(rc, "%s/%s: torn tail at byte offset 0 dropped (%zu bytes, %s)",
			    w->dir, name, m.size, why);
			r = 1;
		}
	} else {
		set_err(rc->err, rc->errlen, "%s/%s: corrupt at byte offset 0: %s", w->dir,
		    name, why);
		r = -EBADMSG;
	}
	unmap_file(&m);
	return r;
}

/*
 * Checks snapshot gen. When good, *ret_m holds it mapped (the payload at
 * STORE_WAL_SNAP_HDR); else returns -EBADMSG (or -errno) with *why set.
 */
static int
load_snapshot(struct wal *w, uint64_t gen, struct mapped *ret_m, const char **why)
{
	struct mapped m = { -1, NULL, 0 };
	char name[64];
	uint64_t len;
	int r;

	snap_name(name, sizeof(name), gen);
	r = map_file(w, name, false, &m);
	if (r < 0) {
		*why = "unreadable";
		return r;
	}
	*why = NULL;
	if (m.size < STORE_WAL_SNAP_HDR || memcmp(m.p, SNAP_MAGIC, MAGIC_LEN) != 0 ||
	    get_le64(m.p + 8) != gen)
		*why = "bad snapshot header";
	else {
		len = get_le64(m.p + 16);
		if (len != m.size - STORE_WAL_SNAP_HDR)
			*why = "length does not match the file size";
		else if (crc32c(0, m.p + STORE_WAL_SNAP_HDR, (size_t)len) != get_le32(m.p + 24))
			*why = "checksum mismatch";
	}
	if (*why != NULL) {
		unmap_file(&m);
		return -EBADMSG;
	}
	*ret_m = m;
	return 0;
}

/* Lists the segment and snapshot gens in the state dir, sorted; removes temp files. */
static int
list_dir(struct wal *w, struct gens *segs, struct gens *snaps)
{
	struct dirent *de;
	uint64_t gen;
	DIR *d;
	int fd, r = 0;

	fd = dup(w->dirfd);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		r = -errno;
		close(fd);
		return r;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (parse_gen(de->d_name, "wal-", ".log", &gen))
			r = gens_push(segs, gen);
		else if (parse_gen(de->d_name, "snap-", ".mp", &gen))
			r = gens_push(snaps, gen);
		else if (strncmp(de->d_name, ".snap-", 6) == 0)
			(void)unlinkat(w->dirfd, de->d_name, 0);	/* fsio_write_atomic leftover */
		if (r < 0)
			break;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0)
		return r;
	if (segs->n > 1)
		qsort(segs->v, segs->n, sizeof(uint64_t), cmp_gen);
	if (snaps->n > 1)
		qsort(snaps->v, snaps->n, sizeof(uint64_t), cmp_gen);
	return 0;
}

/* Removes segments and snapshots below gen (replaced by snapshot gen). Best effort. */
static void
remove_below(struct wal *w, uint64_t gen)
{
	struct gens segs = { NULL, 0, 0 }, snaps = { NULL, 0, 0 };
	char name[64];
	bool removed = false;

	if (list_dir(w, &segs, &snaps) == 0) {
		for (size_t i = 0; i < segs.n && segs.v[i] < gen; i++) {
			seg_name(name, sizeof(name), segs.v[i]);
			removed |= unlinkat(w->dirfd, name, 0) == 0;
		}
		for (size_t i = 0; i < snaps.n && snaps.v[i] < gen; i++) {
			snap_name(name, sizeof(name), snaps.v[i]);
			removed |= unlinkat(w->dirfd, name, 0) == 0;
		}
		if (removed)
			(void)fsync(w->dirfd);
	}
	free(segs.v);
	free(snaps.v);
}

static int
wal_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
	struct wal *w = b;
	struct recov rc = { on_record, arg, warn, warn_arg, err, errlen, 0, 0 };
	struct gens segs = { NULL, 0, 0 }, snaps = { NULL, 0, 0 };
	struct mapped snap = { -1, NULL, 0 };
	uint64_t base = 0, next_gen;
	size_t first;
	double acc[4];
	int nsyncs = 0, r;
	char name[64], eb[128];

	if (w->recover_called) {
		set_err(err, errlen, "%s: store_recover called twice", w->dir);
		return -EINVAL;
	}
	w->recover_called = true;
	r = list_dir(w, &segs, &snaps);
	if (r < 0) {
		set_err(err, errlen, "cannot list state dir %s: %s", w->dir,
		    errstr(r, eb, sizeof(eb)));
		goto out;
	}

	/* The newest good snapshot; a bad newer one is reported and skipped. */
	for (size_t i = snaps.n; i-- > 0;) {
		const char *why;
		snap_name(name, sizeof(name), snaps.v[i]);
		r = load_snapshot(w, snaps.v[i], &snap, &why);
		if (r == 0) {
			base = snaps.v[i];
			break;
		}
		warn_msg(&rc, "%s/%s: %s, snapshot ignored", w->dir, name, why);
	}

	/* Segments from base on must be there without a gap. */
	for (first = 0; first < segs.n && segs.v[first] < base; first++)
		;
	for (size_t i = first; i < segs.n; i++) {
		uint64_t want = i > first ? segs.v[i - 1] + 1 : (base > 0 ? base : 1);
		if (segs.v[i] != want) {
			seg_name(name, sizeof(name), want);
			set_err(err, errlen, "%s/%s is missing: the log has a gap before "
			    STORE_WAL_SEG_FMT, w->dir, name, (unsigned long long)segs.v[i]);
			r = -EBADMSG;
			goto out;
		}
	}

	if (snap.p != NULL && on_snapshot != NULL) {
		r = on_snapshot(snap.p + STORE_WAL_SNAP_HDR, snap.size - STORE_WAL_SNAP_HDR, arg);
		if (r != 0) {
			snap_name(name, sizeof(name), base);
			set_err(err, errlen, "recovery stopped by the caller at %s/%s", w->dir, name);
			r = r < 0 ? r : -ECANCELED;
			goto out;
		}
	}
	unmap_file(&snap);

	next_gen = base > 0 ? base : 1;
	for (size_t i = first; i < segs.n; i++) {
		r = replay_segment(w, &rc, segs.v[i], i == segs.n - 1);
		if (r < 0)
			goto out;
		next_gen = r == 1 ? segs.v[i] : segs.v[i] + 1;
	}

	/* Leftovers of a snapshot commit that stopped before its cleanup. */
	if (base > 0)
		remove_below(w, base);

	/* A fresh segment for this run: only the newest can be torn. */
	r = segment_create(w, next_gen, &w->seg_fd, acc, &nsyncs, err, errlen);
	if (r < 0)
		goto out;
	w->seg_fd_gen = next_gen;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < nsyncs; i++)
		count_fsync(w, acc[i]);
	w->append_gen = w->seg_gen = next_gen;
	w->snap_gen = base;
	w->st.log_records = rc.records;
	w->st.log_bytes = rc.bytes;
	pthread_mutex_unlock(&w->mu);
	r = pthread_create(&w->thread, NULL, committer, w);
	if (r != 0) {
		r = -r;
		set_err(err, errlen, "%s: cannot start the log committer: %s", w->dir,
		    errstr(r, eb, sizeof(eb)));
		goto out;
	}
	w->thread_started = true;
	pthread_mutex_lock(&w->mu);
	w->recovered = true;
	pthread_mutex_unlock(&w->mu);
out:
	unmap_file(&snap);
	free(segs.v);
	free(snaps.v);
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
	put_le32(hdr, (uint32_t)len);
	put_le32(hdr + 4, crc32c(0, buf, len));	/* outside the lock */

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
	r = qbuf_reserve(&w->q, need);
	if (r < 0)
		goto out;
	memcpy(w->q.p + w->q.len, hdr, sizeof(hdr));
	memcpy(w->q.p + w->q.len + sizeof(hdr), buf, len);
	w->q.len += need;
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
	memcpy(frame, SNAP_MAGIC, MAGIC_LEN);
	put_le64(frame + 8, gen);
	put_le64(frame + 16, len);
	put_le32(frame + 24, crc32c(0, buf, len));
	put_le32(frame + 28, 0);
	if (len > 0)
		memcpy(frame + STORE_WAL_SNAP_HDR, buf, len);
	snap_name(name, sizeof(name), gen);
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
	remove_below(w, gen);
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
	free(w->q.p);
	free(w->dir);
	pthread_cond_destroy(&w->done_cv);
	pthread_cond_destroy(&w->gen_cv[0]);
	pthread_cond_destroy(&w->gen_cv[1]);
	pthread_cond_destroy(&w->work_cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

const struct store_backend store_wal_backend = {
	.name = "wal",
	.open = wal_open,
	.recover = wal_recover,
	.append = wal_append,
	.wait = wal_wait,
	.snapshot_begin = wal_snapshot_begin,
	.snapshot_commit = wal_snapshot_commit,
	.get_stats = wal_get_stats,
	.failure = wal_failure,
	.close = wal_close,
};
