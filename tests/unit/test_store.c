/*
 * Unit tests: the store and its WAL backend. Round trips, group commit
 * under concurrent appenders, torn tails, torn last group commits against
 * corruption of acknowledged data (segment files written here byte by
 * byte), old v01 segments, snapshots, the state dir lock, a failing disk
 * (RLIMIT_FSIZE), a SIGKILL'd appender, sequence numbers and prefix
 * durability; and the in-memory fake backend with its injected faults.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clusterm/store/store.h"
#include "clusterm/store/store_wal.h"
#include "cm_limits.h"
#include "crc32c.h"

/* Bytes one record of len bytes takes as a group commit of its own. */
#define ONE_COMMIT(len)	(STORE_WAL_REC_HDR + (len) + STORE_WAL_COMMIT_REC)

/* What a recovery handed back. */
struct got {
	char **recs;
	size_t *lens;
	size_t n, cap;
	char *snap;
	size_t snaplen;
	int nsnap;
	int warnings;
	char warn[1024];
};

static char tmpdir[PATH_MAX];	/* per test, removed by teardown */
static char statedir[PATH_MAX];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	ck_assert_int_lt(snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-store-XXXXXX"),
	    (int)sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_lt(snprintf(statedir, sizeof(statedir), "%s/state", tmpdir),
	    (int)sizeof(statedir));
}

static void
teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
got_finish(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->recs[i]);
	free(g->recs);
	free(g->lens);
	free(g->snap);
	memset(g, 0, sizeof(*g));
}

static int
on_record(const void *buf, size_t len, void *arg)
{
	struct got *g = arg;

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->recs = realloc(g->recs, g->cap * sizeof(*g->recs));
		g->lens = realloc(g->lens, g->cap * sizeof(*g->lens));
		ck_assert_ptr_nonnull(g->recs);
		ck_assert_ptr_nonnull(g->lens);
	}
	g->recs[g->n] = malloc(len + 1);
	ck_assert_ptr_nonnull(g->recs[g->n]);
	memcpy(g->recs[g->n], buf, len);
	g->recs[g->n][len] = '\0';
	g->lens[g->n] = len;
	g->n++;
	return 0;
}

static int
on_snapshot(const void *buf, size_t len, void *arg)
{
	struct got *g = arg;

	free(g->snap);
	g->snap = malloc(len + 1);
	ck_assert_ptr_nonnull(g->snap);
	memcpy(g->snap, buf, len);
	g->snap[len] = '\0';
	g->snaplen = len;
	g->nsnap++;
	return 0;
}

static void
on_warn(const char *msg, void *arg)
{
	struct got *g = arg;

	g->warnings++;
	snprintf(g->warn, sizeof(g->warn), "%s", msg);
}

/* Opens statedir and recovers into g; returns the recovery result. */
static int
open_recover(struct store **ret, struct got *g, char *err, size_t errlen)
{
	struct store *s;
	int r;

	r = store_open(statedir, &s, err, errlen);
	ck_assert_msg(r == 0, "store_open: %d %s", r, err);
	r = store_recover(s, on_snapshot, on_record, g, on_warn, g, err, errlen);
	*ret = s;
	return r;
}

static uint64_t
append_str(struct store *s, const char *str)
{
	uint64_t seq = 0;
	int r = store_append(s, str, strlen(str), &seq);

	ck_assert_msg(r == 0, "append: %d", r);
	return seq;
}

static void
path_of(char *buf, size_t len, const char *name)
{
	ck_assert_int_lt(snprintf(buf, len, "%s/%s", statedir, name), (int)len);
}

static void
seg_path(char *buf, size_t len, unsigned long long gen)
{
	char name[64];

	snprintf(name, sizeof(name), STORE_WAL_SEG_FMT, gen);
	path_of(buf, len, name);
}

static bool
exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Writes n records "rec-<i>" (i from first) and waits for the last. */
static void
append_n(struct store *s, int first, int n)
{
	char buf[64];
	uint64_t seq = 0;

	for (int i = first; i < first + n; i++) {
		snprintf(buf, sizeof(buf), "rec-%d", i);
		seq = append_str(s, buf);
	}
	ck_assert_int_eq(store_wait(s, seq), 0);
}

/* Writes n records "rec-<i>" (i from first), each its own group commit. */
static void
append_each(struct store *s, int first, int n)
{
	for (int i = first; i < first + n; i++)
		append_n(s, i, 1);
}

static void
check_recs(const struct got *g, int first, int n)
{
	char buf[64];

	ck_assert_uint_eq(g->n, (size_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "rec-%d", first + i);
		ck_assert_str_eq(g->recs[i], buf);
	}
}

