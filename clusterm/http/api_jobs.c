/* Lifecycle requests and jobs over HTTP, shared by the contiv and native APIs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "api_forward.h"
#include "api_jobs.h"
#include "api_json.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "log.h"
#include "store.h"
#include "manager.h"
#include "streams.h"

/* Bounds of a followed log: poll period and the longest follow. */
#define FOLLOW_POLL_MS		100
#define FOLLOW_MAX_S		(8 * 3600)
/* A whole log sent in one reply. */
#define LOG_MAX_BYTES		(64 * 1024 * 1024)

cJSON *
api_job_json(struct manager *m, const struct job_rec *j)
{
	cJSON *o = cJSON_CreateObject(), *nodes;
	long long started;
	int status;

	if (o == NULL)
		return NULL;
	lifecycle_live(m->lc, j, &status, &started);
	cJSON_AddNumberToObject(o, "id", (double)j->id);
	cJSON_AddStringToObject(o, "operation", job_op_name(j->op));
	nodes = cJSON_AddArrayToObject(o, "nodes");
	for (size_t i = 0; nodes != NULL && i < j->nnodes; i++)
		cJSON_AddItemToArray(nodes, cJSON_CreateString(j->nodes[i]));
	cJSON_AddStringToObject(o, "host_group", j->host_group);
	cJSON_AddStringToObject(o, "status", jobs_state_name(status));
	api_add_time(o, "created", j->created_ms);
	api_add_time(o, "started", started);
	api_add_time(o, "ended", j->ended_ms);
	if (j->exit_code >= 0)
		cJSON_AddNumberToObject(o, "exit_code", j->exit_code);
	else
		cJSON_AddNullToObject(o, "exit_code");
	cJSON_AddStringToObject(o, "error", j->error);
	cJSON_AddStringToObject(o, "actor", j->actor);
	return o;
}

/* A JSON array of strings into a NULL-terminated vector (pointers into the tree). */
static int
strings(struct http_req *req, const cJSON *arr, const char *key, const char ***ret,
    size_t *ret_n)
{
	const char **v;
	size_t n;
	const cJSON *it;

	*ret = NULL;
	*ret_n = 0;
	if (arr == NULL)
		return 0;
	if (!cJSON_IsArray(arr)) {
		http_reply_error(req, 400, "%s must be an array of strings", key);
		return -1;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n > LC_MAX_NODES) {
		http_reply_error(req, 400, "%s holds %zu entries, the limit is %d", key, n,
		    LC_MAX_NODES);
		return -1;
	}
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL) {
		http_reply_error(req, 500, "out of memory");
		return -1;
	}
	n = 0;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it)) {
			free(v);
			http_reply_error(req, 400, "%s must be an array of strings", key);
			return -1;
		}
		v[n++] = it->valuestring;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Replies 400 and returns -1 when body has a key a lifecycle request does not take. */
static int
check_keys(struct http_req *req, const cJSON *body)
{
	static const char *known[] = { "nodes", "addrs", "host_group", "extra_vars", "comment",
		"operation", "job", "monitor_event" };
	const cJSON *it;

	cJSON_ArrayForEach(it, body) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(it->string, known[i]) == 0;
		if (!ok) {
			http_reply_error(req, 400, "unknown key %.64s", it->string);
			return -1;
		}
	}
	return 0;
}

/*
 * Fills r from body (op < 0: the body's "operation"; path_node: the one
 * node, kept in one[0]). r's strings point into body; r->nodes and
 * r->addrs (unless one) and *vars_text are the caller's to free, also on
 * failure. Replies 400 and returns -1 on a bad body.
 */
static int
parse_request(struct http_req *req, const cJSON *body, int op, const char *path_node,
    struct lc_request *r, const char **one, char **vars_text)
{
	const cJSON *hg, *ev, *cm;

