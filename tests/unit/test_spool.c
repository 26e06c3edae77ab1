/*
 * Unit tests: spool records, queue order, the sequence counter, compaction,
 * the lock, and the replay (against a tiny HTTP server thread) skipping and
 * reporting corrupt records while delivering the rest in order.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "deliver.h"
#include "crc32c.h"
#include "fsio.h"
#include "fuzz_regress.h"
#include "httpc.h"
#include "spool.h"

static char dir[PATH_MAX];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_spool.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
make_batch(struct batch *b, enum report_kind kind, const char *label, const char *addr,
    int nreports)
{
	batch_init(b);
	b->kind = kind;
	b->reporter = strdup("rep1");
	b->t_ms = fsio_now_ms();
	for (int i = 0; i < nreports; i++) {
		struct report r;
		char lab[64];
		report_init(&r);
		snprintf(lab, sizeof(lab), "%s%s%d", label, nreports > 1 ? "-" : "", i);
		ck_assert_int_eq(report_set(&r, REPORT_KEY_LABEL, nreports > 1 ? lab : label), 0);
		ck_assert_int_eq(report_set(&r, REPORT_KEY_ADDR, addr), 0);
		ck_assert_int_eq(report_set(&r, REPORT_KEY_NAME, nreports > 1 ? lab : label), 0);
		ck_assert_int_eq(report_set(&r, "rack", "r,1=x"), 0);
		ck_assert_int_eq(batch_add(b, &r), 0);
	}
}

START_TEST(test_record_roundtrip)
{
	struct batch b, d;
	char *buf;
	size_t len;

	make_batch(&b, REPORT_KIND_DISAPPEARED, "n", "10.0.0.1", 3);
	snprintf(b.epoch, sizeof(b.epoch), "abc");
	b.seq = 42;
	ck_assert_int_eq(spool_record_encode(&b, &buf, &len), 0);
	ck_assert_int_eq(spool_record_decode(buf, len, &d), 0);
	ck_assert_int_eq(d.kind, REPORT_KIND_DISAPPEARED);
	ck_assert_str_eq(d.epoch, "abc");
	ck_assert_uint_eq(d.seq, 42);
	ck_assert_str_eq(d.reporter, "rep1");
	ck_assert_int_eq(d.t_ms, b.t_ms);
	ck_assert_uint_eq(d.n, 3);
	for (size_t i = 0; i < 3; i++)
		ck_assert(report_equal(&b.reports[i], &d.reports[i]));
	batch_finish(&d);
	/* every single flipped byte and every truncation is caught */
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x40;
		ck_assert_int_eq(spool_record_decode(buf, len, &d), -EBADMSG);
		buf[i] ^= 0x40;
		ck_assert_int_eq(spool_record_decode(buf, i, &d), -EBADMSG);
	}
	free(buf);
	batch_finish(&b);
}
END_TEST

START_TEST(test_push_list_order)
{
	struct spool *sp;
	struct spool_entry *e;
	struct batch b;
	size_t n;
	unsigned long long last = 0;

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	for (int i = 0; i < 12; i++) {
		char lab[16];
		snprintf(lab, sizeof(lab), "n%d", i);
		make_batch(&b, REPORT_KIND_DISCOVERED, lab, "10.0.0.1", 1);
		ck_assert_int_eq(spool_assign(sp, &b), 0);
		ck_assert_uint_gt(b.seq, last);
		last = b.seq;
		ck_assert_int_eq(spool_push(sp, &b, 1 << 20, NULL), 0);
		batch_finish(&b);
	}
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	ck_assert_uint_eq(n, 12);
	for (size_t i = 0; i < n; i++) {
		char lab[32];
		ck_assert_int_eq(spool_load(sp, &e[i], &b), 0);
		snprintf(lab, sizeof(lab), "n%zu", i);
		ck_assert_str_eq(b.reports[0].label, lab);
		batch_finish(&b);
	}
	ck_assert_int_eq(spool_drop(sp, &e[0]), 0);
	free(e);
	spool_close(sp);

	struct spool_status st;
	ck_assert_int_eq(spool_status(dir, &st), 0);
	ck_assert_uint_eq(st.depth, 11);
	ck_assert_int_ge(st.oldest_ms, 0);
	ck_assert_str_eq(st.last_error, "");
}
END_TEST