START_TEST(test_roundtrip)
{
	struct store *s;
	struct got g = { 0 };
	char err[512];
	uint64_t seq;
	struct stat st;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_int_eq(g.nsnap, 0);
	append_n(s, 0, 100);
	store_close(s);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 100);
	ck_assert_int_eq(g.warnings, 0);
	got_finish(&g);
	append_n(s, 100, 5);
	store_close(s);

	/* Two segments now; a third open replays both, in order. */
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 105);
	got_finish(&g);

	/* Bad arguments. */
	ck_assert_int_eq(store_append(s, "x", 0, &seq), -EINVAL);
	ck_assert_int_eq(store_append(s, "x", (size_t)LIMIT_RECORD_BYTES + 1, &seq), -E2BIG);
	ck_assert_int_eq(store_wait(s, 1000000), -EINVAL);
	ck_assert_int_eq(store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
	    -EINVAL);
	store_close(s);

	ck_assert_int_eq(stat(statedir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
}
END_TEST

START_TEST(test_append_before_recover)
{
	struct store *s;
	char err[512];
	uint64_t seq;

	ck_assert_int_eq(store_open(statedir, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(store_append(s, "x", 1, &seq), -EINVAL);
	store_close(s);
	store_close(NULL);
}
END_TEST

#define CONC_THREADS 8
#define CONC_PER_THREAD 300

struct conc_arg {
	struct store *s;
	int id;
	int rc;
};

static void *
conc_main(void *p)
{
	struct conc_arg *a = p;
	char buf[64];

	for (int i = 0; i < CONC_PER_THREAD; i++) {
		uint64_t seq;
		snprintf(buf, sizeof(buf), "t%d-%d", a->id, i);
		a->rc = store_append(a->s, buf, strlen(buf), &seq);
		if (a->rc == 0)
			a->rc = store_wait(a->s, seq);
		if (a->rc != 0)
			break;
	}
	return NULL;
}

START_TEST(test_concurrent)
{
	struct conc_arg args[CONC_THREADS];
	pthread_t th[CONC_THREADS];
	struct store_stats st;
	struct store *s;
	struct got g = { 0 };
	int next[CONC_THREADS] = { 0 };
	uint64_t total = 0;
	char err[512];

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	for (int i = 0; i < CONC_THREADS; i++) {
		args[i] = (struct conc_arg){ s, i, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].rc, 0);
	}
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.appended_records, CONC_THREADS * CONC_PER_THREAD);
	ck_assert_uint_eq(st.log_records, CONC_THREADS * CONC_PER_THREAD);
	ck_assert_msg(st.fsyncs < CONC_THREADS * CONC_PER_THREAD,
	    "group commit: %llu fsyncs for %d records", (unsigned long long)st.fsyncs,
	    CONC_THREADS * CONC_PER_THREAD);
	for (int i = 0; i <= STORE_FSYNC_BUCKETS; i++)
		total += st.fsync_bucket[i];
	ck_assert_uint_eq(total, st.fsyncs);
	ck_assert(st.fsync_sum_s > 0);
	ck_assert_int_eq(st.failed, 0);
	store_close(s);

	/* Every record back, each thread's in its own order. */
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.n, CONC_THREADS * CONC_PER_THREAD);
	for (size_t i = 0; i < g.n; i++) {
		int t, k;
		ck_assert_int_eq(sscanf(g.recs[i], "t%d-%d", &t, &k), 2);
		ck_assert(t >= 0 && t < CONC_THREADS);
		ck_assert_int_eq(k, next[t]);
		next[t]++;
	}
	got_finish(&g);
	store_close(s);
}
END_TEST

/* Torn tails of the newest segment: each is cut off with a warning. */
enum torn_kind { TORN_MID_HEADER, TORN_MID_PAYLOAD, TORN_COMMIT_REC, TORN_GARBAGE,
	TORN_ZEROS, TORN_SEG_HEADER, TORN_NKINDS };

START_TEST(test_torn_tail)
{
	enum torn_kind kind = (enum torn_kind)_i;
	struct store *s;
	struct got g = { 0 };
	char err[512], path[PATH_MAX], want[64];
	unsigned long long seg = 1;
	off_t size, tail_off;
	size_t kept = 10;
	int fd;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	append_each(s, 0, 10);	/* "rec-0".."rec-9": 5 bytes each, a commit each */
	store_close(s);
	seg_path(path, sizeof(path), seg);
	size = file_size(path);
	ck_assert_int_eq(size, STORE_WAL_SEG_HDR + 10 * ONE_COMMIT(5));

	switch (kind) {
	case TORN_MID_HEADER:
		tail_off = size - ONE_COMMIT(5);
		ck_assert_int_eq(truncate(path, tail_off + 4), 0);
		kept = 9;
		break;
	case TORN_MID_PAYLOAD:
		tail_off = size - ONE_COMMIT(5);
		ck_assert_int_eq(truncate(path, tail_off + STORE_WAL_REC_HDR + 2), 0);
		kept = 9;
		break;
	case TORN_COMMIT_REC:
		/* The record made it, its commit record did not: dropped too. */
		tail_off = size - ONE_COMMIT(5);
		ck_assert_int_eq(truncate(path, size - 3), 0);
		kept = 9;
		break;
	case TORN_GARBAGE:
	case TORN_ZEROS: {
		unsigned char junk[4096];
		size_t n = kind == TORN_GARBAGE ? 13 : sizeof(junk);
		memset(junk, kind == TORN_GARBAGE ? 0xa5 : 0, sizeof(junk));
		fd = open(path, O_WRONLY | O_APPEND);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, junk, n), (ssize_t)n);
		close(fd);
		tail_off = size;
		break;
	}
	case TORN_SEG_HEADER:
		/* An empty segment from one more open, its header torn. */
		ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
		got_finish(&g);
		store_close(s);
		seg = 2;
		seg_path(path, sizeof(path), seg);
		ck_assert_int_eq(file_size(path), STORE_WAL_SEG_HDR);
		ck_assert_int_eq(truncate(path, 7), 0);
		tail_off = 0;
		break;
	default:
		ck_abort();
	}

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, (int)kept);
	ck_assert_int_eq(g.warnings, 1);
	snprintf(want, sizeof(want), STORE_WAL_SEG_FMT, seg);
	ck_assert_msg(strstr(g.warn, want) != NULL, "warning: %s", g.warn);
	snprintf(want, sizeof(want), "offset %lld ", (long long)tail_off);
	ck_assert_msg(strstr(g.warn, want) != NULL, "warning: %s", g.warn);
	if (kind != TORN_SEG_HEADER)
		ck_assert_int_eq(file_size(path), tail_off);
	got_finish(&g);

	/* Later appends recover too, and the torn part is gone for good. */
	append_n(s, (int)kept, 3);
	store_close(s);
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, (int)kept + 3);
	ck_assert_int_eq(g.warnings, 0);
	got_finish(&g);
	store_close(s);
}
END_TEST

