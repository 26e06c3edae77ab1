/*
 * clusterctl's commands: contiv's tree (node, nodes, global, job, discover,
 * config) and the additions (node votes, jobs, job log/cancel, events).
 * Each command returns an exit status; the server's errors are printed by
 * ctl_http.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_limits.h"
#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ctl_print.h"

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

static enum ctl_exit
oom(void)
{
	ctl_err("out of memory");
	return CTL_EXIT_USAGE;
}

/* A job id argument: a positive decimal number. */
static int
parse_id(const char *s, unsigned long long *ret)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * Checks -e: it must be a JSON object (ansible extra-vars). On failure
 * prints why; the caller exits with a usage error.
 */
static int
check_extra_vars(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	bool ok = cJSON_IsObject(j);

	cJSON_Delete(j);
	if (!ok) {
		ctl_err("-e/--extra-vars must be a JSON object, e.g. '{\"key\":\"value\"}'");
		return -EINVAL;
	}
	return 0;
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

	if (c->extra_vars != NULL && check_extra_vars(c->extra_vars) < 0) {
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
		return oom();
	}
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

static enum ctl_exit
cmd_commission(struct ctl *c, char **args, int nargs)
{
	return lifecycle(c, "/commission/nodes", "commission", "nodes", args, nargs);
}

static enum ctl_exit
cmd_decommission(struct ctl *c, char **args, int nargs)
{
	return lifecycle(c, "/decommission/nodes", "decommission", "nodes", args, nargs);
}

static enum ctl_exit
cmd_update(struct ctl *c, char **args, int nargs)
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

static enum ctl_exit
cmd_discover(struct ctl *c, char **args, int nargs)
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

static enum ctl_exit
cmd_nodes_get(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "NAME", "STATE", "STATUS", "HOST GROUP",
		"ADDRESS", "LAST JOB" };
	struct ctl_reply r = { 0 };
	struct ctl_table *t = NULL;
	const cJSON *nodes, *n;
	enum ctl_exit x;
	cJSON *out = NULL, *arr = NULL;

	x = ctl_request(c, "GET", "/api/v1/nodes", NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	nodes = cJSON_GetObjectItemCaseSensitive(r.json, "nodes");
	if (!cJSON_IsArray(nodes)) {
		ctl_err("unexpected reply from clusterm (no \"nodes\" array)");
		x = CTL_EXIT_REFUSED;
		goto out;
	}
	/* Named nodes must all exist, as for "node get". */
	for (int i = 0; i < nargs; i++) {
		bool found = false;
		cJSON_ArrayForEach(n, nodes) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(n, "name");
			if (cJSON_IsString(nm) && strcmp(nm->valuestring, args[i]) == 0)
				found = true;
		}
		if (!found) {
			ctl_err("no such node: %s", args[i]);
			x = CTL_EXIT_REFUSED;
			goto out;
		}
	}
	warn_disruption(r.json);
	if (c->json && nargs == 0) {
		ctl_print_raw(&r);
		goto out;
	}
	if (c->json) {
		out = cJSON_CreateObject();
		arr = out != NULL ? cJSON_AddArrayToObject(out, "nodes") : NULL;
		if (arr == NULL || !cJSON_AddItemToObject(out, "disruption",
		    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(r.json, "disruption"), true))) {
			x = oom();
			goto out;
		}
	} else if ((t = ctl_table_new(6, hdr)) == NULL) {
		x = oom();
		goto out;
	}
	cJSON_ArrayForEach(n, nodes) {
		char b[6][128];
		const char *row[6];
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(n, "name");
		bool want = nargs == 0;

		for (int i = 0; !want && i < nargs; i++)
			want = cJSON_IsString(nm) && strcmp(nm->valuestring, args[i]) == 0;
		if (!want)
			continue;
		if (arr != NULL) {
			if (!cJSON_AddItemToArray(arr, cJSON_Duplicate(n, true))) {
				x = oom();
				goto out;
			}
			continue;
		}
		row[0] = ctl_cell(n, "name", b[0], sizeof(b[0]));
		row[1] = ctl_cell(n, "state", b[1], sizeof(b[1]));
		row[2] = ctl_cell(n, "status", b[2], sizeof(b[2]));
		row[3] = ctl_cell(n, "host_group", b[3], sizeof(b[3]));
		row[4] = ctl_cell(n, "address", b[4], sizeof(b[4]));
		row[5] = last_job(n, b[5], sizeof(b[5]));
		if (ctl_table_add(t, row) < 0) {
			x = oom();
			goto out;
		}
	}
	if (out != NULL) {
		char *text = cJSON_PrintUnformatted(out);
		if (text == NULL) {
			x = oom();
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		ctl_table_print(t, stdout);
	}
out:
	cJSON_Delete(out);
	ctl_table_free(t);
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
		return oom();
	x = ctl_request(c, "GET", path, NULL, r);
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

static enum ctl_exit
cmd_node_get(struct ctl *c, char **args, int nargs)
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

static enum ctl_exit
cmd_node_votes(struct ctl *c, char **args, int nargs)
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
		x = oom();
out:
	ctl_reply_finish(&r);
	return x;
}

