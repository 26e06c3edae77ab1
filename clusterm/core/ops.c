/* Operation records: msgpack encoding and decoding (layout in ops.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "mpcheck.h"
#include "mputil.h"
#include "ops.h"
#include "rings.h"

/* Fields before the kind's own: "O", version, kind, time. */
#define OPS_HEAD	4

static const char *op_names[JOB_OP_COUNT] = { "commission", "decommission", "update",
	"discover" };

const char *
job_op_name(enum job_op op)
{
	return (unsigned)op < JOB_OP_COUNT ? op_names[op] : "unknown";
}

int
job_op_parse(const char *v)
{
	for (int i = 0; i < JOB_OP_COUNT; i++)
		if (strcmp(v, op_names[i]) == 0)
			return i;
	return -1;
}

static int
pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t l;

	if (s == NULL)
		return msgpack_pack_nil(pk);
	l = strlen(s);
	if (msgpack_pack_str(pk, l) != 0)
		return -1;
	return msgpack_pack_str_body(pk, s, l);
}

static size_t
nfields(enum op_kind k)
{
	switch (k) {
	case OP_REPORTS:	return 8;
	case OP_TICK:		return 0;
	case OP_PARAMS:		return 9;
	case OP_HEARTBEAT:	return 5;
	case OP_JOB_REQUEST:	return 8;
	case OP_JOB_END:	return 6;
	case OP_JOB_CANCEL:	return 2;
	case OP_JOB_STARTED:	return 6;
	case OP_GLOBALS:
	case OP_CONFIG:		return 3;
	case OP_FORGET:		return 3;
	default:		return 0;
	}
}

/*
 * Fields a record of kind k must have: records written before fields were
 * appended to a kind have fewer, and those fields take their defaults.
 */
static size_t
nfields_min(enum op_kind k)
{
	switch (k) {
	case OP_REPORTS:	return 7;
	case OP_PARAMS:		return 4;
	default:		return nfields(k);
	}
}

