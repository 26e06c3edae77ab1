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

/* Called by the decoder; on_node takes over *n (its members). */
struct records_visitor {
	int (*on_node)(struct node *n, void *arg);
	int (*on_watermark)(const char *reporter, const char *epoch, uint64_t seq, void *arg);
	void *arg;
};

/*
 * Encodes a batch record: the watermark (may be NULL) and the nodes as they
 * are now. *ret_buf is malloc'd; the caller frees it. -ENOMEM.
 */
int records_encode_batch(const struct watermark *wm, struct node *const *nodes, size_t n,
    long long now_ms, char **ret_buf, size_t *ret_len);

/* Encodes a snapshot of every node and watermark. */
int records_encode_snapshot(const struct inventory *inv, struct watermark *const *wms,
    size_t nwms, long long now_ms, char **ret_buf, size_t *ret_len);

/*
 * Decodes one record or snapshot, handing its parts to v in order. -EBADMSG
 * for anything malformed (err says what); a visitor's negative return stops
 * the walk and is returned.
 */
int records_decode(const void *buf, size_t len, const struct records_visitor *v,
    char *err, size_t errlen);

#endif
