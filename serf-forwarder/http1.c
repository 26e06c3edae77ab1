/*
 * The plain-HTTP client: URL parsing, a bounded name lookup (a numeric
 * address skips the resolver), a non-blocking connect, the request, and a
 * reply parser for Content-Length, chunked and read-to-close bodies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "http1.h"
#include "version.h"

#define ADDRS_MAX	8	/* addresses of one name tried in turn */
#define PORT_DEFAULT	80
#define LINE_MAX_BYTES	HTTP1_HEAD_MAX	/* a chunk-size or trailer line */
#define RECV_EOF	1	/* fill(): the peer closed */

struct url {
	char host[HTTP1_HOST_MAX + 1];	/* without brackets */
	char authority[HTTP1_HOST_MAX + 8];	/* Host: value, as written in the URL */
	char port[8];
	const char *path;		/* into the URL; "" means "/" */
	size_t pathlen;
};

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* A connection's receive side: buf[pos, len) is read but not yet used. */
struct conn {
	int fd;
	long long deadline_ms;
	size_t pos, len;
	char buf[HTTP1_HEAD_MAX + HTTP1_RECV_CHUNK];
};

/* The reply body as it is collected. */
struct sink {
	char *p;
	size_t len, cap;
};

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

/* Visible ASCII and (when sp) spaces and tabs only. */
static bool
text_ok(const char *s, size_t n, bool sp)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0x7f || (ch < 0x20 && !(sp && ch == '\t')) || (!sp && ch == ' '))
			return false;
	}
	return true;
}

/* Splits an http:// URL. -EINVAL when it is not one this client takes. */
static int
parse_url(const char *url, struct url *ret)
{
	struct url u = { .path = "" };
	const char *a, *end, *hs, *he, *ps = NULL;
	size_t alen;

	if (strncasecmp(url, "http://", 7) != 0)
		return -EINVAL;
	a = url + 7;
	end = a + strcspn(a, "/?#");
	alen = (size_t)(end - a);
	if (alen == 0 || alen >= sizeof(u.authority) || memchr(a, '@', alen) != NULL ||
	    !text_ok(a, alen, false))
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
		snprintf(u.port, sizeof(u.port), "%d", PORT_DEFAULT);
	}
	u.path = end;
	u.pathlen = strcspn(end, "#");
	if (!text_ok(u.path, u.pathlen, false))
		return -EINVAL;
	*ret = u;
	return 0;
}

