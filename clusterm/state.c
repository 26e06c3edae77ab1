/* State ownership and persistence: recovery, log records, snapshots. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsio.h"
#include "state.h"
#include "strmap.h"

static int
recover_node(struct node *n, void *arg)
{
	struct state *s = arg;

	return inventory_put(s->inv, n);
}

static int
recover_wm(const char *reporter, const char *epoch, uint64_t seq, void *arg)
{
	return state_set_watermark(arg, reporter, epoch, seq);
}

struct recover_ctx {
	struct state *s;
	char *err;
	size_t errlen;
};

static int
recover_buf(const void *buf, size_t len, void *arg)
{
	struct recover_ctx *c = arg;
	struct records_visitor v = { recover_node, recover_wm, c->s };

	return records_decode(buf, len, &v, c->err, c->errlen);
}

int
state_open(const char *dir, const struct votes_params *params, struct state **ret,
    char *err, size_t errlen, store_warn_fn warn, void *warn_arg)
{
	pthread_rwlockattr_t attr;
	struct recover_ctx ctx;
	struct state *s;
	char inner[512] = "";
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	pthread_rwlockattr_init(&attr);
	/* Intake must not starve behind a stream of GETs. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	s->params = *params;
	s->started_ms = fsio_now_ms();
	s->inv = inventory_new();
	s->wm_index = strmap_new();
	s->reporters = strmap_new();
	if (s->inv == NULL || s->wm_index == NULL || s->reporters == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = store_open(dir, &s->store, err, errlen);
	if (rc < 0)
		goto fail;
	ctx.s = s;
	ctx.err = inner;
	ctx.errlen = sizeof(inner);
	rc = store_recover(s->store, recover_buf, recover_buf, &ctx, warn, warn_arg, err,
	    errlen);
	if (rc < 0) {
		if (inner[0] != '\0')
			snprintf(err, errlen, "%s: %s", dir, inner);
		goto fail;
	}
	/* Rebuild what is derived: who has voted. */
	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		struct node *n = inventory_at(s->inv, i);
		for (size_t k = 0; k < n->nvotes; k++)
			if ((rc = state_add_reporter(s, n->votes[k].reporter)) < 0)
				goto fail;
	}
	*ret = s;
	return 0;
fail:
	state_close(s);
	return rc;
}

void
state_close(struct state *s)
{
	if (s == NULL)
		return;
	store_close(s->store);
	inventory_free(s->inv);
	for (size_t i = 0; i < s->nwms; i++) {
		free(s->wms[i]->reporter);
		free(s->wms[i]->epoch);
		free(s->wms[i]);
	}
	free(s->wms);
	strmap_free(s->wm_index);
	for (size_t i = 0; i < s->nreporters; i++)
		free(s->reporter_keys[i]);
	free(s->reporter_keys);
	strmap_free(s->reporters);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

int
state_log(struct state *s, const struct watermark *wm, struct node *const *nodes,
    size_t n, uint64_t *ret_seq)
{
	char *buf = NULL;
	size_t len;
	int rc;

	rc = records_encode_batch(wm, nodes, n, fsio_now_ms(), &buf, &len);
	if (rc < 0)
		return rc;
	rc = store_append(s->store, buf, len, ret_seq);
	free(buf);
	return rc;
}

int
state_wait(struct state *s, uint64_t seq)
{
	return store_wait(s->store, seq);
}

struct watermark *
state_watermark(struct state *s, const char *reporter)
{
	return strmap_get(s->wm_index, reporter);
}

int
state_set_watermark(struct state *s, const char *reporter, const char *epoch, uint64_t seq)
{
	struct watermark *wm = strmap_get(s->wm_index, reporter);
	char *ep;

	if (wm == NULL) {
		struct watermark **v;
		if (s->nwms == s->capwms) {
			size_t cap = s->capwms ? s->capwms * 2 : 16;
			v = realloc(s->wms, cap * sizeof(*v));
			if (v == NULL)
				return -ENOMEM;
			s->wms = v;
			s->capwms = cap;
		}
		wm = calloc(1, sizeof(*wm));
		if (wm == NULL || (wm->reporter = strdup(reporter)) == NULL ||
		    (wm->epoch = strdup(epoch)) == NULL ||
		    strmap_put(s->wm_index, wm->reporter, wm) < 0) {
			if (wm != NULL) {
				free(wm->reporter);
				free(wm->epoch);
			}
			free(wm);
			return -ENOMEM;
		}
		s->wms[s->nwms++] = wm;
		wm->seq = seq;
		return 0;
	}
	if (strcmp(wm->epoch, epoch) != 0) {
		if ((ep = strdup(epoch)) == NULL)
			return -ENOMEM;
		free(wm->epoch);
		wm->epoch = ep;
	}
	wm->seq = seq;
	return 0;
}

int
state_add_reporter(struct state *s, const char *member)
{
	char **v, *key;

	if (strmap_get(s->reporters, member) != NULL)
		return 0;
	v = realloc(s->reporter_keys, (s->nreporters + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	s->reporter_keys = v;
	key = strdup(member);
	if (key == NULL)
		return -ENOMEM;
	if (strmap_put(s->reporters, key, key) < 0) {
		free(key);
		return -ENOMEM;
	}
	s->reporter_keys[s->nreporters++] = key;
	return 0;
}

bool
state_is_reporter(const struct state *s, const char *member)
{
	return strmap_get(s->reporters, member) != NULL;
}

int
state_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen)
{
	struct store_stats st;
	uint64_t gen;
	char *buf = NULL;
	size_t len;
	int rc;

	store_get_stats(s->store, &st);
	if (!force && st.log_records < STATE_SNAPSHOT_RECORDS &&
	    st.log_bytes < STATE_SNAPSHOT_BYTES)
		return 0;
	/* A shared lock keeps writers (who append) out while the log is cut. */
	pthread_rwlock_rdlock(&s->lock);
	rc = store_snapshot_begin(s->store, &gen);
	if (rc == 0)
		rc = records_encode_snapshot(s->inv, s->wms, s->nwms, fsio_now_ms(), &buf,
		    &len);
	pthread_rwlock_unlock(&s->lock);
	if (rc < 0) {
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
		return rc;
	}
	rc = store_snapshot_commit(s->store, gen, buf, len);
	free(buf);
	if (rc < 0)
		snprintf(err, errlen, "snapshot %llu: %s", (unsigned long long)gen,
		    strerror(-rc));
	return rc < 0 ? rc : 1;
}