/* The incoming/ file names, sorted (dot files left out). */
static size_t
incoming_names(char names[][128], size_t max)
{
	char path[PATH_MAX + 16];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/incoming", dir);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < max)
		if (de->d_name[0] != '.')
			snprintf(names[n++], 128, "%.127s", de->d_name);
	closedir(d);
	qsort(names, n, 128, (int (*)(const void *, const void *))strcmp);
	return n;
}

static int
collect(const struct batch *b, void *arg)
{
	char *labels = arg;
	size_t len = strlen(labels);

	snprintf(labels + len, 256 - len, "%s%s", len ? "," : "", b->reports[0].label);
	return 0;
}

/*
 * Batches written without the lock are absorbed in writing order (an
 * earlier boot's first), numbered after the queue; a corrupt one is moved
 * aside; one numbered by a crashed absorb keeps its number.
 */
START_TEST(test_incoming_absorb)
{
	char names[8][128], from[PATH_MAX + 256], to[PATH_MAX + 256], labels[256] = "";
	const char *want[] = { "q0", "q1", "old", "i0", "i1", "i2" };
	struct spool_status st;
	struct spool_entry *e;
	struct spool *sp;
	struct batch b;
	size_t n, moved = 0;
	bool compacted = true;
	int fd;

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	for (int i = 0; i < 2; i++) {
		make_batch(&b, REPORT_KIND_DISCOVERED, i ? "q1" : "q0", "10.0.0.1", 1);
		ck_assert_int_eq(spool_assign(sp, &b), 0);
		ck_assert_int_eq(spool_push(sp, &b, 1 << 20, NULL), 0);
		batch_finish(&b);
	}
	/* Runs that found the lock held (sp holds it). */
	make_batch(&b, REPORT_KIND_DISCOVERED, "old", "10.0.0.1", 1);
	ck_assert_int_eq(spool_incoming_write(dir, &b), 0);
	batch_finish(&b);
	for (int i = 0; i < 3; i++) {
		char lab[8];
		snprintf(lab, sizeof(lab), "i%d", i);
		make_batch(&b, REPORT_KIND_DISCOVERED, lab, "10.0.0.1", 1);
		ck_assert_int_eq(spool_incoming_write(dir, &b), 0);
		batch_finish(&b);
	}
	ck_assert_uint_eq(incoming_names(names, 8), 4);
	/* "old" was written in an earlier boot: other boot id, older mtime. */
	snprintf(from, sizeof(from), "%s/incoming/%s", dir, names[0]);
	snprintf(to, sizeof(to), "%s/incoming/%.39sffffffffffffffffffffffffffffffff.b", dir,
	    names[0]);
	ck_assert_int_eq(rename(from, to), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, to, (struct timespec[2]){ { 1000, 0 }, { 1000, 0 } },
	    0), 0);
	/* A torn file under a valid name. */
	snprintf(to, sizeof(to), "%s/incoming/%.39s00000000000000000000000000000000.b", dir,
	    names[1]);
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x10\0\0\0junk", 8), 8);
	close(fd);

	ck_assert_int_eq(spool_status(dir, &st), 0);
	ck_assert_uint_eq(st.depth, 2 + 5);
	/* Past its deadline it moves nothing and says batches remain. */
	ck_assert_int_eq(spool_absorb(sp, 1 << 20, fsio_mono_ms() - 1, collect, labels, &moved,
	    &compacted), -EAGAIN);
	ck_assert_uint_eq(moved, 0);
	ck_assert_str_eq(labels, "");
	ck_assert_int_eq(spool_absorb(sp, 1 << 20, fsio_mono_ms() + 10000, collect, labels,
	    &moved, &compacted), 0);
	ck_assert_uint_eq(moved, 4);
	ck_assert(!compacted);
	ck_assert_str_eq(labels, "old,i0,i1,i2");
	ck_assert_uint_eq(spool_ncorrupt(sp), 1);
	ck_assert_uint_eq(incoming_names(names, 8), 0);
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	ck_assert_uint_eq(n, 6);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(spool_load(sp, &e[i], &b), 0);
		ck_assert_str_eq(b.reports[0].label, want[i]);
		ck_assert_uint_eq(b.seq, e[i].seq);
		ck_assert_str_ne(b.epoch, "");
		batch_finish(&b);
	}
	free(e);

	/* Numbered, then the absorb died before the rename: the number stays. */
	make_batch(&b, REPORT_KIND_DISAPPEARED, "crashed", "10.0.0.1", 1);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	ck_assert_int_eq(spool_incoming_write(dir, &b), 0);
	unsigned long long kept = b.seq;
	batch_finish(&b);
	make_batch(&b, REPORT_KIND_DISCOVERED, "later", "10.0.0.1", 1);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	ck_assert_int_eq(spool_push(sp, &b, 1 << 20, NULL), 0);
	batch_finish(&b);
	ck_assert_int_eq(spool_absorb(sp, 1 << 20, fsio_mono_ms() + 10000, NULL, NULL, &moved,
	    NULL), 0);
	ck_assert_uint_eq(moved, 1);
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq(e[6].seq, kept);
	ck_assert_int_eq(spool_load(sp, &e[6], &b), 0);
	ck_assert_str_eq(b.reports[0].label, "crashed");
	batch_finish(&b);
	free(e);

	/* Over max_bytes: compacted to the newest report per node. */
	make_batch(&b, REPORT_KIND_DISAPPEARED, "q0", "10.0.0.1", 1);
	ck_assert_int_eq(spool_incoming_write(dir, &b), 0);
	batch_finish(&b);
	ck_assert_int_eq(spool_absorb(sp, 200, fsio_mono_ms() + 10000, NULL, NULL, &moved,
	    &compacted), 0);
	ck_assert(compacted);
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	ck_assert_uint_eq(n, 2);	/* one batch per (reporter, kind) */
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(spool_load(sp, &e[i], &b), 0);
		for (size_t j = 0; j < b.n; j++)
			if (strcmp(b.reports[j].label, "q0") == 0)
				ck_assert_int_eq(b.kind, REPORT_KIND_DISAPPEARED);
		batch_finish(&b);
	}
	free(e);
	ck_assert_uint_eq(incoming_names(names, 8), 0);
	spool_close(sp);
}
END_TEST

