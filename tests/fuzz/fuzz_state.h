/*
 * A fresh state over the in-memory store, for the fuzz targets and their
 * regression runs: an input is an operation record (decoded, then applied
 * as recovery would) or a snapshot (loaded).
 */
#ifndef FUZZ_STATE_H
#define FUZZ_STATE_H

#include <stdlib.h>

#include "apply.h"
#include "oplog.h"
#include "ops.h"
#include "records.h"
#include "state.h"
#include "state_impl.h"

static struct state *
fuzz_state_new(void)
{
	struct votes_params p = { .grace_ms = 5000, .quorum = 0, .disruption_ratio = 0.55,
		.disruption_window_ms = 60000 };
	struct store *st;
	struct state *s;
	char err[256];

	if (store_open_fake(&st) < 0)
		abort();
	if (oplog_open_store(st, &p, apply_op, NULL, &s, err, sizeof(err), NULL, NULL) < 0)
		abort();
	return s;
}

/* 0, -EBADMSG or -ENOMEM, as recovery sees them. */
static int
fuzz_state_visit(struct state *s, const void *buf, size_t len)
{
	char err[256];
	struct op op;
	int rc;

	if (!ops_is_op(buf, len))
		return records_decode_snapshot(s, buf, len, err, sizeof(err));
	rc = ops_decode(buf, len, &op, err, sizeof(err));
	if (rc < 0)
		return rc;
	s->recovering = true;
	apply_op(s, &op, NULL);
	s->recovering = false;
	ops_free(&op);
	return 0;
}

#endif
