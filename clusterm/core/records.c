/* Snapshots: the whole state as msgpack (layout in records.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "mpcheck.h"
#include "mputil.h"
#include "records.h"
#include "reporters.h"
#include "state.h"
#include "state_impl.h"

/*
 * Fields written; a snapshot of an older clusterm has the _MIN (what came
 * later takes its defaults), one of a newer may have more (left unread).
 */
#define SNAP_FIELDS	16
#define SNAP_FIELDS_MIN	15
#define NODE_FIELDS	18
#define NODE_FIELDS_MIN	15
#define PARAMS_FIELDS	10
#define PARAMS_FIELDS_MIN	4
#define REP_FIELDS	9
#define JOB_FIELDS	17

static int
pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t l = strlen(s != NULL ? s : "");

	if (msgpack_pack_str(pk, l) != 0)
		return -1;
	return msgpack_pack_str_body(pk, s != NULL ? s : "", l);
}

static int
pack_node(msgpack_packer *pk, const struct node *n)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, NODE_FIELDS);
	rc |= pack_cstr(pk, n->name);
	rc |= mputil_pack_report(pk, &n->rep);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->state);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->prev_state);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->status);
	rc |= msgpack_pack_uint8(pk, (uint8_t)n->prev_status);
	rc |= pack_cstr(pk, n->host_group);
	rc |= msgpack_pack_int64(pk, n->gone_since_ms);
	rc |= msgpack_pack_int64(pk, n->deadline_ms);
	rc |= msgpack_pack_int64(pk, n->state_ms);
	rc |= msgpack_pack_int64(pk, n->disappeared_ms);
	rc |= msgpack_pack_int64(pk, n->recent_ms);
	rc |= msgpack_pack_uint64(pk, n->last_job);
	rc |= msgpack_pack_int64(pk, n->member_ms);
	rc |= msgpack_pack_array(pk, (size_t)n->votes.used * 4);
	for (uint32_t i = 0; i < n->votes.cap; i++) {
		const struct vote *v = &n->votes.slots[i];
		if (v->rid == VOTE_NO_REPORTER)
			continue;
		rc |= msgpack_pack_uint32(pk, v->rid);
		rc |= msgpack_pack_uint8(pk, v->kind);
		rc |= msgpack_pack_uint64(pk, v->seq);
		rc |= msgpack_pack_int64(pk, v->received_ms);
	}
	rc |= msgpack_pack_int64(pk, n->first_gone_ms);
	rc |= n->partitioned ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	rc |= n->unreachable ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	return rc;
}

/*
 * A reporter's record (CONTRACT 11), in reporter id order; pos is its place
 * in the heartbeat queue (-1 none), which equal times alone would not give.
 */
static int
pack_reporter(msgpack_packer *pk, const struct reporter *r, long long pos)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, REP_FIELDS);
	rc |= pack_cstr(pk, r->epoch);
	rc |= msgpack_pack_uint64(pk, r->last_seq);
	rc |= msgpack_pack_int64(pk, r->heard_ms);
	rc |= msgpack_pack_int64(pk, r->sync_ms);
	rc |= msgpack_pack_int64(pk, r->hb_ms);
	rc |= msgpack_pack_uint64(pk, r->batches);
	rc |= msgpack_pack_uint64(pk, r->reports);
	rc |= msgpack_pack_int64(pk, r->spool_depth);
	rc |= msgpack_pack_int64(pk, pos);
	return rc;
}

