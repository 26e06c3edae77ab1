/* The node commands (ctl_cmd.c's table runs them): args are node names or addresses. */
#ifndef CTL_NODES_H
#define CTL_NODES_H

#include "ctl.h"

/* POST of contiv's lifecycle requests; "job N queued" or the reply with -j. */
enum ctl_exit ctl_nodes_commission(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_nodes_decommission(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_nodes_update(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_nodes_discover(struct ctl *c, char **args, int nargs);

/* Node views: the table of all or the named nodes, one node, its votes. */
enum ctl_exit ctl_nodes_get(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_nodes_node_get(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_nodes_votes(struct ctl *c, char **args, int nargs);
/* node forget: DELETE /api/v1/nodes/{name} (a Disappeared node in no job). */
enum ctl_exit ctl_nodes_forget(struct ctl *c, char **args, int nargs);

#endif
