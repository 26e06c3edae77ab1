/* The events command (ctl_cmd.c's table runs it). */
#ifndef CTL_EVENTS_H
#define CTL_EVENTS_H

#include "ctl.h"

/*
 * The newest N events are found by reading pages of CTL_EVENTS_PAGE (the
 * server's maximum) from --since on, each from the last id of the one
 * before, keeping the last N: right whichever end of a page the server's
 * limit keeps. At most CTL_EVENTS_MAX_PAGES pages (clusterm keeps 20000).
 */
#define CTL_EVENTS_DEFAULT	100		/* events shown without --limit */
#define CTL_EVENTS_LIMIT_MAX	100000
#define CTL_EVENTS_PAGE		1000
#define CTL_EVENTS_MAX_PAGES	100
#define CTL_SINCE_MAX_S		(100LL * 365 * 86400)	/* --since 36500d at most */

/* The newest events as a table; --node, --since and --limit filter them. */
enum ctl_exit ctl_events_list(struct ctl *c, char **args, int nargs);

#endif
