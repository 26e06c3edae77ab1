/* The HTTP client: one libcurl easy handle per request, results as project codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "httpc.h"

struct sink {
	struct buf body;	/* collected when there is no on_data */
	const struct httpc_opts *o;
	bool aborted;
};

int
httpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : HTTPC_ERR_OTHER;
}

void
httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

static size_t
on_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (s->o != NULL && s->o->on_data != NULL) {
		if (s->o->on_data(ptr, n, s->o->on_data_arg) != 0) {
			s->aborted = true;
			return 0;
		}
		return n;
	}
	return buf_add(&s->body, ptr, n) == 0 ? n : 0;
}

static int
map_code(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return HTTPC_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTPC_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return HTTPC_ERR_TLS;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return HTTPC_ERR_IO;
	case CURLE_WRITE_ERROR:
		return HTTPC_ERR_ABORTED;
	default:
		return HTTPC_ERR_OTHER;
	}
}

/* Appends line to *l. 0 or -ENOMEM (*l unchanged). */
static int
add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *h = curl_slist_append(*l, line);

	if (h == NULL)
		return -ENOMEM;
	*l = h;
	return 0;
}

/*
 * The request headers, appended to *l (which the caller frees with
 * curl_slist_free_all, also after a failure). 0, -ENOMEM, or -EINVAL with
 * err set when the token does not fit.
 */
static int
build_headers(struct curl_slist **l, bool has_body, const struct httpc_opts *o,
    char *err, size_t errlen)
{
	char auth[1024];

	if (add_header(l, "Accept: application/json") < 0)
		return -ENOMEM;
	if (has_body && add_header(l, "Content-Type: application/json") < 0)
		return -ENOMEM;
	/* "Expect: 100-continue" costs a round trip on bodies over 1 KiB. */
	if (add_header(l, "Expect:") < 0)
		return -ENOMEM;
	if (o != NULL && o->token != NULL && o->token[0] != '\0') {
		if ((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    o->token) >= sizeof(auth)) {
			snprintf(err, errlen, "token too long");
			return -EINVAL;
		}
		if (add_header(l, auth) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; o != NULL && o->headers != NULL && o->headers[i] != NULL; i++)
		if (add_header(l, o->headers[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* The options of one request on e; errbuf and s must outlive the transfer. */
static void
set_options(CURL *e, const char *method, const char *url, struct curl_slist *hdrs,
    const char *body, size_t len, const struct httpc_opts *o, char *errbuf,
    struct sink *s)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	if (body != NULL) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (o == NULL)
		return;
	if (o->ca_file != NULL && o->ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file != NULL && o->cert_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLCERT, o->cert_file);
	if (o->key_file != NULL && o->key_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLKEY, o->key_file);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	if (o->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
}

int
httpc_request(const char *method, const char *url, const char *body, size_t len,
    const struct httpc_opts *o, struct httpc_response *ret, char *err, size_t errlen)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct sink s = { .o = o };
	CURLcode c = CURLE_OUT_OF_MEMORY;
	CURL *e;
	long status = 0;
	int rc;

	buf_init(&s.body, 0);
	e = curl_easy_init();
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = build_headers(&hdrs, body != NULL, o, err, errlen);
	if (rc == -EINVAL)
		goto done;
	if (rc < 0)
		goto out;	/* c: out of memory */
	set_options(e, method, url, hdrs, body, len, o, errbuf, &s);
	c = curl_easy_perform(e);
out:
	if (c != CURLE_OK) {
		rc = s.aborted ? HTTPC_ERR_ABORTED : map_code(c);
		snprintf(err, errlen, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(c));
		goto done;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	ret->status = status;
	if (o != NULL && o->on_data != NULL) {
		ret->body = NULL;
		ret->len = 0;
	} else {
		ret->len = s.body.len;
		ret->body = buf_take(&s.body);
	}
	rc = 0;
done:
	buf_free(&s.body);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(e);
	return rc;
}

void
httpc_response_finish(struct httpc_response *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

bool
httpc_is_retryable(int rc, long status)
{
	if (rc != 0)
		return rc != HTTPC_ERR_ABORTED && rc != -EINVAL;
	return status >= 500 || status == 0;
}
