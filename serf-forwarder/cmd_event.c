/*
 * The event command: serf's members on stdin become one batch, posted to
 * clusterm after the spool's replay, or spooled; without the spool it is
 * posted directly or written to incoming/ for the next run to queue.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "batch.h"
#include "cmd.h"
#include "cmd_event_impl.h"
#include "fsio.h"
#include "log.h"
#include "observe.h"
#include "serf_input.h"
#include "text.h"
#include "tick.h"

static void
on_bad_line(size_t lineno, const char *why, void *arg)
{
	(void)arg;
	log_warn("stdin line %zu left out: %s", lineno, why);
}

static void
drain_stdin(long long deadline_ms)
{
	struct serf_parser *p = serf_parser_new(NULL, NULL);
	struct serf_members ms;
	size_t nbad;

	if (p == NULL)
		return;
	serf_input_read_fd(p, STDIN_FILENO, deadline_ms);
	if (serf_parser_end(p, &ms, &nbad) == 0)
		serf_members_finish(&ms);
	serf_parser_free(p);
}

/* Moves the reports of b into chunks of at most BATCH_MAX_REPORTS. */
static int
split_batch(struct batch *b, struct batch **ret, size_t *ret_n)
{
	size_t n = b->n ? (b->n + BATCH_MAX_REPORTS - 1) / BATCH_MAX_REPORTS : 0;
	struct batch *v = calloc(n ? n : 1, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		batch_init(&v[i]);
		v[i].kind = b->kind;
		v[i].t_ms = b->t_ms;
		if (b->reporter != NULL && (v[i].reporter = strdup(b->reporter)) == NULL)
			goto oom;
		for (size_t j = i * BATCH_MAX_REPORTS; j < b->n && j < (i + 1) * BATCH_MAX_REPORTS;
		    j++)
			if (batch_add(&v[i], &b->reports[j]) < 0)
				goto oom;
	}
	*ret = v;
	*ret_n = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		batch_finish(&v[i]);
	free(v);
	return -ENOMEM;
}

/*
 * An epoch of this run alone, for batches posted without the spool: a new
 * one every run, so clusterm neither drops such a batch as a duplicate of
 * a spooled one nor mistakes it for one.
 */
