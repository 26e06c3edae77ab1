/* etcd's watch: a stream of results, one JSON object a line. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "etcd_impl.h"

/* ---- watch ---- */

struct watch_ctx {
	etcd_watch_fn fn;
	void *arg;
	int64_t compact_rev;
	bool canceled;
	size_t used;			/* bytes of the buffer already parsed */
	char err[256];
};

/* One result of the stream: events handed to fn; non-zero stops. */
static int
watch_result(struct watch_ctx *w, const cJSON *root)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(root, "result");
	const cJSON *evs, *it;
	struct etcd_event *ev;
	size_t n = 0;
	int rc;

	if (!cJSON_IsObject(r)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "error");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "message");
		/* With a leader required, "etcdserver: no leader" when the member lost it. */
		snprintf(w->err, sizeof(w->err), "etcd watch: %s%.200s", cJSON_IsObject(m) ?
		    "the gateway ended the stream: " : "a message without a result",
		    cJSON_IsString(t) ? t->valuestring : "");
		return -EAGAIN;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "canceled"))) {
		w->compact_rev = etcd_get_i64(r, "compact_revision");
		w->canceled = true;
		snprintf(w->err, sizeof(w->err), "etcd watch: canceled (revision compacted "
		    "up to %" PRId64 ")", w->compact_rev);
		return w->compact_rev > 0 ? -ECANCELED : -EAGAIN;
	}
	evs = cJSON_GetObjectItemCaseSensitive(r, "events");
	if (!cJSON_IsArray(evs) || cJSON_GetArraySize(evs) == 0)
		return 0;
	ev = calloc((size_t)cJSON_GetArraySize(evs), sizeof(*ev));
	if (ev == NULL)
		return -ENOMEM;
	rc = 0;
	cJSON_ArrayForEach(it, evs) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "type");
		ev[n].type = cJSON_IsString(t) && strcmp(t->valuestring, "DELETE") == 0 ?
		    ETCD_EV_DELETE : ETCD_EV_PUT;
		if (etcd_kv_parse(cJSON_GetObjectItemCaseSensitive(it, "kv"), &ev[n].kv,
		    ev[n].type == ETCD_EV_PUT) < 0) {
			snprintf(w->err, sizeof(w->err), "etcd watch: an event that is not etcd's");
			rc = -EBADMSG;
			break;
		}
		n++;
	}
	if (rc == 0)
		rc = w->fn(ev, n, etcd_get_i64(cJSON_GetObjectItemCaseSensitive(r, "header"),
		    "revision"), w->arg);
	for (size_t i = 0; i < n; i++)
		etcd_kv_free(&ev[i].kv);
	free(ev);
	return rc;
}

/* Parses every complete line that has arrived. */
static int
watch_data(struct sink *k)
{
	struct watch_ctx *w = k->arg;

	for (;;) {
		char *start = k->b->data + w->used;
		/* A long line comes in many pieces: each is looked through once. */
		char *nl = memchr(start + k->scanned, '\n', k->b->len - w->used - k->scanned);
		cJSON *root;
		int rc;

		if (nl == NULL) {
			/* Past the parsed lines: none ahead of them holds a newline. */
			k->scanned = k->b->len - w->used;
			break;
		}
		root = cJSON_ParseWithLength(start, (size_t)(nl - start));
		w->used += (size_t)(nl - start) + 1;
		k->scanned = 0;
		if (root == NULL) {
			snprintf(w->err, sizeof(w->err), "etcd watch: a line that is not JSON");
			return -EBADMSG;
		}
		rc = watch_result(w, root);
		cJSON_Delete(root);
		if (rc != 0)
			return rc;
	}
	/* What is parsed goes: the unparsed tail moves to the front. */
	if (w->used > 0) {
		size_t rest = k->b->len - w->used;
		memmove(k->b->data, k->b->data + w->used, rest);
		k->b->len = rest;
		k->b->data[rest] = '\0';
		w->used = 0;
	}
	return 0;
}

int
etcd_watch(struct etcd *e, const char *key, size_t key_len, const char *range_end,
    size_t range_end_len, int64_t start_rev, etcd_watch_fn fn, void *arg,
    const volatile int *stop, int64_t *ret_compact_rev, char *err, size_t errlen)
{
	struct watch_ctx w = { .fn = fn, .arg = arg };
	struct buf b;
	struct sink k = { .b = &b, .on_data = watch_data, .arg = &w, .stop = stop,
	    .require_leader = true };
	cJSON *req = cJSON_CreateObject(), *c;
	char *body = NULL;
	long st = 0;
	int rc = -ENOMEM;

	buf_init(&b, ETCD_MAX_REPLY_BYTES);
	if (req == NULL || (c = cJSON_AddObjectToObject(req, "create_request")) == NULL ||
	    etcd_add_b64(c, "key", key, key_len) < 0 ||
	    (range_end != NULL && etcd_add_b64(c, "range_end", range_end, range_end_len) < 0) ||
	    etcd_add_i64(c, "start_revision", start_rev) < 0 ||
	    /* Big catch-ups in pieces of etcd's request size, not one huge line. */
	    cJSON_AddTrueToObject(c, "fragment") == NULL ||
	    cJSON_AddTrueToObject(c, "progress_notify") == NULL ||
	    (body = cJSON_PrintUnformatted(req)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = etcd_post(e, "/v3/watch", body, &k, 0, &st, err, errlen);
	if (rc == 0 && stop != NULL && *stop)
		goto out;
	if (rc == 0) {
		/* The stream ended: etcd went away or the gateway closed it. */
		snprintf(err, errlen, "etcd watch: the stream from %s ended (HTTP %ld)",
		    etcd_endpoint(e), st);
		rc = -EAGAIN;
	} else if (w.err[0] != '\0') {
		snprintf(err, errlen, "%s", w.err);
	}
	if (rc == -ECANCELED)
		*ret_compact_rev = w.compact_rev;
out:
	free(body);
	cJSON_Delete(req);
	buf_free(&b);
	return rc;
}
