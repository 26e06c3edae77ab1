/*
 * Observers (CONTRACT section 12): the state's K rings of Discovered nodes,
 * kept in the apply step, and what readers ask of them. With K = 0
 * (monitor.observers unset) the rings are empty and every reporter's vote
 * counts as in section 3.2.
 */
#ifndef OBSERVERS_H
#define OBSERVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inventory.h"
#include "rings.h"
#include "state.h"

/*
 * Settling. While the rings change in a burst (a boot, many nodes failing
 * at once: more than OBSERVERS_BURST_CHANGES joins and departures within
 * OBSERVERS_BURST_WINDOW_MS of operation time), a node whose subjects
 * change is handed its assignment only once they have been unchanged for
 * OBSERVERS_SETTLE_MS: it reports on the subjects of the end of the burst,
 * not on each of the ones it passes through. Until then a reporter that
 * holds no assignment is told {"version": 0, "subjects": []} (observers in
 * force, report only yourself), one that holds an older assignment keeps
 * it. The votes still count from the rings' observers: one whose
 * assignment is withheld has just not reported yet. Outside bursts an
 * assignment goes out at once. The times are those of the operations, kept
 * beside the state but not in its snapshots (a restored instance hands out
 * at once).
 */
#define OBSERVERS_SETTLE_MS		1000
#define OBSERVERS_BURST_CHANGES		64
#define OBSERVERS_BURST_WINDOW_MS	10000	/* a tick_s (the default) */

/*
 * Applier: n's monitoring state went from -> to. A node turning Discovered
 * joins the rings, one leaving Discovered leaves them (and its own vote is
 * cleared: off the rings no one observes it, only a new report of its own
 * brings it back); the votes of the observer pairs that changed are counted
 * again and their subjects queued for evaluation (only those).
 */
void observers_node_state(struct state *s, struct node *n, enum mon_state from,
    enum mon_state to);

/*
 * Whether a join report from reporter rid about n is n's own while n is off
 * the rings (observers in force): a new life, whose votes of before are
 * moot (the caller clears them, as for a graceful leave).
 */
bool observers_fresh_join(const struct state *s, const struct node *n, uint32_t rid);

/*
 * Applier: K changed (monitor.observers): the rings are built again from
 * the Discovered nodes, every node's votes counted again and every node
 * with votes queued for evaluation.
 */
void observers_set_k(struct state *s, uint32_t k);

/*
 * Reader (lock held): whether the assignment of the node whose serf member
 * name is reporter is withheld, its subjects not settled yet at the time
 * of the last operation applied.
 */
bool observers_settling(const struct state *s, const char *reporter);

/* Readers (lock held). The rings' version and K. */
uint64_t observers_version(const struct state *s);
uint32_t observers_k(const struct state *s);

/*
 * n's observers / subjects as node names into ret[0..max); returns the
 * count. The strings belong to the state, valid while the lock is held.
 */
size_t observers_of(const struct state *s, const struct node *n, const char **ret,
    size_t max);
size_t observers_subjects(const struct state *s, const struct node *n, const char **ret,
    size_t max);

/*
 * The subjects of the node whose serf member name is reporter, as serf
 * member names (what serf-forwarder matches its members against; a node
 * without a Node-Name is named by its node name). 0 when reporter is not
 * on the rings.
 */
size_t observers_reporter_subjects(const struct state *s, const char *reporter,
    const char **ret, size_t max);

#endif
