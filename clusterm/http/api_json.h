/* JSON shapes shared by the API modules (cJSON trees are the caller's to free). */
#ifndef API_JSON_H
#define API_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "state.h"

/* JSON of one node (native shape); with detail, votes too. Lock held. */
cJSON *api_node_json(struct state *s, const struct node *n, bool detail);
/* JSON of one audit event (the shape of /api/v1/events and /api/v1/stream). NULL: ENOMEM. */
cJSON *api_event_json(const struct audit_event *e);
/* Adds key: RFC 3339 time of ms, or null for 0. */
void api_add_time(cJSON *o, const char *key, long long ms);
/* RFC 3339 UTC time of a wall-clock millisecond count into buf. */
void api_time(long long ms, char *buf, size_t len);
/* Who made a request, for the audit log (points into req). */
const char *api_actor(struct http_req *req);

#endif
