/*
 * Unit tests: the store and its WAL backend. Round trips, group commit
 * under concurrent appenders, torn tails, corruption, snapshots, the state
 * dir lock, a failing disk (RLIMIT_FSIZE) and a SIGKILL'd appender.
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

#include "clusterm/store.h"
#include "clusterm/store_wal.h"
#include "cm_limits.h"

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
enum torn_kind { TORN_MID_HEADER, TORN_MID_PAYLOAD, TORN_GARBAGE, TORN_ZEROS,
	TORN_SEG_HEADER, TORN_NKINDS };

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
	append_n(s, 0, 10);	/* "rec-0".."rec-9": 5 bytes each */
	store_close(s);
	seg_path(path, sizeof(path), seg);
	size = file_size(path);
	ck_assert_int_eq(size, STORE_WAL_SEG_HDR + 10 * (STORE_WAL_REC_HDR + 5));

	switch (kind) {
	case TORN_MID_HEADER:
		tail_off = size - (STORE_WAL_REC_HDR + 5);
		ck_assert_int_eq(truncate(path, tail_off + 4), 0);
		kept = 9;
		break;
	case TORN_MID_PAYLOAD:
		tail_off = size - (STORE_WAL_REC_HDR + 5);
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
	off_t rec2 = STORE_WAL_SEG_HDR + 2 * (STORE_WAL_REC_HDR + 5), size;
	unsigned char c;
	int fd;

	ck_assert_int_eq(open_recover(&s, &g, err, sizeof(err)), 0);
	append_n(s, 0, 10);
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
		ok &= store_append(s, big, sizeof(big), &s2) == 0;
		ok &= store_wait(s, s2) == -EIO;
		ok &= store_append(s, "rec-1", 5, &s3) == -EIO;
		ok &= store_wait(s, s1) == 0;
		ok &= store_snapshot_begin(s, &s3) == -EIO;
		store_get_stats(s, &st);
		ok &= st.failed == 1;
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

static Suite *
store_suite(void)
{
	Suite *su = suite_create("store");
	TCase *tc = tcase_create("wal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_append_before_recover);
	tcase_add_test(tc, test_concurrent);
	tcase_add_loop_test(tc, test_torn_tail, 0, TORN_NKINDS);
	tcase_add_test(tc, test_corrupt_early);
	tcase_add_test(tc, test_gap);
	tcase_add_test(tc, test_snapshot);
	tcase_add_test(tc, test_snapshot_live);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_write_failure);
	tcase_add_test(tc, test_crash);
	suite_add_tcase(su, tc);
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
