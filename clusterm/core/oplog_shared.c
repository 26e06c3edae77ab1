/*
 * The operation log over a shared log (etcd): every instance's operations
 * come back through the store's follower thread, which applies them in log
 * order; a submitter is answered when its own comes back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "oplog.h"
#include "oplog_impl.h"
#include "records.h"
#include "state.h"
#include "state_impl.h"
#include "store.h"

/* ---- a shared log (etcd): its follower thread applies every operation ---- */

/* Takes p off the list unless the follower has claimed it. */
static bool
unlink_unclaimed(struct state *s, struct pending *p)
{
	bool claimed;

	pthread_mutex_lock(&s->list_mu);
	claimed = p->claimed;
	pthread_mutex_unlock(&s->list_mu);
	if (claimed)
		return false;
	/* Only the follower claims, under list_mu, and it finds p on the list. */
	pthread_mutex_lock(&s->list_mu);
	claimed = p->claimed;
	if (!claimed) {
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
	}
	pthread_mutex_unlock(&s->list_mu);
	return !claimed;
}

/* Waits for the follower to apply p: true when it did, false after timeout_ms (unlinked). */
static bool
wait_applied(struct state *s, struct pending *p, long timeout_ms)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->apply_mu);
	while (!p->done && pthread_cond_timedwait(&p->done_cv, &s->apply_mu, &ts) == 0)
		;
	done = p->done;
	pthread_mutex_unlock(&s->apply_mu);
	if (done || unlink_unclaimed(s, p))
		return done;
	/* Claimed meanwhile: it is being applied; wait for that. */
	pthread_mutex_lock(&s->apply_mu);
	while (!p->done)
		pthread_cond_wait(&p->done_cv, &s->apply_mu);
	pthread_mutex_unlock(&s->apply_mu);
	return true;
}

int
oplog_submit_shared(struct state *s, struct pending *p, struct op *op)
{
	char why[256];
	int rc = store_wait(s->store, p->seq);

	if (rc < 0) {
		/* Not committed (or not known to be): unless it came back anyway. */
		if (!wait_applied(s, p, 0)) {
			store_last_error(s->store, why, sizeof(why));
			if (rc == -EPERM)
				snprintf(op->res.err, sizeof(op->res.err), "this instance does not "
				    "lead now; the leader makes this change");
			else if (rc == -EAGAIN)
				snprintf(op->res.err, sizeof(op->res.err), "etcd did not confirm "
				    "the operation in time; it may still be committed (%.200s)",
				    why[0] != '\0' ? why : strerror(-rc));
			else
				snprintf(op->res.err, sizeof(op->res.err), "etcd did not commit the "
				    "operation (%.250s)", why[0] != '\0' ? why : strerror(-rc));
			return -EIO;
		}
		return 0;
	}
	if (!wait_applied(s, p, OPLOG_FOLLOW_WAIT_MS)) {
		snprintf(op->res.err, sizeof(op->res.err), "committed in etcd, but its watch has "
		    "not brought it back here within %d ms; it will show when it does",
		    OPLOG_FOLLOW_WAIT_MS);
		return -EIO;
	}
	return 0;
}

/*
 * A reload builds a state of its own, which replaces the one in force only
 * when whole: readers keep the last state known meanwhile, and a failed
 * reload leaves it. It starts where every replay of the log starts (the
 * contract's default monitor parameters, a snapshot's when there is one),
 * not from the parameters in force, so that it ends as every other
 * instance's state.
 */
static void
follow_reset(void *arg)
{
	struct state *s = arg;

	state_close(s->reload);
	s->reload = state_new(&s->initial_params, s->apply, s->apply_arg);
	if (s->reload == NULL)
		state_apply_oom("a reload of the state");
	s->reload->recovering = true;	/* a replay: no log line per change */
}

static void
follow_reload_done(void *arg, bool ok)
{
	struct state *s = arg;
	uint64_t next_event;

	if (ok) {
		pthread_rwlock_wrlock(&s->lock);
		state_swap_model(s, s->reload);
		next_event = s->next_event_id;
		pthread_rwlock_unlock(&s->lock);
		oplog_wake_on_events(s, next_event);
		log_info("etcd: the state is reloaded (at revision %lld)",
		    (long long)s->applied_rev);
	}
	state_close(s->reload);
	s->reload = NULL;
}

