/* Native read endpoints: nodes, votes, jobs, events, health, metrics, the instances. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_cluster.h"
#include "api_forward.h"
#include "api_jobs.h"
#include "api_json.h"
#include "forget.h"
#include "fsio.h"
#include "intake.h"
#include "jobs.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "oplog.h"
#include "reporters.h"
#include "votes.h"

static int
by_name(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * The nodes sorted by name, under the read lock (caller unlocks); NULL on
 * out-of-memory.
 */
static struct node **
sorted_nodes(struct state *s, size_t *ret_n)
{
	size_t n = inventory_count(state_inventory(s));
	struct node **v = malloc((n ? n : 1) * sizeof(*v));

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = inventory_at(state_inventory(s), i);
	qsort(v, n, sizeof(*v), by_name);
	*ret_n = n;
	return v;
}

static void
get_nodes(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct state *s = m->state;
	cJSON *out = cJSON_CreateObject(), *arr;
	struct node **v;
	size_t n = 0;

	state_rdlock(s);
	v = sorted_nodes(s, &n);
	arr = out != NULL ? cJSON_AddArrayToObject(out, "nodes") : NULL;
	for (size_t i = 0; v != NULL && arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, api_node_json(s, v[i], false));
	if (out != NULL)
		cJSON_AddBoolToObject(out, "disruption", state_disruption(s, NULL));
	state_unlock(s);
	free(v);
	http_reply_json(req, v != NULL ? 200 : 500, out);
}

static void
get_node(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct state *s = m->state;
	struct node *n;
	cJSON *out = NULL;

	state_rdlock(s);
	n = inventory_get(state_inventory(s), req->params[0]);
	if (n != NULL)
		out = api_node_json(s, n, true);
	state_unlock(s);
	if (n == NULL) {
		http_reply_error(req, 404, INVENTORY_NO_SUCH_NODE, req->params[0], req->params[0]);
		return;
	}
	http_reply_json(req, 200, out);
}

/* Adds the instance's role and the leader's id (null when none is known). */
static void
add_role(cJSON *out, const struct leader_view *v)
{
	cJSON_AddStringToObject(out, "role", v->is_leader ? "leader" : "follower");
	if (v->leader[0] != '\0')
		cJSON_AddStringToObject(out, "leader", v->leader);
	else
		cJSON_AddNullToObject(out, "leader");
}

/* Who the caller's token is: what the dashboard shows and offers. */
static void
get_whoami(struct http_req *req)
{
	static const char *const roles[] = {
		[AUTH_OPEN] = "open", [AUTH_REPORTER] = "reporter",
		[AUTH_READER] = "reader", [AUTH_ADMIN] = "admin",
	};
	cJSON *out = cJSON_CreateObject();

	cJSON_AddBoolToObject(out, "auth", req->auth_on);
	if (req->auth_on) {
		cJSON_AddStringToObject(out, "name", req->token_name);
		cJSON_AddStringToObject(out, "role", roles[req->token_role]);
	} else {
		cJSON_AddNullToObject(out, "name");
		cJSON_AddStringToObject(out, "role", "admin");
	}
	http_reply_json(req, 200, out);
}

static void
get_healthz(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct state *s = m->state;
	struct store_stats st;
	struct leader_view *v = api_cluster_view(m);
	cJSON *out = cJSON_CreateObject();
	bool disruption, failed, etcd_down;
	char why[256] = "";
	size_t nodes;
	long long since;

	store_get_stats(state_store(s), &st);
	failed = oplog_failed(s, why, sizeof(why)) || st.failed;
	state_rdlock(s);
	disruption = state_disruption(s, &since);
	nodes = inventory_count(state_inventory(s));
	state_unlock(s);
	if (out == NULL || v == NULL) {
		free(v);
		cJSON_Delete(out);
		http_reply_json(req, 500, NULL);
		return;
	}
	etcd_down = !v->etcd_ok;
	cJSON_AddStringToObject(out, "status", etcd_down ? "etcd unavailable" :
	    failed ? "store failed" : disruption ? "disruption" : "ok");
	/* What broke, and what the operator does about it. */
	if (etcd_down) {
		char reason[300];

		/* The etcd client's sentences start with "etcd: " already. */
		snprintf(reason, sizeof(reason), "%s%s", strncmp(v->why, "etcd: ", 6) == 0 ?
		    "" : "etcd: ", v->why[0] ? v->why : "not reachable");
		cJSON_AddStringToObject(out, "reason", reason);
		cJSON_AddStringToObject(out, "action", "writes are refused (503) and reads "
		    "answer from the last state known; clusterm goes on by itself once etcd "
		    "has a quorum again");
	} else if (failed) {
		cJSON_AddStringToObject(out, "reason", why[0] ? why : "the store failed");
		cJSON_AddStringToObject(out, "action", "writes are refused (503); fix the "
		    "disk, then restart clusterm: it recovers what was acknowledged from "
		    "the state dir");
	}
	add_role(out, v);
	cJSON_AddBoolToObject(out, "disruption", disruption);
	if (disruption)
		api_add_time(out, "disruption_since", since);
	cJSON_AddBoolToObject(out, "store_failed", failed);
	cJSON_AddBoolToObject(out, "insecure", m->insecure);
	cJSON_AddNumberToObject(out, "nodes", (double)nodes);
	cJSON_AddNumberToObject(out, "uptime_s",
	    (double)((fsio_now_ms() - m->started_ms) / 1000));
	free(v);
	/* Disruption mode is a warning, not unreadiness; a failed store or etcd is. */
	http_reply_json(req, failed || etcd_down ? 503 : 200, out);
}

