/* POSTs with failover and the in-order replay of the spool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "deliver.h"
#include "fsio.h"
#include "http1.h"
#include "httpc.h"
#include "tlscurl.h"

/* Merged replay POSTs stop growing past this many bytes of queue files. */
#define MERGE_MAX_BYTES	(256 * 1024)
/*
 * The stale-report pass reads the whole backlog once per run; past these it
 * is skipped (compaction keeps a large spool to the newest report per node).
 */
#define NEWEST_MAX_ENTRIES	256
#define NEWEST_MAX_BYTES	(4 * 1024 * 1024)

void
deliver_result_finish(struct deliver_result *r)
{
	if (r == NULL)
		return;
	free(r->reply);
	r->reply = NULL;
}

const char *
deliver_path(enum report_kind kind)
{
	return kind == REPORT_KIND_DISAPPEARED ? "/monitor/event/disappeared" :
	    "/monitor/event/discovered";
}

/* The integer after "key": in a small JSON reply, -1 when absent. */
static long
reply_number(const char *body, const char *key)
{
	const char *p = strstr(body, key);
	char *end;
	long v;

	if (p == NULL)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == '"' || *p == ':')
		p++;
	errno = 0;
	v = strtol(p, &end, 10);
	return (errno != 0 || end == p) ? -1 : v;
}

/* 408 and 429 ask for a later try; other 4xx are final. */
static bool
status_final(long status)
{
	return status >= 400 && status < 500 && status != 408 && status != 429;
}

int
deliver_post(const struct deliver_opts *o, const char *path, const char *body,
    size_t len, const char *reporter, const char *epoch, unsigned long long seq,
    struct deliver_result *ret)
{
	char hrep[LIMIT_MEMBER_NAME_LEN + 16], hep[LIMIT_EPOCH_LEN + 24], hseq[48];
	const char *hdrs[4];
	struct deliver_result res = { .st = DELIVER_RETRY, .accepted = -1, .duplicates = -1 };
	size_t nh = 0;

	if (reporter != NULL && reporter[0] != '\0') {
		snprintf(hrep, sizeof(hrep), "X-Reporter: %s", reporter);
		hdrs[nh++] = hrep;
	}
	if (epoch != NULL && epoch[0] != '\0') {
		snprintf(hep, sizeof(hep), "X-Reporter-Epoch: %s", epoch);
		hdrs[nh++] = hep;
	}
	if (seq > 0) {
		snprintf(hseq, sizeof(hseq), "X-Reporter-Seq: %llu", seq);
		hdrs[nh++] = hseq;
	}
	hdrs[nh] = NULL;
	snprintf(res.err, sizeof(res.err), "no URL configured");

	for (size_t i = 0; i < o->nurls; i++) {
		long long now = fsio_mono_ms();
		long long left = o->deadline_ms - now - o->reserve_ms;
		struct http1_req rq = {
			.method = "POST",
			.content_type = "application/json",
			.body = body,
			.len = len,
			.token = o->token,
			.ca_file = o->ca_file,
			.cert_file = o->cert_file,
			.key_file = o->key_file,
			.headers = hdrs,
		};
		struct http1_resp resp = { 0 };
		char *url;
		int rc;

		if (left <= 0) {
			snprintf(res.err, sizeof(res.err), "time bound reached before %s",
			    o->urls[i]);
			break;
		}
		/* The URLs still to try share what is left for connecting. */
		rq.deadline_ms = now + left;
		rq.connect_deadline_ms = now + left / (long long)(o->nurls - i);
		if (rq.connect_deadline_ms <= now)
			rq.connect_deadline_ms = now + 1;
		url = httpc_url(o->urls[i], path);
		if (url == NULL)
			return -ENOMEM;
		snprintf(res.url, sizeof(res.url), "%s", url);
		rq.url = url;
		if (http1_is_https(url))
			rc = tlscurl_request(&rq, &resp, res.err, sizeof(res.err));
		else
			rc = http1_request(&rq, &resp, res.err, sizeof(res.err));
		free(url);
		if (rc == -ENOMEM)
			return rc;
		if (rc != 0)
			continue;
		res.status = resp.status;
		if (resp.status >= 200 && resp.status < 300) {
			res.st = DELIVER_OK;
			res.accepted = reply_number(resp.body, "\"accepted\"");
			res.duplicates = reply_number(resp.body, "\"duplicates\"");
			res.err[0] = '\0';
			http1_resp_finish(&resp);
			break;
		}
		if (status_final(resp.status)) {
			res.st = DELIVER_REJECTED;
			snprintf(res.err, sizeof(res.err), "%s answered %ld: %.300s", res.url,
			    resp.status, resp.body);
			res.reply = resp.body;
			resp.body = NULL;
			break;
		}
		snprintf(res.err, sizeof(res.err), "%s answered %ld: %.300s", res.url,
		    resp.status, resp.body);
		http1_resp_finish(&resp);
	}
	*ret = res;
	return 0;
}

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

