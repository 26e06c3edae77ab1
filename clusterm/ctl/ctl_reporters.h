/* The reporters command (ctl_cmd.c's table runs it). */
#ifndef CTL_REPORTERS_H
#define CTL_REPORTERS_H

#include <stddef.h>
#include <time.h>

#include "ctl.h"

/* GET /api/v1/reporters as a table, times relative to now; -j: the server's JSON. */
enum ctl_exit ctl_reporters_list(struct ctl *c, char **args, int nargs);

/*
 * An RFC 3339 UTC time ("2026-01-02T03:04:05Z", fractions allowed) as the
 * time since it, relative to now: "3s ago", "5m ago", "2h ago", "4d ago".
 * Text that is not such a time is copied as it is. buf backs the result.
 */
const char *ctl_reporters_ago(const char *rfc3339, time_t now, char *buf, size_t len);

#endif
