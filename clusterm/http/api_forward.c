/*
 * A follower's forwarding of leader-only requests: the request goes to the
 * leader over libcurl, one connection each, and the leader's reply comes
 * back as it is (status, Content-Type, body). A followed log is streamed
 * through in chunks; everything else is collected and sent with its length.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <curl/curl.h>

#include "api_forward.h"
#include "buf.h"
#include "fsio.h"
#include "leader.h"
#include "log.h"
#include "manager.h"
#include "streams.h"

/* A collected reply: a whole job log (64 MiB at most) with room to spare. */
#define FORWARD_REPLY_MAX	((size_t)80 * 1024 * 1024)
/* How often a forward checks that its leader still leads. */
#define FORWARD_CHECK_MS	1000
/* TCP keepalive of a followed stream, so that a leader gone silent is noticed. */
#define FORWARD_KEEPIDLE_S	10L
#define FORWARD_KEEPINTVL_S	5L
/* The line a followed stream ends with when its leader goes away mid-way. */
#define FORWARD_LOST_LINE \
	"--- the leader went away or stopped leading: this stream ends here\n"

/* One forward in flight. */
struct fwd {
	struct http_req *req;
	struct manager *m;
	CURL *curl;
	bool follow;
	bool streaming;		/* the 200 header went out: the body goes as chunks */
	bool client_gone;	/* a chunk could not be sent */
	bool stopping;		/* clusterm stops */
	bool leader_moved;	/* another instance leads now */
	bool too_big;		/* a collected reply over FORWARD_REPLY_MAX */
	struct buf in;		/* the request's body */
	struct buf out;		/* the collected reply */
	char leader[LEADER_ID_MAX];
	long long next_check_ms;
	struct leader_view *view;	/* scratch for the checks */
};

/* The leader's Content-Type, or JSON's when it sent none. */
static const char *
reply_type(struct fwd *f)
{
	char *ct = NULL;

	if (curl_easy_getinfo(f->curl, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || ct == NULL)
		return "application/json";
	return ct;
}

static long
reply_status(struct fwd *f)
{
	long st = 0;

	curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &st);
	return st;
}

/*
 * libcurl's body callback: a followed 200 goes to the client chunk by
 * chunk (its header sent before the first one), anything else is collected.
 */
static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct fwd *f = arg;
	size_t len = size * n;

	if (f->follow && !f->streaming && reply_status(f) == 200) {
		const char *ct = reply_type(f);
		f->streaming = true;
		f->req->status = 200;
		http_count_reply(200);
		mg_printf(f->req->conn, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
		    "Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n", ct);
	}
	if (f->streaming) {
		if (len > 0 && mg_send_chunk(f->req->conn, data, (unsigned)len) < 0) {
			f->client_gone = true;
			return 0;
		}
		return len;
	}
	if (buf_add(&f->out, data, len) < 0) {
		f->too_big = true;
		return 0;
	}
	return len;
}

/*
 * libcurl's progress callback, at least once a second: stops the forward
 * when clusterm stops, or when another instance (this one too) leads now: a
 * leader that hangs would hold a followed stream for ever, and any other
 * forward for its whole time bound. A view that names no leader (this
 * instance lost etcd) stops nothing: the leader may be well.
 */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct fwd *f = arg;
	long long now;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (streams_stopping()) {
		f->stopping = true;
		return 1;
	}
	now = fsio_mono_ms();
	if (now < f->next_check_ms)
		return 0;
	f->next_check_ms = now + FORWARD_CHECK_MS;
	leader_get_view(f->m->leader, f->view);
	if (f->view->is_leader ||
	    (f->view->leader[0] != '\0' && strcmp(f->view->leader, f->leader) != 0)) {
		f->leader_moved = true;
		return 1;
	}
	return 0;
}

/*
 * The request's body as it came, whatever its type (the leader checks it),
 * into f->in. Answers 413 and returns -1 when it is over manager.max_body_bytes.
 */