/* Milliseconds left until deadline, clamped for poll(). */
static int
ms_left(long long deadline_ms)
{
	long long left = deadline_ms - fsio_mono_ms();

	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Waits until fd is ready for events or the deadline passes. */
static int
wait_fd(int fd, short events, long long deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = ms_left(deadline_ms), n;

		if (left == 0)
			return HTTP1_ERR_TIMEOUT;
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;	/* POLLERR/POLLHUP too: the next call says what */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Name lookup on getaddrinfo_a's thread, waited for until the deadline. On
 * a timeout a lookup already running cannot be cancelled; its request is
 * then left to the thread (a few hundred bytes, once per run at most).
 */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[HTTP1_HOST_MAX + 1];
	char port[8];
};

static int
resolve(const struct url *u, long long deadline_ms, struct addr *addrs, size_t *ret_n,
    char *err, size_t errlen)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&addrs[0].ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addrs[0].ss;
	struct lookup *lk;
	struct gaicb *list[1];
	size_t n = 0;
	int g;

	/* The fast path: a numeric address needs no resolver (nor NSS modules). */
	memset(&addrs[0], 0, sizeof(addrs[0]));
	if (inet_pton(AF_INET, u->host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)strtol(u->port, NULL, 10));
		addrs[0].len = sizeof(*in4);
		*ret_n = 1;
		return 0;
	}
	memset(&addrs[0], 0, sizeof(addrs[0]));
	if (inet_pton(AF_INET6, u->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)strtol(u->port, NULL, 10));
		addrs[0].len = sizeof(*in6);
		*ret_n = 1;
		return 0;
	}

	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return -ENOMEM;
	lk->hints.ai_family = AF_UNSPEC;
	lk->hints.ai_socktype = SOCK_STREAM;
	memcpy(lk->host, u->host, sizeof(lk->host));
	memcpy(lk->port, u->port, sizeof(lk->port));
	lk->cb.ar_name = lk->host;
	lk->cb.ar_service = lk->port;
	lk->cb.ar_request = &lk->hints;
	list[0] = &lk->cb;
	g = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (g != 0) {
		snprintf(err, errlen, "resolving %s: %s", u->host, gai_strerror(g));
		free(lk);
		return HTTP1_ERR_CONNECT;
	}
	while ((g = gai_error(&lk->cb)) == EAI_INPROGRESS) {
		int left = ms_left(deadline_ms);
		struct timespec ts = { left / 1000, (long)(left % 1000) * 1000000L };
		const struct gaicb *const *wl = (const struct gaicb *const *)list;

		if (left == 0) {
			g = gai_cancel(&lk->cb);
			if (g == EAI_ALLDONE) {
				freeaddrinfo(lk->cb.ar_result);
				free(lk);
			} else if (g == EAI_CANCELED) {
				free(lk);
			}
			snprintf(err, errlen, "resolving %s: no answer within the time bound",
			    u->host);
			return HTTP1_ERR_TIMEOUT;
		}
		gai_suspend(wl, 1, &ts);
	}
	if (g != 0) {
		snprintf(err, errlen, "resolving %s: %s", u->host, gai_strerror(g));
		free(lk);
		return HTTP1_ERR_CONNECT;
	}
	for (struct addrinfo *ai = lk->cb.ar_result; ai != NULL && n < ADDRS_MAX;
	    ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(addrs[n].ss))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n].ss, ai->ai_addr, ai->ai_addrlen);
		addrs[n].len = ai->ai_addrlen;
		n++;
	}
	freeaddrinfo(lk->cb.ar_result);
	free(lk);
	if (n == 0) {
		snprintf(err, errlen, "resolving %s: no address", u->host);
		return HTTP1_ERR_CONNECT;
	}
	*ret_n = n;
	return 0;
}

