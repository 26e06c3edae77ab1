/*
 * Snapshots of the whole state, as msgpack (operations are ops.h's).
 * msgpack stays inside this module.
 *
 *   ["S", RECORDS_SNAPSHOT_VERSION, clock_ms, [grace_ms, quorum, ratio,
 *    window_ms, reporter_stale_ms, hb_timeout_ms, hb_interval_ms,
 *    reap_after_ms, observers, rings_version (the last six absent in older
 *    snapshots)], disruption,
 *    disruption_changed_ms, [reporter name...],
 *    [[reporter, epoch, seq]...], [node...], [job...], globals, [event...],
 *    config | nil, next_job_id, next_event_id]
 *   node:  [name, {report}, state, prev_state, status, prev_status,
 *           host_group, gone_since_ms, deadline_ms, state_ms, disappeared_ms,
 *           recent_ms, last_job, member_ms, [rid, kind, seq, received_ms, rid, ...]]
 *   job:   [id, op, [node...], [group...], host_group, extra_vars, status,
 *           created_ms, started_ms, ended_ms, exit_code, error, actor, pgid,
 *           sid, start_ticks, boot_id]
 *   event: [id, time_ms, node, kind, old, new, actor, comment]
 * The params array may be shorter (fields appended later take their
 * defaults); the observer rings are rebuilt from the Discovered nodes.
 */
#ifndef RECORDS_H
#define RECORDS_H

#include <stddef.h>

struct state;

#define RECORDS_SNAPSHOT_VERSION	2

/* Encodes the whole state (the caller holds its lock). *ret_buf is malloc'd. */
int records_encode_snapshot(const struct state *s, char **ret_buf, size_t *ret_len);

/*
 * Loads a snapshot into a fresh state (recovery, lock held) and rebuilds
 * what is derived. -EBADMSG with err saying what is wrong, -ENOMEM.
 */
int records_decode_snapshot(struct state *s, const void *buf, size_t len, char *err,
    size_t errlen);

#endif
