/*
 * Unit tests: the plain-HTTP client against a fake server in a thread (a
 * listening socket on loopback that plays one scripted reply).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fsio.h"
#include "http1.h"

#define REQ_MAX		(64 * 1024)
#define BOUND_MS	400	/* deadline of the timeout cases */
#define SLACK_MS	300	/* scheduling allowance on a loaded machine */

enum script {
	SCRIPT_REPLY,		/* send reply as is, then close */
	SCRIPT_DRIP,		/* send reply a few bytes at a time */
	SCRIPT_SILENT,		/* read the request, never answer */
	SCRIPT_EARLY,		/* answer after the head, before the body, and close */
};

struct fake {
	int lfd;
	int family;
	unsigned short port;
	enum script script;
	const char *reply;
	char req[REQ_MAX + 1];	/* what the client sent (head and body) */
	size_t reqlen;
	pthread_t thread;
};

/* Reads the head and, per its Content-Length, the body. */
static void
read_request(struct fake *f, int c, bool head_only)
{
	size_t want = (size_t)-1;

	f->reqlen = 0;
	while (f->reqlen < REQ_MAX && f->reqlen < want) {
		ssize_t n = recv(c, f->req + f->reqlen, REQ_MAX - f->reqlen, 0);
		char *end;

		if (n <= 0)
			break;
		f->reqlen += (size_t)n;
		f->req[f->reqlen] = '\0';
		if (want == (size_t)-1 && (end = strstr(f->req, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(f->req, "\r\nContent-Length:");
			size_t hl = (size_t)(end + 4 - f->req);

			want = hl + (cl != NULL && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
			if (head_only)
				break;
		}
	}
}

static void *
serve(void *arg)
{
	struct fake *f = arg;
	int c = accept(f->lfd, NULL, NULL);
	char sink[256];

	if (c < 0)
		return NULL;
	read_request(f, c, f->script == SCRIPT_EARLY);
	switch (f->script) {
	case SCRIPT_REPLY:
	case SCRIPT_EARLY:
		if (send(c, f->reply, strlen(f->reply), MSG_NOSIGNAL) < 0)
			break;
		break;
	case SCRIPT_DRIP:
		for (size_t i = 0; i < strlen(f->reply); i += 3) {
			size_t n = strlen(f->reply) - i < 3 ? strlen(f->reply) - i : 3;
			if (send(c, f->reply + i, n, MSG_NOSIGNAL) < 0)
				break;
			usleep(1000);
		}
		break;
	case SCRIPT_SILENT:
		/* Until the client gives up and closes. */
		while (recv(c, sink, sizeof(sink), 0) > 0)
			;
		break;
	}
	close(c);
	return NULL;
}

static void
fake_start(struct fake *f, int family, enum script script, const char *reply)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);

	memset(f, 0, sizeof(*f));
	f->family = family;
	f->script = script;
	f->reply = reply;
	f->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&ss, family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&ss, &sl), 0);
	f->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void
fake_stop(struct fake *f)
{
	ck_assert_int_eq(pthread_join(f->thread, NULL), 0);
	close(f->lfd);
}

/* A POST to host:port/path of the fake, bounded by bound_ms. */
static int
post(const char *host, unsigned short port, const char *body, long bound_ms,
    struct http1_resp *resp, char *err, size_t errlen)
{
	static const char *const hdrs[] = { "X-Reporter: rep1", "X-Reporter-Seq: 7", NULL };
	char url[128];
	long long now = fsio_mono_ms();
	struct http1_req rq = {
		.method = "POST",
		.url = url,
		.content_type = "application/json",
		.body = body,
		.len = body != NULL ? strlen(body) : 0,
		.token = "s3cret",
		.headers = hdrs,
		.connect_deadline_ms = now + bound_ms,
		.deadline_ms = now + bound_ms,
	};

	snprintf(url, sizeof(url), "http://%s:%u/monitor/event/discovered", host, port);
	return http1_request(&rq, resp, err, errlen);
}