static void
get_metrics(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct leader_view *v = api_cluster_view(m);
	char *text = v != NULL ? metrics_render(m->state, v) : NULL;

	if (text == NULL) {
		free(v);
		http_reply_error(req, 500, "out of memory");
		return;
	}
	http_reply_text(req, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
	free(v);
}

/* Events per page: the default and the most one request may ask for. */
#define EVENTS_PAGE_DEFAULT	100
#define EVENTS_PAGE_MAX		1000

static bool
parse_id(const char *v, uint64_t *ret)
{
	char *end;
	unsigned long long id;

	if (v[0] < '0' || v[0] > '9')
		return false;
	id = strtoull(v, &end, 10);
	if (*end != '\0')
		return false;
	*ret = id;
	return true;
}

static void
get_jobs(struct http_req *req)
{
	struct manager *m = req->ctx;
	cJSON *out = cJSON_CreateObject(), *arr;

	arr = cJSON_AddArrayToObject(out, "jobs");
	state_rdlock(m->state);
	for (size_t i = state_njobs(m->state); arr != NULL && i-- > 0;)
		cJSON_AddItemToArray(arr, api_job_json(m, state_job_at(m->state, i)));
	state_unlock(m->state);
	http_reply_json(req, arr != NULL ? 200 : 500, out);
}

static void
get_job(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct job_rec *j = NULL;
	cJSON *out = NULL;
	uint64_t id;

	if (!parse_id(req->params[0], &id)) {
		http_reply_error(req, 404, "no such job: %.64s", req->params[0]);
		return;
	}
	state_rdlock(m->state);
	j = state_job_get(m->state, id);
	if (j != NULL)
		out = api_job_json(m, j);
	state_unlock(m->state);
	if (j == NULL) {
		http_reply_error(req, 404, "no such job: %llu", (unsigned long long)id);
		return;
	}
	http_reply_json(req, 200, out);
}

static void
get_job_log(struct http_req *req)
{
	char follow[8] = "";
	bool follow_on;
	uint64_t id;

	http_query(req, "follow", follow, sizeof(follow));
	follow_on = strcmp(follow, "1") == 0 || strcmp(follow, "true") == 0;
	/* The log is written in the leader's state dir. */
	if (api_forward_to_leader(req, follow_on))
		return;
	if (!parse_id(req->params[0], &id)) {
		http_reply_error(req, 404, "no such job: %.64s", req->params[0]);
		return;
	}
	api_job_log(req, id, follow_on);
}

static void
post_job_cancel(struct http_req *req)
{
	struct manager *m = req->ctx;
	char err[256];
	uint64_t id;
	int rc;

	/* Jobs run on the leader, and so are cancelled there. */
	if (api_forward_to_leader(req, false))
		return;
	if (!parse_id(req->params[0], &id)) {
		http_reply_error(req, 404, "no such job: %.64s", req->params[0]);
		return;
	}
	rc = lifecycle_cancel(m->lc, id, api_actor(req), err, sizeof(err));
	if (rc < 0) {
		http_reply_error(req, rc == -ENOENT ? 404 : rc == -EALREADY ? 409 : 500, "%s",
		    err);
		return;
	}
	/* Accepted: the runner ends it; the outcome arrives with the job's end. */
	state_rdlock(m->state);
	struct job_rec *j = state_job_get(m->state, id);
	cJSON *out = j != NULL ? api_job_json(m, j) : NULL;
	state_unlock(m->state);
	http_reply_json(req, 202, out);
}

/* Longest "why" an operator may give a forget (?comment=, or the body's "comment"). */
#define FORGET_COMMENT_MAX	256

/*
 * DELETE /api/v1/nodes/{name}: forgets a Disappeared node in no job. The
 * why comes from ?comment= or an optional body {"comment": "..."}.
 */
static void
delete_node(struct http_req *req)
{
	struct manager *m = req->ctx;
	char why[FORGET_COMMENT_MAX + 1] = "", err[512];
	const char *len = http_header(req, "Content-Length");
	cJSON *body = NULL, *out;
	int rc;

	/* Checked against the jobs, which are the leader's. */
	if (api_forward_to_leader(req, false))
		return;
	if (http_query(req, "comment", why, sizeof(why)) && strlen(why) >= FORGET_COMMENT_MAX) {
		http_reply_error(req, 400, "comment: longer than %d bytes", FORGET_COMMENT_MAX);
		return;
	}
	if (len != NULL && strcmp(len, "0") != 0) {
		const cJSON *c;

		if (http_read_json(req, NULL, &body) < 0)
			return;
		c = cJSON_GetObjectItemCaseSensitive(body, "comment");
		if (!cJSON_IsObject(body) || (c != NULL && (!cJSON_IsString(c) ||
		    strlen(c->valuestring) >= FORGET_COMMENT_MAX))) {
			http_reply_error(req, 400, "the body is optional: {\"comment\": \"<why, at "
			    "most %d bytes>\"}", FORGET_COMMENT_MAX - 1);
			cJSON_Delete(body);
			return;
		}
		if (c != NULL)
			snprintf(why, sizeof(why), "%s", c->valuestring);
		cJSON_Delete(body);
	}
	rc = forget_node(m->state, req->params[0], api_actor(req), why, err, sizeof(err));
	if (rc < 0) {
		log_info("forget of node %.128s by %s refused: %s", req->params[0], api_actor(req),
		    err);
		http_reply_error(req, rc == -ENOENT ? 404 : rc == -EPERM || rc == -EBUSY ? 409 :
		    rc == -EIO ? 503 : 500, "%s", err);
		return;
	}
	out = cJSON_CreateObject();
	if (out != NULL)
		cJSON_AddStringToObject(out, "forgotten", req->params[0]);
	http_reply_json(req, 200, out);
}

static void
post_job(struct http_req *req)
{
	api_lifecycle_post(req, -1, 202);
}

/* since: an event id, or an RFC 3339 UTC time (2026-11-24T10:00:00Z). */
static bool
parse_since(const char *v, uint64_t *ret_id, long long *ret_ms)
{
	struct tm tm;
	char *end;

	*ret_id = 0;
	*ret_ms = 0;
	if (parse_id(v, ret_id))
		return true;
	memset(&tm, 0, sizeof(tm));
	end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL || (*end != 'Z' && *end != '\0') || (*end == 'Z' && end[1] != '\0'))
		return false;
	*ret_ms = (long long)timegm(&tm) * 1000;
	return true;
}