START_TEST(test_corrupt_early)
{
	struct store *s;
	struct got g = { 0 };
	char err[512], path[PATH_MAX], want[128];
	off_t rec2 = STORE_WAL_SEG_HDR + 2 * ONE_COMMIT(5), size;
	unsigned char c;
	int fd;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	append_each(s, 0, 10);	/* complete commits follow the damaged one */
	store_close(s);

	seg_path(path, sizeof(path), 1);
	size = file_size(path);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, rec2 + STORE_WAL_REC_HDR + 1), 1);
	c ^= 0x01;
	ck_assert_int_eq(pwrite(fd, &c, 1, rec2 + STORE_WAL_REC_HDR + 1), 1);
	close(fd);

	err[0] = '\0';
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, path) != NULL, "err: %s", err);
	snprintf(want, sizeof(want), "byte offset %lld:", (long long)rec2);
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	ck_assert_int_eq(file_size(path), size);	/* nothing cut */
	ck_assert_int_eq(store_append(s, "x", 1, &(uint64_t){ 0 }), -EINVAL);
	got_finish(&g);
	store_close(s);

	/* A length field that claims the whole file is damage too. */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, &c, 1, rec2 + STORE_WAL_REC_HDR + 1), 1);	/* restore */
	ck_assert_int_eq(pwrite(fd, "\xff\xff\x00\x00", 4, rec2), 4);
	close(fd);
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	got_finish(&g);
	store_close(s);
}
END_TEST

START_TEST(test_gap)
{
	struct store *s;
	struct got g = { 0 };
	char err[512], path[PATH_MAX];

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	append_n(s, 0, 3);
	store_close(s);
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	got_finish(&g);
	append_n(s, 3, 3);
	store_close(s);
	seg_path(path, sizeof(path), 1);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, path) != NULL, "err: %s", err);
	got_finish(&g);
	store_close(s);
}
END_TEST

START_TEST(test_snapshot)
{
	struct store_stats st;
	struct store *s;
	struct got g = { 0 };
	char err[512], path[PATH_MAX], name[64];
	uint64_t gen, gen2;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	append_n(s, 0, 3);
	ck_assert_int_eq(store_snapshot_begin(s, &gen), 0);
	ck_assert_uint_eq(gen, 2);
	append_n(s, 3, 1);	/* after the cut: belongs to the new segment */
	ck_assert_int_eq(store_snapshot_commit(s, gen, "SNAP-1", 6), 0);
	ck_assert_int_eq(store_snapshot_commit(s, gen, "SNAP-1", 6), -EINVAL);
	append_n(s, 4, 1);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.log_records, 2);
	ck_assert_uint_eq(st.log_bytes, 2 * (STORE_WAL_REC_HDR + 5));
	store_close(s);

	seg_path(path, sizeof(path), 1);
	ck_assert(!exists(path));
	seg_path(path, sizeof(path), 2);
	ck_assert(exists(path));
	snprintf(name, sizeof(name), STORE_WAL_SNAP_FMT, (unsigned long long)gen);
	path_of(path, sizeof(path), name);
	ck_assert(exists(path));

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(g.nsnap, 1);
	ck_assert_str_eq(g.snap, "SNAP-1");
	check_recs(&g, 3, 2);
	got_finish(&g);

	/* A second snapshot replaces the first and its segments. */
	ck_assert_int_eq(store_snapshot_begin(s, &gen2), 0);
	ck_assert_uint_eq(gen2, 4);	/* segment 3 was this open's */
	ck_assert_int_eq(store_snapshot_commit(s, gen2, "SNAP-2", 6), 0);
	store_close(s);
	ck_assert(!exists(path));
	seg_path(path, sizeof(path), 2);
	ck_assert(!exists(path));
	seg_path(path, sizeof(path), 3);
	ck_assert(!exists(path));

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_str_eq(g.snap, "SNAP-2");
	ck_assert_uint_eq(g.n, 0);
	got_finish(&g);
	store_close(s);

	/* A damaged newest snapshot is reported and the older one used, when
	 * the log behind it is still there. */
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	got_finish(&g);
	append_n(s, 10, 2);
	store_close(s);
	{
		char bad[64];
		int fd;
		snprintf(bad, sizeof(bad), STORE_WAL_SNAP_FMT, 99ULL);
		path_of(path, sizeof(path), bad);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "CMSNPv01junk", 12), 12);
		close(fd);
	}
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_str_eq(g.snap, "SNAP-2");
	check_recs(&g, 10, 2);
	ck_assert_int_eq(g.warnings, 1);
	ck_assert_msg(strstr(g.warn, "snap-0000000000000063.mp") != NULL, "%s", g.warn);
	got_finish(&g);
	store_close(s);
}
END_TEST

/*
 * Snapshots taken while appenders run, the way the daemon does it: the
 * state (a counter) changes and is logged under one lock; the snapshot is
 * cut and serialised under it. Recovery must give a snapshot value S and
 * then exactly the records S, S+1, ... in order.
 */
struct live {
	struct store *s;
	pthread_mutex_t mu;
	int counter;
	int stop;
	int rc;
};

static void *
live_main(void *p)
{
	struct live *l = p;
	char buf[64];

	for (;;) {
		uint64_t seq;
		int r;
		pthread_mutex_lock(&l->mu);
		if (l->stop) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		snprintf(buf, sizeof(buf), "rec-%d", l->counter);
		r = store_append(l->s, buf, strlen(buf), &seq);
		if (r == 0)
			l->counter++;
		pthread_mutex_unlock(&l->mu);
		if (r == 0)
			r = store_wait(l->s, seq);
		if (r != 0) {
			l->rc = r;
			break;
		}
	}
	return NULL;
}

