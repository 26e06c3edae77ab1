/*
 * The pipeline: operations appended, made durable, applied in log order,
 * answered; recovery from the store and snapshots.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsio.h"
#include "log.h"
#include "oplog.h"
#include "records.h"
#include "state.h"
#include "state_impl.h"
#include "oplog_impl.h"

/* ---- the clock ---- */

/* append_mu held: the time of the next operation, never behind the last one. */
static long long
clock_next(struct state *s)
{
	long long t = s->clock_base_ms + (fsio_mono_ms() - s->clock_base_mono);

	if (t < s->clock_last_ms)
		t = s->clock_last_ms;
	s->clock_last_ms = t;
	return t;
}

long long
oplog_clock_ms(struct state *s)
{
	long long t;

	pthread_mutex_lock(&s->append_mu);
	t = s->clock_base_ms + (fsio_mono_ms() - s->clock_base_mono);
	if (t < s->clock_last_ms)
		t = s->clock_last_ms;
	pthread_mutex_unlock(&s->append_mu);
	return t;
}

/* ---- recovery ---- */

struct recover_ctx {
	struct state *s;
	char *err;
	size_t errlen;
	uint64_t ops;
};

static int
recover_snapshot(const void *buf, size_t len, void *arg)
{
	struct recover_ctx *c = arg;

	c->s->snap_bytes = len;
	return records_decode_snapshot(c->s, buf, len, c->err, c->errlen);
}

static int
recover_op(const void *buf, size_t len, void *arg)
{
	struct recover_ctx *c = arg;
	struct state *s = c->s;
	struct op op;
	int rc;

	if (!ops_is_op(buf, len)) {
		snprintf(c->err, c->errlen, "a record is not an operation (a state dir of an "
		    "older clusterm, which logged node images, cannot be read by this one)");
		return -EBADMSG;
	}
	rc = ops_decode(buf, len, &op, c->err, c->errlen);
	if (rc < 0)
		return rc;
	if (op.time_ms > s->clock_last_ms)
		s->clock_last_ms = op.time_ms;
	s->apply(s, &op, s->apply_arg);
	ops_free(&op);
	c->ops++;
	return 0;
}

int
oplog_open_store(struct store *st, const struct votes_params *params, state_apply_fn apply,
    void *apply_arg, struct state **ret, char *err, size_t errlen, store_warn_fn warn,
    void *warn_arg)
{
	struct recover_ctx ctx;
	struct state *s;
	char inner[512] = "";
	int rc;

	s = state_new(params, apply, apply_arg);
	if (s == NULL) {
		store_close(st);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->store = st;
	ctx.s = s;
	ctx.err = inner;
	ctx.errlen = sizeof(inner);
	ctx.ops = 0;
	s->recovering = true;
	pthread_rwlock_wrlock(&s->lock);
	rc = store_recover(s->store, recover_snapshot, recover_op, &ctx, warn, warn_arg, err,
	    errlen);
	pthread_rwlock_unlock(&s->lock);
	s->recovering = false;
	if (rc < 0) {
		if (inner[0] != '\0')
			snprintf(err, errlen, "%s", inner);
		state_close(s);
		return rc;
	}
	/* Decoding a large snapshot leaves freed arenas behind: give them back. */
	malloc_trim(0);
	if (store_is_shared(st))
		oplog_follow_start(s);
	/* The clock goes on from the last operation, even if the wall clock is behind. */
	s->clock_base_ms = fsio_now_ms();
	if (s->clock_base_ms < s->clock_last_ms)
		s->clock_base_ms = s->clock_last_ms;
	s->clock_base_mono = fsio_mono_ms();
	*ret = s;
	return 0;
}

int
oplog_open(const char *dir, const struct votes_params *params, state_apply_fn apply,
    void *apply_arg, struct state **ret, char *err, size_t errlen, store_warn_fn warn,
    void *warn_arg)
{
	struct store *st;
	int rc;

	rc = store_open(dir, &st, err, errlen);
	if (rc < 0)
		return rc;
	rc = oplog_open_store(st, params, apply, apply_arg, ret, err, errlen, warn, warn_arg);
	if (rc < 0 && strncmp(err, dir, strlen(dir)) != 0) {
		char inner[512];
		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "%s: %s", dir, inner);
	}
	return rc;
}


/* append_mu held: remembers why the store failed (the first reason wins). */
static void
mark_failed(struct state *s, int rc)
{
	char why[256];

	if (s->failed)
		return;
	s->failed = true;
	if (store_failure(s->store, why, sizeof(why)) != 1)
		snprintf(why, sizeof(why), "%s", strerror(-rc));
	snprintf(s->fail_why, sizeof(s->fail_why), "%s", why);
	log_error("store failed: %s; every write is refused until clusterm is restarted",
	    s->fail_why);
}

bool
oplog_failed(struct state *s, char *why, size_t len)
{
	bool f;

	pthread_mutex_lock(&s->append_mu);
	f = s->failed;
	if (f && why != NULL)
		snprintf(why, len, "%s", s->fail_why);
	pthread_mutex_unlock(&s->append_mu);
	return f;
}

