/*
 * A growable byte buffer, after curl's dynbuf: appends grow it, an optional
 * limit bounds it, and its data is kept NUL-terminated for use as a string.
 */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

/*
 * data is NULL until the first byte is added, then NUL-terminated (the NUL
 * is not counted in len). cap is the allocated size; max bounds len (0: no
 * limit). The buffer owns data; buf_free() or buf_take() releases it.
 */
struct buf {
	char *data;
	size_t len, cap, max;
};

/* An empty buffer holding at most max bytes (0: no limit). Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes of p. 0, -ENOMEM, or -E2BIG past max; b unchanged on failure. */
int buf_add(struct buf *b, const void *p, size_t n);

/* Appends one byte, as buf_add(). */
int buf_addc(struct buf *b, char c);

/* Appends printf-formatted text, as buf_add(); -EINVAL on a format error. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes room for n more bytes without changing len. 0, -ENOMEM or -E2BIG. */
int buf_reserve(struct buf *b, size_t n);

/*
 * Hands data over to the caller (free() it) and resets b to empty, keeping
 * max. An empty buffer gives a fresh "". NULL only when out of memory.
 */
char *buf_take(struct buf *b);

/* len 0, keeps the memory for reuse. */
void buf_reset(struct buf *b);

/* Frees the data and leaves b empty (reusable, same max). Accepts NULL. */
void buf_free(struct buf *b);

#endif
