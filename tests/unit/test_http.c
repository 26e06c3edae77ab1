/*
 * http.c's routing: http_route_find() on a table (exact paths, {} segments,
 * order, 404 against 405, the route and so the role the token is checked
 * against), then a real server on 127.0.0.1 port 0 driven by a plain socket
 * (404, 405, the declared-length limit, a handler's reply).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <check.h>
#include <civetweb.h>

#include "http.h"

/* Bound of every socket wait of the server tests. */
#define WAIT_MS 5000

static void
on_ok(struct http_req *req)
{
	http_reply_text(req, 200, "text/plain", "ok", 2);
}

static void
on_node(struct http_req *req)
{
	http_reply_text(req, 200, "text/plain", req->params[0], strlen(req->params[0]));
}

static void
on_other(struct http_req *req)
{
	http_reply_text(req, 202, "text/plain", "other", 5);
}

static const struct http_route routes[] = {
	{ "GET", "/healthz", on_ok, AUTH_OPEN },
	{ "GET", "/api/v1/nodes", on_ok, AUTH_READER },
	{ "GET", "/api/v1/nodes/{}", on_node, AUTH_READER },
	{ "POST", "/api/v1/nodes/{}/commission", on_ok, AUTH_ADMIN },
	{ "POST", "/monitor/{}/{}", on_ok, AUTH_REPORTER },
	{ "POST", "/api/v1/nodes/{}", on_other, AUTH_ADMIN },
	{ "GET", "/api/v1/nodes/{}", on_other, AUTH_ADMIN },	/* shadowed by the first */
	{ NULL, NULL, NULL, AUTH_OPEN },
};

/* http_route_find() with a fresh params array and store. */
struct found {
	const struct http_route *r;
	const char *params[HTTP_MAX_PARAMS];
	char store[256];
	int rc;
};

static void
find(const char *method, const char *path, struct found *f)
{
	memset(f, 0, sizeof(*f));
	f->rc = http_route_find(routes, method, path, f->params, f->store,
	    sizeof(f->store), &f->r);
}

