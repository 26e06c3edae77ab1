/*
 * The instances of one manager on etcd (CONTRACT section 9): each instance
 * holds a lease (lease_ttl_s, kept alive every third of it) and a key
 * <prefix>/leader/<instance id> under it whose value is {"id","url"}. The
 * leader is the instance whose key has the lowest create revision. A leader
 * write is fenced: its txn compares that key's create revision
 * (leader_fence()), so once the key is gone (lease expired) the write fails.
 *
 * One thread keeps the lease alive and reads the instances every
 * LEADER_POLL_MS. An instance that cannot renew its lease for its whole TTL
 * takes it as gone at once: it stops leading (on_depose) before the lease
 * can expire in etcd and another instance take over.
 */
#ifndef LEADER_H
#define LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"

#define LEADER_MAX_INSTANCES	32
#define LEADER_ID_MAX		128
#define LEADER_URL_MAX		256
/* How often the instances are read (and so how soon a takeover is seen). */
#define LEADER_POLL_MS		250
/* The lease is taken as gone this long before its TTL runs out here. */
#define LEADER_MARGIN_MS	500

struct leader_opts {
	struct etcd_opts etcd;
	const char *prefix;		/* "/clusterm" */
	const char *instance_id;
	const char *advertise_url;	/* how the others reach this one */
	long lease_ttl_s;
};

/* Called on the leader thread; keep them short (they may start work elsewhere). */
struct leader_hooks {
	void (*on_lead)(void *arg);	/* this instance has just become the leader */
	void (*on_depose)(void *arg);	/* it has just stopped being the leader */
	void *arg;
};

struct leader_instance {
	char id[LEADER_ID_MAX];
	char url[LEADER_URL_MAX];
	bool leader;
	long long last_seen_ms;		/* wall clock of the last read that saw it */
};

/* What this instance knows of the others, as of its last read. */
struct leader_view {
	char self[LEADER_ID_MAX];
	char leader[LEADER_ID_MAX];	/* "" when none is known */
	char leader_url[LEADER_URL_MAX];
	bool is_leader;
	bool etcd_ok;			/* the last lease renewal and read worked */
	char why[256];			/* when !etcd_ok: what failed */
	uint64_t leader_changes;	/* leaders seen since the start, this one's terms too */
	size_t n;
	struct leader_instance inst[LEADER_MAX_INSTANCES];
};

struct leader;

/*
 * Grants the lease, puts this instance's key and starts the thread. Fails
 * (err says why) when etcd cannot be reached within its timeout, or when
 * another live instance already has this instance id.
 */
int leader_start(const struct leader_opts *o, const struct leader_hooks *hooks,
    struct leader **ret, char *err, size_t errlen);

/* Stops the thread, revokes the lease (so a successor takes over at once). NULL ok. */
void leader_stop(struct leader *l);

void leader_get_view(struct leader *l, struct leader_view *ret);

/*
 * The fence of a leader write: the key and its create revision while this
 * instance leads, else 0 (and the write must not be made).
 */
int64_t leader_fence(struct leader *l, char *ret_key, size_t len);

/* Whether the last lease renewal and read worked (why gets the error if not). */
bool leader_etcd_ok(struct leader *l, char *why, size_t len);

/* Whether this instance leads now (its lease lives by its own clock). */
bool leader_is_leader(struct leader *l);

/*
 * The lease as a local deadline: CLOCK_MONOTONIC ms past which this
 * instance no longer leads, whatever its thread is waiting for (the send
 * time of the last answered renewal, plus lease_ttl_s, minus
 * LEADER_MARGIN_MS); 0 while it does not lead.
 */
long long leader_deadline_ms(struct leader *l);

/*
 * etcd's revision as of the read that made this instance the leader (its
 * term began then); 0 while it does not lead. A new term (a lease that ran
 * out here and was renewed after all) gets a new revision.
 */
int64_t leader_won_rev(struct leader *l);

#endif
