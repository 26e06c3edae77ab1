/*
 * The etcd store's settle: a commit etcd did not confirm within the
 * endpoint's attempt timeout is made definite when etcd answers again
 * (store_etcd.c, settle()). A relay in this process between the store and
 * a real etcd (etcd_fixture.h) loses what the test asks of the next log
 * commit txns: the reply (etcd committed, the store heard nothing) or the
 * request (etcd never saw it).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd_fixture.h"
#include "fsio.h"
#include "store.h"

/* The endpoint's attempt timeout: etcd (one local member) answers far sooner. */
#define ATTEMPT_MS	1000
#define TXN_MARK	"POST /v3/kv/txn "
#define RELAY_POLL_MS	50
#define RELAY_STOP_MS	5000

enum lose { LOSE_NOTHING, LOSE_REQUEST, LOSE_REPLY };

static struct relay {
	int lfd, port, target;
	pthread_t acceptor;
	pthread_mutex_t mu;
	enum lose lose;		/* what the next `left` txns lose */
	int left;
	int lost;		/* txns that lost something */
	int pumps;		/* connections open */
	atomic_bool stop;
} rl = { .mu = PTHREAD_MUTEX_INITIALIZER };

struct pump {
	int c, u;		/* the store's side, etcd's */
};

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Bytes both ways until either side closes; a marked txn loses its part. */
static void *
pump(void *arg)
{
	struct pump *p = arg;
	enum lose muted = LOSE_NOTHING;
	char b[65536];

	while (!atomic_load(&rl.stop)) {
		struct pollfd fds[2] = { { p->c, POLLIN, 0 }, { p->u, POLLIN, 0 } };
		ssize_t n;
		if (poll(fds, 2, RELAY_POLL_MS) < 0)
			break;
		if (fds[0].revents != 0) {
			if ((n = recv(p->c, b, sizeof(b), 0)) <= 0)
				break;
			pthread_mutex_lock(&rl.mu);
			if (rl.left > 0 && (size_t)n >= strlen(TXN_MARK) &&
			    memcmp(b, TXN_MARK, strlen(TXN_MARK)) == 0) {
				muted = rl.lose;
				rl.left--;
				rl.lost++;
			}
			pthread_mutex_unlock(&rl.mu);
			if (muted != LOSE_REQUEST && send_all(p->u, b, (size_t)n) < 0)
				break;
		}
		if (fds[1].revents != 0) {
			if ((n = recv(p->u, b, sizeof(b), 0)) <= 0)
				break;
			if (muted != LOSE_REPLY && send_all(p->c, b, (size_t)n) < 0)
				break;
		}
	}
	close(p->c);
	close(p->u);
	free(p);
	pthread_mutex_lock(&rl.mu);
	rl.pumps--;
	pthread_mutex_unlock(&rl.mu);
	return NULL;
}

