/*
 * Forgetting nodes: DELETE /api/v1/nodes/{name} (an OP_FORGET) and the
 * reaper (monitor.reap_after_s), which forgets Disappeared, Unallocated
 * nodes that long after they disappeared, on the leader's timer (OP_TICK,
 * time from the record). The candidates wait on a heap ordered by
 * disappeared_ms, so a tick looks at the due ones only.
 *
 * A forgotten node leaves the inventory with its votes, the votes it cast
 * as a reporter (unless another node carries its Node-Name), its reporter
 * index entries and its timers; the audit log keeps who forgot it and why.
 */
#ifndef FORGET_H
#define FORGET_H

#include <stddef.h>

#include "state.h"

/*
 * Submits the forgetting of node name by actor (the audit names both, and
 * why; why may be ""). 0; -ENOENT unknown; -EPERM not Disappeared; -EBUSY
 * in an active job; -EIO the store refused. err says which.
 */
int forget_node(struct state *s, const char *name, const char *actor, const char *why,
    char *err, size_t errlen);

/*
 * The leader's ticker: submits a timer operation when a reap is due.
 * 1 when it did, 0 when none was due, -EIO.
 */
int forget_tick(struct state *s);

/*
 * Apply steps (write lock held): OP_FORGET (op->res.rc says whether it
 * was), and the reaper's part of OP_TICK, which returns how many it forgot.
 * The node count changes: the caller checks disruption mode again.
 */
void forget_apply(struct state *s, struct op *op);
size_t forget_apply_tick(struct state *s, struct op *op);

/*
 * Applier: puts n on the reap heap or takes it off, as its state and status
 * say (Disappeared and Unallocated: on). Called after either changes.
 */
void forget_watch(struct state *s, struct node *n);

/* Lock held: when the next reap is due (0: none, reaping off, or disruption mode). */
long long forget_next_ms(const struct state *s);

#endif
