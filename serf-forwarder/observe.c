/* The observer assignment and the members seen, in the spool dir (observe.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cm_limits.h"
#include "fsio.h"
#include "observe.h"
#include "report_json.h"
#include "text.h"

void
observe_finish(struct observe *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n; i++)
		free(o->subjects[i]);
	free(o->subjects);
	memset(o, 0, sizeof(*o));
}

int
observe_parse(const char *json, struct observe *ret, char *why, size_t whylen)
{
	cJSON *root = cJSON_Parse(json), *v, *s, *e;
	struct observe o = { .known = true };
	int rc = -EINVAL;

	if (!cJSON_IsObject(root)) {
		snprintf(why, whylen, "observe is not a JSON object");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(unsigned long long)v->valuedouble) {
		snprintf(why, whylen, "observe.version is not a whole number >= 0");
		goto out;
	}
	o.version = (unsigned long long)v->valuedouble;
	s = cJSON_GetObjectItemCaseSensitive(root, "subjects");
	if (s == NULL) {
		/* {"version": 0}: observers are off */
		if (o.version != 0) {
			snprintf(why, whylen, "observe without subjects must have version 0");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) > OBSERVE_MAX_SUBJECTS) {
		snprintf(why, whylen, "observe.subjects is not an array of at most %d names",
		    OBSERVE_MAX_SUBJECTS);
		goto out;
	}
	o.on = true;
	o.subjects = calloc((size_t)cJSON_GetArraySize(s) + 1, sizeof(*o.subjects));
	if (o.subjects == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(e, s) {
		if (!cJSON_IsString(e) || e->valuestring[0] == '\0' ||
		    strlen(e->valuestring) > LIMIT_MEMBER_NAME_LEN ||
		    text_str_has_ctrl(e->valuestring)) {
			snprintf(why, whylen, "observe.subjects holds something that is no "
			    "member name");
			goto out;
		}
		if ((o.subjects[o.n] = strdup(e->valuestring)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		o.n++;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	if (rc == 0)
		*ret = o;
	else
		observe_finish(&o);
	return rc;
}

int
observe_load(const char *dir, struct observe *ret, char *why, size_t whylen)
{
	char path[4096];
	char *buf = NULL;
	size_t len;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (snprintf(path, sizeof(path), "%s/%s", dir, OBSERVE_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = fsio_read_file(path, OBSERVE_FILE_MAX, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(-r));
		return r;
	}
	r = observe_parse(buf, ret, why, whylen);
	free(buf);
	return r;
}

int
observe_save(const char *dir, const struct observe *o)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *text = NULL;
	int r = -ENOMEM;

	if (root == NULL || cJSON_AddNumberToObject(root, "version", (double)o->version) == NULL)
		goto out;
	if (o->on) {
		if ((arr = cJSON_AddArrayToObject(root, "subjects")) == NULL)
			goto out;
		for (size_t i = 0; i < o->n; i++)
			if (!cJSON_AddItemToArray(arr, cJSON_CreateString(o->subjects[i])))
				goto out;
	}
	if ((text = cJSON_PrintUnformatted(root)) == NULL)
		goto out;
	r = fsio_write_atomic(dir, OBSERVE_FILE, text, strlen(text), 0600);
out:
	free(text);
	cJSON_Delete(root);
	return r;
}

bool
observe_has(const struct observe *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->subjects[i], name) == 0)
			return true;
	return false;
}

bool
observe_wants(const struct observe *o, const char *self, const char *member)
{
	if (!o->known || !o->on)
		return true;
	if (member == NULL)
		return false;
	return strcmp(member, self) == 0 || observe_has(o, member);
}

int
observe_members_load(const char *dir, struct batch *ret)
{
	struct report_batch rb = { 0 };
	char path[4096], err[256];
	char *buf = NULL;
	size_t len;
	int r = 0;

	batch_init(ret);
	if (snprintf(path, sizeof(path), "%s/%s", dir, OBSERVE_MEMBERS_FILE) >=
	    (int)sizeof(path) || fsio_read_file(path, OBSERVE_MEMBERS_MAX, &buf, &len) < 0)
		return 0;
	if (report_json_decode(buf, len, REPORT_FORM_ARRAY, &rb, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < rb.n && r == 0; i++)
			r = batch_add(ret, &rb.reports[i]);
	}
	report_batch_finish(&rb);
	free(buf);
	return r;
}

/* The index of member name in b, or b->n. */
static size_t
index_of(const struct batch *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->reports[i].name != NULL && strcmp(b->reports[i].name, name) == 0)
			return i;
	return b->n;
}

int
observe_members_update(const char *dir, const struct batch *b)
{
	struct batch m;
	char *text = NULL;
	int r;

	if ((r = observe_members_load(dir, &m)) < 0)
		goto out;
	for (size_t i = 0; i < b->n; i++) {
		const struct report *rep = &b->reports[i];
		size_t j;

		if (rep->name == NULL)
			continue;
		if ((j = index_of(&m, rep->name)) < m.n)
			batch_remove(&m, j);
		if (b->kind == REPORT_KIND_DISCOVERED && (r = batch_add_copy(&m, rep)) < 0)
			goto out;
	}
	if ((text = batch_json(&m)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = fsio_write_atomic_nosync(dir, OBSERVE_MEMBERS_FILE, text, strlen(text), 0600);
out:
	free(text);
	batch_finish(&m);
	return r;
}