START_TEST(test_snapshot_live)
{
	struct live l = { .mu = PTHREAD_MUTEX_INITIALIZER };
	pthread_t th[4];
	struct store *s;
	struct got g = { 0 };
	char err[512], snap[32];
	int total, base;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	l.s = s;
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, live_main, &l), 0);
	for (int k = 0; k < 20; k++) {
		uint64_t gen;
		/* Wait (bounded) for some records between snapshots. */
		for (int spin = 0; spin < 1000000; spin++) {
			int c;
			pthread_mutex_lock(&l.mu);
			c = l.counter;
			pthread_mutex_unlock(&l.mu);
			if (c >= (k + 1) * 20)
				break;
			sched_yield();
		}
		pthread_mutex_lock(&l.mu);
		ck_assert_int_eq(store_snapshot_begin(s, &gen), 0);
		snprintf(snap, sizeof(snap), "%d", l.counter);
		pthread_mutex_unlock(&l.mu);
		ck_assert_int_eq(store_snapshot_commit(s, gen, snap, strlen(snap)), 0);
	}
	pthread_mutex_lock(&l.mu);
	l.stop = 1;
	pthread_mutex_unlock(&l.mu);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(l.rc, 0);
	total = l.counter;
	store_close(s);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_int_eq(g.nsnap, 1);
	ck_assert_int_eq(sscanf(g.snap, "%d", &base), 1);
	ck_assert_int_le(base, total);
	check_recs(&g, base, total - base);
	got_finish(&g);
	store_close(s);
}
END_TEST

START_TEST(test_lock)
{
	struct store *s, *s2 = NULL;
	char err[512], nested[PATH_MAX];
	struct stat st;

	ck_assert_int_lt(snprintf(nested, sizeof(nested), "%s/a/b", statedir),
	    (int)sizeof(nested));
	memcpy(statedir, nested, sizeof(nested));
	ck_assert_int_eq(store_open(statedir, &s, err, sizeof(err)), 0);
	ck_assert_int_eq(stat(statedir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);

	err[0] = '\0';
	ck_assert_int_eq(store_open(statedir, &s2, err, sizeof(err)), -EWOULDBLOCK);
	ck_assert_ptr_null(s2);
	ck_assert_msg(strstr(err, statedir) != NULL, "err: %s", err);
	store_close(s);
	ck_assert_int_eq(store_open(statedir, &s2, err, sizeof(err)), 0);
	store_close(s2);
}
END_TEST

/*
 * A disk that stops taking writes (RLIMIT_FSIZE in a child): waiters and
 * later appends get -EIO, records already durable stay so, and the next
 * recovery drops the half-written tail.
 */
START_TEST(test_write_failure)
{
	struct store *s;
	struct got g = { 0 };
	char err[512], big[200];
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_stats st;
		struct rlimit rl = { 100, 100 };
		uint64_t s1, s2, s3;
		char why[512] = "untouched";
		int ok = 1;

		signal(SIGXFSZ, SIG_IGN);
		if (store_open(statedir, &s, err, sizeof(err)) != 0 ||
		    store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)) != 0)
			_exit(10);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(11);
		memset(big, 'b', sizeof(big));
		ok &= store_append(s, "rec-0", 5, &s1) == 0;
		ok &= store_wait(s, s1) == 0;
		ok &= store_failure(s, why, sizeof(why)) == 0;
		ok &= strcmp(why, "untouched") == 0;
		ok &= store_append(s, big, sizeof(big), &s2) == 0;
		ok &= store_wait(s, s2) == -EIO;
		ok &= store_append(s, "rec-1", 5, &s3) == -EIO;
		ok &= store_wait(s, s1) == 0;
		ok &= store_snapshot_begin(s, &s3) == -EIO;
		store_get_stats(s, &st);
		ok &= st.failed == 1;
		/* "write to DIR/wal-0000000000000001.log failed: File too large" */
		ok &= store_failure(s, why, sizeof(why)) == 1;
		ok &= strstr(why, "write to ") == why;
		ok &= strstr(why, statedir) != NULL;
		ok &= strstr(why, "/wal-0000000000000001.log failed: ") != NULL;
		ok &= strstr(why, "File too large") != NULL;
		ok &= store_failure(s, why, 6) == 1 && strcmp(why, "write") == 0;
		if (!ok)
			fprintf(stderr, "failure: %s\n", why);
		store_close(s);
		_exit(ok ? 0 : 12);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
	    status);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 1);
	ck_assert_int_eq(g.warnings, 1);
	got_finish(&g);
	store_close(s);
}
END_TEST

/*
 * A child appends and waits in a loop, reporting each acknowledged record
 * on a pipe; it is SIGKILLed mid-flight. Every acknowledged record must be
 * recovered.
 */
