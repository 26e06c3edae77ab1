/*
 * The in-order replay of the spool: consecutive batches merged into one
 * POST, reports with a newer one for their node behind them left out,
 * rejected and corrupt batches moved aside.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "deliver.h"
#include "fsio.h"

/* Merged replay POSTs stop growing past this many bytes of queue files. */
#define MERGE_MAX_BYTES	(256 * 1024)
/*
 * The stale-report pass reads the whole backlog once per run; past these it
 * is skipped (compaction keeps a large spool to the newest report per node).
 */
#define NEWEST_MAX_ENTRIES	256
#define NEWEST_MAX_BYTES	(4 * 1024 * 1024)

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

/*
 * Where each node's newest spooled report is: (node name, entry index) pairs
 * sorted by name. A backlog replayed in order would otherwise post a node's
 * stale report (alive, from a join while clusterm was down) before the newer
 * one behind it (gone, from its failure), and clusterm would see the node
 * come back for a moment. The reporter's newest report is its current vote,
 * so the older ones are left out of the POSTs.
 */
struct newest {
	char name[LIMIT_NODE_NAME_LEN + 1];
	size_t idx;
};

static int
cmp_name_only(const void *a, const void *b)
{
	return strcmp(((const struct newest *)a)->name, ((const struct newest *)b)->name);
}

static int
cmp_newest(const void *a, const void *b)
{
	const struct newest *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Reads every entry once to index its nodes. Returns 0 with *ret NULL when
 * the backlog is a single entry or the time bound does not allow the pass
 * (then nothing is left out).
 */
static int
index_newest(struct spool *sp, const struct spool_entry *e, size_t n,
    const struct deliver_opts *o, struct newest **ret, size_t *ret_n)
{
	struct newest *v = NULL;
	size_t nv = 0, cap = 0, out = 0;

	unsigned long long total = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t k = 0; k < n; k++)
		total += e[k].size;
	if (n < 2 || n > NEWEST_MAX_ENTRIES || total > NEWEST_MAX_BYTES)
		return 0;
	for (size_t k = 0; k < n; k++) {
		struct batch b;

		if (o->deadline_ms - fsio_mono_ms() <= 2 * o->reserve_ms) {
			free(v);
			return 0;
		}
		if (spool_load(sp, &e[k], &b) < 0)
			continue;	/* the replay reports it */
		for (size_t i = 0; i < b.n; i++) {
			if (nv == cap) {
				size_t c = cap ? cap * 2 : 64;
				struct newest *nw = realloc(v, c * sizeof(*nw));
				if (nw == NULL) {
					batch_finish(&b);
					free(v);
					return -ENOMEM;
				}
				v = nw;
				cap = c;
			}
			if (report_node_name(&b.reports[i], v[nv].name, sizeof(v[nv].name)) < 0)
				continue;
			v[nv++].idx = k;
		}
		batch_finish(&b);
	}
	qsort(v, nv, sizeof(*v), cmp_newest);
	/* Keep the last (highest index) of each name. */
	for (size_t i = 0; i < nv; i++)
		if (i + 1 == nv || strcmp(v[i].name, v[i + 1].name) != 0)
			v[out++] = v[i];
	*ret = v;
	*ret_n = out;
	return 0;
}

/* Leaves out the reports of b whose node has a newer report at index >= after. */
static size_t
drop_superseded(struct batch *b, const struct newest *v, size_t nv, size_t after)
{
	size_t keep = 0, dropped = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct newest key;
		const struct newest *hit = NULL;

		if (v != NULL && report_node_name(&b->reports[i], key.name,
		    sizeof(key.name)) == 0) {
			key.idx = 0;
			/* Entries of a name sort by index; after dedupe there is one. */
			hit = bsearch(&key, v, nv, sizeof(*v), cmp_name_only);
		}
		if (hit != NULL && hit->idx >= after) {
			report_finish(&b->reports[i]);
			dropped++;
			continue;
		}
		b->reports[keep++] = b->reports[i];
	}
	b->n = keep;
	return dropped;
}

/* Appends src's reports to dst, emptying src. */
static int
absorb(struct batch *dst, struct batch *src)
{
	for (size_t i = 0; i < src->n; i++) {
		int r = batch_add(dst, &src->reports[i]);
		if (r < 0)
			return r;
	}
	return 0;
}
/* One replay's state, shared by its steps. */
struct replay {
	struct spool *sp;
	const struct deliver_opts *o;
	struct deliver_stats *st;
	deliver_note_fn note;
	void *arg;
	struct spool_entry *e;		/* the queue, oldest first */
	size_t n;
	struct newest *newest;		/* from index_newest(), may be NULL */
	size_t nnewest;
	bool merge;			/* false once a merged POST was rejected */
	bool dropped;			/* some entry was dropped: sync the spool */
};

/* Drops entries [i, j) from the queue (delivered or superseded). */
static void
drop_range(struct replay *rp, size_t i, size_t j)
{
	for (size_t k = i; k < j; k++)
		spool_drop(rp->sp, &rp->e[k]);
	rp->dropped = true;
}

/*
 * Merges the entries after i of the same kind, reporter and epoch into b
 * (which holds entry i), within the merge limits; *ret_j is the first entry
 * not merged. On an error b still needs batch_finish().
 */
