/* The job commands (ctl_cmd.c's table runs them). */
#ifndef CTL_JOBS_H
#define CTL_JOBS_H

#include "ctl.h"

/* job get active|last (-f follows the log), job log ID, job cancel ID, jobs. */
enum ctl_exit ctl_jobs_get(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_jobs_log(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_jobs_cancel(struct ctl *c, char **args, int nargs);
enum ctl_exit ctl_jobs_list(struct ctl *c, char **args, int nargs);

#endif
