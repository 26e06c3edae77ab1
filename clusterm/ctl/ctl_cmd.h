/*
 * clusterctl's command table (ctl_cmd.c): each command's words, arguments
 * and options, and the function that runs it.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <stddef.h>

#include "ctl.h"

/* A command: its words, the positional arguments it takes and its options. */
struct ctl_cmd {
	const char *group;		/* "node" */
	const char *group_alias;	/* "n", or NULL */
	const char *sub;		/* "commission", or NULL for one-word commands */
	const char *sub_alias;		/* "c", or NULL */
	int min_args, max_args;		/* max_args -1: no limit */
	unsigned opts;			/* CTL_OPT_* allowed */
	enum ctl_exit (*run)(struct ctl *c, char **args, int nargs);
};

extern const struct ctl_cmd ctl_cmds[];
extern const size_t ctl_ncmds;

#endif
