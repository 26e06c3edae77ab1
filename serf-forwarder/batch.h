/*
 * A batch: the reports of one serf event run, as one POST and one spool
 * record. Also the mapping from serf members and events to reports.
 */
#ifndef BATCH_H
#define BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "cm_limits.h"
#include "report.h"
#include "report_json.h"
#include "serf_input.h"

/* Reports per POST and per spool record (bodies stay well under 1 MiB). */
#define BATCH_MAX_REPORTS	1000

struct batch {
	enum report_kind kind;		/* discovered / disappeared (NONE for seen) */
	char *reporter;			/* X-Reporter, malloc'd, may be NULL */
	char epoch[LIMIT_EPOCH_LEN + 1];	/* X-Reporter-Epoch, "" when unset */
	unsigned long long seq;		/* X-Reporter-Seq, 0 when unset */
	long long t_ms;			/* wall clock when the batch was made */
	struct report *reports;		/* owned */
	size_t n, cap;
};

/* Names of the report keys taken from member tags. */
struct batch_tags {
	const char *label;	/* default "NodeLabel" */
	const char *serial;	/* default "NodeSerial" */
	const char *addr;	/* default "NodeAddr" */
};

void batch_init(struct batch *b);
void batch_finish(struct batch *b);

/* Appends r, taking over its strings (r is left initialised). -ENOMEM. */
int batch_add(struct batch *b, struct report *r);
/* Appends a deep copy of r. -ENOMEM. */
int batch_add_copy(struct batch *b, const struct report *r);
/* Drops report i, keeping order. */
void batch_remove(struct batch *b, size_t i);

/*
 * The kind a serf event maps to: member-join/-update -> discovered,
 * member-leave/-failed/-reap -> disappeared; user, query and anything else
 * -> REPORT_KIND_NONE (ignored).
 */
enum report_kind batch_event_kind(const char *event);

/*
 * Builds the report of one member for event (Serf-Event). Label, serial
 * and address come from the member's tags named in t, falling back to the
 * member name, "" and the member address; Node-Name and Node-Role are set;
 * the other tags are kept (the role tag and the three key tags aside).
 * Returns -EINVAL with one sentence in why when the report would not pass
 * clusterm's validation, -ENOMEM.
 */
int batch_member_report(const struct serf_member *m, const char *event,
    const struct batch_tags *t, struct report *ret, char *why, size_t whylen);

/* The POST body: a malloc'd JSON array (caller frees), NULL on OOM. */
char *batch_json(const struct batch *b);

#endif
