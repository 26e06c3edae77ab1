/*
 * etcd's v3 JSON gateway over libcurl: one curl handle per struct etcd
 * (connections kept alive), endpoints tried in turn within one deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "etcd.h"
#include "etcd_impl.h"
#include "fsio.h"

/* A connect gets at most this, so a dead endpoint leaves time for the next. */
#define ETCD_CONNECT_MS		1000


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

int
etcd_add_b64(cJSON *o, const char *name, const char *buf, size_t len)
{
	char *t = malloc(4 * ((len + 2) / 3) + 1);

	if (t == NULL)
		return -ENOMEM;
	etcd_b64_encode(buf, len, t);
	cJSON *v = cJSON_AddStringToObject(o, name, t);
	free(t);
	return v == NULL ? -ENOMEM : 0;
}

int
etcd_add_i64(cJSON *o, const char *name, int64_t v)
{
	char t[32];

	snprintf(t, sizeof(t), "%" PRId64, v);
	return cJSON_AddStringToObject(o, name, t) == NULL ? -ENOMEM : 0;
}

/* An int64 field: a JSON string (or a number); absent is 0. */
int64_t
etcd_get_i64(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	if (cJSON_IsNumber(v))
		return (int64_t)v->valuedouble;
	return 0;
}

/* A base64 field into a malloc'd NUL-terminated buffer (absent: ""). */
int
etcd_get_b64(const cJSON *o, const char *name, char **ret, size_t *ret_len)
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

void
etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

int
etcd_kv_parse(const cJSON *o, struct etcd_kv *kv, bool want_value)
{
	memset(kv, 0, sizeof(*kv));
	if (!cJSON_IsObject(o))
		return -EBADMSG;
	if (etcd_get_b64(o, "key", &kv->key, &kv->key_len) < 0)
		return -EBADMSG;
	if (want_value && etcd_get_b64(o, "value", &kv->value, &kv->value_len) < 0) {
		etcd_kv_free(kv);
		return -EBADMSG;
	}
	kv->create_rev = etcd_get_i64(o, "create_revision");
	kv->mod_rev = etcd_get_i64(o, "mod_revision");
	kv->version = etcd_get_i64(o, "version");
	kv->lease = etcd_get_i64(o, "lease");
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
	pthread_mutex_init(&e->fd_mu, NULL);
	e->stream_fd = -1;
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
	pthread_mutex_destroy(&e->fd_mu);
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


/* A stream's socket, so that etcd_abort() can end it at once. */
static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct etcd *e = arg;

	(void)purpose;
	pthread_mutex_lock(&e->fd_mu);
	e->stream_fd = fd;
	if (e->aborted)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&e->fd_mu);
	return CURL_SOCKOPT_OK;
}

void
etcd_abort(struct etcd *e)
{
	pthread_mutex_lock(&e->fd_mu);
	e->aborted = true;
	if (e->stream_fd >= 0)
		shutdown(e->stream_fd, SHUT_RDWR);
	pthread_mutex_unlock(&e->fd_mu);
}

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
int
etcd_post(struct etcd *e, const char *path, const char *body, struct sink *k, long timeout_ms,
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
		if (k->stop != NULL) {
			curl_easy_setopt(e->curl, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
			curl_easy_setopt(e->curl, CURLOPT_SOCKOPTDATA, e);
		}
		cc = curl_easy_perform(e->curl);
		if (k->stop != NULL) {
			pthread_mutex_lock(&e->fd_mu);
			e->stream_fd = -1;
			pthread_mutex_unlock(&e->fd_mu);
		}
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
int
etcd_call(struct etcd *e, const char *path, cJSON *req, cJSON **ret, char *err, size_t errlen)
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
	rc = etcd_post(e, path, body, &k, e->timeout_ms, &st, err, errlen);
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
