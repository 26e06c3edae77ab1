/*
 * msgpack pieces shared by the operation records (ops.c) and the
 * snapshots (records.c): a report as a string map, and checked integers.
 */
#ifndef MPUTIL_H
#define MPUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>

#include "report.h"

/* Packs r as a map of its present keys and tags. Non-zero on failure. */
int mputil_pack_report(msgpack_packer *pk, const struct report *r);

/* A signed integer that fits int64, or false. */
bool mputil_get_i64(const msgpack_object *o, long long *ret);
/* A non-negative integer, or false. */
bool mputil_get_u64(const msgpack_object *o, uint64_t *ret);

#endif
