/*
 * Delivery: one POST to the first URL that answers, and the in-order
 * replay of the spool (consecutive batches merged into one POST).
 */
#ifndef DELIVER_H
#define DELIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "spool.h"

struct deliver_opts {
	char *const *urls;		/* bases: "host:port", "http://h:p/prefix" */
	size_t nurls;
	const char *token;		/* bearer token or NULL */
	const char *ca_file;		/* or NULL */
	const char *cert_file;		/* client certificate (mutual TLS), or NULL */
	const char *key_file;		/* its key, or NULL: in cert_file */
	long long deadline_ms;		/* fsio_mono_ms() bound of the whole run */
	long reserve_ms;		/* time kept back for a spool write */
	/*
	 * X-Spool-Depth: the batches waiting in the spool after this POST,
	 * -1 to leave the header out. deliver_spool adds the queue behind
	 * each POST to it (the batches outside the queue, incoming/).
	 */
	long spool_depth;
	bool always_seq;		/* send X-Reporter-Seq even when it is 0 */
};

enum deliver_status {
	DELIVER_OK,		/* 2xx: clusterm has it durably */
	DELIVER_RETRY,		/* no URL took it: transport error, 5xx, 408, 429, time */
	DELIVER_REJECTED,	/* 4xx: retrying would not help */
};

struct deliver_result {
	enum deliver_status st;
	long status;		/* HTTP status of the deciding reply, 0 when none */
	long accepted, duplicates;	/* from a 200 reply, -1 when absent */
	char url[256];		/* the URL that answered (or was tried last) */
	char err[1024];		/* why it was not delivered */
	char *reply;		/* the reply body (malloc'd) for REJECTED, else NULL */
};

void deliver_result_finish(struct deliver_result *r);

/*
 * POSTs body to path under each URL in turn until one answers with a
 * non-retryable status. reporter/epoch may be NULL/"" (headers left out),
 * seq 0 likewise (unless o->always_seq); body may be NULL with len 0. Returns 0 with ret filled, or -ENOMEM.
 */
int deliver_post(const struct deliver_opts *o, const char *path, const char *body,
    size_t len, const char *reporter, const char *epoch, unsigned long long seq,
    struct deliver_result *ret);

/* The path a batch kind is posted to ("/monitor/event/discovered"). */
const char *deliver_path(enum report_kind kind);

struct deliver_stats {
	size_t batches;		/* spooled batches delivered */
	size_t posts;		/* POSTs that carried them */
	size_t reports;
	long accepted, duplicates;
	size_t rejected;	/* moved to rejected/ */
	size_t corrupt;		/* moved to corrupt/ */
	size_t superseded;	/* reports left out: a newer one for the node was queued */
	size_t left;		/* still queued */
	char err[1024];		/* why the replay stopped, "" when it drained */
};

/* Told about each rejected or corrupt batch (for the caller's log). */
typedef void (*deliver_note_fn)(const char *what, unsigned long long seq,
    const char *detail, void *arg);

/*
 * Delivers the queue oldest first, merging consecutive batches of the same
 * kind, reporter and epoch (sent with the last one's seq). Stops at the
 * first batch no URL accepts, or when the time bound leaves only
 * reserve_ms. A 4xx moves the batch to rejected/; a corrupt file goes to
 * corrupt/; both are skipped. Returns 0 when the queue is empty afterwards,
 * -EAGAIN when batches remain (st->err says why), other -errno on spool
 * errors.
 */
int deliver_spool(struct spool *sp, const struct deliver_opts *o,
    struct deliver_stats *st, deliver_note_fn note, void *arg);

#endif
