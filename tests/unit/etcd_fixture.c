/*
 * A real etcd for the unit tests (Debian's etcd-server), started on a
 * loopback port for each test and stopped by its pid, and a follower that
 * records what a store's watch brings (etcd_fixture.h).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd_fixture.h"
#include "fsio.h"

#define ETCD_BIN	"/usr/bin/etcd"
#define ETCD_READY_MS	15000

static pid_t etcd_pid;
static char dir[64], peer[64];
char etcd_url[64];
const char *etcd_endpoints[1];

void
etcd_up(void)
{
	char name[32], cluster[128];
	int port;

	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	/* Below the ephemeral range (32768-60999): a connect cannot take it first. */
	port = 21000 + rand() % 900 * 2;
	snprintf(dir, sizeof(dir), "/tmp/clusterm-etcd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(etcd_url, sizeof(etcd_url), "http://127.0.0.1:%d", port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", port + 1);
	snprintf(name, sizeof(name), "t%d", (int)getpid());
	snprintf(cluster, sizeof(cluster), "%s=%s", name, peer);
	etcd_pid = fork();
	ck_assert_int_ge(etcd_pid, 0);
	if (etcd_pid == 0) {
		char data[96], logf[96];
		snprintf(data, sizeof(data), "%s/data", dir);
		snprintf(logf, sizeof(logf), "%s/etcd.log", dir);
		if (freopen(logf, "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execl(ETCD_BIN, "etcd", "--name", name, "--data-dir", data,
		    "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
		    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		    "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	etcd_endpoints[0] = etcd_url;
	/* Ready when a read answers. */
	struct etcd_opts o = { etcd_endpoints, 1, NULL, NULL, NULL, 1000, 0 };
	struct etcd *e;
	char err[512];
	ck_assert_int_eq(etcd_new(&o, &e, err, sizeof(err)), 0);
	long long deadline = fsio_mono_ms() + ETCD_READY_MS;
	for (;;) {
		struct etcd_range_req r = { .key = "x", .key_len = 1 };
		struct etcd_range_res res;
		if (etcd_range(e, &r, &res, err, sizeof(err)) == 0) {
			etcd_range_res_free(&res);
			break;
		}
		if (fsio_mono_ms() >= deadline || waitpid(etcd_pid, NULL, WNOHANG) == etcd_pid) {
			char cmd[160];
			snprintf(cmd, sizeof(cmd), "tail -n 5 '%s/etcd.log' >&2", dir);
			if (system(cmd) != 0)
				fprintf(stderr, "no etcd log\n");
			ck_abort_msg("etcd did not answer: %s", err);
		}
		usleep(100000);
	}
	etcd_free(e);
}

void
etcd_down(void)
{
	char cmd[128];

	if (etcd_pid > 0) {
		kill(etcd_pid, SIGKILL);
		waitpid(etcd_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

struct etcd *
conn(void)
{
	struct etcd_opts o = { etcd_endpoints, 1, NULL, NULL, NULL, 3000, 0 };
	struct etcd *e;
	char err[512];

	ck_assert_int_eq(etcd_new(&o, &e, err, sizeof(err)), 0);
	return e;
}

void
seen_reset(void *arg)
{
	struct seen *s = arg;

	pthread_mutex_lock(&s->mu);
	s->resets++;
	s->n = 0;
	pthread_mutex_unlock(&s->mu);
}

void
seen_reload_done(void *arg, bool ok)
{
	struct seen *s = arg;

	pthread_mutex_lock(&s->mu);
	if (ok)
		s->reloads++;
	pthread_mutex_unlock(&s->mu);
}

int
seen_snapshot(const void *buf, size_t len, int64_t pos, void *arg)
{
	struct seen *s = arg;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	snprintf(s->snap, sizeof(s->snap), "%.*s", (int)len, (const char *)buf);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void
seen_record(const void *buf, size_t len, int64_t pos, uint64_t own, void *arg)
{
	struct seen *s = arg;

	(void)pos;
	pthread_mutex_lock(&s->mu);
	if (s->n < 64) {
		snprintf(s->recs[s->n], sizeof(s->recs[0]), "%.*s", (int)len, (const char *)buf);
		s->own[s->n++] = own;
	}
	pthread_mutex_unlock(&s->mu);
}

int
visit_none(const void *buf, size_t len, void *arg)
{
	(void)buf, (void)len, (void)arg;
	return 0;
}

int
seen_count(struct seen *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void
wait_count(struct seen *s, int n)
{
	long long deadline = fsio_mono_ms() + 10000;

	while (seen_count(s) < n) {
		ck_assert_msg(fsio_mono_ms() < deadline, "%d of %d records followed", seen_count(s),
		    n);
		usleep(10000);
	}
}

struct store *
open_store(const char *id, struct leader *l)
{
	return open_store_at(id, l, etcd_endpoints, 1, 0);
}

struct store *
open_store_at(const char *id, struct leader *l, const char *const *eps, size_t n,
    long attempt_ms)
{
	struct store_etcd_opts o = { { eps, n, NULL, NULL, NULL, 3000, attempt_ms }, "/s", id, l };
	struct store *st;
	char err[512];

	ck_assert_int_eq(store_open_etcd(&o, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_recover(st, visit_none, visit_none, NULL, NULL, NULL, err,
	    sizeof(err)), 0);
	return st;
}
