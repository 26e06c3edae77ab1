/* clusterctl's help: the usage, each command's help, the help command. */
#ifndef CTL_HELP_H
#define CTL_HELP_H

#include <stdio.h>

#include "ctl.h"
#include "ctl_cmd.h"

/* The usage lines, the same as the SYNOPSIS of clusterctl(1). */
void ctl_help_usage(FILE *f);

/* "usage: clusterctl <its synopsis>" and where its help is, for a usage error. */
void ctl_help_cmd_usage(FILE *f, const struct ctl_cmd *k);

/*
 * "clusterctl help [words]" and "words --help": with no words the usage,
 * the commands and where the URL and token come from; a group ("node") its
 * commands; a command its synopsis, description and example. On stdout;
 * unknown words are a usage error (printed, CTL_EXIT_USAGE).
 */
enum ctl_exit ctl_help(char **words, int nwords);

/* Prints the command group's subcommands on f, after "<group> subcommands:". */
void ctl_help_subcommands(FILE *f, const char *group);

#endif
