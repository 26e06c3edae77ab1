/*
 * JSON <-> reports for every body form clusterm accepts. cJSON stays inside
 * this module: callers see reports and strings only.
 */
#ifndef REPORT_JSON_H
#define REPORT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "report.h"

enum report_form {
	REPORT_FORM_ARRAY,	/* [ {report}, ... ] (the seed body) */
	REPORT_FORM_SINGLE,	/* { report } */
	REPORT_FORM_CONTIV,	/* {"monitor_event":{"name":..,"nodes":[{label,serial,addr}]}}; */
				/* name in any case, "nodes": null is an empty batch */
	REPORT_FORM_SNAPSHOT,	/* {"members":[{report + Serf-Status}]} */
};

enum report_kind {
	REPORT_KIND_NONE,
	REPORT_KIND_DISCOVERED,
	REPORT_KIND_DISAPPEARED,
};

/* A decoded body; owns its reports. */
struct report_batch {
	struct report *reports;
	size_t n;
	enum report_kind kind;	/* set by the contiv form only */
};

void report_batch_finish(struct report_batch *b);

/*
 * Decodes and validates a body. Every element is validated: one bad element
 * fails the whole decode. On failure returns -EBADMSG (not JSON at all),
 * -EINVAL (the wrong shape or an invalid report),
 * -E2BIG (a limit: too many reports, tags, too deep, string too long) or
 * -ENOMEM, and writes one sentence into err. ret is written only on success.
 */
int report_json_decode(const char *body, size_t len, enum report_form form,
    struct report_batch *ret, char *err, size_t errlen);

/*
 * "discovered"/"disappeared", in any case ("Discovered" is what contiv's
 * monitor sends) <-> kind; REPORT_KIND_NONE when unknown. The name is
 * always lower case.
 */
enum report_kind report_kind_parse(const char *s);
const char *report_kind_name(enum report_kind k);

/*
 * Encodes reports as the seed body (a JSON array of string maps); with
 * with_status the Serf-Status key is written too. Returns a malloc'd
 * NUL-terminated string the caller frees, or NULL on out-of-memory.
 */
char *report_json_encode(const struct report *r, size_t n, int with_status);

/*
 * Whether a JSON text holds a \u0000 escape inside a string. cJSON would cut
 * the string there, so "a\u0000b" would silently become "a": such bodies
 * are refused instead.
 */
bool report_json_has_nul(const char *body, size_t len);

/* Deepest nesting of a JSON text, counted outside strings. */
int report_json_depth(const char *body, size_t len);

#endif
