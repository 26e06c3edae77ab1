/*
 * Update suppression: the last report this forwarder delivered (or
 * spooled) per serf member, kept in SPOOL/seen, so that a member-update
 * repeating an unchanged member (hashicorp/serf#555) is left out.
 */
#ifndef SEEN_H
#define SEEN_H

#include <stdbool.h>

#include "report.h"
#include "report_json.h"

struct seen;

/*
 * Loads dir/seen; a missing or unreadable file gives an empty table (the
 * cost is one repeated update). *ret is freed with seen_free. -ENOMEM.
 */
int seen_load(const char *dir, struct seen **ret);
void seen_free(struct seen *s);

/* Whether r (Serf-Event aside) equals what was last delivered for its member. */
bool seen_unchanged(const struct seen *s, const struct report *r);

/*
 * Records a delivered report: discovered keeps a copy, disappeared forgets
 * the member (so its return is reported even with the same tags). -ENOMEM.
 */
int seen_note(struct seen *s, enum report_kind kind, const struct report *r);

/*
 * Writes dir/seen when something changed (in place, no fsync; call with
 * the spool lock held). 0 or -errno.
 */
int seen_save(struct seen *s, const char *dir);

#endif
