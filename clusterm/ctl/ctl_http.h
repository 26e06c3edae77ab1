/* clusterctl's requests to clusterm (httpc inside); failures are printed here. */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ctl.h"

/*
 * A reply: status and body. ctl_request() returns CTL_EXIT_OK when a 2xx
 * reply arrived (ret filled, caller frees with ctl_reply_finish), else prints
 * why on stderr and returns CTL_EXIT_REFUSED or CTL_EXIT_UNREACHABLE.
 * body may be NULL (no request body).
 */
struct ctl_reply {
	long status;
	char *body;
	size_t len;
	cJSON *json;			/* parsed body when it is JSON, else NULL */
};

enum ctl_exit ctl_request(struct ctl *c, const char *method, const char *path,
    const char *body, struct ctl_reply *ret);
void ctl_reply_finish(struct ctl_reply *r);

/* GET with the body streamed to stdout as it arrives (log following). */
enum ctl_exit ctl_stream(struct ctl *c, const char *path);

/* POST of a JSON tree (not consumed). */
enum ctl_exit ctl_post_json(struct ctl *c, const char *path, const cJSON *body,
    struct ctl_reply *ret);

/* Appends the percent-encoded s to the malloc'd *buf. 0 or -ENOMEM. */
int ctl_append_escaped(char **buf, const char *s);

/* Prints "clusterctl: <message>" on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
