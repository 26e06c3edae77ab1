/* Tokens file loading and constant-time checks. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "cm_limits.h"
#include "fsio.h"
#include "text.h"

struct token {
	char *name;
	enum auth_role role;	/* AUTH_REPORTER, AUTH_READER or AUTH_ADMIN */
	char *reporter;		/* the one X-Reporter it may send; NULL = shared */
	char *token;
	size_t len;
};

struct auth {
	struct token *v;
	size_t n;
};

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->v[i].name);
		free(a->v[i].reporter);
		/* Do not leave secrets in freed memory. */
		explicit_bzero(a->v[i].token, a->v[i].len);
		free(a->v[i].token);
	}
	free(a->v);
	free(a);
}

size_t
auth_count(const struct auth *a)
{
	return a != NULL ? a->n : 0;
}

bool
auth_member_name_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= LIMIT_MEMBER_NAME_LEN && text_visible(s, n, false);
}

const char *
auth_role_name(enum auth_role r)
{
	switch (r) {
	case AUTH_REPORTER: return "reporter";
	case AUTH_READER: return "reader";
	case AUTH_ADMIN: return "admin";
	default: return "anyone";
	}
}

static int
role_parse(const char *s)
{
	if (strcmp(s, "reporter") == 0)
		return AUTH_REPORTER;
	if (strcmp(s, "reader") == 0)
		return AUTH_READER;
	if (strcmp(s, "admin") == 0)
		return AUTH_ADMIN;
	return -1;
}

/*
 * Checks token entry it (the i-th of path) and adds it to a (a->v has room).
 * 0, -EINVAL with err saying what is wrong, or -ENOMEM.
 */
static int
add_token(struct auth *a, const cJSON *it, const char *path, size_t i, char *err,
    size_t errlen)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(it, "token");
	const cJSON *rep = cJSON_GetObjectItemCaseSensitive(it, "reporter");
	int r;

	if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
	    strlen(name->valuestring) > 64) {
		snprintf(err, errlen, "auth.tokens_file: %s: token %zu: name must be a "
		    "string of 1 to 64 characters", path, i);
		return -EINVAL;
	}
	if (!cJSON_IsString(role) || (r = role_parse(role->valuestring)) < 0) {
		snprintf(err, errlen, "auth.tokens_file: %s: token %s: role must be "
		    "reporter, reader or admin", path, name->valuestring);
		return -EINVAL;
	}
	if (!cJSON_IsString(tok) || strlen(tok->valuestring) < AUTH_TOKEN_MIN_LEN ||
	    strlen(tok->valuestring) > AUTH_TOKEN_MAX_LEN ||
	    strspn(tok->valuestring, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/=") != strlen(tok->valuestring)) {
		snprintf(err, errlen, "auth.tokens_file: %s: token %s: token must be %d "
		    "to %d characters of [A-Za-z0-9-._~+/=]", path, name->valuestring,
		    AUTH_TOKEN_MIN_LEN, AUTH_TOKEN_MAX_LEN);
		return -EINVAL;
	}
	/* The example file's tokens would let anyone who read the package in. */
	if (strstr(tok->valuestring, AUTH_PLACEHOLDER) != NULL) {
		snprintf(err, errlen, "auth.tokens_file: %s: token %s still holds the "
		    "placeholder %s of the example: put a secret of your own there (e.g. "
		    "openssl rand -hex 24)", path, name->valuestring, AUTH_PLACEHOLDER);
		return -EINVAL;
	}
	if (rep != NULL && (!cJSON_IsString(rep) ||
	    !auth_member_name_valid(rep->valuestring))) {
		snprintf(err, errlen, "auth.tokens_file: %s: token %s: reporter must be a "
		    "serf member name (1 to %d characters, no space or control "
		    "character)", path, name->valuestring, LIMIT_MEMBER_NAME_LEN);
		return -EINVAL;
	}
	if (rep != NULL && r != AUTH_REPORTER) {
		snprintf(err, errlen, "auth.tokens_file: %s: token %s: reporter is only "
		    "for tokens of role reporter", path, name->valuestring);
		return -EINVAL;
	}
	for (size_t k = 0; k < a->n; k++) {
		if (strcmp(a->v[k].name, name->valuestring) == 0 ||
		    strcmp(a->v[k].token, tok->valuestring) == 0) {
			snprintf(err, errlen, "auth.tokens_file: %s: token %s: name or "
			    "token used twice", path, name->valuestring);
			return -EINVAL;
		}
	}
	a->v[a->n].name = strdup(name->valuestring);
	a->v[a->n].token = strdup(tok->valuestring);
	a->v[a->n].len = strlen(tok->valuestring);
	a->v[a->n].role = (enum auth_role)r;
	a->v[a->n].reporter = rep != NULL ? strdup(rep->valuestring) : NULL;
	a->n++;
	if (a->v[a->n - 1].name == NULL || a->v[a->n - 1].token == NULL ||
	    (rep != NULL && a->v[a->n - 1].reporter == NULL))
		return -ENOMEM;
	return 0;
}