/* Connects to the first address that answers before the deadline. */
static int
connect_any(const struct url *u, const struct addr *addrs, size_t n, long long deadline_ms,
    int *ret_fd, char *err, size_t errlen)
{
	int rc = HTTP1_ERR_CONNECT;

	for (size_t i = 0; i < n; i++) {
		int fd, one = 1, soerr = 0, r;
		socklen_t sl = sizeof(soerr);

		fd = socket(addrs[i].ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			continue;
		}
		/* One small request: do not let Nagle hold the body back. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (const struct sockaddr *)&addrs[i].ss, addrs[i].len) == 0)
			goto connected;
		if (errno != EINPROGRESS && errno != EINTR) {
			soerr = errno;
			goto failed;
		}
		r = wait_fd(fd, POLLOUT, deadline_ms);
		if (r == HTTP1_ERR_TIMEOUT) {
			snprintf(err, errlen, "connect to %s port %s: no answer within the time "
			    "bound", u->host, u->port);
			close(fd);
			return HTTP1_ERR_TIMEOUT;
		}
		if (r < 0)
			soerr = -r;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr == 0)
			goto connected;
failed:
		snprintf(err, errlen, "connect to %s port %s: %s", u->host, u->port,
		    strerror(soerr));
		close(fd);
		continue;
connected:
		*ret_fd = fd;
		return 0;
	}
	return rc;
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
build_head(const struct http1_req *rq, const struct url *u, char *head, size_t *ret_len,
    char *err, size_t errlen)
{
	const char *path = u->pathlen > 0 ? u->path : "/";
	size_t len = 0, plen = u->pathlen > 0 ? u->pathlen : 1;
	char clen[32];
	int r;

	if (rq->method == NULL || rq->method[0] == '\0' ||
	    !text_ok(rq->method, strlen(rq->method), false)) {
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
		if (!text_ok(rq->content_type, strlen(rq->content_type), true)) {
			snprintf(err, errlen, "bad Content-Type");
			return -EINVAL;
		}
		r = head_add(head, &len, "Content-Type: %.*s%s", rq->content_type,
		    strlen(rq->content_type), "\r\n");
	}
	if (r == 0 && rq->body != NULL)
		r = head_add(head, &len, "Content-Length: %.*s%s", clen, strlen(clen), "\r\n");
	if (r == 0 && rq->token != NULL && rq->token[0] != '\0') {
		if (!text_ok(rq->token, strlen(rq->token), true)) {
			snprintf(err, errlen, "the token holds control characters");
			return -EINVAL;
		}
		r = head_add(head, &len, "Authorization: Bearer %.*s%s", rq->token,
		    strlen(rq->token), "\r\n");
	}
	for (size_t i = 0; r == 0 && rq->headers != NULL && rq->headers[i] != NULL; i++) {
		const char *h = rq->headers[i];
		const char *colon = strchr(h, ':');

		if (colon == NULL || colon == h || !text_ok(h, (size_t)(colon - h), false) ||
		    !text_ok(colon, strlen(colon), true)) {
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

/* Sends head and body. -EPIPE-like failures are returned as -errno. */
static int
send_all(int fd, const char *head, size_t hlen, const char *body, size_t blen,
    long long deadline_ms)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)head, .iov_len = hlen },
		{ .iov_base = (void *)body, .iov_len = body != NULL ? blen : 0 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	while (iov[0].iov_len + iov[1].iov_len > 0) {
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
		size_t done;

		if (n < 0) {
			int r;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if ((r = wait_fd(fd, POLLOUT, deadline_ms)) < 0)
				return r;
			continue;
		}
		done = (size_t)n;
		for (int i = 0; i < 2; i++) {
			size_t k = done < iov[i].iov_len ? done : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			done -= k;
		}
	}
	return 0;
}

/* Reads more into c->buf: 0, RECV_EOF, HTTP1_ERR_PROTO (buffer full) or an error. */
static int
fill(struct conn *c)
{
	if (c->pos > 0) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	for (;;) {
		ssize_t n;
		int r;

		if (c->len == sizeof(c->buf))
			return HTTP1_ERR_PROTO;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			return 0;
		}
		if (n == 0)
			return RECV_EOF;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((r = wait_fd(c->fd, POLLIN, c->deadline_ms)) < 0)
			return r;
	}
}

static int
sink_add(struct sink *s, const char *p, size_t n)
{
	if (s->len + n > HTTP1_BODY_MAX)
		return HTTP1_ERR_PROTO;
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 1024;
		char *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		b = realloc(s->p, cap);
		if (b == NULL)
			return -ENOMEM;
		s->p = b;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
	return 0;
}

/*
 * The next line (LF or CRLF ended, terminator stripped) as a pointer into
 * c->buf, valid until the next fill(). Consumes it.
 */
static int
read_line(struct conn *c, const char **ret, size_t *ret_len)
{
	/* Defined on every path (gcc -O3 cannot see that errors are < 0). */
	*ret = NULL;
	*ret_len = 0;
	for (;;) {
		char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
		int r;

		if (nl != NULL) {
			size_t n = (size_t)(nl - (c->buf + c->pos));
			*ret = c->buf + c->pos;
			*ret_len = n > 0 && nl[-1] == '\r' ? n - 1 : n;
			c->pos += n + 1;
			return 0;
		}
		if (c->len - c->pos >= LINE_MAX_BYTES)
			return HTTP1_ERR_PROTO;
		if ((r = fill(c)) != 0)
			return r == RECV_EOF ? HTTP1_ERR_IO : r;
	}
}

