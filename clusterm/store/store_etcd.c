/*
 * The etcd backend (store_etcd.h): group commits put as log keys, the log
 * followed by a watch, snapshots in parts, log keys deleted and etcd
 * compacted behind them.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "fsio.h"
#include "le.h"
#include "log.h"
#include "store_etcd.h"

/* How long a committed revision may wait for the watch before it is restarted. */
#define SE_WATCH_LAG_MS		2000
/* Between two tries of a broken watch. */
#define SE_RETRY_MS		200
/* Keys read per range while recovering, deleted per txn behind a snapshot. */
#define SE_RANGE_LIMIT		16
#define SE_DELETE_BATCH		(ETCD_MAX_TXN_OPS - 1)
/* Tries of a recovery that a compaction overtook. */
#define SE_LOAD_TRIES		5

struct rec {
	uint64_t seq;
	char *buf;
	size_t len;
	unsigned flags;
	struct rec *next;
};

struct se {
	struct etcd *ce, *we, *re;	/* committer, watcher, recovery and snapshots */
	struct leader *leader;
	char logp[300], logend[300], mine[800], snapp[300], cur_key[320], jobp[300];
	size_t logendlen;

	pthread_mutex_t mu;		/* everything below but the connections */
	pthread_cond_t cv;		/* queue and outcomes */
	struct rec *head, *tail;
	uint64_t next_seq, done_seq;
	struct outcome { uint64_t seq; int rc; } *results;	/* ring, at seq % MAX_INFLIGHT */
	bool stopping;
	pthread_t committer;
	bool committer_on;

	pthread_t watcher;
	bool watcher_on;
	volatile int wflag;		/* 1: stop, 2: restart the watch */
	struct store_follow f;

	int64_t applied_rev, head_rev, snap_rev, compacted_rev;
	int64_t own_rev;		/* newest revision this instance committed */
	volatile bool commit_failing;	/* the last commit failed (not by the fence) */
	long long own_rev_ms;		/* since when it waits for the watch, 0 none */
	uint64_t appended_records, appended_bytes, log_records, log_bytes, commits;
	char last_err[256];
	pthread_mutex_t snap_mu;	/* re: recovery, snapshots */
};

static void
se_sleep(struct se *e, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->mu);
	if (!e->stopping)
		pthread_cond_timedwait(&e->cv, &e->mu, &ts);
	pthread_mutex_unlock(&e->mu);
}

static void
set_err(struct se *e, const char *why)
{
	pthread_mutex_lock(&e->mu);
	snprintf(e->last_err, sizeof(e->last_err), "%.*s", (int)sizeof(e->last_err) - 1, why);
	pthread_mutex_unlock(&e->mu);
}

/* ---- reading the log ---- */

/* Visitors of a load: store_recover()'s or store_follow()'s. */
struct load_cb {
	void (*on_reset)(void *arg);	/* NULL: a retry cannot clear what was applied */
	int (*on_snapshot)(const void *buf, size_t len, int64_t pos, void *arg);
	void (*on_record)(const void *buf, size_t len, int64_t pos, uint64_t own_seq, void *arg);
	void *arg;
	int rc;				/* a snapshot visitor's refusal */
};

/* Hands the records of one log key over, in order. */
static void
deliver_key(struct se *e, const struct etcd_kv *kv, const struct load_cb *cb)
{
	size_t mlen = strlen(e->mine), off = 0;
	uint64_t own = 0;

	if (kv->key_len > mlen && memcmp(kv->key, e->mine, mlen) == 0)
		own = strtoull(kv->key + mlen, NULL, 16);
	while (off + 4 <= kv->value_len) {
		uint32_t n = le_get32((const uint8_t *)kv->value + off);
		bool last;
		if (off + 4 + n > kv->value_len) {
			log_error("etcd: log key %.*s at revision %" PRId64 " is cut at byte %zu; "
			    "its last records are skipped", (int)kv->key_len, kv->key,
			    kv->mod_rev, off);
			break;
		}
		/*
		 * Only the key's last record carries its position: a state that
		 * has applied part of a key is at no position (no snapshot of it).
		 */
		last = off + 4 + n + 4 > kv->value_len;
		cb->on_record(kv->value + off + 4, n, last ? kv->mod_rev : 0, own, cb->arg);
		pthread_mutex_lock(&e->mu);
		e->log_records++;
		e->log_bytes += n;
		pthread_mutex_unlock(&e->mu);
		if (own != 0)
			own++;
		off += 4 + (size_t)n;
	}
}

