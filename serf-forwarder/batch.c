/* Batches and the serf member -> report mapping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

void
batch_init(struct batch *b)
{
	memset(b, 0, sizeof(*b));
}

void
batch_finish(struct batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		report_finish(&b->reports[i]);
	free(b->reports);
	free(b->reporter);
	memset(b, 0, sizeof(*b));
}

static int
grow(struct batch *b)
{
	size_t cap;
	struct report *v;

	if (b->n < b->cap)
		return 0;
	cap = b->cap ? b->cap * 2 : 8;
	v = realloc(b->reports, cap * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	b->reports = v;
	b->cap = cap;
	return 0;
}

int
batch_add(struct batch *b, struct report *r)
{
	if (grow(b) < 0)
		return -ENOMEM;
	b->reports[b->n++] = *r;
	report_init(r);
	return 0;
}

int
batch_add_copy(struct batch *b, const struct report *r)
{
	if (grow(b) < 0)
		return -ENOMEM;
	report_init(&b->reports[b->n]);
	if (report_copy(&b->reports[b->n], r) < 0)
		return -ENOMEM;
	b->n++;
	return 0;
}

void
batch_remove(struct batch *b, size_t i)
{
	if (i >= b->n)
		return;
	report_finish(&b->reports[i]);
	memmove(&b->reports[i], &b->reports[i + 1], (b->n - i - 1) * sizeof(*b->reports));
	b->n--;
}

enum report_kind
batch_event_kind(const char *event)
{
	if (event == NULL)
		return REPORT_KIND_NONE;
	if (strcmp(event, "member-join") == 0 || strcmp(event, "member-update") == 0)
		return REPORT_KIND_DISCOVERED;
	if (strcmp(event, "member-leave") == 0 || strcmp(event, "member-failed") == 0 ||
	    strcmp(event, "member-reap") == 0)
		return REPORT_KIND_DISAPPEARED;
	return REPORT_KIND_NONE;
}

static const char *
set_why(int r, const char *key, char *why, size_t whylen)
{
	if (r == -E2BIG)
		snprintf(why, whylen, "%s is too long or the member has more than %d tags",
		    key, LIMIT_REPORT_TAGS);
	else if (r == -EEXIST)
		snprintf(why, whylen, "tag %s given twice", key);
	return why;
}

int
batch_member_report(const struct serf_member *m, const char *event,
    const struct batch_tags *t, struct report *ret, char *why, size_t whylen)
{
	const char *label = serf_member_tag(m, t->label);
	const char *serial = serf_member_tag(m, t->serial);
	const char *addr = serf_member_tag(m, t->addr);
	struct report r;
	int rc;

	report_init(&r);
	if (label == NULL || label[0] == '\0')
		label = m->name;
	if (serial == NULL)
		serial = "";
	if (addr == NULL || addr[0] == '\0')
		addr = m->addr;
	if ((rc = report_set(&r, REPORT_KEY_LABEL, label)) < 0 ||
	    (rc = report_set(&r, REPORT_KEY_SERIAL, serial)) < 0 ||
	    (rc = report_set(&r, REPORT_KEY_ADDR, addr)) < 0 ||
	    (rc = report_set(&r, REPORT_KEY_NAME, m->name)) < 0 ||
	    (rc = report_set(&r, REPORT_KEY_ROLE, m->role ? m->role : "")) < 0 ||
	    (event != NULL && (rc = report_set(&r, REPORT_KEY_EVENT, event)) < 0) ||
	    (m->status != NULL && (rc = report_set(&r, REPORT_KEY_STATUS, m->status)) < 0)) {
		if (rc != -ENOMEM)
			snprintf(why, whylen, "member %s: a report key is too long", m->name);
		goto fail;
	}
	for (size_t i = 0; i < m->ntags; i++) {
		const char *k = m->tags[i].key;
		if (strcmp(k, t->label) == 0 || strcmp(k, t->serial) == 0 ||
		    strcmp(k, t->addr) == 0 || strcmp(k, "role") == 0)
			continue;
		/* A tag spelled like a report key would shadow it: keep the key. */
		if (report_get(&r, k) != NULL || strcmp(k, REPORT_KEY_EVENT) == 0 ||
		    strcmp(k, REPORT_KEY_STATUS) == 0)
			continue;
		if ((rc = report_set(&r, k, m->tags[i].value)) < 0) {
			if (rc != -ENOMEM) {
				char tmp[96];
				snprintf(why, whylen, "member %s: %s", m->name,
				    set_why(rc, k, tmp, sizeof(tmp)));
			}
			goto fail;
		}
	}
	if ((rc = report_validate(&r, why, whylen)) < 0)
		goto fail;
	*ret = r;
	return 0;
fail:
	report_finish(&r);
	return rc;
}

char *
batch_json(const struct batch *b)
{
	return report_json_encode(b->reports, b->n, 0);
}
