/* Lifecycle requests and jobs over HTTP, shared by the contiv and native APIs. */
#ifndef API_JOBS_H
#define API_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "manager.h"
#include "state.h"

/* JSON of a job record (lock held); the caller frees it. */
cJSON *api_job_json(struct manager *m, const struct job_rec *j);
/* Parses a lifecycle request body (contiv's shape) and submits it. */
void api_lifecycle_post(struct http_req *req, int op, int ok_status);
/* The same for one node named by the path's {} (contiv's /commission/node/{name}). */
void api_lifecycle_post_node(struct http_req *req, int op, int ok_status);
/* Sends a job's log: whole, or followed until the job ends. */
void api_job_log(struct http_req *req, uint64_t id, bool follow);

#endif