/* A non-negative integer member of o, -1 when absent or not one. */
static int64_t
json_int(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15)
		return -1;
	return (int64_t)v->valuedouble;
}

/* Reads the snapshot in force as of revision rev (0: newest); *ret_h is the read's revision. */
static int
load_snapshot(struct se *e, int64_t *ret_h, const struct load_cb *cb, int64_t *ret_snap,
    char *err, size_t errlen)
{
	struct etcd_range_req r = { .key = e->cur_key, .key_len = strlen(e->cur_key) };
	struct etcd_range_res res;
	char pfx[360], end[360];
	size_t plen, endlen, got = 0;
	int64_t srev, parts, bytes;
	char *buf;
	cJSON *j;
	int rc;

	rc = etcd_range(e->re, &r, &res, err, errlen);
	if (rc < 0)
		return rc;
	*ret_h = res.header_rev;
	*ret_snap = 0;
	if (res.n == 0) {
		etcd_range_res_free(&res);
		return 0;
	}
	j = cJSON_ParseWithLength(res.kvs[0].value, res.kvs[0].value_len);
	etcd_range_res_free(&res);
	srev = json_int(j, "rev");
	parts = json_int(j, "parts");
	bytes = json_int(j, "bytes");
	cJSON_Delete(j);
	if (srev <= 0 || parts <= 0 || bytes <= 0 || bytes > parts * ETCD_MAX_VALUE_BYTES) {
		snprintf(err, errlen, "etcd: %s does not describe a snapshot", e->cur_key);
		return -EBADMSG;
	}
	if ((buf = malloc((size_t)bytes)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	plen = (size_t)snprintf(pfx, sizeof(pfx), "%s%020" PRId64 "/", e->snapp, srev);
	etcd_prefix_end(pfx, plen, end, &endlen);
	for (int64_t p = 0; p < parts; p++) {
		char key[400];
		struct etcd_range_req pr = { .revision = *ret_h };
		pr.key = key;
		pr.key_len = (size_t)snprintf(key, sizeof(key), "%s%06" PRId64, pfx, p);
		rc = etcd_range(e->re, &pr, &res, err, errlen);
		if (rc == 0 && (res.n != 1 || got + res.kvs[0].value_len > (size_t)bytes)) {
			snprintf(err, errlen, "etcd: snapshot %" PRId64 " part %" PRId64 " is "
			    "missing or too long", srev, p);
			rc = -EBADMSG;
		}
		if (rc < 0) {
			etcd_range_res_free(&res);
			free(buf);
			return rc;
		}
		memcpy(buf + got, res.kvs[0].value, res.kvs[0].value_len);
		got += res.kvs[0].value_len;
		etcd_range_res_free(&res);
	}
	if (got != (size_t)bytes) {
		free(buf);
		snprintf(err, errlen, "etcd: snapshot %" PRId64 " has %zu of its %" PRId64
		    " bytes", srev, got, bytes);
		return -EBADMSG;
	}
	rc = cb->on_snapshot(buf, got, srev, cb->arg);
	free(buf);
	if (rc < 0)
		return rc;
	*ret_snap = srev;
	return 0;
}

/* The newest snapshot and every log key after it, all as of one revision. */
static int
load(struct se *e, const struct load_cb *cb, char *err, size_t errlen)
{
	int rc = -ECANCELED;

	pthread_mutex_lock(&e->snap_mu);
	for (int t = 0; t < SE_LOAD_TRIES && rc == -ECANCELED; t++) {
		int64_t h = 0, srev = 0, next;
		if (t > 0) {
			/*
			 * A compaction overtook this read: what it applied goes
			 * before the next try, which cannot be done in recovery.
			 */
			if (cb->on_reset == NULL) {
				snprintf(err, errlen, "etcd compacted the log while it was "
				    "read (a snapshot of the leader's); start again");
				break;
			}
			cb->on_reset(cb->arg);
		}
		rc = load_snapshot(e, &h, cb, &srev, err, errlen);
		if (rc < 0)
			continue;
		next = srev + 1;
		for (;;) {
			struct etcd_range_req r = { .key = e->logp, .key_len = strlen(e->logp),
			    .range_end = e->logend, .range_end_len = e->logendlen,
			    .revision = h, .min_create_rev = next, .limit = SE_RANGE_LIMIT,
			    .sort_by_create = true };
			struct etcd_range_res res;
			rc = etcd_range(e->re, &r, &res, err, errlen);
			if (rc < 0)
				break;
			for (size_t i = 0; i < res.n; i++) {
				deliver_key(e, &res.kvs[i], cb);
				next = res.kvs[i].create_rev + 1;
			}
			bool more = res.more && res.n > 0;
			etcd_range_res_free(&res);
			if (!more)
				break;
		}
		if (rc == 0) {
			pthread_mutex_lock(&e->mu);
			e->applied_rev = h;
			if (h > e->head_rev)
				e->head_rev = h;
			e->snap_rev = srev;
			pthread_mutex_unlock(&e->mu);
		}
	}
	pthread_mutex_unlock(&e->snap_mu);
	return rc;
}

struct recover_adapt {
	store_visit_fn on_snapshot, on_record;
	void *arg;
	int rc;
};

static int
adapt_snapshot(const void *buf, size_t len, int64_t pos, void *arg)
{
	struct recover_adapt *a = arg;

	(void)pos;
	return a->on_snapshot(buf, len, a->arg) != 0 ? -EBADMSG : 0;
}

static void
adapt_record(const void *buf, size_t len, int64_t pos, uint64_t own, void *arg)
{
	struct recover_adapt *a = arg;

	(void)pos, (void)own;
	if (a->rc == 0 && a->on_record(buf, len, a->arg) != 0)
		a->rc = -EBADMSG;
}

static int
se_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
	struct recover_adapt a = { on_snapshot, on_record, arg, 0 };
	struct load_cb cb = { NULL, adapt_snapshot, adapt_record, &a, 0 };
	int rc;

	(void)warn, (void)warn_arg;
	rc = load(b, &cb, err, errlen);
	return rc < 0 ? rc : a.rc;
}

/* ---- following ---- */

static int
watch_cb(const struct etcd_event *ev, size_t n, int64_t header_rev, void *arg)
{
	struct se *e = arg;
	struct load_cb cb = { e->f.on_reset, e->f.on_snapshot, e->f.on_record, e->f.arg, 0 };

	for (size_t i = 0; i < n; i++) {
		/* Only a key's first put is a commit (a key is never put twice). */
		if (ev[i].type == ETCD_EV_PUT && ev[i].kv.version == 1)
			deliver_key(e, &ev[i].kv, &cb);
		pthread_mutex_lock(&e->mu);
		if (ev[i].kv.mod_rev > e->applied_rev)
			e->applied_rev = ev[i].kv.mod_rev;
		if (e->applied_rev >= e->own_rev)
			e->own_rev_ms = 0;
		pthread_mutex_unlock(&e->mu);
	}
	pthread_mutex_lock(&e->mu);
	if (header_rev > e->head_rev)
		e->head_rev = header_rev;
	pthread_mutex_unlock(&e->mu);
	return 0;
}

static void *
watcher(void *arg)
{
	struct se *e = arg;
	char err[512];

	while (e->wflag != 1) {
		int64_t from, compact = 0;
		int rc;

		pthread_mutex_lock(&e->mu);
		from = e->applied_rev + 1;
		if (e->wflag == 2)
			e->wflag = 0;
		pthread_mutex_unlock(&e->mu);
		rc = etcd_watch(e->we, e->logp, strlen(e->logp), e->logend, e->logendlen, from,
		    watch_cb, e, &e->wflag, &compact, err, sizeof(err));
		if (e->wflag == 1)
			break;
		if (rc == -ECANCELED) {
			struct load_cb cb = { e->f.on_reset, e->f.on_snapshot, e->f.on_record,
			    e->f.arg, 0 };
			log_warn("etcd: the log from revision %" PRId64 " is compacted (up to %"
			    PRId64 "); reloading the state from the snapshot", from, compact);
			e->f.on_reset(e->f.arg);
			rc = load(e, &cb, err, sizeof(err));
			if (rc < 0) {
				log_error("etcd: reloading: %s", err);
				set_err(e, err);
				se_sleep(e, SE_RETRY_MS);
			}
			continue;
		}
		if (rc < 0 && e->wflag == 0) {
			set_err(e, err);
			log_warn("%s; watching again", err);
			se_sleep(e, SE_RETRY_MS);
		}
	}
	return NULL;
}

static int
se_follow(void *b, const struct store_follow *f)
{
	struct se *e = b;

	e->f = *f;
	if (pthread_create(&e->watcher, NULL, watcher, e) != 0)
		return -EAGAIN;
	e->watcher_on = true;
	return 0;
}

/* ---- appending ---- */

static int
se_append_flags(void *b, const void *buf, size_t len, unsigned flags, uint64_t *ret_seq)
{
	struct se *e = b;
	struct rec *r = malloc(sizeof(*r));

	if (r == NULL || (r->buf = malloc(len > 0 ? len : 1)) == NULL) {
		free(r);
		return -ENOMEM;
	}
	/*
	 * etcd known unreachable (the last commit failed and the leader's
	 * renewal too): refuse at once rather than after a timeout, so a
	 * forwarder tries its next URL while it has the time.
	 */
	if (e->leader != NULL && e->commit_failing && !leader_etcd_ok(e->leader, NULL, 0)) {
		free(r->buf);
		free(r);
		return -ENOTCONN;
	}
	memcpy(r->buf, buf, len);
	r->len = len;
	r->flags = flags;
	r->next = NULL;
	pthread_mutex_lock(&e->mu);
	if (e->stopping || e->next_seq - e->done_seq >= STORE_ETCD_MAX_INFLIGHT) {
		pthread_mutex_unlock(&e->mu);
		free(r->buf);
		free(r);
		return -EAGAIN;
	}
	r->seq = ++e->next_seq;
	*ret_seq = r->seq;	/* r is the committer's once the lock goes */
	if (e->tail != NULL)
		e->tail->next = r;
	else
		e->head = r;
	e->tail = r;
	e->appended_records++;
	e->appended_bytes += len;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	return 0;
}

static int
se_append(void *b, const void *buf, size_t len, uint64_t *ret_seq)
{
	return se_append_flags(b, buf, len, 0, ret_seq);
}

/* Takes a run of records of one kind that fits one value; mu held. */
static struct rec *
take_batch(struct se *e, size_t *ret_bytes)
{
	struct rec *first = e->head, *last = first;
	size_t bytes = 4 + first->len;

	while (last->next != NULL && last->next->flags == first->flags &&
	    bytes + 4 + last->next->len <= ETCD_MAX_VALUE_BYTES) {
		last = last->next;
		bytes += 4 + last->len;
	}
	e->head = last->next;
	if (e->head == NULL)
		e->tail = NULL;
	last->next = NULL;
	*ret_bytes = bytes;
	return first;
}

/* Puts one batch as one log key: 0, -EPERM (fence), -E2BIG, or etcd's error. */
static int
commit_batch(struct se *e, struct rec *batch, size_t bytes, int64_t *ret_rev, char *err,
    size_t errlen)
{
	struct etcd_cmp cmp;
	struct etcd_op op = { .type = ETCD_OP_PUT };
	char key[900], fkey[600];
	size_t off = 0;
	bool ok = false;
	int64_t fence = 0;
	char *val;
	int rc;

	if (bytes > ETCD_MAX_VALUE_BYTES) {
		snprintf(err, errlen, "an operation of %zu bytes is over the %d bytes a log key "
		    "holds", batch->len, ETCD_MAX_VALUE_BYTES - 4);
		return -E2BIG;
	}
	if (batch->flags & STORE_FENCED) {
		fence = e->leader != NULL ? leader_fence(e->leader, fkey, sizeof(fkey)) : 0;
		if (fence == 0) {
			snprintf(err, errlen, "this instance does not lead (a leader's write)");
			return -EPERM;
		}
		cmp.key = fkey;
		cmp.key_len = strlen(fkey);
		cmp.target = ETCD_CMP_CREATE;
		cmp.value = fence;
	}
	if ((val = malloc(bytes)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (struct rec *r = batch; r != NULL; r = r->next) {
		le_put32((uint8_t *)val + off, (uint32_t)r->len);
		memcpy(val + off + 4, r->buf, r->len);
		off += 4 + r->len;
	}
	op.key = key;
	op.key_len = (size_t)snprintf(key, sizeof(key), "%s%016" PRIx64, e->mine, batch->seq);
	op.value = val;
	op.value_len = off;
	rc = etcd_txn(e->ce, &cmp, fence != 0 ? 1 : 0, &op, 1, &ok, ret_rev, err, errlen);
	free(val);
	if (rc == 0 && !ok) {
		snprintf(err, errlen, "this instance no longer leads (its leader key is gone)");
		rc = -EPERM;
	}
	return rc;
}

static void *
committer(void *arg)
{
	struct se *e = arg;

	pthread_mutex_lock(&e->mu);
	for (;;) {
		struct rec *batch, *next;
		size_t bytes;
		int64_t rev = 0;
		char err[512] = "";
		int rc;

		for (;;) {
			struct timespec ts;
			/* A commit the watch has not brought for long: the stream is stale. */
			if (e->own_rev_ms != 0 && fsio_mono_ms() - e->own_rev_ms > SE_WATCH_LAG_MS &&
			    e->wflag == 0) {
				log_warn("etcd: revision %" PRId64 " committed %d ms ago is not "
				    "watched yet; watching again", e->own_rev, SE_WATCH_LAG_MS);
				e->wflag = 2;
				e->own_rev_ms = fsio_mono_ms();
			}
			if (e->stopping || e->head != NULL)
				break;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&e->cv, &e->mu, &ts);
		}
		if (e->head == NULL)
			break;
		batch = take_batch(e, &bytes);
		pthread_mutex_unlock(&e->mu);
		rc = e->stopping ? -ESHUTDOWN : commit_batch(e, batch, bytes, &rev, err,
		    sizeof(err));
		pthread_mutex_lock(&e->mu);
		if (rc != -EPERM && rc != -ESHUTDOWN)
			e->commit_failing = rc < 0;
		if (rc < 0 && rc != -EPERM)
			snprintf(e->last_err, sizeof(e->last_err), "%.*s",
			    (int)sizeof(e->last_err) - 1, err);
		else if (rc == 0)
			e->last_err[0] = '\0';
		if (rc == 0) {
			e->commits++;
			if (rev > e->head_rev)
				e->head_rev = rev;
			if (rev > e->own_rev) {
				e->own_rev = rev;
				if (e->applied_rev < rev && e->own_rev_ms == 0)
					e->own_rev_ms = fsio_mono_ms();
			}
		}
		for (; batch != NULL; batch = next) {
			next = batch->next;
			e->results[batch->seq % STORE_ETCD_MAX_INFLIGHT].seq = batch->seq;
			e->results[batch->seq % STORE_ETCD_MAX_INFLIGHT].rc = rc;
			e->done_seq = batch->seq;
			free(batch->buf);
			free(batch);
		}
		pthread_cond_broadcast(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

static int
se_wait(void *b, uint64_t seq)
{
	struct se *e = b;
	int rc;

	pthread_mutex_lock(&e->mu);
	if (seq == 0 || seq > e->next_seq) {
		pthread_mutex_unlock(&e->mu);
		return -EINVAL;
	}
	while (e->done_seq < seq)
		pthread_cond_wait(&e->cv, &e->mu);
	/* Overwritten by a record STORE_ETCD_MAX_INFLIGHT later: the outcome is lost. */
	rc = e->results[seq % STORE_ETCD_MAX_INFLIGHT].seq == seq ?
	    e->results[seq % STORE_ETCD_MAX_INFLIGHT].rc : -EIO;
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* ---- snapshots ---- */

static int
se_snapshot_begin(void *b, uint64_t *ret_gen)
{
	struct se *e = b;

	pthread_mutex_lock(&e->mu);
	*ret_gen = (uint64_t)e->applied_rev;
	pthread_mutex_unlock(&e->mu);
	return 0;
}

/* One fenced txn; -EPERM when the fence fails. */
static int
fenced_txn(struct se *e, const struct etcd_op *ops, size_t n, char *err, size_t errlen)
{
	char fkey[600];
	int64_t fence = e->leader != NULL ? leader_fence(e->leader, fkey, sizeof(fkey)) : 0;
	struct etcd_cmp c = { fkey, 0, ETCD_CMP_CREATE, fence };
	bool ok = false;
	int64_t rev;
	int rc;

	if (fence == 0) {
		snprintf(err, errlen, "this instance does not lead");
		return -EPERM;
	}
	c.key_len = strlen(fkey);
	rc = etcd_txn(e->re, &c, 1, ops, n, &ok, &rev, err, errlen);
	if (rc == 0 && !ok) {
		snprintf(err, errlen, "this instance no longer leads");
		rc = -EPERM;
	}
	return rc;
}

/* Deletes the log keys a snapshot at rev covers, then compacts up to rev. */
static int
trim_log(struct se *e, int64_t rev, char *err, size_t errlen)
{
	struct etcd_op ops[SE_DELETE_BATCH];
	int rc = 0;

	for (int round = 0; round < 1000000; round++) {
		struct etcd_range_req r = { .key = e->logp, .key_len = strlen(e->logp),
		    .range_end = e->logend, .range_end_len = e->logendlen, .max_create_rev = rev,
		    .limit = SE_DELETE_BATCH, .keys_only = true };
		struct etcd_range_res res;
		rc = etcd_range(e->re, &r, &res, err, errlen);
		if (rc < 0 || res.n == 0) {
			etcd_range_res_free(&res);
			break;
		}
		for (size_t i = 0; i < res.n; i++) {
			memset(&ops[i], 0, sizeof(ops[i]));
			ops[i].type = ETCD_OP_DELETE;
			ops[i].key = res.kvs[i].key;
			ops[i].key_len = res.kvs[i].key_len;
		}
		rc = fenced_txn(e, ops, res.n, err, errlen);
		etcd_range_res_free(&res);
		if (rc < 0)
			break;
	}
	if (rc == 0 && rev > e->compacted_rev) {
		rc = etcd_compact(e->re, rev, err, errlen);
		if (rc == 0 || rc == -ECANCELED) {
			e->compacted_rev = rev;
			rc = 0;
		}
	}
	return rc;
}

static int
se_snapshot_commit(void *b, uint64_t gen, const void *buf, size_t len)
{
	struct se *e = b;
	size_t parts = (len + ETCD_MAX_VALUE_BYTES - 1) / ETCD_MAX_VALUE_BYTES;
	char key[400], err[512] = "", cur[128], from[320], to[360];
	struct etcd_op op = { .type = ETCD_OP_PUT };
	int rc = 0;

	if (len == 0)
		return -EINVAL;
	pthread_mutex_lock(&e->snap_mu);
	/*
	 * A leader whose watch lags may be behind the snapshot a previous
	 * leader wrote (whose trim deleted the keys between): never go back.
	 */
	{
		struct etcd_range_req r = { .key = e->cur_key, .key_len = strlen(e->cur_key) };
		struct etcd_range_res res;
		rc = etcd_range(e->re, &r, &res, err, sizeof(err));
		if (rc == 0 && res.n == 1) {
			cJSON *j = cJSON_ParseWithLength(res.kvs[0].value, res.kvs[0].value_len);
			int64_t cur_rev = json_int(j, "rev");
			cJSON_Delete(j);
			if (cur_rev >= (int64_t)gen)
				rc = -EALREADY;
		}
		etcd_range_res_free(&res);
		if (rc < 0) {
			pthread_mutex_unlock(&e->snap_mu);
			if (rc == -EALREADY)
				return -EPERM;	/* nothing to do: not this one's to write */
			log_error("etcd: snapshot at revision %" PRIu64 ": %s", gen, err);
			return rc;
		}
	}
	for (size_t p = 0; p < parts && rc == 0; p++) {
		size_t off = p * ETCD_MAX_VALUE_BYTES;
		op.key = key;
		op.key_len = (size_t)snprintf(key, sizeof(key), "%s%020" PRIu64 "/%06zu",
		    e->snapp, gen, p);
		op.value = (const char *)buf + off;
		op.value_len = len - off < ETCD_MAX_VALUE_BYTES ? len - off : ETCD_MAX_VALUE_BYTES;
		rc = fenced_txn(e, &op, 1, err, sizeof(err));
	}
	if (rc == 0) {
		op.key = e->cur_key;
		op.key_len = strlen(e->cur_key);
		op.value = cur;
		op.value_len = (size_t)snprintf(cur, sizeof(cur), "{\"rev\":%" PRIu64 ",\"parts\":%zu,"
		    "\"bytes\":%zu}", gen, parts, len);
		rc = fenced_txn(e, &op, 1, err, sizeof(err));
	}
	if (rc == 0) {
		/* Older snapshots: every part directory below this one. */
		struct etcd_op del = { .type = ETCD_OP_DELETE, .key = from, .range_end = to };
		del.key_len = (size_t)snprintf(from, sizeof(from), "%s0", e->snapp);
		del.range_end_len = (size_t)snprintf(to, sizeof(to), "%s%020" PRIu64, e->snapp, gen);
		rc = fenced_txn(e, &del, 1, err, sizeof(err));
	}
	if (rc == 0) {
		pthread_mutex_lock(&e->mu);
		e->snap_rev = (int64_t)gen;
		e->log_records = e->log_bytes = 0;
		pthread_mutex_unlock(&e->mu);
		rc = trim_log(e, (int64_t)gen, err, sizeof(err));
	}
	pthread_mutex_unlock(&e->snap_mu);
	if (rc < 0 && rc != -EPERM)
		log_error("etcd: snapshot at revision %" PRIu64 ": %s", gen, err);
	return rc;
}

/* ---- job logs ---- */

static int
se_put_joblog(void *b, uint64_t id, const void *buf, size_t len)
{
	struct se *e = b;
	char key[400], from[400], to[400], err[512];
	struct etcd_op ops[2] = { { .type = ETCD_OP_PUT }, { .type = ETCD_OP_DELETE } };
	size_t n = 1;
	int rc;

	if (len > STORE_JOBLOG_BYTES) {
		buf = (const char *)buf + (len - STORE_JOBLOG_BYTES);
		len = STORE_JOBLOG_BYTES;
	}
	ops[0].key = key;
	ops[0].key_len = (size_t)snprintf(key, sizeof(key), "%s%020" PRIu64, e->jobp, id);
	ops[0].value = buf;
	ops[0].value_len = len;
	if (id > STORE_JOBLOGS_KEEP) {
		/* The older ones go in the same txn: never more than the newest kept. */
		ops[1].key = from;
		ops[1].key_len = (size_t)snprintf(from, sizeof(from), "%s0", e->jobp);
		ops[1].range_end = to;
		ops[1].range_end_len = (size_t)snprintf(to, sizeof(to), "%s%020" PRIu64, e->jobp,
		    id - STORE_JOBLOGS_KEEP + 1);
		n = 2;
	}
	pthread_mutex_lock(&e->snap_mu);
	rc = fenced_txn(e, ops, n, err, sizeof(err));
	pthread_mutex_unlock(&e->snap_mu);
	if (rc < 0 && rc != -EPERM)
		log_error("etcd: the log of job %" PRIu64 ": %s", id, err);
	return rc;
}

static int
se_get_joblog(void *b, uint64_t id, char **ret, size_t *ret_len)
{
	struct se *e = b;
	char key[400], err[512];
	struct etcd_range_req r = { .key = key };
	struct etcd_range_res res;
	int rc;

	r.key_len = (size_t)snprintf(key, sizeof(key), "%s%020" PRIu64, e->jobp, id);
	pthread_mutex_lock(&e->snap_mu);
	rc = etcd_range(e->re, &r, &res, err, sizeof(err));
	pthread_mutex_unlock(&e->snap_mu);
	if (rc < 0)
		return rc;
	if (res.n == 0) {
		etcd_range_res_free(&res);
		return -ENOENT;
	}
	*ret = res.kvs[0].value;
	*ret_len = res.kvs[0].value_len;
	res.kvs[0].value = NULL;
	etcd_range_res_free(&res);
	return 0;
}

static bool
se_leads(void *b)
{
	struct se *e = b;

	return e->leader != NULL && leader_fence(e->leader, NULL, 0) != 0;
}

/* ---- the rest ---- */

static void
se_get_stats(void *b, struct store_stats *ret)
{
	struct se *e = b;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&e->mu);
	ret->appended_records = e->appended_records;
	ret->appended_bytes = e->appended_bytes;
	ret->log_records = e->log_records;
	ret->log_bytes = e->log_bytes;
	ret->fsyncs = e->commits;
	ret->applied_rev = e->applied_rev;
	ret->head_rev = e->head_rev;
	pthread_mutex_unlock(&e->mu);
}

static int
se_failure(void *b, char *ret_why, size_t len)
{
	(void)b, (void)ret_why, (void)len;
	return 0;	/* etcd's failures pass: nothing here fails for good */
}

static void
se_last_error(void *b, char *ret, size_t len)
{
	struct se *e = b;

	pthread_mutex_lock(&e->mu);
	snprintf(ret, len, "%s", e->last_err);
	pthread_mutex_unlock(&e->mu);
}

static void
se_close(void *b)
{
	struct se *e = b;

	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	e->stopping = true;
	e->wflag = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	if (e->we != NULL)
		etcd_abort(e->we);
	if (e->watcher_on)
		pthread_join(e->watcher, NULL);
	if (e->committer_on)
		pthread_join(e->committer, NULL);
	etcd_free(e->ce);
	etcd_free(e->we);
	etcd_free(e->re);
	free(e->results);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->snap_mu);
	free(e);
}

static const struct store_backend store_etcd_backend = {
	.name = "etcd",
	.recover = se_recover,
	.append = se_append,
	.wait = se_wait,
	.snapshot_begin = se_snapshot_begin,
	.snapshot_commit = se_snapshot_commit,
	.get_stats = se_get_stats,
	.failure = se_failure,
	.close = se_close,
	.append_flags = se_append_flags,
	.follow = se_follow,
	.last_error = se_last_error,
	.put_joblog = se_put_joblog,
	.get_joblog = se_get_joblog,
	.leads = se_leads,
};

int
store_open_etcd(const struct store_etcd_opts *o, struct store **ret, char *err, size_t errlen)
{
	struct se *e = calloc(1, sizeof(*e));
	char boot[17];
	int rc;

	if (e == NULL || (e->results = calloc(STORE_ETCD_MAX_INFLIGHT, sizeof(*e->results))) == NULL) {
		free(e);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	pthread_mutex_init(&e->snap_mu, NULL);
	e->leader = o->leader;
	if ((rc = etcd_new(&o->etcd, &e->ce, err, errlen)) < 0 ||
	    (rc = etcd_new(&o->etcd, &e->we, err, errlen)) < 0 ||
	    (rc = etcd_new(&o->etcd, &e->re, err, errlen)) < 0) {
		se_close(e);
		return rc;
	}
	/* This run's keys are its own: a boot nonce from the clock and the pid. */
	snprintf(boot, sizeof(boot), "%016llx", (unsigned long long)(fsio_now_ms() * 1000003ULL ^
	    (unsigned long long)fsio_mono_ms() << 20 ^ (unsigned long long)getpid()));
	snprintf(e->logp, sizeof(e->logp), "%s/log/", o->prefix);
	etcd_prefix_end(e->logp, strlen(e->logp), e->logend, &e->logendlen);
	snprintf(e->mine, sizeof(e->mine), "%s%s/%s/", e->logp, o->instance_id, boot);
	snprintf(e->snapp, sizeof(e->snapp), "%s/snap/", o->prefix);
	snprintf(e->cur_key, sizeof(e->cur_key), "%s/snap/current", o->prefix);
	snprintf(e->jobp, sizeof(e->jobp), "%s/joblog/", o->prefix);
	if (pthread_create(&e->committer, NULL, committer, e) != 0) {
		se_close(e);
		snprintf(err, errlen, "cannot start the etcd committer thread");
		return -EAGAIN;
	}
	e->committer_on = true;
	return store_wrap(&store_etcd_backend, e, ret);
}
