/* Helpers clusterctl's commands share. */
#ifndef CTL_UTIL_H
#define CTL_UTIL_H

#include "ctl.h"

/* Prints "out of memory" and returns the usage exit status. */
enum ctl_exit ctl_util_oom(void);

/*
 * Checks -e: it must be a JSON object (ansible extra-vars). On failure
 * prints why and returns -EINVAL; the caller exits with a usage error.
 */
int ctl_util_check_extra_vars(const char *text);

#endif