START_TEST(test_crash)
{
	struct store *s;
	struct got g = { 0 };
	char err[512];
	int pfd[2], acked = -1, status;
	pid_t pid;

	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char buf[64];
		close(pfd[0]);
		if (store_open(statedir, &s, err, sizeof(err)) != 0 ||
		    store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)) != 0)
			_exit(10);
		for (int i = 0;; i++) {
			uint64_t seq;
			snprintf(buf, sizeof(buf), "rec-%d", i);
			if (store_append(s, buf, strlen(buf), &seq) != 0 ||
			    store_wait(s, seq) != 0)
				_exit(11);
			if (write(pfd[1], &i, sizeof(i)) != sizeof(i))
				_exit(12);
		}
	}
	close(pfd[1]);

	/* Read acks until 200 (10 s at most for each), then kill mid-flight. */
	while (acked < 200) {
		struct pollfd p = { pfd[0], POLLIN, 0 };
		int v;
		ck_assert_msg(poll(&p, 1, 10000) == 1, "no ack from the child");
		ck_assert_int_eq(read(pfd[0], &v, sizeof(v)), sizeof(v));
		ck_assert_int_eq(v, acked + 1);
		acked = v;
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	for (;;) {	/* the child is gone: the pipe ends */
		int v;
		ssize_t n = read(pfd[0], &v, sizeof(v));
		if (n <= 0)
			break;
		ck_assert_int_eq(n, sizeof(v));
		acked = v;
	}
	close(pfd[0]);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	ck_assert_msg(g.n >= (size_t)acked + 1, "recovered %zu, acked %d", g.n, acked + 1);
	for (size_t i = 0; i < g.n; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "rec-%zu", i);
		ck_assert_str_eq(g.recs[i], buf);
	}
	got_finish(&g);
	store_close(s);
}
END_TEST

/*
 * Segment files written byte by byte, as wal_format.h describes them, so a
 * test decides where each group commit begins and ends.
 */
struct segbuf {
	unsigned char *p;
	size_t len, cap;
};

struct rec {
	const void *p;
	size_t len;
};

static void
sb_put(struct segbuf *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void
sb_le(struct segbuf *b, uint64_t v, int bytes)
{
	unsigned char le[8];

	for (int i = 0; i < bytes; i++)
		le[i] = (unsigned char)(v >> (8 * i));
	sb_put(b, le, (size_t)bytes);
}

static void
sb_header(struct segbuf *b, const char *magic, uint64_t gen)
{
	sb_put(b, magic, 8);
	sb_le(b, gen, 8);
}

/* Appends the frames of n records; no commit record. */
static void
sb_records(struct segbuf *b, const struct rec *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sb_le(b, r[i].len, 4);
		sb_le(b, crc32c(0, r[i].p, r[i].len), 4);
		sb_put(b, r[i].p, r[i].len);
	}
}

/* Appends one group commit of n records; returns the offset it begins at. */
static size_t
sb_commit(struct segbuf *b, uint64_t gen, const struct rec *r, size_t n)
{
	size_t start = b->len;
	unsigned char body[24];
	uint32_t rcrc = 0;

	sb_records(b, r, n);
	for (size_t off = start; off < b->len;) {
		uint32_t len = (uint32_t)b->p[off] | (uint32_t)b->p[off + 1] << 8 |
		    (uint32_t)b->p[off + 2] << 16 | (uint32_t)b->p[off + 3] << 24;
		rcrc = crc32c(rcrc, b->p + off + 4, 4);
		off += STORE_WAL_REC_HDR + len;
	}
	for (int i = 0; i < 8; i++) {
		body[i] = (unsigned char)(gen >> (8 * i));
		body[8 + i] = (unsigned char)((uint64_t)(b->len - start) >> (8 * i));
	}
	for (int i = 0; i < 4; i++) {
		body[16 + i] = (unsigned char)(n >> (8 * i));
		body[20 + i] = (unsigned char)(rcrc >> (8 * i));
	}
	sb_le(b, STORE_WAL_COMMIT_MARK, 4);
	sb_le(b, crc32c(0, body, sizeof(body)), 4);
	sb_put(b, body, sizeof(body));
	return start;
}

/* Writes b as segment gen of statedir (created when missing). */
static void
sb_write(const struct segbuf *b, unsigned long long gen)
{
	char path[PATH_MAX];
	int fd;

	(void)mkdir(statedir, 0700);
	seg_path(path, sizeof(path), gen);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, b->p, b->len), (ssize_t)b->len);
	close(fd);
}

/* Records "rec-<i>" (i from first) into names/r. */
static void
make_recs(char names[][16], struct rec *r, int first, int n)
{
	for (int i = 0; i < n; i++) {
		snprintf(names[i], 16, "rec-%d", first + i);
		r[i] = (struct rec){ names[i], strlen(names[i]) };
	}
}

#define BIG_REC 3000	/* three of them make a commit span pages */

/*
 * A power loss in the last group commit wrote a later page of it (a record
 * and the commit record) but not an earlier one (zeros): the commit is
 * dropped whole with one warning naming the file and offset, everything
 * before it is kept and the store takes appends afterwards.
 */
START_TEST(test_torn_commit_hole)
{
	static char big[3][BIG_REC];
	char names[4][16], err[512], path[PATH_MAX], want[128];
	struct segbuf b = { 0 };
	struct rec r[4];
	struct got g = { 0 };
	struct store *s;
	size_t c3;

	sb_header(&b, "CMWALv02", 1);
	make_recs(names, r, 0, 2);
	sb_commit(&b, 1, r, 2);
	make_recs(names, r, 2, 1);
	sb_commit(&b, 1, r, 1);
	for (int i = 0; i < 3; i++) {
		memset(big[i], 'a' + i, BIG_REC);
		r[i] = (struct rec){ big[i], BIG_REC };
	}
	make_recs(names, r + 3, 3, 1);
	c3 = sb_commit(&b, 1, r, 4);
	ck_assert_uint_lt(c3, 4096);
	ck_assert_uint_gt(b.len, 8192);
	memset(b.p + 4096, 0, 4096);	/* the second page never reached the disk */
	sb_write(&b, 1);
	seg_path(path, sizeof(path), 1);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 3);
	ck_assert_int_eq(g.warnings, 1);
	ck_assert_msg(strstr(g.warn, path) != NULL, "warning: %s", g.warn);
	snprintf(want, sizeof(want), "torn last group commit at byte offset %zu dropped", c3);
	ck_assert_msg(strstr(g.warn, want) != NULL, "warning: %s", g.warn);
	ck_assert_int_eq(file_size(path), (off_t)c3);
	got_finish(&g);
	append_n(s, 3, 4);
	store_close(s);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 7);
	ck_assert_int_eq(g.warnings, 0);
	got_finish(&g);
	store_close(s);
	free(b.p);
}
END_TEST

