/* The monitor intake endpoints (CONTRACT 3.1): decode, check, hand to intake. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_json.h"
#include "cm_limits.h"
#include "intake.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "observers.h"

/* Reporter headers, checked: printable, bounded, seq a decimal number. */
static int
origin(struct http_req *req, struct intake_origin *o)
{
	const char *rep = http_header(req, "X-Reporter");
	const char *ep = http_header(req, "X-Reporter-Epoch");
	const char *seq = http_header(req, "X-Reporter-Seq");
	const char *depth = http_header(req, "X-Spool-Depth");

	memset(o, 0, sizeof(*o));
	o->epoch = "";
	o->spool_depth = -1;
	if (depth != NULL) {
		char *end;
		long long v;
		errno = 0;
		v = strtoll(depth, &end, 10);
		if (depth[0] < '0' || depth[0] > '9' || *end != '\0' || errno != 0) {
			http_reply_error(req, 400, "X-Spool-Depth must be a decimal number");
			return -1;
		}
		o->spool_depth = v;
	}
	if (rep == NULL) {
		if (ep != NULL || seq != NULL) {
			http_reply_error(req, 400, "X-Reporter-Epoch and X-Reporter-Seq need "
			    "X-Reporter");
			return -1;
		}
		return 0;
	}
	if (rep[0] == '\0' || strlen(rep) > LIMIT_MEMBER_NAME_LEN) {
		http_reply_error(req, 400, "X-Reporter must hold 1 to %d characters",
		    LIMIT_MEMBER_NAME_LEN);
		return -1;
	}
	if (!auth_member_name_valid(rep)) {
		http_reply_error(req, 400, "X-Reporter holds a space or control character");
		return -1;
	}
	o->reporter = rep;
	if (ep != NULL) {
		if (strlen(ep) > LIMIT_EPOCH_LEN) {
			http_reply_error(req, 400, "X-Reporter-Epoch is longer than %d",
			    LIMIT_EPOCH_LEN);
			return -1;
		}
		o->epoch = ep;
	}
	if (seq != NULL) {
		char *end;
		unsigned long long v;
		errno = 0;
		v = strtoull(seq, &end, 10);
		if (seq[0] < '0' || seq[0] > '9' || *end != '\0' || errno != 0) {
			http_reply_error(req, 400, "X-Reporter-Seq must be a decimal number");
			return -1;
		}
		o->seq = v;
		o->has_seq = true;
	}
	return 0;
}

/*
 * Whether the request may report as o says (CONTRACT 4, "Reporter
 * identity"): a bound token only as its reporter, an operator report only
 * with an admin token, and with auth.reporter_from_cert only as the client
 * certificate's CN. 0, or -EPERM with the reason in why.
 */
static int
identity(struct http_req *req, const struct intake_origin *o, char *why, size_t whylen)
{
	const struct manager *m = req->ctx;
	char cn[LIMIT_MEMBER_NAME_LEN + 1];
	int rc;

	if (req->auth_on && req->token_reporter[0] != '\0' && (o->reporter == NULL ||
	    strcmp(o->reporter, req->token_reporter) != 0)) {
		snprintf(why, whylen, "token %s is bound to reporter %s but the request sent "
		    "%s%s", req->token_name, req->token_reporter,
		    o->reporter != NULL ? "X-Reporter: " : "no X-Reporter",
		    o->reporter != NULL ? o->reporter : "");
		return -EPERM;
	}
	if (o->reporter == NULL) {
		if (req->auth_on && req->token_role != AUTH_ADMIN) {
			snprintf(why, whylen, "a report without X-Reporter is an operator report "
			    "and needs an admin token; token %s is not one", req->token_name);
			return -EPERM;
		}
		return 0;
	}
	if (!m->conf.reporter_from_cert || m->conf.ca_file[0] == '\0')
		return 0;
	rc = http_client_cn(req, cn, sizeof(cn));
	if (rc == -ENOENT) {
		snprintf(why, whylen, "auth.reporter_from_cert: X-Reporter %s needs a client "
		    "certificate with that subject CN; none was presented", o->reporter);
		return -EPERM;
	}
	if (rc < 0) {
		snprintf(why, whylen, "auth.reporter_from_cert: the client certificate's "
		    "subject must hold exactly one CN of 1 to %d characters; X-Reporter is %s",
		    LIMIT_MEMBER_NAME_LEN, o->reporter);
		return -EPERM;
	}
	if (strcmp(cn, o->reporter) != 0) {
		snprintf(why, whylen, "auth.reporter_from_cert: the client certificate's CN is "
		    "%s but X-Reporter is %s", cn, o->reporter);
		return -EPERM;
	}
	return 0;
}

