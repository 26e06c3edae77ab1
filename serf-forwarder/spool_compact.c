/*
 * Compaction: when the queue would pass its bound, it is rewritten as the
 * newest report per (reporter, node), with new sequence numbers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsio.h"
#include "spool_impl.h"

struct item {
	const char *reporter;	/* points into the batch it came from */
	char node[LIMIT_NODE_NAME_LEN + 1];
	size_t ord;
	enum report_kind kind;
	struct report *r;
	bool keep;
};

static int
cmp_node(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = strcmp(x->reporter ? x->reporter : "", y->reporter ? y->reporter : "");

	if (c == 0)
		c = strcmp(x->node, y->node);
	if (c == 0)
		c = x->ord < y->ord ? -1 : x->ord > y->ord;
	return c;
}

static int
cmp_ord(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static bool
same_reporter(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static int
write_batch(struct spool *s, const struct batch *b)
{
	char name[32], *buf = NULL;
	size_t len;
	int r;

	if ((r = spool_record_encode(b, &buf, &len)) < 0)
		return r;
	spool_entry_name(name, sizeof(name), b->seq);
	r = fsio_write_atomic(s->qdir, name, buf, len, 0600);
	free(buf);
	return r;
}

/* Loads e[0..ne) into src (quarantining corrupt files); *ret_n loaded. */
static int
load_queue(struct spool *s, const struct spool_entry *e, size_t ne, struct batch *src,
    size_t *ret_n)
{
	size_t nsrc = 0;
	int r;

	for (size_t i = 0; i < ne; i++) {
		r = spool_load(s, &e[i], &src[nsrc]);
		if (r == -EBADMSG) {
			s->ncorrupt++;
			spool_quarantine(s, &e[i]);
			continue;
		}
		if (r < 0) {
			*ret_n = nsrc;
			return r;
		}
		nsrc++;
	}
	*ret_n = nsrc;
	return 0;
}

/*
 * Every report of src[0..nsrc) and nb as an item, in order, marked keep
 * when it is the newest of its (reporter, node). *ret is malloc'd.
 */
static int
collect_items(const struct batch *src, size_t nsrc, const struct batch *nb,
    struct item **ret, size_t *ret_n)
{
	struct item *it = NULL;
	size_t nit = 0, cap = 0;

	for (size_t i = 0; i < nsrc + 1; i++) {
		const struct batch *b = i < nsrc ? &src[i] : nb;
		for (size_t j = 0; j < b->n; j++) {
			if (nit == cap) {
				struct item *v;
				cap = cap ? cap * 2 : 256;
				v = realloc(it, cap * sizeof(*v));
				if (v == NULL) {
					free(it);
					return -ENOMEM;
				}
				it = v;
			}
			it[nit].reporter = b->reporter;
			if (report_node_name(&b->reports[j], it[nit].node,
			    sizeof(it[nit].node)) < 0)
				snprintf(it[nit].node, sizeof(it[nit].node), "?");
			it[nit].ord = nit;
			it[nit].kind = b->kind;
			it[nit].r = &b->reports[j];
			it[nit].keep = false;
			nit++;
		}
	}
	if (nit > 0) {
		qsort(it, nit, sizeof(*it), cmp_node);
		for (size_t i = 0; i < nit; i++)
			it[i].keep = i + 1 == nit ||
			    !same_reporter(it[i].reporter, it[i + 1].reporter) ||
			    strcmp(it[i].node, it[i + 1].node) != 0;
		qsort(it, nit, sizeof(*it), cmp_ord);
	}
	*ret = it;
	*ret_n = nit;
	return 0;
}

/*
 * Writes the kept items in batches per (reporter, kind) of at most
 * BATCH_MAX_REPORTS, one pass per group in order of first appearance.
 */
static int
write_groups(struct spool *s, struct item *it, size_t nit)
{
	struct batch out;
	int r = 0;

	batch_init(&out);
	for (size_t i = 0; i < nit; i++) {
		if (!it[i].keep)
			continue;
		const char *rep = it[i].reporter;
		enum report_kind kind = it[i].kind;
		for (size_t j = i; j < nit; j++) {
			if (!it[j].keep || it[j].kind != kind || !same_reporter(it[j].reporter, rep))
				continue;
			if (out.n == 0) {
				out.kind = kind;
				out.t_ms = fsio_now_ms();
				if (rep != NULL && (out.reporter = strdup(rep)) == NULL) {
					r = -ENOMEM;
					goto out;
				}
			}
			if ((r = batch_add_copy(&out, it[j].r)) < 0)
				goto out;
			it[j].keep = false;
			if (out.n == BATCH_MAX_REPORTS) {
				if ((r = spool_assign(s, &out)) < 0 || (r = write_batch(s, &out)) < 0)
					goto out;
				batch_finish(&out);
			}
		}
		if (out.n > 0) {
			if ((r = spool_assign(s, &out)) < 0 || (r = write_batch(s, &out)) < 0)
				goto out;
			batch_finish(&out);
		}
	}
out:
	batch_finish(&out);
	return r;
}

/*
 * Rewrites the queue plus nb as the newest report per (reporter, node), in
 * batches per (reporter, kind) of at most BATCH_MAX_REPORTS, with new
 * sequence numbers; then removes the old files.
 */
int
spool_compact(struct spool *s, const struct batch *nb, const struct spool_entry *e,
    size_t ne)
{
	struct batch *src;
	struct item *it = NULL;
	size_t nsrc = 0, nit = 0;
	int r;

	src = calloc(ne + 1, sizeof(*src));
	if (src == NULL)
		return -ENOMEM;
	if ((r = load_queue(s, e, ne, src, &nsrc)) < 0 ||
	    (r = collect_items(src, nsrc, nb, &it, &nit)) < 0 ||
	    (r = write_groups(s, it, nit)) < 0)
		goto out;
	for (size_t i = 0; i < ne; i++)
		spool_drop(s, &e[i]);
	r = spool_sync(s);
out:
	for (size_t i = 0; i < nsrc; i++)
		batch_finish(&src[i]);
	free(src);
	free(it);
	return r;
}
