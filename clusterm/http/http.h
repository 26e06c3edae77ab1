/*
 * The HTTP front: civetweb set-up, the routing table, body reading with the
 * size and media-type checks, JSON replies and errors.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "cm_limits.h"

struct mg_connection;
struct http_server;

#define HTTP_MAX_PARAMS 2

struct http_req {
	struct mg_connection *conn;
	const char *method;
	const char *path;
	const char *query;		/* NULL when none */
	const char *params[HTTP_MAX_PARAMS];	/* {name} segments of the route */
	char *body;			/* NUL-terminated, read by http_read_body() */
	size_t len;
	void *ctx;			/* the server's context pointer */
	char remote[48];
	char token_name[72];		/* the bearer token's name, "" without auth */
	bool auth_on;			/* tokens are in force for this request */
	enum auth_role token_role;	/* with auth_on: the token's role */
	char token_reporter[LIMIT_MEMBER_NAME_LEN + 1];	/* its bound reporter, "" = shared */
	bool body_read;			/* the whole body was read: keep-alive is safe */
	int status;			/* what was answered */
};

typedef void (*http_handler_fn)(struct http_req *req);

struct http_route {
	const char *method;	/* "GET", "POST" */
	const char *pattern;	/* "/info/node/{}" ({} matches one segment) */
	http_handler_fn fn;
	enum auth_role role;	/* who may call it (when tokens are configured) */
};

struct http_opts {
	const char *addr;		/* "host:port" */
	size_t max_body;
	int threads;
	const struct http_route *routes;	/* terminated by fn == NULL */
	void *ctx;
	/* TLS: a PEM file holding the key and the certificate chain; "" = plain HTTP. */
	const char *tls_pem;
	const char *tls_ca;		/* client certificates required when set */
};

/*
 * Why the front refused a request: http.c counts these itself, so that it
 * needs nothing of the model; metrics.c reads them with http_get_stats().
 */
enum http_reject {
	HTTP_REJECT_MALFORMED,		/* body not JSON */
	HTTP_REJECT_TOO_LARGE,		/* body over max_body */
	HTTP_REJECT_MEDIA_TYPE,		/* not application/json */
	HTTP_REJECT_AUTH,		/* 401/403 */
	HTTP_REJECT_COUNT
};

#define HTTP_STATUS_MAX 600

/* The process-wide counters of the front (all servers). */
struct http_stats {
	unsigned long long by_code[HTTP_STATUS_MAX];	/* replies, by status 100..599 */
	unsigned long long rejected[HTTP_REJECT_COUNT];
};

/* Counts one reply of status (for replies sent without http_reply_*()). */
void http_count_reply(int status);
/* Copies the counters into ret (relaxed atomics: each exact, not a snapshot). */
void http_get_stats(struct http_stats *ret);

/*
 * The route for method and path: the first in routes (terminated by
 * fn == NULL) whose pattern matches path and whose method is method; its {}
 * segments are copied into store (len bytes) and pointed at by params.
 * 0 and *ret; -EOPNOTSUPP when a route matches the path with another
 * method only (405); -ENOENT when none matches it (404). params and store
 * may be written on failure too.
 */
int http_route_find(const struct http_route *routes, const char *method, const char *path,
    const char **params, char *store, size_t len, const struct http_route **ret);

/* Starts serving. On failure err says why (port in use, bad address). */
int http_start(const struct http_opts *o, struct http_server **ret, char *err, size_t errlen);

/*
 * Why addr ("host:port", "[v6]:port") cannot be listened on: civetweb says
 * only "Failed to setup server ports", so http_start() binds a socket of
 * its own to find the errno. 0 when that bind works.
 */
int http_bind_errno(const char *addr);
/*
 * Replaces the tokens in force (NULL: no authentication); the server takes
 * a and frees the previous set once no request uses it.
 */
void http_set_auth(struct http_server *h, struct auth *a);

/* The port actually bound (for addr ":0"). */
int http_port(struct http_server *h);
void http_stop(struct http_server *h);

/*
 * Reads the JSON body, enforcing the media type (415) and max_body (413).
 * On failure the error reply has been sent and -1 is returned. A reply sent
 * while a body is unread that is chunked, of unknown length or more than
 * 1 MiB over the limit closes the connection, so such an upload is never
 * read; a shorter one is read and dropped (the client then gets the reply
 * even if it sends its body without waiting for one).
 */
int http_read_body(struct http_req *req);

/*
 * http_read_body, then the body parsed into *ret (the caller frees it with
 * cJSON_Delete). An unparsable body is answered 400 "<prefix>body is not
 * valid JSON" (prefix: contiv's wording, or NULL) and counted malformed.
 * 0, or -1 when the reply has been sent.
 */
int http_read_json(struct http_req *req, const char *prefix, cJSON **ret);

const char *http_header(struct http_req *req, const char *name);

/*
 * The subject CN of the verified client certificate (mutual TLS) into buf.
 * 0, -ENOENT (no client certificate), or -EINVAL (no CN, more than one, or
 * longer than len - 1); buf is written only on success.
 */
int http_client_cn(struct http_req *req, char *buf, size_t len);
/* Value of a query parameter into buf; false when absent. */
bool http_query(struct http_req *req, const char *name, char *buf, size_t len);

/* Replies. The cJSON tree is consumed (deleted). */
void http_reply_json(struct http_req *req, int status, cJSON *body);
void http_reply_text(struct http_req *req, int status, const char *ctype, const char *body,
    size_t len);
void http_reply_error(struct http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
