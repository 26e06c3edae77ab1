/*
 * The manager's state: one lock over the inventory and the reporter
 * watermarks, and their persistence through the store (recovery at start,
 * one log record per change, background snapshots).
 */
#ifndef STATE_H
#define STATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "records.h"
#include "store.h"
#include "votes.h"

/* Snapshot once the log behind the last one holds this much. */
#define STATE_SNAPSHOT_RECORDS	200000
#define STATE_SNAPSHOT_BYTES	(64ull * 1024 * 1024)

struct state {
	/*
	 * Writers (intake, timers, lifecycle) take it exclusively, readers
	 * (GETs, snapshots) shared. Everything below is under it.
	 */
	pthread_rwlock_t lock;
	struct inventory *inv;
	struct strmap *wm_index;	/* reporter -> struct watermark * */
	struct watermark **wms;
	size_t nwms, capwms;
	struct strmap *reporters;	/* members that have cast a vote -> owned key */
	char **reporter_keys;
	size_t nreporters;
	struct votes_params params;
	bool disruption;
	long long disruption_changed_ms;
	uint64_t touch_gen;		/* generation counter for node.touched */
	struct store *store;
	long long started_ms;
};

/*
 * Opens the state dir, recovers what it holds. On failure err names the
 * file or path. Progress warnings (a torn tail) go to warn.
 */
int state_open(const char *dir, const struct votes_params *params, struct state **ret,
    char *err, size_t errlen, store_warn_fn warn, void *warn_arg);
void state_close(struct state *s);

/* Under the write lock: appends one batch record of the given nodes. */
int state_log(struct state *s, const struct watermark *wm, struct node *const *nodes,
    size_t n, uint64_t *ret_seq);
/* Outside the lock: waits until that record is durable. 0 or -EIO. */
int state_wait(struct state *s, uint64_t seq);

/* Under the write lock: the reporter's watermark, NULL when none. */
struct watermark *state_watermark(struct state *s, const char *reporter);
int state_set_watermark(struct state *s, const char *reporter, const char *epoch,
    uint64_t seq);

/* Under the write lock: remembers that member has voted. -ENOMEM. */
int state_add_reporter(struct state *s, const char *member);
bool state_is_reporter(const struct state *s, const char *member);

/* Takes a snapshot when the log has grown past the thresholds (or force). */
int state_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen);

#endif
