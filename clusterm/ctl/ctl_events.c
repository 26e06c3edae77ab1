/* The events command: the event log, filtered by node, time and count. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl_events.h"
#include "ctl_http.h"
#include "ctl_print.h"
#include "ctl_util.h"

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

enum ctl_exit
ctl_events_list(struct ctl *c, char **args, int nargs)
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
		return ctl_util_oom();
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
		x = ctl_util_oom();
out:
	ctl_reply_finish(&r);
	return x;
}
