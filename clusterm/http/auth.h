/*
 * Bearer tokens and roles (CONTRACT 4, "Auth"). The tokens file is JSON,
 * {"tokens":[{"name":"ops","role":"admin","token":"..."}]}; it must not be
 * readable or writable by group or others. Tokens are compared in constant
 * time and never logged. A reporter token may name the one reporter it
 * speaks for ("reporter":"n1"); one that does not is a shared token.
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
/* The packaged examples' tokens hold this: such a token is refused, not served. */
#define AUTH_PLACEHOLDER	"CHANGE-ME"

struct auth;

/* The token a request carried; the strings are owned by the struct auth. */
struct auth_id {
	const char *name;
	enum auth_role role;
	const char *reporter;	/* the bound reporter, NULL for a shared token */
};

/* Loads and checks a tokens file. On failure err names the file and the entry. */
int auth_load(const char *path, struct auth **ret, char *err, size_t errlen);
void auth_free(struct auth *a);
size_t auth_count(const struct auth *a);

/*
 * Checks an Authorization header value (may be NULL) for a route's need.
 * Returns 0, or 401 (no or unknown token) or 403 (the token's role may
 * not). Whenever a known token was found, *ret_id names it (even with 403).
 */
int auth_check(const struct auth *a, const char *authorization, enum auth_role need,
    struct auth_id *ret_id);

/* "reporter", "reader", "admin" ("anyone" for AUTH_OPEN). */
const char *auth_role_name(enum auth_role r);

/* Whether the header carries any known token (whatever its role). */
bool auth_valid(const struct auth *a, const char *authorization);

/*
 * The names of the shared reporter tokens (role reporter, no "reporter"),
 * comma-separated into buf (cut short with "..." when it is too small).
 * Returns how many there are.
 */
size_t auth_shared_reporters(const struct auth *a, char *buf, size_t len);

/* A serf member name as X-Reporter and "reporter" take it: 1 to
 * LIMIT_MEMBER_NAME_LEN bytes, no space, no control character. */
bool auth_member_name_valid(const char *s);

#endif
