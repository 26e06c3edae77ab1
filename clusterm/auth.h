/*
 * Bearer tokens and roles (CONTRACT 4, "Auth"). The tokens file is JSON,
 * {"tokens":[{"name":"ops","role":"admin","token":"..."}]}; it must not be
 * readable or writable by group or others. Tokens are compared in constant
 * time and never logged.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* What a route needs. */
enum auth_role {
	AUTH_OPEN,	/* anyone (/healthz) */
	AUTH_REPORTER,	/* monitor endpoints */
	AUTH_READER,	/* GETs */
	AUTH_ADMIN,	/* everything else */
};

/* Tokens shorter than this are refused when the file is loaded. */
#define AUTH_TOKEN_MIN_LEN	16
#define AUTH_TOKEN_MAX_LEN	256
#define AUTH_MAX_TOKENS		1024

struct auth;

/* Loads and checks a tokens file. On failure err names the file and the entry. */
int auth_load(const char *path, struct auth **ret, char *err, size_t errlen);
void auth_free(struct auth *a);
size_t auth_count(const struct auth *a);

/*
 * Checks an Authorization header value (may be NULL) for a route's need.
 * Returns 0 and the token's name in *ret_name (owned by a), or 401 (no or
 * unknown token) or 403 (the token's role may not).
 */
int auth_check(const struct auth *a, const char *authorization, enum auth_role need,
    const char **ret_name);

/* Whether the header carries any known token (whatever its role). */
bool auth_valid(const struct auth *a, const char *authorization);

#endif
