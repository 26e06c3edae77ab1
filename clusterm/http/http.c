/* civetweb behind a small routing table; every reply is JSON with a length. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include <civetweb.h>

#include "cm_limits.h"
#include "http.h"
#include "log.h"
#include "report_json.h"

/*
 * civetweb gives every connection a worker thread until its request has
 * arrived, so idle connections (slowloris) hold workers until these
 * timeouts. Many cheap threads and short timeouts raise the cost of that:
 * measured with tests/bench/bench_idle_conns.py. Forwarders and clusterctl
 * send their whole request at once, so 5 s is plenty for them.
 */
#define HTTP_THREADS_DEFAULT	128
#define HTTP_REQUEST_TIMEOUT_MS	"5000"
#define HTTP_KEEPALIVE_MS	"5000"
/* A 401 says what to send. */
#define HTTP_401_SENTENCE	"missing or bad token: send Authorization: Bearer <token>"
/* Unread body bytes over max_body that a refusal still reads and drops. */
#define HTTP_DRAIN_SLACK	((size_t)1024 * 1024)

struct http_server {
	struct mg_context *mg;
	struct http_opts o;
	pthread_rwlock_t auth_lock;	/* readers: requests; writer: a reload */
	struct auth *auth;
};

static unsigned long long by_code[HTTP_STATUS_MAX];
static unsigned long long rejected[HTTP_REJECT_COUNT];

void
http_count_reply(int status)
{
	if (status >= 100 && status < HTTP_STATUS_MAX)
		__atomic_add_fetch(&by_code[status], 1, __ATOMIC_RELAXED);
}

static void
count_reject(enum http_reject why)
{
	__atomic_add_fetch(&rejected[why], 1, __ATOMIC_RELAXED);
}

