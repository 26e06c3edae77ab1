/*
 * Typed JSON configuration loading. A table of keys (dotted paths) maps a
 * JSON file onto a struct; errors name the key path and the expected type.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_type {
	CONFIG_STRING,		/* char[size] at offset */
	CONFIG_INT,		/* long at offset, within [min, max] */
	CONFIG_DOUBLE,		/* double at offset, within [dmin, dmax] */
	CONFIG_BOOL,		/* bool at offset */
	CONFIG_STRLIST,		/* struct config_strlist at offset; a string is a one-element list */
	CONFIG_IGNORED,		/* a section accepted and ignored with a warning */
};

struct config_key {
	const char *path;	/* "monitor.grace_s" */
	enum config_type type;
	size_t offset;
	size_t size;		/* CONFIG_STRING: buffer size */
	long min, max;		/* CONFIG_INT */
	double dmin, dmax;	/* CONFIG_DOUBLE */
};

struct config_strlist {
	char **v;		/* owned; config_strlist_free() */
	size_t n;
};

void config_strlist_free(struct config_strlist *l);
/* Replaces l with the comma separated items of s. -ENOMEM. */
int config_strlist_split(struct config_strlist *l, const char *s);

/* Called with one warning sentence (an ignored section). */
typedef void (*config_warn_fn)(const char *msg, void *arg);

/*
 * Applies the JSON text onto dst (whose defaults the caller set). Keys not
 * in the table are an error. On failure returns -EINVAL (or -ENOMEM) and
 * writes one sentence naming the key path into err; dst may be partly
 * written then.
 */
int config_load_json(const char *text, size_t len, const struct config_key *keys,
    size_t nkeys, void *dst, char *err, size_t errlen, config_warn_fn warn, void *warn_arg);

/* The same for a file; an unreadable file is named in err. */
int config_load_file(const char *path, const struct config_key *keys, size_t nkeys,
    void *dst, char *err, size_t errlen, config_warn_fn warn, void *warn_arg);

#endif