static int
merge_run(struct replay *rp, size_t i, struct batch *b, size_t *ret_j)
{
	size_t j = i + 1, bytes = rp->e[i].size;
	struct batch next;
	int r;

	while (rp->merge && j < rp->n && b->n < BATCH_MAX_REPORTS &&
	    bytes < MERGE_MAX_BYTES) {
		if (spool_load(rp->sp, &rp->e[j], &next) < 0)
			break;
		if (next.kind != b->kind || !same_str(next.reporter, b->reporter) ||
		    strcmp(next.epoch, b->epoch) != 0 || b->n + next.n > BATCH_MAX_REPORTS) {
			batch_finish(&next);
			break;
		}
		r = absorb(b, &next);
		b->seq = next.seq;	/* the POST carries the newest seq */
		next.n = 0;
		batch_finish(&next);
		if (r < 0)
			return r;
		bytes += rp->e[j].size;
		j++;
	}
	*ret_j = j;
	return 0;
}

/*
 * What the reply to the POST of entries [i, j) (batch b, posted as body)
 * does to the queue: *ret_i is the next entry to replay, *ret_stop set when
 * the replay stops here (st->err says why).
 */
static int
settle(struct replay *rp, const struct batch *b, const char *body,
    const struct deliver_result *res, size_t i, size_t j, size_t *ret_i, bool *ret_stop)
{
	struct deliver_stats *st = rp->st;
	int r;

	*ret_i = i;
	*ret_stop = false;
	if (res->st == DELIVER_OK) {
		st->batches += j - i;
		st->posts++;
		st->reports += b->n;
		if (res->accepted > 0)
			st->accepted += res->accepted;
		if (res->duplicates > 0)
			st->duplicates += res->duplicates;
		drop_range(rp, i, j);
		*ret_i = j;
	} else if (res->st == DELIVER_REJECTED && j - i > 1) {
		/* Find the bad batch: replay the rest one by one. */
		rp->merge = false;
	} else if (res->st == DELIVER_REJECTED) {
		st->rejected++;
		if (rp->note != NULL)
			rp->note("rejected", b->seq, res->err, rp->arg);
		if ((r = spool_reject(rp->sp, b, body, res->status,
		    res->reply ? res->reply : "")) < 0)
			return r;
		drop_range(rp, i, i + 1);
		*ret_i = i + 1;
	} else {
		snprintf(st->err, sizeof(st->err), "%s", res->err);
		*ret_stop = true;
	}
	return 0;
}

/* Posts batch b (entries [i, j)) and settles the reply; see settle(). */
static int
post_run(struct replay *rp, const struct batch *b, size_t i, size_t j, size_t *ret_i,
    bool *ret_stop)
{
	struct deliver_opts o = *rp->o;
	struct deliver_result res;
	char *body = batch_json(b);
	int r;

	if (body == NULL)
		return -ENOMEM;
	if (o.spool_depth >= 0)
		o.spool_depth += (long)(rp->n - j);	/* the queue behind this POST */
	r = deliver_post(&o, deliver_path(b->kind), body, strlen(body), b->reporter,
	    b->epoch, b->seq, &res);
	if (r < 0) {
		free(body);
		return r;
	}
	r = settle(rp, b, body, &res, i, j, ret_i, ret_stop);
	free(body);
	deliver_result_finish(&res);
	return r;
}

/* Replays the queue: 0 with *ret_i the first entry left (st->err says why when some are left). */
static int
replay_run(struct replay *rp, size_t *ret_i)
{
	size_t i = 0;
	int r;

	while (i < rp->n) {
		struct batch b;
		size_t j;
		bool stop;

		if (rp->o->deadline_ms - fsio_mono_ms() <= rp->o->reserve_ms) {
			snprintf(rp->st->err, sizeof(rp->st->err), "time bound reached");
			break;
		}
		r = spool_load(rp->sp, &rp->e[i], &b);
		if (r == -EBADMSG) {
			rp->st->corrupt++;
			if (rp->note != NULL)
				rp->note("corrupt", rp->e[i].seq,
				    "bad framing, CRC or msgpack: moved to corrupt/", rp->arg);
			if ((r = spool_quarantine(rp->sp, &rp->e[i])) < 0)
				return r;
			i++;
			continue;
		}
		if (r < 0)
			return r;
		if ((r = merge_run(rp, i, &b, &j)) < 0) {
			batch_finish(&b);
			return r;
		}
		rp->st->superseded += drop_superseded(&b, rp->newest, rp->nnewest, j);
		if (b.n == 0) {
			/* Every report has a newer one behind it: nothing to post. */
			rp->st->batches += j - i;
			drop_range(rp, i, j);
			batch_finish(&b);
			i = j;
			continue;
		}
		r = post_run(rp, &b, i, j, &i, &stop);
		batch_finish(&b);
		if (r < 0)
			return r;
		if (stop)
			break;
	}
	*ret_i = i;
	return 0;
}

int
deliver_spool(struct spool *sp, const struct deliver_opts *o, struct deliver_stats *st,
    deliver_note_fn note, void *arg)
{
	struct replay rp = { .sp = sp, .o = o, .st = st, .note = note, .arg = arg,
	    .merge = true };
	size_t i = 0;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = spool_list(sp, &rp.e, &rp.n)) < 0)
		return r;
	if ((r = index_newest(sp, rp.e, rp.n, o, &rp.newest, &rp.nnewest)) < 0)
		goto out;
	if ((r = replay_run(&rp, &i)) < 0)
		goto out;
	st->left = rp.n - i;
	r = st->left == 0 ? 0 : -EAGAIN;
out:
	if (rp.dropped) {
		int s = spool_sync(sp);
		if (s < 0 && r == 0)
			r = s;
	}
	free(rp.newest);
	free(rp.e);
	return r;
}