	if (op < 0) {
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(body, "operation");
		op = cJSON_IsString(o) ? job_op_parse(o->valuestring) : -1;
		if (op < 0) {
			http_reply_error(req, 400, "operation must be commission, decommission, "
			    "update or discover");
			return -1;
		}
	}
	r->op = (enum job_op)op;
	if (path_node != NULL) {
		if (cJSON_GetObjectItemCaseSensitive(body, "nodes") != NULL) {
			http_reply_error(req, 400, "nodes must not be given: the path names the "
			    "node (%.128s)", path_node);
			return -1;
		}
		one[0] = path_node;
		r->nodes = one;
		r->nnodes = 1;
	} else if (strings(req, cJSON_GetObjectItemCaseSensitive(body, "nodes"), "nodes",
	    (const char ***)&r->nodes, &r->nnodes) < 0)
		return -1;
	if (strings(req, cJSON_GetObjectItemCaseSensitive(body, "addrs"), "addrs",
	    (const char ***)&r->addrs, &r->naddrs) < 0)
		return -1;
	hg = cJSON_GetObjectItemCaseSensitive(body, "host_group");
	ev = cJSON_GetObjectItemCaseSensitive(body, "extra_vars");
	cm = cJSON_GetObjectItemCaseSensitive(body, "comment");
	if ((hg != NULL && !cJSON_IsString(hg)) || (cm != NULL && !cJSON_IsString(cm))) {
		http_reply_error(req, 400, "host_group and comment must be strings");
		return -1;
	}
	/* contiv sends extra_vars as JSON text; an object is taken as well. */
	if (cJSON_IsString(ev))
		r->extra_vars = ev->valuestring;
	else if (cJSON_IsObject(ev))
		r->extra_vars = *vars_text = cJSON_PrintUnformatted(ev);
	else if (ev != NULL && !cJSON_IsNull(ev)) {
		http_reply_error(req, 400, "extra_vars must be a JSON object or its text");
		return -1;
	}
	r->host_group = hg != NULL ? hg->valuestring : NULL;
	r->comment = cm != NULL ? cm->valuestring : "";
	r->actor = api_actor(req);
	return 0;
}

/* Replies ok_status with the queued job's id and record. */
static void
reply_queued(struct http_req *req, struct manager *m, uint64_t id, int ok_status)
{
	cJSON *out = cJSON_CreateObject();

	if (out != NULL) {
		cJSON_AddNumberToObject(out, "job_id", (double)id);
		state_rdlock(m->state);
		struct job_rec *j = state_job_get(m->state, id);
		if (j != NULL)
			cJSON_AddItemToObject(out, "job", api_job_json(m, j));
		state_unlock(m->state);
	}
	http_reply_json(req, ok_status, out);
}

/*
 * A lifecycle request body into a job. path_node is the {name} of contiv's
 * single-node paths (/commission/node/{name}, ...): it is the one node, and
 * the body, like contiv's, names no "nodes".
 */
static void
lifecycle_post(struct http_req *req, int op, int ok_status, const char *path_node)
{
	struct manager *m = req->ctx;
	struct lc_request r = { 0 };
	const char *one[2] = { NULL, NULL };
	char *vars_text = NULL, err[512];
	cJSON *body = NULL;
	uint64_t id = 0;
	int rc;

	/* Jobs run on the leader: a follower passes the request on. */
	if (api_forward_to_leader(req, false))
		return;
	if (http_read_json(req, NULL, &body) < 0)
		return;
	if (!cJSON_IsObject(body)) {
		http_reply_error(req, 400, "body must be a JSON object");
		goto out;
	}
	if (check_keys(req, body) < 0 ||
	    parse_request(req, body, op, path_node, &r, one, &vars_text) < 0)
		goto out;
	rc = lifecycle_submit(m->lc, &r, &id, err, sizeof(err));
	if (rc < 0) {
		int status = rc == -EINVAL ? 400 : rc == -ENOENT ? 404 :
		    rc == -EBUSY || rc == -EPERM ? 409 : rc == -EIO ? 503 : 500;
		log_info("%s request from %s refused: %s", job_op_name(r.op), r.actor, err);
		http_reply_error(req, status, "%s", err);
		goto out;
	}
	log_info("job %llu (%s) queued by %s", (unsigned long long)id, job_op_name(r.op),
	    r.actor);
	reply_queued(req, m, id, ok_status);
out:
	if (r.nodes != one)
		free((void *)r.nodes);
	free((void *)r.addrs);
	free(vars_text);
	cJSON_Delete(body);
}

