/*
 * Helpers of the state tests (intake, state, lifecycle): a state over the
 * in-memory store, reports of serf members by name, and batches of them
 * either applied straight to the state at a time the test chooses or
 * submitted through the real pipeline (intake_apply).
 */
#ifndef STATE_FIXTURE_H
#define STATE_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "apply.h"
#include "intake.h"
#include "oplog.h"
#include "state.h"
#include "state_impl.h"
#include "store.h"

/* Names in one helper batch, and their length. */
#define FIX_MAXN	16
#define FIX_NAMELEN	16

/* A state over a fresh fake store (*ret_store stays valid until state_close). */
static inline struct state *
fix_open(const struct votes_params *p, struct store **ret_store)
{
	struct store *st;
	struct state *s;
	char err[256];

	ck_assert_int_eq(store_open_fake(&st), 0);
	ck_assert_msg(oplog_open_store(st, p, apply_op, NULL, &s, err, sizeof(err), NULL,
	    NULL) == 0, "oplog_open_store: %s", err);
	if (ret_store != NULL)
		*ret_store = st;
	return s;
}

/* Splits "a b c" into words; returns how many. */
static inline size_t
fix_words(const char *s, char w[][FIX_NAMELEN])
{
	size_t n = 0;

	s += strspn(s, " ");
	while (*s != '\0') {
		size_t l = strcspn(s, " ");
		ck_assert(n < FIX_MAXN && l < FIX_NAMELEN);
		memcpy(w[n], s, l);
		w[n][l] = '\0';
		n++;
		s += l;
		s += strspn(s, " ");
	}
	return n;
}

/* The report serf member name sends of itself (label = name, no serial). */
static inline void
fix_report(struct report *r, const char *name, const char *event)
{
	unsigned h = 0;
	char addr[32];

	for (const char *p = name; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	snprintf(addr, sizeof(addr), "10.%u.%u.%u", (h >> 16) & 255, (h >> 8) & 255,
	    (h & 127) + 1);
	report_init(r);
	ck_assert_int_eq(report_set(r, REPORT_KEY_LABEL, name), 0);
	ck_assert_int_eq(report_set(r, REPORT_KEY_ADDR, addr), 0);
	ck_assert_int_eq(report_set(r, REPORT_KEY_NAME, name), 0);
	if (event != NULL)
		ck_assert_int_eq(report_set(r, REPORT_KEY_EVENT, event), 0);
}

/* Applies op under the write lock, as the pipeline's apply step does. */
static inline void
fix_apply(struct state *s, struct op *op)
{
	pthread_rwlock_wrlock(&s->lock);
	apply_op(s, op, NULL);
	pthread_rwlock_unlock(&s->lock);
}

/*
 * Applies reports on names from reporter (NULL: the operator) at time t,
 * with the next seq of one counter shared by all reporters.
 */
static inline struct op_result
fix_reports_at(struct state *s, long long t, const char *reporter, enum report_kind kind,
    const char *event, const char *names)
{
	static uint64_t seqno;
	char w[FIX_MAXN][FIX_NAMELEN];
	struct report r[FIX_MAXN];
	struct op op = { .kind = OP_REPORTS, .time_ms = t };
	size_t n = fix_words(names, w);

	for (size_t i = 0; i < n; i++)
		fix_report(&r[i], w[i], event);
	op.u.reports.reporter = reporter;
	op.u.reports.epoch = "e";
	op.u.reports.seq = ++seqno;
	op.u.reports.has_seq = reporter != NULL;
	op.u.reports.actor = reporter != NULL ? reporter : "operator";
	op.u.reports.kind = (int)kind;
	op.u.reports.reports = r;
	op.u.reports.n = n;
	op.u.reports.spool_depth = -1;
	fix_apply(s, &op);
	for (size_t i = 0; i < n; i++)
		report_finish(&r[i]);
	return op.res;
}

/* Submits a batch through intake_apply (the real pipeline). */
static inline int
fix_submit(struct state *s, const char *reporter, const char *epoch, uint64_t seq,
    enum report_kind kind, const char *names, struct intake_result *ret, char *err,
    size_t errlen)
{
	char w[FIX_MAXN][FIX_NAMELEN];
	struct report r[FIX_MAXN];
	struct report_batch b = { .reports = r };
	struct intake_origin o = { .reporter = reporter, .epoch = epoch, .seq = seq,
		.has_seq = reporter != NULL, .remote = "127.0.0.1", .spool_depth = -1 };
	int rc;

	b.n = fix_words(names, w);
	for (size_t i = 0; i < b.n; i++)
		fix_report(&r[i], w[i], kind == REPORT_KIND_DISCOVERED ? "member-join" :
		    "member-failed");
	rc = intake_apply(s, &b, kind, &o, ret, err, errlen);
	for (size_t i = 0; i < b.n; i++)
		report_finish(&r[i]);
	return rc;
}

/* The node's monitoring state, -1 when it is not in the inventory. */
static inline int
fix_state_of(struct state *s, const char *name)
{
	struct node *n;
	int v;

	pthread_rwlock_rdlock(&s->lock);
	n = inventory_get(s->inv, name);
	v = n != NULL ? (int)n->state : -1;
	pthread_rwlock_unlock(&s->lock);
	return v;
}

#endif
