/* The settings commands (ctl_cmd.c's table runs them). */
#ifndef CTL_CONFIG_H
#define CTL_CONFIG_H

#include "ctl.h"

/* global get/set: the ansible globals; config get/set: clusterm's configuration. */
enum ctl_exit ctl_config_global_get(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_config_global_set(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_config_get(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_config_set(struct ctl *c, char **args, int nargs);

#endif