/* The counter survives a reopen; a seq file from another boot is distrusted. */
START_TEST(test_counter)
{
	struct spool *sp;
	struct batch b;
	char path[PATH_MAX + 8], epoch[LIMIT_EPOCH_LEN + 1];
	unsigned long long s1, s2, s3;
	FILE *f;

	batch_init(&b);
	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	s1 = b.seq;
	snprintf(epoch, sizeof(epoch), "%s", b.epoch);
	ck_assert_uint_gt(strlen(epoch), 8);
	spool_close(sp);

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	s2 = b.seq;
	ck_assert_uint_eq(s2, s1 + 1);
	ck_assert_str_eq(b.epoch, epoch);
	spool_close(sp);

	snprintf(path, sizeof(path), "%s/seq", dir);
	f = fopen(path, "w");
	fprintf(f, "%llu some-other-boot\n", s2 + 1);
	fclose(f);
	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	s3 = b.seq;
	ck_assert_uint_gt(s3, s2 + 1000);	/* resumed at the reserved bound */
	ck_assert_str_eq(b.epoch, epoch);
	spool_close(sp);
}
END_TEST

START_TEST(test_lock)
{
	struct spool *a, *b;
	long long t0;

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &a), 0);
	t0 = fsio_mono_ms();
	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 100, &b), -EWOULDBLOCK);
	ck_assert_int_lt(fsio_mono_ms() - t0, 1000);
	spool_close(a);
	ck_assert_int_eq(spool_open(dir, fsio_mono_ms(), &b), 0);
	spool_close(b);
}
END_TEST

