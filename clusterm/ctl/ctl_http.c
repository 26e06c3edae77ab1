/* clusterctl's requests to clusterm: transport and server errors become exit statuses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_http.h"
#include "httpc.h"

void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("clusterctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
fill_opts(const struct ctl *c, struct httpc_opts *o, bool stream)
{
	memset(o, 0, sizeof(*o));
	o->ca_file = c->cacert;
	o->cert_file = c->cert;
	o->key_file = c->key;
	o->token = c->token;
	o->connect_timeout_ms = CTL_CONNECT_TIMEOUT_MS;
	/* A followed log lasts as long as its job. */
	o->timeout_ms = stream ? 0 : CTL_TIMEOUT_MS;
}

/*
 * The server's words on a node that does not exist are contiv's ("node with
 * name or address "x" doesn't exists", which scripts grep for); clusterctl
 * says "no such node: x" everywhere and keeps the server's sentence after it.
 */
static bool
print_no_such_node(const struct ctl *c, const char *e)
{
	char quoted[300];

	/* A server that already says "no such node: x (...)" is printed as it is. */
	if (strstr(e, "doesn't exists") == NULL || strncmp(e, "no such node", 12) == 0)
		return false;
	for (int i = 0; i < c->nnames; i++) {
		int n = snprintf(quoted, sizeof(quoted), "\"%s\"", c->names[i]);
		if (n > 0 && (size_t)n < sizeof(quoted) && strstr(e, quoted) != NULL) {
			ctl_err("no such node: %s (clusterm: %s)", c->names[i], e);
			return true;
		}
	}
	ctl_err("no such node (clusterm: %s)", e);
	return true;
}

/* What an operator can do about a 401 or 403, after the server's sentence. */
static void
print_auth_hint(const struct ctl *c, const char *method, long status)
{
	if (status == 401 && c->token == NULL)
		fputs("hint: clusterm wants a token: pass --token-file FILE "
		    "or set CLUSTERM_TOKEN\n", stderr);
	else if (status == 401)
		fputs("hint: clusterm does not know the token given (--token-file or "
		    "CLUSTERM_TOKEN); check it against its auth.tokens_file\n", stderr);
	else if (status == 403 && strcmp(method, "GET") == 0)
		fputs("hint: use a token with the reader or admin role "
		    "(--token-file FILE or CLUSTERM_TOKEN)\n", stderr);
	else if (status == 403)
		fputs("hint: use a token with the admin role "
		    "(--token-file FILE or CLUSTERM_TOKEN)\n", stderr);
}

/*
 * Prints the server's refusal: its {"error"} sentence, else its text, else
 * the status; then a hint for 401 and 403.
 */
