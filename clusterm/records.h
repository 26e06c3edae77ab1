/*
 * The msgpack records clusterm keeps in its store: batch records (changed
 * nodes plus the reporter watermark that admitted them) and snapshots (the
 * whole state). msgpack stays inside this module.
 */
#ifndef RECORDS_H
#define RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "inventory.h"

/* The last batch applied from one reporter. */
struct watermark {
	char *reporter;
	char *epoch;
	uint64_t seq;
};

struct job_rec;
struct audit_event;
struct state;

/*
 * Called by the decoder; on_node, on_job and on_event take over what they
 * are given (its members; the job itself). Any may be NULL.
 */
struct records_visitor {
	int (*on_node)(struct node *n, void *arg);
	int (*on_watermark)(const char *reporter, const char *epoch, uint64_t seq, void *arg);
	int (*on_job)(struct job_rec *j, void *arg);
	int (*on_event)(struct audit_event *e, void *arg);
	int (*on_globals)(const char *json, void *arg);
	int (*on_config)(const char *json, void *arg);
	int (*on_counters)(uint64_t next_job_id, uint64_t next_event_id, void *arg);
	void *arg;
};

/* What else goes into a batch record besides nodes (all optional). */
struct records_extra {
	struct job_rec *const *jobs;
	size_t njobs;
	const char *globals;		/* NULL: unchanged */
	const char *config;		/* NULL: unchanged */
	const struct audit_event *const *events;
	size_t nevents;
};

/*
 * Encodes a batch record: the watermark (may be NULL) and the nodes as they
 * are now. *ret_buf is malloc'd; the caller frees it. -ENOMEM.
 */
int records_encode_batch(const struct watermark *wm, struct node *const *nodes, size_t n,
    const struct records_extra *extra, long long now_ms, char **ret_buf, size_t *ret_len);

/* Encodes a snapshot of the whole state (caller holds its lock). */
int records_encode_snapshot(const struct state *s, long long now_ms, char **ret_buf,
    size_t *ret_len);

/*
 * Decodes one record or snapshot, handing its parts to v in order. -EBADMSG
 * for anything malformed (err says what); a visitor's negative return stops
 * the walk and is returned.
 */
int records_decode(const void *buf, size_t len, const struct records_visitor *v,
    char *err, size_t errlen);

#endif
