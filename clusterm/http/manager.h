/* What every request handler reaches through req->ctx. */
#ifndef MANAGER_H
#define MANAGER_H

#include <stdbool.h>

#include "conf.h"
#include "http.h"
#include "state.h"

struct lifecycle;

struct manager {
	struct state *state;
	struct lifecycle *lc;
	struct conf conf;
	bool insecure;
	long long started_ms;
};

/* Routes of each API module, terminated by fn == NULL. */
extern const struct http_route api_monitor_routes[];
extern const struct http_route api_v1_routes[];
extern const struct http_route api_contiv_routes[];
extern const struct http_route api_stream_routes[];
extern const struct http_route api_ui_routes[];

/* JSON of one node (native shape); with detail, votes too. Lock held. */
cJSON *api_node_json(struct state *s, const struct node *n, bool detail);
/* JSON of a job record (lock held). */
cJSON *api_job_json(struct manager *m, const struct job_rec *j);
/* Parses a lifecycle request body (contiv's shape) and submits it. */
void api_lifecycle_post(struct http_req *req, int op, int ok_status);
/* The same for one node named by the path's {} (contiv's /commission/node/{name}). */
void api_lifecycle_post_node(struct http_req *req, int op, int ok_status);
/* Sends a job's log: whole, or followed until the job ends. */
void api_job_log(struct http_req *req, uint64_t id, bool follow);
/* Who made a request, for the audit log. */
const char *api_actor(struct http_req *req);

/* JSON of one audit event (the shape of /api/v1/events and /api/v1/stream). NULL: ENOMEM. */
cJSON *api_event_json(const struct audit_event *e);
/* Adds key: RFC 3339 time of ms, or null for 0. */
void api_add_time(cJSON *o, const char *key, long long ms);
/* RFC 3339 UTC time of a wall-clock millisecond count into buf. */
void api_time(long long ms, char *buf, size_t len);

#endif
