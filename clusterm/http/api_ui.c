/*
 * GET /ui/: the dashboard's page, script and style sheet, embedded in the
 * binary (ui/ui_assets.h). Open to all: the files hold no data; the page
 * fetches everything from the API with the token the user gives it.
 */
#include <string.h>

#include <civetweb.h>

#include "manager.h"
#include "metrics.h"
#include "ui/ui_assets.h"

/* Only the server's own files, no inline script or style, never framed. */
#define UI_SECURITY_HEADERS \
	"Content-Security-Policy: default-src 'self'; script-src 'self'; " \
	"style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; " \
	"form-action 'self'; frame-ancestors 'none'\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Referrer-Policy: no-referrer\r\n" \
	"X-Frame-Options: DENY\r\n"

static void
send_asset(struct http_req *req, const char *name)
{
	for (const struct ui_asset *a = ui_assets; a->name != NULL; a++) {
		if (strcmp(a->name, name) != 0)
			continue;
		req->status = 200;
		metrics_http(200);
		mg_printf(req->conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu"
		    "\r\nCache-Control: no-cache\r\n" UI_SECURITY_HEADERS "\r\n", a->ctype, a->len);
		mg_write(req->conn, a->data, a->len);
		return;
	}
	http_reply_error(req, 404, "no such path: %s", req->path);
}

static void
get_ui_index(struct http_req *req)
{
	send_asset(req, "index.html");
}

static void
get_ui_file(struct http_req *req)
{
	/* The index is served at /ui/ only, so that relative links resolve there. */
	if (strcmp(req->params[0], "index.html") == 0) {
		http_reply_error(req, 404, "no such path: %s", req->path);
		return;
	}
	send_asset(req, req->params[0]);
}

/* A redirect to /ui/ with status (301 or 302), for /ui and for /. */
static void
redirect_ui(struct http_req *req, int status)
{
	static const char body[] = "see /ui/\n";

	req->status = status;
	metrics_http(status);
	mg_printf(req->conn, "HTTP/1.1 %d %s\r\nLocation: /ui/\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-cache\r\n" UI_SECURITY_HEADERS "\r\n%s", status,
	    status == 301 ? "Moved Permanently" : "Found", sizeof(body) - 1, body);
}

/* /ui without the slash: the page's relative links need it. */
static void
get_ui_redirect(struct http_req *req)
{
	redirect_ui(req, 301);
}

/* The root: a browser pointed at the manager lands on the dashboard. */
static void
get_root(struct http_req *req)
{
	redirect_ui(req, 302);
}

const struct http_route api_ui_routes[] = {
	{ "GET", "/", get_root, AUTH_OPEN },
	{ "GET", "/ui", get_ui_redirect, AUTH_OPEN },
	{ "GET", "/ui/", get_ui_index, AUTH_OPEN },
	{ "GET", "/ui/{}", get_ui_file, AUTH_OPEN },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