void
oplog_unlink_pending(struct state *s, struct pending *p)
{
	pthread_mutex_lock(&s->list_mu);
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		s->head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		s->tail = p->prev;
	if (s->head == NULL)
		pthread_cond_broadcast(&s->list_cv);
	pthread_mutex_unlock(&s->list_mu);
}

/* Writes that only the leader makes: timers and everything of jobs. */
static bool
leader_only(const struct op *op)
{
	switch (op->kind) {
	case OP_TICK:
	case OP_JOB_REQUEST:
	case OP_JOB_END:
	case OP_JOB_STARTED:
	case OP_JOB_CANCEL:
	case OP_FORGET:		/* checked against the jobs, which are the leader's */
		return true;
	default:
		return false;
	}
}

/*
 * Step 1, under append_mu: stamps op with the clock, appends it to the store
 * and queues p (on the caller's stack) on the pending list, in log order.
 * 0, or -EIO / -ENOMEM with op->res.err saying why.
 */
static int
append_op(struct state *s, struct pending *p, struct op *op)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	pthread_mutex_lock(&s->append_mu);
	if (s->failed) {
		snprintf(op->res.err, sizeof(op->res.err), "the store refuses writes after an "
		    "earlier failure (%.200s); restart clusterm to recover from disk",
		    s->fail_why);
		pthread_mutex_unlock(&s->append_mu);
		return -EIO;
	}
	op->time_ms = clock_next(s);
	rc = ops_encode(op, &buf, &len);
	/*
	 * A shared log may hand the record back (its follower thread) before
	 * store_append returns: p is on the list before anyone can look for it.
	 */
	pthread_mutex_lock(&s->list_mu);
	if (rc == 0)
		rc = store_append_flags(s->store, buf, len, leader_only(op) ? STORE_FENCED : 0,
		    &p->seq);
	if (rc == 0) {
		p->prev = s->tail;
		if (s->tail != NULL)
			s->tail->next = p;
		else
			s->head = p;
		s->tail = p;
	}
	pthread_mutex_unlock(&s->list_mu);
	free(buf);
	if (rc < 0 && s->shared) {
		char why[256];
		store_last_error(s->store, why, sizeof(why));
		if (rc == -ENOTCONN)
			snprintf(op->res.err, sizeof(op->res.err), "etcd cannot be reached (%.250s)",
			    why[0] != '\0' ? why : "no endpoint answers");
		else
			snprintf(op->res.err, sizeof(op->res.err), "etcd: the operation was not "
			    "queued (%.200s)", rc == -EAGAIN ? "too many in flight" :
			    strerror(-rc));
		pthread_mutex_unlock(&s->append_mu);
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	if (rc < 0) {
		if (rc != -ENOMEM)
			mark_failed(s, rc);
		snprintf(op->res.err, sizeof(op->res.err), "%s", rc == -ENOMEM ?
		    "out of memory" : "the store could not take the operation");
		pthread_mutex_unlock(&s->append_mu);
		return rc == -ENOMEM ? -ENOMEM : -EIO;
	}
	pthread_mutex_unlock(&s->append_mu);
	return 0;
}

/*
 * Step 3, under the write lock: applies the durable operations at the head
 * of the pending list, in log order, up to and including seq.
 */
static void
apply_durable(struct state *s, uint64_t seq)
{
	for (;;) {
		struct pending *q;
		/*
		 * Only a durable head is ours to apply: its submitter waits
		 * for it, so it stays valid. A later one may be unlinked by
		 * its submitter (a failed store) at any moment.
		 */
		pthread_mutex_lock(&s->list_mu);
		q = s->head;
		if (q != NULL && q->seq > seq)
			q = NULL;
		pthread_mutex_unlock(&s->list_mu);
		if (q == NULL)
			break;
		s->apply(s, q->op, s->apply_arg);
		oplog_unlink_pending(s, q);
		pthread_mutex_lock(&s->apply_mu);
		s->applied_seq = q->seq;
		pthread_mutex_unlock(&s->apply_mu);
	}
}

/* The applier wakes the watchers of the audit log when it has new events. */
void
oplog_wake_on_events(struct state *s, uint64_t next_event)
{
	pthread_mutex_lock(&s->watch_mu);
	if (next_event > s->watch_next_event) {
		s->watch_next_event = next_event;
		pthread_cond_broadcast(&s->watch_cv);
	}
	pthread_mutex_unlock(&s->watch_mu);
}

