/*
 * The pure parts of `serf-forwarder tick` (cmd_tick.c runs it): when the
 * next sync is due, which name the node reports under, the files a tick
 * keeps in the spool directory and the lock that keeps ticks apart.
 *
 *   tick.lock   flock'd by a tick for its whole run (not by event runs)
 *   sync        "<last sync ms> <next due ms>\n", wall clock (last 0: none
 *               yet; the first tick puts the first sync at a random
 *               point of one interval)
 *   self        the name of the last event run (SERF_SELF_NAME)
 */
#ifndef TICK_H
#define TICK_H

#include <stdbool.h>
#include <stddef.h>

#define TICK_S_DEFAULT			10
#define TICK_S_MAX			3600
#define SYNC_INTERVAL_S_DEFAULT		300
#define SYNC_INTERVAL_S_MAX		(7 * 86400)
/* A sync comes up to this share of the interval early, never late. */
#define SYNC_JITTER_PCT			20

#define TICK_LOCK_FILE	"tick.lock"
#define TICK_SYNC_FILE	"sync"
#define TICK_SELF_FILE	"self"

/*
 * The due time (wall ms) of the sync after one done at last_ms: the
 * interval less u x 20 % of it, u in [0, 1) (clamped), so that nodes that
 * synced together drift apart and none waits longer than the interval.
 */
long long tick_next_due(long long last_ms, long interval_s, double u);

/*
 * Whether a sync is due at now_ms. due_ms < 0 (none recorded) is due; so
 * is a due time more than one interval ahead (the clock was set back, or
 * the interval shortened since).
 */
bool tick_sync_due(long long now_ms, long long due_ms, long interval_s);

/* "<last> <due>" (both >= 0) into *ret_last, *ret_due. 0 or -EINVAL. */
int tick_state_parse(const char *txt, long long *ret_last, long long *ret_due);
/* dir/sync: 0, -ENOENT when absent, -EINVAL when it does not parse, -errno. */
int tick_state_load(const char *dir, long long *ret_last, long long *ret_due);
/* Writes dir/sync (atomically, without fsync: losing it costs one sync). */
int tick_state_save(const char *dir, long long last_ms, long long due_ms);

/* A name X-Reporter may carry: 1..LIMIT_MEMBER_NAME_LEN bytes, no control characters. */
bool tick_name_valid(const char *s);

enum tick_name_src {
	TICK_NAME_ENV,		/* SERF_SELF_NAME */
	TICK_NAME_CONFIG,	/* node_name */
	TICK_NAME_LAST_EVENT,	/* dir/self */
};

/*
 * The first valid one of env, cfg and stored (each may be NULL or "").
 * *ret points into the chosen argument. -ENOENT when none is: the caller
 * asks `serf info`.
 */
int tick_name_pick(const char *env, const char *cfg, const char *stored, const char **ret,
    enum tick_name_src *ret_src);
const char *tick_name_src_str(enum tick_name_src src);

/* agent.name of `serf info -format json` output, malloc'd. -EBADMSG when absent or invalid. */
int tick_info_name(const char *json, size_t len, char **ret);

/* Keeps name as dir/self, writing only when it changed. 0 or -errno. */
int tick_self_save(const char *dir, const char *name);
/* dir/self, malloc'd: -ENOENT when absent, -EINVAL when not a valid name. */
int tick_self_load(const char *dir, char **ret);

/*
 * Takes dir/tick.lock without waiting; *ret_fd holds it until closed.
 * -EWOULDBLOCK when another tick holds it, other -errno.
 */
int tick_lock(const char *dir, int *ret_fd);

#endif
