/*
 * The etcd gateway client, the leader election and the etcd store, against
 * a real etcd (etcd_fixture.h).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "etcd_fixture.h"
#include "fsio.h"
#include "le.h"
#include "leader.h"
#include "store.h"
#include "store_etcd.h"

START_TEST(test_base64)
{
	char in[16], enc[32], dec[32];
	size_t n;

	for (size_t len = 0; len < sizeof(in); len++) {
		for (size_t i = 0; i < len; i++)
			in[i] = (char)(i * 37 + len);
		size_t el = etcd_b64_encode(in, len, enc);
		ck_assert_uint_eq(el, 4 * ((len + 2) / 3));
		ck_assert_int_eq(etcd_b64_decode(enc, el, dec, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(in, dec, len) == 0);
	}
	etcd_b64_encode("hello", 5, enc);
	ck_assert_str_eq(enc, "aGVsbG8=");
	ck_assert_int_eq(etcd_b64_decode("a*==", 4, dec, &n), -EBADMSG);
}
END_TEST

START_TEST(test_prefix_end)
{
	char out[8];
	size_t n;

	etcd_prefix_end("/a/", 3, out, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert(memcmp(out, "/a0", 3) == 0);
	etcd_prefix_end("a\xff", 2, out, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], 'b');
}
END_TEST

START_TEST(test_txn_range_lease)
{
	struct etcd *e = conn();
	struct etcd_cmp absent = { "/t/k", 4, ETCD_CMP_VERSION, 0 };
	struct etcd_op put = { .type = ETCD_OP_PUT, .key = "/t/k", .key_len = 4, .value = "v1",
	    .value_len = 2 };
	struct etcd_range_req r = { .key = "/t/", .key_len = 3, .range_end = "/t0",
	    .range_end_len = 3, .sort_by_create = true };
	struct etcd_range_res res;
	char err[512];
	int64_t rev, lease;
	long ttl;
	bool ok;

	ck_assert_int_eq(etcd_txn(e, &absent, 1, &put, 1, &ok, &rev, err, sizeof(err)), 0);
	ck_assert(ok);
	/* The same compare fails now: the key is there; nothing is written. */
	put.value = "v2";
	ck_assert_int_eq(etcd_txn(e, &absent, 1, &put, 1, &ok, &rev, err, sizeof(err)), 0);
	ck_assert(!ok);
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_str_eq(res.kvs[0].value, "v1");
	etcd_range_res_free(&res);
	/* Too many operations for one txn: refused before sending. */
	struct etcd_op many[ETCD_MAX_TXN_OPS + 1];
	for (size_t i = 0; i < ETCD_MAX_TXN_OPS + 1; i++)
		many[i] = put;
	ck_assert_int_eq(etcd_txn(e, NULL, 0, many, ETCD_MAX_TXN_OPS + 1, &ok, &rev, err,
	    sizeof(err)), -E2BIG);
	/* A lease lives while kept alive, and is gone once revoked. */
	ck_assert_int_eq(etcd_lease_grant(e, 5, &lease, err, sizeof(err)), 0);
	ck_assert_int_eq(etcd_lease_keepalive(e, lease, &ttl, err, sizeof(err)), 0);
	ck_assert_int_gt(ttl, 0);
	ck_assert_int_eq(etcd_lease_revoke(e, lease, err, sizeof(err)), 0);
	ck_assert_int_eq(etcd_lease_keepalive(e, lease, &ttl, err, sizeof(err)), 0);
	ck_assert_int_eq(ttl, 0);
	etcd_free(e);
}
END_TEST

