/*
 * The spool's record format: [u32 LE payload length][u32 LE CRC-32C of
 * payload][msgpack payload], the payload a map {epoch, seq, kind,
 * reporter, t, reports: [{k: v}]}. Reports are packed by
 * mputil_pack_report(), byte for byte what this file packed before.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "crc32c.h"
#include "le.h"
#include "mpcheck.h"
#include "mputil.h"
#include "spool_impl.h"

static int
pack_str(msgpack_packer *pk, const char *v)
{
	size_t l = strlen(v);

	if (msgpack_pack_str(pk, l) != 0)
		return -ENOMEM;
	return msgpack_pack_str_body(pk, v, l) != 0 ? -ENOMEM : 0;
}

static int
pack_kv(msgpack_packer *pk, const char *k, const char *v)
{
	int r = pack_str(pk, k);

	return r < 0 ? r : pack_str(pk, v);
}

int
spool_record_encode(const struct batch *b, char **ret_buf, size_t *ret_len)
{
	static const char zero[HDR_LEN];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r = -ENOMEM;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_sbuffer_write(&sb, zero, HDR_LEN) != 0)
		goto out;
	if (msgpack_pack_map(&pk, 6) != 0 ||
	    pack_kv(&pk, "epoch", b->epoch) < 0 ||
	    pack_str(&pk, "seq") < 0 || msgpack_pack_unsigned_long_long(&pk, b->seq) != 0 ||
	    pack_kv(&pk, "kind", b->kind == REPORT_KIND_NONE ? "" :
	    report_kind_name(b->kind)) < 0 ||
	    pack_str(&pk, "reporter") < 0 ||
	    (b->reporter ? pack_str(&pk, b->reporter) : msgpack_pack_nil(&pk)) != 0 ||
	    pack_str(&pk, "t") < 0 || msgpack_pack_long_long(&pk, b->t_ms) != 0 ||
	    pack_str(&pk, "reports") < 0 || msgpack_pack_array(&pk, b->n) != 0)
		goto out;
	for (size_t i = 0; i < b->n; i++)
		if (mputil_pack_report(&pk, &b->reports[i]) != 0)
			goto out;
	if (sb.size - HDR_LEN > UINT32_MAX) {
		r = -E2BIG;
		goto out;
	}
	le_put32((uint8_t *)sb.data, (uint32_t)(sb.size - HDR_LEN));
	le_put32((uint8_t *)sb.data + 4, crc32c(0, sb.data + HDR_LEN, sb.size - HDR_LEN));
	*ret_buf = sb.data;
	*ret_len = sb.size;
	sb.data = NULL;
	r = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static bool
str_is(const msgpack_object *o, const char *s)
{
	size_t l = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == l &&
	    memcmp(o->via.str.ptr, s, l) == 0;
}

/* A msgpack string as a malloc'd C string; NULL when not a NUL-free string. */
static char *
str_dup(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static int
unpack_report(const msgpack_object *o, struct report *ret)
{
	struct report r;

	if (o->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	report_init(&r);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		char *k = str_dup(&o->via.map.ptr[i].key);
		char *v = str_dup(&o->via.map.ptr[i].val);
		int rc = (k == NULL || v == NULL) ? -EBADMSG : report_set(&r, k, v);
		free(k);
		free(v);
		if (rc < 0) {
			report_finish(&r);
			return rc == -ENOMEM ? rc : -EBADMSG;
		}
	}
	*ret = r;
	return 0;
}

int
spool_record_decode(const char *buf, size_t len, struct batch *ret)
{
	msgpack_unpacked up;
	const msgpack_object *root;
	struct batch b;
	size_t off = 0;
	uint32_t plen;
	int r = -EBADMSG;

	if (len < HDR_LEN)
		return -EBADMSG;
	plen = le_get32((const uint8_t *)buf);
	if ((size_t)plen != len - HDR_LEN || le_get32((const uint8_t *)buf + 4) != crc32c(0, buf + HDR_LEN, plen))
		return -EBADMSG;
	batch_init(&b);
	msgpack_unpacked_init(&up);
	if (!mpcheck_bounded(buf + HDR_LEN, plen) ||
	    msgpack_unpack_next(&up, buf + HDR_LEN, plen, &off) != MSGPACK_UNPACK_SUCCESS ||
	    up.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	root = &up.data;
	for (uint32_t i = 0; i < root->via.map.size; i++) {
		const msgpack_object *k = &root->via.map.ptr[i].key;
		const msgpack_object *v = &root->via.map.ptr[i].val;

		if (str_is(k, "epoch")) {
			if (v->type != MSGPACK_OBJECT_STR || v->via.str.size > LIMIT_EPOCH_LEN)
				goto out;
			if (v->via.str.size > 0)
				memcpy(b.epoch, v->via.str.ptr, v->via.str.size);
			b.epoch[v->via.str.size] = '\0';
		} else if (str_is(k, "seq")) {
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				goto out;
			b.seq = v->via.u64;
		} else if (str_is(k, "kind")) {
			if (str_is(v, "discovered"))
				b.kind = REPORT_KIND_DISCOVERED;
			else if (str_is(v, "disappeared"))
				b.kind = REPORT_KIND_DISAPPEARED;
			else
				b.kind = REPORT_KIND_NONE;
		} else if (str_is(k, "reporter")) {
			free(b.reporter);	/* a repeated key must not leak the first */
			b.reporter = NULL;
			if (v->type != MSGPACK_OBJECT_NIL && (b.reporter = str_dup(v)) == NULL)
				goto out;
		} else if (str_is(k, "t")) {
			if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				b.t_ms = (long long)v->via.u64;
			else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
				b.t_ms = v->via.i64;
		} else if (str_is(k, "reports")) {
			if (v->type != MSGPACK_OBJECT_ARRAY)
				goto out;
			for (uint32_t j = 0; j < v->via.array.size; j++) {
				struct report rep;
				if ((r = unpack_report(&v->via.array.ptr[j], &rep)) < 0)
					goto out;
				if ((r = batch_add(&b, &rep)) < 0) {
					report_finish(&rep);
					goto out;
				}
			}
			r = -EBADMSG;
		}
	}
	*ret = b;
	batch_init(&b);
	r = 0;
out:
	msgpack_unpacked_destroy(&up);
	batch_finish(&b);
	return r;
}