static int
pack_job(msgpack_packer *pk, const struct job_rec *j)
{
	int rc = 0;

	rc |= msgpack_pack_array(pk, JOB_FIELDS);
	rc |= msgpack_pack_uint64(pk, j->id);
	rc |= msgpack_pack_uint8(pk, (uint8_t)j->op);
	rc |= msgpack_pack_array(pk, j->nnodes);
	for (size_t i = 0; i < j->nnodes; i++)
		rc |= pack_cstr(pk, j->nodes[i]);
	rc |= msgpack_pack_array(pk, j->groups != NULL ? j->nnodes : 0);
	for (size_t i = 0; j->groups != NULL && i < j->nnodes; i++)
		rc |= pack_cstr(pk, j->groups[i]);
	rc |= pack_cstr(pk, j->host_group);
	rc |= pack_cstr(pk, j->extra_vars);
	rc |= msgpack_pack_uint8(pk, (uint8_t)j->status);
	rc |= msgpack_pack_int64(pk, j->created_ms);
	rc |= msgpack_pack_int64(pk, j->started_ms);
	rc |= msgpack_pack_int64(pk, j->ended_ms);
	rc |= msgpack_pack_int64(pk, j->exit_code);
	rc |= pack_cstr(pk, j->error);
	rc |= pack_cstr(pk, j->actor);
	rc |= msgpack_pack_int64(pk, j->pgid);
	rc |= msgpack_pack_int64(pk, j->sid);
	rc |= msgpack_pack_uint64(pk, j->start_ticks);
	rc |= pack_cstr(pk, j->boot_id);
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

int
records_encode_snapshot(const struct state *s, char **ret_buf, size_t *ret_len)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = inventory_count(s->inv);
	int rc = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rc |= msgpack_pack_array(&pk, SNAP_FIELDS);
	rc |= pack_cstr(&pk, "S");
	rc |= msgpack_pack_uint8(&pk, RECORDS_SNAPSHOT_VERSION);
	rc |= msgpack_pack_int64(&pk, s->clock_last_ms);
	rc |= msgpack_pack_array(&pk, PARAMS_FIELDS);
	rc |= msgpack_pack_int64(&pk, s->params.grace_ms);
	rc |= msgpack_pack_int64(&pk, s->params.quorum);
	rc |= msgpack_pack_double(&pk, s->params.disruption_ratio);
	rc |= msgpack_pack_int64(&pk, s->params.disruption_window_ms);
	rc |= msgpack_pack_int64(&pk, s->params.reporter_stale_ms);
	rc |= msgpack_pack_int64(&pk, s->params.hb_timeout_ms);
	rc |= msgpack_pack_int64(&pk, s->params.hb_interval_ms);
	rc |= msgpack_pack_int64(&pk, s->params.reap_after_ms);
	rc |= msgpack_pack_uint32(&pk, s->params.observers);
	rc |= msgpack_pack_uint64(&pk, rings_version(s->rings));
	rc |= s->disruption ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	rc |= msgpack_pack_int64(&pk, s->disruption_changed_ms);
	rc |= msgpack_pack_array(&pk, s->nreps);
	for (uint32_t i = 0; i < s->nreps; i++)
		rc |= pack_cstr(&pk, s->reps[i].name);
	rc |= msgpack_pack_array(&pk, s->nwms);
	for (size_t i = 0; i < s->nwms; i++) {
		rc |= msgpack_pack_array(&pk, 3);
		rc |= pack_cstr(&pk, s->wms[i]->reporter);
		rc |= pack_cstr(&pk, s->wms[i]->epoch);
		rc |= msgpack_pack_uint64(&pk, s->wms[i]->seq);
	}
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
	rc |= s->ansible_override != NULL ? pack_cstr(&pk, s->ansible_override) :
	    msgpack_pack_nil(&pk);
	rc |= msgpack_pack_uint64(&pk, s->next_job_id);
	rc |= msgpack_pack_uint64(&pk, s->next_event_id);
	{
		long long *pos = malloc((s->nreps ? s->nreps : 1) * sizeof(*pos)), k = 0;
		if (pos == NULL) {
			msgpack_sbuffer_destroy(&sb);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < s->nreps; i++)
			pos[i] = -1;
		for (uint32_t r = s->hb_head; r != VOTE_NO_REPORTER; r = s->reps[r].hb_next)
			pos[r] = k++;
		rc |= msgpack_pack_array(&pk, s->nreps);
		for (uint32_t i = 0; i < s->nreps; i++)
			rc |= pack_reporter(&pk, &s->reps[i], pos[i]);
		free(pos);
	}
	if (rc != 0) {
		msgpack_sbuffer_destroy(&sb);
		return -ENOMEM;
	}
	*ret_buf = sb.data;
	*ret_len = sb.size;
	return 0;
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
is_array(const msgpack_object *o, uint32_t n)
{
	return o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == n;
}

/* Copies a string object into buf (NUL-terminated); false when it does not fit. */
static bool
get_str(const msgpack_object *o, char *buf, size_t len)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= len ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return false;
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return true;
}

