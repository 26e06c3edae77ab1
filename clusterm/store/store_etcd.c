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
#include "store_etcd_impl.h"

void
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

void
se_set_err(struct se *e, const char *why)
{
	pthread_mutex_lock(&e->mu);
	snprintf(e->last_err, sizeof(e->last_err), "%.*s", (int)sizeof(e->last_err) - 1, why);
	pthread_mutex_unlock(&e->mu);
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
	/* The committer alone: a broadcast woke every submitter in se_wait too. */
	pthread_cond_signal(&e->work_cv);
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
/*
 * A commit etcd did not confirm in time may still apply later: moving the
 * tail on past the version it compares makes sure it never does, so the
 * answer is definite. The tail then holding this batch's name means it did
 * commit (0, *ret_rev its revision); moved by the settle, it did not (-EIO,
 * err says so). etcd still silent: rc, uncertain as before.
 */
static int
settle(struct se *e, const struct etcd_op ops[2], int rc, int64_t *ret_rev, char *err,
    size_t errlen)
{
	struct etcd_cmp cmp = { .key = e->tail_key, .key_len = strlen(e->tail_key),
	    .target = ETCD_CMP_VERSION, .value = e->tail_version };
	struct etcd_op seal = { .type = ETCD_OP_PUT, .key = e->tail_key,
	    .key_len = strlen(e->tail_key), .value = "-", .value_len = 1 };
	struct etcd_range_req rq = { .key = e->tail_key, .key_len = strlen(e->tail_key) };
	struct etcd_range_res res;
	char why[256];
	int64_t rev;
	bool ok = false;

	if (etcd_txn(e->ce, &cmp, 1, &seal, 1, &ok, &rev, why, sizeof(why)) < 0)
		return rc;
	if (ok) {
		e->tail_version++;
		snprintf(err, errlen, "etcd did not confirm it in time and it was not "
		    "committed (made sure of)");
		return -EIO;
	}
	if (etcd_range(e->ce, &rq, &res, why, sizeof(why)) < 0)
		return rc;
	bool mine = res.n == 1 && res.kvs[0].value_len == ops[1].value_len &&
	    memcmp(res.kvs[0].value, ops[1].value, ops[1].value_len) == 0;
	if (res.n == 1) {
		e->tail_version = res.kvs[0].version;
		*ret_rev = res.kvs[0].mod_rev;
	}
	etcd_range_res_free(&res);
	if (mine)
		return 0;
	/* Moved by a late write of an earlier batch: this one's compare fails now. */
	snprintf(err, errlen, "etcd did not confirm it in time and it was not committed");
	return -EIO;
}

/*
 * Runs a commit guarded by the tail key's version: a txn that a silent
 * member proposes late (after the client moved on, maybe after its log key
 * was snapshotted and deleted) finds the version moved and writes nothing,
 * so no operation is applied twice. A failed compare is told apart by
 * reading the tail: still at our version, the fence failed (-EPERM); at
 * this batch's name, an earlier attempt of this very call committed;
 * moved by a late attempt of an earlier batch, the version is taken and
 * the txn sent once more.
 */
static int
commit_guarded(struct se *e, const struct etcd_cmp *fence, bool fenced,
    const struct etcd_op ops[2], int64_t *ret_rev, char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct etcd_cmp cmp[2];
		struct etcd_range_req rq = { .key = e->tail_key, .key_len = strlen(e->tail_key) };
		struct etcd_range_res res;
		size_t n = 0;
		bool ok = false;
		int rc;

		if (fenced)
			cmp[n++] = *fence;
		cmp[n++] = (struct etcd_cmp){ .key = e->tail_key, .key_len = strlen(e->tail_key),
		    .target = ETCD_CMP_VERSION, .value = e->tail_version };
		rc = etcd_txn(e->ce, cmp, n, ops, 2, &ok, ret_rev, err, errlen);
		if (rc == -EAGAIN)
			return settle(e, ops, rc, ret_rev, err, errlen);
		if (rc < 0)
			return rc;
		if (ok) {
			e->tail_version++;
			return 0;
		}
		if ((rc = etcd_range(e->ce, &rq, &res, err, errlen)) < 0)
			return rc;
		int64_t version = res.n == 1 ? res.kvs[0].version : 0;
		bool mine = res.n == 1 && res.kvs[0].value_len == ops[1].value_len &&
		    memcmp(res.kvs[0].value, ops[1].value, ops[1].value_len) == 0;
		int64_t rev = res.n == 1 ? res.kvs[0].mod_rev : 0;
		etcd_range_res_free(&res);
		if (version == e->tail_version) {
			snprintf(err, errlen, "this instance no longer leads (its leader key is gone)");
			return -EPERM;
		}
		e->tail_version = version;
		if (mine) {
			*ret_rev = rev;
			return 0;
		}
	}
	snprintf(err, errlen, "this instance's log tail keeps moving (a member applies old "
	    "writes late); try again");
	return -EAGAIN;
}

