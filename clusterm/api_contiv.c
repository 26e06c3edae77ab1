/* contiv clusterm's read endpoints, in its exact JSON shapes. */
#include <stdlib.h>
#include <string.h>

#include "manager.h"

/* A node as contiv's clusterm marshals it. */
static cJSON *
contiv_node(const struct node *n)
{
	cJSON *o = cJSON_CreateObject(), *mon, *inv, *cfg;

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
	if (cJSON_AddObjectToObject(cfg, "inventory_vars") == NULL) {
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

	pthread_rwlock_rdlock(&m->state->lock);
	n = inventory_get(m->state->inv, req->params[0]);
	if (n != NULL)
		out = contiv_node(n);
	pthread_rwlock_unlock(&m->state->lock);
	if (n == NULL) {
		http_reply_error(req, 404, "node with name %s doesn't exist", req->params[0]);
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

	pthread_rwlock_rdlock(&m->state->lock);
	for (size_t i = 0; out != NULL && i < inventory_count(m->state->inv); i++) {
		struct node *n = inventory_at(m->state->inv, i);
		cJSON_AddItemToObject(out, n->name, contiv_node(n));
	}
	pthread_rwlock_unlock(&m->state->lock);
	http_reply_json(req, 200, out);
}

const struct http_route api_contiv_routes[] = {
	{ "GET", "/info/node/{}", get_info_node },
	{ "GET", "/info/nodes", get_info_nodes },
	{ NULL, NULL, NULL },
};
