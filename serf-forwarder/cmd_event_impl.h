/*
 * The internals of the event command shared by cmd_event.c and
 * cmd_event_observe.c (observers: the probe, the members seen, taking an
 * assignment before the batch goes).
 */
#ifndef CMD_EVENT_IMPL_H
#define CMD_EVENT_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "cmd.h"
#include "observe.h"

/* One event run: what its steps share, and its counts for the one line. */
struct event_run {
	struct ctx *c;
	const char *event;
	const char *self;
	struct spool *sp;
	struct seen *seen;
	struct deliver_stats st;
	size_t nmembers, nbad, nsuppressed;
	size_t delivered, spooled, rejected;
	long accepted, duplicates;
	char outcome[2048];
	char first_seq[64];
	bool drained;		/* nothing older waits in the spool */
	char *observe;		/* the newest reply's "observe" (malloc'd) or NULL */
	size_t nfiltered;	/* members left out: not this node's subjects */
	struct batch left;	/* their reports, for a new assignment that wants them */
	size_t nprobe;		/* chunks posted first to learn the assignment */
	size_t nreported;	/* members left out: reported as new subjects already */
	bool compacted;
	int rc;
};

/* One chunk: numbered, posted or spooled, noted in seen when kept. -ENOMEM. */
int event_chunk(struct event_run *e, struct batch *ch);

/* Appends b's members to the members seen (observe.h); a failure is logged. */
void event_note_members(struct event_run *e, const struct batch *b);

/*
 * After the spool's replay: takes the assignment its replies carried, or,
 * with none known yet, posts the own report first to learn it (the members
 * seen are noted then, *noted set); a new assignment is kept and b
 * filtered by it before the rest goes. 0 or -ENOMEM.
 */
int event_learn(struct event_run *e, struct observe *obs, struct batch *b, bool *noted);

#endif
