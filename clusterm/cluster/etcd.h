/*
 * A client of etcd's v3 JSON gateway (/v3/kv/txn, /v3/kv/range, /v3/watch,
 * /v3/lease/...), over libcurl with cJSON. Keys and values are byte strings
 * (base64 on the wire); 64-bit numbers travel as JSON strings and are
 * int64_t here. One struct etcd is one connection (a curl handle) used by
 * one thread at a time; it tries the endpoints in turn, starting with the
 * last one that answered. An endpoint that sends nothing within
 * attempt_timeout_ms (a member stopped, stalled or cut off accepts
 * connections and never answers), cannot be reached or answers 5xx is left
 * for the next one within the call's timeout, and tried after the others
 * for ETCD_AVOID_MS, by every struct etcd of the process (they share what
 * they learn of the endpoints); a watch streaming from it ends (-EAGAIN).
 *
 * Errors: -EAGAIN when no endpoint answered in time (no quorum, all down,
 * the deadline of etcd_set_deadline() passed: err names the last endpoint
 * and what happened); after -EAGAIN a write may still have taken effect
 * (sent, never answered) or take effect later. -ECANCELED when a watch
 * or range asked for a compacted revision, -E2BIG when a request would
 * exceed ETCD_MAX_REQUEST_BYTES or ETCD_MAX_TXN_OPS, -EBADMSG for a reply
 * that is not what the gateway sends, -EPROTO for an error the gateway
 * answered (err quotes it), -ENOMEM.
 */
#ifndef ETCD_H
#define ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* etcd's defaults: --max-request-bytes 1.5 MiB, --max-txn-ops 128. */
#define ETCD_MAX_REQUEST_BYTES	(1536 * 1024)
#define ETCD_MAX_TXN_OPS	128
/* Endpoints in one client list. */
#define ETCD_MAX_ENDPOINTS	16
/*
 * An endpoint's time to answer a request (its first byte) before the next
 * is tried (store.etcd.endpoint_timeout_ms): default and bounds.
 */
#define ETCD_ATTEMPT_MS		1000
#define ETCD_ATTEMPT_MIN_MS	100
#define ETCD_ATTEMPT_MAX_MS	60000
/* An endpoint that failed is tried after the others for this long. */
#define ETCD_AVOID_MS		5000
/* The biggest value worth putting: base64 and JSON framing within the request limit. */
#define ETCD_MAX_VALUE_BYTES	(1024 * 1024)

struct etcd_opts {
	const char *const *endpoints;	/* "http://127.0.0.1:2379", ... */
	size_t nendpoints;
	const char *ca_file;		/* NULL / "": system CAs */
	const char *cert_file;		/* client certificate, NULL / "" none */
	const char *key_file;
	long timeout_ms;		/* a whole call, over every endpoint tried */
	long attempt_timeout_ms;	/* one endpoint's, 0: ETCD_ATTEMPT_MS */
};

struct etcd;

struct etcd_kv {
	char *key;
	size_t key_len;
	char *value;			/* NUL-terminated too; NULL with keys_only */
	size_t value_len;
	int64_t create_rev, mod_rev, version, lease;
};

enum etcd_cmp_target { ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VERSION };

/* A compare of a txn: target(key) == value. */
struct etcd_cmp {
	const char *key;
	size_t key_len;
	enum etcd_cmp_target target;
	int64_t value;
};

enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_DELETE };

struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	size_t key_len;
	const char *value;		/* PUT */
	size_t value_len;
	int64_t lease;			/* PUT, 0 none */
	const char *range_end;		/* DELETE: NULL one key, else [key, range_end) */
	size_t range_end_len;
};

struct etcd_range_req {
	const char *key;
	size_t key_len;
	const char *range_end;		/* NULL: one key */
	size_t range_end_len;
	int64_t revision;		/* 0: the newest */
	int64_t min_create_rev, max_create_rev;	/* 0: no bound */
	long limit;			/* 0: no limit */
	bool keys_only;
	bool count_only;		/* only count and header_rev (no filter applies) */
	bool sort_by_create;		/* ascending create revision (else by key) */
};

struct etcd_range_res {
	struct etcd_kv *kvs;
	size_t n;
	bool more;
	int64_t count;
	int64_t header_rev;
};

enum etcd_event_type { ETCD_EV_PUT, ETCD_EV_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
};

