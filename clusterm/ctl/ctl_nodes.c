/*
 * The node commands: contiv's lifecycle requests (commission, decommission,
 * update, discover) and the node views (nodes get, node get, node votes).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cm_limits.h"
#include "ctl_http.h"
#include "ctl_nodes.h"
#include "ctl_print.h"
#include "ctl_util.h"

/* Builds prefix + escaped(name) + suffix into a malloc'd path; NULL on out-of-memory. */
static char *
path_with(const char *prefix, const char *name, const char *suffix)
{
	char *p = strdup(prefix);
	char *q;
	size_t n;

	if (p == NULL || ctl_append_escaped(&p, name) < 0) {
		free(p);
		return NULL;
	}
	n = strlen(p) + strlen(suffix) + 1;
	q = realloc(p, n);
	if (q == NULL) {
		free(p);
		return NULL;
	}
	memcpy(q + strlen(q), suffix, strlen(suffix) + 1);
	return q;
}

/* "node1, node2" for messages, into buf. */
static const char *
list_names(char **names, int n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
		if (w < 0 || (size_t)w >= len - used) {
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			break;
		}
		used += (size_t)w;
	}
	return buf;
}

/*
 * The contiv lifecycle request: POST path with {"nodes"|"addrs": [...],
 * "host_group", "extra_vars"}, then "job N queued" (or the reply with -j).
 */
static enum ctl_exit
lifecycle(struct ctl *c, const char *path, const char *what, const char *key,
    char **items, int n)
{
	cJSON *body = cJSON_CreateObject(), *arr;
	struct ctl_reply r = { 0 };
	const cJSON *id;
	enum ctl_exit x;
	char names[512];

	if (c->extra_vars != NULL && ctl_util_check_extra_vars(c->extra_vars) < 0) {
		cJSON_Delete(body);
		return CTL_EXIT_USAGE;
	}
	arr = body != NULL ? cJSON_AddArrayToObject(body, key) : NULL;
	for (int i = 0; arr != NULL && i < n; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(items[i])))
			arr = NULL;
	if (arr == NULL ||
	    (c->host_group != NULL && !cJSON_AddStringToObject(body, "host_group", c->host_group)) ||
	    (c->extra_vars != NULL && !cJSON_AddStringToObject(body, "extra_vars", c->extra_vars))) {
		cJSON_Delete(body);
		return ctl_util_oom();
	}
	c->names = items;
	c->nnames = n;
	x = ctl_post_json(c, path, body, &r);
	cJSON_Delete(body);
	if (x != CTL_EXIT_OK)
		return x;
	list_names(items, n, names, sizeof(names));
	id = cJSON_GetObjectItemCaseSensitive(r.json, "job_id");
	if (c->json)
		ctl_print_raw(&r);
	else if (cJSON_IsNumber(id))
		printf("job %.0f queued: %s of %s\n", id->valuedouble, what, names);
	else
		printf("%s of %s requested\n", what, names);
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

enum ctl_exit
ctl_nodes_commission(struct ctl *c, char **args, int nargs)
{
	return lifecycle(c, "/commission/nodes", "commission", "nodes", args, nargs);
}

enum ctl_exit
ctl_nodes_decommission(struct ctl *c, char **args, int nargs)
{
	return lifecycle(c, "/decommission/nodes", "decommission", "nodes", args, nargs);
}

enum ctl_exit
ctl_nodes_update(struct ctl *c, char **args, int nargs)
{
	return lifecycle(c, "/update/nodes", "update", "nodes", args, nargs);
}

/* An address for discover: IPv4, IPv6 or a DNS name. */
static bool
valid_addr(const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];
	size_t n = strlen(a);

	if (inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1)
		return true;
	if (n == 0 || n > LIMIT_ADDR_LEN || a[0] == '-' || a[0] == '.')
		return false;
	for (const char *p = a; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

enum ctl_exit
ctl_nodes_discover(struct ctl *c, char **args, int nargs)
{
	for (int i = 0; i < nargs; i++)
		if (!valid_addr(args[i])) {
			ctl_err("not an IP address or host name: \"%s\"", args[i]);
			return CTL_EXIT_USAGE;
		}
	return lifecycle(c, "/discover/nodes", "discover", "addrs", args, nargs);
}

/* The disruption warning of contract 3.2 rule 5, on stderr so -j output stays clean. */
static void
warn_disruption(const cJSON *reply)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "disruption")))
		ctl_err("warning: clusterm is in disruption mode: many nodes disappeared "
		    "at once, automatic actions are suspended");
}

static const char *
last_job(const cJSON *n, char *buf, size_t len)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(n, "last_job");

	if (cJSON_IsNumber(j) && j->valuedouble <= 0)
		return "-";
	return ctl_cell(n, "last_job", buf, len);
}

