/*
 * http1's reply side: the receive buffer, lines, and a parser for the
 * status line, the headers it uses, and Content-Length, chunked and
 * read-to-close bodies.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http1_impl.h"

#define LINE_MAX_BYTES	HTTP1_HEAD_MAX	/* a chunk-size or trailer line */
#define RECV_EOF	1	/* fill(): the peer closed */

/* The reply body as it is collected. */
struct sink {
	char *p;
	size_t len, cap;
};

/* Reads more into c->buf: 0, RECV_EOF, HTTP1_ERR_PROTO (buffer full) or an error. */
static int
fill(struct http1_conn *c)
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
		if (c->tls != NULL) {
			r = http1_tls_recv(c->tls, c->buf + c->len, sizeof(c->buf) - c->len,
			    c->deadline_ms);
			if (r <= 0)
				return r == 0 ? RECV_EOF : r;
			c->len += (size_t)r;
			return 0;
		}
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
		if ((r = http1_net_wait(c->fd, POLLIN, c->deadline_ms)) < 0)
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
read_line(struct http1_conn *c, const char **ret, size_t *ret_len)
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
read_fixed(struct http1_conn *c, unsigned long long n, struct sink *s)
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
read_to_eof(struct http1_conn *c, struct sink *s)
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
read_chunked(struct http1_conn *c, struct sink *s)
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
read_head(struct http1_conn *c, struct head *ret)
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
int
http1_reply_read(struct http1_conn *c, bool head_only, struct http1_resp *ret, char *err,
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
	else if (r == HTTP1_ERR_TLS)
		snprintf(err, errlen, "receiving the reply: %s", http1_tls_error(c->tls));
	else {
		snprintf(err, errlen, "receiving the reply: %s", strerror(-r));
		r = HTTP1_ERR_IO;
	}
	return r;
}
