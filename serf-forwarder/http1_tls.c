/*
 * http1's TLS layer for https:// URLs: OpenSSL's libssl, loaded with
 * dlopen() at the first https use (only its headers at build time), so
 * that an http:// run maps no TLS library. The peer's certificate is
 * always verified (the CA file when given, else the system's default
 * paths) and so is its name: SSL_set1_host() and SNI for a host name, the
 * certificate's IP address for a numeric host. Every step is non-blocking
 * on the connected socket and waits with poll() until its deadline.
 * libssl writes with write(): the process ignores SIGPIPE (main.c).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "http1_impl.h"

#define TLS_SONAME	"libssl.so.3"
#define TLS_IO_MAX	65536	/* bytes handed to one SSL_read/SSL_write */

/* What this file uses of libssl (and libcrypto behind it). */
struct fns {
	const SSL_METHOD *(*client_method)(void);
	SSL_CTX *(*ctx_new)(const SSL_METHOD *m);
	void (*ctx_free)(SSL_CTX *c);
	long (*ctx_ctrl)(SSL_CTX *c, int cmd, long larg, void *parg);
	int (*load_verify)(SSL_CTX *c, const char *f, const char *p);
	int (*default_paths)(SSL_CTX *c);
	int (*use_chain)(SSL_CTX *c, const char *f);
	int (*use_key)(SSL_CTX *c, const char *f, int type);
	int (*check_key)(const SSL_CTX *c);
	void (*set_verify)(SSL_CTX *c, int mode, SSL_verify_cb cb);
	SSL *(*ssl_new)(SSL_CTX *c);
	void (*ssl_free)(SSL *s);
	int (*set_fd)(SSL *s, int fd);
	int (*set1_host)(SSL *s, const char *h);
	X509_VERIFY_PARAM *(*get0_param)(SSL *s);
	int (*set1_ip_asc)(X509_VERIFY_PARAM *p, const char *ip);
	long (*ctrl)(SSL *s, int cmd, long larg, void *parg);
	int (*do_connect)(SSL *s);
	int (*get_error)(const SSL *s, int r);
	int (*read)(SSL *s, void *b, int n);
	int (*write)(SSL *s, const void *b, int n);
	long (*verify_result)(const SSL *s);
	const char *(*verify_string)(long n);
	unsigned long (*err_get)(void);
	unsigned long (*err_peek)(void);
	void (*err_clear)(void);
	void (*err_string)(unsigned long e, char *buf, size_t len);
};

struct http1_tls {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	char err[256];		/* the last failure, for http1_tls_error() */
};

static struct fns F;
static bool loaded;

static int
sym(void *h, const char *name, void *ret_fn, size_t size, char *err, size_t errlen)
{
	void *p = dlsym(h, name);

	if (p == NULL) {
		snprintf(err, errlen, "cannot load %s for HTTPS: it has no %s", TLS_SONAME, name);
		return -ENOENT;
	}
	memcpy(ret_fn, &p, size);
	return 0;
}

/* libssl's functions into F, once per process: 0 or HTTP1_ERR_TLS. */
static int
load(char *err, size_t errlen)
{
	struct fns f;
	const char *why;
	void *h;

	if (loaded)
		return 0;
	h = dlopen(TLS_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		why = dlerror();
		snprintf(err, errlen, "cannot load %s for HTTPS: %s", TLS_SONAME,
		    why != NULL ? why : "unknown error");
		return HTTP1_ERR_TLS;
	}
#define SYM(field, name) (sym(h, name, &f.field, sizeof(f.field), err, errlen) < 0)
	if (SYM(client_method, "TLS_client_method") || SYM(ctx_new, "SSL_CTX_new") ||
	    SYM(ctx_free, "SSL_CTX_free") || SYM(ctx_ctrl, "SSL_CTX_ctrl") ||
	    SYM(load_verify, "SSL_CTX_load_verify_locations") ||
	    SYM(default_paths, "SSL_CTX_set_default_verify_paths") ||
	    SYM(use_chain, "SSL_CTX_use_certificate_chain_file") ||
	    SYM(use_key, "SSL_CTX_use_PrivateKey_file") ||
	    SYM(check_key, "SSL_CTX_check_private_key") ||
	    SYM(set_verify, "SSL_CTX_set_verify") || SYM(ssl_new, "SSL_new") ||
	    SYM(ssl_free, "SSL_free") || SYM(set_fd, "SSL_set_fd") ||
	    SYM(set1_host, "SSL_set1_host") || SYM(get0_param, "SSL_get0_param") ||
	    SYM(set1_ip_asc, "X509_VERIFY_PARAM_set1_ip_asc") || SYM(ctrl, "SSL_ctrl") ||
	    SYM(do_connect, "SSL_connect") || SYM(get_error, "SSL_get_error") ||
	    SYM(read, "SSL_read") || SYM(write, "SSL_write") ||
	    SYM(verify_result, "SSL_get_verify_result") ||
	    SYM(verify_string, "X509_verify_cert_error_string") ||
	    SYM(err_get, "ERR_get_error") ||
	    SYM(err_peek, "ERR_peek_error") || SYM(err_clear, "ERR_clear_error") ||
	    SYM(err_string, "ERR_error_string_n")) {
		dlclose(h);
		return HTTP1_ERR_TLS;
	}
#undef SYM
	F = f;
	loaded = true;
	return 0;
}

