/*
 * etcd's v3 JSON gateway over libcurl: one curl handle per struct etcd
 * (connections kept alive), endpoints tried in turn within one deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "etcd.h"
#include "fsio.h"

/* A reply bigger than this is not one the gateway sends for our requests. */
#define ETCD_MAX_REPLY_BYTES	(64 * 1024 * 1024)
/* A connect gets at most this, so a dead endpoint leaves time for the next. */
#define ETCD_CONNECT_MS		1000

struct etcd {
	CURL *curl;
	char **endpoints;
	size_t n;
	size_t cur;			/* the one that answered last */
	char ca[4096], cert[4096], key[4096];
	long timeout_ms;
	char last[256];
};

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
etcd_b64_encode(const void *buf, size_t len, char *ret)
{
	const unsigned char *p = buf;
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		ret[o++] = b64[p[i] >> 2];
		ret[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		ret[o++] = b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		ret[o++] = b64[p[i + 2] & 63];
	}
	if (i < len) {
		ret[o++] = b64[p[i] >> 2];
		if (i + 1 < len) {
			ret[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			ret[o++] = b64[(p[i + 1] & 15) << 2];
		} else {
			ret[o++] = b64[(p[i] & 3) << 4];
			ret[o++] = '=';
		}
		ret[o++] = '=';
	}
	ret[o] = '\0';
	return o;
}

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
etcd_b64_decode(const char *s, size_t len, char *ret, size_t *ret_len)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		int v;
		if (s[i] == '=')
			break;
		if ((v = b64_val(s[i])) < 0)
			return -EBADMSG;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			ret[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	*ret_len = o;
	return 0;
}

void
etcd_prefix_end(const char *prefix, size_t len, char *ret, size_t *ret_len)
{
	memcpy(ret, prefix, len);
	*ret_len = len;
	while (*ret_len > 0) {
		unsigned char c = (unsigned char)ret[*ret_len - 1];
		if (c < 0xff) {
			ret[*ret_len - 1] = (char)(c + 1);
			return;
		}
		(*ret_len)--;
	}
	/* All 0xff: the whole key space after it ("\0" means that to etcd). */
	ret[0] = '\0';
	*ret_len = 1;
}

/* ---- JSON helpers ---- */

static int
add_b64(cJSON *o, const char *name, const char *buf, size_t len)
{
	char *t = malloc(4 * ((len + 2) / 3) + 1);

	if (t == NULL)
		return -ENOMEM;
	etcd_b64_encode(buf, len, t);
	cJSON *v = cJSON_AddStringToObject(o, name, t);
	free(t);
	return v == NULL ? -ENOMEM : 0;
}

static int
add_i64(cJSON *o, const char *name, int64_t v)
{
	char t[32];

	snprintf(t, sizeof(t), "%" PRId64, v);
	return cJSON_AddStringToObject(o, name, t) == NULL ? -ENOMEM : 0;
}

/* An int64 field: a JSON string (or a number); absent is 0. */
static int64_t
get_i64(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	if (cJSON_IsNumber(v))
		return (int64_t)v->valuedouble;
	return 0;
}

/* A base64 field into a malloc'd NUL-terminated buffer (absent: ""). */
static int
get_b64(const cJSON *o, const char *name, char **ret, size_t *ret_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	const char *s = cJSON_IsString(v) ? v->valuestring : "";
	size_t sl = strlen(s);
	char *b = malloc(3 * (sl / 4) + 4);

	if (b == NULL)
		return -ENOMEM;
	if (etcd_b64_decode(s, sl, b, ret_len) < 0) {
		free(b);
		return -EBADMSG;
	}
	b[*ret_len] = '\0';
	*ret = b;
	return 0;
}

static void
kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static int
kv_parse(const cJSON *o, struct etcd_kv *kv, bool want_value)
{
	memset(kv, 0, sizeof(*kv));
	if (!cJSON_IsObject(o))
		return -EBADMSG;
	if (get_b64(o, "key", &kv->key, &kv->key_len) < 0)
		return -EBADMSG;
	if (want_value && get_b64(o, "value", &kv->value, &kv->value_len) < 0) {
		kv_free(kv);
		return -EBADMSG;
	}
	kv->create_rev = get_i64(o, "create_revision");
	kv->mod_rev = get_i64(o, "mod_revision");
	kv->version = get_i64(o, "version");
	kv->lease = get_i64(o, "lease");
	return 0;
}

/* ---- the connection ---- */

int
etcd_new(const struct etcd_opts *o, struct etcd **ret, char *err, size_t errlen)
{
	struct etcd *e;

	if (o->nendpoints == 0 || o->nendpoints > ETCD_MAX_ENDPOINTS) {
		snprintf(err, errlen, "etcd: %zu endpoints (1 to %d)", o->nendpoints,
		    ETCD_MAX_ENDPOINTS);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->endpoints = calloc(o->nendpoints, sizeof(char *))) == NULL ||
	    (e->curl = curl_easy_init()) == NULL) {
		etcd_free(e);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->nendpoints; i++) {
		size_t l = strlen(o->endpoints[i]);
		if ((e->endpoints[i] = strdup(o->endpoints[i])) == NULL) {
			etcd_free(e);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		e->n++;
		while (l > 0 && e->endpoints[i][l - 1] == '/')
			e->endpoints[i][--l] = '\0';
	}
	snprintf(e->ca, sizeof(e->ca), "%s", o->ca_file ? o->ca_file : "");
	snprintf(e->cert, sizeof(e->cert), "%s", o->cert_file ? o->cert_file : "");
	snprintf(e->key, sizeof(e->key), "%s", o->key_file ? o->key_file : "");
	e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 3000;
	*ret = e;
	return 0;
}

void
etcd_free(struct etcd *e)
{
	if (e == NULL)
		return;
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	for (size_t i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e);
}

const char *
etcd_endpoint(const struct etcd *e)
{
	return e->n > 0 && e->last[0] != '\0' ? e->endpoints[e->cur] : "";
}

struct sink {
	struct buf *b;
	/* Streaming (watch): called as bytes arrive; non-zero stops. */
	int (*on_data)(struct sink *k);
	void *arg;
	int stop_rc;
	bool started;			/* bytes have arrived */
	const volatile int *stop;
	long long idle_deadline, idle_ms;
};

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;

	if (k->b->len + n > ETCD_MAX_REPLY_BYTES || buf_add(k->b, ptr, n) < 0)
		return 0;
	k->started = true;
	if (k->idle_ms > 0)
		k->idle_deadline = fsio_mono_ms() + k->idle_ms;
	if (k->on_data != NULL && (k->stop_rc = k->on_data(k)) != 0)
		return 0;
	return n;
}

