/* Running a program (serf) and collecting its output within a bound. */
#ifndef RUN_H
#define RUN_H

#include <stddef.h>

/*
 * Runs argv (no shell) and collects its stdout, killing it when the bound
 * (fsio_mono_ms clock) passes. *ret_out is malloc'd (caller frees). 0,
 * -ETIMEDOUT, -ECHILD (non-zero exit) or -errno.
 */
int run_capture(char *const argv[], long long deadline_ms, char **ret_out, size_t *ret_len);

#endif