static int
pack_fields(msgpack_packer *pk, const struct op *op)
{
	int rc = 0;

	switch (op->kind) {
	case OP_REPORTS: {
		const struct op_reports *r = &op->u.reports;
		rc |= pack_cstr(pk, r->reporter);
		rc |= pack_cstr(pk, r->epoch != NULL ? r->epoch : "");
		rc |= msgpack_pack_uint64(pk, r->seq);
		rc |= r->has_seq ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		rc |= pack_cstr(pk, r->actor != NULL ? r->actor : "");
		rc |= msgpack_pack_uint8(pk, (uint8_t)r->kind);
		rc |= msgpack_pack_array(pk, r->n);
		for (size_t i = 0; i < r->n; i++)
			rc |= mputil_pack_report(pk, &r->reports[i]);
		rc |= msgpack_pack_int64(pk, r->spool_depth);
		break;
	}
	case OP_HEARTBEAT: {
		const struct op_heartbeat *h = &op->u.hb;
		rc |= pack_cstr(pk, h->reporter != NULL ? h->reporter : "");
		rc |= pack_cstr(pk, h->epoch != NULL ? h->epoch : "");
		rc |= msgpack_pack_uint64(pk, h->seq);
		rc |= h->has_seq ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		rc |= msgpack_pack_int64(pk, h->spool_depth);
		break;
	}
	case OP_TICK:
		break;
	case OP_PARAMS:
		rc |= msgpack_pack_int64(pk, op->u.params.grace_ms);
		rc |= msgpack_pack_int64(pk, op->u.params.quorum);
		rc |= msgpack_pack_double(pk, op->u.params.disruption_ratio);
		rc |= msgpack_pack_int64(pk, op->u.params.disruption_window_ms);
		rc |= msgpack_pack_int64(pk, op->u.params.reporter_stale_ms);
		rc |= msgpack_pack_int64(pk, op->u.params.hb_timeout_ms);
		rc |= msgpack_pack_int64(pk, op->u.params.hb_interval_ms);
		rc |= msgpack_pack_int64(pk, op->u.params.reap_after_ms);
		rc |= msgpack_pack_uint32(pk, op->u.params.observers);
		break;
	case OP_JOB_REQUEST: {
		const struct op_job_request *j = &op->u.job;
		rc |= msgpack_pack_uint8(pk, (uint8_t)j->op);
		rc |= msgpack_pack_array(pk, j->n);
		for (size_t i = 0; i < j->n; i++)
			rc |= pack_cstr(pk, j->names[i]);
		rc |= pack_cstr(pk, j->host_group != NULL ? j->host_group : "");
		rc |= pack_cstr(pk, j->extra_vars != NULL ? j->extra_vars : "");
		rc |= pack_cstr(pk, j->actor != NULL ? j->actor : "");
		rc |= pack_cstr(pk, j->comment != NULL ? j->comment : "");
		rc |= msgpack_pack_int64(pk, j->max_jobs);
		rc |= j->queue_jobs ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		break;
	}
	case OP_JOB_END: {
		const struct op_job_end *e = &op->u.end;
		rc |= msgpack_pack_uint64(pk, e->id);
		rc |= e->ok ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		rc |= msgpack_pack_int64(pk, e->exit_code);
		rc |= pack_cstr(pk, e->error != NULL ? e->error : "");
		rc |= msgpack_pack_int64(pk, e->start_ms);
		rc |= msgpack_pack_int64(pk, e->end_ms);
		break;
	}
	case OP_JOB_STARTED: {
		const struct op_job_started *b = &op->u.started;
		rc |= msgpack_pack_uint64(pk, b->id);
		rc |= msgpack_pack_int64(pk, b->pgid);
		rc |= msgpack_pack_int64(pk, b->sid);
		rc |= msgpack_pack_uint64(pk, b->start_ticks);
		rc |= pack_cstr(pk, b->boot_id != NULL ? b->boot_id : "");
		rc |= msgpack_pack_int64(pk, b->start_ms);
		break;
	}
	case OP_JOB_CANCEL:
		rc |= msgpack_pack_uint64(pk, op->u.cancel.id);
		rc |= pack_cstr(pk, op->u.cancel.actor != NULL ? op->u.cancel.actor : "");
		break;
	case OP_GLOBALS:
	case OP_CONFIG:
		rc |= pack_cstr(pk, op->u.text.json);
		rc |= pack_cstr(pk, op->u.text.actor != NULL ? op->u.text.actor : "");
		rc |= pack_cstr(pk, op->u.text.comment != NULL ? op->u.text.comment : "");
		break;
	case OP_FORGET:
		rc |= pack_cstr(pk, op->u.forget.name != NULL ? op->u.forget.name : "");
		rc |= pack_cstr(pk, op->u.forget.actor != NULL ? op->u.forget.actor : "");
		rc |= pack_cstr(pk, op->u.forget.comment != NULL ? op->u.forget.comment : "");
		break;
	default:
		return -1;
	}
	return rc;
}

int
ops_encode(const struct op *op, char **ret_buf, size_t *ret_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, OPS_HEAD + nfields(op->kind));
	rc |= pack_cstr(&pk, "O");
	rc |= msgpack_pack_uint8(&pk, OPS_VERSION);
	rc |= msgpack_pack_uint8(&pk, (uint8_t)op->kind);
	rc |= msgpack_pack_int64(&pk, op->time_ms);
	rc |= pack_fields(&pk, op);
	if (rc != 0) {
		msgpack_sbuffer_destroy(&sb);
		return -ENOMEM;
	}
	*ret_buf = sb.data;
	*ret_len = sb.size;
	return 0;
}

bool
ops_is_op(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* A fixarray, then the fixstr "O". */
	return len >= 3 && (p[0] & 0xf0) == 0x90 && p[1] == 0xa1 && p[2] == 'O';
}