static int
progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct sink *k = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	if (k->stop != NULL && *k->stop)
		return 1;
	if (k->idle_ms > 0 && fsio_mono_ms() > k->idle_deadline)
		return 1;
	return 0;
}

/*
 * POSTs body to path at one endpoint after another until one answers, all
 * within timeout_ms (0: no bound, streaming). The reply is in k->b (an
 * HTTP status in *ret_status). -EAGAIN when none answered.
 */
static int
post(struct etcd *e, const char *path, const char *body, struct sink *k, long timeout_ms,
    long *ret_status, char *err, size_t errlen)
{
	long long deadline = fsio_mono_ms() + timeout_ms;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char url[512], why[CURL_ERROR_SIZE + 600] = "no endpoint tried";
	int rc = -EAGAIN;

	if (hdr == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t t = 0; t < e->n; t++) {
		size_t i = (e->cur + t) % e->n;
		long left = timeout_ms > 0 ? (long)(deadline - fsio_mono_ms()) : 0;
		char cerr[CURL_ERROR_SIZE] = "";
		CURLcode cc;

		if (timeout_ms > 0 && left <= 0)
			break;
		buf_reset(k->b);
		snprintf(url, sizeof(url), "%s%s", e->endpoints[i], path);
		curl_easy_reset(e->curl);
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
		curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, k);
		curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, cerr);
		curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPIDLE, 2L);
		curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPINTVL, 1L);
		curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS,
		    timeout_ms > 0 && left < ETCD_CONNECT_MS ? left : (long)ETCD_CONNECT_MS);
		if (timeout_ms > 0)
			curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, left);
		if (k->stop != NULL || k->idle_ms > 0) {
			curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
			curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, k);
		}
		if (e->ca[0] != '\0')
			curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->ca);
		if (e->cert[0] != '\0')
			curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert);
		if (e->key[0] != '\0')
			curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key);
		k->idle_deadline = fsio_mono_ms() + k->idle_ms;
		cc = curl_easy_perform(e->curl);
		if (cc == CURLE_WRITE_ERROR && k->stop_rc != 0) {
			rc = k->stop_rc;
			e->cur = i;
			goto out;
		}
		if (cc == CURLE_ABORTED_BY_CALLBACK && k->stop != NULL && *k->stop) {
			e->cur = i;
			rc = 0;
			goto out;
		}
		if (cc == CURLE_OK) {
			long st = 0;
			curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &st);
			if (st >= 500 && st != 500) {
				/* A gateway without its member (503 etc.): try the next. */
				snprintf(why, sizeof(why), "%s answered HTTP %ld", url, st);
				continue;
			}
			*ret_status = st;
			e->cur = i;
			snprintf(e->last, sizeof(e->last), "%s", e->endpoints[i]);
			rc = 0;
			goto out;
		}
		snprintf(why, sizeof(why), "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
		if (k->on_data != NULL && k->started) {
			/* A stream that had started and broke: the caller reconnects. */
			e->cur = i;
			break;
		}
	}
	snprintf(err, errlen, "etcd: %s", why);
