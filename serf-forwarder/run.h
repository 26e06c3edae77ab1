/* Running a program (serf) and collecting its output within a bound. */
#ifndef RUN_H
#define RUN_H

#include <stddef.h>

/* How much of a program's stderr run_capture keeps for a log line. */
#define RUN_ERR_MAX	512

/*
 * Runs argv (no shell) and collects its stdout, killing it when the bound
 * (fsio_mono_ms clock) passes. *ret_out is malloc'd (caller frees). The
 * first errlen - 1 bytes of its stderr go to errbuf (NUL-terminated,
 * control characters as spaces, "" when none; errbuf may be NULL); when
 * it fails with nothing on stderr, those of its stdout (serf writes its
 * errors there). 0,
 * -ETIMEDOUT, -ECHILD (non-zero exit) or -errno.
 */
int run_capture(char *const argv[], long long deadline_ms, char **ret_out, size_t *ret_len,
    char *errbuf, size_t errlen);

#endif