/* Moves n body bytes into s. */
static int
read_fixed(struct conn *c, unsigned long long n, struct sink *s)
{
	while (n > 0) {
		size_t avail = c->len - c->pos, take;
		int r;

		if (avail == 0) {
			if ((r = fill(c)) != 0)
				return r == RECV_EOF ? HTTP1_ERR_IO : r;
			continue;
		}
		take = (unsigned long long)avail < n ? avail : (size_t)n;
		if ((r = sink_add(s, c->buf + c->pos, take)) < 0)
			return r;
		c->pos += take;
		n -= take;
	}
	return 0;
}

/* A body delimited by the peer closing the connection. */
static int
read_to_eof(struct conn *c, struct sink *s)
{
	for (;;) {
		int r = sink_add(s, c->buf + c->pos, c->len - c->pos);

		if (r < 0)
			return r;
		c->pos = c->len;
		if ((r = fill(c)) == RECV_EOF)
			return 0;
		if (r < 0)
			return r;
	}
}

/* A chunked body: hex size lines, data, trailers. */
static int
read_chunked(struct conn *c, struct sink *s)
{
	for (;;) {
		unsigned long long size = 0;
		const char *line;
		size_t len, i;
		int r;

		if ((r = read_line(c, &line, &len)) < 0)
			return r;
		for (i = 0; i < len; i++) {
			char ch = line[i];
			int d = ch >= '0' && ch <= '9' ? ch - '0' :
			    ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
			    ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
			if (d < 0)
				break;
			if (size > (HTTP1_BODY_MAX >> 4))
				return HTTP1_ERR_PROTO;
			size = size * 16 + (unsigned long long)d;
		}
		/* Digits, then nothing, whitespace or ";extension". */
		if (i == 0 || (i < len && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
			return HTTP1_ERR_PROTO;
		if (size == 0)
			break;
		if ((r = read_fixed(c, size, s)) < 0)
			return r;
		if ((r = read_line(c, &line, &len)) < 0)
			return r;
		if (len != 0)
			return HTTP1_ERR_PROTO;
	}
	/* Trailers (ignored) up to the empty line. */
	for (;;) {
		const char *line;
		size_t len = 0;
		int r = read_line(c, &line, &len);

		if (r < 0)
			return r;
		if (len == 0)
			return 0;
	}
}

/* Whether the comma-separated list v ends with token t (case-insensitive). */
static bool
last_token_is(const char *v, size_t n, const char *t)
{
	size_t tl = strlen(t);

	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n < tl || strncasecmp(v + n - tl, t, tl) != 0)
		return false;
	n -= tl;
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n == 0 || v[n - 1] == ',';
}

struct head {
	long status;
	bool chunked;		/* Transfer-Encoding ends with chunked */
	bool te;		/* some Transfer-Encoding */
	bool has_len;
	unsigned long long clen;
};

/* Reads and parses one reply head. */
static int
read_head(struct conn *c, struct head *ret)
{
	struct head h = { 0 };
	const char *line;
	size_t len = 0;
	int r;

	if ((r = read_line(c, &line, &len)) < 0)
		return r;
	/* "HTTP/1.x NNN[ reason]" */
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' ||
	    line[8] != ' ' ||
	    strspn(line + 9, "0123456789") < 3 || (len > 12 && line[12] != ' '))
		return HTTP1_ERR_PROTO;
	h.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (h.status < 100)
		return HTTP1_ERR_PROTO;
	for (;;) {
		const char *colon, *v;
		size_t nlen, vlen;

		if ((r = read_line(c, &line, &len)) < 0)
			return r;
		if (len == 0)
			break;
		colon = memchr(line, ':', len);
		if (colon == NULL || line[0] == ' ' || line[0] == '\t')
			continue;	/* not a header we could use (obsolete folding) */
		nlen = (size_t)(colon - line);
		v = colon + 1;
		vlen = len - nlen - 1;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
			unsigned long long n = 0;

			if (vlen == 0 || vlen > 19)
				return HTTP1_ERR_PROTO;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9')
					return HTTP1_ERR_PROTO;
				n = n * 10 + (unsigned long long)(v[i] - '0');
			}
			if (h.has_len && h.clen != n)
				return HTTP1_ERR_PROTO;
			h.has_len = true;
			h.clen = n;
		} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			h.te = true;
			h.chunked = last_token_is(v, vlen, "chunked");
		}
	}
	*ret = h;
	return 0;
}

