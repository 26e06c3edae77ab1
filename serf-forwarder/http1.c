/*
 * The HTTP client's front: URL parsing, the request head, and one exchange
 * (lookup, connect and send in http1_net.c, TLS for https:// in
 * http1_tls.c, the reply in http1_reply.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http1_impl.h"
#include "text.h"
#include "version.h"

#define PORT_DEFAULT	80
#define PORT_DEFAULT_TLS	443

bool
http1_is_https(const char *url)
{
	return strncasecmp(url, "https://", 8) == 0;
}

bool
http1_is_retryable(int rc)
{
	return rc != -EINVAL && rc != -ENOMEM;
}

void
http1_resp_finish(struct http1_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* Splits an http:// or https:// URL. -EINVAL when it is not one this client takes. */
static int
parse_url(const char *url, struct http1_url *ret)
{
	struct http1_url u = { .path = "" };
	const char *a, *end, *hs, *he, *ps = NULL;
	size_t alen;

	if (strncasecmp(url, "http://", 7) == 0) {
		a = url + 7;
	} else if (http1_is_https(url)) {
		a = url + 8;
		u.tls = true;
	} else {
		return -EINVAL;
	}
	end = a + strcspn(a, "/?#");
	alen = (size_t)(end - a);
	if (alen == 0 || alen >= sizeof(u.authority) || memchr(a, '@', alen) != NULL ||
	    !text_visible(a, alen, false))
		return -EINVAL;
	if (*a == '[') {
		hs = a + 1;
		he = memchr(hs, ']', alen - 1);
		if (he == NULL)
			return -EINVAL;
		if (he + 1 < end) {
			if (he[1] != ':')
				return -EINVAL;
			ps = he + 2;
		}
	} else {
		hs = a;
		he = memchr(a, ':', alen);
		if (he != NULL)
			ps = he + 1;
		else
			he = end;
	}
	if (he == hs || (size_t)(he - hs) > HTTP1_HOST_MAX)
		return -EINVAL;
	memcpy(u.host, hs, (size_t)(he - hs));
	u.host[he - hs] = '\0';
	memcpy(u.authority, a, alen);
	u.authority[alen] = '\0';
	if (ps != NULL && ps < end) {
		char digits[8], *dend;
		long port;

		if ((size_t)(end - ps) >= sizeof(digits) || strspn(ps, "0123456789") <
		    (size_t)(end - ps))
			return -EINVAL;
		memcpy(digits, ps, (size_t)(end - ps));
		digits[end - ps] = '\0';
		errno = 0;
		port = strtol(digits, &dend, 10);
		if (errno != 0 || *dend != '\0' || port < 1 || port > 65535)
			return -EINVAL;
		snprintf(u.port, sizeof(u.port), "%ld", port);
	} else {
		snprintf(u.port, sizeof(u.port), "%d", u.tls ? PORT_DEFAULT_TLS : PORT_DEFAULT);
	}
	u.path = end;
	u.pathlen = strcspn(end, "#");
	if (!text_visible(u.path, u.pathlen, false))
		return -EINVAL;
	*ret = u;
	return 0;
}

/* Appends to the request head; -EINVAL when it would pass the limit. */
static int
head_add(char *head, size_t *len, const char *fmt, const char *a, size_t alen,
    const char *b)
{
	size_t left = HTTP1_HEAD_MAX - *len;
	int n = snprintf(head + *len, left, fmt, (int)alen, a, b);

	if (n < 0 || (size_t)n >= left)
		return -EINVAL;
	*len += (size_t)n;
	return 0;
}

/* The request line and headers into head (HTTP1_HEAD_MAX bytes). */
static int
build_head(const struct http1_req *rq, const struct http1_url *u, char *head,
    size_t *ret_len, char *err, size_t errlen)
{
	const char *path = u->pathlen > 0 ? u->path : "/";
	size_t len = 0, plen = u->pathlen > 0 ? u->pathlen : 1;
	char clen[32];
	int r;

	if (rq->method == NULL || rq->method[0] == '\0' ||
	    !text_visible(rq->method, strlen(rq->method), false)) {
		snprintf(err, errlen, "bad method");
		return -EINVAL;
	}
	snprintf(clen, sizeof(clen), "%zu", rq->len);
	/* A path that starts with '?' still needs its '/'. */
	r = head_add(head, &len, "%.*s %s", rq->method, strlen(rq->method),
	    path[0] == '?' ? "/" : "");
	if (r == 0)
		r = head_add(head, &len, "%.*s%s", path, plen, " HTTP/1.1\r\n");
	if (r == 0)
		r = head_add(head, &len, "Host: %.*s%s", u->authority, strlen(u->authority),
		    "\r\n");
	if (r == 0)
		r = head_add(head, &len, "User-Agent: %.*s%s", "serf-forwarder/",
		    strlen("serf-forwarder/"), PROJECT_VERSION "\r\n"
		    "Accept: application/json\r\nConnection: close\r\n");
	if (r == 0 && rq->content_type != NULL) {
		if (!text_visible(rq->content_type, strlen(rq->content_type), true)) {
			snprintf(err, errlen, "bad Content-Type");
			return -EINVAL;
		}
		r = head_add(head, &len, "Content-Type: %.*s%s", rq->content_type,
		    strlen(rq->content_type), "\r\n");
	}
	if (r == 0 && rq->body != NULL)
		r = head_add(head, &len, "Content-Length: %.*s%s", clen, strlen(clen), "\r\n");
	if (r == 0 && rq->token != NULL && rq->token[0] != '\0') {
		if (!text_visible(rq->token, strlen(rq->token), true)) {
			snprintf(err, errlen, "the token holds control characters");
			return -EINVAL;
		}
		r = head_add(head, &len, "Authorization: Bearer %.*s%s", rq->token,
		    strlen(rq->token), "\r\n");
	}
	for (size_t i = 0; r == 0 && rq->headers != NULL && rq->headers[i] != NULL; i++) {
		const char *h = rq->headers[i];
		const char *colon = strchr(h, ':');

		if (colon == NULL || colon == h || !text_visible(h, (size_t)(colon - h), false) ||
		    !text_visible(colon, strlen(colon), true)) {
			snprintf(err, errlen, "bad request header %.80s", h);
			return -EINVAL;
		}
		r = head_add(head, &len, "%.*s%s", h, strlen(h), "\r\n");
	}
	if (r == 0)
		r = head_add(head, &len, "%.*s%s", "", 0, "\r\n");
	if (r < 0) {
		snprintf(err, errlen, "request head over %d bytes", HTTP1_HEAD_MAX);
		return r;
	}
	*ret_len = len;
	return 0;
}

