/* clusterctl's human output: aligned tables and indented JSON trees. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_print.h"

struct ctl_table {
	size_t ncols;
	char **cells;		/* row-major, the headers first */
	size_t nrows;		/* rows, headers included */
	size_t cap;		/* rows allocated */
};

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers)
{
	struct ctl_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	if (ctl_table_add(t, headers) < 0) {
		ctl_table_free(t);
		return NULL;
	}
	return t;
}

int
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	char **c;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		if (c == NULL)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	c = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		c[i] = strdup(cells[i] != NULL ? cells[i] : "-");
		if (c[i] == NULL) {
			while (i-- > 0)
				free(c[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

void
ctl_table_print(const struct ctl_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (w == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t n = strlen(t->cells[r * t->ncols + i]);
			if (n > w[i])
				w[i] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		size_t last = t->ncols;

		/* Empty cells at the end of a row leave no trailing blanks. */
		while (last > 1 && t->cells[r * t->ncols + last - 1][0] == '\0')
			last--;
		for (size_t i = 0; i < last; i++) {
			const char *cell = t->cells[r * t->ncols + i];
			if (i + 1 == last)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)w[i], cell);
		}
	}
	free(w);
}

void
ctl_table_free(struct ctl_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* A number as text: integral values without a fraction. */
static void
number(double d, char *buf, size_t len)
{
	/* NaN fails the range test; no libm needed. */
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
		snprintf(buf, len, "%.0f", d);
	else
		snprintf(buf, len, "%g", d);
}

/* Joins the strings of an array with commas into buf (truncated with "..."). */
static const char *
join(const cJSON *a, char *buf, size_t len)
{
	size_t used = 0;
	const cJSON *e;

	buf[0] = '\0';
	cJSON_ArrayForEach(e, a) {
		char num[64];
		const char *s = cJSON_IsString(e) ? e->valuestring : NULL;
		int n;

		if (s == NULL && cJSON_IsNumber(e)) {
			number(e->valuedouble, num, sizeof(num));
			s = num;
		}
		if (s == NULL)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", s);
		if (n < 0 || (size_t)n >= len - used) {
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			break;
		}
		used += (size_t)n;
	}
	return buf;
}

const char *
ctl_cell(const cJSON *o, const char *key, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (cJSON_IsString(v))
		return v->valuestring[0] != '\0' ? v->valuestring : "-";
	if (cJSON_IsNumber(v)) {
		number(v->valuedouble, buf, len);
		return buf;
	}
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "yes" : "no";
	if (cJSON_IsArray(v) && join(v, buf, len)[0] != '\0')
		return buf;
	return "-";
}

static void
scalar(FILE *f, const cJSON *v)
{
	char buf[64];

	if (cJSON_IsString(v)) {
		fputs(v->valuestring, f);
	} else if (cJSON_IsNumber(v)) {
		number(v->valuedouble, buf, sizeof(buf));
		fputs(buf, f);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	} else if (cJSON_IsNull(v)) {
		fputs("null", f);
	} else {
		char *t = cJSON_PrintUnformatted(v);
		fputs(t != NULL ? t : "?", f);
		free(t);
	}
}

void
ctl_print_tree(FILE *f, const cJSON *v, int indent)
{
	const cJSON *e;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) {
		fprintf(f, "%*s", indent, "");
		scalar(f, v);
		fputc('\n', f);
		return;
	}
	cJSON_ArrayForEach(e, v) {
		bool nested = (cJSON_IsObject(e) || cJSON_IsArray(e)) &&
		    cJSON_GetArraySize(e) > 0;

		fprintf(f, "%*s", indent, "");
		if (cJSON_IsObject(v))
			fprintf(f, "%s:%s", e->string, nested ? "" : " ");
		else if (nested)
			fputs("-", f);
		if (nested) {
			fputc('\n', f);
			ctl_print_tree(f, e, indent + 4);
			continue;
		}
		if (cJSON_IsObject(e))
			fputs("{}", f);
		else if (cJSON_IsArray(e))
			fputs("[]", f);
		else
			scalar(f, e);
		fputc('\n', f);
	}
}

void
ctl_print_raw(const struct ctl_reply *r)
{
	if (r->body == NULL || r->len == 0)
		return;
	fwrite(r->body, 1, r->len, stdout);
	if (r->body[r->len - 1] != '\n')
		fputc('\n', stdout);
}

int
ctl_print_objects(FILE *f, const cJSON *arr, const char *const *headers,
    const char *const *keys, size_t ncols)
{
	struct ctl_table *t = ctl_table_new(ncols, headers);
	char (*buf)[256] = calloc(ncols, sizeof(*buf));
	const char **row = calloc(ncols, sizeof(*row));
	const cJSON *o;
	int rc = -ENOMEM;

	if (t == NULL || buf == NULL || row == NULL)
		goto out;
	cJSON_ArrayForEach(o, arr) {
		for (size_t i = 0; i < ncols; i++)
			row[i] = ctl_cell(o, keys[i], buf[i], sizeof(buf[i]));
		if (ctl_table_add(t, row) < 0)
			goto out;
	}
	ctl_table_print(t, f);
	rc = 0;
out:
	free(row);
	free(buf);
	ctl_table_free(t);
	return rc;
}
