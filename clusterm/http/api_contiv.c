/* contiv clusterm's read endpoints, in its exact JSON shapes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_forward.h"
#include "api_jobs.h"
#include "api_json.h"
#include "fsio.h"
#include "jobs.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"

/* The most of a job's log /info/job/{label} carries in its "logs" lines. */
#define CONTIV_LOG_MAX	(4 * 1024 * 1024)

/* A node as contiv's clusterm marshals it. */
static cJSON *
contiv_node(const struct node *n)
{
	cJSON *o = cJSON_CreateObject(), *mon, *inv, *cfg, *vars;

	if (o == NULL)
		return NULL;
	mon = cJSON_AddObjectToObject(o, "monitoring_state");
	inv = cJSON_AddObjectToObject(o, "inventory_state");
	cfg = cJSON_AddObjectToObject(o, "configuration_state");
	if (mon == NULL || inv == NULL || cfg == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(mon, "label", n->rep.label ? n->rep.label : "");
	cJSON_AddStringToObject(mon, "serial_number", n->rep.serial ? n->rep.serial : "");
	cJSON_AddStringToObject(mon, "management_address", n->rep.addr ? n->rep.addr : "");
	cJSON_AddStringToObject(inv, "name", n->name);
	cJSON_AddStringToObject(inv, "status", node_status_name(n->status));
	cJSON_AddStringToObject(inv, "prev_status", node_status_name(n->prev_status));
	cJSON_AddStringToObject(inv, "state", mon_state_name(n->state));
	cJSON_AddStringToObject(inv, "prev_state", mon_state_name(n->prev_state));
	cJSON_AddStringToObject(cfg, "inventory_name", n->name);
	cJSON_AddStringToObject(cfg, "host_group", n->host_group ? n->host_group : "");
	cJSON_AddStringToObject(cfg, "ssh_address", n->rep.addr ? n->rep.addr : "");
	/* The host vars contiv gives a node at discovery, as in our inventories. */
	vars = cJSON_AddObjectToObject(cfg, "inventory_vars");
	if (vars == NULL ||
	    cJSON_AddStringToObject(vars, "node_name", n->name) == NULL ||
	    cJSON_AddStringToObject(vars, "node_addr", n->rep.addr ? n->rep.addr : "") == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static void
get_info_node(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct node *n;
	cJSON *out = NULL;

	state_rdlock(m->state);
	n = inventory_get(state_inventory(m->state), req->params[0]);
	if (n != NULL)
		out = contiv_node(n);
	state_unlock(m->state);
	if (n == NULL) {
		http_reply_error(req, 404, INVENTORY_NO_SUCH_NODE, req->params[0], req->params[0]);
		return;
	}
	http_reply_json(req, 200, out);
}

/* contiv answers a map of node name -> node. */
static void
get_info_nodes(struct http_req *req)
{
	struct manager *m = req->ctx;
	cJSON *out = cJSON_CreateObject();

	state_rdlock(m->state);
	for (size_t i = 0; out != NULL && i < inventory_count(state_inventory(m->state)); i++) {
		struct node *n = inventory_at(state_inventory(m->state), i);
		cJSON_AddItemToObject(out, n->name, contiv_node(n));
	}
	state_unlock(m->state);
	http_reply_json(req, 200, out);
}

static void
post_commission(struct http_req *req)
{
	api_lifecycle_post(req, JOB_OP_COMMISSION, 200);
}

static void
post_decommission(struct http_req *req)
{
	api_lifecycle_post(req, JOB_OP_DECOMMISSION, 200);
}

static void
post_update(struct http_req *req)
{
	api_lifecycle_post(req, JOB_OP_UPDATE, 200);
}

/* contiv's clusterctl node commission|decommission|update NAME. */
static void
post_commission_node(struct http_req *req)
{
	api_lifecycle_post_node(req, JOB_OP_COMMISSION, 200);
}

static void
post_decommission_node(struct http_req *req)
{
	api_lifecycle_post_node(req, JOB_OP_DECOMMISSION, 200);
}

static void
post_update_node(struct http_req *req)
{
	api_lifecycle_post_node(req, JOB_OP_UPDATE, 200);
}

static void
post_discover(struct http_req *req)
{
	api_lifecycle_post(req, JOB_OP_DISCOVER, 200);
}

/* "active": the newest job still running; "last": the newest that ended. */
static struct job_rec *
job_by_label(struct state *s, const char *label, bool *ret_valid)
{
	bool active = strcmp(label, "active") == 0;
	char *end;
	unsigned long long id;

	*ret_valid = true;
	if (active || strcmp(label, "last") == 0) {
		for (size_t i = state_njobs(s); i-- > 0;) {
			bool running = state_job_at(s, i)->status == JOB_QUEUED ||
			    state_job_at(s, i)->status == JOB_RUNNING;
			if (running == active)
				return state_job_at(s, i);
		}
		return NULL;
	}
	id = strtoull(label, &end, 10);
	if (*end != '\0' || end == label) {
		*ret_valid = false;
		return NULL;
	}
	return state_job_get(s, id);
}

/*
 * contiv's job JSON: {"desc","task","status","error","logs":[lines]}, with
 * our "id" beside it (contiv's clients ignore keys they do not know).
 */
static cJSON *
contiv_job(struct manager *m, const struct job_rec *j)
{
	cJSON *o = cJSON_CreateObject(), *logs;
	char desc[512], path[PATH_MAX], *text = NULL;
	size_t off, len;

	if (o == NULL)
		return NULL;
	off = (size_t)snprintf(desc, sizeof(desc), "%s of", job_op_name(j->op));
	for (size_t i = 0; i < j->nnodes && off < sizeof(desc); i++)
		off += (size_t)snprintf(desc + off, sizeof(desc) - off, " %s", j->nodes[i]);
	if (j->host_group[0] != '\0' && off < sizeof(desc))
		snprintf(desc + off, sizeof(desc) - off, " (%s)", j->host_group);
	cJSON_AddNumberToObject(o, "id", (double)j->id);
	cJSON_AddStringToObject(o, "desc", desc);
	cJSON_AddStringToObject(o, "task", job_op_name(j->op));
	int status;
	long long started;
	lifecycle_live(m->lc, j, &status, &started);
	cJSON_AddStringToObject(o, "status", jobs_state_name(status));
	cJSON_AddStringToObject(o, "error", j->error);
	logs = cJSON_AddArrayToObject(o, "logs");
	if (logs != NULL && jobs_log_path_make(m->conf.state_dir, j->id, path,
	    sizeof(path)) == 0 && fsio_read_file(path, CONTIV_LOG_MAX, &text, &len) == 0) {
		for (char *line = text, *nl; line != NULL; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (nl != NULL)
				*nl = '\0';
			cJSON_AddItemToArray(logs, cJSON_CreateString(line));
		}
	}
	free(text);
	return o;
}

/* Answers contiv's errors for a job label that is bad (400) or names no job (404). */
static bool
job_label_found(struct http_req *req, bool valid, bool found)
{
	if (!valid)
		http_reply_error(req, 400, "Invalid or empty job label specified: \"%.64s\" "
		    "(active, last or a job id)", req->params[0]);
	else if (!found)
		http_reply_error(req, 404, "info for \"%.64s\" job doesn't exist",
		    req->params[0]);
	return valid && found;
}

static void
get_info_job(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct job_rec *j;
	cJSON *out = NULL;
	bool valid;

	/* It carries the job's log, which is the leader's. */
	if (api_forward_to_leader(req, false))
		return;
	state_rdlock(m->state);
	j = job_by_label(m->state, req->params[0], &valid);
	if (j != NULL)
		out = contiv_job(m, j);
	state_unlock(m->state);
	if (!job_label_found(req, valid, out != NULL))
		return;
	http_reply_json(req, 200, out);
}

static void
get_info_logs(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct job_rec *j;
	uint64_t id = 0;
	bool valid;

	if (api_forward_to_leader(req, false))
		return;
	state_rdlock(m->state);
	j = job_by_label(m->state, req->params[0], &valid);
	if (j != NULL)
		id = j->id;
	state_unlock(m->state);
	if (!job_label_found(req, valid, j != NULL))
		return;
	api_job_log(req, id, false);
}

const struct http_route api_contiv_routes[] = {
	{ "GET", "/info/node/{}", get_info_node, AUTH_READER },
	{ "GET", "/info/nodes", get_info_nodes, AUTH_READER },
	{ "GET", "/info/job/{}", get_info_job, AUTH_READER },
	{ "GET", "/info/logs/{}", get_info_logs, AUTH_READER },
	{ "POST", "/commission/nodes", post_commission, AUTH_ADMIN },
	{ "POST", "/decommission/nodes", post_decommission, AUTH_ADMIN },
	{ "POST", "/update/nodes", post_update, AUTH_ADMIN },
	{ "POST", "/discover/nodes", post_discover, AUTH_ADMIN },
	{ "POST", "/commission/node/{}", post_commission_node, AUTH_ADMIN },
	{ "POST", "/decommission/node/{}", post_decommission_node, AUTH_ADMIN },
	{ "POST", "/update/node/{}", post_update_node, AUTH_ADMIN },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
