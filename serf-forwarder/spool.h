/*
 * The spool: a durable FIFO of batches that could not be delivered yet,
 * plus the reporter's epoch and sequence counter. One directory:
 *
 *   lock        flock'd by every run that touches the queue
 *   epoch       "<epoch>\n<reserved seq>\n", written durably
 *   seq         "<next seq> <boot id>\n", overwritten in place (see spool.c)
 *   q/          one file per batch, named by its seq (oldest = smallest)
 *   incoming/   batches of runs that could not get the lock in time, not
 *               yet numbered; the next run holding the lock moves them
 *               into q/ in the order they were written (spool_absorb)
 *   rejected/   batches clusterm answered with 4xx, with the reply
 *   corrupt/    queue and incoming/ files whose framing or CRC was bad,
 *               or that could not be read
 *   seen        the last delivered report per member (seen.c)
 *   last_error  the last delivery error, one line
 *   tick.lock, sync, self   a tick's (tick.h)
 *
 * A record is [u32 LE payload length][u32 LE CRC-32C of payload][msgpack
 * payload]: a map {epoch, seq, kind, reporter, t, reports: [{k: v}]}.
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"

struct spool;

struct spool_entry {
	char name[32];
	unsigned long long seq;
	size_t size;
};

/*
 * Creates dir (and q/) when missing and takes its lock, waiting until
 * deadline_ms (fsio_mono_ms clock) at most: -EWOULDBLOCK when another run
 * still holds it then. *ret is freed (and the lock dropped) by spool_close.
 */
int spool_open(const char *dir, long long deadline_ms, struct spool **ret);
void spool_close(struct spool *s);
const char *spool_dir(const struct spool *s);

/*
 * Gives b the spool's epoch and the next sequence number (creating the
 * epoch on first use). 0 or -errno.
 */
int spool_assign(struct spool *s, struct batch *b);

/*
 * The spool's epoch (creating it on first use) and the last sequence
 * number it may have given (next - 1: 0 when none yet), without taking
 * one: what a heartbeat carries. 0 or -errno.
 */
int spool_position(struct spool *s, char ret_epoch[LIMIT_EPOCH_LEN + 1],
    unsigned long long *ret_last);

/*
 * Writes b to the queue durably (write, fsync, rename, fsync of q/). When
 * the queue would pass max_bytes, it is first compacted to the newest report
 * per (reporter, node), b included; *ret_compacted says so. 0 or -errno.
 */
int spool_push(struct spool *s, const struct batch *b, unsigned long long max_bytes,
    bool *ret_compacted);

/* The queue, oldest first (malloc'd array, caller frees). */
int spool_list(struct spool *s, struct spool_entry **ret, size_t *ret_n);
/* Reads one queued batch; -EBADMSG when its framing, CRC or msgpack is bad. */
int spool_load(struct spool *s, const struct spool_entry *e, struct batch *ret);
/* Removes a delivered batch (spool_sync makes the removals durable). */
int spool_drop(struct spool *s, const struct spool_entry *e);
int spool_sync(struct spool *s);
/* Moves a corrupt queue file to corrupt/. */
int spool_quarantine(struct spool *s, const struct spool_entry *e);
/*
 * Writes rejected/<seq>-<epoch>.json (the body sent) and .reply (status and
 * the server's answer) durably.
 */
int spool_reject(struct spool *s, const struct batch *b, const char *body,
    long status, const char *reply);
/* Records (text) or clears (NULL) the last delivery error. */
int spool_set_error(struct spool *s, const char *text);
/*
 * Writes b without the lock, as incoming/<stamp>-<pid>-<n>-<boot id>.b
 * (temporary file, fsync, rename, fsync of incoming/): for a run that
 * could not get the lock within its bound. b needs no epoch or seq. The
 * stamp is CLOCK_BOOTTIME, so names sort in writing order within a boot.
 * 0 or -errno.
 */
int spool_incoming_write(const char *dir, const struct batch *b);

/* Told about each batch spool_absorb moved into the queue; negative (-errno) stops. */
typedef int (*spool_absorb_fn)(const struct batch *b, void *arg);

/*
 * Moves incoming/ into the queue, in writing order (earlier boots first),
 * giving each batch the next sequence number. A batch is numbered in place
 * first and then renamed into q/, so a crash in between leaves it in
 * incoming/ with its number, which the next absorb keeps. Compacts like
 * spool_push when the queue would pass max_bytes. Corrupt or unreadable
 * files, and entries that are not plain files, go to corrupt/, so that one
 * bad file never holds up the others. Stops at deadline_ms (fsio_mono_ms clock). Returns 0 when
 * incoming/ is empty afterwards, -EAGAIN when batches remain there (newer
 * batches must then go behind them, into incoming/), other -errno; *ret_n
 * (batches moved) and *ret_compacted are written for 0 and -EAGAIN.
 */
int spool_absorb(struct spool *s, unsigned long long max_bytes, long long deadline_ms,
    spool_absorb_fn fn, void *arg, size_t *ret_n, bool *ret_compacted);

/* Corrupt records met by spool_push's compaction and spool_absorb since open. */
size_t spool_ncorrupt(const struct spool *s);
/*
 * The last incoming/ file spool_absorb moved to corrupt/ (corrupt,
 * unreadable or not a plain file), with why, as "<name> (<why>)"; "" none.
 */
const char *spool_last_aside(const struct spool *s);

/* Frames b as one record (malloc'd, caller frees). 0 or -ENOMEM. */
int spool_record_encode(const struct batch *b, char **ret_buf, size_t *ret_len);
/* Decodes one record; -EBADMSG when it is not one. */
int spool_record_decode(const char *buf, size_t len, struct batch *ret);

/*
 * Overwrites dir/name in place (truncating what is left over), without
 * temporary file, rename or fsync: for files read only under the lock
 * whose readers reject a torn or stale copy safely (seq, seen).
 */
int spool_write_inplace(const char *dir, const char *name, const void *buf, size_t len);

struct spool_status {
	size_t depth;			/* q/ and incoming/ files */
	unsigned long long bytes;
	long long oldest_ms;		/* wall clock, -1 when empty */
	char last_error[512];		/* "" when none */
};

/* Reads the spool's state without taking the lock. */
int spool_status(const char *dir, struct spool_status *ret);

#endif