static int
read_body(struct fwd *f)
{
	const struct mg_request_info *ri = mg_get_request_info(f->req->conn);
	size_t max = (size_t)f->m->conf.max_body_bytes;
	char chunk[16384];

	if (ri->content_length == 0 || strcmp(f->req->method, "GET") == 0) {
		f->req->body_read = ri->content_length <= 0;
		return 0;
	}
	/* Neither a length nor chunks: no body (the reply then closes, see http.c). */
	if (ri->content_length < 0 && http_header(f->req, "Transfer-Encoding") == NULL)
		return 0;
	for (;;) {
		int n = mg_read(f->req->conn, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		if (f->in.len + (size_t)n > max) {
			http_reply_error(f->req, 413, "body is over the limit of %zu bytes",
			    max);
			return -1;
		}
		if (buf_add(&f->in, chunk, (size_t)n) < 0) {
			http_reply_error(f->req, 500, "out of memory");
			return -1;
		}
	}
	f->req->body_read = true;
	return 0;
}

/*
 * The leader's URL for req: base (its advertise_url) with req's path, which
 * civetweb has decoded, encoded again, and req's query as it came.
 */
static int
target_url(const char *base, const struct http_req *req, struct buf *ret)
{
	size_t n = strlen(base);
	int rc;

	while (n > 0 && base[n - 1] == '/')
		n--;
	rc = buf_add(ret, base, n);
	for (const unsigned char *p = (const unsigned char *)req->path; rc == 0 && *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL)
			rc = buf_addc(ret, (char)*p);
		else
			rc = buf_addf(ret, "%%%02X", *p);
	}
	if (rc == 0 && req->query != NULL && req->query[0] != '\0')
		rc = buf_addf(ret, "?%s", req->query);
	if (rc == 0 && ret->data == NULL)
		rc = buf_add(ret, "", 0);
	return rc;
}

/* Adds "name: value" to *list. -ENOMEM. */
static int
add_header(struct curl_slist **list, const char *name, const char *value)
{
	char line[8192];
	struct curl_slist *l;

	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >= sizeof(line))
		return -E2BIG;
	if ((l = curl_slist_append(*list, line)) == NULL)
		return -ENOMEM;
	*list = l;
	return 0;
}

/*
 * The request's headers for the leader: its Content-Type (or none: libcurl
 * would add a form type to a POST), Authorization, and who forwards it.
 * -ENOMEM, or -E2BIG for a header too long to pass.
 */
static int
request_headers(struct fwd *f, const char *self, struct curl_slist **ret)
{
	const char *ct = http_header(f->req, "Content-Type");
	const char *auth = http_header(f->req, "Authorization");
	struct curl_slist *l = NULL;
	int rc = 0;

	if (ct != NULL)
		rc = add_header(&l, "Content-Type", ct);
	else if ((l = curl_slist_append(l, "Content-Type:")) == NULL)
		rc = -ENOMEM;
	if (rc == 0 && auth != NULL)
		rc = add_header(&l, "Authorization", auth);
	if (rc == 0)
		rc = add_header(&l, FORWARD_HEADER, self);
	/* No "Expect: 100-continue" round trip for a body. */
	if (rc == 0 && curl_slist_append(l, "Expect:") == NULL)
		rc = -ENOMEM;
	if (rc < 0) {
		curl_slist_free_all(l);
		return rc;
	}
	*ret = l;
	return 0;
}

/* libcurl's options of one forward to url. */
static void
set_options(struct fwd *f, const char *url, struct curl_slist *headers, char *errbuf)
{
	CURL *c = f->curl;
	const struct conf *conf = &f->m->conf;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, FORWARD_CONNECT_MS);
	/* A followed log lasts as long as the job: it ends with the leader's stream. */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, f->follow ? 0L : FORWARD_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, FORWARD_KEEPIDLE_S);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, FORWARD_KEEPINTVL_S);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, f);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (strcmp(f->req->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, f->req->method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->in.len);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->in.data != NULL ? f->in.data : "");
	}
	/*
	 * The instances share one TLS set-up: with tls.ca_file (mutual TLS)
	 * that CA verifies the leader and this instance's certificate is its
	 * client certificate; without, the system's CAs verify the leader.
	 */
	if (conf->ca_file[0] != '\0') {
		curl_easy_setopt(c, CURLOPT_CAINFO, conf->ca_file);
		if (conf->cert_file[0] != '\0')
			curl_easy_setopt(c, CURLOPT_SSLCERT, conf->cert_file);
		if (conf->key_file[0] != '\0')
			curl_easy_setopt(c, CURLOPT_SSLKEY, conf->key_file);
	}
}

/* Ends a stream the leader's reply had started, saying why when it broke off. */
static void
end_stream(struct fwd *f, CURLcode rc)
{
	if (f->client_gone)
		return;
	if (rc != CURLE_OK) {
		/* Not kept alive: the end of this reply says nothing of the next. */
		mg_disable_connection_keep_alive(f->req->conn);
		if (f->stopping)
			mg_send_chunk(f->req->conn, STREAMS_STOP_LINE,
			    sizeof(STREAMS_STOP_LINE) - 1);
		else
			mg_send_chunk(f->req->conn, FORWARD_LOST_LINE,
			    sizeof(FORWARD_LOST_LINE) - 1);
	}
	mg_send_chunk(f->req->conn, "", 0);
}

