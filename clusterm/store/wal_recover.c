/*
 * WAL recovery: the newest good snapshot, then the segments after it. A
 * segment is read group commit by group commit, and the records of one go
 * to the caller only when its commit record checks out, so a commit torn
 * by a power loss is dropped whole (the rules are in wal_format.h). At the
 * end a fresh segment is created and the committer started.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "fsio.h"
#include "le.h"
#include "store_wal_impl.h"
#include "wal_commit.h"
#include "wal_dir.h"
#include "wal_format.h"
#include "wal_recover.h"

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

/* A file of the state dir mapped read-only (NULL for an empty one). */
struct mapped {
	int fd;
	unsigned char *p;
	size_t size;
};

static void
warn_msg(struct recov *rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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
		if (bound - o >= STORE_WAL_REC_HDR && le_get32(m->p + o) == STORE_WAL_COMMIT_MARK) {
			why = wal_format_check_commit(m->p, bound, o, gen, start, n, rcrc);
			if (why == NULL)
				*off = o + STORE_WAL_COMMIT_REC;
			return why;
		}
		why = wal_format_check_frame(m->p, bound, o, &len);
		if (why != NULL)
			return why == wal_format_past_end && bound < m->size ?
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

	if (last && !wal_format_final_commit(m->p, m->size, gen, &fast_end))
		fast_end = 0;
	while (off < m->size) {
		start = off;
		if (off < fast_end)
			bound = later = fast_end;
		else if (wal_format_read_commit(m->p, m->size, start, gen, false, &end) == NULL &&
		    (!last || m->size - end > STORE_WAL_COMMIT_REC))
			bound = later = end + STORE_WAL_COMMIT_REC;	/* followed */
		else {
			why = wal_format_read_commit(m->p, m->size, start, gen, true, &end);
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
	if (last && !wal_format_later_commit(m->p, m->size, gen, start, end, &later)) {
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
		why = wal_format_check_frame(m->p, m->size, off, &len);
		if (why != NULL)
			goto bad;
		r = visit_record(w, rc, m, name, off, len);
		if (r < 0)
			return r;
		off += STORE_WAL_REC_HDR + (size_t)len;
	}
	return 0;
bad:
	if (!last || !wal_format_tail_is_torn(m->p, m->size, off)) {
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

	wal_format_seg_name(name, sizeof(name), gen);
	r = map_file(w, name, last, &m);
	if (r < 0) {
		set_err(rc->err, rc->errlen, "cannot read %s/%s: %s", w->dir, name,
		    errstr(r, eb, sizeof(eb)));
		return r;
	}
	if (m.size < STORE_WAL_SEG_HDR)
		why = "incomplete segment header";
	else if ((memcmp(m.p, STORE_WAL_SEG_MAGIC, STORE_WAL_MAGIC_LEN) != 0 &&
	    memcmp(m.p, STORE_WAL_SEG_MAGIC_V1, STORE_WAL_MAGIC_LEN) != 0) || le_get64(m.p + STORE_WAL_MAGIC_LEN) != gen)
		why = "bad segment header";
	if (why == NULL && memcmp(m.p, STORE_WAL_SEG_MAGIC, STORE_WAL_MAGIC_LEN) == 0)
		r = replay_commits(w, rc, &m, name, gen, last);
	else if (why == NULL)
		r = replay_records_v1(w, rc, &m, name, last);
	else if (last && (m.size < STORE_WAL_SEG_HDR || wal_format_all_zero(m.p, m.size))) {
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

	wal_format_snap_name(name, sizeof(name), gen);
	r = map_file(w, name, false, &m);
	if (r < 0) {
		*why = "unreadable";
		return r;
	}
	*why = NULL;
	if (m.size < STORE_WAL_SNAP_HDR || memcmp(m.p, STORE_WAL_SNAP_MAGIC, STORE_WAL_MAGIC_LEN) != 0 ||
	    le_get64(m.p + 8) != gen)
		*why = "bad snapshot header";
	else {
		len = le_get64(m.p + 16);
		if (len != m.size - STORE_WAL_SNAP_HDR)
			*why = "length does not match the file size";
		else if (crc32c(0, m.p + STORE_WAL_SNAP_HDR, (size_t)len) != le_get32(m.p + 24))
			*why = "checksum mismatch";
	}
	if (*why != NULL) {
		unmap_file(&m);
		return -EBADMSG;
	}
	*ret_m = m;
	return 0;
}

/*
 * The newest good snapshot: mapped into *snap, its gen in *ret_base (0 and
 * nothing mapped for none). A bad newer one is reported and skipped.
 */
static void
pick_snapshot(struct wal *w, struct recov *rc, const struct wal_gens *snaps,
    struct mapped *snap, uint64_t *ret_base)
{
	char name[64];

	*ret_base = 0;
	for (size_t i = snaps->n; i-- > 0;) {
		const char *why;
		wal_format_snap_name(name, sizeof(name), snaps->v[i]);
		if (load_snapshot(w, snaps->v[i], snap, &why) == 0) {
			*ret_base = snaps->v[i];
			return;
		}
		warn_msg(rc, "%s/%s: %s, snapshot ignored", w->dir, name, why);
	}
}

/*
 * The segments from base on must be there without a gap: *ret_first is the
 * index of the first of them, or -EBADMSG naming the missing one.
 */
static int
check_gaps(struct wal *w, const struct wal_gens *segs, uint64_t base, size_t *ret_first,
    char *err, size_t errlen)
{
	char name[64];
	size_t first;

	for (first = 0; first < segs->n && segs->v[first] < base; first++)
		;
	for (size_t i = first; i < segs->n; i++) {
		uint64_t want = i > first ? segs->v[i - 1] + 1 : (base > 0 ? base : 1);
		if (segs->v[i] != want) {
			wal_format_seg_name(name, sizeof(name), want);
			set_err(err, errlen, "%s/%s is missing: the log has a gap before "
			    STORE_WAL_SEG_FMT, w->dir, name, (unsigned long long)segs->v[i]);
			return -EBADMSG;
		}
	}
	*ret_first = first;
	return 0;
}

/*
 * After the replay: a fresh segment next_gen for this run (only the newest
 * can be torn), the counters, and the committer thread.
 */
static int
start_log(struct wal *w, const struct recov *rc, uint64_t next_gen, uint64_t base,
    char *err, size_t errlen)
{
	double acc[4];
	int nsyncs = 0, r;
	char eb[128];

	r = wal_commit_segment_create(w, next_gen, &w->seg_fd, acc, &nsyncs, err, errlen);
	if (r < 0)
		return r;
	w->seg_fd_gen = next_gen;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < nsyncs; i++)
		wal_commit_count_fsync(w, acc[i]);
	w->append_gen = w->seg_gen = next_gen;
	w->snap_gen = base;
	w->st.log_records = rc->records;
	w->st.log_bytes = rc->bytes;
	pthread_mutex_unlock(&w->mu);
	r = wal_commit_start(w);
	if (r < 0) {
		set_err(err, errlen, "%s: cannot start the log committer: %s", w->dir,
		    errstr(r, eb, sizeof(eb)));
		return r;
	}
	w->thread_started = true;
	pthread_mutex_lock(&w->mu);
	w->recovered = true;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int
wal_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
	struct wal *w = b;
	struct recov rc = { on_record, arg, warn, warn_arg, err, errlen, 0, 0 };
	struct wal_gens segs = { NULL, 0, 0 }, snaps = { NULL, 0, 0 };
	struct mapped snap = { -1, NULL, 0 };
	uint64_t base, next_gen;
	size_t first;
	int r;
	char name[64], eb[128];

	if (w->recover_called) {
		set_err(err, errlen, "%s: store_recover called twice", w->dir);
		return -EINVAL;
	}
	w->recover_called = true;
	r = wal_dir_list(w, &segs, &snaps);
	if (r < 0) {
		set_err(err, errlen, "cannot list state dir %s: %s", w->dir,
		    errstr(r, eb, sizeof(eb)));
		goto out;
	}
	pick_snapshot(w, &rc, &snaps, &snap, &base);
	r = check_gaps(w, &segs, base, &first, err, errlen);
	if (r < 0)
		goto out;

	if (snap.p != NULL && on_snapshot != NULL) {
		r = on_snapshot(snap.p + STORE_WAL_SNAP_HDR, snap.size - STORE_WAL_SNAP_HDR, arg);
		if (r != 0) {
			wal_format_snap_name(name, sizeof(name), base);
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
		wal_dir_remove_below(w, base);
	r = start_log(w, &rc, next_gen, base, err, errlen);
out:
	unmap_file(&snap);
	free(segs.v);
	free(snaps.v);
	return r;
}
