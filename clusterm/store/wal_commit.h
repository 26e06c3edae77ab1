/* The WAL's committer thread and the segment writes it shares with recovery. */
#ifndef WAL_COMMIT_H
#define WAL_COMMIT_H

#include <stddef.h>
#include <stdint.h>

struct wal;

/* Counts one fsync of the given duration into w's stats. Caller holds w->mu. */
void wal_commit_count_fsync(struct wal *w, double secs);

/*
 * Creates segment gen (must not exist) with its header, durably: the file
 * and the directory entry are fsync'd. *ret_fd is open for writing at the
 * end of the header. Each sync's duration goes to acc[(*nsyncs)++] (room
 * for 2). On failure why holds one sentence naming the file. 0 or -errno.
 */
int wal_commit_segment_create(struct wal *w, uint64_t gen, int *ret_fd, double *acc,
    int *nsyncs, char *why, size_t whylen);

/* Starts the committer thread on w->thread (w->seg_fd open). 0 or -errno. */
int wal_commit_start(struct wal *w);

#endif
