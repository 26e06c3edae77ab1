/*
 * clusterctl's command table (ctl_cmd.c): each command's words, arguments
 * and options, and the function that runs it.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <stddef.h>

#include "ctl.h"

/*
 * A command: its words, the positional arguments it takes, its options and
 * its help (ctl_help.c prints it; the synopsis lines are clusterctl(1)'s).
 */
struct ctl_cmd {
	const char *group;		/* "node" */
	const char *group_alias;	/* "n", or NULL */
	const char *sub;		/* "commission", or NULL for one-word commands */
	const char *sub_alias;		/* "c", or NULL */
	int min_args, max_args;		/* max_args -1: no limit */
	unsigned opts;			/* CTL_OPT_* allowed */
	enum ctl_exit (*run)(struct ctl *c, char **args, int nargs);
	const char *synopsis;		/* after "clusterctl ", as in the man page */
	const char *summary;		/* a few words for the command list */
	const char *description;	/* one paragraph, wrapped when printed */
	const char *example;		/* one command line */
};

extern const struct ctl_cmd ctl_cmds[];
extern const size_t ctl_ncmds;

/*
 * The command named by the first words of pos (aliases allowed), *ret_used
 * the words it took; NULL when none. *ret_group is the group the first word
 * names (NULL when it names none), so a caller can tell "unknown command"
 * from "unknown or missing subcommand". Prints nothing.
 */
const struct ctl_cmd *ctl_cmd_find(char **pos, int npos, int *ret_used,
    const char **ret_group);

#endif
