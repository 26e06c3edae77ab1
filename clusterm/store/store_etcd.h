/*
 * The etcd backend: the operation log shared by every instance of one
 * manager (CONTRACT section 9).
 *
 * Keys under the prefix P:
 *   P/log/<instance>/<boot>/<first seq, 16 hex>  one group commit: its
 *       records, each as a 4-byte little-endian length and the bytes; the
 *       log order is the keys' create revision order (one key a revision)
 *   P/snap/<revision, 20 digits>/<part, 6 digits>  a snapshot of the state
 *       after that revision, in parts of at most ETCD_MAX_VALUE_BYTES
 *   P/snap/current  {"rev", "parts", "bytes"}: the snapshot in force
 *   P/leader/<instance>  see leader.h
 *
 * One committer thread puts what store_append() queued, one txn per group
 * commit; fenced records (STORE_FENCED) go in txns of their own that
 * compare the leader key's create revision. One watcher thread follows
 * P/log/ from the revision recovery ended at and hands every record to
 * store_follow()'s callbacks in revision order. The leader's snapshot
 * deletes the log keys it covers and compacts etcd up to its revision.
 */
#ifndef STORE_ETCD_H
#define STORE_ETCD_H

#include "etcd.h"
#include "leader.h"
#include "store.h"

/* Records waiting for their commit at once (a ring of their outcomes). */
#define STORE_ETCD_MAX_INFLIGHT	65536

struct store_etcd_opts {
	struct etcd_opts etcd;
	const char *prefix;
	const char *instance_id;
	struct leader *leader;		/* the fence of STORE_FENCED writes */
};

/* Connects (nothing is read before store_recover()). err names what failed. */
int store_open_etcd(const struct store_etcd_opts *o, struct store **ret, char *err,
    size_t errlen);

#endif
