/* What every request handler reaches through req->ctx. */
#ifndef MANAGER_H
#define MANAGER_H

#include <stdbool.h>

#include "conf.h"
#include "http.h"
#include "state.h"

struct leader;
struct lifecycle;

struct manager {
	struct state *state;
	struct lifecycle *lc;
	struct leader *leader;		/* several instances on etcd; NULL: the only one */
	struct conf conf;
	bool insecure;
	long long started_ms;
};

/* Routes of each API module, terminated by fn == NULL. */
extern const struct http_route api_monitor_routes[];
extern const struct http_route api_v1_routes[];
extern const struct http_route api_contiv_routes[];
extern const struct http_route api_config_routes[];
extern const struct http_route api_stream_routes[];
extern const struct http_route api_ui_routes[];

#endif