/* Where the follower applies: the reload's state while one is built. */
static struct state *
target(struct state *s)
{
	return s->reload != NULL ? s->reload : s;
}

static int
follow_snapshot(const void *buf, size_t len, int64_t pos, void *arg)
{
	struct state *s = arg;
	char err[512];
	int rc;

	pthread_rwlock_wrlock(&s->lock);
	rc = records_decode_snapshot(target(s), buf, len, err, sizeof(err));
	if (rc == 0)
		target(s)->applied_rev = pos;
	pthread_rwlock_unlock(&s->lock);
	if (rc < 0)
		log_error("etcd: the snapshot at revision %lld: %s", (long long)pos, err);
	s->snap_bytes = len;
	return rc;
}

static void
follow_record(const void *buf, size_t len, int64_t pos, uint64_t own_seq, void *arg)
{
	struct state *s = arg;
	struct pending *p = NULL;
	struct state *t;
	struct op op;
	uint64_t next_event;
	char err[320];

	if (own_seq != 0) {
		pthread_mutex_lock(&s->list_mu);
		for (struct pending *q = s->head; q != NULL; q = q->next)
			if (q->seq == own_seq) {
				p = q;
				p->claimed = true;
				break;
			}
		pthread_mutex_unlock(&s->list_mu);
	}
	if (p == NULL) {
		if (!ops_is_op(buf, len) || ops_decode(buf, len, &op, err, sizeof(err)) < 0) {
			log_error("etcd: a log record at revision %lld is not an operation; "
			    "skipped", (long long)pos);
			return;
		}
		pthread_mutex_lock(&s->append_mu);
		if (op.time_ms > s->clock_last_ms)
			s->clock_last_ms = op.time_ms;
		pthread_mutex_unlock(&s->append_mu);
	}
	pthread_rwlock_wrlock(&s->lock);
	t = target(s);
	s->apply(t, p != NULL ? p->op : &op, s->apply_arg);
	/* pos 0: more records of the same log key follow (see snapshot_shared). */
	if (pos > 0)
		t->applied_rev = pos;
	t->key_partial = pos == 0;
	next_event = s->next_event_id;
	pthread_rwlock_unlock(&s->lock);
	if (p == NULL)
		ops_free(&op);
	oplog_wake_on_events(s, next_event);
	if (p != NULL) {
		oplog_unlink_pending(s, p);
		pthread_mutex_lock(&s->apply_mu);
		p->done = true;
		/* Its submitter alone: a broadcast per record woke every submitter. */
		pthread_cond_signal(&p->done_cv);
		pthread_mutex_unlock(&s->apply_mu);
	}
}

void
oplog_follow_start(struct state *s)
{
	struct store_follow f = { follow_reset, follow_reload_done, follow_snapshot,
	    follow_record, s };
	struct store_stats st;

	store_get_stats(s->store, &st);
	s->applied_rev = st.applied_rev;
	s->shared = true;
	if (store_follow(s->store, &f) < 0)
		log_error("etcd: cannot start following the log");
}

/*
 * A shared log: the state as of the position it has applied, whatever is in
 * flight (those come after it). Only the leader's is taken (-EPERM: 0).
 */
int
oplog_snapshot_shared(struct state *s, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int64_t pos;
	int rc;

	pthread_rwlock_rdlock(&s->lock);
	pos = s->applied_rev;
	/* Halfway through a log key the state is at no position: later. */
	rc = s->key_partial ? -EAGAIN : records_encode_snapshot(s, &buf, &len);
	pthread_rwlock_unlock(&s->lock);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0) {
		snprintf(err, errlen, "snapshot: %s", strerror(-rc));
		return rc;
	}
	rc = store_snapshot_commit(s->store, (uint64_t)pos, buf, len);
	free(buf);
	if (rc == -EPERM)
		return 0;
	if (rc < 0) {
		snprintf(err, errlen, "snapshot at revision %lld: %s", (long long)pos,
		    strerror(-rc));
		return rc;
	}
	s->snap_bytes = len;
	return 1;
}