/* Over spool_max_bytes: newest report per node, of either kind, survives. */
START_TEST(test_compaction)
{
	struct spool *sp;
	struct spool_entry *e;
	struct batch b;
	size_t n, total = 0;
	bool compacted = false, any = false;

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	for (int round = 0; round < 30; round++) {
		for (int node = 0; node < 3; node++) {
			char lab[16], addr[32];
			snprintf(lab, sizeof(lab), "node%d", node);
			snprintf(addr, sizeof(addr), "10.0.%d.%d", node, round);
			make_batch(&b, (round + node) % 2 ? REPORT_KIND_DISAPPEARED :
			    REPORT_KIND_DISCOVERED, lab, addr, 1);
			ck_assert_int_eq(spool_assign(sp, &b), 0);
			ck_assert_int_eq(spool_push(sp, &b, 2000, &compacted), 0);
			any = any || compacted;
			batch_finish(&b);
		}
	}
	ck_assert(any);
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(spool_load(sp, &e[i], &b), 0);
		for (size_t j = 0; j < b.n; j++) {
			/* the last round for node k is 29, its kind (29 + k) % 2 */
			int node = b.reports[j].label[4] - '0';
			char addr[32];
			snprintf(addr, sizeof(addr), "10.0.%d.29", node);
			if (strcmp(b.reports[j].addr, addr) == 0) {
				ck_assert_int_eq(b.kind, (29 + node) % 2 ? REPORT_KIND_DISAPPEARED :
				    REPORT_KIND_DISCOVERED);
				total++;
			}
		}
		batch_finish(&b);
	}
	ck_assert_uint_eq(total, 3);	/* every node's latest state is there */
	free(e);
	spool_close(sp);
}
END_TEST

/* ---- a tiny HTTP server: answers 200, records bodies and seq headers ---- */

struct srv {
	int fd, port;
	int status;
	char bodies[32][4096];
	char seqs[32][32];
	int n;
	pthread_t th;
};

static void *
serve(void *arg)
{
	struct srv *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		char req[16384];
		size_t got = 0;
		char *hend = NULL;
		long clen = 0;
		ssize_t k;

		while (got < sizeof(req) - 1 && (k = read(c, req + got, sizeof(req) - 1 - got)) > 0) {
			got += (size_t)k;
			req[got] = '\0';
			hend = strstr(req, "\r\n\r\n");
			if (hend != NULL) {
				char *cl = strcasestr(req, "Content-Length:");
				clen = cl ? strtol(cl + 15, NULL, 10) : 0;
				if ((long)(got - (size_t)(hend + 4 - req)) >= clen)
					break;
			}
		}
		if (hend != NULL && s->n < 32) {
			char *sq = strcasestr(req, "X-Reporter-Seq:");
			snprintf(s->bodies[s->n], sizeof(s->bodies[0]), "%s", hend + 4);
			if (sq != NULL)
				snprintf(s->seqs[s->n], sizeof(s->seqs[0]), "%.*s",
				    (int)strcspn(sq + 16, "\r"), sq + 16);
			s->n++;
		}
		const char *body = "{\"accepted\":1,\"duplicates\":0}";
		dprintf(c, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", s->status,
		    strlen(body), body);
		close(c);
	}
	return NULL;
}

static void
srv_start(struct srv *s, int status)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t al = sizeof(a);

	memset(s, 0, sizeof(*s));
	s->status = status;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s->fd, 16), 0);
	getsockname(s->fd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&s->th, NULL, serve, s), 0);
}

static void
srv_stop(struct srv *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->th, NULL);
}

static void
note(const char *what, unsigned long long seq, const char *detail, void *arg)
{
	(void)seq;
	(void)detail;
	if (strcmp(what, "corrupt") == 0)
		(*(int *)arg)++;
}