START_TEST(test_content_length)
{
	struct fake f;
	struct http1_resp r = { 0 };
	char err[256] = "";

	fake_start(&f, AF_INET, SCRIPT_REPLY, "HTTP/1.1 200 OK\r\nContent-Type: application/"
	    "json\r\nContent-Length: 29\r\nX-Other: a\r\n\r\n{\"accepted\":1,\"duplicates\":0}");
	ck_assert_int_eq(post("127.0.0.1", f.port, "[{\"a\":1}]", 2000, &r, err, sizeof(err)),
	    0);
	fake_stop(&f);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, 29);
	ck_assert_str_eq(r.body, "{\"accepted\":1,\"duplicates\":0}");
	/* The request: line, Host, type, length, token, extra headers, body. */
	ck_assert_msg(strncmp(f.req, "POST /monitor/event/discovered HTTP/1.1\r\n", 41) == 0,
	    "%s", f.req);
	ck_assert_ptr_nonnull(strstr(f.req, "\r\nHost: 127.0.0.1:"));
	ck_assert_ptr_nonnull(strstr(f.req, "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(f.req, "\r\nContent-Length: 9\r\n"));
	ck_assert_ptr_nonnull(strstr(f.req, "\r\nAuthorization: Bearer s3cret\r\n"));
	ck_assert_ptr_nonnull(strstr(f.req, "\r\nX-Reporter: rep1\r\nX-Reporter-Seq: 7\r\n"));
	ck_assert_ptr_nonnull(strstr(f.req, "\r\n\r\n[{\"a\":1}]"));
	http1_resp_finish(&r);
}
END_TEST

START_TEST(test_chunked)
{
	struct fake f;
	struct http1_resp r = { 0 };
	char err[256] = "";

	/* Dripped three bytes at a time: every parser state meets a short read. */
	fake_start(&f, AF_INET, SCRIPT_DRIP, "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	    "5;name=value\r\nhello\r\n"
	    "18\r\n, world, in two chunks!!\r\n"
	    "0\r\nX-Trailer: t\r\n\r\n");
	ck_assert_int_eq(post("127.0.0.1", f.port, "{}", 5000, &r, err, sizeof(err)), 0);
	fake_stop(&f);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "hello, world, in two chunks!!");
	ck_assert_uint_eq(r.len, 29);
	http1_resp_finish(&r);
}
END_TEST

START_TEST(test_status_4xx_5xx)
{
	static const char *replies[] = {
		"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno route\n",
		"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy, read to close",
		"HTTP/1.1 413 Payload Too Large\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "3\r\nbig\r\n0\r\n\r\n",
	};
	static const long want[] = { 404, 503, 413 };
	static const char *bodies[] = { "no route\n", "busy, read to close", "big" };

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct fake f;
		struct http1_resp r = { 0 };
		char err[256] = "";

		fake_start(&f, AF_INET, SCRIPT_REPLY, replies[i]);
		ck_assert_int_eq(post("127.0.0.1", f.port, "[]", 2000, &r, err, sizeof(err)), 0);
		fake_stop(&f);
		ck_assert_int_eq(r.status, want[i]);
		ck_assert_str_eq(r.body, bodies[i]);
		http1_resp_finish(&r);
	}
}
END_TEST

START_TEST(test_refused)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t sl = sizeof(a);
	struct http1_resp r = { .status = -1 };
	char err[256] = "";
	long long t0;
	int fd, rc;

	/* A port that was just free: nobody listens there. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
	close(fd);
	t0 = fsio_mono_ms();
	rc = post("127.0.0.1", ntohs(a.sin_port), "[]", 2000, &r, err, sizeof(err));
	ck_assert_int_eq(rc, HTTP1_ERR_CONNECT);
	ck_assert_msg(strstr(err, "Connection refused") != NULL, "%s", err);
	ck_assert(http1_is_retryable(rc));
	ck_assert_int_lt(fsio_mono_ms() - t0, 1000);
	ck_assert_int_eq(r.status, -1);	/* untouched on failure */
}
END_TEST

START_TEST(test_silent_server_times_out)
{
	struct fake f;
	struct http1_resp r = { .status = -1 };
	char err[256] = "";
	long long t0, took;
	int rc;

	fake_start(&f, AF_INET, SCRIPT_SILENT, NULL);
	t0 = fsio_mono_ms();
	rc = post("127.0.0.1", f.port, "[]", BOUND_MS, &r, err, sizeof(err));
	took = fsio_mono_ms() - t0;
	fake_stop(&f);
	ck_assert_int_eq(rc, HTTP1_ERR_TIMEOUT);
	ck_assert(http1_is_retryable(rc));
	ck_assert_msg(took >= BOUND_MS - 5 && took <= BOUND_MS + SLACK_MS, "took %lld ms", took);
	ck_assert_msg(strstr(err, "time bound") != NULL, "%s", err);
	ck_assert_int_eq(r.status, -1);
}
END_TEST

START_TEST(test_closed_mid_reply)
{
	static const char *replies[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Le",
		"",
	};

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct fake f;
		struct http1_resp r = { .status = -1 };
		char err[256] = "";
		int rc;

		fake_start(&f, AF_INET, SCRIPT_REPLY, replies[i]);
		rc = post("127.0.0.1", f.port, "[]", 2000, &r, err, sizeof(err));
		fake_stop(&f);
		ck_assert_msg(rc == HTTP1_ERR_IO, "case %zu: rc %d: %s", i, rc, err);
		ck_assert(http1_is_retryable(rc));
		ck_assert_int_eq(r.status, -1);
	}
}
END_TEST

