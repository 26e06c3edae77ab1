/*
 * A pre-check for untrusted msgpack. msgpack-c allocates what a container
 * header claims (n * 24 bytes for an array of n) before it reads a single
 * element, so a 5-byte input can ask for 96 GiB. Decoders of bytes from
 * disk call mpcheck_bounded() first.
 */
#ifndef MPCHECK_H
#define MPCHECK_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether buf starts with one complete msgpack object in which no container
 * claims more elements than there are bytes left to hold them (each element
 * takes at least one byte) and no string, bin or ext runs past len. Objects
 * in all then number at most len, which bounds what msgpack-c allocates.
 */
bool mpcheck_bounded(const void *buf, size_t len);

#endif