/*
 * Called with each batch of events a watch brings, in revision order
 * (events of one revision in the order etcd gives them). Non-zero stops
 * the watch, which then returns that value.
 */
typedef int (*etcd_watch_fn)(const struct etcd_event *ev, size_t n, int64_t header_rev,
    void *arg);

int etcd_new(const struct etcd_opts *o, struct etcd **ret, char *err, size_t errlen);
void etcd_free(struct etcd *e);

/* Now on CLOCK_MONOTONIC, in milliseconds (the clock of etcd_set_deadline()). */
int64_t etcd_now_ms(void);

/*
 * An absolute deadline, deadline_ms on CLOCK_MONOTONIC in milliseconds
 * (etcd_now_ms()), 0 for none: while it is set, every call on e (watches
 * too) ends by that instant whatever its own timeout, with -EAGAIN (as when
 * no endpoint answers in time: a write may have been applied or be applied
 * later). A call made after the instant fails at once. Safe to call from
 * any thread, also while a call on e runs (it then ends within about
 * 100 ms of the new deadline).
 */
void etcd_set_deadline(struct etcd *e, int64_t deadline_ms);

/* The endpoint the last call reached ("" before any). */
const char *etcd_endpoint(const struct etcd *e);

/*
 * The endpoint the last call reached is tried after the others for
 * ETCD_AVOID_MS, the next one first: for a watch that went silent there.
 */
void etcd_skip_endpoint(struct etcd *e);

/*
 * A txn: when every compare holds, runs ops (else nothing). ret_ok tells
 * which; ret_rev is the revision after it (the ops' revision when they ran).
 * A member that took it and did not answer in time may still apply it, and
 * the next one is sent it too: a txn must do no harm applied twice (the
 * same put again, or a compare that fails the second time).
 */
int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ops,
    size_t nops, bool *ret_ok, int64_t *ret_rev, char *err, size_t errlen);

int etcd_range(struct etcd *e, const struct etcd_range_req *r, struct etcd_range_res *ret,
    char *err, size_t errlen);
void etcd_range_res_free(struct etcd_range_res *r);

/*
 * Watches [key, range_end) from start_rev until fn says stop, *stop becomes
 * non-zero (looked at about every 50 ms), or the stream breaks (-EAGAIN).
 * -ECANCELED with *ret_compact_rev when start_rev was compacted. The watch
 * requires an etcd leader (gRPC metadata "hasleader", which the gateway
 * takes from the header Grpc-Metadata-hasleader): a member without one
 * refuses it or ends it when it loses its leader. It asks for progress
 * notifications, which etcd sends at its own interval (10 minutes by
 * default): a stream stalled in between shows only by comparing what it
 * brought with a read (store_etcd_read.c does, once a second).
 */
int etcd_watch(struct etcd *e, const char *key, size_t key_len, const char *range_end,
    size_t range_end_len, int64_t start_rev, etcd_watch_fn fn, void *arg,
    const volatile int *stop, int64_t *ret_compact_rev, char *err, size_t errlen);

/*
 * From another thread: ends the stream a watch on e runs now (or starts
 * later) at once; that watch then returns. Any other call on e ends too
 * (-EAGAIN), now and later. For shutdown.
 */
void etcd_abort(struct etcd *e);

int etcd_lease_grant(struct etcd *e, long ttl_s, int64_t *ret_id, char *err, size_t errlen);
/* One keepalive: *ret_ttl is the lease's TTL now, 0 when it is gone. */
int etcd_lease_keepalive(struct etcd *e, int64_t id, long *ret_ttl, char *err, size_t errlen);
int etcd_lease_revoke(struct etcd *e, int64_t id, char *err, size_t errlen);

/* Compacts the key-value history up to rev (not physical). */
int etcd_compact(struct etcd *e, int64_t rev, char *err, size_t errlen);

/* The end of the range of keys starting with prefix (prefix + 1 in its last byte). */
void etcd_prefix_end(const char *prefix, size_t len, char *ret, size_t *ret_len);

/* Base64 (standard alphabet, padded). ret needs 4 * ((len + 2) / 3) + 1 bytes. */
size_t etcd_b64_encode(const void *buf, size_t len, char *ret);
/* Decodes into ret (at least 3 * (len / 4) + 3 bytes); -EBADMSG on bad input. */
int etcd_b64_decode(const char *s, size_t len, char *ret, size_t *ret_len);

#endif