static void *
acceptor(void *arg)
{
	(void)arg;
	while (!atomic_load(&rl.stop)) {
		struct pollfd fd = { rl.lfd, POLLIN, 0 };
		struct sockaddr_in a = { .sin_family = AF_INET };
		struct pump *p;
		pthread_t th;
		int c, u;

		if (poll(&fd, 1, RELAY_POLL_MS) <= 0)
			continue;
		if ((c = accept(rl.lfd, NULL, NULL)) < 0)
			continue;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((uint16_t)rl.target);
		u = socket(AF_INET, SOCK_STREAM, 0);
		if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    (p = malloc(sizeof(*p))) == NULL) {
			close(c);
			if (u >= 0)
				close(u);
			continue;
		}
		p->c = c;
		p->u = u;
		pthread_mutex_lock(&rl.mu);
		rl.pumps++;
		pthread_mutex_unlock(&rl.mu);
		if (pthread_create(&th, NULL, pump, p) != 0) {
			close(c);
			close(u);
			free(p);
			pthread_mutex_lock(&rl.mu);
			rl.pumps--;
			pthread_mutex_unlock(&rl.mu);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

/* Listens on a free loopback port, relaying to etcd_url's; its URL in ret_url. */
static void
relay_start(char *ret_url, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	const char *colon = strrchr(etcd_url, ':');

	ck_assert_ptr_nonnull(colon);
	rl.target = (int)strtol(colon + 1, NULL, 10);
	rl.lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(rl.lfd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(rl.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(rl.lfd, 16), 0);
	ck_assert_int_eq(getsockname(rl.lfd, (struct sockaddr *)&a, &al), 0);
	rl.port = ntohs(a.sin_port);
	ck_assert_int_lt(snprintf(ret_url, len, "http://127.0.0.1:%d", rl.port), (int)len);
	atomic_store(&rl.stop, false);
	ck_assert_int_eq(pthread_create(&rl.acceptor, NULL, acceptor, NULL), 0);
}

static void
relay_stop(void)
{
	long long deadline = fsio_mono_ms() + RELAY_STOP_MS;
	int pumps;

	atomic_store(&rl.stop, true);
	pthread_join(rl.acceptor, NULL);
	close(rl.lfd);
	do {
		pthread_mutex_lock(&rl.mu);
		pumps = rl.pumps;
		pthread_mutex_unlock(&rl.mu);
		if (pumps > 0)
			usleep(10000);
	} while (pumps > 0 && fsio_mono_ms() < deadline);
	ck_assert_int_eq(pumps, 0);
}

/* The next n log commit txns (the settle's own included) lose what. */
static void
relay_lose(enum lose what, int n)
{
	pthread_mutex_lock(&rl.mu);
	rl.lose = what;
	rl.left = n;
	rl.lost = 0;
	pthread_mutex_unlock(&rl.mu);
}

static int
relay_lost(void)
{
	int n;

	pthread_mutex_lock(&rl.mu);
	n = rl.lost;
	pthread_mutex_unlock(&rl.mu);
	return n;
}

/* Appends rec and waits for its outcome; the store's last error in why. */
static int
commit(struct store *st, const char *rec, char *why, size_t len)
{
	uint64_t seq;
	int rc;

	ck_assert_int_eq(store_append(st, rec, strlen(rec), &seq), 0);
	rc = store_wait(st, seq);
	store_last_error(st, why, len);
	return rc;
}

/*
 * Unconfirmed commits are settled: etcd took it and the reply was lost ->
 * committed (0), applied once; etcd never saw it -> not committed (-EIO),
 * never applied, and it cannot apply later; etcd silent for the settle too
 * -> still uncertain (-EAGAIN). After each, the next commit goes through.
 */
START_TEST(test_settle)
{
	static struct seen sx = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct store_follow fx = { seen_reset, seen_reload_done, seen_snapshot, seen_record, &sx };
	char rurl[64], why[256];
	const char *eps[1] = { rurl };
	struct store *x;

	relay_start(rurl, sizeof(rurl));
	x = open_store_at("x", NULL, eps, 1, ATTEMPT_MS);
	ck_assert_int_eq(store_follow(x, &fx), 0);
	ck_assert_int_eq(commit(x, "x1", why, sizeof(why)), 0);

	/* The reply lost: etcd committed it; the settle finds the tail at its name. */
	relay_lose(LOSE_REPLY, 1);
	ck_assert_int_eq(commit(x, "x2", why, sizeof(why)), 0);
	ck_assert_int_eq(relay_lost(), 1);
	ck_assert_int_eq(commit(x, "x3", why, sizeof(why)), 0);

	/* The request lost: the settle moves the tail past it, definitely not committed. */
	relay_lose(LOSE_REQUEST, 1);
	ck_assert_int_eq(commit(x, "lost1", why, sizeof(why)), -EIO);
	ck_assert_msg(strstr(why, "not committed") != NULL, "%s", why);
	ck_assert_int_eq(relay_lost(), 1);
	ck_assert_int_eq(commit(x, "x4", why, sizeof(why)), 0);

	/* The settle's own txn lost too: the outcome stays uncertain. */
	relay_lose(LOSE_REQUEST, 2);
	ck_assert_int_eq(commit(x, "lost2", why, sizeof(why)), -EAGAIN);
	ck_assert_int_eq(relay_lost(), 2);
	ck_assert_int_eq(commit(x, "x5", why, sizeof(why)), 0);

	/* Every committed record once, in order; the lost ones never. */
	wait_count(&sx, 5);
	usleep(300000);
	ck_assert_int_eq(seen_count(&sx), 5);
	for (int i = 0; i < 5; i++) {
		char want[8];
		snprintf(want, sizeof(want), "x%d", i + 1);
		ck_assert_str_eq(sx.recs[i], want);
	}
	store_close(x);
	relay_stop();
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("etcd_settle");
	TCase *real = tcase_create("real etcd");

	tcase_add_checked_fixture(real, etcd_up, etcd_down);
	tcase_set_timeout(real, 60);
	tcase_add_test(real, test_settle);
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