START_TEST(test_malformed_reply)
{
	static const char *replies[] = {
		"SMTP ready\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	};

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		struct fake f;
		struct http1_resp r = { 0 };
		char err[256] = "";
		int rc;

		fake_start(&f, AF_INET, SCRIPT_REPLY, replies[i]);
		rc = post("127.0.0.1", f.port, "[]", 2000, &r, err, sizeof(err));
		fake_stop(&f);
		ck_assert_msg(rc == HTTP1_ERR_PROTO, "case %zu: rc %d: %s", i, rc, err);
	}
}
END_TEST

/* The server answers before reading the body (a 413) and closes. */
START_TEST(test_early_answer)
{
	struct fake f;
	struct http1_resp r = { .status = -1 };
	char err[256] = "", *big = malloc(8 << 20);
	int rc;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', (8 << 20) - 1);
	big[(8 << 20) - 1] = '\0';
	fake_start(&f, AF_INET, SCRIPT_EARLY, "HTTP/1.1 413 Payload Too Large\r\n"
	    "Content-Length: 3\r\nConnection: close\r\n\r\nbig");
	rc = post("127.0.0.1", f.port, big, 5000, &r, err, sizeof(err));
	fake_stop(&f);
	/* The kernel may discard the reply on the reset: either way, no hang. */
	ck_assert_msg(rc == 0 || rc == HTTP1_ERR_IO, "rc %d: %s", rc, err);
	if (rc == 0) {
		ck_assert_int_eq(r.status, 413);
		http1_resp_finish(&r);
	}
	free(big);
}
END_TEST

START_TEST(test_ipv6_and_names)
{
	const char *reply = "HTTP/1.1 204 No Content\r\n\r\n";
	struct http1_resp r = { 0 };
	char err[256] = "";
	struct fake f;
	int s6 = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool v6 = s6 >= 0 && bind(s6, (struct sockaddr *)&a6, sizeof(a6)) == 0;

	if (s6 >= 0)
		close(s6);
	if (v6) {
		fake_start(&f, AF_INET6, SCRIPT_REPLY, reply);
		ck_assert_int_eq(post("[::1]", f.port, "[]", 2000, &r, err, sizeof(err)), 0);
		fake_stop(&f);
		ck_assert_int_eq(r.status, 204);
		ck_assert_str_eq(r.body, "");
		ck_assert_ptr_nonnull(strstr(f.req, "\r\nHost: [::1]:"));
		http1_resp_finish(&r);
	}
	/* A name goes through the resolver; localhost may be ::1 first. */
	fake_start(&f, AF_INET, SCRIPT_REPLY, reply);
	ck_assert_msg(post("localhost", f.port, "[]", 2000, &r, err, sizeof(err)) == 0, "%s",
	    err);
	fake_stop(&f);
	ck_assert_int_eq(r.status, 204);
	http1_resp_finish(&r);
	ck_assert_int_eq(post("no-such-host.invalid", 80, "[]", 2000, &r, err, sizeof(err)),
	    HTTP1_ERR_CONNECT);
}
END_TEST

START_TEST(test_bad_requests)
{
	static const char *urls[] = {
		"ftp://127.0.0.1/", "http://", "http://user@127.0.0.1/", "http://[::1/",
		"http://127.0.0.1:99999/", "http://127.0.0.1:80x/", "http://h st/",
		"http://127.0.0.1/a b",
	};
	static const char *const bad_hdr[] = { "X-Evil: a\r\nInjected: 1", NULL };
	struct http1_resp r = { .status = -1 };
	char err[256];
	long long now = fsio_mono_ms();
	struct http1_req rq = {
		.method = "POST",
		.deadline_ms = now + 1000,
		.connect_deadline_ms = now + 1000,
	};

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		rq.url = urls[i];
		ck_assert_msg(http1_request(&rq, &r, err, sizeof(err)) == -EINVAL, "%s", urls[i]);
	}
	rq.url = "http://127.0.0.1:1/";
	rq.headers = bad_hdr;
	ck_assert_int_eq(http1_request(&rq, &r, err, sizeof(err)), -EINVAL);
	rq.headers = NULL;
	rq.token = "tok\nen";
	ck_assert_int_eq(http1_request(&rq, &r, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(r.status, -1);
	ck_assert(!http1_is_retryable(-EINVAL));
	ck_assert(http1_is_https("HTTPS://x/"));
	ck_assert(!http1_is_https("http://x/"));
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("http1");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_content_length);
	tcase_add_test(tc, test_chunked);
	tcase_add_test(tc, test_status_4xx_5xx);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_silent_server_times_out);
	tcase_add_test(tc, test_closed_mid_reply);
	tcase_add_test(tc, test_malformed_reply);
	tcase_add_test(tc, test_early_answer);
	tcase_add_test(tc, test_ipv6_and_names);
	tcase_add_test(tc, test_bad_requests);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
