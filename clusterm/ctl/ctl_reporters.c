/*
 * The reporters command: what clusterm knows of each serf-forwarder that
 * reports to it (contract section 11), times shown as "3s ago".
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl_http.h"
#include "ctl_print.h"
#include "ctl_reporters.h"
#include "ctl_util.h"

const char *
ctl_reporters_ago(const char *s, time_t now, char *buf, size_t len)
{
	struct tm tm;
	const char *end;
	long long d;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end != NULL && end[0] == '.')
		end += 1 + strspn(end + 1, "0123456789");
	if (end == NULL || end[0] != 'Z' || end[1] != '\0') {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	d = (long long)now - (long long)timegm(&tm);
	if (d < 0)
		d = 0;	/* the clocks differ a little */
	if (d < 60)
		snprintf(buf, len, "%llds ago", d);
	else if (d < 3600)
		snprintf(buf, len, "%lldm ago", d / 60);
	else if (d < 86400)
		snprintf(buf, len, "%lldh ago", d / 3600);
	else
		snprintf(buf, len, "%lldd ago", d / 86400);
	return buf;
}

/* A time cell: relative when it is a string, "-" when null or missing. */
static const char *
time_cell(const cJSON *o, const char *key, time_t now, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
		return "-";
	return ctl_reporters_ago(v->valuestring, now, buf, len);
}

enum ctl_exit
ctl_reporters_list(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "NAME", "EPOCH", "SEQ", "LAST-HEARD",
		"LAST-SYNC", "BATCHES", "REPORTS", "SPOOL", "STALE" };
	static const char *const keys[] = { "name", "epoch", "last_seq", NULL, NULL,
		"batches", "reports", "spool_depth", "stale" };
	struct ctl_reply r = { 0 };
	struct ctl_table *t = NULL;
	const cJSON *reps, *o;
	time_t now = time(NULL);
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	x = ctl_request(c, "GET", "/api/v1/reporters", NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json) {
		ctl_print_raw(&r);
		goto out;
	}
	reps = cJSON_GetObjectItemCaseSensitive(r.json, "reporters");
	if (!cJSON_IsArray(reps)) {
		ctl_err("unexpected reply from clusterm (no \"reporters\" array)");
		x = CTL_EXIT_REFUSED;
		goto out;
	}
	t = ctl_table_new(9, hdr);
	if (t == NULL) {
		x = ctl_util_oom();
		goto out;
	}
	cJSON_ArrayForEach(o, reps) {
		char b[9][128];
		const char *row[9];

		for (size_t i = 0; i < 9; i++)
			row[i] = keys[i] != NULL ? ctl_cell(o, keys[i], b[i], sizeof(b[i])) : NULL;
		row[3] = time_cell(o, "last_heard", now, b[3], sizeof(b[3]));
		row[4] = time_cell(o, "last_sync", now, b[4], sizeof(b[4]));
		if (ctl_table_add(t, row) < 0) {
			x = ctl_util_oom();
			goto out;
		}
	}
	ctl_table_print(t, stdout);
out:
	ctl_table_free(t);
	ctl_reply_finish(&r);
	return x;
}