int
deliver_spool(struct spool *sp, const struct deliver_opts *o, struct deliver_stats *st,
    deliver_note_fn note, void *arg)
{
	struct spool_entry *e = NULL;
	struct newest *newest = NULL;
	bool merge = true, dropped = false;
	size_t n = 0, i = 0, nnewest = 0;
	int r;

	memset(st, 0, sizeof(*st));
	if ((r = spool_list(sp, &e, &n)) < 0)
		return r;
	if ((r = index_newest(sp, e, n, o, &newest, &nnewest)) < 0)
		goto out;
	while (i < n) {
		struct deliver_result res;
		struct batch b, next;
		size_t j = i + 1, bytes = e[i].size;
		char *body;

		if (o->deadline_ms - fsio_mono_ms() <= o->reserve_ms) {
			snprintf(st->err, sizeof(st->err), "time bound reached");
			break;
		}
		r = spool_load(sp, &e[i], &b);
		if (r == -EBADMSG) {
			st->corrupt++;
			if (note != NULL)
				note("corrupt", e[i].seq, "bad framing, CRC or msgpack: moved to corrupt/",
				    arg);
			if ((r = spool_quarantine(sp, &e[i])) < 0)
				goto out;
			i++;
			continue;
		}
		if (r < 0)
			goto out;
		while (merge && j < n && b.n < BATCH_MAX_REPORTS && bytes < MERGE_MAX_BYTES) {
			if (spool_load(sp, &e[j], &next) < 0)
				break;
			if (next.kind != b.kind || !same_str(next.reporter, b.reporter) ||
			    strcmp(next.epoch, b.epoch) != 0 ||
			    b.n + next.n > BATCH_MAX_REPORTS) {
				batch_finish(&next);
				break;
			}
			r = absorb(&b, &next);
			b.seq = next.seq;	/* the POST carries the newest seq */
			next.n = 0;
			batch_finish(&next);
			if (r < 0) {
				batch_finish(&b);
				goto out;
			}
			bytes += e[j].size;
			j++;
		}
		st->superseded += drop_superseded(&b, newest, nnewest, j);
		if (b.n == 0) {
			/* Every report has a newer one behind it: nothing to post. */
			st->batches += j - i;
			for (size_t k = i; k < j; k++)
				spool_drop(sp, &e[k]);
			dropped = true;
			batch_finish(&b);
			i = j;
			continue;
		}
		body = batch_json(&b);
		if (body == NULL) {
			batch_finish(&b);
			r = -ENOMEM;
			goto out;
		}
		r = deliver_post(o, deliver_path(b.kind), body, strlen(body), b.reporter,
		    b.epoch, b.seq, &res);
		if (r < 0) {
			free(body);
			batch_finish(&b);
			goto out;
		}
		if (res.st == DELIVER_OK) {
			st->batches += j - i;
			st->posts++;
			st->reports += b.n;
			if (res.accepted > 0)
				st->accepted += res.accepted;
			if (res.duplicates > 0)
				st->duplicates += res.duplicates;
			for (size_t k = i; k < j; k++)
				spool_drop(sp, &e[k]);
			dropped = true;
			i = j;
		} else if (res.st == DELIVER_REJECTED && j - i > 1) {
			/* Find the bad batch: replay the rest one by one. */
			merge = false;
		} else if (res.st == DELIVER_REJECTED) {
			st->rejected++;
			if (note != NULL)
				note("rejected", b.seq, res.err, arg);
			if ((r = spool_reject(sp, &b, body, res.status,
			    res.reply ? res.reply : "")) < 0) {
				free(body);
				batch_finish(&b);
				deliver_result_finish(&res);
				goto out;
			}
			spool_drop(sp, &e[i]);
			dropped = true;
			i++;
		} else {
			snprintf(st->err, sizeof(st->err), "%s", res.err);
			free(body);
			batch_finish(&b);
			deliver_result_finish(&res);
			break;
		}
		free(body);
		batch_finish(&b);
		deliver_result_finish(&res);
	}
	st->left = n - i;
	r = st->left == 0 ? 0 : -EAGAIN;
out:
	if (dropped) {
		int s = spool_sync(sp);
		if (s < 0 && r == 0)
			r = s;
	}
	free(newest);
	free(e);
	return r;
}
