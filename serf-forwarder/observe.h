/*
 * Observers on the forwarder's side (CONTRACT 12): the assignment clusterm
 * gives in its replies ("observe": {"version": V, "subjects": [names]}),
 * kept in the spool directory, and the members this node has seen, so that
 * a new assignment can be reported at once.
 *
 *   observe   {"version": V, "subjects": [..]} (observers in force: report
 *             only on self and the subjects) or {"version": 0} (observers
 *             off: report every member); absent: not known yet. Written
 *             atomically and durably (tmp, fsync, rename, fsync of dir).
 *   members   what event runs saw of each member: a log, one line per
 *             report ("D" seen alive or "G" seen gone, a tab, the report as
 *             a one-element JSON array), appended by every event run (no
 *             fsync: a hint), the last line of a member deciding; read only
 *             when an assignment changes, and then compacted when it holds
 *             more than twice the lines it needs.
 *
 * A forwarder that has no observe file reports its own member first and
 * learns from that reply whether observers are in force; then it reports
 * the rest accordingly.
 */
#ifndef OBSERVE_H
#define OBSERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"

#define OBSERVE_FILE		"observe"
#define OBSERVE_MEMBERS_FILE	"members"
#define OBSERVE_MAX_SUBJECTS	64	/* more than clusterm's K (32) */
#define OBSERVE_FILE_MAX	(64 * 1024)
#define OBSERVE_MEMBERS_MAX	(64 * 1024 * 1024)

struct observe {
	bool known;			/* an assignment (or "off") was received */
	bool on;			/* observers in force: filter */
	unsigned long long version;
	char **subjects;		/* serf member names, malloc'd */
	size_t n;
};

void observe_finish(struct observe *o);

/*
 * Parses the JSON text of a reply's "observe" object into ret. -EINVAL with
 * a sentence in why when malformed (ret untouched), -ENOMEM.
 */
int observe_parse(const char *json, struct observe *ret, char *why, size_t whylen);

/* Loads dir/observe: 0 (ret->known false when absent), -EINVAL (why), -errno. */
int observe_load(const char *dir, struct observe *ret, char *why, size_t whylen);
/* Saves o as dir/observe, atomically and durably. 0 or -errno. */
int observe_save(const char *dir, const struct observe *o);

/* Whether member is to be reported under o (self always). */
bool observe_wants(const struct observe *o, const char *self, const char *member);
/* Whether name is among o's subjects. */
bool observe_has(const struct observe *o, const char *name);
/*
 * Drops from b the reports equal to one of sent when both are of one kind
 * (reported already: the new subjects of an assignment taken in this run).
 * Returns how many.
 */
size_t observe_drop_reported(struct batch *b, const struct batch *sent);

/*
 * The members seen alive: loads dir/members into ret (the last report of
 * each member whose last line says alive; kind unset), empty when absent or
 * unreadable; with ret_gone (may be NULL), those whose last line says gone
 * go there. 0 or -ENOMEM.
 */
int observe_members_load(const char *dir, struct batch *ret, struct batch *ret_gone);
/* Appends b's reports to dir/members (b's kind: seen alive or gone). 0 or -errno. */
int observe_members_update(const char *dir, const struct batch *b);

#endif