void
api_lifecycle_post(struct http_req *req, int op, int ok_status)
{
	lifecycle_post(req, op, ok_status, NULL);
}

void
api_lifecycle_post_node(struct http_req *req, int op, int ok_status)
{
	lifecycle_post(req, op, ok_status, req->params[0]);
}

/* Sends what the file holds from *off on as chunks. */
static int
send_more(struct http_req *req, int fd, off_t *off)
{
	char buf[16384];

	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), *off);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (mg_send_chunk(req->conn, buf, (unsigned)n) < 0)
			return -1;
		*off += n;
	}
}

void
api_job_log(struct http_req *req, uint64_t id, bool follow)
{
	struct manager *m = req->ctx;
	char path[PATH_MAX];
	bool known;
	off_t off = 0;
	char *text = NULL;
	size_t len = 0;
	long long deadline;
	bool stopping = false, gone = false;
	int fd, rc;

	state_rdlock(m->state);
	known = state_job_get(m->state, id) != NULL;
	state_unlock(m->state);
	if (!known) {
		http_reply_error(req, 404, "job %llu does not exist", (unsigned long long)id);
		return;
	}
	if (jobs_log_path_make(m->conf.state_dir, id, path, sizeof(path)) < 0) {
		http_reply_error(req, 500, "log path too long");
		return;
	}
	/*
	 * Several instances: a job that ran on another instance (one that is
	 * gone, say) has its log in etcd, the end of it.
	 */
	if (access(path, F_OK) != 0 && store_is_shared(state_store(m->state)) &&
	    !lifecycle_running(m->lc, id)) {
		rc = store_get_joblog(state_store(m->state), id, &text, &len);
		if (rc == 0 || rc == -ENOENT) {
			http_reply_text(req, 200, "text/plain; charset=utf-8", rc == 0 ? text : "",
			    rc == 0 ? len : 0);
			free(text);
			return;
		}
		http_reply_error(req, 503, "the log of job %llu is in etcd, which does not "
		    "answer: %s", (unsigned long long)id, strerror(-rc));
		return;
	}
	if (!follow) {
		rc = fsio_read_file(path, LOG_MAX_BYTES, &text, &len);
		if (rc == -ENOENT) {
			http_reply_text(req, 200, "text/plain; charset=utf-8", "", 0);
			return;
		}
		if (rc < 0) {
			http_reply_error(req, 500, "cannot read the log of job %llu: %s",
			    (unsigned long long)id, strerror(-rc));
			return;
		}
		http_reply_text(req, 200, "text/plain; charset=utf-8", text, len);
		free(text);
		return;
	}
	/* A follower holds a civetweb worker: their number is bounded (streams.h). */
	if (streams_enter_or_refuse(req) < 0)
		return;
	req->status = 200;
	mg_printf(req->conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n");
	deadline = fsio_mono_ms() + FOLLOW_MAX_S * 1000LL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	for (;;) {
		/* Stopping: what the log holds now is sent once more, then the end. */
		bool running = !stopping && lifecycle_running(m->lc, id);
		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && send_more(req, fd, &off) < 0) {
			gone = true;	/* the follower went away */
			break;
		}
		if (!running || fsio_mono_ms() > deadline) {
			/* Ended: what it wrote last was read above, after the check. */
			break;
		}
		stopping = streams_wait(FOLLOW_POLL_MS);
	}
	if (fd >= 0)
		close(fd);
	if (stopping) {
		/* Not kept alive: mg_stop would wait for the idle connection. */
		mg_disable_connection_keep_alive(req->conn);
		if (!gone)
			mg_send_chunk(req->conn, STREAMS_STOP_LINE, sizeof(STREAMS_STOP_LINE) - 1);
	}
	mg_send_chunk(req->conn, "", 0);
	streams_leave();
}
