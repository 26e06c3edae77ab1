/*
 * Record layout (msgpack arrays):
 *   batch:    ["B", now_ms, wm | nil, [node...], [job...], globals | nil,
 *              [event...], config | nil]
 *   snapshot: ["S", 1, now_ms, [wm...], [node...], [job...], globals,
 *              [event...], config | nil, next_job_id, next_event_id]
 *   wm:       [reporter, epoch, seq]
 *   job:      [id, op, [node...], host_group, extra_vars, status, created_ms,
 *              started_ms, ended_ms, exit_code, error, actor]
 *   event:    [id, time_ms, node, kind, old, new, actor, comment]
 *   node:     [name, {report}, state, prev_state, status, prev_status,
 *              host_group, gone_since_ms, state_ms, disappeared_ms, last_job,
 *              [[reporter, alive, seq, received_ms]...]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "mpcheck.h"
#include "records.h"
#include "state.h"

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

static int
pack_opt(msgpack_packer *pk, const char *s)
{
	return s != NULL ? pack_cstr(pk, s) : msgpack_pack_nil(pk);
}

static int
pack_job(msgpack_packer *pk, const struct job_rec *j)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, 12);
	rc |= msgpack_pack_uint64(pk, j->id);
	rc |= msgpack_pack_uint8(pk, (uint8_t)j->op);
	rc |= msgpack_pack_array(pk, j->nnodes);
	for (size_t i = 0; i < j->nnodes; i++)
		rc |= pack_cstr(pk, j->nodes[i]);
	rc |= pack_cstr(pk, j->host_group ? j->host_group : "");
	rc |= pack_cstr(pk, j->extra_vars ? j->extra_vars : "");
	rc |= msgpack_pack_uint8(pk, (uint8_t)j->status);
	rc |= msgpack_pack_int64(pk, j->created_ms);
	rc |= msgpack_pack_int64(pk, j->started_ms);
	rc |= msgpack_pack_int64(pk, j->ended_ms);
	rc |= msgpack_pack_int64(pk, j->exit_code);
	rc |= pack_cstr(pk, j->error ? j->error : "");
	rc |= pack_cstr(pk, j->actor ? j->actor : "");
	return rc;
}

static int
pack_event(msgpack_packer *pk, const struct audit_event *e)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, 8);
	rc |= msgpack_pack_uint64(pk, e->id);
	rc |= msgpack_pack_int64(pk, e->time_ms);
	rc |= pack_cstr(pk, e->node);
	rc |= pack_cstr(pk, e->kind);
	rc |= pack_cstr(pk, e->old_val);
	rc |= pack_cstr(pk, e->new_val);
	rc |= pack_cstr(pk, e->actor);
	rc |= pack_cstr(pk, e->comment);
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
    const struct records_extra *x, long long now_ms, char **ret_buf, size_t *ret_len)
{
	static const struct records_extra none;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc = 0;

	if (x == NULL)
		x = &none;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, 8);
	rc |= pack_cstr(&pk, "B");
	rc |= msgpack_pack_int64(&pk, now_ms);
	rc |= wm != NULL ? pack_wm(&pk, wm) : msgpack_pack_nil(&pk);
	rc |= msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		rc |= pack_node(&pk, nodes[i]);
	rc |= msgpack_pack_array(&pk, x->njobs);
	for (size_t i = 0; i < x->njobs; i++)
		rc |= pack_job(&pk, x->jobs[i]);
	rc |= pack_opt(&pk, x->globals);
	rc |= msgpack_pack_array(&pk, x->nevents);
	for (size_t i = 0; i < x->nevents; i++)
		rc |= pack_event(&pk, x->events[i]);
	rc |= pack_opt(&pk, x->config);
	return finish(&sb, rc, ret_buf, ret_len);
}

int
records_encode_snapshot(const struct state *s, long long now_ms, char **ret_buf,
    size_t *ret_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = inventory_count(s->inv);
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, 11);
	rc |= pack_cstr(&pk, "S");
	rc |= msgpack_pack_uint8(&pk, 1);
	rc |= msgpack_pack_int64(&pk, now_ms);
	rc |= msgpack_pack_array(&pk, s->nwms);
	for (size_t i = 0; i < s->nwms; i++)
		rc |= pack_wm(&pk, s->wms[i]);
	rc |= msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		rc |= pack_node(&pk, inventory_at(s->inv, i));
	rc |= msgpack_pack_array(&pk, s->njobs);
	for (size_t i = 0; i < s->njobs; i++)
		rc |= pack_job(&pk, s->jobs[i]);
	rc |= pack_cstr(&pk, s->globals ? s->globals : "{}");
	rc |= msgpack_pack_array(&pk, s->nevents);
	for (size_t i = 0; i < s->nevents; i++)
		rc |= pack_event(&pk, state_event_at(s, i));
	rc |= pack_opt(&pk, s->ansible_override);
	rc |= msgpack_pack_uint64(&pk, s->next_job_id);
	rc |= msgpack_pack_uint64(&pk, s->next_event_id);
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

static int
decode_job(const msgpack_object *o, const struct records_visitor *v, char *err,
    size_t errlen)
{
	const msgpack_object *f;
	struct job_rec *j;
	long long op, st, code;
	int rc;

	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	if (!is_array(o, 12))
		goto bad;
	f = o->via.array.ptr;
	if (!get_u64(&f[0], &j->id) || !get_int(&f[1], &op) || op < 0 || op >= JOB_OP_COUNT ||
	    f[2].type != MSGPACK_OBJECT_ARRAY)
		goto bad;
	j->op = (enum job_op)op;
	if (f[2].via.array.size > 0) {
		j->nodes = calloc(f[2].via.array.size, sizeof(*j->nodes));
		if (j->nodes == NULL)
			goto bad;
	}
	for (uint32_t i = 0; i < f[2].via.array.size; i++) {
		if ((j->nodes[i] = dup_str(&f[2].via.array.ptr[i])) == NULL)
			goto bad;
		j->nnodes++;
	}
	if ((j->host_group = dup_str(&f[3])) == NULL || (j->extra_vars = dup_str(&f[4])) == NULL ||
	    !get_int(&f[5], &st) || st < 0 || st > 3 || !get_int(&f[6], &j->created_ms) ||
	    !get_int(&f[7], &j->started_ms) || !get_int(&f[8], &j->ended_ms) ||
	    !get_int(&f[9], &code) || (j->error = dup_str(&f[10])) == NULL ||
	    (j->actor = dup_str(&f[11])) == NULL)
		goto bad;
	j->status = (int)st;
	j->exit_code = (int)code;
	if (v->on_job == NULL) {
		job_rec_free(j);
		return 0;
	}
	rc = v->on_job(j, v->arg);
	if (rc < 0)
		job_rec_free(j);
	return rc;
bad:
	job_rec_free(j);
	snprintf(err, errlen, "malformed job record");
	return -EBADMSG;
}

static int
decode_event(const msgpack_object *o, const struct records_visitor *v, char *err,
    size_t errlen)
{
	struct audit_event e = { 0 };
	const msgpack_object *f;
	int rc;

	if (!is_array(o, 8))
		goto bad;
	f = o->via.array.ptr;
	if (!get_u64(&f[0], &e.id) || !get_int(&f[1], &e.time_ms) ||
	    (e.node = dup_str(&f[2])) == NULL || (e.kind = dup_str(&f[3])) == NULL ||
	    (e.old_val = dup_str(&f[4])) == NULL || (e.new_val = dup_str(&f[5])) == NULL ||
	    (e.actor = dup_str(&f[6])) == NULL || (e.comment = dup_str(&f[7])) == NULL)
		goto bad;
	rc = v->on_event != NULL ? v->on_event(&e, v->arg) : 0;
	audit_event_finish(&e);	/* nothing left when the visitor took it */
	return rc;
