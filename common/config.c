/* Typed JSON configuration: a key table maps dotted paths onto a struct. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "fsio.h"
#include "report_json.h"
#include "cm_limits.h"

void
config_strlist_free(struct config_strlist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
strlist_push(struct config_strlist *l, const char *s, size_t len)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strndup(s, len);
	if (v[l->n] == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

int
config_strlist_split(struct config_strlist *l, const char *s)
{
	struct config_strlist tmp = { 0 };

	while (*s != '\0') {
		size_t len = strcspn(s, ",");
		size_t lead = strspn(s, " \t");
		if (len > lead) {
			size_t end = len;
			while (end > lead && (s[end - 1] == ' ' || s[end - 1] == '\t'))
				end--;
			if (strlist_push(&tmp, s + lead, end - lead) < 0) {
				config_strlist_free(&tmp);
				return -ENOMEM;
			}
		}
		s += len;
		if (*s == ',')
			s++;
	}
	config_strlist_free(l);
	*l = tmp;
	return 0;
}

static const struct config_key *
find_key(const struct config_key *keys, size_t nkeys, const char *path)
{
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(keys[i].path, path) == 0)
			return &keys[i];
	return NULL;
}

/* Whether some key lives below path (path is a section). */
static bool
is_section(const struct config_key *keys, size_t nkeys, const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < nkeys; i++)
		if (strncmp(keys[i].path, path, len) == 0 && keys[i].path[len] == '.')
			return true;
	return false;
}

static int
apply_value(const struct config_key *k, const cJSON *v, void *dst, char *err,
    size_t errlen)
{
	char *field = (char *)dst + k->offset;

	switch (k->type) {
	case CONFIG_STRING:
		if (!cJSON_IsString(v)) {
			snprintf(err, errlen, "%s: expected a string", k->path);
			return -EINVAL;
		}
		if (strlen(v->valuestring) >= k->size) {
			snprintf(err, errlen, "%s: longer than %zu bytes", k->path, k->size - 1);
			return -EINVAL;
		}
		memcpy(field, v->valuestring, strlen(v->valuestring) + 1);
		return 0;
	case CONFIG_INT: {
		double d = v->valuedouble;
		long l;
		if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d)) {
			snprintf(err, errlen, "%s: expected an integer", k->path);
			return -EINVAL;
		}
		/*
		 * (double)LONG_MAX rounds up to 2^63, so the range of long is
		 * [LONG_MIN, -(double)LONG_MIN): outside it the conversion to
		 * long is undefined. Compare as long only after that check.
		 */
		if (d < (double)LONG_MIN || d >= -(double)LONG_MIN) {
			snprintf(err, errlen, "%s: must be between %ld and %ld", k->path,
			    k->min, k->max);
			return -EINVAL;
		}
		l = (long)d;
		if (l < k->min || l > k->max) {
			snprintf(err, errlen, "%s: must be between %ld and %ld", k->path,
			    k->min, k->max);
			return -EINVAL;
		}
		*(long *)(void *)field = l;
		return 0;
	}
	case CONFIG_DOUBLE:
		if (!cJSON_IsNumber(v)) {
			snprintf(err, errlen, "%s: expected a number", k->path);
			return -EINVAL;
		}
		if (v->valuedouble < k->dmin || v->valuedouble > k->dmax) {
			snprintf(err, errlen, "%s: must be between %g and %g", k->path,
			    k->dmin, k->dmax);
			return -EINVAL;
		}
		*(double *)(void *)field = v->valuedouble;
		return 0;
	case CONFIG_BOOL:
		if (!cJSON_IsBool(v)) {
			snprintf(err, errlen, "%s: expected true or false", k->path);
			return -EINVAL;
		}
		*(bool *)(void *)field = cJSON_IsTrue(v);
		return 0;
	case CONFIG_STRLIST: {
		struct config_strlist tmp = { 0 }, *l = (struct config_strlist *)(void *)field;
		const cJSON *it;
		if (cJSON_IsString(v)) {
			if (config_strlist_split(&tmp, v->valuestring) < 0)
				goto oom;
		} else if (cJSON_IsArray(v)) {
			cJSON_ArrayForEach(it, v) {
				if (!cJSON_IsString(it)) {
					config_strlist_free(&tmp);
					snprintf(err, errlen, "%s: expected an array of strings",
					    k->path);
					return -EINVAL;
				}
				if (strlist_push(&tmp, it->valuestring,
				    strlen(it->valuestring)) < 0)
					goto oom;
			}
		} else {
			snprintf(err, errlen, "%s: expected an array of strings", k->path);
			return -EINVAL;
		}
		config_strlist_free(l);
		*l = tmp;
		return 0;
oom:
		config_strlist_free(&tmp);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	case CONFIG_IGNORED:
		return 0;
	}
	return -EINVAL;
}

static int
walk(const cJSON *obj, const char *prefix, const struct config_key *keys, size_t nkeys,
    void *dst, char *err, size_t errlen, config_warn_fn warn, void *warn_arg)
{
	const cJSON *it;
	char path[256];
	int rc;

	cJSON_ArrayForEach(it, obj) {
		const struct config_key *k;

		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] ? "." : "", it->string) >= sizeof(path)) {
			snprintf(err, errlen, "%.64s...: key path too long", path);
			return -EINVAL;
		}
		k = find_key(keys, nkeys, path);
		if (k != NULL && k->type == CONFIG_IGNORED) {
			if (warn != NULL) {
				char msg[320];
				snprintf(msg, sizeof(msg), "%s: section not used, ignored", path);
				warn(msg, warn_arg);
			}
			continue;
		}
		if (k != NULL) {
			rc = apply_value(k, it, dst, err, errlen);
			if (rc < 0)
				return rc;
			continue;
		}
		if (is_section(keys, nkeys, path)) {
			if (!cJSON_IsObject(it)) {
				snprintf(err, errlen, "%s: expected an object", path);
				return -EINVAL;
			}
			rc = walk(it, path, keys, nkeys, dst, err, errlen, warn, warn_arg);
			if (rc < 0)
				return rc;
			continue;
		}
		snprintf(err, errlen, "%s: unknown key", path);
		return -EINVAL;
	}
	return 0;
}

int
config_load_json(const char *text, size_t len, const struct config_key *keys,
    size_t nkeys, void *dst, char *err, size_t errlen, config_warn_fn warn, void *warn_arg)
{
	cJSON *root;
	int rc;

	if (report_json_has_nul(text, len)) {
		snprintf(err, errlen, "JSON strings must not hold NUL characters");
		return -EINVAL;
	}
	root = cJSON_ParseWithLength(text, len);
	if (root == NULL) {
		const char *at = cJSON_GetErrorPtr();
		long off = at != NULL && at >= text && at <= text + len ? (long)(at - text) : -1;
		snprintf(err, errlen, "not valid JSON (near byte %ld)", off);
		return -EINVAL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "top level must be a JSON object");
		cJSON_Delete(root);
		return -EINVAL;
	}
	rc = walk(root, "", keys, nkeys, dst, err, errlen, warn, warn_arg);
	cJSON_Delete(root);
	return rc;
}

int
config_load_file(const char *path, const struct config_key *keys, size_t nkeys,
    void *dst, char *err, size_t errlen, config_warn_fn warn, void *warn_arg)
{
	char *buf = NULL, inner[512];
	size_t len;
	int rc;

	rc = fsio_read_file(path, LIMIT_CONFIG_BYTES, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	rc = config_load_json(buf, len, keys, nkeys, dst, inner, sizeof(inner), warn,
	    warn_arg);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, inner);
	free(buf);
	return rc;
}
