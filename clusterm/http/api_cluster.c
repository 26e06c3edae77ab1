/* GET /api/v1/cluster, and the view of the instances that /healthz and /metrics show. */
#include <stdlib.h>
#include <string.h>

#include "api_cluster.h"
#include "api_json.h"
#include "fsio.h"

/* src into dst (len bytes), cut to fit: the view's fields are the leader module's sizes. */
static void
copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

struct leader_view *
api_cluster_view(struct manager *m)
{
	struct leader_view *v = calloc(1, sizeof(*v));	/* too big for a worker's stack */

	if (v == NULL)
		return NULL;
	if (m->leader != NULL) {
		leader_get_view(m->leader, v);
		return v;
	}
	copy(v->self, sizeof(v->self), m->conf.instance_id);
	copy(v->leader, sizeof(v->leader), m->conf.instance_id);
	copy(v->leader_url, sizeof(v->leader_url), m->conf.advertise_url);
	v->is_leader = true;
	v->etcd_ok = true;
	v->leader_changes = 1;
	v->n = 1;
	copy(v->inst[0].id, sizeof(v->inst[0].id), m->conf.instance_id);
	copy(v->inst[0].url, sizeof(v->inst[0].url), m->conf.advertise_url);
	v->inst[0].leader = true;
	v->inst[0].last_seen_ms = fsio_now_ms();
	return v;
}

/* An id, or null when it is "" (no leader known). */
static void
add_id(cJSON *o, const char *key, const char *id)
{
	if (id[0] != '\0')
		cJSON_AddStringToObject(o, key, id);
	else
		cJSON_AddNullToObject(o, key);
}

void
api_cluster_get(struct http_req *req)
{
	struct leader_view *v = api_cluster_view(req->ctx);
	cJSON *out = v != NULL ? cJSON_CreateObject() : NULL, *arr = NULL;

	if (out != NULL) {
		cJSON_AddStringToObject(out, "self", v->self);
		add_id(out, "leader", v->leader);
		arr = cJSON_AddArrayToObject(out, "instances");
	}
	for (size_t i = 0; arr != NULL && v != NULL && i < v->n && i < LEADER_MAX_INSTANCES;
	    i++) {
		const struct leader_instance *in = &v->inst[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL || !cJSON_AddItemToArray(arr, o)) {
			cJSON_Delete(o);
			arr = NULL;
			break;
		}
		cJSON_AddStringToObject(o, "id", in->id);
		cJSON_AddStringToObject(o, "url", in->url);
		cJSON_AddStringToObject(o, "role", in->leader ? "leader" : "follower");
		api_add_time(o, "last_seen", in->last_seen_ms);
	}
	free(v);
	if (arr == NULL) {
		cJSON_Delete(out);
		http_reply_error(req, 500, "out of memory");
		return;
	}
	http_reply_json(req, 200, out);
}