static void
get_events(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct state *s = m->state;
	char node[256] = "", since[64] = "", limit_s[16] = "";
	long long since_ms = 0;
	uint64_t since_id = 0, last = 0;
	long limit = EVENTS_PAGE_DEFAULT;
	cJSON *out, *arr;
	size_t n = 0;

	http_query(req, "node", node, sizeof(node));
	if (http_query(req, "since", since, sizeof(since)) &&
	    !parse_since(since, &since_id, &since_ms)) {
		http_reply_error(req, 400, "since must be an event id or a time like "
		    "2026-01-02T03:04:05Z");
		return;
	}
	if (http_query(req, "limit", limit_s, sizeof(limit_s))) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*end != '\0' || end == limit_s || limit < 1 || limit > EVENTS_PAGE_MAX) {
			http_reply_error(req, 400, "limit must be between 1 and %d",
			    EVENTS_PAGE_MAX);
			return;
		}
	}
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "events");
	state_rdlock(s);
	/*
	 * Without since, limit keeps the newest matches: start where the last
	 * limit of them start. With since, a page runs forward from it.
	 */
	size_t first = state_nevents(s), found = 0;
	if (since[0] != '\0')
		first = 0;
	while (first > 0 && (long)found < limit) {
		const struct audit_event *e = state_event_at(s, first - 1);
		if (e->id <= since_id)
			break;
		first--;
		if (e->time_ms >= since_ms && (node[0] == '\0' || strcmp(node, e->node) == 0))
			found++;
	}
	for (size_t i = first; arr != NULL && i < state_nevents(s) && (long)n < limit; i++) {
		const struct audit_event *e = state_event_at(s, i);
		cJSON *o;
		if (e->id <= since_id || e->time_ms < since_ms ||
		    (node[0] != '\0' && strcmp(node, e->node) != 0))
			continue;
		o = api_event_json(e);
		if (o == NULL)
			break;
		cJSON_AddItemToArray(arr, o);
		last = e->id;
		n++;
	}
	state_unlock(s);
	/* Where the next page starts: pass it back as since. */
	cJSON_AddNumberToObject(out, "next", (double)(last ? last : since_id));
	http_reply_json(req, arr != NULL ? 200 : 500, out);
}