START_TEST(test_replay_skips_corrupt)
{
	struct spool *sp;
	struct spool_entry *e;
	struct deliver_stats st;
	struct batch b;
	struct srv srv;
	char url[64], *urls[1] = { url }, path[PATH_MAX + 64];
	size_t n;
	int ncorrupt = 0, fd;

	ck_assert_int_eq(httpc_global_init(), 0);
	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	/* d0 d1 [corrupt d2] d3 g4 d5: merged as (d0 d1) (d3) (g4) (d5) */
	for (int i = 0; i < 6; i++) {
		char lab[16];
		snprintf(lab, sizeof(lab), "n%d", i);
		make_batch(&b, i == 4 ? REPORT_KIND_DISAPPEARED : REPORT_KIND_DISCOVERED, lab,
		    "10.0.0.1", 1);
		ck_assert_int_eq(spool_assign(sp, &b), 0);
		ck_assert_int_eq(spool_push(sp, &b, 1 << 20, NULL), 0);
		batch_finish(&b);
	}
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	snprintf(path, sizeof(path), "%s/q/%s", dir, e[2].name);
	fd = open(path, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "garbage!", 8, 20), 8);
	close(fd);

	srv_start(&srv, 200);
	snprintf(url, sizeof(url), "127.0.0.1:%d", srv.port);
	struct deliver_opts o = { .urls = urls, .nurls = 1,
	    .deadline_ms = fsio_mono_ms() + 5000 };
	ck_assert_int_eq(deliver_spool(sp, &o, &st, note, &ncorrupt), 0);
	srv_stop(&srv);

	ck_assert_int_eq(ncorrupt, 1);
	ck_assert_uint_eq(st.corrupt, 1);
	ck_assert_uint_eq(st.batches, 5);
	ck_assert_uint_eq(st.left, 0);
	ck_assert_int_eq(srv.n, 4);
	ck_assert_ptr_nonnull(strstr(srv.bodies[0], "\"n0\""));
	ck_assert_ptr_nonnull(strstr(srv.bodies[0], "\"n1\""));
	ck_assert(strstr(srv.bodies[0], "\"n0\"") < strstr(srv.bodies[0], "\"n1\""));
	ck_assert_ptr_nonnull(strstr(srv.bodies[1], "\"n3\""));
	ck_assert_ptr_nonnull(strstr(srv.bodies[2], "\"n4\""));
	ck_assert_ptr_nonnull(strstr(srv.bodies[3], "\"n5\""));
	/* the merged POST carries the newer seq of the two */
	ck_assert_uint_eq(strtoull(srv.seqs[0], NULL, 10), e[1].seq);
	ck_assert_uint_eq(strtoull(srv.seqs[3], NULL, 10), e[5].seq);
	free(e);
	ck_assert_int_eq(spool_list(sp, &e, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(e);
	snprintf(path, sizeof(path), "%s/corrupt", dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	spool_close(sp);
}
END_TEST

/* A 4xx moves the batch to rejected/ with the reply; the rest still go. */
START_TEST(test_replay_rejected)
{
	struct spool *sp;
	struct deliver_stats st;
	struct batch b;
	struct srv srv;
	char url[64], *urls[1] = { url }, path[PATH_MAX + 128];

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	make_batch(&b, REPORT_KIND_DISCOVERED, "n", "10.0.0.1", 1);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	ck_assert_int_eq(spool_push(sp, &b, 1 << 20, NULL), 0);
	srv_start(&srv, 400);
	snprintf(url, sizeof(url), "127.0.0.1:%d", srv.port);
	struct deliver_opts o = { .urls = urls, .nurls = 1,
	    .deadline_ms = fsio_mono_ms() + 5000 };
	ck_assert_int_eq(deliver_spool(sp, &o, &st, NULL, NULL), 0);
	srv_stop(&srv);
	ck_assert_uint_eq(st.rejected, 1);
	snprintf(path, sizeof(path), "%s/rejected/%020llu-%s.reply", dir, b.seq, b.epoch);
	ck_assert_int_eq(access(path, F_OK), 0);
	batch_finish(&b);
	spool_close(sp);
}
END_TEST

/* Nobody listening: the replay stops, keeps everything, says why. */
START_TEST(test_replay_down)
{
	struct spool *sp;
	struct deliver_stats st;
	struct batch b;
	char *urls[1] = { "127.0.0.1:1" };

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	make_batch(&b, REPORT_KIND_DISCOVERED, "n", "10.0.0.1", 1);
	ck_assert_int_eq(spool_assign(sp, &b), 0);
	ck_assert_int_eq(spool_push(sp, &b, 1 << 20, NULL), 0);
	batch_finish(&b);
	struct deliver_opts o = { .urls = urls, .nurls = 1,
	    .deadline_ms = fsio_mono_ms() + 2000 };
	ck_assert_int_eq(deliver_spool(sp, &o, &st, NULL, NULL), -EAGAIN);
	ck_assert_uint_eq(st.left, 1);
	ck_assert_str_ne(st.err, "");
	spool_close(sp);
}
END_TEST

/* One input as fuzz_spool_record reads it: first byte odd, a whole record;
 * even, a payload that gets a good frame. It must decode or be refused. */
static void
regress_record(const unsigned char *buf, size_t len, const char *name)
{
	struct batch b;
	unsigned char *rec;
	size_t reclen;
	int r;

	ck_assert_uint_ge(len, 1);
	if (buf[0] & 1) {
		r = spool_record_decode((const char *)buf + 1, len - 1, &b);
	} else {
		uint32_t plen = (uint32_t)(len - 1), crc = crc32c(0, buf + 1, len - 1);
		reclen = 8 + len - 1;
		rec = malloc(reclen);
		ck_assert_ptr_nonnull(rec);
		for (int i = 0; i < 4; i++) {
			rec[i] = (unsigned char)(plen >> (8 * i));
			rec[4 + i] = (unsigned char)(crc >> (8 * i));
		}
		memcpy(rec + 8, buf + 1, len - 1);
		r = spool_record_decode((const char *)rec, reclen, &b);
		free(rec);
	}
	ck_assert_msg(r == 0 || r == -EBADMSG, "%s: %d", name, r);
	if (r == 0)
		batch_finish(&b);
}

START_TEST(test_fuzz_regressions)
{
	ck_assert_uint_gt(fuzz_regress_each("fuzz_spool_record", regress_record), 0);
}
END_TEST

/*
 * Entries of incoming/ that cannot be absorbed (a directory, a FIFO, a
 * dangling symlink, a file without read permission, garbage) are moved to
 * corrupt/ and do not hold up the batches written after them.
 */
START_TEST(test_incoming_unusable)
{
	char names[16][128], path[PATH_MAX * 2], labels[256] = "", bad[5][128];
	struct spool *sp;
	struct batch b;
	size_t moved = 0, nbad = 0;
	bool compacted = true;
	int fd;

	ck_assert_int_eq(spool_open(dir, fsio_mono_ms() + 1000, &sp), 0);
	for (int i = 0; i < 6; i++) {
		char lab[8];
		snprintf(lab, sizeof(lab), "i%d", i);
		make_batch(&b, REPORT_KIND_DISCOVERED, lab, "10.0.0.1", 1);
		ck_assert_int_eq(spool_incoming_write(dir, &b), 0);
		batch_finish(&b);
	}
	ck_assert_uint_eq(incoming_names(names, 16), 6);
	/* Replace i0, i1, i2, i3 and i4 by unusable entries; i5 stays good. */
	for (int i = 0; i < 5; i++) {
		snprintf(bad[nbad++], 128, "%s", names[i]);
		snprintf(path, sizeof(path), "%s/incoming/%s", dir, names[i]);
		ck_assert_int_eq(unlink(path), 0);
		switch (i) {
		case 0:
			ck_assert_int_eq(mkdir(path, 0700), 0);
			break;
		case 1:
			ck_assert_int_eq(mkfifo(path, 0600), 0);
			break;
		case 2:
			ck_assert_int_eq(symlink("/nonexistent/batch", path), 0);
			break;
		case 3:
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0000);
			ck_assert_int_ge(fd, 0);
			close(fd);
			break;
		default:
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
			ck_assert_int_ge(fd, 0);
			ck_assert_int_eq(write(fd, "garbage!", 8), 8);
			close(fd);
		}
	}
	ck_assert_int_eq(spool_absorb(sp, 1 << 20, fsio_mono_ms() + 10000, collect, labels,
	    &moved, &compacted), 0);
	ck_assert_uint_eq(moved, 1);
	ck_assert_str_eq(labels, "i5");
	/* The empty 0000 file: unreadable, or (for root) not a record. */
	ck_assert_uint_eq(spool_ncorrupt(sp), 5);
	ck_assert_str_ne(spool_last_aside(sp), "");
	ck_assert_uint_eq(incoming_names(names, 16), 0);
	for (size_t i = 0; i < nbad; i++) {
		struct stat st;
		snprintf(path, sizeof(path), "%s/corrupt/%s", dir, bad[i]);
		ck_assert_msg(lstat(path, &st) == 0, "%s not in corrupt/", bad[i]);
	}
	spool_close(sp);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_record_roundtrip);
	tcase_add_test(tc, test_push_list_order);
	tcase_add_test(tc, test_counter);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_incoming_absorb);
	tcase_add_test(tc, test_incoming_unusable);
	tcase_add_test(tc, test_compaction);
	tcase_add_test(tc, test_replay_skips_corrupt);
	tcase_add_test(tc, test_replay_rejected);
	tcase_add_test(tc, test_replay_down);
	tcase_add_test(tc, test_fuzz_regressions);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
