/*
 * Requests only the leader serves, passed to it by a follower (CONTRACT
 * section 9): lifecycle requests, since jobs run on the leader, and job-log
 * reads, since a job's log is written in the leader's state dir.
 */
#ifndef API_FORWARD_H
#define API_FORWARD_H

#include <stdbool.h>

#include "http.h"

/* The header a forwarded request carries: the id of the instance that forwarded it. */
#define FORWARD_HEADER		"X-Clusterm-Forwarded"
/* Time bounds of a forward: connecting, and the whole request (not a followed log). */
#define FORWARD_CONNECT_MS	2000L
#define FORWARD_TIMEOUT_MS	30000L

/*
 * On a follower on etcd: sends req (method, path and query, body,
 * Content-Type, Authorization, plus FORWARD_HEADER) to the leader's
 * advertise_url and answers with the leader's status, Content-Type and body;
 * with follow, a 200 body is streamed through as it comes until the leader
 * ends it or the client goes. Refuses with 503 when no leader is known, or
 * when req was forwarded here already (no second hop). Returns true when req
 * has been answered so; false when this instance serves req itself (the
 * embedded store, or it leads).
 */
bool api_forward_to_leader(struct http_req *req, bool follow);

#endif