int
auth_load(const char *path, struct auth **ret, char *err, size_t errlen)
{
	struct auth *a = NULL;
	struct stat st;
	cJSON *root = NULL, *arr, *it;
	char *text = NULL;
	size_t len, i = 0;
	int rc = -EINVAL;

	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "auth.tokens_file: %s: %s", path, strerror(errno));
		return -errno;
	}
	if ((st.st_mode & 0077) != 0) {
		snprintf(err, errlen, "auth.tokens_file: %s is accessible by group or others "
		    "(mode %04o): chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	rc = fsio_read_file(path, LIMIT_CONFIG_BYTES, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "auth.tokens_file: %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = -EINVAL;
	root = cJSON_ParseWithLength(text, len);
	arr = cJSON_GetObjectItemCaseSensitive(root, "tokens");
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "auth.tokens_file: %s: must be {\"tokens\": [...]}", path);
		goto out;
	}
	if (cJSON_GetArraySize(arr) > AUTH_MAX_TOKENS) {
		snprintf(err, errlen, "auth.tokens_file: %s: more than %d tokens", path,
		    AUTH_MAX_TOKENS);
		goto out;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->v = calloc((size_t)cJSON_GetArraySize(arr) + 1,
	    sizeof(*a->v))) == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, arr) {
		rc = add_token(a, it, path, i, err, errlen);
		if (rc < 0)
			goto out;
		i++;
	}
	rc = -EINVAL;
	if (a->n == 0) {
		snprintf(err, errlen, "auth.tokens_file: %s: holds no token", path);
		goto out;
	}
	*ret = a;
	a = NULL;
	rc = 0;
out:
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	cJSON_Delete(root);
	auth_free(a);
	return rc;
}

/* Equal in time independent of where the first difference is. */
static bool
ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	size_t n = alen > blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;
		diff |= x ^ y;
	}
	return diff == 0;
}

int
auth_check(const struct auth *a, const char *authorization, enum auth_role need,
    struct auth_id *ret_id)
{
	const struct token *found = NULL;
	const char *tok;
	size_t len;

	if (need == AUTH_OPEN)
		return 0;
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return 401;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	if (len > AUTH_TOKEN_MAX_LEN)
		return 401;
	/* Every token is compared, so the time does not tell which matched. */
	for (size_t i = 0; i < a->n; i++)
		if (ct_equal(tok, len, a->v[i].token, a->v[i].len))
			found = &a->v[i];
	if (found == NULL)
		return 401;
	ret_id->name = found->name;
	ret_id->role = found->role;
	ret_id->reporter = found->reporter;
	if (found->role == AUTH_ADMIN || found->role == need)
		return 0;
	return 403;
}

bool
auth_valid(const struct auth *a, const char *authorization)
{
	struct auth_id id;

	/* Any role passes a reporter check or fails it with 403, not 401. */
	return auth_check(a, authorization, AUTH_REPORTER, &id) != 401;
}

size_t
auth_shared_reporters(const struct auth *a, char *buf, size_t len)
{
	size_t count = 0, used = 0;
	bool cut = len == 0;

	if (len > 0)
		buf[0] = '\0';
	for (size_t i = 0; a != NULL && i < a->n; i++) {
		int n;

		if (a->v[i].role != AUTH_REPORTER || a->v[i].reporter != NULL)
			continue;
		count++;
		if (cut)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", count > 1 ? ", " : "",
		    a->v[i].name);
		if (n < 0 || (size_t)n >= len - used) {
			/* The list goes into a log line: mark where it was cut. */
			cut = true;
			if (len >= 4)
				memcpy(buf + len - 4, "...", 4);
			continue;
		}
		used += (size_t)n;
	}
	return count;
}