int
oplog_submit(struct state *s, struct op *op)
{
	struct pending p = { .op = op };
	uint64_t next_event;
	int rc;

	memset(&op->res, 0, sizeof(op->res));
	if (s->shared) {
		/* Ready before p is on the list, where the follower finds it. */
		pthread_cond_init(&p.done_cv, NULL);
		rc = append_op(s, &p, op);
		if (rc == 0)
			rc = oplog_submit_shared(s, &p, op);
		pthread_cond_destroy(&p.done_cv);
		return rc;
	}
	rc = append_op(s, &p, op);
	if (rc < 0)
		return rc;

	/* Step 2: wait until it is durable. */
	rc = store_wait(s->store, p.seq);
	if (rc < 0) {
		/*
		 * Not durable, so not applied: nothing of it is visible. Out of
		 * the list first: a snapshot waiting (under append_mu) for the
		 * list to empty must not wait for us.
		 */
		oplog_unlink_pending(s, &p);
		pthread_mutex_lock(&s->append_mu);
		mark_failed(s, rc);
		snprintf(op->res.err, sizeof(op->res.err), "the store could not make the "
		    "operation durable (%s)", s->fail_why);
		pthread_mutex_unlock(&s->append_mu);
		return -EIO;
	}
	/*
	 * Durable, and so is everything appended before it: one submitter at a
	 * time applies those not applied yet, in log order, up to its own; the
	 * others sleep until theirs is applied (no convoy on the state lock
	 * after each group commit).
	 */
	pthread_mutex_lock(&s->apply_mu);
	while (s->applied_seq < p.seq) {
		if (s->applying) {
			pthread_cond_wait(&s->apply_cv, &s->apply_mu);
			continue;
		}
		s->applying = true;
		pthread_mutex_unlock(&s->apply_mu);
		pthread_rwlock_wrlock(&s->lock);
		apply_durable(s, p.seq);
		next_event = s->next_event_id;
		pthread_rwlock_unlock(&s->lock);
		oplog_wake_on_events(s, next_event);
		pthread_mutex_lock(&s->apply_mu);
		s->applying = false;
		pthread_cond_broadcast(&s->apply_cv);
	}
	pthread_mutex_unlock(&s->apply_mu);
	return 0;
}

int
oplog_watch_events(struct state *s, uint64_t next_id, long timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->watch_mu);
	if (s->watch_next_event == 0) {
		/* Nothing applied since the start yet: the recovered log's events count. */
		pthread_rwlock_rdlock(&s->lock);
		if (s->next_event_id > s->watch_next_event)
			s->watch_next_event = s->next_event_id;
		pthread_rwlock_unlock(&s->lock);
	}
	while (!s->watch_closed && s->watch_next_event <= next_id && rc == 0)
		rc = pthread_cond_timedwait(&s->watch_cv, &s->watch_mu, &ts);
	rc = s->watch_closed ? -ESHUTDOWN : s->watch_next_event > next_id ? 1 : 0;
	pthread_mutex_unlock(&s->watch_mu);
	return rc;
}

void
oplog_wake_watchers(struct state *s, bool closing)
{
	pthread_mutex_lock(&s->watch_mu);
	if (closing)
		s->watch_closed = true;
	pthread_cond_broadcast(&s->watch_cv);
	pthread_mutex_unlock(&s->watch_mu);
}

/* ---- watermarks and reporters ---- */
/* ---- snapshots ---- */

void
oplog_set_snapshot_records(struct state *s, uint64_t n)
{
	s->snap_records = n;
}

int
oplog_maybe_snapshot(struct state *s, bool force, char *err, size_t errlen)
{
	struct store_stats st;
	struct timespec ts;
	uint64_t gen;
	char *buf = NULL;
	size_t len = 0;
	int rc = 0;

	store_get_stats(s->store, &st);
	if (!force && (st.log_records < s->snap_records || st.log_bytes < s->snap_bytes) &&
	    (st.log_bytes < STATE_SNAPSHOT_BYTES || st.log_bytes < 2 * s->snap_bytes))
		return 0;
	if (s->shared)
		return oplog_snapshot_shared(s, err, errlen);
	/*
	 * The log is cut where the snapshot's state is: no appends meanwhile,
	 * and every operation appended before is applied first.
	 */
	pthread_mutex_lock(&s->append_mu);
	if (s->failed) {
		pthread_mutex_unlock(&s->append_mu);
		snprintf(err, errlen, "snapshot: the store has failed");
		return -EIO;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += STATE_SNAPSHOT_DRAIN_MS / 1000;
	pthread_mutex_lock(&s->list_mu);
	while (s->head != NULL && rc == 0)
		rc = pthread_cond_timedwait(&s->list_cv, &s->list_mu, &ts);
	pthread_mutex_unlock(&s->list_mu);
	if (rc != 0) {
		pthread_mutex_unlock(&s->append_mu);
		snprintf(err, errlen, "snapshot: operations still in flight after %d ms; "
		    "trying later", STATE_SNAPSHOT_DRAIN_MS);
		return -EAGAIN;
	}
	pthread_rwlock_rdlock(&s->lock);
	rc = store_snapshot_begin(s->store, &gen);
	if (rc == 0)
		rc = records_encode_snapshot(s, &buf, &len);
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_unlock(&s->append_mu);
	if (rc < 0) {
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
		return rc;
	}
	rc = store_snapshot_commit(s->store, gen, buf, len);
	free(buf);
	if (rc == 0)
		s->snap_bytes = len;
	if (rc < 0)
		snprintf(err, errlen, "snapshot %llu: %s", (unsigned long long)gen,
		    strerror(-rc));
	return rc < 0 ? rc : 1;
}
