/* The observer assignment and the members seen, in the spool dir (observe.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

size_t
observe_drop_reported(struct batch *b, const struct batch *sent)
{
	size_t dropped = 0;

	if (sent->kind != b->kind)
		return 0;
	for (size_t i = b->n; i-- > 0;) {
		for (size_t j = 0; j < sent->n; j++) {
			if (report_equal(&b->reports[i], &sent->reports[j])) {
				batch_remove(b, i);
				dropped++;
				break;
			}
		}
	}
	return dropped;
}

/* One parsed line of the members log. */
struct seen_line {
	char kind;		/* 'D' seen alive, 'G' seen gone */
	size_t order;		/* line number: the later wins */
	struct report rep;
};

static int
by_name_order(const void *a, const void *b)
{
	const struct seen_line *x = a, *y = b;
	int c = strcmp(x->rep.name, y->rep.name);

	if (c != 0)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Parses the log text into lines (malloc'd array); bad lines are skipped. */
static int
parse_log(char *buf, struct seen_line **ret, size_t *ret_n)
{
	struct seen_line *v = NULL;
	size_t n = 0, cap = 0, order = 0;
	char err[128];

	for (char *line = buf, *nl; *line != '\0'; line = nl + 1) {
		struct report_batch rb = { 0 };

		if ((nl = strchr(line, '\n')) == NULL)
			break;	/* a last line cut short: left out */
		*nl = '\0';
		order++;
		if ((line[0] != 'D' && line[0] != 'G') || line[1] != '\t' ||
		    report_json_decode(line + 2, strlen(line + 2), REPORT_FORM_ARRAY, &rb, err,
		    sizeof(err)) < 0 || rb.n != 1 || rb.reports[0].name == NULL) {
			report_batch_finish(&rb);
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			struct seen_line *nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				report_batch_finish(&rb);
				goto oom;
			}
			v = nv;
			cap = nc;
		}
		v[n].kind = line[0];
		v[n].order = order;
		v[n].rep = rb.reports[0];
		report_init(&rb.reports[0]);
		report_batch_finish(&rb);
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		report_finish(&v[i].rep);
	free(v);
	return -ENOMEM;
}

/* The log line of one report: "D\t[{..}]\n" (malloc'd). */
static char *
log_line(char kind, const struct report *r)
{
	char *arr = report_json_encode(r, 1, 0), *line;
	size_t len;

	if (arr == NULL)
		return NULL;
	len = strlen(arr) + 4;
	if ((line = malloc(len)) != NULL)
		snprintf(line, len, "%c\t%s\n", kind, arr);
	free(arr);
	return line;
}

int
observe_members_load(const char *dir, struct batch *ret, struct batch *ret_gone)
{
	struct batch gone;
	struct seen_line *v = NULL;
	char path[4096];
	char *buf = NULL;
	size_t len, n = 0, distinct = 0;
	int r = 0;

	batch_init(ret);
	batch_init(&gone);
	if (ret_gone != NULL)
		batch_init(ret_gone);
	if (snprintf(path, sizeof(path), "%s/%s", dir, OBSERVE_MEMBERS_FILE) >=
	    (int)sizeof(path) || fsio_read_file(path, OBSERVE_MEMBERS_MAX, &buf, &len) < 0)
		return 0;
	if ((r = parse_log(buf, &v, &n)) < 0)
		goto out;
	qsort(v, n, sizeof(*v), by_name_order);
	for (size_t i = 0; i < n && r == 0; i++) {
		/* the last line of each name decides */
		if (i + 1 < n && strcmp(v[i].rep.name, v[i + 1].rep.name) == 0)
			continue;
		distinct++;
		if (v[i].kind == 'D')
			r = batch_add(ret, &v[i].rep);
		else
			r = batch_add(&gone, &v[i].rep);
	}
	if (r == 0 && n > 2 * distinct + 64) {
		/* Compacted to one line a member, its last (a hint: no fsync). */
		struct buf_text { char *p; size_t len, cap; } out = { 0 };
		for (size_t i = 0; i < ret->n + gone.n; i++) {
			char *line = i < ret->n ? log_line('D', &ret->reports[i]) :
			    log_line('G', &gone.reports[i - ret->n]);
			size_t l;
			if (line == NULL)
				break;
			l = strlen(line);
			if (out.len + l + 1 > out.cap) {
				size_t nc = (out.cap + l + 1) * 2;
				char *np = realloc(out.p, nc);
				if (np == NULL) {
					free(line);
					break;
				}
				out.p = np;
				out.cap = nc;
			}
			memcpy(out.p + out.len, line, l);
			out.len += l;
			free(line);
		}
		if (out.p != NULL)
			(void)fsio_write_atomic_nosync(dir, OBSERVE_MEMBERS_FILE, out.p, out.len,
			    0600);
		free(out.p);
	}
out:
	for (size_t i = 0; i < n; i++)
		report_finish(&v[i].rep);
	free(v);
	free(buf);
	if (r == 0 && ret_gone != NULL)
		*ret_gone = gone;
	else
		batch_finish(&gone);
	return r;
}

int
observe_members_update(const char *dir, const struct batch *b)
{
	char path[4096];
	int fd, r = 0;

	if (b->n == 0)
		return 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, OBSERVE_MEMBERS_FILE) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < b->n && r == 0; i++) {
		char *line;

		if (b->reports[i].name == NULL)
			continue;
		line = log_line(b->kind == REPORT_KIND_DISCOVERED ? 'D' : 'G', &b->reports[i]);
		if (line == NULL) {
			r = -ENOMEM;
			break;
		}
		r = fsio_write_all(fd, line, strlen(line));
		free(line);
	}
	close(fd);
	return r;
}