/*
 * X-Observe-Version: the version of the observer assignment the reporter
 * holds (CONTRACT 12). Absent: none (*ret_has false). -1 after a 400.
 */
static int
observe_version(struct http_req *req, bool *ret_has, uint64_t *ret_v)
{
	const char *h = http_header(req, "X-Observe-Version");
	unsigned long long v;
	char *end;

	*ret_has = false;
	*ret_v = 0;
	if (h == NULL)
		return 0;
	errno = 0;
	v = strtoull(h, &end, 10);
	if (h[0] < '0' || h[0] > '9' || *end != '\0' || errno != 0) {
		http_reply_error(req, 400, "X-Observe-Version must be a decimal number");
		return -1;
	}
	*ret_has = true;
	*ret_v = v;
	return 0;
}

/*
 * Adds "observe" to a reply to reporter: with observers in force and a
 * version the reporter holds that is not the rings' (absent = none),
 * {"version": V, "subjects": [member names]}; with observers off and a
 * reporter that holds an assignment, {"version": 0} (no subjects: report on
 * every member again). While the reporter's subjects settle after a burst
 * (observers.h), {"version": 0, "subjects": []} to a reporter that holds
 * no assignment (or that one), nothing to one that holds an older one.
 */
static void
add_observe(struct manager *m, cJSON *out, const char *reporter, bool has, uint64_t held)
{
	const char *subj[RINGS_MAX_K];
	cJSON *ob, *arr;
	uint64_t version;
	bool settling = false;
	size_t n = 0;
	uint32_t k;

	if (out == NULL || reporter == NULL)
		return;
	state_rdlock(m->state);
	k = observers_k(m->state);
	version = observers_version(m->state);
	if (k > 0 && !(has && held == version))
		settling = observers_settling(m->state, reporter);
	if (k == 0 ? !has : (has && held == version) || (settling && has && held != 0)) {
		state_unlock(m->state);
		return;
	}
	ob = cJSON_AddObjectToObject(out, "observe");
	if (ob != NULL) {
		cJSON_AddNumberToObject(ob, "version", k == 0 || settling ? 0 : (double)version);
		if (k > 0 && (arr = cJSON_AddArrayToObject(ob, "subjects")) != NULL && !settling) {
			n = observers_reporter_subjects(m->state, reporter, subj, RINGS_MAX_K);
			for (size_t i = 0; i < n; i++)
				cJSON_AddItemToArray(arr, cJSON_CreateString(subj[i]));
		}
	}
	state_unlock(m->state);
}

static void
handle(struct http_req *req, enum report_form form, enum report_kind kind,
    const char *expect_name)
{
	struct manager *m = req->ctx;
	struct report_batch b = { 0 };
	struct intake_origin o;
	struct intake_result res;
	char err[512];
	cJSON *out;
	uint64_t held;
	bool has_held;
	int rc;

	if (origin(req, &o) < 0 || observe_version(req, &has_held, &held) < 0) {
		metrics_rejected(REJECT_MALFORMED);
		return;
	}
	/* Decided before the body is read (see http_reply_text). */
	if (identity(req, &o, err, sizeof(err)) < 0) {
		metrics_rejected(REJECT_AUTH);
		log_warn("%s from %s (%s) refused: %s", req->path, req->remote,
		    o.reporter ? o.reporter : "operator", err);
		http_reply_error(req, 403, "%s", err);
		return;
	}
	if (http_read_body(req) < 0)
		return;
	rc = report_json_decode(req->body, req->len, form, &b, err, sizeof(err));
	if (rc < 0) {
		metrics_rejected(rc == -E2BIG ? REJECT_LIMIT : rc == -EBADMSG ? REJECT_MALFORMED :
		    REJECT_INVALID);
		http_reply_error(req, 400, "%s", err);
		return;
	}
	if (form == REPORT_FORM_CONTIV)
		kind = b.kind;
	if (expect_name != NULL) {
		char name[LIMIT_NODE_NAME_LEN + 1];
		if (report_node_name(&b.reports[0], name, sizeof(name)) < 0 ||
		    strcmp(name, expect_name) != 0) {
			metrics_rejected(REJECT_INVALID);
			http_reply_error(req, 400, "path names node %s but the report is of "
			    "node %s", expect_name, name);
			goto out;
		}
	}
	o.remote = api_actor(req);
	rc = intake_apply(m->state, &b, kind, &o, &res, err, sizeof(err));
	if (rc < 0) {
		log_error("intake from %s (%s): %s", req->remote,
		    o.reporter ? o.reporter : "operator", err);
		/*
		 * The store refused, or the reporters' limit: not ready to take
		 * them; out of memory is ours.
		 */
		http_reply_error(req, rc == -EIO || rc == -ENOSPC ? 503 : 500, "%s", err);
		goto out;
	}
	metrics_reports(res.accepted, res.duplicates);
	log_debug("%s from %s (%s seq %llu): %zu accepted, %zu duplicates", req->path,
	    req->remote, o.reporter ? o.reporter : "operator", (unsigned long long)o.seq,
	    res.accepted, res.duplicates);
	out = cJSON_CreateObject();
	if (out != NULL) {
		cJSON_AddNumberToObject(out, "accepted", (double)res.accepted);
		cJSON_AddNumberToObject(out, "duplicates", (double)res.duplicates);
	}
	add_observe(m, out, o.reporter, has_held, held);
	http_reply_json(req, 200, out);
out:
	report_batch_finish(&b);
}