/* Whether node n is one of the names asked for (all of them when none is). */
static bool
wanted(const cJSON *n, char **args, int nargs)
{
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(n, "name");
	bool want = nargs == 0;

	for (int i = 0; !want && i < nargs; i++)
		want = cJSON_IsString(nm) && strcmp(nm->valuestring, args[i]) == 0;
	return want;
}

/* Named nodes must all exist, as for "node get": else prints which does not. */
static enum ctl_exit
check_named(const cJSON *nodes, char **args, int nargs)
{
	const cJSON *n;

	for (int i = 0; i < nargs; i++) {
		bool found = false;
		cJSON_ArrayForEach(n, nodes) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(n, "name");
			if (cJSON_IsString(nm) && strcmp(nm->valuestring, args[i]) == 0)
				found = true;
		}
		if (!found) {
			ctl_err("no such node: %s", args[i]);
			return CTL_EXIT_REFUSED;
		}
	}
	return CTL_EXIT_OK;
}

/* -j with names: {"nodes": [the named nodes], "disruption": ...} on one line. */
static enum ctl_exit
print_named_json(const cJSON *reply, const cJSON *nodes, char **args, int nargs)
{
	cJSON *out = cJSON_CreateObject(), *arr;
	const cJSON *n;
	char *text;

	arr = out != NULL ? cJSON_AddArrayToObject(out, "nodes") : NULL;
	if (arr == NULL || !cJSON_AddItemToObject(out, "disruption",
	    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(reply, "disruption"), true))) {
		cJSON_Delete(out);
		return ctl_util_oom();
	}
	cJSON_ArrayForEach(n, nodes) {
		if (!wanted(n, args, nargs))
			continue;
		if (!cJSON_AddItemToArray(arr, cJSON_Duplicate(n, true))) {
			cJSON_Delete(out);
			return ctl_util_oom();
		}
	}
	text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (text == NULL)
		return ctl_util_oom();
	printf("%s\n", text);
	free(text);
	return CTL_EXIT_OK;
}

/*
 * The FLAGS cell (contract section 11): "partitioned", "unreachable", both
 * comma separated, or "" when neither (or the server does not send them).
 */
static const char *
flags(const cJSON *n)
{
	bool p = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "partitioned"));
	bool u = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "unreachable"));

	if (p && u)
		return "partitioned,unreachable";
	return p ? "partitioned" : u ? "unreachable" : "";
}

