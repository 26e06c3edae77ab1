/* msgpack helpers shared by ops.c and records.c. */
#include <string.h>

#include "mputil.h"

static int
pack_str(msgpack_packer *pk, const char *s)
{
	size_t l = strlen(s);

	if (msgpack_pack_str(pk, l) != 0)
		return -1;
	return msgpack_pack_str_body(pk, s, l);
}

int
mputil_pack_report(msgpack_packer *pk, const struct report *r)
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
		rc |= pack_str(pk, keys[i]);
		rc |= pack_str(pk, vals[i]);
	}
	for (size_t i = 0; i < r->ntags; i++) {
		rc |= pack_str(pk, r->tags[i].key);
		rc |= pack_str(pk, r->tags[i].value);
	}
	return rc;
}

bool
mputil_get_i64(const msgpack_object *o, long long *ret)
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

bool
mputil_get_u64(const msgpack_object *o, uint64_t *ret)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*ret = o->via.u64;
	return true;
}
