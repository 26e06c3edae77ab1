/*
 * Record layout (msgpack arrays):
 *   batch:    ["B", now_ms, wm | nil, [node...]]
 *   snapshot: ["S", 1, now_ms, [wm...], [node...]]
 *   wm:       [reporter, epoch, seq]
 *   node:     [name, {report}, state, prev_state, status, prev_status,
 *              host_group, gone_since_ms, state_ms, disappeared_ms, last_job,
 *              [[reporter, alive, seq, received_ms]...]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "records.h"

#define NODE_FIELDS 12

static int
pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t l = strlen(s);

	if (msgpack_pack_str(pk, l) != 0)
		return -1;
	return msgpack_pack_str_body(pk, s, l);
}

static int
pack_report(msgpack_packer *pk, const struct report *r)
{
	static const char *keys[] = { REPORT_KEY_LABEL, REPORT_KEY_SERIAL, REPORT_KEY_ADDR,
		REPORT_KEY_NAME, REPORT_KEY_ROLE, REPORT_KEY_EVENT, REPORT_KEY_STATUS };
	const char *vals[] = { r->label, r->serial, r->addr, r->name, r->role, r->event,
		r->status };
	size_t n = r->ntags;
	int rc = 0;

	for (size_t i = 0; i < 7; i++)
		n += vals[i] != NULL;
	rc |= msgpack_pack_map(pk, n);
	for (size_t i = 0; i < 7; i++) {
		if (vals[i] == NULL)
			continue;
		rc |= pack_cstr(pk, keys[i]);
		rc |= pack_cstr(pk, vals[i]);
	}
	for (size_t i = 0; i < r->ntags; i++) {
		rc |= pack_cstr(pk, r->tags[i].key);
		rc |= pack_cstr(pk, r->tags[i].value);
	}
	return rc;
}

static int
pack_node(msgpack_packer *pk, const struct node *n)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, NODE_FIELDS);
	rc |= pack_cstr(pk, n->name);
	rc |= pack_report(pk, &n->rep);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->state);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->prev_state);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->status);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->prev_status);
	rc |= pack_cstr(pk, n->host_group ? n->host_group : "");
	rc |= msgpack_pack_int64(pk, n->gone_since_ms);
	rc |= msgpack_pack_int64(pk, n->state_ms);
	rc |= msgpack_pack_int64(pk, n->disappeared_ms);
	rc |= msgpack_pack_uint64(pk, n->last_job);
	rc |= msgpack_pack_array(pk, n->nvotes);
	for (size_t i = 0; i < n->nvotes; i++) {
		rc |= msgpack_pack_array(pk, 4);
		rc |= pack_cstr(pk, n->votes[i].reporter);
		rc |= n->votes[i].alive ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		rc |= msgpack_pack_uint64(pk, n->votes[i].seq);
		rc |= msgpack_pack_int64(pk, n->votes[i].received_ms);
	}
	return rc;
}

static int
pack_wm(msgpack_packer *pk, const struct watermark *wm)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, 3);
	rc |= pack_cstr(pk, wm->reporter);
	rc |= pack_cstr(pk, wm->epoch ? wm->epoch : "");
	rc |= msgpack_pack_uint64(pk, wm->seq);
	return rc;
}

/* Hands the sbuffer's memory to the caller, or frees it on failure. */
static int
finish(msgpack_sbuffer *sb, int rc, char **ret_buf, size_t *ret_len)
{
	if (rc != 0) {
		msgpack_sbuffer_destroy(sb);
		return -ENOMEM;
	}
	*ret_buf = sb->data;
	*ret_len = sb->size;
	return 0;
}

int
records_encode_batch(const struct watermark *wm, struct node *const *nodes, size_t n,
    long long now_ms, char **ret_buf, size_t *ret_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, 4);
	rc |= pack_cstr(&pk, "B");
	rc |= msgpack_pack_int64(&pk, now_ms);
	rc |= wm != NULL ? pack_wm(&pk, wm) : msgpack_pack_nil(&pk);
	rc |= msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		rc |= pack_node(&pk, nodes[i]);
	return finish(&sb, rc, ret_buf, ret_len);
}

int
records_encode_snapshot(const struct inventory *inv, struct watermark *const *wms,
    size_t nwms, long long now_ms, char **ret_buf, size_t *ret_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = inventory_count(inv);
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, 5);
	rc |= pack_cstr(&pk, "S");
	rc |= msgpack_pack_uint8(&pk, 1);
	rc |= msgpack_pack_int64(&pk, now_ms);
	rc |= msgpack_pack_array(&pk, nwms);
	for (size_t i = 0; i < nwms; i++)
		rc |= pack_wm(&pk, wms[i]);
	rc |= msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		rc |= pack_node(&pk, inventory_at(inv, i));
	return finish(&sb, rc, ret_buf, ret_len);
}

/* ---- decoding ---- */

static char *
dup_str(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return NULL;
	if (memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static bool
get_int(const msgpack_object *o, long long *ret)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return false;
		*ret = (long long)o->via.u64;
		return true;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*ret = o->via.i64;
		return true;
	}
	return false;
}

static bool
get_u64(const msgpack_object *o, uint64_t *ret)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*ret = o->via.u64;
	return true;
}

static bool
is_array(const msgpack_object *o, uint32_t n)
{
	return o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == n;
}