/*
 * Damage followed by a complete group commit: that commit was written
 * after the damaged one was fsync'd, so acknowledged data is bad and
 * recovery refuses, naming the file and the offset, cutting nothing. The
 * same when only a torn commit follows a damaged one whose commit record
 * is intact (BAD_BEFORE_TORN): the torn one was begun, so the one before
 * it had been acknowledged.
 */
enum corrupt_kind { BAD_PAYLOAD, BAD_COMMIT_REC, BAD_HOLE, BAD_OTHER_GEN, BAD_BEFORE_TORN,
	BAD_NKINDS };

START_TEST(test_corrupt_mid_commit)
{
	enum corrupt_kind kind = (enum corrupt_kind)_i;
	char names[3][16], err[512], path[PATH_MAX], want[128];
	struct segbuf b = { 0 };
	struct rec r[3];
	struct got g = { 0 };
	struct store *s;
	size_t c2, c3, bad = 0;

	sb_header(&b, "CMWALv02", 1);
	make_recs(names, r, 0, 1);
	sb_commit(&b, 1, r, 1);
	make_recs(names, r, 1, 2);
	c2 = sb_commit(&b, 1, r, 2);
	make_recs(names, r, 3, 1);
	c3 = sb_commit(&b, 1, r, 1);
	make_recs(names, r, 4, 1);
	sb_commit(&b, 1, r, 1);
	switch (kind) {
	case BAD_BEFORE_TORN:
		b.len = c3 + STORE_WAL_REC_HDR + 2;
		/* FALLTHROUGH */
	case BAD_PAYLOAD:	/* rec-2 */
		bad = c2 + STORE_WAL_REC_HDR + 5;
		b.p[bad + STORE_WAL_REC_HDR + 1] ^= 0x10;
		break;
	case BAD_COMMIT_REC:
		bad = c2 + 2 * (STORE_WAL_REC_HDR + 5);
		b.p[bad + 12] ^= 0x01;
		break;
	case BAD_HOLE:
		bad = c2;
		memset(b.p + c2, 0, 2 * (STORE_WAL_REC_HDR + 5) + STORE_WAL_COMMIT_REC);
		break;
	case BAD_OTHER_GEN: {
		/* A commit record copied from another segment. */
		struct segbuf o = { 0 };
		sb_header(&o, "CMWALv02", 7);
		make_recs(names, r, 1, 2);
		sb_commit(&o, 7, r, 2);
		ck_assert_uint_eq(o.len, b.len - c2 - 2 * ONE_COMMIT(5) + STORE_WAL_SEG_HDR);
		bad = c2 + 2 * (STORE_WAL_REC_HDR + 5);
		memcpy(b.p + bad, o.p + o.len - STORE_WAL_COMMIT_REC, STORE_WAL_COMMIT_REC);
		free(o.p);
		break;
	}
	default:
		ck_abort();
	}
	sb_write(&b, 1);
	seg_path(path, sizeof(path), 1);

	err[0] = '\0';
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, path) != NULL, "err: %s", err);
	snprintf(want, sizeof(want), "corrupt at byte offset %zu: ", bad);
	ck_assert_msg(strstr(err, want) != NULL, "err: %s", err);
	ck_assert_msg(strstr(err, "acknowledged") != NULL, "err: %s", err);
	ck_assert_int_eq(file_size(path), (off_t)b.len);	/* nothing cut */
	/* Only records before the damage were visited (the caller drops them). */
	ck_assert_uint_ge(g.n, 1);
	ck_assert_uint_le(g.n, 3);
	for (size_t i = 0; i < g.n; i++) {
		snprintf(want, sizeof(want), "rec-%zu", i);
		ck_assert_str_eq(g.recs[i], want);
	}
	ck_assert_int_eq(g.warnings, 0);
	ck_assert_int_eq(store_append(s, "x", 1, &(uint64_t){ 0 }), -EINVAL);
	got_finish(&g);
	store_close(s);
	free(b.p);
}
END_TEST

/*
 * More torn last commits, written by hand: records without their commit
 * record, a torn record, a commit record torn off, garbage in place of the
 * commit record. Each drops the last commit only.
 */
enum tornc_kind { TC_NO_COMMIT_REC, TC_CUT_RECORD, TC_CUT_COMMIT_REC, TC_GARBAGE_REC,
	TC_NKINDS };

START_TEST(test_torn_commit_kinds)
{
	enum tornc_kind kind = (enum tornc_kind)_i;
	char names[3][16], err[512], path[PATH_MAX], want[128];
	struct segbuf b = { 0 };
	struct rec r[3];
	struct got g = { 0 };
	struct store *s;
	size_t c2;

	sb_header(&b, "CMWALv02", 1);
	make_recs(names, r, 0, 2);
	sb_commit(&b, 1, r, 2);
	make_recs(names, r, 2, 3);
	c2 = b.len;
	switch (kind) {
	case TC_NO_COMMIT_REC:
		sb_records(&b, r, 3);
		break;
	case TC_CUT_RECORD:
		sb_records(&b, r, 3);
		b.len -= 2;
		break;
	case TC_CUT_COMMIT_REC:
		sb_commit(&b, 1, r, 3);
		b.len -= 5;
		break;
	case TC_GARBAGE_REC:
		sb_commit(&b, 1, r, 3);
		memset(b.p + b.len - STORE_WAL_COMMIT_REC, 0xa5, STORE_WAL_COMMIT_REC);
		break;
	default:
		ck_abort();
	}
	sb_write(&b, 1);
	seg_path(path, sizeof(path), 1);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 2);
	ck_assert_int_eq(g.warnings, 1);
	snprintf(want, sizeof(want), "byte offset %zu dropped", c2);
	ck_assert_msg(strstr(g.warn, want) != NULL, "warning: %s", g.warn);
	ck_assert_int_eq(file_size(path), (off_t)c2);
	got_finish(&g);
	store_close(s);
	free(b.p);
}
END_TEST

