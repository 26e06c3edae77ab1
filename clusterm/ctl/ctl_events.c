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
 * --since: "30s", "10m", "2h" or "1d" ago become an RFC 3339 UTC time into
 * buf; an event id ("1234") or a UTC time ("2026-01-02T03:04:05Z", the Z
 * optional) go as written. Anything else: NULL (a usage error).
 */
static const char *
since_value(const char *s, char *buf, size_t len)
{
	char *end;
	long long v;
	long long mult;
	time_t t;
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end != NULL && (end[0] == '\0' || (end[0] == 'Z' && end[1] == '\0')))
		return s;
	if (s[0] < '0' || s[0] > '9')
		return NULL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return NULL;
	if (end[0] == '\0')
		return s;	/* an event id */
	if (end[1] != '\0' || v > CTL_SINCE_MAX_S)
		return NULL;
	switch (end[0]) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return NULL;
	}
	if (v * mult > CTL_SINCE_MAX_S)
		return NULL;
	t = time(NULL) - (time_t)(v * mult);
	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
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

/* The path of one page: node and since (the user's, then the last id seen). */
static char *
page_path(const struct ctl *c, const char *since)
{
	char *path = strdup("/api/v1/events");
	char lim[16];
	bool first = true;

	snprintf(lim, sizeof(lim), "%d", CTL_EVENTS_PAGE);
	if (path == NULL ||
	    (c->node != NULL && add_query(&path, &first, "node", c->node) < 0) ||
	    (since != NULL && add_query(&path, &first, "since", since) < 0) ||
	    add_query(&path, &first, "limit", lim) < 0) {
		free(path);
		return NULL;
	}
	return path;
}

/*
 * Moves the page's events to the end of all (*nall long), dropping the
 * oldest beyond keep. Returns how many the page held, or -1 when it has no
 * "events" array.
 */
static int
take_page(cJSON *all, long *nall, cJSON *page, long keep)
{
	cJSON *events = cJSON_GetObjectItemCaseSensitive(page, "events");
	int n = 0;

	if (!cJSON_IsArray(events))
		return -1;
	while (events->child != NULL) {
		cJSON_AddItemToArray(all, cJSON_DetachItemFromArray(events, 0));
		n++;
		if (++*nall > keep) {
			cJSON_DeleteItemFromArray(all, 0);
			--*nall;
		}
	}
	return n;
}

/*
 * Reads the event log page by page (since = the last id of the page before)
 * and keeps the newest keep events into out's "events", "next" the last id
 * seen. The pages are bounded: the server keeps fewer events than that.
 */
static enum ctl_exit
fetch_newest(struct ctl *c, const char *since, long keep, cJSON *out)
{
	cJSON *all = cJSON_AddArrayToObject(out, "events");
	char cursor[32];
	double next = 0;
	long nall = 0;

	for (int page = 0; all != NULL && page < CTL_EVENTS_MAX_PAGES; page++) {
		struct ctl_reply r = { 0 };
		char *path = page_path(c, since);
		const cJSON *nx;
		double prev = next;
		enum ctl_exit x;
		int n;

		if (path == NULL)
			return ctl_util_oom();
		x = ctl_request(c, "GET", path, NULL, &r);
		free(path);
		if (x != CTL_EXIT_OK)
			return x;
		n = take_page(all, &nall, r.json, keep);
		nx = cJSON_GetObjectItemCaseSensitive(r.json, "next");
		if (cJSON_IsNumber(nx) && nx->valuedouble > next)
			next = nx->valuedouble;
		ctl_reply_finish(&r);
		if (n < 0) {
			ctl_err("unexpected reply from clusterm (no \"events\" array)");
			return CTL_EXIT_REFUSED;
		}
		if (n < CTL_EVENTS_PAGE || next <= prev)
			break;
		snprintf(cursor, sizeof(cursor), "%.0f", next);
		since = cursor;
	}
	if (all == NULL || cJSON_AddNumberToObject(out, "next", next) == NULL)
		return ctl_util_oom();
	return CTL_EXIT_OK;
}

enum ctl_exit
ctl_events_list(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "TIME", "NODE", "KIND", "OLD", "NEW",
		"ACTOR", "COMMENT" };
	static const char *const keys[] = { "time", "node", "kind", "old", "new",
		"actor", "comment" };
	char since_buf[32];
	const char *since = NULL;
	long keep = CTL_EVENTS_DEFAULT;
	cJSON *out;
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	if (c->limit != NULL) {
		char *end;
		errno = 0;
		keep = strtol(c->limit, &end, 10);
		if (errno != 0 || end == c->limit || *end != '\0' || keep <= 0 ||
		    keep > CTL_EVENTS_LIMIT_MAX) {
			ctl_err("--limit must be a number from 1 to %d, not \"%s\"",
			    CTL_EVENTS_LIMIT_MAX, c->limit);
			return CTL_EXIT_USAGE;
		}
	}
	if (c->since != NULL &&
	    (since = since_value(c->since, since_buf, sizeof(since_buf))) == NULL) {
		ctl_err("--since takes a time ago (30s, 10m, 2h, 1d), a UTC time "
		    "(2026-01-02T03:04:05Z) or an event id (1234), not \"%s\"", c->since);
		return CTL_EXIT_USAGE;
	}
	out = cJSON_CreateObject();
	if (out == NULL)
		return ctl_util_oom();
	x = fetch_newest(c, since, keep, out);
	if (x != CTL_EXIT_OK)
		goto done;
	if (c->json) {
		char *text = cJSON_PrintUnformatted(out);
		if (text == NULL) {
			x = ctl_util_oom();
			goto done;
		}
		printf("%s\n", text);
		free(text);
	} else if (ctl_print_objects(stdout, cJSON_GetObjectItemCaseSensitive(out, "events"),
	    hdr, keys, 7) < 0) {
		x = ctl_util_oom();
	}
done:
	cJSON_Delete(out);
	return x;
}
