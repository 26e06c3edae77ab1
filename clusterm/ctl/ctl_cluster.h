/* The cluster command (ctl_cmd.c's table runs it). */
#ifndef CTL_CLUSTER_H
#define CTL_CLUSTER_H

#include "ctl.h"

/* The instances of the manager as a table: ID, URL, ROLE, LAST SEEN. */
enum ctl_exit ctl_cluster_list(struct ctl *c, char **args, int nargs);

#endif