/* What a follower was handed. */
START_TEST(test_store_shared_log)
{
	static struct seen sa = { .mu = PTHREAD_MUTEX_INITIALIZER };
	static struct seen sb = { .mu = PTHREAD_MUTEX_INITIALIZER };
	static struct seen sc = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct leader_opts lo = { { etcd_endpoints, 1, NULL, NULL, NULL, 1000, 0 }, "/s", "a",
	    "http://127.0.0.1:1", 3 };
	struct leader *l;
	char err[512];
	uint64_t seq[4];

	ck_assert_int_eq(leader_start(&lo, NULL, &l, err, sizeof(err)), 0);
	struct store *a = open_store("a", l), *b = open_store("b", NULL);
	/* c has read the log, and follows only after the compaction below. */
	struct store *c = open_store("c", NULL);
	struct store_follow fa = { seen_reset, seen_reload_done, seen_snapshot, seen_record, &sa };
	struct store_follow fb = { seen_reset, seen_reload_done, seen_snapshot, seen_record, &sb };
	struct store_follow fc = { seen_reset, seen_reload_done, seen_snapshot, seen_record, &sc };
	ck_assert(store_is_shared(a));
	ck_assert_int_eq(store_follow(a, &fa), 0);
	ck_assert_int_eq(store_follow(b, &fb), 0);

	/* Appends from two instances: one order, seen by both. */
	ck_assert_int_eq(store_append(a, "a1", 2, &seq[0]), 0);
	ck_assert_int_eq(store_wait(a, seq[0]), 0);
	ck_assert_int_eq(store_append(b, "b1", 2, &seq[1]), 0);
	ck_assert_int_eq(store_wait(b, seq[1]), 0);
	ck_assert_int_eq(store_append(a, "a2", 2, &seq[2]), 0);
	ck_assert_int_eq(store_wait(a, seq[2]), 0);
	wait_count(&sa, 3);
	wait_count(&sb, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(sa.recs[i], sb.recs[i]);
	ck_assert_str_eq(sa.recs[1], "b1");
	/* Each knows its own records, and only those. */
	ck_assert_uint_eq(sa.own[0], seq[0]);
	ck_assert_uint_eq(sa.own[1], 0);
	ck_assert_uint_eq(sb.own[1], seq[1]);
	ck_assert_uint_eq(sb.own[0], 0);

	/* A leader's write from an instance that does not lead: refused, not written. */
	ck_assert_int_eq(store_append_flags(b, "bf", 2, STORE_FENCED, &seq[3]), 0);
	ck_assert_int_eq(store_wait(b, seq[3]), -EPERM);
	long long deadline = fsio_mono_ms() + 5000;
	while (!leader_is_leader(l) && fsio_mono_ms() < deadline)
		usleep(20000);
	ck_assert(leader_is_leader(l));
	ck_assert_int_eq(store_append_flags(a, "af", 2, STORE_FENCED, &seq[3]), 0);
	ck_assert_int_eq(store_wait(a, seq[3]), 0);
	wait_count(&sb, 4);
	ck_assert_str_eq(sb.recs[3], "af");

	/*
	 * The leader's snapshot compacts the log c had not followed yet: c
	 * reloads. The snapshot is of what a has applied: all four records.
	 */
	struct store_stats st;
	wait_count(&sa, 4);
	/* Its position moves once the whole key is handed over: wait for it too. */
	deadline = fsio_mono_ms() + 10000;
	for (;;) {
		store_get_stats(a, &st);
		if (st.applied_rev >= st.head_rev)
			break;
		ck_assert_msg(fsio_mono_ms() < deadline, "applied %lld of %lld",
		    (long long)st.applied_rev, (long long)st.head_rev);
		usleep(10000);
	}
	ck_assert_int_eq(store_snapshot_commit(a, (uint64_t)st.applied_rev, "SNAP", 4), 0);
	ck_assert_int_eq(store_snapshot_commit(b, (uint64_t)st.applied_rev, "X", 1), -EPERM);
	ck_assert_int_eq(store_append(a, "a3", 2, &seq[0]), 0);
	ck_assert_int_eq(store_wait(a, seq[0]), 0);
	ck_assert_int_eq(store_follow(c, &fc), 0);
	wait_count(&sc, 1);
	ck_assert_int_eq(sc.resets, 1);
	ck_assert_int_eq(sc.reloads, 1);
	ck_assert_str_eq(sc.snap, "SNAP");
	ck_assert_str_eq(sc.recs[0], "a3");

	/* A new instance starts from the snapshot and the log after it. */
	store_close(c);
	c = open_store("d", NULL);
	store_get_stats(c, &st);
	ck_assert_int_gt(st.applied_rev, 0);
	store_close(a);
	store_close(b);
	store_close(c);
	leader_stop(l);
}
END_TEST

/*
 * A listening socket that never answers (connections wait in its backlog):
 * what a stopped or stalled etcd member looks like to a client.
 */
static int
silent_endpoint(char *ret_url, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(ret_url, len, "http://127.0.0.1:%d", ntohs(a.sin_port));
	return fd;
}

static int
watch_stop_first(const struct etcd_event *ev, size_t n, int64_t header_rev, void *arg)
{
	(void)ev, (void)header_rev, (void)arg;
	return n > 0 ? 7 : 0;
}

struct later {
	struct etcd *e;
	long after_ms, deadline_in_ms;
};

static void *
set_deadline_later(void *arg)
{
	struct later *l = arg;

	usleep((useconds_t)l->after_ms * 1000);
	etcd_set_deadline(l->e, etcd_now_ms() + l->deadline_in_ms);
	return NULL;
}


/*
 * A txn a silent member proposes late (after the client moved on, and after
 * the leader's snapshot deleted the log key it puts) is refused by the tail
 * key's version: the operation is not applied twice. A tail moved by such a
 * late write of an earlier batch does not stop the next commit.
 */
START_TEST(test_late_write_refused)
{
	static struct seen sx = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct store *x = open_store("x", NULL);
	struct store_follow fx = { seen_reset, seen_reload_done, seen_snapshot, seen_record, &sx };
	struct etcd *e = conn();
	struct etcd_range_req r = { .key = "/s/tail/x/", .key_len = 10, .range_end = "/s/tail/x0",
	    .range_end_len = 10 };
	struct etcd_range_res res;
	char err[512], tail[128], logkey[256], logval[8];
	int64_t rev;
	uint64_t seq;
	bool ok;

	ck_assert_int_eq(store_follow(x, &fx), 0);
	ck_assert_int_eq(store_append(x, "x1", 2, &seq), 0);
	ck_assert_int_eq(store_wait(x, seq), 0);
	wait_count(&sx, 1);
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(res.kvs[0].version, 1);
	snprintf(tail, sizeof(tail), "%.*s", (int)res.kvs[0].key_len, res.kvs[0].key);
	/* The log key: /s/log/x/<boot>/<seq>, the boot being the tail's last part. */
	snprintf(logkey, sizeof(logkey), "/s/log/x/%s/%s", strrchr(tail, '/') + 1,
	    res.kvs[0].value);
	etcd_range_res_free(&res);
	struct etcd_op del = { .type = ETCD_OP_DELETE, .key = logkey, .key_len = strlen(logkey) };
	ck_assert_int_eq(etcd_txn(e, NULL, 0, &del, 1, &ok, &rev, err, sizeof(err)), 0);
	/* The first attempt of x1's commit, proposed late: what the committer sent. */
	le_put32((uint8_t *)logval, 2);
	memcpy(logval + 4, "x1", 2);
	struct etcd_cmp at0 = { tail, strlen(tail), ETCD_CMP_VERSION, 0 };
	struct etcd_op late[2] = {
		{ .type = ETCD_OP_PUT, .key = logkey, .key_len = strlen(logkey), .value = logval,
		    .value_len = 6 },
		{ .type = ETCD_OP_PUT, .key = tail, .key_len = strlen(tail), .value = "x",
		    .value_len = 1 },
	};
	ck_assert_int_eq(etcd_txn(e, &at0, 1, late, 2, &ok, &rev, err, sizeof(err)), 0);
	ck_assert(!ok);
	/* An earlier batch's late write moved the tail: the next commit still goes. */
	struct etcd_op bump = { .type = ETCD_OP_PUT, .key = tail, .key_len = strlen(tail),
	    .value = "0", .value_len = 1 };
	ck_assert_int_eq(etcd_txn(e, NULL, 0, &bump, 1, &ok, &rev, err, sizeof(err)), 0);
	ck_assert_int_eq(store_append(x, "x2", 2, &seq), 0);
	ck_assert_int_eq(store_wait(x, seq), 0);
	wait_count(&sx, 2);
	usleep(200000);
	ck_assert_int_eq(seen_count(&sx), 2);
	ck_assert_str_eq(sx.recs[0], "x1");
	ck_assert_str_eq(sx.recs[1], "x2");
	store_close(x);
	etcd_free(e);
}
END_TEST

/* Events of a watch, their values in order (a stop after want of them). */
struct got {
	size_t n, want;
	size_t len[4];
	bool intact[4];
};

static int
watch_collect(const struct etcd_event *ev, size_t n, int64_t header_rev, void *arg)
{
	struct got *g = arg;

	(void)header_rev;
	for (size_t i = 0; i < n && g->n < 4; i++, g->n++) {
		const struct etcd_kv *kv = &ev[i].kv;
		g->len[g->n] = kv->value_len;
		g->intact[g->n] = true;
		for (size_t j = 0; j < kv->value_len; j++)
			if (kv->value[j] != (char)('a' + (j * 7 + g->n) % 26)) {
				g->intact[g->n] = false;
				break;
			}
	}
	return g->n >= g->want ? 5 : 0;
}

/* Puts a 600 KB value, a short one and a 600 KB one, each its own watch result. */
static void *
put_long_values(void *arg)
{
	struct etcd *e = conn();
	size_t big = 600 * 1024;
	char *v = malloc(big), err[512];
	int64_t rev;
	bool ok;

	(void)arg;
	ck_assert_ptr_nonnull(v);
	for (size_t k = 0; k < 3; k++) {
		size_t len = k == 1 ? 10 : big;
		usleep(200000);
		for (size_t j = 0; j < len; j++)
			v[j] = (char)('a' + (j * 7 + k) % 26);
		struct etcd_op op = { .type = ETCD_OP_PUT, .key = "/long/k", .key_len = 7,
		    .value = v, .value_len = len };
		ck_assert_int_eq(etcd_txn(e, NULL, 0, &op, 1, &ok, &rev, err, sizeof(err)), 0);
	}
	free(v);
	etcd_free(e);
	return NULL;
}

/*
 * A watch result far longer than one read of the stream (a 600 KB value,
 * some 800 KB of JSON a line) arrives whole, and so do the short one after
 * it and the long one after that.
 */
START_TEST(test_watch_long_lines)
{
	struct etcd *e = conn();
	struct etcd_op mark = { .type = ETCD_OP_PUT, .key = "/long/m", .key_len = 7, .value = "m",
	    .value_len = 1 };
	struct got g = { .want = 3 };
	int64_t rev, compact = 0;
	char err[512];
	pthread_t th;
	bool ok;

	ck_assert_int_eq(etcd_txn(e, NULL, 0, &mark, 1, &ok, &rev, err, sizeof(err)), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, put_long_values, NULL), 0);
	ck_assert_int_eq(etcd_watch(e, "/long/k", 7, NULL, 0, rev + 1, watch_collect, &g, NULL,
	    &compact, err, sizeof(err)), 5);
	pthread_join(th, NULL);
	ck_assert_uint_eq(g.n, 3);
	ck_assert_uint_eq(g.len[0], 600 * 1024);
	ck_assert_uint_eq(g.len[1], 10);
	ck_assert_uint_eq(g.len[2], 600 * 1024);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(g.intact[i], "value %d changed on its way", i);
	etcd_free(e);
}
END_TEST

