/* The per-member memory behind member-update suppression. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fsio.h"
#include "seen.h"
#include "spool.h"

/* Reports sorted by Node-Name, stored without Serf-Event. */
struct seen {
	struct batch b;
	bool dirty;
};

static int
cmp_name(const void *a, const void *b)
{
	const struct report *x = a, *y = b;

	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

int
seen_load(const char *dir, struct seen **ret)
{
	char path[PATH_MAX], *buf = NULL;
	struct seen *s;
	size_t len;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	batch_init(&s->b);
	if ((size_t)snprintf(path, sizeof(path), "%s/seen", dir) < sizeof(path) &&
	    fsio_read_file(path, LIMIT_RECORD_BYTES, &buf, &len) == 0) {
		if (spool_record_decode(buf, len, &s->b) < 0)
			batch_init(&s->b);
		free(buf);
		if (s->b.n > 1)
			qsort(s->b.reports, s->b.n, sizeof(*s->b.reports), cmp_name);
	}
	*ret = s;
	return 0;
}

void
seen_free(struct seen *s)
{
	if (s == NULL)
		return;
	batch_finish(&s->b);
	free(s);
}

/* Index of name, or of where it would go (*found says which). */
static size_t
find(const struct seen *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->b.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->b.reports[mid].name ? s->b.reports[mid].name : "", name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

bool
seen_unchanged(const struct seen *s, const struct report *r)
{
	struct report tmp = *r;
	bool found;
	size_t i;

	if (r->name == NULL)
		return false;
	i = find(s, r->name, &found);
	if (!found)
		return false;
	tmp.event = NULL;	/* a shallow view without the event */
	return report_equal(&s->b.reports[i], &tmp);
}

int
seen_note(struct seen *s, enum report_kind kind, const struct report *r)
{
	struct report copy;
	bool found;
	size_t i;

	if (r->name == NULL)
		return 0;
	i = find(s, r->name, &found);
	if (kind != REPORT_KIND_DISCOVERED) {
		if (found) {
			batch_remove(&s->b, i);
			s->dirty = true;
		}
		return 0;
	}
	if (found && seen_unchanged(s, r))
		return 0;
	report_init(&copy);
	if (report_copy(&copy, r) < 0)
		return -ENOMEM;
	free(copy.event);
	copy.event = NULL;
	free(copy.status);
	copy.status = NULL;
	if (found) {
		report_finish(&s->b.reports[i]);
		s->b.reports[i] = copy;
	} else {
		if (batch_add(&s->b, &copy) < 0) {
			report_finish(&copy);
			return -ENOMEM;
		}
		/* batch_add appended: rotate the new last entry into place. */
		struct report last = s->b.reports[s->b.n - 1];
		memmove(&s->b.reports[i + 1], &s->b.reports[i],
		    (s->b.n - 1 - i) * sizeof(*s->b.reports));
		s->b.reports[i] = last;
	}
	s->dirty = true;
	return 0;
}

int
seen_save(struct seen *s, const char *dir)
{
	char *buf = NULL;
	size_t len;
	int r;

	if (!s->dirty)
		return 0;
	if ((r = spool_record_encode(&s->b, &buf, &len)) < 0)
		return r;
	/* In place: a copy torn by a crash fails its CRC and reads as empty. */
	r = spool_write_inplace(dir, "seen", buf, len);
	free(buf);
	if (r == 0)
		s->dirty = false;
	return r;
}
