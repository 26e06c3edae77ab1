/* Prometheus counters of clusterm, lock-free (atomics). */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

#include "leader.h"
#include "state.h"

enum metrics_reject {
	REJECT_MALFORMED,	/* not JSON, wrong shape */
	REJECT_INVALID,		/* a report failed validation */
	REJECT_LIMIT,		/* a named limit: too many reports, too deep */
	REJECT_TOO_LARGE,	/* body over max_body_bytes */
	REJECT_MEDIA_TYPE,	/* not application/json */
	REJECT_AUTH,		/* 401/403 */
	REJECT_COUNT
};

void metrics_reports(size_t accepted, size_t duplicates);
void metrics_rejected(enum metrics_reject why);
void metrics_http(int status);

/*
 * Renders every metric in the text exposition format (malloc'd), the
 * instance's role and leader changes from cluster (api_cluster_view()).
 */
char *metrics_render(struct state *s, const struct leader_view *cluster);

#endif