/* etcd_set_deadline(): every call ends by the instant, whatever its own timeouts. */
START_TEST(test_deadline)
{
	char su[64], err[512];
	const char *eps[1] = { su };
	int fd = silent_endpoint(su, sizeof(su));
	/* The call's own timeout and the endpoint's would wait for long. */
	struct etcd_opts o = { eps, 1, NULL, NULL, NULL, 30000, 20000 };
	struct etcd_range_req r = { .key = "x", .key_len = 1 };
	struct etcd_op op = { .type = ETCD_OP_PUT, .key = "x", .key_len = 1, .value = "v",
	    .value_len = 1 };
	struct etcd_range_res res;
	struct later l;
	pthread_t th;
	struct etcd *e;
	int64_t t0, rev, compact = 0;
	bool ok;

	ck_assert_int_eq(etcd_new(&o, &e, err, sizeof(err)), 0);
	t0 = etcd_now_ms();
	etcd_set_deadline(e, t0 + 300);
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), -EAGAIN);
	ck_assert_int_ge(etcd_now_ms() - t0, 290);
	ck_assert_int_lt(etcd_now_ms() - t0, 2000);
	/* Passed: at once, a write too. */
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_txn(e, NULL, 0, &op, 1, &ok, &rev, err, sizeof(err)), -EAGAIN);
	ck_assert_int_lt(etcd_now_ms() - t0, 200);
	ck_assert_ptr_nonnull(strstr(err, "deadline"));
	/* Cleared, then set from another thread while a watch (no timeout) waits. */
	etcd_set_deadline(e, 0);
	l.e = e;
	l.after_ms = 200;
	l.deadline_in_ms = 100;
	ck_assert_int_eq(pthread_create(&th, NULL, set_deadline_later, &l), 0);
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_watch(e, "x", 1, NULL, 0, 1, watch_stop_first, NULL, NULL,
	    &compact, err, sizeof(err)), -EAGAIN);
	ck_assert_int_ge(etcd_now_ms() - t0, 290);
	ck_assert_int_lt(etcd_now_ms() - t0, 2000);
	pthread_join(th, NULL);
	/* Out of range. */
	o.attempt_timeout_ms = ETCD_ATTEMPT_MAX_MS + 1;
	ck_assert_int_eq(etcd_new(&o, &e, err, sizeof(err)) == -EINVAL ? 0 : -1, 0);
	etcd_free(l.e);
	close(fd);
}
END_TEST

