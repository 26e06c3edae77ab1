/* JSON shapes shared by the API modules: times, audit events, nodes, actors. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api_json.h"
#include "intake.h"
#include "votes.h"

/* Audit events shown with a node (GET /api/v1/nodes/{name}). */
#define NODE_HISTORY	20

void
api_time(long long ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
api_add_time(cJSON *o, const char *key, long long ms)
{
	char buf[32];

	if (ms <= 0) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	api_time(ms, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

cJSON *
api_event_json(const struct audit_event *e)
{
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)e->id);
	api_add_time(o, "time", e->time_ms);
	cJSON_AddStringToObject(o, "node", e->node);
	cJSON_AddStringToObject(o, "kind", e->kind);
	cJSON_AddStringToObject(o, "old", e->old_val);
	cJSON_AddStringToObject(o, "new", e->new_val);
	cJSON_AddStringToObject(o, "actor", e->actor);
	cJSON_AddStringToObject(o, "comment", e->comment);
	return o;
}

static void
add_opt(cJSON *o, const char *key, const char *v)
{
	cJSON_AddStringToObject(o, key, v != NULL ? v : "");
}

/* The node's newest audit events, oldest first: why it is as it is. */
static void
add_history(cJSON *o, struct state *s, const char *name)
{
	size_t idx[NODE_HISTORY], n = 0;
	cJSON *arr = cJSON_AddArrayToObject(o, "history");

	for (size_t i = state_nevents(s); arr != NULL && i-- > 0 && n < NODE_HISTORY;)
		if (strcmp(state_event_at(s, i)->node, name) == 0)
			idx[n++] = i;
	while (arr != NULL && n-- > 0) {
		const struct audit_event *e = state_event_at(s, idx[n]);
		cJSON *h = cJSON_CreateObject();
		if (h == NULL || !cJSON_AddItemToArray(arr, h)) {
			cJSON_Delete(h);
			return;
		}
		api_add_time(h, "time", e->time_ms);
		cJSON_AddStringToObject(h, "kind", e->kind);
		cJSON_AddStringToObject(h, "old", e->old_val);
		cJSON_AddStringToObject(h, "new", e->new_val);
		cJSON_AddStringToObject(h, "actor", e->actor);
		cJSON_AddStringToObject(h, "comment", e->comment);
	}
}

cJSON *
api_node_json(struct state *s, const struct node *n, bool detail)
{
	cJSON *o = cJSON_CreateObject(), *tags, *votes;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", n->name);
	add_opt(o, "label", n->rep.label);
	add_opt(o, "serial", n->rep.serial);
	add_opt(o, "address", n->rep.addr);
	add_opt(o, "member", n->rep.name);
	add_opt(o, "role", n->rep.role);
	add_opt(o, "last_event", n->rep.event);
	cJSON_AddStringToObject(o, "state", mon_state_name(n->state));
	cJSON_AddStringToObject(o, "prev_state", mon_state_name(n->prev_state));
	/* CONTRACT 11: gone-voted but heard from itself; voted alive but silent. */
	cJSON_AddBoolToObject(o, "partitioned", n->partitioned);
	cJSON_AddBoolToObject(o, "unreachable", n->unreachable);
	cJSON_AddStringToObject(o, "status", node_status_name(n->status));
	cJSON_AddStringToObject(o, "prev_status", node_status_name(n->prev_status));
	cJSON_AddStringToObject(o, "host_group", n->host_group ? n->host_group : "");
	api_add_time(o, "state_changed", n->state_ms);
	cJSON_AddNumberToObject(o, "last_job", (double)n->last_job);
	/* The counted votes, as votes_evaluate() counts them: its own only when alone. */
	if (n->oth_alive + n->oth_gone > 0) {
		cJSON_AddNumberToObject(o, "alive_votes", n->oth_alive);
		cJSON_AddNumberToObject(o, "gone_votes", n->oth_gone);
	} else {
		cJSON_AddNumberToObject(o, "alive_votes", n->self_kind == VOTE_ALIVE);
		cJSON_AddNumberToObject(o, "gone_votes", n->self_kind == VOTE_GONE);
	}
	tags = cJSON_AddObjectToObject(o, "tags");
	for (size_t i = 0; tags != NULL && i < n->rep.ntags; i++)
		cJSON_AddStringToObject(tags, n->rep.tags[i].key, n->rep.tags[i].value);
	if (!detail)
		return o;

	api_add_time(o, "gone_since", n->gone_since_ms);
	if (n->gone_since_ms > 0 && n->state != MON_DISAPPEARED)
		api_add_time(o, "grace_ends", n->gone_since_ms + state_params(s)->grace_ms);
	add_history(o, s, n->name);
	votes = cJSON_AddArrayToObject(o, "votes");
	for (uint32_t i = 0; votes != NULL && i < n->votes.cap; i++) {
		const struct vote *v = &n->votes.slots[i];
		cJSON *vo;
		if (v->rid == VOTE_NO_REPORTER || v->kind == VOTE_NONE || v->rid >= state_nreporters(s))
			continue;
		vo = cJSON_CreateObject();
		if (vo == NULL || !cJSON_AddItemToArray(votes, vo)) {
			cJSON_Delete(vo);
			break;
		}
		cJSON_AddStringToObject(vo, "reporter", state_reporter_name(s, v->rid));
		cJSON_AddStringToObject(vo, "vote", v->kind == VOTE_ALIVE ? "alive" : "gone");
		cJSON_AddNumberToObject(vo, "seq", (double)v->seq);
		api_add_time(vo, "received", v->received_ms);
		cJSON_AddBoolToObject(vo, "counted", intake_vote_counted(s, n, v));
		cJSON_AddBoolToObject(vo, "self", v->rid == n->self_rid);
	}
	return o;
}

const char *
api_actor(struct http_req *req)
{
	return req->token_name[0] != '\0' ? req->token_name : req->remote;
}