void
http_get_stats(struct http_stats *ret)
{
	for (int i = 0; i < HTTP_STATUS_MAX; i++)
		ret->by_code[i] = __atomic_load_n(&by_code[i], __ATOMIC_RELAXED);
	for (int i = 0; i < HTTP_REJECT_COUNT; i++)
		ret->rejected[i] = __atomic_load_n(&rejected[i], __ATOMIC_RELAXED);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

/*
 * Whether a reply must close the connection because of the body nobody has
 * read. civetweb would read and drop it before the next request, on this
 * worker thread, however long it is. A declared length up to
 * HTTP_DRAIN_SLACK over the limit is left to that (a client that sends its
 * body without waiting then gets the reply rather than a reset); a longer
 * one, a chunked one and one of unknown length are not read at all.
 */
static bool
close_unread(struct http_req *req)
{
	struct http_server *h = mg_get_user_data(mg_get_context(req->conn));
	const struct mg_request_info *ri = mg_get_request_info(req->conn);

	if (req->body_read)
		return false;
	if (http_header(req, "Transfer-Encoding") != NULL)
		return true;
	if (ri->content_length < 0)	/* civetweb reads it until the peer closes */
		return strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
	return ri->content_length > (long long)(h->o.max_body + HTTP_DRAIN_SLACK);
}

void
http_reply_text(struct http_req *req, int status, const char *ctype, const char *body,
    size_t len)
{
	/*
	 * A "Connection: close" header alone does not close: civetweb would
	 * still read the whole declared body first. Its must_close flag, set
	 * by mg_disable_connection_keep_alive(), makes it close unread.
	 */
	bool close_conn = close_unread(req);

	if (close_conn)
		mg_disable_connection_keep_alive(req->conn);
	req->status = status;
	http_count_reply(status);
	mg_printf(req->conn, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n%s\r\n", status, reason(status), ctype, len,
	    close_conn ? "Connection: close\r\n" : "");
	if (len > 0)
		mg_write(req->conn, body, len);
}

void
http_reply_json(struct http_req *req, int status, cJSON *body)
{
	char *text = body != NULL ? cJSON_PrintUnformatted(body) : NULL;

	cJSON_Delete(body);
	if (text == NULL) {
		static const char oom[] = "{\"error\":\"out of memory\"}";
		http_reply_text(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	http_reply_text(req, status, "application/json", text, strlen(text));
	free(text);
}

void
http_reply_error(struct http_req *req, int status, const char *fmt, ...)
{
	char msg[512];
	cJSON *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	if (o != NULL)
		cJSON_AddStringToObject(o, "error", msg);
	http_reply_json(req, status, o);
}

const char *
http_header(struct http_req *req, const char *name)
{
	return mg_get_header(req->conn, name);
}

bool
http_query(struct http_req *req, const char *name, char *buf, size_t len)
{
	if (req->query == NULL)
		return false;
	return mg_get_var(req->query, strlen(req->query), name, buf, len) >= 0;
}

static bool
json_media_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int
http_read_body(struct http_req *req)
{
	struct http_server *h = mg_get_user_data(mg_get_context(req->conn));
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	size_t max = h->o.max_body, cap, len = 0;
	char *buf;

	if (!json_media_type(http_header(req, "Content-Type"))) {
		count_reject(HTTP_REJECT_MEDIA_TYPE);
		http_reply_error(req, 415, "Content-Type must be application/json");
		return -1;
	}
	if (ri->content_length > (long long)max) {
		count_reject(HTTP_REJECT_TOO_LARGE);
		http_reply_error(req, 413, "body of %lld bytes is over the limit of %zu",
		    ri->content_length, max);
		return -1;
	}
	/* Chunked bodies have no length: read up to the limit and one byte more. */
	cap = ri->content_length >= 0 ? (size_t)ri->content_length : 16384;
	buf = malloc(cap + 1);
	if (buf == NULL) {
		http_reply_error(req, 500, "out of memory");
		return -1;
	}
	for (;;) {
		int n;
		if (len == cap) {
			char *b;
			if (ri->content_length >= 0 || cap > max)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			b = realloc(buf, cap + 1);
			if (b == NULL) {
				free(buf);
				http_reply_error(req, 500, "out of memory");
				return -1;
			}
			buf = b;
		}
		n = mg_read(req->conn, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	/* A chunked body read to its end, or a declared one read whole. */
	req->body_read = ri->content_length >= 0 ? len == (size_t)ri->content_length :
	    len <= max;
	if (len > max) {
		free(buf);
		count_reject(HTTP_REJECT_TOO_LARGE);
		http_reply_error(req, 413, "body is over the limit of %zu bytes", max);
		return -1;
	}
	buf[len] = '\0';
	/* cJSON would cut a string at \u0000: refuse rather than apply "a" for "a\u0000b". */
	if (report_json_has_nul(buf, len)) {
		free(buf);
		count_reject(HTTP_REJECT_MALFORMED);
		http_reply_error(req, 400, "JSON strings must not hold NUL characters");
		return -1;
	}
	req->body = buf;
	req->len = len;
	return 0;
}

int
http_read_json(struct http_req *req, const char *prefix, cJSON **ret)
{
	cJSON *root;

	if (http_read_body(req) < 0)
		return -1;
	root = cJSON_ParseWithLength(req->body, req->len);
	if (root == NULL) {
		count_reject(HTTP_REJECT_MALFORMED);
		http_reply_error(req, 400, "%sbody is not valid JSON", prefix != NULL ? prefix : "");
		return -1;
	}
	*ret = root;
	return 0;
}

/* Matches path against pattern; {} captures one non-empty segment. */
static bool
match(const char *pattern, const char *path, const char **caps, char *store, size_t cap_len)
{
	int ncap = 0;
	size_t used = 0;

	while (*pattern != '\0') {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t seg = strcspn(path, "/");
			if (seg == 0 || ncap >= HTTP_MAX_PARAMS || used + seg + 1 > cap_len)
				return false;
			memcpy(store + used, path, seg);
			store[used + seg] = '\0';
			caps[ncap++] = store + used;
			used += seg + 1;
			path += seg;
			pattern += 2;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *path == '\0';
}

int
http_route_find(const struct http_route *routes, const char *method, const char *path,
    const char **params, char *store, size_t len, const struct http_route **ret)
{
	bool path_known = false;

	for (const struct http_route *r = routes; r->fn != NULL; r++) {
		if (!match(r->pattern, path, params, store, len))
			continue;
		path_known = true;
		if (strcmp(r->method, method) != 0)
			continue;
		*ret = r;
		return 0;
	}
	return path_known ? -EOPNOTSUPP : -ENOENT;
}

/*
 * With tokens in force: checks the request's token against the route's
 * role. 0 to go on, else the refusal's status (the reply has been sent).
 */
static int
check_token(struct http_server *h, struct http_req *req, const struct http_route *r)
{
	pthread_rwlock_rdlock(&h->auth_lock);
	if (h->auth != NULL) {
		struct auth_id id = { 0 };
		int st = auth_check(h->auth, http_header(req, "Authorization"), r->role, &id);

		req->auth_on = true;
		/* Copied: a SIGHUP may free the tokens while the handler runs. */
		if (id.name != NULL) {
			snprintf(req->token_name, sizeof(req->token_name), "%s", id.name);
			req->token_role = id.role;
			snprintf(req->token_reporter, sizeof(req->token_reporter), "%s",
			    id.reporter != NULL ? id.reporter : "");
		}
		if (st != 0) {
			pthread_rwlock_unlock(&h->auth_lock);
			count_reject(HTTP_REJECT_AUTH);
			if (st == 401)
				http_reply_error(req, 401, HTTP_401_SENTENCE);
			else
				http_reply_error(req, 403, "token '%s' has role %s; this needs "
				    "%s (%s %.200s)", req->token_name,
				    auth_role_name(req->token_role), auth_role_name(r->role),
				    req->method, req->path);
			return req->status;
		}
	}
	pthread_rwlock_unlock(&h->auth_lock);
	return 0;
}

/* Runs route r's handler once the token and the declared body length pass. */
static int
serve(struct http_server *h, const struct mg_request_info *ri, struct http_req *req,
    const struct http_route *r)
{
	int st = check_token(h, req, r);

	if (st != 0)
		return st;
	/* By the declared length, before a byte of the body is read. */
	if (ri->content_length > (long long)h->o.max_body) {
		count_reject(HTTP_REJECT_TOO_LARGE);
		http_reply_error(req, 413, "body of %lld bytes is over the limit of %zu",
		    ri->content_length, h->o.max_body);
		return req->status;
	}
	r->fn(req);
	free(req->body);
	return req->status != 0 ? req->status : 200;
}

static int
dispatch(struct mg_connection *conn, void *cbdata)
{
	struct http_server *h = cbdata;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	char store[2 * (LIMIT_NODE_NAME_LEN + 64)];
	const struct http_route *route;
	struct http_req req;
	int found;

	memset(&req, 0, sizeof(req));
	req.conn = conn;
	req.method = ri->request_method;
	req.path = ri->local_uri != NULL ? ri->local_uri : "/";
	req.query = ri->query_string;
	req.ctx = h->o.ctx;
	snprintf(req.remote, sizeof(req.remote), "%s", ri->remote_addr);

	found = http_route_find(h->o.routes, req.method, req.path, req.params, store,
	    sizeof(store), &route);
	if (found == 0)
		return serve(h, ri, &req, route);
/* Without a valid token nobody learns which paths exist. */
	pthread_rwlock_rdlock(&h->auth_lock);
	bool hidden = h->auth != NULL && !auth_valid(h->auth, http_header(&req,
	    "Authorization"));
	pthread_rwlock_unlock(&h->auth_lock);
	if (hidden) {
		count_reject(HTTP_REJECT_AUTH);
		http_reply_error(&req, 401, HTTP_401_SENTENCE);
	} else if (found == -EOPNOTSUPP)
		http_reply_error(&req, 405, "method %s not allowed on %s", req.method, req.path);
	else
		http_reply_error(&req, 404, "no such path: %s", req.path);
	return req.status;
}

/* civetweb's own log lines (bind failures and the like). */
static int
on_log(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	fprintf(stderr, "civetweb: %s\n", message);
	return 1;
}

int
http_start(const struct http_opts *o, struct http_server **ret, char *err, size_t errlen)
{
	struct mg_callbacks cb;
	struct mg_init_data init;
	struct mg_error_data ed;
	struct http_server *h;
	char threads[16], errtxt[256] = "";
	char ports[600];
	const char *opts[32] = {
		"listening_ports", ports,
		"num_threads", threads,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", HTTP_KEEPALIVE_MS,
		"request_timeout_ms", HTTP_REQUEST_TIMEOUT_MS,
		/* Without it keep-alive POSTs stall on delayed ACKs (40 ms each). */
		"tcp_nodelay", "1",
		"decode_url", "yes",
		NULL,
	};
	size_t nopt = 0;

	/* civetweb marks a TLS port with an "s" after the port number. */
	if ((size_t)snprintf(ports, sizeof(ports), "%s%s", o->addr,
	    o->tls_pem != NULL && o->tls_pem[0] ? "s" : "") >= sizeof(ports)) {
		snprintf(err, errlen, "address too long");
		return -EINVAL;
	}
	while (opts[nopt] != NULL)
		nopt++;
	if (o->tls_pem != NULL && o->tls_pem[0]) {
		opts[nopt++] = "ssl_certificate";
		opts[nopt++] = o->tls_pem;
		opts[nopt++] = "ssl_protocol_version";
		opts[nopt++] = "4";	/* TLS 1.2 and newer */
		if (o->tls_ca != NULL && o->tls_ca[0]) {
			opts[nopt++] = "ssl_ca_file";
			opts[nopt++] = o->tls_ca;
			opts[nopt++] = "ssl_verify_peer";
			opts[nopt++] = "yes";
		}
		opts[nopt] = NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->o = *o;
	pthread_rwlock_init(&h->auth_lock, NULL);
	snprintf(threads, sizeof(threads), "%d", o->threads > 0 ? o->threads :
	    HTTP_THREADS_DEFAULT);
	memset(&cb, 0, sizeof(cb));
	cb.log_message = on_log;
	memset(&init, 0, sizeof(init));
	init.callbacks = &cb;
	init.user_data = h;
	init.configuration_options = opts;
	memset(&ed, 0, sizeof(ed));
	ed.text = errtxt;
	ed.text_buffer_size = sizeof(errtxt);
	h->mg = mg_start2(&init, &ed);
	if (h->mg == NULL) {
		int e = http_bind_errno(o->addr);

		snprintf(err, errlen, "cannot listen on %s: %s", o->addr, e != 0 ? strerror(e) :
		    errtxt[0] ? errtxt : "civetweb failed to start");
		pthread_rwlock_destroy(&h->auth_lock);
		free(h);
		return -EADDRINUSE;
	}
	mg_set_request_handler(h->mg, "/", dispatch, h);
	*ret = h;
	return 0;
}

int
http_port(struct http_server *h)
{
	struct mg_server_port ports[4];
	int n = mg_get_server_ports(h->mg, 4, ports);

	return n > 0 ? ports[0].port : -1;
}

void
http_stop(struct http_server *h)
{
	if (h == NULL)
		return;
	mg_stop(h->mg);
	auth_free(h->auth);
	pthread_rwlock_destroy(&h->auth_lock);
	free(h);
}

/*
 * Replaces the tokens; says which reporter tokens are shared, as the
 * operator must know that their X-Reporter names prove nothing.
 */
void
http_set_auth(struct http_server *h, struct auth *a)
{
	struct auth *old;
	char names[512];
	size_t shared = auth_shared_reporters(a, names, sizeof(names));

	if (shared > 0)
		log_warn("auth: %zu shared reporter token(s) (no \"reporter\" in the tokens "
		    "file): %s; the X-Reporter names sent with them are not authenticated",
		    shared, names);

	pthread_rwlock_wrlock(&h->auth_lock);
	old = h->auth;
	h->auth = a;
	pthread_rwlock_unlock(&h->auth_lock);
	auth_free(old);
}
