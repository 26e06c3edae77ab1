/*
 * Several instances on etcd (CONTRACT section 9), as main.c runs them: the
 * state opened on the etcd store, the leader election, and what changes
 * with the role (the jobs the old leader left, the playbooks of a deposed
 * one).
 */
#ifndef INSTANCES_H
#define INSTANCES_H

#include "manager.h"
#include "votes.h"

/*
 * Locks the state dir (scratch: job logs and inventories), joins the
 * election and opens the state on etcd (recovery from its snapshot and
 * log). Sets m->state and m->leader. -1 with the reason logged.
 */
int instances_open(struct manager *m, const struct votes_params *initial);

/*
 * m->lc runs: from now on, becoming the leader ends the jobs the previous
 * one left (lifecycle_takeover), in a thread of its own.
 */
void instances_ready(struct manager *m);

/* Whether this instance runs the timers and jobs now (always without etcd). */
bool instances_leading(struct manager *m);

/*
 * Before m->lc is stopped: no takeover after this. Then, after it,
 * instances_close() leaves the election (the lease revoked: another
 * instance leads at once). NULL leader ok.
 */
void instances_quiesce(struct manager *m);
void instances_close(struct manager *m);

#endif
