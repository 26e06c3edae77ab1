/*
 * The instances of this manager as the API shows them (CONTRACT section 9):
 * the leader module's view on etcd, or, with the embedded store, this
 * instance alone and leading.
 */
#ifndef API_CLUSTER_H
#define API_CLUSTER_H

#include "http.h"
#include "leader.h"
#include "manager.h"

/*
 * What this instance knows of the instances, into a malloc'd view (the
 * caller frees it): leader_get_view() on etcd; in WAL mode one instance,
 * this one, leading, seen now, one leader seen. NULL on out-of-memory.
 */
struct leader_view *api_cluster_view(struct manager *m);

/*
 * GET /api/v1/cluster: {"self", "leader", "instances": [{"id", "url",
 * "role", "last_seen"}]}, the leader null when none is known.
 */
void api_cluster_get(struct http_req *req);

#endif