/* Sends the request on c (TLS when c->tls): 0, HTTP1_ERR_TIMEOUT, HTTP1_ERR_TLS or -errno. */
static int
send_request(struct http1_conn *c, const struct http1_req *rq, const char *head,
    size_t hlen)
{
	int r;

	if (c->tls == NULL)
		return http1_net_send(c->fd, head, hlen, rq->body, rq->len, rq->deadline_ms);
	r = http1_tls_send(c->tls, head, hlen, rq->deadline_ms);
	if (r == 0 && rq->body != NULL && rq->len > 0)
		r = http1_tls_send(c->tls, rq->body, rq->len, rq->deadline_ms);
	return r;
}

/* TLS when u says so, the request and the reply on the connected c->fd. */
static int
exchange(struct http1_conn *c, const struct http1_url *u, const struct http1_req *rq,
    long long cdl, const char *head, size_t hlen, struct http1_resp *ret, char *what,
    size_t whatlen)
{
	char send_err[256] = "";
	int r, sr;

	if (u->tls && (r = http1_tls_open(c->fd, u, rq, cdl, &c->tls, what, whatlen)) < 0)
		return r;
	sr = send_request(c, rq, head, hlen);
	if (sr == HTTP1_ERR_TIMEOUT) {
		snprintf(what, whatlen, "sending the request: not done within the time bound");
		return sr;
	}
	/*
	 * A server may answer (413, say) and close before taking the whole
	 * body: read what it said before reporting the failed send.
	 */
	if (sr < 0)	/* the send's own reason, before the read can replace it */
		snprintf(send_err, sizeof(send_err), "%s", c->tls != NULL ?
		    http1_tls_error(c->tls) : strerror(-sr));
	c->deadline_ms = rq->deadline_ms;
	c->pos = c->len = 0;
	r = http1_reply_read(c, strcasecmp(rq->method, "HEAD") == 0, ret, what, whatlen);
	if (r < 0 && sr < 0) {
		snprintf(what, whatlen, "sending the request: %s", send_err);
		r = sr == HTTP1_ERR_TLS ? sr : HTTP1_ERR_IO;
	}
	return r;
}

int
http1_request(const struct http1_req *rq, struct http1_resp *ret, char *err, size_t errlen)
{
	struct http1_addr addrs[HTTP1_ADDRS_MAX];
	struct http1_resp resp = { 0 };
	struct http1_conn *c = NULL;
	char what[512] = "", *head = NULL;
	long long cdl = rq->connect_deadline_ms < rq->deadline_ms ? rq->connect_deadline_ms :
	    rq->deadline_ms;
	size_t naddrs = 0, hlen = 0;
	struct http1_url u;
	int fd = -1, r;

	if (parse_url(rq->url, &u) < 0) {
		snprintf(what, sizeof(what), "not an http[s]://host[:port][/path] URL this "
		    "client takes");
		r = -EINVAL;
		goto out;
	}
	if ((head = malloc(HTTP1_HEAD_MAX)) == NULL || (c = malloc(sizeof(*c))) == NULL) {
		r = -ENOMEM;
		snprintf(what, sizeof(what), "out of memory");
		goto out;
	}
	c->tls = NULL;
	if ((r = build_head(rq, &u, head, &hlen, what, sizeof(what))) < 0)
		goto out;
	if ((r = http1_net_resolve(&u, cdl, addrs, &naddrs, what, sizeof(what))) < 0)
		goto out;
	if ((r = http1_net_connect(&u, addrs, naddrs, cdl, &fd, what, sizeof(what))) < 0)
		goto out;
	c->fd = fd;
	r = exchange(c, &u, rq, cdl, head, hlen, &resp, what, sizeof(what));
out:
	if (c != NULL)
		http1_tls_close(c->tls);
	if (fd >= 0)
		close(fd);
	free(head);
	free(c);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", rq->url, what);
		return r;
	}
	*ret = resp;
	return 0;
}