bad:
	audit_event_finish(&e);
	snprintf(err, errlen, "malformed audit event");
	return -EBADMSG;
}

/* A string or nil; the visitor is called for a string only. */
static int
decode_opt_text(const msgpack_object *o, int (*fn)(const char *, void *), void *arg,
    const char *what, char *err, size_t errlen)
{
	char *t;
	int rc;

	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if ((t = dup_str(o)) == NULL) {
		snprintf(err, errlen, "malformed %s", what);
		return -EBADMSG;
	}
	rc = fn != NULL ? fn(t, arg) : 0;
	free(t);
	return rc;
}

/* Decodes each element of an array with fn. */
static int
each(const msgpack_object *o, int (*fn)(const msgpack_object *, const struct records_visitor *,
    char *, size_t), const struct records_visitor *v, char *err, size_t errlen)
{
	int rc;

	if (o->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "malformed list in record");
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < o->via.array.size; i++)
		if ((rc = fn(&o->via.array.ptr[i], v, err, errlen)) < 0)
			return rc;
	return 0;
}

int
records_decode(const void *buf, size_t len, const struct records_visitor *v, char *err,
    size_t errlen)
{
	msgpack_unpacked up;
	const msgpack_object *a;
	uint64_t next_job, next_event;
	size_t off = 0;
	int rc = -EBADMSG;

	msgpack_unpacked_init(&up);
	if (!mpcheck_bounded(buf, len) ||
	    msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
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
		if (up.data.via.array.size != 8) {
			snprintf(err, errlen, "malformed batch record");
			goto out;
		}
		if (a[2].type != MSGPACK_OBJECT_NIL &&
		    (rc = decode_wm(&a[2], v, err, errlen)) < 0)
			goto out;
		if ((rc = decode_nodes(&a[3], v, err, errlen)) < 0 ||
		    (rc = each(&a[4], decode_job, v, err, errlen)) < 0 ||
		    (rc = decode_opt_text(&a[5], v->on_globals, v->arg, "globals", err,
		    errlen)) < 0 ||
		    (rc = each(&a[6], decode_event, v, err, errlen)) < 0)
			goto out;
		rc = decode_opt_text(&a[7], v->on_config, v->arg, "config", err, errlen);
		break;
	case 'S':
		if (up.data.via.array.size != 11 || !get_u64(&a[9], &next_job) ||
		    !get_u64(&a[10], &next_event)) {
			snprintf(err, errlen, "malformed snapshot");
			goto out;
		}
		if ((rc = each(&a[3], decode_wm, v, err, errlen)) < 0 ||
		    (rc = decode_nodes(&a[4], v, err, errlen)) < 0 ||
		    (rc = each(&a[5], decode_job, v, err, errlen)) < 0 ||
		    (rc = decode_opt_text(&a[6], v->on_globals, v->arg, "globals", err,
		    errlen)) < 0 ||
		    (rc = each(&a[7], decode_event, v, err, errlen)) < 0 ||
		    (rc = decode_opt_text(&a[8], v->on_config, v->arg, "config", err,
		    errlen)) < 0)
			goto out;
		rc = v->on_counters != NULL ? v->on_counters(next_job, next_event, v->arg) : 0;
		break;
	default:
		snprintf(err, errlen, "unknown record type '%c'", a[0].via.str.ptr[0]);
	}
out:
	msgpack_unpacked_destroy(&up);
	return rc;
}