/* Damage in a segment older than the newest is corruption, torn or not. */
START_TEST(test_corrupt_older_segment)
{
	char names[2][16], err[512], path[PATH_MAX];
	struct segbuf b = { 0 }, b2 = { 0 };
	struct rec r[2];
	struct got g = { 0 };
	struct store *s;

	sb_header(&b, "CMWALv02", 1);
	make_recs(names, r, 0, 2);
	sb_commit(&b, 1, r, 2);
	make_recs(names, r, 2, 1);
	sb_records(&b, r, 1);	/* a commit without its commit record */
	sb_write(&b, 1);
	sb_header(&b2, "CMWALv02", 2);
	sb_write(&b2, 2);
	seg_path(path, sizeof(path), 1);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, path) != NULL, "err: %s", err);
	ck_assert_msg(strstr(err, "older than the newest") != NULL, "err: %s", err);
	got_finish(&g);
	store_close(s);
	free(b.p);
	free(b2.p);
}
END_TEST

/*
 * A v01 segment (records, no commit records, as written before them) is
 * still read, its torn tail dropped as before; new records go to a v02
 * segment beside it.
 */
START_TEST(test_v1_segment)
{
	char names[3][16], err[512], path[PATH_MAX], hdr[8];
	struct segbuf b = { 0 };
	struct rec r[3];
	struct got g = { 0 };
	struct store *s;
	int fd;

	sb_header(&b, "CMWALv01", 1);
	make_recs(names, r, 0, 3);
	sb_records(&b, r, 3);
	b.len -= 2;
	sb_write(&b, 1);
	seg_path(path, sizeof(path), 1);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 2);
	ck_assert_int_eq(g.warnings, 1);
	ck_assert_msg(strstr(g.warn, "torn tail") != NULL, "warning: %s", g.warn);
	got_finish(&g);
	append_n(s, 2, 2);
	store_close(s);

	seg_path(path, sizeof(path), 2);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	close(fd);
	ck_assert_int_eq(memcmp(hdr, "CMWALv02", 8), 0);
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 4);
	ck_assert_int_eq(g.warnings, 0);
	got_finish(&g);
	store_close(s);
	free(b.p);
}
END_TEST

/*
 * Sequence numbers run 1, 2, 3, ... in each open store, and store_wait(n)
 * returning 0 means every record up to n is durable: the lower seqs return
 * 0 at once and are all recovered.
 */
START_TEST(test_seq_prefix)
{
	struct store *s;
	struct got g = { 0 };
	char err[512], buf[16], why[64];
	uint64_t seq;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	for (int i = 0; i < 50; i++) {
		snprintf(buf, sizeof(buf), "rec-%d", i);
		ck_assert_uint_eq(append_str(s, buf), (uint64_t)i + 1);
	}
	ck_assert_int_eq(store_wait(s, 50), 0);
	for (uint64_t i = 1; i < 50; i++)
		ck_assert_int_eq(store_wait(s, i), 0);
	ck_assert_int_eq(store_failure(s, why, sizeof(why)), 0);
	store_close(s);

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	check_recs(&g, 0, 50);
	got_finish(&g);
	ck_assert_int_eq(store_append(s, "again", 5, &seq), 0);
	ck_assert_uint_eq(seq, 1);
	ck_assert_int_eq(store_wait(s, seq), 0);
	store_close(s);
}
END_TEST

/* The fake: recovery, seqs, shared commits, snapshots, stats. */
START_TEST(test_fake_basic)
{
	struct store_stats st;
	struct store *s;
	struct got g = { 0 };
	char err[128], why[64] = "untouched";
	uint64_t seq, gen;

	ck_assert_int_eq(store_open_fake(&s), 0);
	ck_assert_int_eq(store_append(s, "x", 1, &seq), -EINVAL);	/* before recover */
	ck_assert_int_eq(store_recover(s, on_snapshot, on_record, &g, on_warn, &g, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_int_eq(g.nsnap, 0);
	ck_assert_int_eq(store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)),
	    -EINVAL);
	ck_assert_int_eq(store_append(s, "x", 0, &seq), -EINVAL);
	ck_assert_int_eq(store_append(s, "x", (size_t)LIMIT_RECORD_BYTES + 1, &seq), -E2BIG);
	for (uint64_t i = 1; i <= 3; i++)
		ck_assert_uint_eq(append_str(s, "abcde"), i);
	ck_assert_int_eq(store_wait(s, 4), -EINVAL);
	ck_assert_int_eq(store_wait(s, 3), 0);	/* one commit for all three */
	ck_assert_int_eq(store_wait(s, 1), 0);
	ck_assert_int_eq(store_wait(s, 2), 0);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.fsyncs, 1);
	ck_assert_uint_eq(st.appended_records, 3);
	ck_assert_uint_eq(st.appended_bytes, 15);
	ck_assert_uint_eq(st.log_records, 3);
	ck_assert_int_eq(st.failed, 0);

	ck_assert_int_eq(store_snapshot_begin(s, &gen), 0);
	ck_assert_uint_eq(gen, 2);
	ck_assert_int_eq(store_wait(s, append_str(s, "after")), 0);
	ck_assert_int_eq(store_snapshot_commit(s, gen, "SNAP", 4), 0);
	ck_assert_int_eq(store_snapshot_commit(s, gen, "SNAP", 4), -EINVAL);
	ck_assert_int_eq(store_snapshot_commit(s, gen + 1, "SNAP", 4), -EINVAL);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.log_records, 1);
	ck_assert_uint_eq(st.log_bytes, STORE_WAL_REC_HDR + 5);
	ck_assert_int_eq(store_failure(s, why, sizeof(why)), 0);
	ck_assert_str_eq(why, "untouched");
	store_close(s);
	got_finish(&g);

	/* store_fake_fail on a WAL store does nothing. */
	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	store_fake_fail(s, STORE_FAULT_APPEND);
	append_n(s, 0, 1);
	store_close(s);
	got_finish(&g);
}
END_TEST

