/* contiv clusterm's read endpoints, in its exact JSON shapes. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
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
		http_reply_error(req, 404, "node with name or address \"%.128s\" doesn't exists",
		    req->params[0]);
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

/*
 * Keys of contiv's request struct that a body may carry where they do not
 * apply: its Go client always sends the whole struct. Each is logged the
 * first time an endpoint sees it, then silently ignored.
 */
struct ignored_key {
	const char *key;
	atomic_bool logged;
};

static struct ignored_key globals_ignored[] = {
	{ "nodes", false }, { "addrs", false }, { "host_group", false }, { "job", false },
	{ "monitor_event", false },
};
static struct ignored_key config_ignored[] = {
	{ "serf", false }, { "inventory", false }, { "manager", false },
	{ "monitor_event", false },
};

/* Whether key is one of tab's; logs it on its first sighting. */
static bool
ignored(struct ignored_key *tab, size_t n, const char *endpoint, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(tab[i].key, key) != 0)
			continue;
		if (!atomic_exchange(&tab[i].logged, true))
			log_warn("%s: key %s of contiv's request is not used here, ignored "
			    "(said once)", endpoint, key);
		return true;
	}
	return false;
}

static bool
blank(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

/*
 * The text of the globals a POST /globals body sets, into *ret (malloc'd,
 * the caller frees): extra_vars as JSON text (contiv) or an object. An
 * absent, null or blank extra_vars is "not set", which for the globals is
 * their default, {} (contiv's DefaultValidJSON). 0, -EINVAL with err, or
 * -ENOMEM.
 */
static int
globals_text(const char *text, size_t len, char **ret, char *err, size_t errlen)
{
	cJSON *body = cJSON_ParseWithLength(text, len), *obj = NULL;
	const cJSON *it, *ev = NULL;
	char *out;
	int rc = -EINVAL;

	if (!cJSON_IsObject(body)) {
		snprintf(err, errlen, "body must be a JSON object, {\"extra_vars\": "
		    "\"<JSON text>\"}");
		goto out;
	}
	cJSON_ArrayForEach(it, body) {
		if (strcmp(it->string, "extra_vars") == 0)
			ev = it;
		else if (!ignored(globals_ignored, sizeof(globals_ignored) /
		    sizeof(globals_ignored[0]), "POST /globals", it->string)) {
			snprintf(err, errlen, "unknown key %.64s: the body is {\"extra_vars\": "
			    "\"<JSON text>\"}", it->string);
			goto out;
		}
	}
	if (ev == NULL || cJSON_IsNull(ev) || (cJSON_IsString(ev) && blank(ev->valuestring)))
		obj = cJSON_CreateObject();
	else if (cJSON_IsString(ev))
		obj = cJSON_Parse(ev->valuestring);
	else if (cJSON_IsObject(ev))
		obj = cJSON_Duplicate(ev, 1);
	else {
		snprintf(err, errlen, "\"extra_vars\" should be a valid json: extra_vars "
		    "must be a JSON object or its text");
		goto out;
	}
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "\"extra_vars\" should be a valid json: extra_vars "
		    "%s", obj == NULL ? "is not valid JSON" : "must hold a JSON object");
		goto out;
	}
	if ((out = cJSON_PrintUnformatted(obj)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	*ret = out;
	rc = 0;
out:
	cJSON_Delete(obj);
	cJSON_Delete(body);
	return rc;
}

/*
 * A POST /config body as {"ansible": {...}} for conf_ansible_apply, into
 * *ret (malloc'd, the caller frees). The configuration is the body or its
 * "config" member (contiv's clusterctl wraps it so, beside monitor_event).
 * Its serf, inventory, manager and monitor_event are not ours, ignored; an
 * ansible string key holding "" is not set (contiv sends every field, ""
 * when unset). Anything else, unknown keys and wrong types, is left for
 * conf_ansible_apply to refuse by name.
 * 0, -EINVAL with err, or -ENOMEM.
 */
static int
config_body(const char *text, size_t len, char **ret, char *err, size_t errlen)
{
	cJSON *in = cJSON_ParseWithLength(text, len), *out = NULL, *conf;
	const cJSON *it, *wrap;
	char *res;
	int rc = -EINVAL;

	if (!cJSON_IsObject(in)) {
		snprintf(err, errlen, "\"config\" should be a valid json: the body must be a "
		    "JSON object, {\"ansible\": {...}} or {\"config\": {...}}");
		goto out;
	}
	conf = in;
	if ((wrap = cJSON_GetObjectItemCaseSensitive(in, "config")) != NULL) {
		if (!cJSON_IsObject(wrap)) {
			snprintf(err, errlen, "config: expected an object");
			goto out;
		}
		cJSON_ArrayForEach(it, in) {
			if (it != wrap && !ignored(config_ignored, sizeof(config_ignored) /
			    sizeof(config_ignored[0]), "POST /config", it->string)) {
				snprintf(err, errlen, "%.64s: unknown key beside config",
				    it->string);
				goto out;
			}
		}
		conf = (cJSON *)wrap;
	}
	if ((out = cJSON_CreateObject()) == NULL)
		goto oom;
	cJSON_ArrayForEach(it, conf) {
		cJSON *copy;

		if (ignored(config_ignored, sizeof(config_ignored) / sizeof(config_ignored[0]),
		    "POST /config", it->string))
			continue;
		if ((copy = cJSON_Duplicate(it, 1)) == NULL)
			goto oom;
		if (strcmp(it->string, "ansible") == 0 && cJSON_IsObject(copy)) {
			for (cJSON *v = copy->child, *next; v != NULL; v = next) {
				char path[128];

				next = v->next;
				/* A key too long for path is no key of ours: left to refuse. */
				if (cJSON_IsString(v) && v->valuestring[0] == '\0' &&
				    (size_t)snprintf(path, sizeof(path), "ansible.%s",
				    v->string) < sizeof(path) && conf_ansible_string_key(path))
					cJSON_Delete(cJSON_DetachItemViaPointer(copy, v));
			}
		}
		cJSON_AddItemToObject(out, it->string, copy);
	}
	if ((res = cJSON_PrintUnformatted(out)) == NULL)
		goto oom;
	*ret = res;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	cJSON_Delete(out);
	cJSON_Delete(in);
	return rc;
}

/* {"extra_vars": {...}} with the globals parsed, as contiv answers. */
static cJSON *
globals_json(struct state *s)
{
	cJSON *o = cJSON_CreateObject(), *g;

	state_rdlock(s);
	g = cJSON_Parse(state_globals(s));
	state_unlock(s);
	if (o == NULL || g == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(g);
		return NULL;
	}
	cJSON_AddItemToObject(o, "extra_vars", g);
	return o;
}

static void
get_globals(struct http_req *req)
{
	struct manager *m = req->ctx;

	http_reply_json(req, 200, globals_json(m->state));
}

static void
post_globals(struct http_req *req)
{
	struct manager *m = req->ctx;
	char *text = NULL, err[512];
	int rc;

	if (http_read_body(req) < 0)
		return;
	rc = globals_text(req->body, req->len, &text, err, sizeof(err));
	if (rc < 0) {
		http_reply_error(req, rc == -ENOMEM ? 500 : 400, "%s", err);
		return;
	}
	rc = lifecycle_set_globals(m->state, text, api_actor(req), err, sizeof(err));
	free(text);
	if (rc < 0) {
		http_reply_error(req, rc == -EIO ? 503 : 500, "%s", err);
		return;
	}
	log_info("globals set by %s", api_actor(req));
	http_reply_json(req, 200, globals_json(m->state));
}

/* An ansible section as {"ansible": {...}}, the shape of clusterm.conf. */
static cJSON *
ansible_json(const struct ansible_conf *a)
{
	cJSON *o = cJSON_CreateObject(), *sec;

	sec = cJSON_AddObjectToObject(o, "ansible");
	if (sec == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(sec, "command", a->command);
	cJSON_AddStringToObject(sec, "playbook_location", a->playbook_location);
	cJSON_AddStringToObject(sec, "configure_playbook", a->configure_playbook);
	cJSON_AddStringToObject(sec, "cleanup_playbook", a->cleanup_playbook);
	cJSON_AddStringToObject(sec, "upgrade_playbook", a->upgrade_playbook);
	cJSON_AddStringToObject(sec, "extra_variables", a->extra_variables);
	cJSON_AddStringToObject(sec, "user", a->user);
	cJSON_AddStringToObject(sec, "priv_key_file", a->priv_key_file);
	cJSON_AddNumberToObject(sec, "timeout_s", (double)a->timeout_s);
	return o;
}

static void
get_config(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct ansible_conf *a = malloc(sizeof(*a));	/* too big for a worker's stack */
	char err[512] = "out of memory";
	int rc = -ENOMEM;

	if (a != NULL) {
		state_rdlock(m->state);
		rc = lifecycle_effective_conf(m->lc, a, err, sizeof(err));
		state_unlock(m->state);
	}
	if (rc < 0)
		http_reply_error(req, 500, "%s", err);
	else
		http_reply_json(req, 200, ansible_json(a));
	free(a);
}

/*
 * Applies {"ansible": {...}} over the section in force and keeps the result
 * (persisted) until the next POST or a SIGHUP, which makes the file the
 * truth again.
 */
static void
post_config(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct ansible_conf *a;
	char err[512], *text = NULL;
	cJSON *o;
	int rc;

	if (http_read_body(req) < 0)
		return;
	if ((a = malloc(sizeof(*a))) == NULL) {	/* too big for a worker's stack */
		http_reply_error(req, 500, "out of memory");
		return;
	}
	char *body = NULL;
	rc = config_body(req->body, req->len, &body, err, sizeof(err));
	if (rc < 0) {
		http_reply_error(req, rc == -ENOMEM ? 500 : 400, "%s", err);
		free(a);
		return;
	}
	state_rdlock(m->state);
	rc = lifecycle_effective_conf(m->lc, a, err, sizeof(err));
	state_unlock(m->state);
	if (rc == 0 && conf_ansible_apply(a, body != NULL ? body : req->body, err,
	    sizeof(err)) < 0)
		rc = -EINVAL;
	free(body);
	if (rc == 0) {
		o = ansible_json(a);
		text = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		rc = text != NULL ? lifecycle_set_config(m->state, text, api_actor(req), err,
		    sizeof(err)) : -ENOMEM;
	}
	free(text);
	if (rc == -EINVAL)
		http_reply_error(req, 400, "%s", err);
	else if (rc < 0)
		http_reply_error(req, rc == -EIO ? 503 : 500, "%s", err);
	else {
		log_info("ansible section set by %s", api_actor(req));
		http_reply_json(req, 200, ansible_json(a));
	}
	free(a);
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
	{ "GET", "/info/globals", get_globals, AUTH_READER },
	{ "GET", "/info/job/{}", get_info_job, AUTH_READER },
	{ "GET", "/info/logs/{}", get_info_logs, AUTH_READER },
	{ "GET", "/config", get_config, AUTH_READER },
	{ "POST", "/config", post_config, AUTH_ADMIN },
	{ "POST", "/globals", post_globals, AUTH_ADMIN },
	{ "POST", "/commission/nodes", post_commission, AUTH_ADMIN },
	{ "POST", "/decommission/nodes", post_decommission, AUTH_ADMIN },
	{ "POST", "/update/nodes", post_update, AUTH_ADMIN },
	{ "POST", "/discover/nodes", post_discover, AUTH_ADMIN },
	{ "POST", "/commission/node/{}", post_commission_node, AUTH_ADMIN },
	{ "POST", "/decommission/node/{}", post_decommission_node, AUTH_ADMIN },
	{ "POST", "/update/node/{}", post_update_node, AUTH_ADMIN },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