/* ---- decoding ---- */

/* Strings of a decoded operation live in one arena: no string outgrows the record. */
struct arena {
	char *base;
	size_t used, cap;
	struct report *reports;
	size_t nreports;
	const char **names;
};

static const char *
str_of(struct arena *a, const msgpack_object *o, bool nil_ok)
{
	char *s;

	if (nil_ok && o->type == MSGPACK_OBJECT_NIL)
		return NULL;
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > a->cap - a->used - 1 ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return (const char *)-1;
	s = a->base + a->used;
	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	a->used += o->via.str.size + 1;
	return s;
}

#define BAD_STR(p)	((p) == (const char *)-1)

static bool
get_bool(const msgpack_object *o, bool *ret)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return false;
	*ret = o->via.boolean;
	return true;
}

static int
decode_report(struct arena *a, const msgpack_object *o, struct report *r)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const char *k = str_of(a, &o->via.map.ptr[i].key, false);
		const char *v = str_of(a, &o->via.map.ptr[i].val, false);
		int rc;
		if (BAD_STR(k) || BAD_STR(v))
			return -EBADMSG;
		if ((rc = report_set(r, k, v)) < 0)
			return rc == -ENOMEM ? rc : -EBADMSG;
	}
	return 0;
}

static int
decode_reports(struct arena *a, const msgpack_object *f, size_t nf, struct op *op)
{
	struct op_reports *r = &op->u.reports;
	const msgpack_object *list = &f[6];
	long long kind;

	r->reporter = str_of(a, &f[0], true);
	r->epoch = str_of(a, &f[1], false);
	r->actor = str_of(a, &f[4], false);
	if (BAD_STR(r->reporter) || BAD_STR(r->epoch) || BAD_STR(r->actor) ||
	    !mputil_get_u64(&f[2], &r->seq) || !get_bool(&f[3], &r->has_seq) ||
	    !mputil_get_i64(&f[5], &kind) || kind < 0 || kind > 2 ||
	    list->type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	r->kind = (int)kind;
	if (list->via.array.size > 0) {
		a->reports = calloc(list->via.array.size, sizeof(*a->reports));
		if (a->reports == NULL)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < list->via.array.size; i++) {
		int rc;
		report_init(&a->reports[i]);
		a->nreports++;
		if ((rc = decode_report(a, &list->via.array.ptr[i], &a->reports[i])) < 0)
			return rc;
	}
	r->reports = a->reports;
	r->n = a->nreports;
	r->movable = true;
	r->spool_depth = -1;
	if (nf > 7 && !mputil_get_i64(&f[7], &r->spool_depth))
		return -EBADMSG;
	return 0;
}

static int
decode_job(struct arena *a, const msgpack_object *f, struct op *op)
{
	struct op_job_request *j = &op->u.job;
	long long jop;

	if (!mputil_get_i64(&f[0], &jop) || jop < 0 || jop >= JOB_OP_COUNT ||
	    f[1].type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	j->op = (enum job_op)jop;
	if (f[1].via.array.size > 0) {
		a->names = calloc(f[1].via.array.size, sizeof(*a->names));
		if (a->names == NULL)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < f[1].via.array.size; i++) {
		a->names[i] = str_of(a, &f[1].via.array.ptr[i], false);
		if (BAD_STR(a->names[i]))
			return -EBADMSG;
	}
	j->names = a->names;
	j->n = f[1].via.array.size;
	j->host_group = str_of(a, &f[2], false);
	j->extra_vars = str_of(a, &f[3], false);
	j->actor = str_of(a, &f[4], false);
	j->comment = str_of(a, &f[5], false);
	if (BAD_STR(j->host_group) || BAD_STR(j->extra_vars) || BAD_STR(j->actor) ||
	    BAD_STR(j->comment) || !mputil_get_i64(&f[6], &jop) || !get_bool(&f[7], &j->queue_jobs))
		return -EBADMSG;
	j->max_jobs = (long)jop;
	return 0;
}

/* The monitor parameters; fields appended later are optional (their defaults). */
static int
decode_params(const msgpack_object *f, size_t nf, struct votes_params *p)
{
	long long v, k = 0;

	p->reporter_stale_ms = VOTES_REPORTER_STALE_MS_DEFAULT;
	p->hb_timeout_ms = VOTES_HB_TIMEOUT_MS_DEFAULT;
	p->hb_interval_ms = VOTES_HB_INTERVAL_MS_DEFAULT;
	p->reap_after_ms = 0;
	if (!mputil_get_i64(&f[0], &p->grace_ms) || !mputil_get_i64(&f[1], &v) ||
	    (f[2].type != MSGPACK_OBJECT_FLOAT64 && f[2].type != MSGPACK_OBJECT_FLOAT32) ||
	    !mputil_get_i64(&f[3], &p->disruption_window_ms) ||
	    (nf > 4 && !mputil_get_i64(&f[4], &p->reporter_stale_ms)) ||
	    (nf > 5 && !mputil_get_i64(&f[5], &p->hb_timeout_ms)) ||
	    (nf > 6 && !mputil_get_i64(&f[6], &p->hb_interval_ms)) ||
	    (nf > 7 && (!mputil_get_i64(&f[7], &p->reap_after_ms) || p->reap_after_ms < 0)) ||
	    (nf > 8 && (!mputil_get_i64(&f[8], &k) || k < 0 || k > RINGS_MAX_K)))
		return -EBADMSG;
	p->observers = (uint32_t)k;
	p->quorum = (long)v;
	p->disruption_ratio = f[2].via.f64;
	return 0;
}

static int
decode_heartbeat(struct arena *a, const msgpack_object *f, struct op *op)
{
	struct op_heartbeat *h = &op->u.hb;

	h->reporter = str_of(a, &f[0], false);
	h->epoch = str_of(a, &f[1], false);
	if (BAD_STR(h->reporter) || BAD_STR(h->epoch) || h->reporter[0] == '\0' ||
	    !mputil_get_u64(&f[2], &h->seq) || !get_bool(&f[3], &h->has_seq) ||
	    !mputil_get_i64(&f[4], &h->spool_depth))
		return -EBADMSG;
	return 0;
}

static int
decode_fields(struct arena *a, const msgpack_object *f, size_t nf, struct op *op)
{
	long long v;

	switch (op->kind) {
	case OP_REPORTS:
		return decode_reports(a, f, nf, op);
	case OP_TICK:
		return 0;
	case OP_PARAMS:
		return decode_params(f, nf, &op->u.params);
	case OP_HEARTBEAT:
		return decode_heartbeat(a, f, op);
	case OP_JOB_REQUEST:
		return decode_job(a, f, op);
	case OP_JOB_END:
		op->u.end.error = str_of(a, &f[3], false);
		if (!mputil_get_u64(&f[0], &op->u.end.id) || !get_bool(&f[1], &op->u.end.ok) ||
		    !mputil_get_i64(&f[2], &v) || BAD_STR(op->u.end.error) ||
		    !mputil_get_i64(&f[4], &op->u.end.start_ms) || !mputil_get_i64(&f[5], &op->u.end.end_ms))
			return -EBADMSG;
		op->u.end.exit_code = (int)v;
		return 0;
	case OP_JOB_STARTED: {
		struct op_job_started *b = &op->u.started;
		long long pg, sid;
		uint64_t ticks;
		b->boot_id = str_of(a, &f[4], false);
		if (!mputil_get_u64(&f[0], &b->id) || !mputil_get_i64(&f[1], &pg) || pg < 0 || pg > INT32_MAX ||
		    !mputil_get_i64(&f[2], &sid) || sid < 0 || sid > INT32_MAX ||
		    !mputil_get_u64(&f[3], &ticks) || BAD_STR(b->boot_id) ||
		    !mputil_get_i64(&f[5], &b->start_ms))
			return -EBADMSG;
		b->pgid = (int)pg;
		b->sid = (int)sid;
		b->start_ticks = ticks;
		return 0;
	}
	case OP_JOB_CANCEL:
		op->u.cancel.actor = str_of(a, &f[1], false);
		return mputil_get_u64(&f[0], &op->u.cancel.id) && !BAD_STR(op->u.cancel.actor) ?
		    0 : -EBADMSG;
	case OP_GLOBALS:
	case OP_CONFIG:
		op->u.text.json = str_of(a, &f[0], op->kind == OP_CONFIG);
		op->u.text.actor = str_of(a, &f[1], false);
		op->u.text.comment = str_of(a, &f[2], false);
		if (BAD_STR(op->u.text.json) || BAD_STR(op->u.text.actor) ||
		    BAD_STR(op->u.text.comment) || (op->kind == OP_GLOBALS && op->u.text.json == NULL))
			return -EBADMSG;
		return 0;
	case OP_FORGET:
		op->u.forget.name = str_of(a, &f[0], false);
		op->u.forget.actor = str_of(a, &f[1], false);
		op->u.forget.comment = str_of(a, &f[2], false);
		return BAD_STR(op->u.forget.name) || BAD_STR(op->u.forget.actor) ||
		    BAD_STR(op->u.forget.comment) ? -EBADMSG : 0;
	default:
		return -EBADMSG;
	}
}

void
ops_free(struct op *op)
{
	struct arena *a;

	if (op == NULL || (a = op->owned) == NULL)
		return;
	for (size_t i = 0; i < a->nreports; i++)
		report_finish(&a->reports[i]);
	free(a->reports);
	free(a->names);
	free(a->base);
	free(a);
	op->owned = NULL;
}

int
ops_decode(const void *buf, size_t len, struct op *ret, char *err, size_t errlen)
{
	msgpack_unpacked up;
	const msgpack_object *f;
	struct arena *a;
	long long version, kind;
	size_t off = 0;
	int rc = -EBADMSG;

	memset(ret, 0, sizeof(*ret));
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->base = malloc(len + 1)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	a->cap = len + 1;
	ret->owned = a;
	msgpack_unpacked_init(&up);
	if (!mpcheck_bounded(buf, len) ||
	    msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
	    up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size < OPS_HEAD) {
		snprintf(err, errlen, "not a clusterm operation record");
		goto out;
	}
	f = up.data.via.array.ptr;
	if (f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != 1 || f[0].via.str.ptr[0] != 'O' ||
	    !mputil_get_i64(&f[1], &version) || !mputil_get_i64(&f[2], &kind) || !mputil_get_i64(&f[3], &ret->time_ms)) {
		snprintf(err, errlen, "not a clusterm operation record");
		goto out;
	}
	if (version != OPS_VERSION) {
		snprintf(err, errlen, "operation record of version %lld (this clusterm reads %d)",
		    version, OPS_VERSION);
		goto out;
	}
	if (kind < OP_REPORTS || kind >= OP_KIND_END ||
	    up.data.via.array.size < OPS_HEAD + nfields_min((enum op_kind)kind) ||
	    (up.data.via.array.size > OPS_HEAD + nfields((enum op_kind)kind) &&
	    kind != OP_PARAMS)) {
		snprintf(err, errlen, "malformed operation record (kind %lld)", kind);
		goto out;
	}
	ret->kind = (enum op_kind)kind;
	rc = decode_fields(a, f + OPS_HEAD, up.data.via.array.size - OPS_HEAD, ret);
	if (rc == -EBADMSG)
		snprintf(err, errlen, "malformed operation record (kind %lld)", kind);
	else if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	msgpack_unpacked_destroy(&up);
	if (rc < 0) {
		ops_free(ret);
		memset(ret, 0, sizeof(*ret));
	}
	return rc;
}
