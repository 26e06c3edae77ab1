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
		bool restart;
		int rc;

		pthread_mutex_lock(&e->mu);
		from = e->applied_rev + 1;
		restart = e->wflag == 2;
		if (e->wflag == 2)
			e->wflag = 0;
		pthread_mutex_unlock(&e->mu);
		/* Found stale: on the next member, the silent one tried last. */
		if (restart)
			etcd_skip_endpoint(e->we);
		rc = etcd_watch(e->we, e->logp, strlen(e->logp), e->logend, e->logendlen, from,
		    watch_cb, e, &e->wflag, &compact, err, sizeof(err));
		if (e->wflag == 1)
			break;
		if (rc == -ECANCELED) {
			struct load_cb cb = { e->f.on_reset, e->f.on_snapshot, e->f.on_record,
			    e->f.arg, 0 };
			log_warn("etcd: the log from revision %" PRId64 " is compacted (up to %"
			    PRId64 "); reloading the state from the snapshot", from, compact);
			pthread_mutex_lock(&e->mu);
			e->reloading = true;
			pthread_mutex_unlock(&e->mu);
			e->f.on_reset(e->f.arg);
			rc = load(e, &cb, err, sizeof(err));
			e->f.on_reload_done(e->f.arg, rc == 0);
			pthread_mutex_lock(&e->mu);
			e->reloading = false;
			pthread_mutex_unlock(&e->mu);
			if (rc < 0) {
				log_error("etcd: reloading: %s; the state in force stays until a "
				    "reload works", err);
				se_set_err(e, err);
				se_sleep(e, SE_RETRY_MS);
			}
			continue;
		}
		if (rc < 0 && e->wflag == 0) {
			/* Refused (no leader there) or broken: the next member first. */
			etcd_skip_endpoint(e->we);
			se_set_err(e, err);
			log_warn("%s; watching again", err);
			se_sleep(e, SE_RETRY_MS);
		}
	}
	return NULL;
}

/* ---- the watch's check ---- */

/*
 * Whether the log changed between the watch's position and rev: a log key
 * created after the position and alive at rev, which the watch has not
 * brought (log keys are put once and only deleted behind a snapshot, which
 * the caller checks apart), read from etcd's index (no value is read). 1
 * yes, 0 no, < 0 etcd's error. A position etcd has compacted is behind too.
 */