static int
by_reporter_name(const void *a, const void *b, void *arg)
{
	const struct state *s = arg;

	return strcmp(state_reporter_name(s, *(const uint32_t *)a),
	    state_reporter_name(s, *(const uint32_t *)b));
}

/*
 * GET /api/v1/reporters (CONTRACT 11): every reporter's record by name,
 * stale judged against this server's clock now.
 */
static void
get_reporters(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct state *s = m->state;
	long long now = oplog_clock_ms(s);
	cJSON *out = cJSON_CreateObject(), *arr;
	uint32_t *ids = NULL, n;
	bool ok = out != NULL;

	state_rdlock(s);
	n = state_nreporters(s);
	if (ok && (ids = malloc((n ? n : 1) * sizeof(*ids))) == NULL)
		ok = false;
	arr = ok ? cJSON_AddArrayToObject(out, "reporters") : NULL;
	ok = ok && arr != NULL;
	for (uint32_t i = 0; ok && i < n; i++)
		ids[i] = i;
	if (ok)
		qsort_r(ids, n, sizeof(*ids), by_reporter_name, s);
	for (uint32_t i = 0; ok && i < n; i++) {
		struct reporter_view v;
		cJSON *o = cJSON_CreateObject();
		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			ok = false;
			break;
		}
		reporters_get(s, ids[i], &v);
		cJSON_AddStringToObject(o, "name", v.name);
		cJSON_AddStringToObject(o, "epoch", v.epoch);
		cJSON_AddNumberToObject(o, "last_seq", (double)v.last_seq);
		api_add_time(o, "last_heard", v.heard_ms);
		api_add_time(o, "last_sync", v.sync_ms);
		cJSON_AddNumberToObject(o, "batches", (double)v.batches);
		cJSON_AddNumberToObject(o, "reports", (double)v.reports);
		if (v.spool_depth >= 0)
			cJSON_AddNumberToObject(o, "spool_depth", (double)v.spool_depth);
		else
			cJSON_AddNullToObject(o, "spool_depth");
		cJSON_AddBoolToObject(o, "stale", reporters_stale(&v, state_params(s), now));
	}
	state_unlock(s);
	free(ids);
	if (!ok) {
		cJSON_Delete(out);
		http_reply_error(req, 500, "out of memory");
		return;
	}
	http_reply_json(req, 200, out);
}

const struct http_route api_v1_routes[] = {
	{ "GET", "/api/v1/reporters", get_reporters, AUTH_READER },
	{ "GET", "/api/v1/jobs", get_jobs, AUTH_READER },
	{ "POST", "/api/v1/jobs", post_job, AUTH_ADMIN },
	{ "GET", "/api/v1/jobs/{}", get_job, AUTH_READER },
	{ "GET", "/api/v1/jobs/{}/log", get_job_log, AUTH_READER },
	{ "POST", "/api/v1/jobs/{}/cancel", post_job_cancel, AUTH_ADMIN },
	{ "GET", "/api/v1/events", get_events, AUTH_READER },
	{ "GET", "/api/v1/cluster", api_cluster_get, AUTH_READER },
	{ "GET", "/api/v1/nodes", get_nodes, AUTH_READER },
	{ "GET", "/api/v1/nodes/{}", get_node, AUTH_READER },
	{ "DELETE", "/api/v1/nodes/{}", delete_node, AUTH_ADMIN },
	{ "GET", "/api/v1/whoami", get_whoami, AUTH_READER },
	{ "GET", "/healthz", get_healthz, AUTH_OPEN },
	{ "GET", "/metrics", get_metrics, AUTH_READER },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
