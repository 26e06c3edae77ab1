/*
 * A small HTTP/1.1 client for http:// and https:// URLs: one request per
 * connection ("Connection: close"), every step (name lookup, connect, TLS
 * handshake, send, receive) bounded by one deadline with poll(). It exists
 * so that a serf-forwarder run does not map libcurl and the thirty-odd
 * libraries behind it; https:// runs over OpenSSL's libssl, loaded at its
 * first use (http1_tls.c), so an http:// run maps no TLS library.
 */
#ifndef HTTP1_H
#define HTTP1_H

#include <stdbool.h>
#include <stddef.h>

/* Project codes (negative, beside -errno). All but -EINVAL are retryable. */
#define HTTP1_ERR_CONNECT	(-1001)	/* could not resolve or connect */
#define HTTP1_ERR_TIMEOUT	(-1002)	/* the deadline passed */
#define HTTP1_ERR_TLS		(-1003)	/* TLS, or libssl not loadable for https */
#define HTTP1_ERR_IO		(-1004)	/* send/receive failed, or the peer closed mid-way */
#define HTTP1_ERR_PROTO		(-1005)	/* the reply is not HTTP/1.x or breaks a limit */

/* Limits of one exchange. */
#define HTTP1_HEAD_MAX		(16 * 1024)	/* request or reply head */
#define HTTP1_BODY_MAX		(4 * 1024 * 1024)	/* reply body kept */
#define HTTP1_HOST_MAX		255	/* host part of a URL */
#define HTTP1_RECV_CHUNK	4096	/* bytes asked of recv() at a time */

struct http1_req {
	const char *method;		/* "POST" */
	const char *url;		/* http[s]://host[:port][/path] ([v6] hosts too) */
	const char *content_type;	/* NULL: no Content-Type */
	const char *body;		/* may be NULL (no body) */
	size_t len;
	const char *token;		/* "Authorization: Bearer" value, NULL or "" for none */
	const char *ca_file;		/* https only; NULL: system CAs */
	const char *cert_file;		/* https only: client certificate, NULL none */
	const char *key_file;		/* https only: its key, NULL: in cert_file */
	/* Extra request headers ("Name: value"), NULL-terminated, may be NULL. */
	const char *const *headers;
	long long connect_deadline_ms;	/* fsio_mono_ms() bound of connecting */
	long long deadline_ms;		/* fsio_mono_ms() bound of the whole exchange */
};

struct http1_resp {
	long status;	/* HTTP status */
	char *body;	/* malloc'd, NUL-terminated ("" when empty), owned by the caller */
	size_t len;
};

/*
 * One exchange with an http:// or https:// URL. A reply of any status is success (0,
 * *ret filled, free it with http1_resp_finish); otherwise an HTTP1_ERR_*
 * code, -EINVAL (bad URL or header) or -ENOMEM, with one sentence in err.
 * *ret is written only on success.
 */
int http1_request(const struct http1_req *rq, struct http1_resp *ret, char *err,
    size_t errlen);

void http1_resp_finish(struct http1_resp *r);

/* Whether url starts with "https://" (case-insensitive). */
bool http1_is_https(const char *url);

/* Whether a failure may succeed elsewhere or later. */
bool http1_is_retryable(int rc);

#endif
