/*
 * The etcd backend's internals (store_etcd.h), for store_etcd.c (open,
 * append, commit, close), store_etcd_read.c (recovery, the watch) and
 * store_etcd_snap.c (snapshots, the log's trim, job logs).
 */
#ifndef STORE_ETCD_IMPL_H
#define STORE_ETCD_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "etcd.h"
#include "leader.h"
#include "store.h"
#include "store_etcd.h"

/* How long a committed revision may wait for the watch before it is restarted. */
#define SE_WATCH_LAG_MS		2000
/*
 * How often the watch is checked against etcd's revision (a read on a
 * connection of its own); a revision it has not brought SE_WATCH_LAG_MS
 * after a read showed it, while log keys up to it exist, restarts it on
 * the next endpoint.
 */
#define SE_CHECK_MS		1000
/* Between two tries of a broken watch. */
#define SE_RETRY_MS		200
/* Keys read per range while recovering, deleted per txn behind a snapshot. */
#define SE_RANGE_LIMIT		16
#define SE_DELETE_BATCH		(ETCD_MAX_TXN_OPS - 1)
/* Tries of a recovery that a compaction overtook. */
#define SE_LOAD_TRIES		5

struct rec {
	uint64_t seq;
	char *buf;
	size_t len;
	unsigned flags;
	struct rec *next;
};

struct se {
	struct etcd *ce, *we, *re;	/* committer, watcher, recovery and snapshots */
	struct etcd *pe;		/* the watch's check */
	struct leader *leader;
	char logp[300], logend[300], mine[800], snapp[300], cur_key[320], jobp[300];
	size_t logendlen;
	char tail_key[820];		/* <prefix>/tail/<id>/<boot>: this run's last log key */
	int64_t tail_version;		/* its version = log keys this run committed */

	pthread_mutex_t mu;		/* everything below but the connections */
	pthread_cond_t cv;		/* the store stops (se_sleep) */
	pthread_cond_t work_cv;		/* the committer: a record queued, or the store stops */
	pthread_cond_t done_cv;		/* se_wait: outcomes, or the store stops */
	struct rec *head, *tail;
	uint64_t next_seq, done_seq;
	struct outcome { uint64_t seq; int rc; } *results;	/* ring, at seq % MAX_INFLIGHT */
	bool stopping;
	pthread_t committer;
	bool committer_on;

	pthread_t watcher;
	bool watcher_on;
	volatile int wflag;		/* 1: stop, 2: restart the watch */
	struct store_follow f;
	pthread_t checker;
	bool checker_on;
	bool reloading;			/* the watcher reloads from the snapshot */
	int64_t verified_rev;		/* no log key the watch has not brought up to it */
	int64_t check_rev;		/* a revision read, the watch not there yet, 0 none */
	long long check_ms;		/* when check_rev was read */
	uint64_t watch_restarts;	/* by the check */

	int64_t applied_rev, head_rev, snap_rev, compacted_rev;
	int64_t own_rev;		/* newest revision this instance committed */
	volatile bool commit_failing;	/* the last commit failed (not by the fence) */
	long long own_rev_ms;		/* since when it waits for the watch, 0 none */
	uint64_t appended_records, appended_bytes, log_records, log_bytes, commits;
	char last_err[256];
	pthread_mutex_t snap_mu;	/* re: recovery, snapshots */
};

/* Sleeps ms unless the store stops (which wakes it). */
void se_sleep(struct se *e, long ms);
/* Keeps why as the last error (store_last_error). */
void se_set_err(struct se *e, const char *why);
/* A non-negative integer member of o, -1 when absent or not one. */
int64_t se_json_int(const cJSON *o, const char *name);

/* The backend's entries (store.h), by file. */
int se_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen);
int se_follow(void *b, const struct store_follow *f);
/* Stops the follower's threads (the store stops: e->stopping and wflag set). */
void se_follow_join(struct se *e);
int se_snapshot_begin(void *b, uint64_t *ret_gen);
int se_snapshot_commit(void *b, uint64_t gen, const void *buf, size_t len);
int se_put_joblog(void *b, uint64_t id, const void *buf, size_t len);
int se_get_joblog(void *b, uint64_t id, char **ret, size_t *ret_len);
bool se_leads(void *b);

#endif