static int
decode_node(const msgpack_object *o, struct node *n, char *err, size_t errlen)
{
	const msgpack_object *f, *votes;
	long long st, pst, ss, pss;
	char *k = NULL, *v = NULL;

	memset(n, 0, sizeof(*n));
	report_init(&n->rep);
	if (!is_array(o, NODE_FIELDS))
		goto bad;
	f = o->via.array.ptr;
	if ((n->name = dup_str(&f[0])) == NULL || f[1].type != MSGPACK_OBJECT_MAP)
		goto bad;
	for (uint32_t i = 0; i < f[1].via.map.size; i++) {
		k = dup_str(&f[1].via.map.ptr[i].key);
		v = dup_str(&f[1].via.map.ptr[i].val);
		if (k == NULL || v == NULL || report_set(&n->rep, k, v) < 0)
			goto bad;
		free(k);
		free(v);
		k = v = NULL;
	}
	if (!get_int(&f[2], &st) || !get_int(&f[3], &pst) || !get_int(&f[4], &ss) ||
	    !get_int(&f[5], &pss) || st < 0 || st > MON_DISAPPEARED || pst < 0 ||
	    pst > MON_DISAPPEARED || ss < 0 || ss >= NS_COUNT || pss < 0 || pss >= NS_COUNT)
		goto bad;
	n->state = (enum mon_state)st;
	n->prev_state = (enum mon_state)pst;
	n->status = (enum node_status)ss;
	n->prev_status = (enum node_status)pss;
	if ((n->host_group = dup_str(&f[6])) == NULL || !get_int(&f[7], &n->gone_since_ms) ||
	    !get_int(&f[8], &n->state_ms) || !get_int(&f[9], &n->disappeared_ms) ||
	    !get_u64(&f[10], &n->last_job) || f[11].type != MSGPACK_OBJECT_ARRAY)
		goto bad;
	votes = &f[11];
	if (votes->via.array.size > 0) {
		n->votes = calloc(votes->via.array.size, sizeof(*n->votes));
		if (n->votes == NULL)
			goto bad;
	}
	for (uint32_t i = 0; i < votes->via.array.size; i++) {
		const msgpack_object *vo = &votes->via.array.ptr[i];
		struct vote *vt = &n->votes[n->nvotes];
		if (!is_array(vo, 4) || vo->via.array.ptr[1].type != MSGPACK_OBJECT_BOOLEAN)
			goto bad;
		if ((vt->reporter = dup_str(&vo->via.array.ptr[0])) == NULL)
			goto bad;
		n->nvotes++;
		vt->alive = vo->via.array.ptr[1].via.boolean;
		if (!get_u64(&vo->via.array.ptr[2], &vt->seq) ||
		    !get_int(&vo->via.array.ptr[3], &vt->received_ms))
			goto bad;
	}
	return 0;
bad:
	free(k);
	free(v);
	snprintf(err, errlen, "malformed node record%s%s", n->name ? " for " : "",
	    n->name ? n->name : "");
	node_finish(n);
	return -EBADMSG;
}

static int
decode_wm(const msgpack_object *o, const struct records_visitor *v, char *err,
    size_t errlen)
{
	char *rep = NULL, *ep = NULL;
	uint64_t seq;
	int rc;

	if (!is_array(o, 3) || (rep = dup_str(&o->via.array.ptr[0])) == NULL ||
	    (ep = dup_str(&o->via.array.ptr[1])) == NULL ||
	    !get_u64(&o->via.array.ptr[2], &seq)) {
		free(rep);
		free(ep);
		snprintf(err, errlen, "malformed watermark");
		return -EBADMSG;
	}
	rc = v->on_watermark ? v->on_watermark(rep, ep, seq, v->arg) : 0;
	free(rep);
	free(ep);
	return rc;
}

static int
decode_nodes(const msgpack_object *o, const struct records_visitor *v, char *err,
    size_t errlen)
{
	struct node n;
	int rc;

	if (o->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "malformed node list");
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		rc = decode_node(&o->via.array.ptr[i], &n, err, errlen);
		if (rc < 0)
			return rc;
		rc = v->on_node ? v->on_node(&n, v->arg) : 0;
		node_finish(&n);	/* no-op when the visitor took it over */
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
records_decode(const void *buf, size_t len, const struct records_visitor *v, char *err,
    size_t errlen)
{
	msgpack_unpacked up;
	const msgpack_object *a;
	size_t off = 0;
	int rc = -EBADMSG;

	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || up.data.type != MSGPACK_OBJECT_ARRAY ||
	    up.data.via.array.size < 1 ||
	    up.data.via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
	    up.data.via.array.ptr[0].via.str.size != 1) {
		snprintf(err, errlen, "not a clusterm record");
		goto out;
	}
	a = up.data.via.array.ptr;
	switch (a[0].via.str.ptr[0]) {
	case 'B':
		if (up.data.via.array.size != 4) {
			snprintf(err, errlen, "malformed batch record");
			goto out;
		}
		if (a[2].type != MSGPACK_OBJECT_NIL &&
		    (rc = decode_wm(&a[2], v, err, errlen)) < 0)
			goto out;
		rc = decode_nodes(&a[3], v, err, errlen);
		break;
	case 'S':
		if (up.data.via.array.size != 5 || a[3].type != MSGPACK_OBJECT_ARRAY) {
			snprintf(err, errlen, "malformed snapshot");
			goto out;
		}
		for (uint32_t i = 0; i < a[3].via.array.size; i++)
			if ((rc = decode_wm(&a[3].via.array.ptr[i], v, err, errlen)) < 0)
				goto out;
		rc = decode_nodes(&a[4], v, err, errlen);
		break;
	default:
		snprintf(err, errlen, "unknown record type '%c'", a[0].via.str.ptr[0]);
	}
out:
	msgpack_unpacked_destroy(&up);
	return rc;
}