static void
print_refusal(const struct ctl *c, const char *method, long status, const char *body)
{
	cJSON *j = body != NULL ? cJSON_Parse(body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	size_t n;

	if (cJSON_IsString(e) && e->valuestring[0] != '\0') {
		if (!print_no_such_node(c, e->valuestring))
			ctl_err("%s", e->valuestring);
	} else if (body != NULL && body[0] != '\0' && j == NULL) {
		n = strcspn(body, "\r\n");
		ctl_err("HTTP %ld: %.*s", status, (int)(n > 300 ? 300 : n), body);
	} else {
		ctl_err("HTTP %ld from the server", status);
	}
	cJSON_Delete(j);
	print_auth_hint(c, method, status);
}

/*
 * A transport failure: the URL tried, where it came from, the reason (err
 * is "<url>: <reason>" from httpc) and the ways to change the URL.
 */
static void
print_unreachable(const struct ctl *c, int rc, const char *err)
{
	char *base = httpc_url(c->url, "");
	const char *why = err;
	size_t blen = base != NULL ? strlen(base) : 0;

	if (base != NULL && strncmp(err, base, blen) == 0 && (why = strstr(err + blen, ": ")) != NULL)
		why += 2;
	else
		why = err;
	ctl_err("cannot reach clusterm at %s (%s): %s", base != NULL ? base : c->url,
	    c->url_from != NULL ? c->url_from : "from -u", why);
	free(base);
	if (rc == HTTPC_ERR_TLS)
		fputs("hint: check --cacert FILE (the CA of clusterm's certificate), "
		    "--cert/--key (when clusterm wants a client certificate) and the URL's "
		    "scheme\n", stderr);
	else
		fputs("hint: set -u URL, CLUSTERM_URL, or manager.addr in "
		    CTL_DEFAULT_CONF " (CLUSTERM_CONF names another file)\n", stderr);
}

enum ctl_exit
ctl_request(struct ctl *c, const char *method, const char *path, const char *body,
    struct ctl_reply *ret)
{
	struct httpc_opts o;
	struct httpc_response r;
	char err[512];
	char *url = httpc_url(c->url, path);
	int rc;

	if (url == NULL) {
		ctl_err("out of memory");
		return CTL_EXIT_UNREACHABLE;
	}
	fill_opts(c, &o, false);
	rc = httpc_request(method, url, body, body != NULL ? strlen(body) : 0, &o, &r,
	    err, sizeof(err));
	free(url);
	if (rc != 0) {
		print_unreachable(c, rc, err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r.status < 200 || r.status > 299) {
		print_refusal(c, method, r.status, r.body);
		httpc_response_finish(&r);
		return CTL_EXIT_REFUSED;
	}
	ret->status = r.status;
	ret->body = r.body;
	ret->len = r.len;
	ret->json = cJSON_ParseWithLength(r.body, r.len);
	return CTL_EXIT_OK;
}

void
ctl_reply_finish(struct ctl_reply *r)
{
	if (r == NULL)
		return;
	cJSON_Delete(r->json);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

enum ctl_exit
ctl_post_json(struct ctl *c, const char *path, const cJSON *body, struct ctl_reply *ret)
{
	char *text = cJSON_PrintUnformatted(body);
	enum ctl_exit x;

	if (text == NULL) {
		ctl_err("out of memory");
		return CTL_EXIT_USAGE;
	}
	x = ctl_request(c, "POST", path, text, ret);
	free(text);
	return x;
}

/*
 * Streaming sink. The status is unknown while data arrives, so the first
 * bytes are held until they cannot be the start of a JSON error object: a
 * refusal is then printed as one, never as log text.
 */
struct stream {
	char head[512];
	size_t nhead;
	bool passing;		/* head flushed, the rest goes straight out */
	bool write_failed;
};

static int
on_data(const char *buf, size_t len, void *arg)
{
	struct stream *s = arg;
	size_t n;

	if (!s->passing) {
		n = sizeof(s->head) - 1 - s->nhead;
		if (n > len)
			n = len;
		memcpy(s->head + s->nhead, buf, n);
		s->nhead += n;
		s->head[s->nhead] = '\0';
		buf += n;
		len -= n;
		if (s->head[0] == '{' && len == 0 && s->nhead < sizeof(s->head) - 1)
			return 0;
		if (fwrite(s->head, 1, s->nhead, stdout) != s->nhead)
			goto fail;
		s->passing = true;
	}
	if (len > 0 && fwrite(buf, 1, len, stdout) != len)
		goto fail;
	if (fflush(stdout) != 0)
		goto fail;
	return 0;
fail:
	s->write_failed = true;
	return 1;
}

enum ctl_exit
ctl_stream(struct ctl *c, const char *path)
{
	struct httpc_opts o;
	struct httpc_response r;
	struct stream s = { .nhead = 0 };
	char err[512];
	char *url = httpc_url(c->url, path);
	int rc;

	if (url == NULL) {
		ctl_err("out of memory");
		return CTL_EXIT_UNREACHABLE;
	}
	fill_opts(c, &o, true);
	o.on_data = on_data;
	o.on_data_arg = &s;
	rc = httpc_request("GET", url, NULL, 0, &o, &r, err, sizeof(err));
	free(url);
	if (rc == HTTPC_ERR_ABORTED && s.write_failed)
		return CTL_EXIT_OK;	/* stdout closed (a pager quit): not our failure */
	if (rc != 0) {
		print_unreachable(c, rc, err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r.status < 200 || r.status > 299) {
		print_refusal(c, "GET", r.status, s.passing ? NULL : s.head);
		return CTL_EXIT_REFUSED;
	}
	if (!s.passing && s.nhead > 0 && fwrite(s.head, 1, s.nhead, stdout) != s.nhead)
		return CTL_EXIT_OK;
	fflush(stdout);
	return CTL_EXIT_OK;
}

int
ctl_append_escaped(char **buf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t have = *buf != NULL ? strlen(*buf) : 0, n = 0;
	char *b;

	for (const char *p = s; *p != '\0'; p++)
		n += 3;
	b = realloc(*buf, have + n + 1);
	if (b == NULL)
		return -ENOMEM;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~') {
			b[have++] = (char)*p;
		} else {
			b[have++] = '%';
			b[have++] = hex[*p >> 4];
			b[have++] = hex[*p & 15];
		}
	}
	b[have] = '\0';
	*buf = b;
	return 0;
}
