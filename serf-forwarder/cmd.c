/*
 * The commands around the spool: status, flush, and opening the spool for
 * every command (lock, seen, incoming/ into the queue); usage().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "log.h"

void
cmd_usage(FILE *f)
{
	fprintf(f, "usage: serf-forwarder [-v] [-c file] [-u url]... [-s spool_dir] "
	    "[-t seconds]\n"
	    "                      [--cacert file] [--cert file] [--key file]\n"
	    "                      [--token-file file] [--rpc-addr addr] [--version]\n"
	    "                      [event | flush | status | sync | tick | version]\n");
}


static void
fmt_time(long long ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

int
cmd_status(struct ctx *c)
{
	struct spool_status st;
	char when[40];
	int r;

	r = spool_status(c->cfg.spool_dir, &st);
	if (r < 0) {
		log_error("spool %s: %s", c->cfg.spool_dir, strerror(-r));
		return EXIT_FAIL;
	}
	fmt_time(st.oldest_ms, when, sizeof(when));
	printf("depth: %zu\nbytes: %llu\noldest: %s\nlast_error: %s\n", st.depth, st.bytes,
	    when, st.last_error[0] ? st.last_error : "-");
	return fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

void
cmd_on_note(const char *what, unsigned long long seq, const char *detail, void *arg)
{
	const char *dir = arg;

	log_warn("spooled batch seq %llu %s (%s/%s): %s", seq, what, dir,
	    strcmp(what, "rejected") == 0 ? "rejected" : "corrupt", detail);
}

/* seen learns what an absorbed incoming/ batch carries, as if sent now. */
static int
on_absorbed(const struct batch *b, void *arg)
{
	struct seen *seen = arg;

	for (size_t i = 0; i < b->n; i++)
		if (seen_note(seen, b->kind, &b->reports[i]) < 0)
			return -ENOMEM;
	return 0;
}

/*
 * Opens the spool within the bound, leaving half the reserve for writing,
 * loads seen (under the lock: the holder rewrites it) and moves incoming/
 * (batches of runs that found the spool locked) into the queue, seen
 * noting them, until the bound less the reserve. *ret_pending says whether
 * incoming/ still holds batches then (newer ones must go behind them). With
 * ret_seen the caller gets seen (to free); otherwise it is saved here. A
 * lock still held when the bound runs out is logged only when !quiet_busy
 * (the caller has a way out).
 */
int
cmd_open_spool(struct ctx *c, bool quiet_busy, struct spool **ret,
    struct seen **ret_seen, bool *ret_pending)
{
	struct seen *seen = NULL;
	struct spool *sp = NULL;
	size_t n = 0;
	bool compacted = false;
	int r;

	r = spool_open(c->cfg.spool_dir, c->deadline_ms - c->reserve_ms / 2, &sp);
	if (r == -EWOULDBLOCK) {
		if (!quiet_busy)
			log_error("spool %s: still locked by another run when the time bound "
			    "ran out", c->cfg.spool_dir);
		return r;
	}
	if (r < 0) {
		log_error("spool %s: %s", c->cfg.spool_dir, strerror(-r));
		return r;
	}
	if ((r = seen_load(c->cfg.spool_dir, &seen)) < 0)
		goto fail;
	r = spool_absorb(sp, (unsigned long long)c->cfg.spool_max_bytes,
	    c->deadline_ms - c->reserve_ms, on_absorbed, seen, &n, &compacted);
	if (r < 0 && r != -EAGAIN)
		goto fail;
	if (spool_ncorrupt(sp) > 0)
		log_warn("spool %s: %zu unusable files moved from incoming/ to %s/corrupt "
		    "(the last: %s)", c->cfg.spool_dir, spool_ncorrupt(sp), c->cfg.spool_dir,
		    spool_last_aside(sp));
	else if (spool_last_aside(sp)[0] != '\0')
		log_warn("spool %s: %s", c->cfg.spool_dir, spool_last_aside(sp));
	if (n > 0 || r == -EAGAIN)
		log_debug("spool %s: %zu batches moved from incoming/ into the queue%s%s",
		    c->cfg.spool_dir, n, compacted ? " (compacted)" : "",
		    r == -EAGAIN ? ", more left for the next run" : "");
	*ret_pending = r == -EAGAIN;
	if (ret_seen != NULL) {
		*ret_seen = seen;
	} else {
		if (n > 0 && seen_save(seen, c->cfg.spool_dir) < 0)
			log_warn("could not save %s/seen", c->cfg.spool_dir);
		seen_free(seen);
	}
	*ret = sp;
	return 0;
fail:
	log_error("spool %s: moving incoming/ into the queue: %s", c->cfg.spool_dir,
	    strerror(-r));
	seen_free(seen);
	spool_close(sp);
	return r;
}

/* " (replayed N spooled batches)" and friends, for the run's one line. */
void
cmd_fmt_replay(const struct deliver_stats *st, char *buf, size_t len)
{
	buf[0] = '\0';
	if (st->batches + st->rejected + st->corrupt + st->left == 0)
		return;
	snprintf(buf, len, "; spool: %zu delivered in %zu POSTs, %zu rejected, %zu corrupt, "
	    "%zu left, %zu stale reports left out", st->batches, st->posts, st->rejected,
	    st->corrupt, st->left, st->superseded);
}

int
cmd_flush(struct ctx *c)
{
	struct deliver_stats st;
	struct spool *sp = NULL;
	char replay[256];
	bool pending = false;
	int r;

	if (cmd_open_spool(c, false, &sp, NULL, &pending) < 0)
		return EXIT_FAIL;
	c->dopts.reserve_ms = 0;
	r = deliver_spool(sp, &c->dopts, &st, cmd_on_note, c->cfg.spool_dir);
	if (r == 0 && st.batches > 0)
		spool_set_error(sp, NULL);
	else if (r == -EAGAIN)
		spool_set_error(sp, st.err);
	spool_close(sp);
	cmd_fmt_replay(&st, replay, sizeof(replay));
	if (r < 0 && r != -EAGAIN) {
		log_error("flush: spool %s: %s%s", c->cfg.spool_dir, strerror(-r), replay);
		return EXIT_FAIL;
	}
	if (r == -EAGAIN) {
		log_error("flush: %zu batches left in the spool: %s%s", st.left, st.err, replay);
		return EXIT_FAIL;
	}
	if (pending) {
		log_error("flush: batches left in %s/incoming: time bound reached%s",
		    c->cfg.spool_dir, replay);
		return EXIT_FAIL;
	}
	log_info("flush: spool empty (accepted %ld, duplicates %ld)%s", st.accepted,
	    st.duplicates, replay);
	return st.rejected > 0 || st.corrupt > 0 ? EXIT_REJECTED : 0;
}