/* A member that never answers is left for the next within the attempt timeout, then avoided. */
START_TEST(test_endpoint_timeout)
{
	char su[64], err[512];
	const char *eps[2] = { su, etcd_url };
	int fd = silent_endpoint(su, sizeof(su));
	struct etcd_opts o = { eps, 2, NULL, NULL, NULL, 10000, 300 };
	struct etcd_range_req r = { .key = "at", .key_len = 2 };
	struct etcd_op op = { .type = ETCD_OP_PUT, .key = "at", .key_len = 2, .value = "v",
	    .value_len = 1 };
	struct etcd_range_res res;
	struct etcd *e, *w;
	int64_t t0, rev, compact = 0;
	bool ok;

	ck_assert_int_eq(etcd_new(&o, &e, err, sizeof(err)), 0);
	ck_assert_int_eq(etcd_new(&o, &w, err, sizeof(err)), 0);
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_txn(e, NULL, 0, &op, 1, &ok, &rev, err, sizeof(err)), 0);
	ck_assert(ok);
	ck_assert_int_ge(etcd_now_ms() - t0, 290);
	ck_assert_int_lt(etcd_now_ms() - t0, 5000);
	ck_assert_str_eq(etcd_endpoint(e), etcd_url);
	/* The next call goes to the member that answered, at once. */
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.n, 1);
	etcd_range_res_free(&res);
	ck_assert_int_lt(etcd_now_ms() - t0, 280);
	/* A count alone, at a revision: no key-value. */
	r.count_only = true;
	r.revision = rev;
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	ck_assert_uint_eq(res.n, 0);
	ck_assert_int_eq(res.count, 1);
	ck_assert_int_ge(res.header_rev, rev);
	r.revision = rev - 1;
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	ck_assert_int_eq(res.count, 0);
	r.count_only = false;
	r.revision = 0;
	/*
	 * Skipped (a stale watch there): both are avoided now, tried from the
	 * next; the silent one is left again within its attempt timeout.
	 */
	etcd_skip_endpoint(e);
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	etcd_range_res_free(&res);
	ck_assert_int_lt(etcd_now_ms() - t0, 5000);
	ck_assert_str_eq(etcd_endpoint(e), etcd_url);
	/* What one connection learned, another knows: straight to the member that answers. */
	etcd_free(e);
	ck_assert_int_eq(etcd_new(&o, &e, err, sizeof(err)), 0);
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_range(e, &r, &res, err, sizeof(err)), 0);
	etcd_range_res_free(&res);
	ck_assert_int_lt(etcd_now_ms() - t0, 280);
	/* A watch too starts on the member that answers. */
	t0 = etcd_now_ms();
	ck_assert_int_eq(etcd_watch(w, "at", 2, NULL, 0, rev, watch_stop_first, NULL, NULL,
	    &compact, err, sizeof(err)), 7);
	ck_assert_int_lt(etcd_now_ms() - t0, 5000);
	ck_assert_str_eq(etcd_endpoint(w), etcd_url);
	etcd_free(e);
	etcd_free(w);
	close(fd);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *pure = tcase_create("pure");
	TCase *real = tcase_create("real etcd");

	tcase_add_test(pure, test_base64);
	tcase_add_test(pure, test_prefix_end);
	tcase_add_test(pure, test_deadline);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(real, etcd_up, etcd_down);
	tcase_set_timeout(real, 60);
	tcase_add_test(real, test_txn_range_lease);
	tcase_add_test(real, test_store_shared_log);
	tcase_add_test(real, test_late_write_refused);
	tcase_add_test(real, test_watch_long_lines);
	tcase_add_test(real, test_endpoint_timeout);
	suite_add_tcase(s, real);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
