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

/* Prints the server's refusal: its {"error"} sentence, else its text, else the status. */
static void
print_refusal(long status, const char *body)
{
	cJSON *j = body != NULL ? cJSON_Parse(body) : NULL;
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	size_t n;

	if (cJSON_IsString(e) && e->valuestring[0] != '\0') {
		ctl_err("%s", e->valuestring);
	} else if (body != NULL && body[0] != '\0' && j == NULL) {
		n = strcspn(body, "\r\n");
		ctl_err("HTTP %ld: %.*s", status, (int)(n > 300 ? 300 : n), body);
	} else {
		ctl_err("HTTP %ld from the server", status);
	}
	cJSON_Delete(j);
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
		ctl_err("cannot reach clusterm: %s", err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r.status < 200 || r.status > 299) {
		print_refusal(r.status, r.body);
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
		ctl_err("cannot reach clusterm: %s", err);
		return CTL_EXIT_UNREACHABLE;
	}
	if (r.status < 200 || r.status > 299) {
		print_refusal(r.status, s.passing ? NULL : s.head);
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