out:
	curl_slist_free_all(hdr);
	return rc;
}

/*
 * One unary call: POSTs the JSON request, parses the reply into *ret. An
 * error the gateway answered (a JSON "error") becomes -EPROTO, or
 * -ECANCELED when it says the revision was compacted.
 */
static int
call(struct etcd *e, const char *path, cJSON *req, cJSON **ret, char *err, size_t errlen)
{
	struct buf b;
	struct sink k = { .b = &b };
	char *body = cJSON_PrintUnformatted(req);
	long st = 0;
	int rc;

	buf_init(&b, ETCD_MAX_REPLY_BYTES);

	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (strlen(body) > ETCD_MAX_REQUEST_BYTES) {
		snprintf(err, errlen, "etcd: a request of %zu bytes is over the %d byte limit",
		    strlen(body), ETCD_MAX_REQUEST_BYTES);
		free(body);
		return -E2BIG;
	}
	rc = post(e, path, body, &k, e->timeout_ms, &st, err, errlen);
	free(body);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	*ret = cJSON_ParseWithLength(b.data != NULL ? b.data : "", b.len);
	if (*ret == NULL) {
		snprintf(err, errlen, "etcd %s: HTTP %ld, a reply that is not JSON", path, st);
		buf_free(&b);
		return -EBADMSG;
	}
	if (st != 200) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(*ret, "error");
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(*ret, "message");
		snprintf(err, errlen, "etcd %s: HTTP %ld: %.200s", path, st,
		    cJSON_IsString(m) ? m->valuestring : "(no message)");
		rc = cJSON_IsString(m) && strstr(m->valuestring, "compacted") != NULL ?
		    -ECANCELED : -EPROTO;
		/* No leader, timed out: etcd cannot answer now, like an unreachable one. */
		if (cJSON_IsString(m) && (strstr(m->valuestring, "no leader") != NULL ||
		    strstr(m->valuestring, "timed out") != NULL ||
		    strstr(m->valuestring, "not capable") != NULL))
			rc = -EAGAIN;
		cJSON_Delete(*ret);
		*ret = NULL;
	}
	buf_free(&b);
	return rc;
}

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
		    add_b64(c, "key", cmp[i].key, cmp[i].key_len) < 0 ||
		    cJSON_AddStringToObject(c, "target", targets[cmp[i].target]) == NULL ||
		    cJSON_AddStringToObject(c, "result", "EQUAL") == NULL ||
		    add_i64(c, fields[cmp[i].target], cmp[i].value) < 0)
			goto out;
	}
	for (size_t i = 0; i < nops; i++) {
		cJSON *o = cJSON_CreateObject(), *r;
		if (o == NULL || !cJSON_AddItemToArray(s, o))
			goto out;
		r = cJSON_AddObjectToObject(o, ops[i].type == ETCD_OP_PUT ? "request_put" :
		    "request_delete_range");
		if (r == NULL || add_b64(r, "key", ops[i].key, ops[i].key_len) < 0)
			goto out;
		if (ops[i].type == ETCD_OP_PUT) {
			if (add_b64(r, "value", ops[i].value, ops[i].value_len) < 0 ||
			    (ops[i].lease != 0 && add_i64(r, "lease", ops[i].lease) < 0))
				goto out;
		} else if (ops[i].range_end != NULL &&
		    add_b64(r, "range_end", ops[i].range_end, ops[i].range_end_len) < 0)
			goto out;
	}
	rc = call(e, "/v3/kv/txn", req, &res, err, errlen);
	if (rc == 0) {
		*ret_ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "succeeded"));
		*ret_rev = get_i64(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision");
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
	if (req == NULL || add_b64(req, "key", r->key, r->key_len) < 0 ||
	    (r->range_end != NULL && add_b64(req, "range_end", r->range_end,
	    r->range_end_len) < 0) ||
	    (r->revision > 0 && add_i64(req, "revision", r->revision) < 0) ||
	    (r->min_create_rev > 0 && add_i64(req, "min_create_revision",
	    r->min_create_rev) < 0) ||
	    (r->max_create_rev > 0 && add_i64(req, "max_create_revision",
	    r->max_create_rev) < 0) ||
	    (r->limit > 0 && add_i64(req, "limit", r->limit) < 0) ||
	    (r->keys_only && cJSON_AddTrueToObject(req, "keys_only") == NULL) ||
	    (r->sort_by_create && (cJSON_AddStringToObject(req, "sort_order", "ASCEND") == NULL ||
	    cJSON_AddStringToObject(req, "sort_target", "CREATE") == NULL))) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = call(e, "/v3/kv/range", req, &res, err, errlen);
	if (rc < 0)
		goto out;
	ret->header_rev = get_i64(cJSON_GetObjectItemCaseSensitive(res, "header"), "revision");
	ret->count = get_i64(res, "count");
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
			if ((rc = kv_parse(it, &ret->kvs[ret->n], !r->keys_only)) < 0) {
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
		kv_free(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

/* ---- watch ---- */

struct watch_ctx {
	etcd_watch_fn fn;
	void *arg;
	int64_t compact_rev;
	bool canceled;
	size_t used;			/* bytes of the buffer already parsed */
	char err[256];
};

/* One result of the stream: events handed to fn; non-zero stops. */
static int
watch_result(struct watch_ctx *w, const cJSON *root)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "result");
	const cJSON *evs, *it;
	struct etcd_event *ev;
	size_t n = 0;
	int rc;

	if (!cJSON_IsObject(r)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "error");
		snprintf(w->err, sizeof(w->err), "etcd watch: %.200s", cJSON_IsObject(m) ?
		    "the gateway ended the stream with an error" : "a message without a result");
		return -EAGAIN;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "canceled"))) {
		w->compact_rev = get_i64(r, "compact_revision");
		w->canceled = true;
		snprintf(w->err, sizeof(w->err), "etcd watch: canceled (revision compacted "
		    "up to %" PRId64 ")", w->compact_rev);
		return w->compact_rev > 0 ? -ECANCELED : -EAGAIN;
	}
	evs = cJSON_GetObjectItemCaseSensitive(r, "events");
	if (!cJSON_IsArray(evs) || cJSON_GetArraySize(evs) == 0)
		return 0;
	ev = calloc((size_t)cJSON_GetArraySize(evs), sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;
	rc = 0;
	cJSON_ArrayForEach(it, evs) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		ev[n].type = cJSON_IsString(t) && strcmp(t->valuestring, "DELETE") == 0 ?
		    ETCD_EV_DELETE : ETCD_EV_PUT;
		if (kv_parse(cJSON_GetObjectItemCaseSensitive(it, "kv"), &ev[n].kv,
		    ev[n].type == ETCD_EV_PUT) < 0) {
			snprintf(w->err, sizeof(w->err), "etcd watch: an event that is not etcd's");
			rc = -EBADMSG;
			break;
		}
		n++;
	}
	if (rc == 0)
		rc = w->fn(ev, n, get_i64(cJSON_GetObjectItemCaseSensitive(r, "header"),
		    "revision"), w->arg);
	for (size_t i = 0; i < n; i++)
		kv_free(&ev[i].kv);
	free(ev);
	return rc;
}

