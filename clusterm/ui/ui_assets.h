/*
 * The dashboard's files (clusterm/ui/), embedded at build time by
 * clusterm/ui/embed.c into a generated C file: nothing is read at run time.
 */
#ifndef UI_ASSETS_H
#define UI_ASSETS_H

#include <stddef.h>

struct ui_asset {
	const char *name;		/* file name, "index.html" */
	const char *ctype;		/* Content-Type */
	const unsigned char *data;	/* static, not NUL-terminated */
	size_t len;
};

/* The files, terminated by name == NULL. */
extern const struct ui_asset ui_assets[];

#endif
