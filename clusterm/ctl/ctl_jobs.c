/* The job commands: job get (contiv's), job log, job cancel and jobs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl_http.h"
#include "ctl_jobs.h"
#include "ctl_print.h"
#include "ctl_util.h"

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

enum ctl_exit
ctl_jobs_get(struct ctl *c, char **args, int nargs)
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

enum ctl_exit
ctl_jobs_log(struct ctl *c, char **args, int nargs)
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

enum ctl_exit
ctl_jobs_cancel(struct ctl *c, char **args, int nargs)
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

enum ctl_exit
ctl_jobs_list(struct ctl *c, char **args, int nargs)
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
		x = ctl_util_oom();
out:
	ctl_reply_finish(&r);
	return x;
}