/* The reply: interim 1xx heads skipped, then the final head and its body. */
static int
read_reply(struct conn *c, bool head_only, struct http1_resp *ret, char *err,
    size_t errlen)
{
	struct sink s = { 0 };
	struct head h;
	int r;

	do {
		r = read_head(c, &h);
		if (r < 0)
			goto fail;
	} while (h.status < 200);
	if (head_only || h.status == 204 || h.status == 304)
		r = 0;
	else if (h.te && h.chunked)
		r = read_chunked(c, &s);
	else if (h.te || !h.has_len)
		r = read_to_eof(c, &s);
	else if (h.clen > HTTP1_BODY_MAX)
		r = HTTP1_ERR_PROTO;
	else
		r = read_fixed(c, h.clen, &s);
	if (r < 0)
		goto fail;
	if (s.p == NULL && (s.p = calloc(1, 1)) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	ret->status = h.status;
	ret->body = s.p;
	ret->len = s.len;
	return 0;
fail:
	free(s.p);
	if (r == HTTP1_ERR_IO)
		snprintf(err, errlen, "connection closed in the middle of the reply");
	else if (r == HTTP1_ERR_TIMEOUT)
		snprintf(err, errlen, "no complete reply within the time bound");
	else if (r == HTTP1_ERR_PROTO)
		snprintf(err, errlen, "malformed reply or one over the size limits");
	else if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	else {
		snprintf(err, errlen, "receiving the reply: %s", strerror(-r));
		r = HTTP1_ERR_IO;
	}
	return r;
}

int
http1_request(const struct http1_req *rq, struct http1_resp *ret, char *err, size_t errlen)
{
	struct addr addrs[ADDRS_MAX];
	struct http1_resp resp = { 0 };
	struct conn *c = NULL;
	char what[512] = "", *head = NULL;
	long long cdl = rq->connect_deadline_ms < rq->deadline_ms ? rq->connect_deadline_ms :
	    rq->deadline_ms;
	size_t naddrs = 0, hlen = 0;
	struct url u;
	int fd = -1, r, sr;

	if (parse_url(rq->url, &u) < 0) {
		snprintf(what, sizeof(what), "not an http://host[:port][/path] URL this client "
		    "takes");
		r = -EINVAL;
		goto out;
	}
	if ((head = malloc(HTTP1_HEAD_MAX)) == NULL || (c = malloc(sizeof(*c))) == NULL) {
		r = -ENOMEM;
		snprintf(what, sizeof(what), "out of memory");
		goto out;
	}
	if ((r = build_head(rq, &u, head, &hlen, what, sizeof(what))) < 0)
		goto out;
	if ((r = resolve(&u, cdl, addrs, &naddrs, what, sizeof(what))) < 0)
		goto out;
	if ((r = connect_any(&u, addrs, naddrs, cdl, &fd, what, sizeof(what))) < 0)
		goto out;
	sr = send_all(fd, head, hlen, rq->body, rq->len, rq->deadline_ms);
	if (sr == HTTP1_ERR_TIMEOUT) {
		r = sr;
		snprintf(what, sizeof(what), "sending the request: not done within the time "
		    "bound");
		goto out;
	}
	/*
	 * A server may answer (413, say) and close before taking the whole
	 * body: read what it said before reporting the failed send.
	 */
	c->fd = fd;
	c->deadline_ms = rq->deadline_ms;
	c->pos = c->len = 0;
	r = read_reply(c, strcasecmp(rq->method, "HEAD") == 0, &resp, what, sizeof(what));
	if (r < 0 && sr < 0) {
		snprintf(what, sizeof(what), "sending the request: %s", strerror(-sr));
		r = HTTP1_ERR_IO;
	}
out:
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