/* Parses every complete line that has arrived. */
static int
watch_data(struct sink *k)
{
	struct watch_ctx *w = k->arg;

	for (;;) {
		char *start = k->b->data + w->used;
		char *nl = memchr(start, '\n', k->b->len - w->used);
		cJSON *root;
		int rc;

		if (nl == NULL)
			break;
		root = cJSON_ParseWithLength(start, (size_t)(nl - start));
		w->used += (size_t)(nl - start) + 1;
		if (root == NULL) {
			snprintf(w->err, sizeof(w->err), "etcd watch: a line that is not JSON");
			return -EBADMSG;
		}
		rc = watch_result(w, root);
		cJSON_Delete(root);
		if (rc != 0)
			return rc;
	}
	/* Everything parsed: start the buffer over. */
	if (w->used == k->b->len) {
		buf_reset(k->b);
		w->used = 0;
	}
	return 0;
}

int
etcd_watch(struct etcd *e, const char *key, size_t key_len, const char *range_end,
    size_t range_end_len, int64_t start_rev, etcd_watch_fn fn, void *arg,
    const volatile int *stop, int64_t *ret_compact_rev, char *err, size_t errlen)
{
	struct watch_ctx w = { .fn = fn, .arg = arg };
	struct buf b;
	struct sink k = { .b = &b, .on_data = watch_data, .arg = &w, .stop = stop };
	cJSON *req = cJSON_CreateObject(), *c;
	char *body = NULL;
	long st = 0;
	int rc = -ENOMEM;

	buf_init(&b, ETCD_MAX_REPLY_BYTES);
	if (req == NULL || (c = cJSON_AddObjectToObject(req, "create_request")) == NULL ||
	    add_b64(c, "key", key, key_len) < 0 ||
	    (range_end != NULL && add_b64(c, "range_end", range_end, range_end_len) < 0) ||
	    add_i64(c, "start_revision", start_rev) < 0 ||
	    (body = cJSON_PrintUnformatted(req)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = post(e, "/v3/watch", body, &k, 0, &st, err, errlen);
	if (rc == 0 && stop != NULL && *stop)
		goto out;
	if (rc == 0) {
		/* The stream ended: etcd went away or the gateway closed it. */
		snprintf(err, errlen, "etcd watch: the stream from %s ended (HTTP %ld)",
		    etcd_endpoint(e), st);
		rc = -EAGAIN;
	} else if (w.err[0] != '\0') {
		snprintf(err, errlen, "%s", w.err);
	}
	if (rc == -ECANCELED)
		*ret_compact_rev = w.compact_rev;
out:
	free(body);
	cJSON_Delete(req);
	buf_free(&b);
	return rc;
}

/* ---- leases, compaction ---- */

int
etcd_lease_grant(struct etcd *e, long ttl_s, int64_t *ret_id, char *err, size_t errlen)
{
	cJSON *req = cJSON_CreateObject(), *res = NULL;
	int rc = -ENOMEM;

	if (req == NULL || add_i64(req, "TTL", ttl_s) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = call(e, "/v3/lease/grant", req, &res, err, errlen);
	if (rc == 0 && (*ret_id = get_i64(res, "ID")) == 0) {
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

	if (req == NULL || add_i64(req, "ID", id) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = call(e, "/v3/lease/keepalive", req, &res, err, errlen);
	if (rc == 0) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(res, "result");
		if (!cJSON_IsObject(r)) {
			snprintf(err, errlen, "etcd lease keepalive: a reply without a result");
			rc = -EBADMSG;
		} else {
			*ret_ttl = (long)get_i64(r, "TTL");
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

	if (req == NULL || add_i64(req, "ID", id) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = call(e, "/v3/lease/revoke", req, &res, err, errlen);
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

	if (req == NULL || add_i64(req, "revision", rev) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = call(e, "/v3/kv/compaction", req, &res, err, errlen);
out:
	cJSON_Delete(req);
	cJSON_Delete(res);
	return rc;
}
