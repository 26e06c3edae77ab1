/*
 * The gateway client's internals, shared by etcd.c (the connection, JSON
 * helpers), etcd_kv.c (txn, range, leases, compaction) and etcd_watch.c.
 */
#ifndef ETCD_IMPL_H
#define ETCD_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "etcd.h"

/* A reply bigger than this is not one the gateway sends for our requests. */
#define ETCD_MAX_REPLY_BYTES	(64 * 1024 * 1024)

struct etcd {
	CURL *curl;
	CURLM *multi;			/* runs curl: its connections are kept here */
	char **endpoints;
	size_t n;
	size_t cur;			/* the one that answered last */
	long long *avoid_until;		/* per endpoint: failed, tried last until then */
	long attempt_ms;		/* an endpoint's time to answer */
	char ca[4096], cert[4096], key[4096];
	long timeout_ms;
	_Atomic int64_t deadline_ms;	/* etcd_set_deadline(), 0 none */
	char last[256];
	pthread_mutex_t fd_mu;		/* the stream's socket, for etcd_abort() */
	int stream_fd;			/* -1 when no stream runs */
	atomic_bool aborted;		/* etcd_abort(): every call ends */
};

/* Where a reply goes: collected, or (watch) handed over as it arrives. */
struct sink {
	struct buf *b;
	/* Streaming (watch): called as bytes arrive; non-zero stops. */
	int (*on_data)(struct sink *k);
	void *arg;
	int stop_rc;
	bool started;			/* bytes have arrived */
	size_t scanned;			/* on_data's: bytes of b looked through (0 each try) */
	const volatile int *stop;
	bool require_leader;		/* a watch: only on a member that has a leader */
};

/*
 * POSTs body to path at one endpoint after another until one answers, all
 * within timeout_ms (0: no bound, streaming) and etcd_set_deadline()'s
 * instant, each endpoint within e->attempt_ms. The reply is in k->b, its
 * status in *ret_status. -EAGAIN when none answered.
 */
int etcd_post(struct etcd *e, const char *path, const char *body, struct sink *k,
    long timeout_ms, long *ret_status, char *err, size_t errlen);
/* One unary call (see etcd.c): the reply parsed into *ret. */
int etcd_call(struct etcd *e, const char *path, cJSON *req, cJSON **ret, char *err,
    size_t errlen);

int etcd_add_b64(cJSON *o, const char *name, const char *buf, size_t len);
int etcd_add_i64(cJSON *o, const char *name, int64_t v);
/* An int64 field: a JSON string (or a number); absent is 0. */
int64_t etcd_get_i64(const cJSON *o, const char *name);
/* A base64 field into a malloc'd NUL-terminated buffer (absent: ""). */
int etcd_get_b64(const cJSON *o, const char *name, char **ret, size_t *ret_len);
void etcd_kv_free(struct etcd_kv *kv);
int etcd_kv_parse(const cJSON *o, struct etcd_kv *kv, bool want_value);

#endif