static int
decode_report(const msgpack_object *o, struct report *r)
{
	char *k = NULL, *v = NULL;
	int rc = 0;

	if (o->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	for (uint32_t i = 0; i < o->via.map.size && rc == 0; i++) {
		k = dup_str(&o->via.map.ptr[i].key);
		v = dup_str(&o->via.map.ptr[i].val);
		if (k == NULL || v == NULL || report_set(r, k, v) < 0)
			rc = -EBADMSG;
		free(k);
		free(v);
	}
	return rc;
}

static int
decode_node(struct state *s, const msgpack_object *o)
{
	char name[512];
	const msgpack_object *f, *votes;
	long long st, pst, ss, pss, member_ms;
	struct report rep;
	struct node *n;
	char *hg;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < NODE_FIELDS_MIN)
		return -EBADMSG;
	f = o->via.array.ptr;
	if (!get_str(&f[0], name, sizeof(name)) || inventory_get(s->inv, name) != NULL)
		return -EBADMSG;
	/* Its Node-Name's time first: the member index is ordered by it. */
	if (!mputil_get_i64(&f[13], &member_ms))
		return -EBADMSG;
	report_init(&rep);
	if (decode_report(&f[1], &rep) < 0 || inventory_add(s->inv, name, &n) < 0 ||
	    inventory_set_report(s->inv, n, &rep, member_ms) < 0) {
		report_finish(&rep);
		return -EBADMSG;
	}
	report_finish(&rep);
	if (!mputil_get_i64(&f[2], &st) || !mputil_get_i64(&f[3], &pst) || !mputil_get_i64(&f[4], &ss) ||
	    !mputil_get_i64(&f[5], &pss) || st < 0 || st > MON_DISAPPEARED || pst < 0 ||
	    pst > MON_DISAPPEARED || ss < 0 || ss >= NS_COUNT || pss < 0 || pss >= NS_COUNT)
		return -EBADMSG;
	n->state = (enum mon_state)st;
	n->prev_state = (enum mon_state)pst;
	n->status = (enum node_status)ss;
	n->prev_status = (enum node_status)pss;
	if ((hg = dup_str(&f[6])) == NULL)
		return -EBADMSG;
	free(n->host_group);
	n->host_group = hg;
	if (!mputil_get_i64(&f[7], &n->gone_since_ms) || !mputil_get_i64(&f[8], &n->deadline_ms) ||
	    !mputil_get_i64(&f[9], &n->state_ms) || !mputil_get_i64(&f[10], &n->disappeared_ms) ||
	    !mputil_get_i64(&f[11], &n->recent_ms) || !mputil_get_u64(&f[12], &n->last_job) ||
	    f[14].type != MSGPACK_OBJECT_ARRAY || f[14].via.array.size % 4 != 0)
		return -EBADMSG;
	votes = &f[14];
	for (uint32_t i = 0; i < votes->via.array.size; i += 4) {
		const msgpack_object *v = &votes->via.array.ptr[i];
		uint64_t rid, seq;
		long long kind, ms;
		if (!mputil_get_u64(&v[0], &rid) || rid >= s->nreps || !mputil_get_i64(&v[1], &kind) ||
		    kind < VOTE_NONE || kind > VOTE_GONE || !mputil_get_u64(&v[2], &seq) ||
		    !mputil_get_i64(&v[3], &ms) || votes_find(n, (uint32_t)rid) != NULL)
			return -EBADMSG;
		if (votes_record(n, (uint32_t)rid, (enum vote_kind)kind, seq, ms, false,
		    NULL) < 0)
			return -ENOMEM;
	}
	if (o->via.array.size >= NODE_FIELDS &&
	    (!mputil_get_i64(&f[15], &n->first_gone_ms) ||
	    f[16].type != MSGPACK_OBJECT_BOOLEAN || f[17].type != MSGPACK_OBJECT_BOOLEAN))
		return -EBADMSG;
	if (o->via.array.size >= NODE_FIELDS) {
		n->partitioned = f[16].via.boolean;
		n->unreachable = f[17].via.boolean;
	}
	return 0;
}