static int
commit_batch(struct se *e, struct rec *batch, size_t bytes, int64_t *ret_rev, char *err,
    size_t errlen)
{
	struct etcd_cmp cmp = { 0 };
	struct etcd_op op = { .type = ETCD_OP_PUT };
	char key[900], fkey[600], seqv[17];
	size_t off = 0;
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
	snprintf(seqv, sizeof(seqv), "%016" PRIx64, batch->seq);
	struct etcd_op ops[2] = { op, { .type = ETCD_OP_PUT, .key = e->tail_key,
	    .key_len = strlen(e->tail_key), .value = seqv, .value_len = strlen(seqv) } };
	rc = commit_guarded(e, &cmp, fence != 0, ops, ret_rev, err, errlen);
	free(val);
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
			pthread_cond_timedwait(&e->work_cv, &e->mu, &ts);
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
		pthread_cond_broadcast(&e->done_cv);
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
		pthread_cond_wait(&e->done_cv, &e->mu);
	/* Overwritten by a record STORE_ETCD_MAX_INFLIGHT later: the outcome is lost. */
	rc = e->results[seq % STORE_ETCD_MAX_INFLIGHT].seq == seq ?
	    e->results[seq % STORE_ETCD_MAX_INFLIGHT].rc : -EIO;
	pthread_mutex_unlock(&e->mu);
	return rc;
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
	pthread_cond_broadcast(&e->work_cv);
	pthread_cond_broadcast(&e->done_cv);
	pthread_mutex_unlock(&e->mu);
	if (e->we != NULL)
		etcd_abort(e->we);
	if (e->pe != NULL)
		etcd_abort(e->pe);
	se_follow_join(e);
	if (e->committer_on)
		pthread_join(e->committer, NULL);
	etcd_free(e->ce);
	etcd_free(e->we);
	etcd_free(e->re);
	etcd_free(e->pe);
	free(e->results);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	pthread_cond_destroy(&e->work_cv);
	pthread_cond_destroy(&e->done_cv);
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
	pthread_cond_init(&e->work_cv, NULL);
	pthread_cond_init(&e->done_cv, NULL);
	pthread_mutex_init(&e->snap_mu, NULL);
	e->leader = o->leader;
	if ((rc = etcd_new(&o->etcd, &e->ce, err, errlen)) < 0 ||
	    (rc = etcd_new(&o->etcd, &e->we, err, errlen)) < 0 ||
	    (rc = etcd_new(&o->etcd, &e->re, err, errlen)) < 0 ||
	    (rc = etcd_new(&o->etcd, &e->pe, err, errlen)) < 0) {
		se_close(e);
		return rc;
	}
	/* This run's keys are its own: a boot nonce from the clock and the pid. */
	snprintf(boot, sizeof(boot), "%016llx", (unsigned long long)(fsio_now_ms() * 1000003ULL ^
	    (unsigned long long)fsio_mono_ms() << 20 ^ (unsigned long long)getpid()));
	snprintf(e->logp, sizeof(e->logp), "%s/log/", o->prefix);
	etcd_prefix_end(e->logp, strlen(e->logp), e->logend, &e->logendlen);
	snprintf(e->mine, sizeof(e->mine), "%s%s/%s/", e->logp, o->instance_id, boot);
	/*
	 * Earlier runs' tails stay: deleted, a tail's version is 0 again, which
	 * a late first commit of that run would match (clusterm.conf(5)).
	 */
	snprintf(e->tail_key, sizeof(e->tail_key), "%s/tail/%s/%s", o->prefix, o->instance_id, boot);
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
