/* etcd's key-value, lease and compaction calls. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "etcd_impl.h"

/* ---- kv ---- */

int
etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t ncmp, const struct etcd_op *ops,
    size_t nops, bool *ret_ok, int64_t *ret_rev, char *err, size_t errlen)
{
	static const char *const targets[] = { "CREATE", "MOD", "VERSION" };
	static const char *const fields[] = { "create_revision", "mod_revision", "version" };
	cJSON *req = cJSON_CreateObject(), *res = NULL, *a, *s;
	int rc = -ENOMEM;

	if (ncmp + nops > ETCD_MAX_TXN_OPS) {
		cJSON_Delete(req);
		snprintf(err, errlen, "etcd: a txn of %zu operations is over the limit of %d",
		    ncmp + nops, ETCD_MAX_TXN_OPS);
		return -E2BIG;
	}
	if (req == NULL || (a = cJSON_AddArrayToObject(req, "compare")) == NULL ||
	    (s = cJSON_AddArrayToObject(req, "success")) == NULL)
		goto out;
	for (size_t i = 0; i < ncmp; i++) {
		cJSON *c = cJSON_CreateObject();
		if (c == NULL || !cJSON_AddItemToArray(a, c) ||
		    etcd_add_b64(c, "key", cmp[i].key, cmp[i].key_len) < 0 ||
		    cJSON_AddStringToObject(c, "target", targets[cmp[i].target]) == NULL ||
		    cJSON_AddStringToObject(c, "result", "EQUAL") == NULL ||
		    etcd_add_i64(c, fields[cmp[i].target], cmp[i].value) < 0)
			goto out;
	}
	for (size_t i = 0; i < nops; i++) {
		cJSON *o = cJSON_CreateObject(), *r;
		if (o == NULL || !cJSON_AddItemToArray(s, o))
			goto out;
		r = cJSON_AddObjectToObject(o, ops[i].type == ETCD_OP_PUT ? "request_put" :
		    "request_delete_range");
		if (r == NULL || etcd_add_b64(r, "key", ops[i].key, ops[i].key_len) < 0)
			goto out;
		if (ops[i].type == ETCD_OP_PUT) {
			if (etcd_add_b64(r, "value", ops[i].value, ops[i].value_len) < 0 ||
			    (ops[i].lease != 0 && etcd_add_i64(r, "lease", ops[i].lease) < 0))
				goto out;
		} else if (ops[i].range_end != NULL &&
		    etcd_add_b64(r, "range_end", ops[i].range_end, ops[i].range_end_len) < 0)
			goto out;
	}
	rc = etcd_call(e, "/v3/kv/txn", req, &res, err, errlen);
	if (rc == 0) {
		*ret_ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"));
		*ret_rev = etcd_get_i64(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision");
	}
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}

int
etcd_range(struct etcd *e, const struct etcd_range_req *r, struct etcd_range_res *ret,
    char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	const cJSON *kvs, *it;
	int rc = -ENOMEM;

	memset(ret, 0, sizeof(*ret));
	if (req == NULL || etcd_add_b64(req, "key", r->key, r->key_len) < 0 ||
	    (r->range_end != NULL && etcd_add_b64(req, "range_end", r->range_end,
	    r->range_end_len) < 0) ||
	    (r->revision > 0 && etcd_add_i64(req, "revision", r->revision) < 0) ||
	    (r->min_create_rev > 0 && etcd_add_i64(req, "min_create_revision",
	    r->min_create_rev) < 0) ||
	    (r->max_create_rev > 0 && etcd_add_i64(req, "max_create_revision",
	    r->max_create_rev) < 0) ||
	    (r->limit > 0 && etcd_add_i64(req, "limit", r->limit) < 0) ||
	    (r->keys_only && cJSON_AddTrueToObject(req, "keys_only") == NULL) ||
	    (r->count_only && cJSON_AddTrueToObject(req, "count_only") == NULL) ||
	    (r->sort_by_create && (cJSON_AddStringToObject(req, "sort_order", "ASCEND") == NULL ||
	    cJSON_AddStringToObject(req, "sort_target", "CREATE") == NULL))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = etcd_call(e, "/v3/kv/range", req, &res, err, errlen);
	if (rc < 0)
		goto out;
	ret->header_rev = etcd_get_i64(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision");
	ret->count = etcd_get_i64(res, "count");
	ret->more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "more"));
	kvs = cJSON_GetObjectItemCaseSensitive(res, "kvs");
	if (cJSON_IsArray(kvs) && cJSON_GetArraySize(kvs) > 0) {
		ret->kvs = calloc((size_t)cJSON_GetArraySize(kvs), sizeof(*ret->kvs));
		if (ret->kvs == NULL) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		cJSON_ArrayForEach(it, kvs) {
			if ((rc = etcd_kv_parse(it, &ret->kvs[ret->n], !r->keys_only)) < 0) {
				snprintf(err, errlen, "etcd range: a key-value that is not etcd's");
				etcd_range_res_free(ret);
				goto out;
			}
			ret->n++;
		}
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}

void
etcd_range_res_free(struct etcd_range_res *r)
{
	for (size_t i = 0; i < r->n; i++)
		etcd_kv_free(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

/* ---- leases, compaction ---- */

int
etcd_lease_grant(struct etcd *e, long ttl_s, int64_t *ret_id, char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	int rc = -ENOMEM;

	if (req == NULL || etcd_add_i64(req, "TTL", ttl_s) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = etcd_call(e, "/v3/lease/grant", req, &res, err, errlen);
	if (rc == 0 && (*ret_id = etcd_get_i64(res, "ID")) == 0) {
		snprintf(err, errlen, "etcd lease grant: no lease in the reply");
		rc = -EBADMSG;
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}

int
etcd_lease_keepalive(struct etcd *e, int64_t id, long *ret_ttl, char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	int rc = -ENOMEM;

	if (req == NULL || etcd_add_i64(req, "ID", id) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = etcd_call(e, "/v3/lease/keepalive", req, &res, err, errlen);
	if (rc == 0) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(res, "result");
		if (!cJSON_IsObject(r)) {
			snprintf(err, errlen, "etcd lease keepalive: a reply without a result");
			rc = -EBADMSG;
		} else {
			*ret_ttl = (long)etcd_get_i64(r, "TTL");
		}
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}

int
etcd_lease_revoke(struct etcd *e, int64_t id, char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	int rc = -ENOMEM;

	if (req == NULL || etcd_add_i64(req, "ID", id) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = etcd_call(e, "/v3/lease/revoke", req, &res, err, errlen);
out:
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}

int
etcd_compact(struct etcd *e, int64_t rev, char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	int rc = -ENOMEM;

	if (req == NULL || etcd_add_i64(req, "revision", rev) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = etcd_call(e, "/v3/kv/compaction", req, &res, err, errlen);
out:
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}
