/* The etcd backend: the leader's snapshots and the log's trim behind them, job logs. */
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

/* ---- snapshots ---- */

int
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

int
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
			int64_t cur_rev = se_json_int(j, "rev");
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

int
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

int
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

bool
se_leads(void *b)
{
	struct se *e = b;

	return e->leader != NULL && leader_fence(e->leader, NULL, 0) != 0;
}