/* GET of a contiv info path, printed as "key: value" lines or raw with -j. */
static enum ctl_exit
get_tree(struct ctl *c, const char *path)
{
	struct ctl_reply r = { 0 };
	enum ctl_exit x = ctl_request(c, "GET", path, NULL, &r);

	if (x != CTL_EXIT_OK)
		return x;
	if (c->json || r.json == NULL)
		ctl_print_raw(&r);
	else
		ctl_print_tree(stdout, r.json, 0);
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

static enum ctl_exit
cmd_global_get(struct ctl *c, char **args, int nargs)
{
	(void)args;
	(void)nargs;
	return get_tree(c, "/info/globals");
}

static enum ctl_exit
cmd_global_set(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	cJSON *body;
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	if (c->extra_vars == NULL) {
		ctl_err("global set needs -e/--extra-vars JSON (use -e '{}' to clear the globals)");
		return CTL_EXIT_USAGE;
	}
	if (check_extra_vars(c->extra_vars) < 0)
		return CTL_EXIT_USAGE;
	body = cJSON_CreateObject();
	if (body == NULL || !cJSON_AddStringToObject(body, "extra_vars", c->extra_vars)) {
		cJSON_Delete(body);
		return oom();
	}
	x = ctl_post_json(c, "/globals", body, &r);
	cJSON_Delete(body);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json)
		ctl_print_raw(&r);
	else
		printf("globals set\n");
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

static enum ctl_exit
cmd_job_get(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	const cJSON *logs, *l;
	char b[256], path[64];
	enum ctl_exit x;

	(void)nargs;
	if (strcmp(args[0], "active") != 0 && strcmp(args[0], "last") != 0) {
		ctl_err("job get expects \"active\" or \"last\", not \"%s\" "
		    "(\"clusterctl job log ID\" shows a job by number)", args[0]);
		return CTL_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/info/job/%s", args[0]);
	x = ctl_request(c, "GET", path, NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json || !cJSON_IsObject(r.json)) {
		ctl_print_raw(&r);
	} else {
		printf("Description: %s\n", ctl_cell(r.json, "desc", b, sizeof(b)));
		printf("Status: %s\n", ctl_cell(r.json, "status", b, sizeof(b)));
		printf("Error: %s\n", ctl_cell(r.json, "error", b, sizeof(b)));
		printf("Logs:\n");
		logs = cJSON_GetObjectItemCaseSensitive(r.json, "logs");
		if (!c->follow)
			cJSON_ArrayForEach(l, logs)
				if (cJSON_IsString(l))
					printf("    %s\n", l->valuestring);
	}
	ctl_reply_finish(&r);
	if (!c->follow)
		return CTL_EXIT_OK;
	fflush(stdout);
	snprintf(path, sizeof(path), "/info/logs/%s", args[0]);
	return ctl_stream(c, path);
}

static enum ctl_exit
cmd_job_log(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	unsigned long long id;
	char path[96];
	enum ctl_exit x;

	(void)nargs;
	if (parse_id(args[0], &id) < 0) {
		ctl_err("not a job id: \"%s\"", args[0]);
		return CTL_EXIT_USAGE;
	}
	if (c->follow) {
		/* Ask first, so an unknown job is refused as such, not streamed. */
		snprintf(path, sizeof(path), "/api/v1/jobs/%llu", id);
		x = ctl_request(c, "GET", path, NULL, &r);
		ctl_reply_finish(&r);
		if (x != CTL_EXIT_OK)
			return x;
		snprintf(path, sizeof(path), "/api/v1/jobs/%llu/log?follow=1", id);
		return ctl_stream(c, path);
	}
	snprintf(path, sizeof(path), "/api/v1/jobs/%llu/log", id);
	x = ctl_request(c, "GET", path, NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (r.len > 0)
		fwrite(r.body, 1, r.len, stdout);
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

static enum ctl_exit
cmd_job_cancel(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	unsigned long long id;
	char path[96];
	enum ctl_exit x;

	(void)nargs;
	if (parse_id(args[0], &id) < 0) {
		ctl_err("not a job id: \"%s\"", args[0]);
		return CTL_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/api/v1/jobs/%llu/cancel", id);
	x = ctl_request(c, "POST", path, "{}", &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json)
		ctl_print_raw(&r);
	else
		printf("job %llu: cancel requested\n", id);
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

static enum ctl_exit
cmd_jobs(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "ID", "OPERATION", "STATUS", "NODES",
		"HOST GROUP", "CREATED", "ENDED", "EXIT", "ERROR" };
	static const char *const keys[] = { "id", "operation", "status", "nodes",
		"host_group", "created", "ended", "exit_code", "error" };
	struct ctl_reply r = { 0 };
	const cJSON *jobs;
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	x = ctl_request(c, "GET", "/api/v1/jobs", NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json) {
		ctl_print_raw(&r);
		goto out;
	}
	jobs = cJSON_GetObjectItemCaseSensitive(r.json, "jobs");
	if (!cJSON_IsArray(jobs)) {
		ctl_err("unexpected reply from clusterm (no \"jobs\" array)");
		x = CTL_EXIT_REFUSED;
		goto out;
	}
	if (ctl_print_objects(stdout, jobs, hdr, keys, 9) < 0)
		x = oom();
out:
	ctl_reply_finish(&r);
	return x;
}

/*
 * --since: "30s", "10m", "2h" or "1d" ago become an RFC 3339 UTC time;
 * anything else goes to the server as written.
 */
static const char *
since_value(const char *s, char *buf, size_t len)
{
	char *end;
	long long v;
	long long mult;
	time_t t;
	struct tm tm;

	if (s[0] < '0' || s[0] > '9')
		return s;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end[0] == '\0' || end[1] != '\0' || v > 100LL * 365 * 86400)
		return s;
	switch (end[0]) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return s;
	}
	t = time(NULL) - (time_t)(v * mult);
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return s;
	return buf;
}

/* Appends "&key=escaped(value)" (the first one with '?') to *path. */
static int
add_query(char **path, bool *first, const char *key, const char *value)
{
	size_t n = strlen(*path), k = strlen(key);
	char *p = realloc(*path, n + k + 3);

	if (p == NULL)
		return -ENOMEM;
	p[n] = *first ? '?' : '&';
	memcpy(p + n + 1, key, k);
	p[n + 1 + k] = '=';
	p[n + 2 + k] = '\0';
	*path = p;
	*first = false;
	return ctl_append_escaped(path, value);
}

static enum ctl_exit
cmd_events(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "TIME", "NODE", "KIND", "OLD", "NEW",
		"ACTOR", "COMMENT" };
	static const char *const keys[] = { "time", "node", "kind", "old", "new",
		"actor", "comment" };
	struct ctl_reply r = { 0 };
	const cJSON *events;
	char since[32];
	char *path = strdup("/api/v1/events");
	bool first = true;
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	if (c->limit != NULL) {
		char *end;
		long v;
		errno = 0;
		v = strtol(c->limit, &end, 10);
		if (errno != 0 || end == c->limit || *end != '\0' || v <= 0) {
			ctl_err("--limit must be a positive number, not \"%s\"", c->limit);
			free(path);
			return CTL_EXIT_USAGE;
		}
	}
	if (path == NULL ||
	    (c->node != NULL && add_query(&path, &first, "node", c->node) < 0) ||
	    (c->since != NULL && add_query(&path, &first, "since",
	    since_value(c->since, since, sizeof(since))) < 0) ||
	    (c->limit != NULL && add_query(&path, &first, "limit", c->limit) < 0)) {
		free(path);
		return oom();
	}
	x = ctl_request(c, "GET", path, NULL, &r);
	free(path);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json) {
		ctl_print_raw(&r);
		goto out;
	}
	events = cJSON_GetObjectItemCaseSensitive(r.json, "events");
	if (!cJSON_IsArray(events)) {
		ctl_err("unexpected reply from clusterm (no \"events\" array)");
		x = CTL_EXIT_REFUSED;
		goto out;
	}
	if (ctl_print_objects(stdout, events, hdr, keys, 7) < 0)
		x = oom();
out:
	ctl_reply_finish(&r);
	return x;
}

static enum ctl_exit
cmd_config_get(struct ctl *c, char **args, int nargs)
{
	(void)args;
	(void)nargs;
	return get_tree(c, "/config");
}

/* Reads a whole file ("-": stdin) of at most LIMIT_CONFIG_BYTES into a malloc'd string. */
static int
read_input(const char *path, char **ret)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t len = 0, cap = 4096;
	char *buf;
	int r = 0;

	if (f == NULL)
		return -errno;
	buf = malloc(cap);
	while (buf != NULL) {
		size_t n;
		if (len + 1 == cap) {
			char *b;
			if (cap > LIMIT_CONFIG_BYTES) {
				r = -EFBIG;
				break;
			}
			b = realloc(buf, cap * 2);
			if (b == NULL)
				break;
			buf = b;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - 1 - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL || (r == 0 && len + 1 > cap)) {
		free(buf);
		return -ENOMEM;
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

static enum ctl_exit
cmd_config_set(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	cJSON *conf, *body;
	char *text = NULL;
	enum ctl_exit x;
	int rc;

	(void)nargs;
	rc = read_input(args[0], &text);
	if (rc < 0) {
		ctl_err("%s: %s", args[0], strerror(-rc));
		return CTL_EXIT_USAGE;
	}
	conf = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(conf)) {
		ctl_err("%s: not a JSON object", args[0]);
		cJSON_Delete(conf);
		return CTL_EXIT_USAGE;
	}
	/*
	 * The file goes as it is: clusterm.conf's shape ({"ansible": {...}}, what
	 * "config get" prints), or contiv's {"config": {...}} as its clusterctl sent.
	 */
	body = conf;
	x = ctl_post_json(c, "/config", body, &r);
	cJSON_Delete(body);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json)
		ctl_print_raw(&r);
	else
		printf("configuration set\n");
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

#define LIFECYCLE_OPTS (CTL_OPT_EXTRA_VARS | CTL_OPT_HOST_GROUP)

const struct ctl_cmd ctl_cmds[] = {
	{ "node", "n", "commission", "c", 1, 1, LIFECYCLE_OPTS, cmd_commission },
	{ "node", "n", "decommission", "d", 1, 1, CTL_OPT_EXTRA_VARS, cmd_decommission },
	{ "node", "n", "update", "u", 1, 1, LIFECYCLE_OPTS, cmd_update },
	{ "node", "n", "get", "g", 1, 1, 0, cmd_node_get },
	{ "node", "n", "votes", NULL, 1, 1, 0, cmd_node_votes },
	{ "nodes", "a", "commission", "c", 1, -1, LIFECYCLE_OPTS, cmd_commission },
	{ "nodes", "a", "decommission", "d", 1, -1, CTL_OPT_EXTRA_VARS, cmd_decommission },
	{ "nodes", "a", "update", "u", 1, -1, LIFECYCLE_OPTS, cmd_update },
	{ "nodes", "a", "get", "g", 0, -1, 0, cmd_nodes_get },
	{ "global", "g", "get", "g", 0, 0, 0, cmd_global_get },
	{ "global", "g", "set", "s", 0, 0, CTL_OPT_EXTRA_VARS, cmd_global_set },
	{ "job", "j", "get", "g", 1, 1, CTL_OPT_FOLLOW, cmd_job_get },
	{ "job", "j", "log", NULL, 1, 1, CTL_OPT_FOLLOW, cmd_job_log },
	{ "job", "j", "cancel", NULL, 1, 1, 0, cmd_job_cancel },
	{ "jobs", NULL, NULL, NULL, 0, 0, 0, cmd_jobs },
	{ "events", NULL, NULL, NULL, 0, 0, CTL_OPT_NODE | CTL_OPT_SINCE | CTL_OPT_LIMIT,
	    cmd_events },
	{ "discover", "d", NULL, NULL, 1, -1, CTL_OPT_EXTRA_VARS, cmd_discover },
	{ "config", "c", "get", "g", 0, 0, 0, cmd_config_get },
	{ "config", "c", "set", "s", 1, 1, 0, cmd_config_set },
};

const size_t ctl_ncmds = sizeof(ctl_cmds) / sizeof(ctl_cmds[0]);