static int
log_changed(struct se *e, int64_t rev, char *err, size_t errlen)
{
	struct etcd_range_req r = { .key = e->logp, .key_len = strlen(e->logp),
	    .range_end = e->logend, .range_end_len = e->logendlen, .count_only = true };
	struct etcd_range_res at, now;
	int64_t applied;
	int rc;

	pthread_mutex_lock(&e->mu);
	applied = e->applied_rev;
	pthread_mutex_unlock(&e->mu);
	if (applied >= rev)
		return 0;
	if (applied > 0) {
		r.revision = applied;
		rc = etcd_range(e->pe, &r, &at, err, errlen);
		if (rc == -ECANCELED) {
			snprintf(err, errlen, "its revision %" PRId64 " is compacted", applied);
			return 1;
		}
		if (rc < 0)
			return rc;
		etcd_range_res_free(&at);
	}
	/*
	 * The keys created after the position (sorted, as recovery reads them:
	 * etcd then filters before it truncates to the limit).
	 */
	r.count_only = false;
	r.keys_only = true;
	r.sort_by_create = true;
	r.limit = 1;
	r.revision = rev;
	r.min_create_rev = applied + 1;
	if ((rc = etcd_range(e->pe, &r, &now, err, errlen)) < 0)
		return rc;
	rc = now.n > 0;
	if (rc)
		snprintf(err, errlen, "a log key created at revision %" PRId64 ", after %" PRId64
		    ", not brought", now.kvs[0].create_rev, applied);
	etcd_range_res_free(&now);
	pthread_mutex_lock(&e->mu);
	/* Brought meanwhile: not missed. */
	if (e->applied_rev >= rev)
		rc = 0;
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/*
 * One check of the watch: etcd's revision now, by a read of one key (the
 * snapshot's), on a connection of its own. A revision the watch has not
 * reached SE_WATCH_LAG_MS after a read showed it is looked into: when the
 * log changed between the watch's position and it (or the snapshot covers
 * revisions past the position), the stream is stale (a member stopped, cut
 * off from its peers, or a connection that holds without data) and the
 * watch starts again on the next member. Other keys' writes move the
 * revision too: with the log unchanged, the watch is complete up to it.
 */
static void
check_watch(struct se *e)
{
	struct etcd_range_req r = { .key = e->cur_key, .key_len = strlen(e->cur_key) };
	struct etcd_range_res res;
	char err[512], why[600];
	int64_t srev = 0, target = 0;
	long long now;
	bool behind = false;
	int rc;

	if (etcd_range(e->pe, &r, &res, err, sizeof(err)) < 0)
		return;		/* etcd unreachable: the watch cannot do better */
	if (res.n > 0) {
		cJSON *j = cJSON_ParseWithLength(res.kvs[0].value, res.kvs[0].value_len);
		srev = se_json_int(j, "rev");
		cJSON_Delete(j);
	}
	now = fsio_mono_ms();
	pthread_mutex_lock(&e->mu);
	if (e->applied_rev > e->verified_rev)
		e->verified_rev = e->applied_rev;
	if (e->reloading || e->wflag != 0) {
		e->check_rev = 0;
	} else {
		if (e->check_rev != 0 && e->verified_rev >= e->check_rev)
			e->check_rev = 0;
		if (e->check_rev == 0 && res.header_rev > e->verified_rev) {
			e->check_rev = res.header_rev;
			e->check_ms = now;
		}
		if (e->check_rev != 0 && now - e->check_ms >= SE_WATCH_LAG_MS) {
			target = e->check_rev;
			behind = srev > e->applied_rev;
		}
	}
	pthread_mutex_unlock(&e->mu);
	etcd_range_res_free(&res);
	if (target == 0)
		return;
	if (behind) {
		snprintf(why, sizeof(why), "the snapshot covers up to revision %" PRId64, srev);
	} else {
		rc = log_changed(e, target, err, sizeof(err));
		if (rc < 0)
			return;
		behind = rc == 1;
		snprintf(why, sizeof(why), "%s", err);
	}
	pthread_mutex_lock(&e->mu);
	if (!behind) {
		if (target > e->verified_rev)
			e->verified_rev = target;
		e->check_rev = 0;
	} else if (e->wflag == 0 && !e->reloading) {
		log_warn("etcd: the watch (on %s) has not brought revision %" PRId64 " for %lld "
		    "ms (%s); watching again on the next member", etcd_endpoint(e->we), target,
		    now - e->check_ms, why);
		e->wflag = 2;
		e->check_ms = now;	/* the new watch's time */
		e->watch_restarts++;
	}
	pthread_mutex_unlock(&e->mu);
}

/* Every SE_CHECK_MS until the store stops. */
static void *
checker(void *arg)
{
	struct se *e = arg;
	long long next = fsio_mono_ms() + SE_CHECK_MS;

	for (;;) {
		long long now = fsio_mono_ms();
		bool stopping;
		pthread_mutex_lock(&e->mu);
		stopping = e->stopping;
		pthread_mutex_unlock(&e->mu);
		if (stopping)
			break;
		if (now < next) {
			se_sleep(e, (long)(next - now));
			continue;
		}
		check_watch(e);
		next = fsio_mono_ms() + SE_CHECK_MS;
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
	if (pthread_create(&e->checker, NULL, checker, e) != 0)
		return -EAGAIN;
	e->checker_on = true;
	return 0;
}

void
se_follow_join(struct se *e)
{
	if (e->watcher_on)
		pthread_join(e->watcher, NULL);
	if (e->checker_on)
		pthread_join(e->checker, NULL);
	e->watcher_on = e->checker_on = false;
}