static int
decode_reporter(struct state *s, uint32_t rid, const msgpack_object *o)
{
	struct reporter *r = &s->reps[rid];
	const msgpack_object *f;
	long long pos;
	char *e;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < REP_FIELDS)
		return -EBADMSG;
	f = o->via.array.ptr;
	if ((e = dup_str(&f[0])) == NULL)
		return -EBADMSG;
	free(r->epoch);
	r->epoch = e;
	if (!mputil_get_u64(&f[1], &r->last_seq) || !mputil_get_i64(&f[2], &r->heard_ms) ||
	    !mputil_get_i64(&f[3], &r->sync_ms) || !mputil_get_i64(&f[4], &r->hb_ms) ||
	    !mputil_get_u64(&f[5], &r->batches) || !mputil_get_u64(&f[6], &r->reports) ||
	    !mputil_get_i64(&f[7], &r->spool_depth) || !mputil_get_i64(&f[8], &pos) ||
	    pos < -1 || pos >= (long long)s->nreps)
		return -EBADMSG;
	/* Its place in the queue, until reporters_rebuild_queue() links them. */
	r->hb_queued = pos >= 0;
	r->hb_prev = pos >= 0 ? (uint32_t)pos : VOTE_NO_REPORTER;
	return 0;
}

static int
decode_job(struct state *s, const msgpack_object *o)
{
	const msgpack_object *f;
	struct job_rec *j;
	long long op, st, code, pg, sid;
	uint64_t ticks;
	uint32_t ng;

	if (!is_array(o, JOB_FIELDS))
		return -EBADMSG;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	f = o->via.array.ptr;
	if (!mputil_get_u64(&f[0], &j->id) || !mputil_get_i64(&f[1], &op) || op < 0 || op >= JOB_OP_COUNT ||
	    f[2].type != MSGPACK_OBJECT_ARRAY || f[3].type != MSGPACK_OBJECT_ARRAY ||
	    (j->id < s->next_job_id && s->njobs > 0) || state_job_get(s, j->id) != NULL)
		goto bad;
	j->op = (enum job_op)op;
	ng = f[3].via.array.size;
	if (ng != 0 && ng != f[2].via.array.size)
		goto bad;
	if (f[2].via.array.size > 0 && (j->nodes = calloc(f[2].via.array.size,
	    sizeof(*j->nodes))) == NULL)
		goto bad;
	if (ng > 0 && (j->groups = calloc(ng, sizeof(*j->groups))) == NULL)
		goto bad;
	for (uint32_t i = 0; i < f[2].via.array.size; i++) {
		j->nnodes++;
		if ((j->nodes[i] = dup_str(&f[2].via.array.ptr[i])) == NULL ||
		    (ng > 0 && (j->groups[i] = dup_str(&f[3].via.array.ptr[i])) == NULL))
			goto bad;
	}
	if ((j->host_group = dup_str(&f[4])) == NULL || (j->extra_vars = dup_str(&f[5])) == NULL ||
	    !mputil_get_i64(&f[6], &st) || st < 0 || st > JOB_STATE_LAST ||
	    !mputil_get_i64(&f[7], &j->created_ms) ||
	    !mputil_get_i64(&f[8], &j->started_ms) || !mputil_get_i64(&f[9], &j->ended_ms) ||
	    !mputil_get_i64(&f[10], &code) || code < -1 || code > 255 ||
	    (j->error = dup_str(&f[11])) == NULL || (j->actor = dup_str(&f[12])) == NULL ||
	    !mputil_get_i64(&f[13], &pg) || pg < 0 || pg > INT32_MAX ||
	    !mputil_get_i64(&f[14], &sid) || sid < 0 || sid > INT32_MAX ||
	    !mputil_get_u64(&f[15], &ticks) || !get_str(&f[16], j->boot_id, sizeof(j->boot_id)))
		goto bad;
	j->pgid = (int)pg;
	j->sid = (int)sid;
	j->start_ticks = ticks;
	j->status = (enum job_state)st;
	j->exit_code = (int)code;
	if (state_job_put(s, j) < 0) {
		job_rec_free(j);
		return -ENOMEM;
	}
	return 0;
bad:
	job_rec_free(j);
	return -EBADMSG;
}