/* Answers req after the transfer: the leader's reply, or why there is none. */
static void
answer(struct fwd *f, CURLcode rc, const char *url, const char *errbuf)
{
	const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

	if (f->streaming) {
		end_stream(f, rc);
		return;
	}
	if (rc == CURLE_OK) {
		long st = reply_status(f);
		http_reply_text(f->req, st >= 100 && st < HTTP_STATUS_MAX ? (int)st : 500,
		    reply_type(f), f->out.data != NULL ? f->out.data : "", f->out.len);
		return;
	}
	if (f->stopping)
		http_reply_error(f->req, 503, "clusterm is stopping");
	else if (f->too_big)
		http_reply_error(f->req, 500, "the reply of the leader %s is over %zu bytes",
		    f->leader, FORWARD_REPLY_MAX);
	else if (f->leader_moved)
		http_reply_error(f->req, 503, "the leader %s stopped leading before it "
		    "answered%s", f->leader, strcmp(f->req->method, "GET") != 0 ?
		    " (it may have taken the request: see the jobs)" : "; try again");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		http_reply_error(f->req, 503, "the leader %s (%s) did not answer in time "
		    "(%s)%s", f->leader, url, why, strcmp(f->req->method, "GET") != 0 ?
		    "; it may have taken the request: see the jobs" : "");
	else
		http_reply_error(f->req, 503, "the leader %s (%s) cannot be reached: %s",
		    f->leader, url, why);
}

/* Forwards req to the leader of view v and answers it. */
static void
forward(struct http_req *req, struct leader_view *v, bool follow)
{
	struct manager *m = req->ctx;
	struct fwd f = { .req = req, .m = m, .follow = follow, .view = v };
	struct curl_slist *headers = NULL;
	struct buf url;
	char errbuf[CURL_ERROR_SIZE] = "";
	bool slot = false;
	int rc_h = 0;
	CURLcode rc;

	buf_init(&f.in, 0);	/* read_body() bounds it by manager.max_body_bytes */
	buf_init(&f.out, FORWARD_REPLY_MAX);
	buf_init(&url, 0);
	snprintf(f.leader, sizeof(f.leader), "%s", v->leader);
	if (read_body(&f) < 0)
		goto out;
	if (target_url(v->leader_url, req, &url) < 0 ||
	    (rc_h = request_headers(&f, v->self, &headers)) < 0 ||
	    (f.curl = curl_easy_init()) == NULL) {
		if (rc_h == -E2BIG)
			http_reply_error(req, 400, "a header is too long to pass to the leader");
		else
			http_reply_error(req, 500, "out of memory");
		goto out;
	}
	if (follow) {
		/* A followed log holds a worker here as on the leader: same bound. */
		if (streams_enter_or_refuse(req) < 0)
			goto out;
		slot = true;
	}
	f.next_check_ms = fsio_mono_ms() + FORWARD_CHECK_MS;
	set_options(&f, url.data, headers, errbuf);
	rc = curl_easy_perform(f.curl);
	answer(&f, rc, url.data, errbuf);
	if (rc == CURLE_OK || f.streaming)
		log_debug("%s %s forwarded to the leader %s: %d", req->method, req->path,
		    f.leader, req->status);
	else
		log_warn("%s %s: forwarding to the leader %s (%s) failed: %s", req->method,
		    req->path, f.leader, url.data, errbuf[0] ? errbuf : curl_easy_strerror(rc));
out:
	if (slot)
		streams_leave();
	curl_easy_cleanup(f.curl);
	curl_slist_free_all(headers);
	buf_free(&url);
	buf_free(&f.in);
	buf_free(&f.out);
}

bool
api_forward_to_leader(struct http_req *req, bool follow)
{
	struct manager *m = req->ctx;
	const char *from;
	struct leader_view *v;

	if (m->leader == NULL || leader_is_leader(m->leader))
		return false;
	from = http_header(req, FORWARD_HEADER);
	if (from != NULL) {
		/* One hop only: the sender's view and ours disagree; neither guesses. */
		http_reply_error(req, 503, "this instance is not the leader (forwarded from "
		    "%.128s)", from);
		return true;
	}
	if ((v = malloc(sizeof(*v))) == NULL) {	/* too big for a worker's stack */
		http_reply_error(req, 500, "out of memory");
		return true;
	}
	leader_get_view(m->leader, v);
	if (v->is_leader) {
		/* It has just taken over. */
		free(v);
		return false;
	}
	if (v->leader[0] == '\0' || v->leader_url[0] == '\0')
		http_reply_error(req, 503, "no leader is known: %s", v->why[0] != '\0' ?
		    v->why : "no instance holds the leader key");
	else
		forward(req, v, follow);
	free(v);
	return true;
}
