/*
 * The tick command (run every tick_s by a timer): deliver the spool, send
 * a heartbeat, and a sync when one is due. A tick that cannot reach
 * clusterm exits 0 and leaves the spool as it was; a tick while another
 * one runs exits 0 at once (tick.lock).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cmd.h"
#include "fsio.h"
#include "log.h"
#include "observe.h"
#include "tick.h"

/* What one tick did, for its one line. */
struct tick_run {
	struct ctx *c;
	char *self;
	bool unreached;		/* no URL answered: heartbeat and sync left out */
	bool busy;		/* an event run held the spool past the bound */
	bool eventful;		/* worth a line at the info level */
	int rc;
	struct observe obs;	/* the assignment held (observe.h) */
	char spool[512], hb[1200], sync[128];
};

/* A uniform number in [0, 1) for the jitter. */
static double
jitter_u(void)
{
	unsigned int v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (unsigned int)(fsio_now_ms() ^ ((long long)getpid() << 16));
	return (double)v / 4294967296.0;
}

/*
 * Posts the heartbeat under the spool's lock: the reporter's epoch and its
 * last seq (not a new one, see serf-forwarder(1)) and the spool's depth.
 */
static void
tick_heartbeat(struct tick_run *t, struct spool *sp)
{
	struct deliver_opts o = t->c->dopts;
	struct deliver_result res = { .st = DELIVER_RETRY };
	struct spool_status sst;
	char epoch[LIMIT_EPOCH_LEN + 1];
	unsigned long long last;
	int r;

	if ((r = spool_position(sp, epoch, &last)) < 0) {
		snprintf(t->hb, sizeof(t->hb), "not sent: spool %.300s: %s", t->c->cfg.spool_dir,
		    strerror(-r));
		t->rc = EXIT_FAIL;
		t->eventful = true;
		return;
	}
	o.spool_depth = spool_status(t->c->cfg.spool_dir, &sst) == 0 ? (long)sst.depth : -1;
	o.always_seq = true;
	if (deliver_post(&o, "/monitor/heartbeat", NULL, 0, t->self, epoch, last, &res) < 0) {
		snprintf(t->hb, sizeof(t->hb), "not sent: out of memory");
		t->rc = EXIT_FAIL;
		t->eventful = true;
		return;
	}
	if (res.st == DELIVER_OK) {
		snprintf(t->hb, sizeof(t->hb), "delivered to %.300s (seq %llu, depth %ld)", res.url,
		    last, o.spool_depth);
		if (res.observe != NULL && t->self != NULL) {
			/* A changed assignment reaches the node within a tick. */
			t->eventful = true;
			cmd_observe_take(t->c, sp, t->self, &t->obs, res.observe, NULL, NULL);
			res.observe = NULL;
		}
	} else if (res.st == DELIVER_REJECTED && res.status == 404) {
		/* A clusterm from before heartbeats: the rest of the tick still counts. */
		snprintf(t->hb, sizeof(t->hb), "%.300s answered 404 (this clusterm takes no "
		    "heartbeats)", res.url);
		t->eventful = true;
	} else if (res.st == DELIVER_REJECTED) {
		snprintf(t->hb, sizeof(t->hb), "REJECTED: %.1000s", res.err);
		t->rc = EXIT_REJECTED;
		t->eventful = true;
	} else {
		snprintf(t->hb, sizeof(t->hb), "not delivered: %.1000s", res.err);
		t->unreached = true;
		t->eventful = true;
	}
	deliver_result_finish(&res);
}

/* Delivers the spool (as flush does), then the heartbeat, under the spool's lock. */
static void
tick_spool(struct tick_run *t)
{
	struct ctx *c = t->c;
	struct deliver_stats st;
	struct spool *sp = NULL;
	char replay[256];
	bool pending = false;
	int r;

	r = cmd_open_spool(c, true, &sp, NULL, &pending);
	if (r == -EWOULDBLOCK) {
		/* An event run holds it, delivering the spool itself. */
		snprintf(t->spool, sizeof(t->spool), "locked by another run past the time "
		    "bound, left to it");
		t->busy = true;
		return;
	}
	if (r < 0) {
		snprintf(t->spool, sizeof(t->spool), "%.300s: %s", c->cfg.spool_dir, strerror(-r));
		t->rc = EXIT_FAIL;
		t->eventful = true;
		return;
	}
	r = deliver_spool(sp, &c->dopts, &st, cmd_on_note, c->cfg.spool_dir);
	if (st.observe != NULL) {
		cmd_observe_take(c, t->self != NULL ? sp : NULL, t->self, &t->obs, st.observe,
		    NULL, NULL);
		st.observe = NULL;
	}
	cmd_fmt_replay(&st, replay, sizeof(replay));
	if (r == 0 && st.batches > 0)
		spool_set_error(sp, NULL);
	else if (r == -EAGAIN)
		spool_set_error(sp, st.err);
	if (st.rejected > 0 || st.corrupt > 0)
		t->rc = EXIT_REJECTED;
	if (r == 0 && !pending) {
		snprintf(t->spool, sizeof(t->spool), "empty%s", replay);
	} else if (r == 0 || r == -EAGAIN) {
		snprintf(t->spool, sizeof(t->spool), "%zu batches left%s%.300s%s",
		    st.left, st.err[0] ? " (" : "", st.err, st.err[0] ? ")" : "");
		if (pending)
			snprintf(t->spool + strlen(t->spool), sizeof(t->spool) - strlen(t->spool),
			    ", more in incoming/");
		/* The replay stops at the first batch no URL takes. */
		t->unreached = r == -EAGAIN && strcmp(st.err, "time bound reached") != 0;
	} else {
		snprintf(t->spool, sizeof(t->spool), "%.300s: %s", c->cfg.spool_dir, strerror(-r));
		t->rc = EXIT_FAIL;
	}
	t->eventful = t->eventful || st.batches + st.rejected + st.corrupt > 0 || r != 0;
	if (t->self != NULL && !t->unreached)
		tick_heartbeat(t, sp);
	else
		snprintf(t->hb, sizeof(t->hb), "%s", t->self == NULL ? "no node name" :
		    "not sent (clusterm not reached)");
	spool_close(sp);
}

