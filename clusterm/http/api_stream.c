/*
 * GET /api/v1/stream: the audit log as server-sent events, for the
 * dashboard. Each event is "id: <audit id>", "event: <kind>" and one
 * "data:" line holding the event as JSON; Last-Event-ID (or ?since=)
 * resumes after that id while it is still in the ring. The stream takes a
 * slot of streams.h and ends when clusterm stops.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "api_json.h"
#include "buf.h"
#include "fsio.h"
#include "manager.h"
#include "metrics.h"
#include "oplog.h"
#include "streams.h"

/* A comment line this often keeps proxies and the browser from giving up. */
#define STREAM_KEEPALIVE_MS	15000
/*
 * Longest wait between two looks at streams_stopping(). An idle stream
 * also writes a bare comment line this often: civetweb shows no socket to
 * poll, and only a write finds out that the client has gone (the second
 * one after its close fails), so that its slot is soon free again.
 */
#define STREAM_POLL_MS		1000
/* Events copied out per hold of the read lock. */
#define STREAM_BATCH		256
/* The client retries this soon after the stream ends (SSE "retry:"). */
#define STREAM_RETRY_MS		2000

/* Whether kind may stand in an "event:" line as is (no line break, no colon games). */
static bool
plain_kind(const char *kind)
{
	if (kind[0] == '\0')
		return false;
	for (const char *p = kind; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* Appends one event in the SSE framing. Lock held (reads e only). 0 or -ENOMEM. */
static int
add_event(struct buf *b, const struct audit_event *e)
{
	cJSON *o = api_event_json(e);
	char *json;
	int rc;

	if (o == NULL)
		return -ENOMEM;
	/* Unformatted JSON escapes line breaks: the data is one line. */
	json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (json == NULL)
		return -ENOMEM;
	rc = buf_addf(b, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)e->id,
	    plain_kind(e->kind) ? e->kind : "event", json);
	free(json);
	return rc < 0 ? -ENOMEM : 0;
}

/* Index of the first event with an id >= next (state_nevents(s) when none). Lock held. */
static size_t
first_from(const struct state *s, uint64_t next)
{
	size_t lo = 0, hi = state_nevents(s);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (state_event_at(s, mid)->id < next)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Formats up to STREAM_BATCH events from id *next on into b under the read
 * lock and moves *next past them; *ret_lost gets the oldest id kept when
 * events from *next on were already dropped from the ring.
 */
static int
copy_events(struct state *s, uint64_t *next, struct buf *b, uint64_t *ret_lost)
{
	size_t i, n = 0;
	int rc = 0;

	state_rdlock(s);
	i = first_from(s, *next);
	if (i == 0 && state_nevents(s) > 0 && state_event_at(s, 0)->id > *next)
		*ret_lost = state_event_at(s, 0)->id;
	for (; i < state_nevents(s) && n < STREAM_BATCH && rc == 0; i++, n++) {
		const struct audit_event *e = state_event_at(s, i);
		if ((rc = add_event(b, e)) == 0)
			*next = e->id + 1;
	}
	state_unlock(s);
	return rc;
}

/* An event id as sent in Last-Event-ID or since; false when malformed. */
static bool
parse_event_id(const char *v, uint64_t *ret)
{
	char *end;
	unsigned long long id;

	if (v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	id = strtoull(v, &end, 10);
	if (*end != '\0' || errno != 0)
		return false;
	*ret = id;
	return true;
}

/*
 * Where a stream starts: after the Last-Event-ID header's id, or the
 * since query's; *ret_resume false when neither is given. Replies 400 and
 * returns -1 on a bad id.
 */
static int
stream_start(struct http_req *req, bool *ret_resume, uint64_t *ret_after)
{
	const char *last = http_header(req, "Last-Event-ID");
	char since[32] = "";
	uint64_t after = 0;

	if (last != NULL && last[0] != '\0') {
		if (!parse_event_id(last, &after)) {
			http_reply_error(req, 400, "Last-Event-ID must be an event id");
			return -1;
		}
		*ret_resume = true;
	} else if (http_query(req, "since", since, sizeof(since))) {
		if (!parse_event_id(since, &after)) {
			http_reply_error(req, 400, "since must be an event id");
			return -1;
		}
		*ret_resume = true;
	}
	*ret_after = after;
	return 0;
}

/*
 * Sends the audit events from id next as they come, with keep-alives,
 * until the client goes (*gone) or clusterm stops (returns true). b is the
 * caller's buffer (it frees it).
 */
static bool
stream_follow(struct http_req *req, struct state *s, uint64_t next, struct buf *b,
    bool *gone)
{
	long long keepalive = fsio_mono_ms() + STREAM_KEEPALIVE_MS;
	char line[160];
	int rc;

	while (!*gone) {
		long long now = fsio_mono_ms();
		long wait = keepalive - now;
		uint64_t lost = 0;

		if (wait > STREAM_POLL_MS)
			wait = STREAM_POLL_MS;
		rc = wait > 0 ? oplog_watch_events(s, next, wait) : 0;
		if (rc < 0 || streams_stopping())
			return true;
		if (rc > 0) {
			/* Copied under the lock, written after it: a slow reader blocks nobody. */
			buf_reset(b);
			if (copy_events(s, &next, b, &lost) < 0)
				break;
			if (lost != 0) {
				snprintf(line, sizeof(line), ": events before id %llu are no longer "
				    "kept\n\n", (unsigned long long)lost);
				if (mg_send_chunk(req->conn, line, (unsigned)strlen(line)) < 0)
					*gone = true;
			}
			if (!*gone && b->len > 0 &&
			    mg_send_chunk(req->conn, b->data, (unsigned)b->len) < 0)
				*gone = true;
			keepalive = fsio_mono_ms() + STREAM_KEEPALIVE_MS;
			continue;
		}
		if (fsio_mono_ms() >= keepalive) {
			if (mg_send_chunk(req->conn, ": keep-alive\n\n", 14) < 0)
				*gone = true;
			keepalive = fsio_mono_ms() + STREAM_KEEPALIVE_MS;
		} else if (mg_send_chunk(req->conn, ":\n", 2) < 0) {
			*gone = true;
		}
	}
	return false;
}

static void
get_stream(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct state *s = m->state;
	char line[160];
	struct buf b;
	uint64_t next, after = 0;
	bool resume = false, stopping = false, gone = false;

	buf_init(&b, 0);
	if (stream_start(req, &resume, &after) < 0)
		return;
	/* A stream holds a civetweb worker: their number is bounded (streams.h). */
	if (streams_enter_or_refuse(req) < 0)
		return;
	if (resume) {
		next = after + 1;
	} else {
		state_rdlock(s);
		next = state_next_event_id(s);
		state_unlock(s);
	}
	req->status = 200;
	metrics_http(200);
	mg_printf(req->conn, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8"
	    "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	snprintf(line, sizeof(line), "retry: %d\n: clusterm audit events from id %llu\n\n",
	    STREAM_RETRY_MS, (unsigned long long)next);
	if (mg_send_chunk(req->conn, line, (unsigned)strlen(line)) < 0)
		gone = true;
	stopping = stream_follow(req, s, next, &b, &gone);
	if (stopping && !gone) {
		snprintf(line, sizeof(line), ": %s\n", STREAMS_STOP_LINE);
		mg_send_chunk(req->conn, line, (unsigned)strlen(line));
	}
	if (!gone)
		mg_send_chunk(req->conn, "", 0);
	buf_free(&b);
	streams_leave();
}

const struct http_route api_stream_routes[] = {
	{ "GET", "/api/v1/stream", get_stream, AUTH_READER },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
