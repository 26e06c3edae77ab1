/*
 * clusterctl's command table: contiv's tree (node, nodes, global, job,
 * discover, config) and the additions (node votes, node forget, jobs, job
 * log/cancel, events, reporters, cluster), each with its help. Each command
 * returns an exit status; the server's errors are printed by ctl_http.c.
 */
#include <stdbool.h>
#include <string.h>

#include "ctl_cluster.h"
#include "ctl_cmd.h"
#include "ctl_config.h"
#include "ctl_events.h"
#include "ctl_jobs.h"
#include "ctl_nodes.h"
#include "ctl_reporters.h"

#define LIFECYCLE_OPTS (CTL_OPT_EXTRA_VARS | CTL_OPT_HOST_GROUP)

const struct ctl_cmd ctl_cmds[] = {
	{ "node", "n", "commission", "c", 1, 1, LIFECYCLE_OPTS, ctl_nodes_commission,
	  "node commission name [-e json] [-g host-group]",
	  "provision a node (configure playbook)",
	  "Commissions the node NAME, which must be Discovered and Unallocated or "
	  "Decommissioned: its status is Provisioning while the configure playbook "
	  "runs, then Allocated, or Unallocated after the cleanup playbook when the "
	  "configure playbook fails. -g names the host group (service-master or "
	  "service-worker; a worker needs an Allocated master), -e adds ansible "
	  "extra-vars as a JSON object. Prints the job's number; "
	  "\"clusterctl job log ID -f\" follows its output.",
	  "clusterctl node commission node1 -g service-master" },
	{ "node", "n", "decommission", "d", 1, 1, CTL_OPT_EXTRA_VARS, ctl_nodes_decommission,
	  "node decommission name [-e json]",
	  "release an Allocated node (cleanup playbook)",
	  "Decommissions the Allocated node NAME: Cancelled while the cleanup "
	  "playbook runs, then Decommissioned. Refused when it would leave only "
	  "workers.",
	  "clusterctl node decommission node2" },
	{ "node", "n", "update", "u", 1, 1, LIFECYCLE_OPTS, ctl_nodes_update,
	  "node update name [-e json] [-g host-group]",
	  "re-provision an Allocated node",
	  "Updates the Allocated node NAME: Maintenance while the cleanup and then "
	  "the configure playbook run, Allocated when they succeed, Unallocated when "
	  "they fail. -g moves the node to another host group.",
	  "clusterctl node update node2 -g service-worker" },
	{ "node", "n", "get", "g", 1, 1, 0, ctl_nodes_node_get,
	  "node get name",
	  "one node: state, status, votes, tags",
	  "Shows one node: label, serial, address, monitoring state and since when, "
	  "lifecycle status, host group, last job, how many votes count and its tags. "
	  "-j prints the server's JSON, votes and history included.",
	  "clusterctl node get node1" },
	{ "node", "n", "votes", NULL, 1, 1, 0, ctl_nodes_votes,
	  "node votes name",
	  "the votes that decide a node's state",
	  "Lists the reporters' votes on the node NAME: the reporter, its vote "
	  "(alive or gone), sequence number, when it arrived, whether it counts and "
	  "whether it is the node's own.",
	  "clusterctl node votes node1" },
	{ "node", "n", "forget", NULL, 1, 1, 0, ctl_nodes_forget,
	  "node forget name",
	  "remove a Disappeared node from the inventory",
	  "Forgets the node NAME: clusterm removes it from its inventory; the event "
	  "log keeps the record. Only a node that is Disappeared and in no job can "
	  "be forgotten, anything else is refused (exit 2). Needs the admin role "
	  "when tokens are in force. A forgotten node that reports again comes back "
	  "as a new node.",
	  "clusterctl node forget node3" },
	{ "nodes", "a", "commission", "c", 1, -1, LIFECYCLE_OPTS, ctl_nodes_commission,
	  "nodes commission name ... [-e json] [-g host-group]",
	  "provision several nodes in one job",
	  "As \"node commission\", for several nodes in one job: every node must "
	  "pass the checks or nothing starts. Each node keeps its own host group "
	  "unless -g names one.",
	  "clusterctl nodes commission node1 node2 -g service-worker" },
	{ "nodes", "a", "decommission", "d", 1, -1, CTL_OPT_EXTRA_VARS, ctl_nodes_decommission,
	  "nodes decommission name ... [-e json]",
	  "release several nodes in one job",
	  "As \"node decommission\", for several nodes in one job.",
	  "clusterctl nodes decommission node2 node3" },
	{ "nodes", "a", "update", "u", 1, -1, LIFECYCLE_OPTS, ctl_nodes_update,
	  "nodes update name ... [-e json] [-g host-group]",
	  "re-provision several nodes in one job",
	  "As \"node update\", for several nodes in one job.",
	  "clusterctl nodes update node2 node3 -e '{\"ntp_server\":\"10.0.0.1\"}'" },
	{ "nodes", "a", "get", "g", 0, -1, 0, ctl_nodes_get,
	  "nodes get [name ...]",
	  "table of all or the named nodes",
	  "Prints one row per node: NAME, STATE, STATUS, HOST GROUP, ADDRESS, "
	  "LAST JOB and FLAGS (partitioned: the node's own heartbeats arrive while "
	  "its peers vote it gone; unreachable: its heartbeats stopped while the "
	  "votes say alive; empty when neither). Names restrict the table, an "
	  "unknown one is refused. While clusterm is in disruption mode a warning "
	  "goes to stderr.",
	  "clusterctl nodes get" },
	{ "global", "g", "get", "g", 0, 0, 0, ctl_config_global_get,
	  "global get",
	  "the extra-vars every job gets",
	  "Prints the global ansible extra-vars: every job gets them, below the "
	  "request's own and above ansible.extra_variables.",
	  "clusterctl global get" },
	{ "global", "g", "set", "s", 0, 0, CTL_OPT_EXTRA_VARS, ctl_config_global_set,
	  "global set -e json",
	  "replace the global extra-vars",
	  "Replaces the global ansible extra-vars with the JSON object given with "
	  "-e; -e '{}' clears them.",
	  "clusterctl global set -e '{\"env\":\"prod\"}'" },
	{ "job", "j", "get", "g", 1, 1, CTL_OPT_FOLLOW, ctl_jobs_get,
	  "job get active | last [-f]",
	  "the running or the last job",
	  "Shows the active (running) or the last job, as contiv did: description, "
	  "status, error and log. -f follows the log until the job ends.",
	  "clusterctl job get active -f" },
	{ "job", "j", "log", NULL, 1, 1, CTL_OPT_FOLLOW, ctl_jobs_log,
	  "job log id [-f]",
	  "a job's ansible-playbook output",
	  "Prints the log of the job ID, its ansible-playbook output. -f follows "
	  "it until the job ends.",
	  "clusterctl job log 12 -f" },
	{ "job", "j", "cancel", NULL, 1, 1, 0, ctl_jobs_cancel,
	  "job cancel id",
	  "stop a queued or running job",
	  "Cancels the job ID: a queued job is dropped; a running playbook gets "
	  "SIGTERM, then SIGKILL, and its nodes take the failure path.",
	  "clusterctl job cancel 12" },
	{ "jobs", NULL, NULL, NULL, 0, 0, 0, ctl_jobs_list,
	  "jobs",
	  "table of the jobs",
	  "Lists the jobs: id, operation, status, nodes, host group, when created "
	  "and ended, exit code and error.",
	  "clusterctl jobs" },
	{ "events", NULL, NULL, NULL, 0, 0, CTL_OPT_NODE | CTL_OPT_SINCE | CTL_OPT_LIMIT,
	  ctl_events_list,
	  "events [--node name] [--since time] [--limit n]",
	  "the audit log's newest entries",
	  "Prints the newest entries of the audit log (every state change, request "
	  "and job, with who and why), the newest last: 100 of them, or as many "
	  "as --limit says. --node keeps one node's entries; --since starts at a "
	  "time ago (30s, 10m, 2h, 1d), at a UTC time (2026-01-02T03:04:05Z) or "
	  "after an event id.",
	  "clusterctl events --node node1 --since 2h --limit 20" },
	{ "reporters", NULL, NULL, NULL, 0, 0, 0, ctl_reporters_list,
	  "reporters",
	  "the serf-forwarders that report to clusterm",
	  "One row per reporter (a node whose serf-forwarder posts to clusterm): "
	  "its spool's EPOCH, the last sequence number taken (SEQ), when it was "
	  "last heard from and when it last sent its full view (relative times; -j "
	  "prints the server's JSON with absolute ones), the batches and reports "
	  "taken, the SPOOL depth it last reported, and STALE yes when it has not "
	  "been heard from for monitor.reporter_stale_s.",
	  "clusterctl reporters" },
	{ "cluster", NULL, NULL, NULL, 0, 0, 0, ctl_cluster_list,
	  "cluster",
	  "the instances sharing one store, and the leader",
	  "Lists the clusterm instances of one manager on etcd: id, URL, role "
	  "(leader or follower) and when each was last seen.",
	  "clusterctl cluster" },
	{ "discover", "d", NULL, NULL, 1, -1, CTL_OPT_EXTRA_VARS, ctl_nodes_discover,
	  "discover address ... [-e json]",
	  "install serf on hosts that are not nodes yet",
	  "Runs the configure playbook on the addresses given, in host group "
	  "cluster-node, which installs serf there; the hosts then report "
	  "themselves and appear as Discovered nodes.",
	  "clusterctl discover 10.0.0.21 10.0.0.22" },
	{ "config", "c", "get", "g", 0, 0, 0, ctl_config_get,
	  "config get",
	  "the running configuration",
	  "Prints the running configuration as contiv's clusterm showed it "
	  "(-j: as JSON, which \"config set\" takes back).",
	  "clusterctl config get" },
	{ "config", "c", "set", "s", 1, 1, 0, ctl_config_set,
	  "config set file",
	  "change the ansible configuration",
	  "Sends the configuration in FILE (- for stdin) to clusterm. Only the "
	  "ansible section may change: a serf, inventory or manager section that "
	  "differs from the running one is refused.",
	  "clusterctl config get -j > c.json && clusterctl config set c.json" },
};

const size_t ctl_ncmds = sizeof(ctl_cmds) / sizeof(ctl_cmds[0]);

/* Whether word names the command word w (or its alias a). */
static bool
word_is(const char *word, const char *w, const char *a)
{
	return strcmp(word, w) == 0 || (a != NULL && strcmp(word, a) == 0);
}

const struct ctl_cmd *
ctl_cmd_find(char **pos, int npos, int *ret_used, const char **ret_group)
{
	*ret_group = NULL;
	*ret_used = 0;
	if (npos == 0)
		return NULL;
	for (size_t i = 0; i < ctl_ncmds; i++) {
		const struct ctl_cmd *k = &ctl_cmds[i];
		if (!word_is(pos[0], k->group, k->group_alias))
			continue;
		*ret_group = k->group;
		if (k->sub == NULL) {
			*ret_used = 1;
			return k;
		}
		if (npos >= 2 && word_is(pos[1], k->sub, k->sub_alias)) {
			*ret_used = 2;
			return k;
		}
	}
	return NULL;
}
