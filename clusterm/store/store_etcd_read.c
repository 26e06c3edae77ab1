/* The etcd backend: recovery from the snapshot and the log, the log followed by a watch. */
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
#include "store_etcd_impl.h"

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
int64_t
se_json_int(const cJSON *o, const char *name)
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
	srev = se_json_int(j, "rev");
	parts = se_json_int(j, "parts");
	bytes = se_json_int(j, "bytes");
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

int
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
			e->f.on_reload_done(e->f.arg, rc == 0);
			if (rc < 0) {
				log_error("etcd: reloading: %s; the state in force stays until a "
				    "reload works", err);
				se_set_err(e, err);
				se_sleep(e, SE_RETRY_MS);
			}
			continue;
		}
		if (rc < 0 && e->wflag == 0) {
			se_set_err(e, err);
			log_warn("%s; watching again", err);
			se_sleep(e, SE_RETRY_MS);
		}
	}
	return NULL;
}

int
se_follow(void *b, const struct store_follow *f)
{
	struct se *e = b;

	e->f = *f;
	if (pthread_create(&e->watcher, NULL, watcher, e) != 0)
		return -EAGAIN;
	e->watcher_on = true;
	return 0;
}