static bool
kind_param(struct http_req *req, const char *s, enum report_kind *ret)
{
	*ret = report_kind_parse(s);
	if (*ret != REPORT_KIND_NONE)
		return true;
	http_reply_error(req, 404, "no such monitor event: %s (discovered or disappeared)", s);
	return false;
}

static void
post_event_batch(struct http_req *req)
{
	enum report_kind k;

	if (kind_param(req, req->params[0], &k))
		handle(req, REPORT_FORM_ARRAY, k, NULL);
}

static void
post_single(struct http_req *req)
{
	enum report_kind k;

	if (kind_param(req, req->params[0], &k))
		handle(req, REPORT_FORM_SINGLE, k, req->params[1]);
}

static void
post_contiv(struct http_req *req)
{
	handle(req, REPORT_FORM_CONTIV, REPORT_KIND_NONE, NULL);
}

static void
post_snapshot(struct http_req *req)
{
	handle(req, REPORT_FORM_SNAPSHOT, REPORT_KIND_NONE, NULL);
}

/* Whether the request carries a body (a declared length, or chunks). */
static bool
has_body(struct http_req *req)
{
	const char *cl = http_header(req, "Content-Length");
	const char *te = http_header(req, "Transfer-Encoding");

	if (cl != NULL)
		return strcmp(cl, "0") != 0;
	return te != NULL && strcasecmp(te, "identity") != 0;
}

/*
 * POST /monitor/heartbeat (CONTRACT 11): no body (or {}), the reporter
 * headers. Never a batch: no dedupe, no watermark, no vote.
 */
static void
post_heartbeat(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct intake_origin o;
	char err[512];
	cJSON *body, *out;
	uint64_t held;
	bool has_held;
	int rc;

	if (origin(req, &o) < 0 || observe_version(req, &has_held, &held) < 0) {
		metrics_rejected(REJECT_MALFORMED);
		return;
	}
	if (o.reporter == NULL) {
		metrics_rejected(REJECT_MALFORMED);
		http_reply_error(req, 400, "a heartbeat needs the X-Reporter header (the serf "
		    "name of the node sending it)");
		return;
	}
	if (identity(req, &o, err, sizeof(err)) < 0) {
		metrics_rejected(REJECT_AUTH);
		log_warn("%s from %s (%s) refused: %s", req->path, req->remote, o.reporter,
		    err);
		http_reply_error(req, 403, "%s", err);
		return;
	}
	if (has_body(req)) {
		if (http_read_body(req) < 0)
			return;
		body = req->len > 0 ? cJSON_ParseWithLength(req->body, req->len) : NULL;
		if (req->len > 0 && !cJSON_IsObject(body)) {
			cJSON_Delete(body);
			metrics_rejected(REJECT_MALFORMED);
			http_reply_error(req, 400, "a heartbeat has no body, or {}");
			return;
		}
		cJSON_Delete(body);
	}
	o.remote = api_actor(req);
	rc = intake_heartbeat(m->state, &o, err, sizeof(err));
	if (rc < 0) {
		log_error("heartbeat from %s (%s): %s", req->remote, o.reporter, err);
		http_reply_error(req, rc == -EIO || rc == -ENOSPC ? 503 : 500, "%s", err);
		return;
	}
	out = cJSON_CreateObject();
	add_observe(m, out, o.reporter, has_held, held);
	http_reply_json(req, out != NULL ? 200 : 500, out);
}

const struct http_route api_monitor_routes[] = {
	{ "POST", "/monitor/heartbeat", post_heartbeat, AUTH_REPORTER },
	{ "POST", "/monitor/event", post_contiv, AUTH_REPORTER },
	{ "POST", "/monitor/snapshot", post_snapshot, AUTH_REPORTER },
	{ "POST", "/monitor/event/{}", post_event_batch, AUTH_REPORTER },
	{ "POST", "/monitor/{}/{}", post_single, AUTH_REPORTER },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