static int
decode_event(struct state *s, const msgpack_object *o)
{
	struct audit_event e = { 0 };
	const msgpack_object *f;

	if (!is_array(o, 8))
		return -EBADMSG;
	f = o->via.array.ptr;
	if (!mputil_get_u64(&f[0], &e.id) || !mputil_get_i64(&f[1], &e.time_ms) ||
	    (e.node = dup_str(&f[2])) == NULL || (e.kind = dup_str(&f[3])) == NULL ||
	    (e.old_val = dup_str(&f[4])) == NULL || (e.new_val = dup_str(&f[5])) == NULL ||
	    (e.actor = dup_str(&f[6])) == NULL || (e.comment = dup_str(&f[7])) == NULL ||
	    s->nevents >= STATE_EVENTS_KEEP) {
		audit_event_finish(&e);
		return -EBADMSG;
	}
	state_event_put(s, &e);
	return 0;
}

static int
decode_body(struct state *s, const msgpack_object *a, uint32_t nf)
{
	const msgpack_object *p = &a[3];
	long long v;
	uint64_t nj, ne;
	char *t;
	int rc;

	if (!mputil_get_i64(&a[2], &s->clock_last_ms) || p->type != MSGPACK_OBJECT_ARRAY ||
	    p->via.array.size < PARAMS_FIELDS_MIN ||
	    !mputil_get_i64(&p->via.array.ptr[0], &s->params.grace_ms) ||
	    !mputil_get_i64(&p->via.array.ptr[1], &v) ||
	    p->via.array.ptr[2].type != MSGPACK_OBJECT_FLOAT64 ||
	    !mputil_get_i64(&p->via.array.ptr[3], &s->params.disruption_window_ms) ||
	    a[4].type != MSGPACK_OBJECT_BOOLEAN || !mputil_get_i64(&a[5], &s->disruption_changed_ms))
		return -EBADMSG;
	s->params.quorum = (long)v;
	s->params.disruption_ratio = p->via.array.ptr[2].via.f64;
	s->params.reporter_stale_ms = VOTES_REPORTER_STALE_MS_DEFAULT;
	s->params.hb_timeout_ms = VOTES_HB_TIMEOUT_MS_DEFAULT;
	s->params.hb_interval_ms = VOTES_HB_INTERVAL_MS_DEFAULT;
	s->params.reap_after_ms = 0;
	if ((p->via.array.size > 4 &&
	    !mputil_get_i64(&p->via.array.ptr[4], &s->params.reporter_stale_ms)) ||
	    (p->via.array.size > 5 &&
	    !mputil_get_i64(&p->via.array.ptr[5], &s->params.hb_timeout_ms)) ||
	    (p->via.array.size > 6 &&
	    !mputil_get_i64(&p->via.array.ptr[6], &s->params.hb_interval_ms)) ||
	    (p->via.array.size > 7 &&
	    (!mputil_get_i64(&p->via.array.ptr[7], &s->params.reap_after_ms) ||
	    s->params.reap_after_ms < 0)))
		return -EBADMSG;
	/* Appended: observers (K) and the rings' version; the rings are rebuilt. */
	s->params.observers = 0;
	if (p->via.array.size > 9) {
		uint64_t rv;
		if (!mputil_get_i64(&p->via.array.ptr[8], &v) || v < 0 || v > RINGS_MAX_K ||
		    !mputil_get_u64(&p->via.array.ptr[9], &rv))
			return -EBADMSG;
		s->params.observers = (uint32_t)v;
		rings_set_version(s->rings, rv);
	}
	s->disruption = a[4].via.boolean;
	if (a[6].type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	for (uint32_t i = 0; i < a[6].via.array.size; i++) {
		char name[512];
		if (!get_str(&a[6].via.array.ptr[i], name, sizeof(name)) ||
		    state_reporter_find(s, name) != VOTE_NO_REPORTER ||
		    state_reporter(s, name) != i)
			return -EBADMSG;
	}
	if (a[7].type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	for (uint32_t i = 0; i < a[7].via.array.size; i++) {
		const msgpack_object *w = &a[7].via.array.ptr[i];
		char rep[512], ep[512];
		uint64_t seq;
		if (!is_array(w, 3) || !get_str(&w->via.array.ptr[0], rep, sizeof(rep)) ||
		    !get_str(&w->via.array.ptr[1], ep, sizeof(ep)) ||
		    !mputil_get_u64(&w->via.array.ptr[2], &seq))
			return -EBADMSG;
		state_set_watermark(s, rep, ep, seq);
	}
	if (a[8].type != MSGPACK_OBJECT_ARRAY || a[9].type != MSGPACK_OBJECT_ARRAY ||
	    a[11].type != MSGPACK_OBJECT_ARRAY)
		return -EBADMSG;
	for (uint32_t i = 0; i < a[8].via.array.size; i++)
		if ((rc = decode_node(s, &a[8].via.array.ptr[i])) < 0)
			return rc;
	for (uint32_t i = 0; i < a[9].via.array.size; i++)
		if ((rc = decode_job(s, &a[9].via.array.ptr[i])) < 0)
			return rc;
	if ((t = dup_str(&a[10])) == NULL)
		return -EBADMSG;
	free(s->globals);
	s->globals = t;
	for (uint32_t i = 0; i < a[11].via.array.size; i++)
		if ((rc = decode_event(s, &a[11].via.array.ptr[i])) < 0)
			return rc;
	if (a[12].type != MSGPACK_OBJECT_NIL) {
		if ((t = dup_str(&a[12])) == NULL)
			return -EBADMSG;
		free(s->ansible_override);
		s->ansible_override = t;
	}
	if (!mputil_get_u64(&a[13], &nj) || !mputil_get_u64(&a[14], &ne) || nj == 0 || ne == 0)
		return -EBADMSG;
	if (nj > s->next_job_id)
		s->next_job_id = nj;
	if (ne > s->next_event_id)
		s->next_event_id = ne;
	if (nf > 15) {
		/* The reporters' records, one per reporter interned above. */
		if (a[15].type != MSGPACK_OBJECT_ARRAY || a[15].via.array.size != s->nreps)
			return -EBADMSG;
		for (uint32_t i = 0; i < s->nreps; i++)
			if ((rc = decode_reporter(s, i, &a[15].via.array.ptr[i])) < 0)
				return rc;
		reporters_rebuild_queue(s);
	}
	state_rebuild_derived(s);
	return 0;
}

int
records_decode_snapshot(struct state *s, const void *buf, size_t len, char *err,
    size_t errlen)
{
	msgpack_unpacked up;
	const msgpack_object *a;
	long long version;
	size_t off = 0;
	int rc = -EBADMSG;

	msgpack_unpacked_init(&up);
	if (!mpcheck_bounded(buf, len) ||
	    msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != len || up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size < 2 ||
	    up.data.via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
	    up.data.via.array.ptr[0].via.str.size != 1 ||
	    up.data.via.array.ptr[0].via.str.ptr[0] != 'S') {
		snprintf(err, errlen, "not a clusterm snapshot");
		goto out;
	}
	a = up.data.via.array.ptr;
	if (!mputil_get_i64(&a[1], &version) || version != RECORDS_SNAPSHOT_VERSION) {
		snprintf(err, errlen, "snapshot of format %lld: this clusterm reads format %d "
		    "(a state dir of an older clusterm cannot be read by this one)",
		    mputil_get_i64(&a[1], &version) ? version : -1LL, RECORDS_SNAPSHOT_VERSION);
		goto out;
	}
	if (up.data.via.array.size < SNAP_FIELDS_MIN) {
		snprintf(err, errlen, "malformed snapshot");
		goto out;
	}
	if (inventory_count(s->inv) != 0 || s->nreps != 0) {
		snprintf(err, errlen, "a second snapshot in one recovery");
		goto out;
	}
	rc = decode_body(s, a, up.data.via.array.size);
	if (rc == -EBADMSG)
		snprintf(err, errlen, "malformed snapshot");
	else if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
out:
	msgpack_unpacked_destroy(&up);
	return rc;
}