void
http1_tls_close(struct http1_tls *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL)
		F.ssl_free(t->ssl);
	if (t->ctx != NULL)
		F.ctx_free(t->ctx);
	free(t);
}

const char *
http1_tls_error(const struct http1_tls *t)
{
	return t != NULL && t->err[0] != '\0' ? t->err : "TLS error";
}

/* "what: <OpenSSL's first queued reason>" into err; empties the queue. */
static void
ssl_err(const char *what, const char *file, char *err, size_t errlen)
{
	unsigned long e = F.err_get(), n;
	char buf[256] = "unknown error";

	while ((n = F.err_get()) != 0)
		;
	if (e != 0)
		F.err_string(e, buf, sizeof(buf));
	if (file != NULL)
		snprintf(err, errlen, "%s %s: %s", what, file, buf);
	else
		snprintf(err, errlen, "%s: %s", what, buf);
}

static bool
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* The context: verification on, TLS 1.2 at least, the CA and client files. */
static int
make_ctx(struct http1_tls *t, const struct http1_req *rq, char *err, size_t errlen)
{
	const char *key = set(rq->key_file) ? rq->key_file : rq->cert_file;

	if ((t->ctx = F.ctx_new(F.client_method())) == NULL) {
		ssl_err("cannot make a TLS context", NULL, err, errlen);
		return HTTP1_ERR_TLS;
	}
	F.set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	if (F.ctx_ctrl(t->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL) != 1) {
		ssl_err("cannot set the TLS version", NULL, err, errlen);
		return HTTP1_ERR_TLS;
	}
	if (set(rq->ca_file)) {
		if (F.load_verify(t->ctx, rq->ca_file, NULL) != 1) {
			ssl_err("cannot read the CA file", rq->ca_file, err, errlen);
			return HTTP1_ERR_TLS;
		}
	} else if (F.default_paths(t->ctx) != 1) {
		ssl_err("cannot use the system's CA certificates", NULL, err, errlen);
		return HTTP1_ERR_TLS;
	}
	if (!set(rq->cert_file))
		return 0;
	if (F.use_chain(t->ctx, rq->cert_file) != 1) {
		ssl_err("cannot read the client certificate", rq->cert_file, err, errlen);
		return HTTP1_ERR_TLS;
	}
	if (F.use_key(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_err("cannot read the client key", key, err, errlen);
		return HTTP1_ERR_TLS;
	}
	if (F.check_key(t->ctx) != 1) {
		ssl_err("the client key does not match the certificate", key, err, errlen);
		return HTTP1_ERR_TLS;
	}
	return 0;
}

/* The connection on fd, and the name (or address) its certificate must hold. */
static int
make_ssl(struct http1_tls *t, int fd, const char *host, char *err, size_t errlen)
{
	unsigned char ip[sizeof(struct in6_addr)];
	bool numeric = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;

	if ((t->ssl = F.ssl_new(t->ctx)) == NULL || F.set_fd(t->ssl, fd) != 1) {
		ssl_err("cannot set up TLS", NULL, err, errlen);
		return HTTP1_ERR_TLS;
	}
	if (numeric) {
		/* No SNI for an address (RFC 6066). */
		if (F.set1_ip_asc(F.get0_param(t->ssl), host) != 1) {
			ssl_err("cannot check the certificate against", host, err, errlen);
			return HTTP1_ERR_TLS;
		}
		return 0;
	}
	if (F.set1_host(t->ssl, host) != 1 ||
	    F.ctrl(t->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
	    (void *)host) != 1) {
		ssl_err("cannot check the certificate against", host, err, errlen);
		return HTTP1_ERR_TLS;
	}
	return 0;
}

/*
 * After an SSL call returned rc: waits as SSL_get_error() asks and returns
 * 0 to retry; 1 at the peer's close_notify; HTTP1_ERR_TIMEOUT, -errno,
 * HTTP1_ERR_IO (closed without close_notify) or HTTP1_ERR_TLS (t->err
 * says why).
 */
static int
tls_wait(struct http1_tls *t, int rc, long long deadline_ms)
{
	int saved = errno, e = F.get_error(t->ssl, rc), r;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		r = http1_net_wait(t->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    deadline_ms);
		if (r < 0 && r != HTTP1_ERR_TIMEOUT)
			snprintf(t->err, sizeof(t->err), "waiting on the socket: %s", strerror(-r));
		return r;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 1;
	if (e == SSL_ERROR_SYSCALL && F.err_peek() == 0) {
		if (saved == EINTR)
			return 0;
		snprintf(t->err, sizeof(t->err), "%s", saved != 0 ? strerror(saved) :
		    "connection closed");
		return saved != 0 ? -saved : HTTP1_ERR_IO;
	}
	ssl_err("TLS", NULL, t->err, sizeof(t->err));
	return HTTP1_ERR_TLS;
}

/* The handshake before deadline_ms; the certificate's failure said as such. */
static int
handshake(struct http1_tls *t, const struct http1_url *u, long long deadline_ms, char *err,
    size_t errlen)
{
	for (;;) {
		int c, r;
		long v;

		F.err_clear();
		errno = 0;
		if ((c = F.do_connect(t->ssl)) == 1)
			break;
		if ((r = tls_wait(t, c, deadline_ms)) == 0)
			continue;
		v = F.verify_result(t->ssl);
		if (r == HTTP1_ERR_TIMEOUT)
			snprintf(err, errlen, "TLS handshake with %s: not done within the time "
			    "bound", u->authority);
		else if (v != X509_V_OK)
			snprintf(err, errlen, "certificate of %s not trusted: %s", u->authority,
			    F.verify_string(v));
		else
			snprintf(err, errlen, "TLS handshake with %s: %s", u->authority,
			    r == 1 ? "closed by the peer" : t->err);
		return r == HTTP1_ERR_TIMEOUT ? r : HTTP1_ERR_TLS;
	}
	if (F.verify_result(t->ssl) != X509_V_OK) {	/* SSL_VERIFY_PEER should see to it */
		snprintf(err, errlen, "certificate of %s not verified", u->authority);
		return HTTP1_ERR_TLS;
	}
	return 0;
}

int
http1_tls_open(int fd, const struct http1_url *u, const struct http1_req *rq,
    long long deadline_ms, struct http1_tls **ret, char *err, size_t errlen)
{
	struct http1_tls *t;
	int r;

	if ((r = load(err, errlen)) < 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->fd = fd;
	F.err_clear();
	if ((r = make_ctx(t, rq, err, errlen)) == 0 &&
	    (r = make_ssl(t, fd, u->host, err, errlen)) == 0)
		r = handshake(t, u, deadline_ms, err, errlen);
	if (r < 0) {
		http1_tls_close(t);
		return r;
	}
	*ret = t;
	return 0;
}

int
http1_tls_send(struct http1_tls *t, const char *p, size_t n, long long deadline_ms)
{
	while (n > 0) {
		int w, r;

		F.err_clear();
		errno = 0;
		w = F.write(t->ssl, p, n > TLS_IO_MAX ? TLS_IO_MAX : (int)n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if ((r = tls_wait(t, w, deadline_ms)) == 1)
			snprintf(t->err, sizeof(t->err), "closed by the peer");
		if (r != 0)
			return r == 1 ? -EPIPE : r;
	}
	return 0;
}

int
http1_tls_recv(struct http1_tls *t, char *p, size_t n, long long deadline_ms)
{
	for (;;) {
		int g, r;

		F.err_clear();
		errno = 0;
		g = F.read(t->ssl, p, n > TLS_IO_MAX ? TLS_IO_MAX : (int)n);
		if (g > 0)
			return g;
		if ((r = tls_wait(t, g, deadline_ms)) == 1)
			return 0;
		if (r != 0)
			return r;
	}
}
