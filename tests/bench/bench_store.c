/*
 * Store benchmark: durable records/s with 1, 8 and 64 appending threads
 * (each appends a 100-byte record and waits for it), fsyncs/s, and the
 * time store_recover() takes for 1M records.
 *
 * bench_store [DIR] [SECONDS]: DIR (default a new /tmp dir, removed after)
 * should be on the file system under test; SECONDS per thread count
 * (default 3).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clusterm/store/store.h"

#define REC_BYTES 100
#define RECOVERY_RECORDS 1000000

struct worker {
	struct store *s;
	atomic_bool *stop;
	uint64_t done;
	int rc;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fill(char *buf, uint64_t i)
{
	memset(buf, 'x', REC_BYTES);
	(void)snprintf(buf, REC_BYTES, "record-%llu", (unsigned long long)i);
}

static void *
worker_main(void *p)
{
	struct worker *w = p;
	char buf[REC_BYTES];

	while (!atomic_load(w->stop)) {
		uint64_t seq;
		fill(buf, w->done);
		w->rc = store_append(w->s, buf, sizeof(buf), &seq);
		if (w->rc == 0)
			w->rc = store_wait(w->s, seq);
		if (w->rc != 0)
			break;
		w->done++;
	}
	return NULL;
}

static int
open_fresh(const char *dir, struct store **ret)
{
	char err[512];
	struct store *s;
	int r;

	r = store_open(dir, &s, err, sizeof(err));
	if (r == 0) {
		r = store_recover(s, NULL, NULL, NULL, NULL, NULL, err, sizeof(err));
		if (r < 0)
			store_close(s);
	}
	if (r < 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		return r;
	}
	*ret = s;
	return 0;
}

static int
bench_threads(const char *base, int nthreads, double secs)
{
	struct worker *w;
	pthread_t *th;
	atomic_bool stop = false;
	struct store_stats st;
	struct store *s;
	char dir[PATH_MAX];
	uint64_t total = 0;
	double t0, t1;
	int r = 0;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/threads-%d", base, nthreads) >=
	    sizeof(dir) || open_fresh(dir, &s) < 0)
		return 1;
	w = calloc((size_t)nthreads, sizeof(*w));
	th = calloc((size_t)nthreads, sizeof(*th));
	if (w == NULL || th == NULL)
		return 1;
	t0 = now_s();
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ s, &stop, 0, 0 };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
	nanosleep(&ts, NULL);	/* the measuring interval itself */
	atomic_store(&stop, true);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].done;
		if (w[i].rc != 0)
			r = 1;
	}
	t1 = now_s();
	store_get_stats(s, &st);
	store_close(s);
	printf("durable append, %2d threads: %9.0f records/s, %7.0f fsyncs/s, "
	    "%6.1f records/fsync, fsync mean %.3f ms\n", nthreads,
	    (double)total / (t1 - t0), (double)st.fsyncs / (t1 - t0),
	    st.fsyncs ? (double)total / (double)st.fsyncs : 0.0,
	    st.fsyncs ? st.fsync_sum_s / (double)st.fsyncs * 1e3 : 0.0);
	free(w);
	free(th);
	return r;
}

static int
count_record(const void *buf, size_t len, void *arg)
{
	uint64_t *n = arg;

	(void)buf;
	(*n) += len == REC_BYTES;
	return 0;
}

static int
bench_recovery(const char *base)
{
	char dir[PATH_MAX], err[512], buf[REC_BYTES];
	struct store *s;
	uint64_t seq = 0, n = 0;
	double t0, t1, t2;
	int r;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/recovery", base) >= sizeof(dir) ||
	    open_fresh(dir, &s) < 0)
		return 1;
	t0 = now_s();
	for (uint64_t i = 0; i < RECOVERY_RECORDS; i++) {
		fill(buf, i);
		r = store_append(s, buf, sizeof(buf), &seq);
		if (r < 0)
			return 1;
	}
	t1 = now_s();
	r = store_wait(s, seq);
	t2 = now_s();
	store_close(s);
	if (r < 0)
		return 1;
	printf("bulk append: %d records of %d bytes queued in %.3f s (%.0f ns each), "
	    "durable after %.3f s\n", RECOVERY_RECORDS, REC_BYTES, t1 - t0,
	    (t1 - t0) / RECOVERY_RECORDS * 1e9, t2 - t0);

	r = store_open(dir, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 1;
	}
	t0 = now_s();
	r = store_recover(s, NULL, count_record, &n, NULL, NULL, err, sizeof(err));
	t1 = now_s();
	store_close(s);
	if (r < 0 || n != RECOVERY_RECORDS) {
		fprintf(stderr, "bench_store: recovery: %d, %llu records: %s\n", r,
		    (unsigned long long)n, err);
		return 1;
	}
	printf("recovery: %llu records (%.1f MB) in %.3f s (%.0f records/s)\n",
	    (unsigned long long)n, (double)n * (REC_BYTES + 8) / 1e6, t1 - t0,
	    (double)n / (t1 - t0));
	return 0;
}

int
main(int argc, char **argv)
{
	static const int threads[] = { 1, 8, 64 };
	char base[PATH_MAX];
	double secs = 3;
	bool made = false;
	int rc = 0;

	if (argc > 3) {
		fprintf(stderr, "usage: bench_store [DIR] [SECONDS]\n");
		return 1;
	}
	if (argc > 2) {
		char *end;
		errno = 0;
		secs = strtod(argv[2], &end);
		if (errno != 0 || *end != '\0' || secs <= 0 || secs > 600) {
			fprintf(stderr, "bench_store: bad SECONDS %s\n", argv[2]);
			return 1;
		}
	}
	if (argc > 1) {
		if ((size_t)snprintf(base, sizeof(base), "%s/bench-store-XXXXXX", argv[1]) >=
		    sizeof(base))
			return 1;
	} else
		snprintf(base, sizeof(base), "/tmp/bench-store-XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("bench_store: mkdtemp");
		return 1;
	}
	made = true;
	printf("store benchmark in %s, %d-byte records\n", base, REC_BYTES);
	for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
		rc |= bench_threads(base, threads[i], secs);
	rc |= bench_recovery(base);
	if (made)
		rm_rf(base);
	return rc;
}
