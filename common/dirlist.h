/* Directory listing: the names in a directory that match a prefix and suffix. */
#ifndef DIRLIST_H
#define DIRLIST_H

#include <stddef.h>

/*
 * The entries of dir whose names start with prefix and end with suffix
 * (NULL or "" matches anything; "." and ".." never), sorted by strcmp.
 * *ret_names is a malloc'd array of *ret_n malloc'd names (NULL when none);
 * free it with dirlist_free(). 0 or -errno; nothing written on failure.
 */
int dirlist(const char *dir, const char *prefix, const char *suffix,
    char ***ret_names, size_t *ret_n);

/* Frees what dirlist() returned. Accepts NULL. */
void dirlist_free(char **names, size_t n);

#endif
