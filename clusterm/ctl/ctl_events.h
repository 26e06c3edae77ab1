/* The events command (ctl_cmd.c's table runs it). */
#ifndef CTL_EVENTS_H
#define CTL_EVENTS_H

#include "ctl.h"

/* The event log as a table; --node, --since and --limit filter it. */
enum ctl_exit ctl_events_list(struct ctl *c, char **args, int nargs);

#endif
