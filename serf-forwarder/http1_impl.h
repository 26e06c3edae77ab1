/*
 * http1's internals, shared by its four files: http1.c (URL, request head,
 * the exchange), http1_net.c (lookup, connect, send), http1_tls.c (TLS on
 * the socket for https://) and http1_reply.c (receiving and parsing the
 * reply). Only serf-forwarder/ includes it.
 */
#ifndef HTTP1_IMPL_H
#define HTTP1_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "http1.h"

#define HTTP1_ADDRS_MAX	8	/* addresses of one name tried in turn */

struct http1_url {
	char host[HTTP1_HOST_MAX + 1];	/* without brackets */
	char authority[HTTP1_HOST_MAX + 8];	/* Host: value, as written in the URL */
	char port[8];
	const char *path;		/* into the URL; "" means "/" */
	size_t pathlen;
	bool tls;			/* https:// */
};

struct http1_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct http1_tls;

/* A connection's receive side: buf[pos, len) is read but not yet used. */
struct http1_conn {
	int fd;
	struct http1_tls *tls;		/* NULL: plain TCP */
	long long deadline_ms;
	size_t pos, len;
	char buf[HTTP1_HEAD_MAX + HTTP1_RECV_CHUNK];
};

/* Waits until fd is ready for events (poll) or HTTP1_ERR_TIMEOUT at deadline_ms. */
int http1_net_wait(int fd, short events, long long deadline_ms);

/*
 * Up to HTTP1_ADDRS_MAX addresses of u's host and port, looked up before
 * deadline_ms (a numeric address skips the resolver). HTTP1_ERR_CONNECT,
 * HTTP1_ERR_TIMEOUT or -ENOMEM with one sentence in err.
 */
int http1_net_resolve(const struct http1_url *u, long long deadline_ms,
    struct http1_addr *addrs, size_t *ret_n, char *err, size_t errlen);

/* A non-blocking socket (*ret_fd, the caller closes it) to the first address that answers. */
int http1_net_connect(const struct http1_url *u, const struct http1_addr *addrs, size_t n,
    long long deadline_ms, int *ret_fd, char *err, size_t errlen);

/* Sends head and body before deadline_ms: 0, HTTP1_ERR_TIMEOUT or -errno. */
int http1_net_send(int fd, const char *head, size_t hlen, const char *body, size_t blen,
    long long deadline_ms);

/*
 * Reads the reply on c (interim 1xx heads skipped) into *ret (the caller
 * frees it with http1_resp_finish); head_only: no body follows (HEAD).
 * An HTTP1_ERR_* code or -ENOMEM with one sentence in err.
 */
int http1_reply_read(struct http1_conn *c, bool head_only, struct http1_resp *ret,
    char *err, size_t errlen);

/*
 * TLS on the connected non-blocking socket fd (http1_tls.c): loads libssl
 * at the first call, verifies the peer's certificate (rq->ca_file, else the
 * system's CAs) and u->host in it, presents rq->cert_file/key_file when
 * given, all before deadline_ms. *ret (closed with http1_tls_close) or
 * HTTP1_ERR_TLS, HTTP1_ERR_TIMEOUT or -ENOMEM with one sentence in err.
 */
int http1_tls_open(int fd, const struct http1_url *u, const struct http1_req *rq,
    long long deadline_ms, struct http1_tls **ret, char *err, size_t errlen);
void http1_tls_close(struct http1_tls *t);

/* Sends p before deadline_ms: 0, HTTP1_ERR_TIMEOUT, HTTP1_ERR_TLS, HTTP1_ERR_IO or -errno. */
int http1_tls_send(struct http1_tls *t, const char *p, size_t n, long long deadline_ms);

/* >0 bytes read, 0 at the peer's close_notify, or an error as http1_tls_send's. */
int http1_tls_recv(struct http1_tls *t, char *p, size_t n, long long deadline_ms);

/* Why the last http1_tls_send/recv failed with HTTP1_ERR_TLS or -errno. */
const char *http1_tls_error(const struct http1_tls *t);

#endif