/*
 * FSYNC: appends still queue, the next commit fails: every record not yet
 * durable gets -EIO, the durable ones 0; later appends -EIO; NONE does not
 * revive the store.
 */
START_TEST(test_fake_fsync_fault)
{
	struct store_stats st;
	struct store *s;
	char err[128], why[128];
	uint64_t seq, gen;

	ck_assert_int_eq(store_open_fake(&s), 0);
	ck_assert_int_eq(store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_wait(s, append_str(s, "rec-0")), 0);
	ck_assert_uint_eq(append_str(s, "rec-1"), 2);
	store_fake_fail(s, STORE_FAULT_FSYNC);
	ck_assert_uint_eq(append_str(s, "rec-2"), 3);
	ck_assert_int_eq(store_failure(s, why, sizeof(why)), 0);
	ck_assert_int_eq(store_wait(s, 2), -EIO);
	ck_assert_int_eq(store_wait(s, 3), -EIO);
	ck_assert_int_eq(store_wait(s, 2), -EIO);
	ck_assert_int_eq(store_wait(s, 1), 0);
	ck_assert_int_eq(store_append(s, "rec-3", 5, &seq), -EIO);
	ck_assert_int_eq(store_snapshot_begin(s, &gen), -EIO);
	store_get_stats(s, &st);
	ck_assert_int_eq(st.failed, 1);
	ck_assert_int_eq(store_failure(s, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "fsync") != NULL, "why: %s", why);
	store_fake_fail(s, STORE_FAULT_NONE);
	ck_assert_int_eq(store_append(s, "rec-3", 5, &seq), -EIO);
	ck_assert_int_eq(store_wait(s, 3), -EIO);
	store_close(s);
}
END_TEST

/* APPEND: the append fails with -EIO and the store is failed. */
START_TEST(test_fake_append_fault)
{
	struct store *s;
	char err[128], why[128];
	uint64_t seq;

	ck_assert_int_eq(store_open_fake(&s), 0);
	ck_assert_int_eq(store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(append_str(s, "rec-0"), 1);
	ck_assert_int_eq(store_wait(s, 1), 0);
	ck_assert_uint_eq(append_str(s, "rec-1"), 2);
	store_fake_fail(s, STORE_FAULT_APPEND);
	ck_assert_int_eq(store_append(s, "rec-2", 5, &seq), -EIO);
	ck_assert_int_eq(store_failure(s, why, sizeof(why)), 1);
	ck_assert_msg(strstr(why, "append") != NULL, "why: %s", why);
	ck_assert_int_eq(store_wait(s, 2), -EIO);	/* not durable before the failure */
	ck_assert_int_eq(store_wait(s, 1), 0);
	store_fake_fail(s, STORE_FAULT_NONE);
	ck_assert_int_eq(store_append(s, "rec-2", 5, &seq), -EIO);
	store_close(s);
	store_close(NULL);
}
END_TEST

#define FAKE_THREADS 4

/* Concurrent appenders and waiters on the fake: each commit covers a prefix. */
START_TEST(test_fake_concurrent)
{
	struct conc_arg args[FAKE_THREADS];
	pthread_t th[FAKE_THREADS];
	struct store_stats st;
	struct store *s;
	char err[128];

	ck_assert_int_eq(store_open_fake(&s), 0);
	ck_assert_int_eq(store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err)), 0);
	for (int i = 0; i < FAKE_THREADS; i++) {
		args[i] = (struct conc_arg){ s, i, 0 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, conc_main, &args[i]), 0);
	}
	for (int i = 0; i < FAKE_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(args[i].rc, 0);
	}
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.appended_records, FAKE_THREADS * CONC_PER_THREAD);
	ck_assert_uint_le(st.fsyncs, FAKE_THREADS * CONC_PER_THREAD);
	store_close(s);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *su = suite_create("store");
	TCase *tc = tcase_create("wal");
	TCase *fake = tcase_create("fake");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_append_before_recover);
	tcase_add_test(tc, test_concurrent);
	tcase_add_loop_test(tc, test_torn_tail, 0, TORN_NKINDS);
	tcase_add_test(tc, test_corrupt_early);
	tcase_add_test(tc, test_torn_commit_hole);
	tcase_add_loop_test(tc, test_corrupt_mid_commit, 0, BAD_NKINDS);
	tcase_add_loop_test(tc, test_torn_commit_kinds, 0, TC_NKINDS);
	tcase_add_test(tc, test_corrupt_older_segment);
	tcase_add_test(tc, test_v1_segment);
	tcase_add_test(tc, test_seq_prefix);
	tcase_add_test(tc, test_gap);
	tcase_add_test(tc, test_snapshot);
	tcase_add_test(tc, test_snapshot_live);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_write_failure);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_fake_basic);
	suite_add_tcase(su, tc);

	tcase_set_timeout(fake, 60);
	tcase_add_test(fake, test_fake_fsync_fault);
	tcase_add_test(fake, test_fake_append_fault);
	tcase_add_test(fake, test_fake_concurrent);
	suite_add_tcase(su, fake);
	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
