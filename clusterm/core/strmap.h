/*
 * A string-keyed hash map of pointers (open addressing). Keys are not
 * copied: the caller keeps each key alive while it is in the map (usually
 * the key is a field of the value).
 */
#ifndef STRMAP_H
#define STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
void strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces. -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, void *val);
/* Removes; returns the value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);

#endif