START_TEST(test_exact)
{
	struct found f;

	find("GET", "/healthz", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_ptr_eq(f.r, &routes[0]);
	find("GET", "/api/v1/nodes", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_ptr_eq(f.r, &routes[1]);
	/* No prefix matches, no trailing slash, case counts. */
	find("GET", "/healthz/", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
	find("GET", "/health", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
	find("GET", "/HEALTHZ", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
	find("GET", "/", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
}
END_TEST

START_TEST(test_params)
{
	struct found f;

	find("GET", "/api/v1/nodes/n1", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_ptr_eq(f.r, &routes[2]);
	ck_assert_str_eq(f.params[0], "n1");
	find("POST", "/api/v1/nodes/node-7/commission", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_ptr_eq(f.r, &routes[3]);
	ck_assert_str_eq(f.params[0], "node-7");
	find("POST", "/monitor/a/b", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_ptr_eq(f.r, &routes[4]);
	ck_assert_str_eq(f.params[0], "a");
	ck_assert_str_eq(f.params[1], "b");
	/* {} takes one non-empty segment, no more. */
	find("GET", "/api/v1/nodes/", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
	find("GET", "/api/v1/nodes/n1/extra", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
	find("POST", "/monitor/a", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
	find("POST", "/monitor/a//", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
}
END_TEST

START_TEST(test_segment_over_store)
{
	char path[400];
	const char *params[HTTP_MAX_PARAMS];
	char store[16];
	const struct http_route *r = NULL;

	snprintf(path, sizeof(path), "/api/v1/nodes/%0200d", 1);
	ck_assert_int_eq(http_route_find(routes, "GET", path, params, store, sizeof(store), &r),
	    -ENOENT);
	ck_assert_int_eq(http_route_find(routes, "GET", "/api/v1/nodes/short", params, store,
	    sizeof(store), &r), 0);
	ck_assert_str_eq(params[0], "short");
}
END_TEST

START_TEST(test_method)
{
	struct found f;

	/* The path exists with another method only: 405, not 404. */
	find("POST", "/healthz", &f);
	ck_assert_int_eq(f.rc, -EOPNOTSUPP);
	find("DELETE", "/api/v1/nodes/n1", &f);
	ck_assert_int_eq(f.rc, -EOPNOTSUPP);
	find("GET", "/api/v1/nodes/n1/commission", &f);
	ck_assert_int_eq(f.rc, -EOPNOTSUPP);
	find("get", "/healthz", &f);
	ck_assert_int_eq(f.rc, -EOPNOTSUPP);
	find("PUT", "/nowhere", &f);
	ck_assert_int_eq(f.rc, -ENOENT);
}
END_TEST

START_TEST(test_role_per_route)
{
	struct found f;

	/* Same path, the method picks the route and so the role checked. */
	find("GET", "/api/v1/nodes/n1", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_int_eq(f.r->role, AUTH_READER);
	find("POST", "/api/v1/nodes/n1", &f);
	ck_assert_int_eq(f.rc, 0);
	ck_assert_ptr_eq(f.r, &routes[5]);
	ck_assert_int_eq(f.r->role, AUTH_ADMIN);
	find("GET", "/healthz", &f);
	ck_assert_int_eq(f.r->role, AUTH_OPEN);
	find("POST", "/monitor/x/y", &f);
	ck_assert_int_eq(f.r->role, AUTH_REPORTER);
}
END_TEST

/* A server on 127.0.0.1 port 0 with the table above and a 16-byte body limit. */
static struct http_server *
start(void)
{
	struct http_opts o;
	struct http_server *h = NULL;
	char err[256];

	memset(&o, 0, sizeof(o));
	o.addr = "127.0.0.1:0";
	o.max_body = 16;
	o.threads = 2;
	o.routes = routes;
	o.tls_pem = "";
	o.tls_ca = "";
	mg_init_library(0);
	ck_assert_msg(http_start(&o, &h, err, sizeof(err)) == 0, "http_start: %s", err);
	ck_assert_int_gt(http_port(h), 0);
	return h;
}

/*
 * Sends request (whole) on a new connection and reads until the server
 * closes or the bound passes; the reply into buf. Returns its status.
 */
static int
exchange(int port, const char *request, char *buf, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
	size_t used = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), status = -1;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
	while (used + 1 < len && (n = recv(fd, buf + used, len - 1 - used, 0)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
	close(fd);
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

START_TEST(test_server)
{
	struct http_server *h = start();
	int port = http_port(h);
	char buf[4096];

	ck_assert_int_eq(exchange(port, "GET /healthz HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", buf, sizeof(buf)), 200);
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nok"));
	ck_assert_int_eq(exchange(port, "GET /api/v1/nodes/n9 HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", buf, sizeof(buf)), 200);
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\nn9"));
	ck_assert_int_eq(exchange(port, "GET /nowhere HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", buf, sizeof(buf)), 404);
	ck_assert_ptr_nonnull(strstr(buf, "no such path: /nowhere"));
	ck_assert_int_eq(exchange(port, "DELETE /healthz HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", buf, sizeof(buf)), 405);
	ck_assert_ptr_nonnull(strstr(buf, "method DELETE not allowed on /healthz"));
	/* Over max_body by the declared length: refused before the body is read. */
	ck_assert_int_eq(exchange(port, "POST /api/v1/nodes/n1 HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\nContent-Length: 18\r\n"
	    "Connection: close\r\n\r\n{\"a\":\"0123456789\"}", buf, sizeof(buf)), 413);
	ck_assert_ptr_nonnull(strstr(buf, "over the limit of 16"));
	ck_assert_int_eq(exchange(port, "POST /api/v1/nodes/n1 HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\nContent-Length: 16\r\n"
	    "Connection: close\r\n\r\n{\"a\":\"01234567\"}", buf, sizeof(buf)), 202);
	http_stop(h);
	mg_exit_library();
}
END_TEST

START_TEST(test_stats)
{
	struct http_stats before, after;
	struct http_server *h;
	char buf[4096];

	http_get_stats(&before);
	h = start();
	ck_assert_int_eq(exchange(http_port(h), "GET /nowhere HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", buf, sizeof(buf)), 404);
	ck_assert_int_eq(exchange(http_port(h), "POST /api/v1/nodes/n1 HTTP/1.1\r\nHost: t\r\n"
	    "Content-Type: application/json\r\nContent-Length: 20\r\n"
	    "Connection: close\r\n\r\n{\"a\":\"0123456789ab\"}", buf, sizeof(buf)), 413);
	http_stop(h);
	mg_exit_library();
	http_count_reply(299);
	http_get_stats(&after);
	ck_assert_uint_eq(after.by_code[404], before.by_code[404] + 1);
	ck_assert_uint_eq(after.by_code[413], before.by_code[413] + 1);
	ck_assert_uint_eq(after.by_code[299], before.by_code[299] + 1);
	ck_assert_uint_eq(after.rejected[HTTP_REJECT_TOO_LARGE],
	    before.rejected[HTTP_REJECT_TOO_LARGE] + 1);
	ck_assert_uint_eq(after.rejected[HTTP_REJECT_AUTH], before.rejected[HTTP_REJECT_AUTH]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("routing");
	TCase *ts = tcase_create("server");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_exact);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_segment_over_store);
	tcase_add_test(tc, test_method);
	tcase_add_test(tc, test_role_per_route);
	tcase_add_test(ts, test_server);
	tcase_add_test(ts, test_stats);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, ts);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
