/*
 * The operation log's internals, for oplog.c (the embedded store's
 * pipeline, recovery) and oplog_shared.c (a shared log: etcd).
 */
#ifndef OPLOG_IMPL_H
#define OPLOG_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"
#include "state.h"

/* An operation between its append and its apply (on its submitter's stack). */
struct pending {
	uint64_t seq;
	struct op *op;
	struct pending *prev, *next;
	bool claimed;			/* shared log: the follower applies it (list_mu) */
	bool done;			/* shared log: applied (apply_mu) */
	pthread_cond_t done_cv;		/* shared log: signalled with done, its submitter alone waits */
};

/* Shared log: how long a committed operation may take to come back by the watch. */
#define OPLOG_FOLLOW_WAIT_MS	10000

/* Takes p off the pending list (list_mu), waking a snapshot waiting for it to empty. */
void oplog_unlink_pending(struct state *s, struct pending *p);
/* Wakes the watchers of the audit log when it has events up to next_event. */
void oplog_wake_on_events(struct state *s, uint64_t next_event);

/* Shared log: starts following it (after recovery). */
void oplog_follow_start(struct state *s);
/* Shared log: waits for p's commit and its return by the watch; oplog_submit's result. */
int oplog_submit_shared(struct state *s, struct pending *p, struct op *op);
/* Shared log: the snapshot of the position applied (1 written, 0 not due or not ours). */
int oplog_snapshot_shared(struct state *s, char *err, size_t errlen);

#endif
