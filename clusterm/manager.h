/* What every request handler reaches through req->ctx. */
#ifndef MANAGER_H
#define MANAGER_H

#include <stdbool.h>

#include "conf.h"
#include "http.h"
#include "state.h"

struct manager {
	struct state *state;
	struct conf conf;
	bool insecure;
	long long started_ms;
};

/* Routes of each API module, terminated by fn == NULL. */
extern const struct http_route api_monitor_routes[];
extern const struct http_route api_v1_routes[];
extern const struct http_route api_contiv_routes[];

/* JSON of one node (native shape); with detail, votes too. Lock held. */
cJSON *api_node_json(struct state *s, const struct node *n, bool detail);
/* RFC 3339 UTC time of a wall-clock millisecond count into buf. */
void api_time(long long ms, char *buf, size_t len);

#endif