static const char *
direct_epoch(void)
{
	static char epoch[LIMIT_EPOCH_LEN + 1];
	unsigned char rnd[12];
	size_t got = 0, n;

	if (epoch[0] != '\0')
		return epoch;
	while (got < sizeof(rnd)) {
		ssize_t k = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (got < sizeof(rnd)) {
		/* No random source: time and pid still differ from run to run. */
		long long v = fsio_now_ms() ^ ((long long)getpid() << 40);
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	n = (size_t)snprintf(epoch, sizeof(epoch), "direct-");
	for (size_t i = 0; i < sizeof(rnd) && n + 2 < sizeof(epoch); i++, n += 2)
		snprintf(epoch + n, 3, "%02x", rnd[i]);
	return epoch;
}

/*
 * Posts ch without the spool (which could not be opened or could not take
 * it), numbered in direct_epoch(). Nothing is kept back for a spool write.
 * 0 with res filled, or -ENOMEM.
 */
static int
post_direct(struct ctx *c, struct batch *ch, struct deliver_result *res)
{
	static unsigned long long seq;
	static long depth = -2;
	struct deliver_opts o = c->dopts;
	struct spool_status sst;
	char *body;
	int r;

	if (depth == -2)	/* what waits in the spool, read once, without its lock */
		depth = spool_status(c->cfg.spool_dir, &sst) == 0 ? (long)sst.depth : -1;
	o.spool_depth = depth;
	snprintf(ch->epoch, sizeof(ch->epoch), "%s", direct_epoch());
	ch->seq = ++seq;
	if ((body = batch_json(ch)) == NULL)
		return -ENOMEM;
	o.reserve_ms = 0;
	r = deliver_post(&o, deliver_path(ch->kind), body, strlen(body), ch->reporter,
	    ch->epoch, ch->seq, res);
	free(body);
	return r;
}

/*
 * The spool cannot take chunks[from..] (spool_why says why, naming the
 * spool): posts them directly. Returns the exit code and logs one line:
 * 0 when all went, 3 when some were rejected or members left out, 2 when
 * a chunk could neither be delivered nor spooled.
 */
static int
event_direct(struct ctx *c, const char *event, const char *self, struct batch *chunks,
    size_t nchunks, size_t from, size_t nmembers, size_t nbad, const char *spool_why)
{
	size_t delivered = 0, rejected = 0, lost = 0;
	long accepted = 0, duplicates = 0;
	char url[256] = "", err[1024] = "";

	for (size_t i = from; i < nchunks; i++) {
		struct deliver_result res = { .st = DELIVER_RETRY };

		if (lost > 0 || post_direct(c, &chunks[i], &res) < 0) {
			if (lost == 0)
				snprintf(err, sizeof(err), "out of memory");
			lost += chunks[i].n;
		} else if (res.st == DELIVER_OK) {
			delivered += chunks[i].n;
			accepted += res.accepted > 0 ? res.accepted : 0;
			duplicates += res.duplicates > 0 ? res.duplicates : 0;
			snprintf(url, sizeof(url), "%s", res.url);
		} else if (res.st == DELIVER_REJECTED) {
			rejected += chunks[i].n;
			log_error("%s from %s: %zu reports REJECTED (not saved: %s): %.1000s", event,
			    self, chunks[i].n, spool_why, res.err);
		} else {
			lost += chunks[i].n;
			snprintf(err, sizeof(err), "%s", res.err);
		}
		deliver_result_finish(&res);
	}
	if (lost > 0) {
		log_error("%s from %s: %zu members, %zu left out -> could neither deliver nor "
		    "spool %zu reports: %s; delivery: %s", event, self, nmembers, nbad, lost,
		    spool_why, err);
		return EXIT_FAIL;
	}
	log_info("%s from %s: %zu members, %zu sent, %zu left out -> delivered%s%s without "
	    "the spool (%s) (epoch %s, accepted %ld, duplicates %ld)", event, self, nmembers,
	    delivered + rejected, nbad, url[0] ? " to " : "", url, spool_why, direct_epoch(),
	    accepted, duplicates);
	return rejected > 0 || nbad > 0 ? EXIT_REJECTED : 0;
}

/*
 * The spool stayed locked past the bound (or, locked, incoming/ could not
 * be emptied in time): writes the batch (in chunks) to incoming/, for the
 * next run that holds the lock to number and queue. No update is
 * suppressed here (seen is the lock holder's).
 */
static int
spool_aside(struct ctx *c, const char *event, const char *self, struct batch *b,
    size_t nmembers, size_t nbad, bool behind)
{
	struct batch *chunks = NULL;
	size_t nchunks = 0, written = 0, i;
	char why[PATH_MAX + 256];
	int r = 0, rc = EXIT_FAIL;

	if (split_batch(b, &chunks, &nchunks) < 0) {
		log_error("%s: out of memory", event);
		return EXIT_FAIL;
	}
	for (i = 0; i < nchunks; i++) {
		if ((r = spool_incoming_write(c->cfg.spool_dir, &chunks[i])) < 0)
			break;
		written += chunks[i].n;
	}
	if (r < 0) {
		/* Out of order with what waits in the spool, but not lost. */
		snprintf(why, sizeof(why), "spool %s: cannot write incoming/: %s, after %s",
		    c->cfg.spool_dir, strerror(-r), behind ? "older batches were still there" :
		    "the spool was locked past the bound");
		rc = event_direct(c, event, self, chunks, nchunks, i, nmembers, nbad, why);
	}
	for (size_t k = 0; k < nchunks; k++)
		batch_finish(&chunks[k]);
	free(chunks);
	if (r < 0)
		return rc;
	log_info("%s from %s: %zu members, %zu sent, %zu left out -> spooled to %s/incoming "
	    "(%s; the next run queues it)", event, self, nmembers, written, nbad,
	    c->cfg.spool_dir, behind ? "behind older batches there the time bound left "
	    "unqueued" : "the spool was locked by another run past the time bound");
	return nbad > 0 ? EXIT_REJECTED : 0;
}

/* One chunk of the batch on its way: posted, spooled or both tried. */
struct chunk {
	struct batch *ch;
	struct deliver_result res;
	char *body;
	char sw[PATH_MAX + 64];	/* why the spool could not take it */
	bool tried, direct, kept;
};

/*
 * Reads serf's members from stdin into b (the reporter is self); members
 * that make no report are logged and counted. 0 or -ENOMEM.
 */
static int
event_read(struct event_run *e, struct batch *b)
{
	struct serf_members ms = { 0 };
	struct serf_parser *p;
	char why[256];
	int r;

	if ((p = serf_parser_new(on_bad_line, NULL)) == NULL)
		return -ENOMEM;
	r = serf_input_read_fd(p, STDIN_FILENO, e->c->deadline_ms - e->c->reserve_ms);
	if (r == -ETIMEDOUT)
		log_warn("%s: stdin still open when the time bound ran out; using what "
		    "arrived", e->event);
	else if (r < 0 && r != -ENOMEM)
		log_warn("%s: reading stdin: %s", e->event, strerror(-r));
	if (r == -ENOMEM || serf_parser_end(p, &ms, &e->nbad) < 0)
		goto oom;
	e->nmembers = ms.n + e->nbad;

	b->t_ms = fsio_now_ms();
	if ((b->reporter = strdup(e->self)) == NULL)
		goto oom;
	for (size_t i = 0; i < ms.n; i++) {
		struct report rep;
		r = batch_member_report(&ms.v[i], e->event, &(struct batch_tags){
		    e->c->cfg.label_tag, e->c->cfg.serial_tag, e->c->cfg.addr_tag }, &rep, why,
		    sizeof(why));
		if (r == -ENOMEM)
			goto oom;
		if (r < 0) {
			log_warn("%s: member %s left out: %s", e->event, ms.v[i].name, why);
			e->nbad++;
			continue;
		}
		if (batch_add(b, &rep) < 0) {
			report_finish(&rep);
			goto oom;
		}
	}
	serf_members_finish(&ms);
	serf_parser_free(p);
	return 0;
oom:
	serf_members_finish(&ms);
	serf_parser_free(p);
	return -ENOMEM;
}

/* The spool could not be opened (r, logged): posts b directly. Exit code. */
static int
event_no_spool(struct event_run *e, struct batch *b, int r)
{
	struct batch *chunks = NULL;
	size_t nchunks = 0;
	char sw[PATH_MAX + 64];
	int rc;

	snprintf(sw, sizeof(sw), "spool %s: %s", e->c->cfg.spool_dir, strerror(-r));
	if (split_batch(b, &chunks, &nchunks) < 0) {
		log_error("%s: out of memory", e->event);
		return EXIT_FAIL;
	}
	if (nchunks == 0) {
		log_info("%s from %s: %zu members, %zu left out -> nothing to send", e->event,
		    e->self, e->nmembers, e->nbad);
		rc = e->nbad > 0 ? EXIT_REJECTED : 0;
	} else {
		rc = event_direct(e->c, e->event, e->self, chunks, nchunks, 0, e->nmembers,
		    e->nbad, sw);
	}
	for (size_t i = 0; i < nchunks; i++)
		batch_finish(&chunks[i]);
	free(chunks);
	return rc;
}

/*
 * Numbers the chunk from the spool. Without a number (a full disk?) it is
 * posted without the spool, but only when nothing older waits in the
 * spool: posted under a fresh epoch it would be overtaken by that backlog
 * later, an older vote replacing this newer one.
 */
static void
chunk_number(struct event_run *e, struct chunk *k)
{
	int r;

	if ((r = spool_assign(e->sp, k->ch)) < 0) {
		snprintf(k->sw, sizeof(k->sw), "spool %.3000s: cannot assign a sequence number: "
		    "%.100s%s", e->c->cfg.spool_dir, strerror(-r), e->drained ? "" : "; older "
		    "batches are queued ahead of it, so it cannot be posted out of order");
		if (e->drained) {
			log_warn("%s: %s; posting without the spool", e->event, k->sw);
			k->direct = true;
		} else {
			snprintf(k->res.err, sizeof(k->res.err), "not tried");
			k->tried = k->direct = true;	/* neither posted nor spooled */
		}
	} else if (e->first_seq[0] == '\0') {
		snprintf(e->first_seq, sizeof(e->first_seq), "%llu", k->ch->seq);
	}
}

/* Posts the chunk when the spool is drained (or it goes direct). -ENOMEM. */
static int
chunk_post(struct event_run *e, struct chunk *k)
{
	struct batch *ch = k->ch;

	if (k->direct && !k->tried) {
		if (post_direct(e->c, ch, &k->res) < 0)
			return -ENOMEM;
		k->tried = true;
	} else if (e->drained) {
		if ((k->body = batch_json(ch)) == NULL)
			return -ENOMEM;
		if (deliver_post(&e->c->dopts, deliver_path(ch->kind), k->body, strlen(k->body),
		    ch->reporter, ch->epoch, ch->seq, &k->res) < 0)
			return -ENOMEM;
		k->tried = true;
	} else {
		snprintf(k->res.err, sizeof(k->res.err), "%s", e->st.err[0] ? e->st.err :
		    "the spool could not be replayed");
	}
	return 0;
}

/*
 * A chunk that was not delivered goes to the spool; when the spool cannot
 * take it either, it is posted directly if it was not tried yet. -ENOMEM.
 */
static int
chunk_spool(struct event_run *e, struct chunk *k)
{
	int r;

	if (k->res.st != DELIVER_RETRY || k->direct)
		return 0;
	e->drained = false;	/* later chunks must queue behind this one */
	r = spool_push(e->sp, k->ch, (unsigned long long)e->c->cfg.spool_max_bytes,
	    &e->compacted);
	if (r == 0) {
		e->spooled += k->ch->n;
		k->kept = true;
		snprintf(e->outcome, sizeof(e->outcome), "spooled%s: %s",
		    e->compacted ? " (spool compacted)" : "", k->res.err);
		spool_set_error(e->sp, k->res.err);
		return 0;
	}
	snprintf(k->sw, sizeof(k->sw), "spool %s: %s", e->c->cfg.spool_dir, strerror(-r));
	if (!k->tried && e->st.left == 0 && e->spooled == 0) {
		/*
		 * Not posted yet and the spool holds nothing older (a replay
		 * that stopped with a backlog left would let it overtake this
		 * one later): try now.
		 */
		deliver_result_finish(&k->res);
		k->res = (struct deliver_result){ .st = DELIVER_RETRY };
		if (post_direct(e->c, k->ch, &k->res) < 0)
			return -ENOMEM;
		k->direct = true;
	}
	return 0;
}

/* Counts the chunk's outcome and words it for the run's line. -ENOMEM. */
static int
chunk_outcome(struct event_run *e, struct chunk *k)
{
	struct batch *ch = k->ch;
	int r;

	if (k->res.st == DELIVER_OK) {
		e->delivered += ch->n;
		k->kept = true;
		e->accepted += k->res.accepted > 0 ? k->res.accepted : 0;
		e->duplicates += k->res.duplicates > 0 ? k->res.duplicates : 0;
		snprintf(e->outcome, sizeof(e->outcome), "delivered to %s%s%.*s%s", k->res.url,
		    k->direct ? " without the spool (" : "", k->direct ? 900 : 0, k->sw,
		    k->direct ? ")" : "");
	} else if (k->res.st == DELIVER_REJECTED) {
		e->rejected += ch->n;
		e->rc = EXIT_REJECTED;
		if (k->body == NULL && (k->body = batch_json(ch)) == NULL)
			return -ENOMEM;
		r = spool_reject(e->sp, ch, k->body, k->res.status,
		    k->res.reply ? k->res.reply : "");
		snprintf(e->outcome, sizeof(e->outcome), "REJECTED (%.200s/rejected%s): %.1000s",
		    e->c->cfg.spool_dir, r < 0 ? ", not saved" : "", k->res.err);
	} else if (!k->kept) {
		snprintf(e->outcome, sizeof(e->outcome), "could neither deliver nor spool: "
		    "%.900s; delivery: %.1000s", k->sw, k->res.err);
		e->rc = EXIT_FAIL;
	}
	return 0;
}

/* One chunk: numbered, posted or spooled, noted in seen when kept. */
int
event_chunk(struct event_run *e, struct batch *ch)
{
	struct chunk k = { .ch = ch, .res = { .st = DELIVER_RETRY } };
	int r;

	chunk_number(e, &k);
	if ((r = chunk_post(e, &k)) == 0 && k.res.observe != NULL) {
		free(e->observe);
		e->observe = k.res.observe;
		k.res.observe = NULL;
	}
	if (r == 0 && (r = chunk_spool(e, &k)) == 0 &&
	    (r = chunk_outcome(e, &k)) == 0 && k.kept)
		for (size_t j = 0; j < ch->n; j++)
			seen_note(e->seen, ch->kind, &ch->reports[j]);
	free(k.body);
	deliver_result_finish(&k.res);
	return r;
}

/* The spool's last error, seen, the exit code and the run's one line. */
static void
event_summary(struct event_run *e, size_t nchunks)
{
	const char *dir = e->c->cfg.spool_dir;
	char replay[256];

	if (nchunks == 0)
		snprintf(e->outcome, sizeof(e->outcome), "nothing to send");
	else if (e->drained && e->st.left == 0 && e->rc == 0)
		spool_set_error(e->sp, NULL);
	else if (!e->drained && e->st.err[0] != '\0' && e->spooled == 0)
		spool_set_error(e->sp, e->st.err);
	if (seen_save(e->seen, dir) < 0)
		log_warn("%s: could not save %s/seen", e->event, dir);
	if (spool_ncorrupt(e->sp) > 0) {
		log_warn("%s: %zu corrupt spool records moved to %s/corrupt", e->event,
		    spool_ncorrupt(e->sp), dir);
		e->rc = e->rc ? e->rc : EXIT_REJECTED;
	}
	if (e->nbad > 0 && e->rc == 0)
		e->rc = EXIT_REJECTED;

	cmd_fmt_replay(&e->st, replay, sizeof(replay));
	log_msg(e->rc == EXIT_FAIL ? LOG_LVL_ERROR : LOG_LVL_INFO, "%s from %s: %zu members, "
	    "%zu sent, %zu unchanged, %zu left out -> %s (seq %s, accepted %ld, duplicates %ld)%s",
	    e->event, e->self, e->nmembers, e->delivered + e->spooled + e->rejected,
	    e->nsuppressed, e->nbad, e->outcome, e->first_seq[0] ? e->first_seq : "-",
	    e->accepted, e->duplicates, replay);
}

/* Drops the member-update reports seen already unchanged. */
static void
event_suppress(struct event_run *e, struct batch *b)
{
	if (strcmp(e->event, "member-update") != 0)
		return;
	for (size_t i = b->n; i-- > 0;) {
		if (seen_unchanged(e->seen, &b->reports[i])) {
			batch_remove(b, i);
			e->nsuppressed++;
		}
	}
}

int
cmd_event(struct ctx *c)
{
	struct event_run e = { .c = c, .event = getenv("SERF_EVENT"),
	    .self = getenv("SERF_SELF_NAME") };
	struct batch b, *chunks = NULL;
	struct observe obs = { 0 };
	size_t nchunks = 0;
	bool pending = false, noted = false;
	int r;

	batch_init(&b);
	batch_init(&e.left);
	if (e.event == NULL || e.event[0] == '\0') {
		log_error("SERF_EVENT is not set: run by serf, or give a command");
		cmd_usage(stderr);
		return EXIT_USAGE;
	}
	b.kind = batch_event_kind(e.event);
	if (b.kind == REPORT_KIND_NONE) {
		drain_stdin(c->deadline_ms - c->reserve_ms);
		log_info("%s event ignored", e.event);
		return 0;
	}
	if (e.self == NULL || e.self[0] == '\0' || strlen(e.self) > LIMIT_MEMBER_NAME_LEN ||
	    text_str_has_ctrl(e.self)) {
		log_error("%s: SERF_SELF_NAME is unset, too long or holds control characters",
		    e.event);
		return EXIT_USAGE;
	}
	if (event_read(&e, &b) < 0)
		goto oom;
	/* Observers: remember the members, report only self and the subjects. */
	cmd_observe_load(c, &obs);
	if (obs.known && obs.on) {
		event_note_members(&e, &b);
		noted = true;
	}
	e.nfiltered = cmd_observe_filter(&obs, e.self, &b, &e.left);

	r = cmd_open_spool(c, true, &e.sp, &e.seen, &pending);
	/* A tick has no SERF_SELF_NAME: it takes the last event run's. */
	if ((r == 0 || r == -EWOULDBLOCK) && tick_self_save(c->cfg.spool_dir, e.self) < 0)
		log_warn("%s: could not save %s/%s", e.event, c->cfg.spool_dir, TICK_SELF_FILE);
	if (!obs.known && (r < 0 || pending)) {
		event_note_members(&e, &b);	/* no probe in this run: cannot tell */
		noted = true;
	}
	if (r == -EWOULDBLOCK || (r == 0 && pending)) {
		/* Locked, or older batches still wait in incoming/: go behind them. */
		if (r == 0 && seen_save(e.seen, c->cfg.spool_dir) < 0)
			log_warn("%s: could not save %s/seen", e.event, c->cfg.spool_dir);
		e.rc = spool_aside(c, e.event, e.self, &b, e.nmembers, e.nbad, r == 0);
		goto out;
	}
	if (r < 0) {
		/* cmd_open_spool logged the spool's path and error. */
		e.rc = event_no_spool(&e, &b, r);
		goto out;
	}
	event_suppress(&e, &b);

	r = deliver_spool(e.sp, &c->dopts, &e.st, cmd_on_note, c->cfg.spool_dir);
	if (r < 0 && r != -EAGAIN)
		log_warn("%s: spool %s: %s", e.event, c->cfg.spool_dir, strerror(-r));
	e.drained = r == 0;
	if (e.st.rejected > 0 || e.st.corrupt > 0)
		e.rc = EXIT_REJECTED;
	if (event_learn(&e, &obs, &b, &noted) < 0)
		goto oom;

	if (split_batch(&b, &chunks, &nchunks) < 0)
		goto oom;
	for (size_t i = 0; i < nchunks; i++) {
		if (event_chunk(&e, &chunks[i]) < 0)
			goto oom;
		if (e.rc == EXIT_FAIL)
			break;
	}
	event_summary(&e, nchunks + e.nprobe);
	if (e.nfiltered > 0)
		log_info("%s: %zu members left out: not among this node's subjects "
		    "(observers, version %llu)", e.event, e.nfiltered, obs.version);
	if (e.nreported > 0)
		log_info("%s: %zu members left out: reported already as new subjects of "
		    "version %llu", e.event, e.nreported, obs.version);
	if (e.observe != NULL) {
		cmd_observe_take(c, e.sp, e.self, &obs, e.observe, NULL, NULL);
		e.observe = NULL;
	}
	goto out;
oom:
	log_error("%s: out of memory", e.event);
	e.rc = EXIT_FAIL;
out:
	for (size_t i = 0; i < nchunks; i++)
		batch_finish(&chunks[i]);
	free(chunks);
	free(e.observe);
	free(e.st.observe);
	observe_finish(&obs);
	seen_free(e.seen);
	spool_close(e.sp);
	batch_finish(&e.left);
	batch_finish(&b);
	return e.rc;
}
