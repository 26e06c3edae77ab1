/* POSTs with failover (the spool's replay is in deliver_spool.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "deliver.h"
#include "fsio.h"
#include "http1.h"
#include "httpc.h"

void
deliver_result_finish(struct deliver_result *r)
{
	if (r == NULL)
		return;
	free(r->reply);
	r->reply = NULL;
}

const char *
deliver_path(enum report_kind kind)
{
	return kind == REPORT_KIND_DISAPPEARED ? "/monitor/event/disappeared" :
	    "/monitor/event/discovered";
}

/* The integer after "key": in a small JSON reply, -1 when absent. */
static long
reply_number(const char *body, const char *key)
{
	const char *p = strstr(body, key);
	char *end;
	long v;

	if (p == NULL)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == '"' || *p == ':')
		p++;
	errno = 0;
	v = strtol(p, &end, 10);
	return (errno != 0 || end == p) ? -1 : v;
}

/* 408 and 429 ask for a later try; other 4xx are final. */
static bool
status_final(long status)
{
	return status >= 400 && status < 500 && status != 408 && status != 429;
}

/* Room for the texts of the extra headers. */
struct hdr_text {
	char rep[LIMIT_MEMBER_NAME_LEN + 16];
	char ep[LIMIT_EPOCH_LEN + 24];
	char seq[48];
	char depth[48];
};

/* The reporter headers and X-Spool-Depth (NULL-terminated in hdrs[5]). */
static void
reporter_headers(const struct deliver_opts *o, const char *reporter, const char *epoch,
    unsigned long long seq, struct hdr_text *t, const char *hdrs[5])
{
	char *hrep = t->rep, *hep = t->ep, *hseq = t->seq;
	size_t nh = 0;

	if (reporter != NULL && reporter[0] != '\0') {
		snprintf(hrep, sizeof(t->rep), "X-Reporter: %s", reporter);
		hdrs[nh++] = hrep;
	}
	if (epoch != NULL && epoch[0] != '\0') {
		snprintf(hep, sizeof(t->ep), "X-Reporter-Epoch: %s", epoch);
		hdrs[nh++] = hep;
	}
	if (seq > 0 || o->always_seq) {
		snprintf(hseq, sizeof(t->seq), "X-Reporter-Seq: %llu", seq);
		hdrs[nh++] = hseq;
	}
	if (o->spool_depth >= 0) {
		snprintf(t->depth, sizeof(t->depth), "X-Spool-Depth: %ld", o->spool_depth);
		hdrs[nh++] = t->depth;
	}
	hdrs[nh] = NULL;
}

/*
 * Judges one reply into res: true when it decides (2xx, or a final 4xx,
 * whose body res->reply then takes), false to try the next URL. Frees or
 * takes resp's body.
 */
static bool
judge_reply(struct http1_resp *resp, struct deliver_result *res)
{
	res->status = resp->status;
	if (resp->status >= 200 && resp->status < 300) {
		res->st = DELIVER_OK;
		res->accepted = reply_number(resp->body, "\"accepted\"");
		res->duplicates = reply_number(resp->body, "\"duplicates\"");
		res->err[0] = '\0';
		http1_resp_finish(resp);
		return true;
	}
	snprintf(res->err, sizeof(res->err), "%s answered %ld: %.300s", res->url,
	    resp->status, resp->body);
	if (status_final(resp->status)) {
		res->st = DELIVER_REJECTED;
		res->reply = resp->body;
		resp->body = NULL;
		return true;
	}
	http1_resp_finish(resp);
	return false;
}

int
deliver_post(const struct deliver_opts *o, const char *path, const char *body,
    size_t len, const char *reporter, const char *epoch, unsigned long long seq,
    struct deliver_result *ret)
{
	struct hdr_text t;
	const char *hdrs[5];
	struct deliver_result res = { .st = DELIVER_RETRY, .accepted = -1, .duplicates = -1 };

	reporter_headers(o, reporter, epoch, seq, &t, hdrs);
	snprintf(res.err, sizeof(res.err), "no URL configured");
	for (size_t i = 0; i < o->nurls; i++) {
		long long now = fsio_mono_ms();
		long long left = o->deadline_ms - now - o->reserve_ms;
		struct http1_req rq = {
			.method = "POST",
			/* A heartbeat has no body: Content-Length 0, no type. */
			.content_type = len > 0 ? "application/json" : NULL,
			.body = body != NULL ? body : "",
			.len = len,
			.token = o->token,
			.ca_file = o->ca_file,
			.cert_file = o->cert_file,
			.key_file = o->key_file,
			.headers = hdrs,
		};
		struct http1_resp resp = { 0 };
		char *url;
		int rc;

		if (left <= 0) {
			snprintf(res.err, sizeof(res.err), "time bound reached before %s",
			    o->urls[i]);
			break;
		}
		/* The URLs still to try share what is left for connecting. */
		rq.deadline_ms = now + left;
		rq.connect_deadline_ms = now + left / (long long)(o->nurls - i);
		if (rq.connect_deadline_ms <= now)
			rq.connect_deadline_ms = now + 1;
		url = httpc_url(o->urls[i], path);
		if (url == NULL)
			return -ENOMEM;
		snprintf(res.url, sizeof(res.url), "%s", url);
		rq.url = url;
		rc = http1_request(&rq, &resp, res.err, sizeof(res.err));
		free(url);
		if (rc == -ENOMEM)
			return rc;
		if (rc == 0 && judge_reply(&resp, &res))
			break;
	}
	*ret = res;
	return 0;
}