/* The sync when it is due (and clusterm answered the heartbeat). */
static void
tick_sync(struct tick_run *t)
{
	struct ctx *c = t->c;
	long long now = fsio_now_ms(), last = -1, due = -1, next;
	bool unreached = false;
	int r, rc;

	if ((r = tick_state_load(c->cfg.spool_dir, &last, &due)) < 0 && r != -ENOENT)
		log_warn("tick: %s/%s unreadable (%s): syncing now", c->cfg.spool_dir,
		    TICK_SYNC_FILE, strerror(-r));
	if (r == -ENOENT) {
		/*
		 * The first tick: the first sync at a random point of one
		 * interval, so that nodes installed or booted together (their
		 * joins just reported) do not all sync at once.
		 */
		due = now + (long long)(jitter_u() * (double)c->cfg.sync_interval_s * 1000);
		if (tick_state_save(c->cfg.spool_dir, 0, due) < 0)
			due = -1;
	} else if (r < 0) {
		due = -1;
	}
	if (!tick_sync_due(now, due, c->cfg.sync_interval_s)) {
		snprintf(t->sync, sizeof(t->sync), "due in %llds", (due - now + 999) / 1000);
		return;
	}
	if (t->unreached || t->busy || t->self == NULL) {
		snprintf(t->sync, sizeof(t->sync), "due, left for the next tick");
		return;
	}
	t->eventful = true;
	rc = cmd_sync_as(c, t->self, &unreached);	/* logs its own line */
	if (rc == 0 || (rc == EXIT_REJECTED && !unreached)) {
		next = tick_next_due(now, c->cfg.sync_interval_s, jitter_u());
		if (tick_state_save(c->cfg.spool_dir, now, next) < 0)
			log_warn("tick: could not save %s/%s", c->cfg.spool_dir, TICK_SYNC_FILE);
		snprintf(t->sync, sizeof(t->sync), "done, next in %llds", (next - now) / 1000);
	} else {
		snprintf(t->sync, sizeof(t->sync), "failed, retried next tick");
	}
	if (rc == EXIT_REJECTED && t->rc == 0)
		t->rc = EXIT_REJECTED;
	else if (rc == EXIT_FAIL && !unreached && t->rc == 0)
		t->rc = EXIT_FAIL;	/* serf or the spool, not clusterm */
}

int
cmd_tick(struct ctx *c)
{
	struct tick_run t = { .c = c };
	int lock_fd = -1, r;

	if ((r = fsio_mkdir_p(c->cfg.spool_dir, 0700)) < 0) {
		log_error("tick: spool %s: %s", c->cfg.spool_dir, strerror(-r));
		return EXIT_FAIL;
	}
	r = tick_lock(c->cfg.spool_dir, &lock_fd);
	if (r == -EWOULDBLOCK) {
		log_debug("tick: another tick holds %s/%s: nothing to do", c->cfg.spool_dir,
		    TICK_LOCK_FILE);
		return 0;
	}
	if (r < 0) {
		log_error("tick: %s/%s: %s", c->cfg.spool_dir, TICK_LOCK_FILE, strerror(-r));
		return EXIT_FAIL;
	}
	if (cmd_self_name(c, "tick", &t.self) < 0) {
		t.self = NULL;
		t.rc = EXIT_FAIL;	/* logged; the spool still goes */
	}
	cmd_observe_load(c, &t.obs);
	tick_spool(&t);
	tick_sync(&t);
	/* Unreachable clusterm is no failure of the tick: the spool waits. */
	log_msg(t.rc != 0 ? LOG_LVL_ERROR : t.eventful ? LOG_LVL_INFO : LOG_LVL_DEBUG,
	    "tick from %s: spool %s; heartbeat %s; sync %s", t.self ? t.self : "-", t.spool,
	    t.hb, t.sync[0] ? t.sync : "-");
	observe_finish(&t.obs);
	free(t.self);
	close(lock_fd);
	return t.rc;
}