/* The table of the wanted nodes. */
static enum ctl_exit
print_table(const cJSON *nodes, char **args, int nargs)
{
	static const char *const hdr[] = { "NAME", "STATE", "STATUS", "HOST GROUP",
		"ADDRESS", "LAST JOB", "FLAGS" };
	struct ctl_table *t = ctl_table_new(7, hdr);
	const cJSON *n;

	if (t == NULL)
		return ctl_util_oom();
	cJSON_ArrayForEach(n, nodes) {
		char b[6][128];
		const char *row[7];

		if (!wanted(n, args, nargs))
			continue;
		row[0] = ctl_cell(n, "name", b[0], sizeof(b[0]));
		row[1] = ctl_cell(n, "state", b[1], sizeof(b[1]));
		row[2] = ctl_cell(n, "status", b[2], sizeof(b[2]));
		row[3] = ctl_cell(n, "host_group", b[3], sizeof(b[3]));
		row[4] = ctl_cell(n, "address", b[4], sizeof(b[4]));
		row[5] = last_job(n, b[5], sizeof(b[5]));
		row[6] = flags(n);
		if (ctl_table_add(t, row) < 0) {
			ctl_table_free(t);
			return ctl_util_oom();
		}
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return CTL_EXIT_OK;
}

enum ctl_exit
ctl_nodes_get(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	const cJSON *nodes;
	enum ctl_exit x;

	x = ctl_request(c, "GET", "/api/v1/nodes", NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	nodes = cJSON_GetObjectItemCaseSensitive(r.json, "nodes");
	if (!cJSON_IsArray(nodes)) {
		ctl_err("unexpected reply from clusterm (no \"nodes\" array)");
		x = CTL_EXIT_REFUSED;
		goto out;
	}
	x = check_named(nodes, args, nargs);
	if (x != CTL_EXIT_OK)
		goto out;
	warn_disruption(r.json);
	if (c->json && nargs == 0)
		ctl_print_raw(&r);
	else if (c->json)
		x = print_named_json(r.json, nodes, args, nargs);
	else
		x = print_table(nodes, args, nargs);
out:
	ctl_reply_finish(&r);
	return x;
}

/* GET /api/v1/nodes/{name} into r. */
static enum ctl_exit
get_node(struct ctl *c, const char *name, struct ctl_reply *r)
{
	char *path = path_with("/api/v1/nodes/", name, "");
	enum ctl_exit x;

	if (path == NULL)
		return ctl_util_oom();
	c->names = (char *const *)&name;
	c->nnames = 1;
	x = ctl_request(c, "GET", path, NULL, r);
	c->names = NULL;	/* &name does not outlive this call */
	c->nnames = 0;
	free(path);
	if (x == CTL_EXIT_OK && !cJSON_IsObject(r->json)) {
		ctl_err("unexpected reply from clusterm (not a JSON object)");
		ctl_reply_finish(r);
		return CTL_EXIT_REFUSED;
	}
	return x;
}

static void
field(const char *label, const char *value)
{
	printf("%-14s%s\n", label, value);
}

enum ctl_exit
ctl_nodes_node_get(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	const cJSON *n, *tags, *tag, *votes, *v;
	char b[3][256], line[1024];
	enum ctl_exit x;
	int counted = 0, nv = 0;

	(void)nargs;
	x = get_node(c, args[0], &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json) {
		ctl_print_raw(&r);
		goto out;
	}
	n = r.json;
	field("name:", ctl_cell(n, "name", b[0], sizeof(b[0])));
	field("label:", ctl_cell(n, "label", b[0], sizeof(b[0])));
	field("serial:", ctl_cell(n, "serial", b[0], sizeof(b[0])));
	field("address:", ctl_cell(n, "address", b[0], sizeof(b[0])));
	field("member:", ctl_cell(n, "member", b[0], sizeof(b[0])));
	field("role:", ctl_cell(n, "role", b[0], sizeof(b[0])));
	snprintf(line, sizeof(line), "%s (was %s, since %s)",
	    ctl_cell(n, "state", b[0], sizeof(b[0])),
	    ctl_cell(n, "prev_state", b[1], sizeof(b[1])),
	    ctl_cell(n, "state_changed", b[2], sizeof(b[2])));
	field("state:", line);
	snprintf(line, sizeof(line), "%s (was %s)",
	    ctl_cell(n, "status", b[0], sizeof(b[0])),
	    ctl_cell(n, "prev_status", b[1], sizeof(b[1])));
	field("status:", line);
	field("host group:", ctl_cell(n, "host_group", b[0], sizeof(b[0])));
	field("last job:", last_job(n, b[0], sizeof(b[0])));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(n, "gone_since")))
		field("gone since:", ctl_cell(n, "gone_since", b[0], sizeof(b[0])));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(n, "grace_ends")))
		field("grace ends:", ctl_cell(n, "grace_ends", b[0], sizeof(b[0])));
	votes = cJSON_GetObjectItemCaseSensitive(n, "votes");
	cJSON_ArrayForEach(v, votes) {
		nv++;
		counted += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "counted"));
	}
	snprintf(line, sizeof(line), "%d (%d counted; \"clusterctl node votes %s\" lists them)",
	    nv, counted, args[0]);
	field("votes:", line);
	tags = cJSON_GetObjectItemCaseSensitive(n, "tags");
	if (cJSON_GetArraySize(tags) == 0)
		field("tags:", "-");
	else
		printf("tags:\n");
	cJSON_ArrayForEach(tag, tags)
		if (cJSON_IsString(tag))
			printf("    %s=%s\n", tag->string, tag->valuestring);
out:
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

enum ctl_exit
ctl_nodes_votes(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "REPORTER", "VOTE", "SEQ", "RECEIVED",
		"COUNTED", "SELF" };
	static const char *const keys[] = { "reporter", "vote", "seq", "received",
		"counted", "self" };
	struct ctl_reply r = { 0 };
	const cJSON *votes;
	char b[1][128];
	enum ctl_exit x;

	(void)nargs;
	x = get_node(c, args[0], &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json) {
		ctl_print_raw(&r);
		goto out;
	}
	printf("%s: %s", args[0], ctl_cell(r.json, "state", b[0], sizeof(b[0])));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r.json, "gone_since")))
		printf(", gone votes since %s", ctl_cell(r.json, "gone_since", b[0], sizeof(b[0])));
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r.json, "grace_ends")))
		printf(", grace ends %s", ctl_cell(r.json, "grace_ends", b[0], sizeof(b[0])));
	printf("\n");
	votes = cJSON_GetObjectItemCaseSensitive(r.json, "votes");
	if (cJSON_GetArraySize(votes) == 0) {
		printf("no votes\n");
		goto out;
	}
	if (ctl_print_objects(stdout, votes, hdr, keys, 6) < 0)
		x = ctl_util_oom();
out:
	ctl_reply_finish(&r);
	return x;
}

enum ctl_exit
ctl_nodes_forget(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	char *path = path_with("/api/v1/nodes/", args[0], "");
	enum ctl_exit x;

	(void)nargs;
	if (path == NULL)
		return ctl_util_oom();
	c->names = args;
	c->nnames = 1;
	x = ctl_request(c, "DELETE", path, NULL, &r);
	free(path);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json)
		ctl_print_raw(&r);
	else
		printf("forgot %s\n", args[0]);
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}
