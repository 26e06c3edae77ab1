/*
 * clusterctl's command table: contiv's tree (node, nodes, global, job,
 * discover, config) and the additions (node votes, jobs, job log/cancel,
 * events, cluster). Each command returns an exit status; the server's
 * errors are printed by ctl_http.c.
 */
#include "ctl_cluster.h"
#include "ctl_cmd.h"
#include "ctl_config.h"
#include "ctl_events.h"
#include "ctl_jobs.h"
#include "ctl_nodes.h"

#define LIFECYCLE_OPTS (CTL_OPT_EXTRA_VARS | CTL_OPT_HOST_GROUP)

const struct ctl_cmd ctl_cmds[] = {
	{ "node", "n", "commission", "c", 1, 1, LIFECYCLE_OPTS, ctl_nodes_commission },
	{ "node", "n", "decommission", "d", 1, 1, CTL_OPT_EXTRA_VARS, ctl_nodes_decommission },
	{ "node", "n", "update", "u", 1, 1, LIFECYCLE_OPTS, ctl_nodes_update },
	{ "node", "n", "get", "g", 1, 1, 0, ctl_nodes_node_get },
	{ "node", "n", "votes", NULL, 1, 1, 0, ctl_nodes_votes },
	{ "nodes", "a", "commission", "c", 1, -1, LIFECYCLE_OPTS, ctl_nodes_commission },
	{ "nodes", "a", "decommission", "d", 1, -1, CTL_OPT_EXTRA_VARS, ctl_nodes_decommission },
	{ "nodes", "a", "update", "u", 1, -1, LIFECYCLE_OPTS, ctl_nodes_update },
	{ "nodes", "a", "get", "g", 0, -1, 0, ctl_nodes_get },
	{ "global", "g", "get", "g", 0, 0, 0, ctl_config_global_get },
	{ "global", "g", "set", "s", 0, 0, CTL_OPT_EXTRA_VARS, ctl_config_global_set },
	{ "job", "j", "get", "g", 1, 1, CTL_OPT_FOLLOW, ctl_jobs_get },
	{ "job", "j", "log", NULL, 1, 1, CTL_OPT_FOLLOW, ctl_jobs_log },
	{ "job", "j", "cancel", NULL, 1, 1, 0, ctl_jobs_cancel },
	{ "jobs", NULL, NULL, NULL, 0, 0, 0, ctl_jobs_list },
	{ "events", NULL, NULL, NULL, 0, 0, CTL_OPT_NODE | CTL_OPT_SINCE | CTL_OPT_LIMIT,
	    ctl_events_list },
	{ "cluster", NULL, NULL, NULL, 0, 0, 0, ctl_cluster_list },
	{ "discover", "d", NULL, NULL, 1, -1, CTL_OPT_EXTRA_VARS, ctl_nodes_discover },
	{ "config", "c", "get", "g", 0, 0, 0, ctl_config_get },
	{ "config", "c", "set", "s", 1, 1, 0, ctl_config_set },
};

const size_t ctl_ncmds = sizeof(ctl_cmds) / sizeof(ctl_cmds[0]);
