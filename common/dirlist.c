/* Directory listing, sorted by name. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dirlist.h"

static bool
matches(const char *name, const char *prefix, const char *suffix)
{
	size_t n = strlen(name), pl = strlen(prefix), sl = strlen(suffix);

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	return n >= pl + sl && strncmp(name, prefix, pl) == 0 &&
	    strcmp(name + n - sl, suffix) == 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a copy of name to *v (n used, *cap allocated). 0 or -ENOMEM. */
static int
push(char ***v, size_t *n, size_t *cap, const char *name)
{
	char *copy;

	if (*n == *cap) {
		size_t c = *cap > 0 ? *cap * 2 : 16;
		char **p = realloc(*v, c * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	copy = strdup(name);
	if (copy == NULL)
		return -ENOMEM;
	(*v)[(*n)++] = copy;
	return 0;
}

int
dirlist(const char *dir, const char *prefix, const char *suffix,
    char ***ret_names, size_t *ret_n)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	int r = 0;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!matches(de->d_name, prefix ? prefix : "", suffix ? suffix : ""))
			continue;
		r = push(&v, &n, &cap, de->d_name);
		if (r < 0)
			break;
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	if (r < 0) {
		dirlist_free(v, n);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_name);
	*ret_names = v;
	*ret_n = n;
	return 0;
}

void
dirlist_free(char **names, size_t n)
{
	if (names == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
