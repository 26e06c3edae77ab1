/*
 * httpc_url() on its own: it needs no libcurl, so serf-forwarder (which
 * must not load libcurl for http:// URLs) links this object alone.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

char *
httpc_url(const char *base, const char *path)
{
	bool scheme = strstr(base, "://") != NULL;
	size_t blen = strlen(base);
	size_t need;
	char *u;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	need = (scheme ? 0 : 7) + blen + strlen(path) + 1;
	u = malloc(need);
	if (u == NULL)
		return NULL;
	snprintf(u, need, "%s%.*s%s", scheme ? "" : "http://", (int)blen, base, path);
	return u;
}
