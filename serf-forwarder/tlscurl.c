/*
 * HTTPS through a libcurl loaded at run time. Only <curl/curl.h>'s types
 * and constants are used at build time; the functions come from dlsym().
 * CURLcode results become HTTP1_ERR_* codes here.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "fsio.h"
#include "tlscurl.h"

/* Longest "Authorization: Bearer ..." line built here. */
#define AUTH_HEADER_MAX	4200

/* The libcurl functions used, resolved once. */
struct curl_fns {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *e);
	CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *e);
	const char *(*easy_strerror)(CURLcode c);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
};

static struct curl_fns fns;
static bool fns_loaded;

struct sink {
	char *buf;
	size_t len, cap;
	bool over;
};

/* dlsym() into a function pointer without the object/function cast warning. */
static int
sym(void *h, const char *name, void *ret_fn, size_t size, char *err, size_t errlen)
{
	void *p = dlsym(h, name);

	if (p == NULL) {
		snprintf(err, errlen, "%s has no %s", TLSCURL_SONAME, name);
		return -ENOENT;
	}
	memcpy(ret_fn, &p, size);
	return 0;
}

/* Loads libcurl and initialises it, once per process. */
static int
load(char *err, size_t errlen)
{
	struct curl_fns f;
	const char *why;
	void *h;

	if (fns_loaded)
		return 0;
	h = dlopen(TLSCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		why = dlerror();
		snprintf(err, errlen, "cannot load %s for HTTPS: %s", TLSCURL_SONAME,
		    why != NULL ? why : "unknown error");
		return HTTP1_ERR_TLS;
	}
#define SYM(field, name) sym(h, name, &f.field, sizeof(f.field), err, errlen)
	if (SYM(global_init, "curl_global_init") < 0 ||
	    SYM(easy_init, "curl_easy_init") < 0 ||
	    SYM(easy_setopt, "curl_easy_setopt") < 0 ||
	    SYM(easy_perform, "curl_easy_perform") < 0 ||
	    SYM(easy_getinfo, "curl_easy_getinfo") < 0 ||
	    SYM(easy_cleanup, "curl_easy_cleanup") < 0 ||
	    SYM(easy_strerror, "curl_easy_strerror") < 0 ||
	    SYM(slist_append, "curl_slist_append") < 0 ||
	    SYM(slist_free_all, "curl_slist_free_all") < 0) {
		dlclose(h);
		return HTTP1_ERR_TLS;
	}
#undef SYM
	if (f.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "%s: curl_global_init failed", TLSCURL_SONAME);
		dlclose(h);
		return HTTP1_ERR_TLS;
	}
	/* h stays open for the rest of the process: libcurl keeps global state. */
	fns = f;
	fns_loaded = true;
	return 0;
}

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->len + n > HTTP1_BODY_MAX) {
		s->over = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 1024;
		char *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (b == NULL)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, ptr, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static int
map_code(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return HTTP1_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP1_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return HTTP1_ERR_TLS;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		return HTTP1_ERR_PROTO;
	default:
		return HTTP1_ERR_IO;
	}
}

/* Milliseconds until deadline, at least 1 (0 would mean "no limit" to libcurl). */
static long
left_ms(long long deadline_ms)
{
	long long left = deadline_ms - fsio_mono_ms();

	return left < 1 ? 1 : left > 3600000 ? 3600000 : (long)left;
}

/* Appends line to *l; false on out of memory (*l is kept). */
static bool
add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *h = fns.slist_append(*l, line);

	if (h == NULL)
		return false;
	*l = h;
	return true;
}

/*
 * The request headers into *ret (the caller frees it with slist_free_all,
 * also on failure): -EINVAL (err says which is too long) or -ENOMEM.
 */
static int
build_headers(const struct http1_req *rq, struct curl_slist **ret, char *err, size_t errlen)
{
	char auth[AUTH_HEADER_MAX], ctype[256];

	if (!add_header(ret, "Accept: application/json"))
		return -ENOMEM;
	if (rq->content_type != NULL) {
		if ((size_t)snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		    rq->content_type) >= sizeof(ctype)) {
			snprintf(err, errlen, "%s: Content-Type too long", rq->url);
			return -EINVAL;
		}
		if (!add_header(ret, ctype))
			return -ENOMEM;
	}
	/* "Expect: 100-continue" costs a round trip on bodies over 1 KiB. */
	if (!add_header(ret, "Expect:"))
		return -ENOMEM;
	if (rq->token != NULL && rq->token[0] != '\0') {
		if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    rq->token) >= sizeof(auth)) {
			snprintf(err, errlen, "%s: token too long", rq->url);
			return -EINVAL;
		}
		if (!add_header(ret, auth))
			return -ENOMEM;
	}
	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		if (!add_header(ret, rq->headers[i]))
			return -ENOMEM;
	return 0;
}

/* The options of one exchange on e: URL, headers, body, TLS files, time bounds. */
static void
set_options(CURL *e, const struct http1_req *rq, struct curl_slist *hdrs, char *errbuf,
    struct sink *s)
{
	fns.easy_setopt(e, CURLOPT_URL, rq->url);
	fns.easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
	fns.easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	fns.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	fns.easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
	fns.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	fns.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	fns.easy_setopt(e, CURLOPT_WRITEDATA, s);
	fns.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	fns.easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	if (rq->body != NULL) {
		fns.easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
		fns.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
	}
	if (rq->ca_file != NULL && rq->ca_file[0] != '\0')
		fns.easy_setopt(e, CURLOPT_CAINFO, rq->ca_file);
	if (rq->cert_file != NULL && rq->cert_file[0] != '\0')
		fns.easy_setopt(e, CURLOPT_SSLCERT, rq->cert_file);
	if (rq->key_file != NULL && rq->key_file[0] != '\0')
		fns.easy_setopt(e, CURLOPT_SSLKEY, rq->key_file);
	fns.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left_ms(rq->connect_deadline_ms));
	fns.easy_setopt(e, CURLOPT_TIMEOUT_MS, left_ms(rq->deadline_ms));
}

int
tlscurl_request(const struct http1_req *rq, struct http1_resp *ret, char *err,
    size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct sink s = { 0 };
	CURLcode c;
	CURL *e = NULL;
	long status = 0;
	int rc;

	if ((rc = load(errbuf, sizeof(errbuf))) < 0) {
		snprintf(err, errlen, "%s: %s", rq->url, errbuf);
		return rc;
	}
	if ((e = fns.easy_init()) == NULL)
		goto fail;
	rc = build_headers(rq, &hdrs, err, errlen);
	if (rc == -ENOMEM)
		goto fail;
	if (rc < 0)
		goto done;
	set_options(e, rq, hdrs, errbuf, &s);
	c = fns.easy_perform(e);
	if (c != CURLE_OK) {
		rc = s.over ? HTTP1_ERR_PROTO : map_code(c);
		snprintf(err, errlen, "%s: %s", rq->url, s.over ? "reply body over the limit" :
		    errbuf[0] ? errbuf : fns.easy_strerror(c));
		goto done;
	}
	fns.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (s.buf == NULL && (s.buf = calloc(1, 1)) == NULL)
		goto fail;
	ret->status = status;
	ret->body = s.buf;
	ret->len = s.len;
	s.buf = NULL;
	rc = 0;
	goto done;
fail:
	snprintf(err, errlen, "%s: out of memory", rq->url);
	rc = -ENOMEM;
done:
	free(s.buf);
	if (hdrs != NULL)
		fns.slist_free_all(hdrs);
	if (e != NULL)
		fns.easy_cleanup(e);
	return rc;
}
