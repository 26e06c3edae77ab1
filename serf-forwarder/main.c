/*
 * serf-forwarder: serf's event handler. Reads the event and its members,
 * posts one batch to clusterm or spools it durably, replaying the spool
 * first so that a reporter's batches arrive in order (CONTRACT section 6).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "deliver.h"
#include "fsio.h"
#include "log.h"
#include "seen.h"
#include "serf_input.h"
#include "spool.h"
#include "version.h"

#define EXIT_USAGE	1
#define EXIT_FAIL	2
#define EXIT_REJECTED	3

#define DEFAULT_CONFIG	"/etc/serf-forwarder.conf"
#define DEFAULT_SPOOL	"/var/spool/serf-forwarder"
#define DEFAULT_URL	"http://127.0.0.1:9007"
#define TAG_NAME_LEN	(LIMIT_TAG_KEY_LEN + 1)

extern char **environ;

struct fwd_config {
	struct config_strlist urls;
	char spool_dir[PATH_MAX];
	double timeout_s;
	char token_file[PATH_MAX];
	char ca_file[PATH_MAX];
	char cert_file[PATH_MAX];	/* client certificate for mutual TLS */
	char key_file[PATH_MAX];
	char label_tag[TAG_NAME_LEN];
	char serial_tag[TAG_NAME_LEN];
	char addr_tag[TAG_NAME_LEN];
	long spool_max_bytes;
};

#define KEY_STR(p, f) { p, CONFIG_STRING, offsetof(struct fwd_config, f), \
	sizeof(((struct fwd_config *)0)->f), 0, 0, 0, 0 }

static const struct config_key config_keys[] = {
	{ "urls", CONFIG_STRLIST, offsetof(struct fwd_config, urls), 0, 0, 0, 0, 0 },
	KEY_STR("spool_dir", spool_dir),
	{ "timeout_s", CONFIG_DOUBLE, offsetof(struct fwd_config, timeout_s), 0, 0, 0,
	    0.1, 3600 },
	KEY_STR("token_file", token_file),
	KEY_STR("ca_file", ca_file),
	KEY_STR("cert_file", cert_file),
	KEY_STR("key_file", key_file),
	KEY_STR("label_tag", label_tag),
	KEY_STR("serial_tag", serial_tag),
	KEY_STR("addr_tag", addr_tag),
	{ "spool_max_bytes", CONFIG_INT, offsetof(struct fwd_config, spool_max_bytes), 0,
	    4096, LONG_MAX, 0, 0 },
};

/* Everything a command needs: the settled configuration and the bound. */
struct ctx {
	struct fwd_config cfg;
	char *token;
	const char *rpc_addr;
	long long deadline_ms;
	long reserve_ms;
	struct deliver_opts dopts;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: serf-forwarder [-v] [-c file] [-u url]... [-s spool_dir] "
	    "[-t seconds]\n"
	    "                      [--cacert file] [--cert file] [--key file]\n"
	    "                      [--token-file file] [--rpc-addr addr]\n"
	    "                      [event | flush | status | sync | version]\n");
}

static void
on_config_warn(const char *msg, void *arg)
{
	(void)arg;
	log_warn("%s", msg);
}

static int
set_str(char *dst, size_t len, const char *src, const char *what)
{
	if ((size_t)snprintf(dst, len, "%s", src) >= len) {
		log_error("%s is longer than %zu bytes", what, len - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* No control characters (the value goes into an HTTP header). */
static bool
header_safe(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int
read_token(struct ctx *c)
{
	const char *env = getenv("CLUSTERM_TOKEN");
	char *buf = NULL;
	size_t len;
	int r;

	if (c->cfg.token_file[0] == '\0') {
		if (env != NULL && env[0] != '\0' && (c->token = strdup(env)) == NULL)
			return -ENOMEM;
		return 0;
	}
	r = fsio_read_file(c->cfg.token_file, 4096, &buf, &len);
	if (r < 0) {
		log_error("token_file %s: %s", c->cfg.token_file, strerror(-r));
		return r;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (!header_safe(buf)) {
		log_error("token_file %s holds control characters", c->cfg.token_file);
		free(buf);
		return -EINVAL;
	}
	c->token = buf;
	return 0;
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

static int
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

static void
on_bad_line(size_t lineno, const char *why, void *arg)
{
	(void)arg;
	log_warn("stdin line %zu left out: %s", lineno, why);
}

static void
on_note(const char *what, unsigned long long seq, const char *detail, void *arg)
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
static int
open_spool(struct ctx *c, bool quiet_busy, struct spool **ret, struct seen **ret_seen,
    bool *ret_pending)
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
static void
fmt_replay(const struct deliver_stats *st, char *buf, size_t len)
{
	buf[0] = '\0';
	if (st->batches + st->rejected + st->corrupt + st->left == 0)
		return;
	snprintf(buf, len, "; spool: %zu delivered in %zu POSTs, %zu rejected, %zu corrupt, "
	    "%zu left, %zu stale reports left out", st->batches, st->posts, st->rejected,
	    st->corrupt, st->left, st->superseded);
}

static int
cmd_flush(struct ctx *c)
{
	struct deliver_stats st;
	struct spool *sp = NULL;
	char replay[256];
	bool pending = false;
	int r;

	if (open_spool(c, false, &sp, NULL, &pending) < 0)
		return EXIT_FAIL;
	c->dopts.reserve_ms = 0;
	r = deliver_spool(sp, &c->dopts, &st, on_note, c->cfg.spool_dir);
	if (r == 0 && st.batches > 0)
		spool_set_error(sp, NULL);
	else if (r == -EAGAIN)
		spool_set_error(sp, st.err);
	spool_close(sp);
	fmt_replay(&st, replay, sizeof(replay));
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

/* Drains stdin (serf writes it whole before waiting) without a parse. */
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
	struct deliver_opts o = c->dopts;
	char *body;
	int r;

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
	int r = 0, rc;

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

static int
cmd_event(struct ctx *c)
{
	const char *event = getenv("SERF_EVENT");
	const char *self = getenv("SERF_SELF_NAME");
	struct serf_members ms = { 0 };
	struct deliver_stats st = { 0 };
	struct serf_parser *p = NULL;
	struct batch b, *chunks = NULL;
	struct seen *seen = NULL;
	struct spool *sp = NULL;
	size_t nbad = 0, nsuppressed = 0, nchunks = 0, nmembers;
	size_t delivered = 0, spooled = 0, rejected = 0;
	long accepted = 0, duplicates = 0;
	char why[256], replay[256], outcome[2048] = "", first_seq[64] = "";
	bool drained = false, compacted = false, pending = false;
	int r, rc = 0;

	batch_init(&b);
	if (event == NULL || event[0] == '\0') {
		log_error("SERF_EVENT is not set: run by serf, or give a command");
		usage(stderr);
		return EXIT_USAGE;
	}
	b.kind = batch_event_kind(event);
	if (b.kind == REPORT_KIND_NONE) {
		drain_stdin(c->deadline_ms - c->reserve_ms);
		log_info("%s event ignored", event);
		return 0;
	}
	if (self == NULL || self[0] == '\0' || strlen(self) > LIMIT_MEMBER_NAME_LEN ||
	    !header_safe(self)) {
		log_error("%s: SERF_SELF_NAME is unset, too long or holds control characters",
		    event);
		return EXIT_USAGE;
	}

	p = serf_parser_new(on_bad_line, NULL);
	if (p == NULL)
		goto oom;
	r = serf_input_read_fd(p, STDIN_FILENO, c->deadline_ms - c->reserve_ms);
	if (r == -ETIMEDOUT)
		log_warn("%s: stdin still open when the time bound ran out; using what "
		    "arrived", event);
	else if (r < 0 && r != -ENOMEM)
		log_warn("%s: reading stdin: %s", event, strerror(-r));
	if (r == -ENOMEM || serf_parser_end(p, &ms, &nbad) < 0)
		goto oom;
	nmembers = ms.n + nbad;

	b.t_ms = fsio_now_ms();
	if ((b.reporter = strdup(self)) == NULL)
		goto oom;
	for (size_t i = 0; i < ms.n; i++) {
		struct report rep;
		r = batch_member_report(&ms.v[i], event, &(struct batch_tags){
		    c->cfg.label_tag, c->cfg.serial_tag, c->cfg.addr_tag }, &rep, why,
		    sizeof(why));
		if (r == -ENOMEM)
			goto oom;
		if (r < 0) {
			log_warn("%s: member %s left out: %s", event, ms.v[i].name, why);
			nbad++;
			continue;
		}
		if (batch_add(&b, &rep) < 0) {
			report_finish(&rep);
			goto oom;
		}
	}
	serf_members_finish(&ms);

	r = open_spool(c, true, &sp, &seen, &pending);
	if (r == -EWOULDBLOCK || (r == 0 && pending)) {
		/* Locked, or older batches still wait in incoming/: go behind them. */
		if (r == 0 && seen_save(seen, c->cfg.spool_dir) < 0)
			log_warn("%s: could not save %s/seen", event, c->cfg.spool_dir);
		rc = spool_aside(c, event, self, &b, nmembers, nbad, r == 0);
		goto out;
	}
	if (r < 0) {
		/* open_spool logged the spool's path and error. */
		char sw[PATH_MAX + 64];

		snprintf(sw, sizeof(sw), "spool %s: %s", c->cfg.spool_dir, strerror(-r));
		if (split_batch(&b, &chunks, &nchunks) < 0)
			goto oom;
		if (nchunks == 0) {
			log_info("%s from %s: %zu members, %zu left out -> nothing to send", event,
			    self, nmembers, nbad);
			rc = nbad > 0 ? EXIT_REJECTED : 0;
			goto out;
		}
		rc = event_direct(c, event, self, chunks, nchunks, 0, nmembers, nbad, sw);
		goto out;
	}
	if (strcmp(event, "member-update") == 0) {
		for (size_t i = b.n; i-- > 0;) {
			if (seen_unchanged(seen, &b.reports[i])) {
				batch_remove(&b, i);
				nsuppressed++;
			}
		}
	}

	r = deliver_spool(sp, &c->dopts, &st, on_note, c->cfg.spool_dir);
	if (r < 0 && r != -EAGAIN) {
		log_warn("%s: spool %s: %s", event, c->cfg.spool_dir, strerror(-r));
	}
	drained = r == 0;
	if (st.rejected > 0 || st.corrupt > 0)
		rc = EXIT_REJECTED;

	if (split_batch(&b, &chunks, &nchunks) < 0)
		goto oom;
	for (size_t i = 0; i < nchunks; i++) {
		struct batch *ch = &chunks[i];
		struct deliver_result res = { .st = DELIVER_RETRY };
		char *body = NULL, sw[PATH_MAX + 64] = "";
		bool tried = false, direct = false, kept = false;

		if ((r = spool_assign(sp, ch)) < 0) {
			/*
			 * No number from the spool (a full disk?): post it without,
			 * but only when nothing older waits in the spool: posted
			 * under a fresh epoch it would be overtaken by that backlog
			 * later, an older vote replacing this newer one.
			 */
			snprintf(sw, sizeof(sw), "spool %.3000s: cannot assign a sequence number: "
			    "%.100s%s", c->cfg.spool_dir, strerror(-r), drained ? "" : "; older batches "
			    "are queued ahead of it, so it cannot be posted out of order");
			if (drained) {
				log_warn("%s: %s; posting without the spool", event, sw);
				direct = true;
			} else {
				snprintf(res.err, sizeof(res.err), "not tried");
				tried = direct = true;	/* neither posted nor spooled */
			}
		} else if (first_seq[0] == '\0') {
			snprintf(first_seq, sizeof(first_seq), "%llu", ch->seq);
		}
		if (direct && !tried) {
			if (post_direct(c, ch, &res) < 0)
				goto oom;
			tried = true;
		} else if (drained) {
			if ((body = batch_json(ch)) == NULL)
				goto oom;
			if (deliver_post(&c->dopts, deliver_path(ch->kind), body, strlen(body),
			    ch->reporter, ch->epoch, ch->seq, &res) < 0) {
				free(body);
				goto oom;
			}
			tried = true;
		} else {
			snprintf(res.err, sizeof(res.err), "%s", st.err[0] ? st.err :
			    "the spool could not be replayed");
		}
		if (res.st == DELIVER_RETRY && !direct) {
			drained = false;	/* later chunks must queue behind this one */
			r = spool_push(sp, ch, (unsigned long long)c->cfg.spool_max_bytes,
			    &compacted);
			if (r == 0) {
				spooled += ch->n;
				kept = true;
				snprintf(outcome, sizeof(outcome), "spooled%s: %s",
				    compacted ? " (spool compacted)" : "", res.err);
				spool_set_error(sp, res.err);
			} else {
				snprintf(sw, sizeof(sw), "spool %s: %s", c->cfg.spool_dir,
				    strerror(-r));
				if (!tried && st.left == 0 && spooled == 0) {
					/*
					 * Not posted yet and the spool holds nothing older
					 * (a replay that stopped with a backlog left would
					 * let it overtake this one later): try now.
					 */
					deliver_result_finish(&res);
					res = (struct deliver_result){ .st = DELIVER_RETRY };
					if (post_direct(c, ch, &res) < 0) {
						free(body);
						goto oom;
					}
					direct = true;
				}
			}
		}
		if (res.st == DELIVER_OK) {
			delivered += ch->n;
			kept = true;
			accepted += res.accepted > 0 ? res.accepted : 0;
			duplicates += res.duplicates > 0 ? res.duplicates : 0;
			snprintf(outcome, sizeof(outcome), "delivered to %s%s%.*s%s", res.url,
			    direct ? " without the spool (" : "", direct ? 900 : 0, sw,
			    direct ? ")" : "");
		} else if (res.st == DELIVER_REJECTED) {
			rejected += ch->n;
			rc = EXIT_REJECTED;
			if (body == NULL && (body = batch_json(ch)) == NULL)
				goto oom_res;
			r = spool_reject(sp, ch, body, res.status, res.reply ? res.reply : "");
			snprintf(outcome, sizeof(outcome), "REJECTED (%.200s/rejected%s): %.1000s",
			    c->cfg.spool_dir, r < 0 ? ", not saved" : "", res.err);
		} else if (!kept) {
			snprintf(outcome, sizeof(outcome), "could neither deliver nor spool: "
			    "%.900s; delivery: %.1000s", sw, res.err);
			rc = EXIT_FAIL;
		}
		if (kept)
			for (size_t j = 0; j < ch->n; j++)
				seen_note(seen, ch->kind, &ch->reports[j]);
		free(body);
		deliver_result_finish(&res);
		if (rc == EXIT_FAIL)
			break;
		continue;
oom_res:
		deliver_result_finish(&res);
		goto oom;
	}
	if (nchunks == 0)
		snprintf(outcome, sizeof(outcome), "nothing to send");
	else if (drained && st.left == 0 && rc == 0)
		spool_set_error(sp, NULL);
	else if (!drained && st.err[0] != '\0' && spooled == 0)
		spool_set_error(sp, st.err);
	if (seen_save(seen, c->cfg.spool_dir) < 0)
		log_warn("%s: could not save %s/seen", event, c->cfg.spool_dir);
	if (spool_ncorrupt(sp) > 0) {
		log_warn("%s: %zu corrupt spool records moved to %s/corrupt", event,
		    spool_ncorrupt(sp), c->cfg.spool_dir);
		rc = rc ? rc : EXIT_REJECTED;
	}
	if (nbad > 0 && rc == 0)
		rc = EXIT_REJECTED;

	fmt_replay(&st, replay, sizeof(replay));
	log_msg(rc == EXIT_FAIL ? LOG_LVL_ERROR : LOG_LVL_INFO, "%s from %s: %zu members, "
	    "%zu sent, %zu unchanged, %zu left out -> %s (seq %s, accepted %ld, duplicates %ld)%s",
	    event, self, nmembers, delivered + spooled + rejected, nsuppressed, nbad,
	    outcome, first_seq[0] ? first_seq : "-", accepted, duplicates, replay);
	goto out;
oom:
	log_error("%s: out of memory", event);
	rc = EXIT_FAIL;
out:
	for (size_t i = 0; i < nchunks; i++)
		batch_finish(&chunks[i]);
	free(chunks);
	seen_free(seen);
	spool_close(sp);
	serf_members_finish(&ms);
	serf_parser_free(p);
	batch_finish(&b);
	return rc;
}

/*
 * Runs argv (no shell) and collects its stdout, killing it when the bound
 * passes. *ret_out is malloc'd. 0, -ETIMEDOUT, -ECHILD (non-zero exit) or
 * -errno.
 */
static int
run_capture(char *const argv[], long long deadline_ms, char **ret_out, size_t *ret_len)
{
	posix_spawn_file_actions_t fa;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int pfd[2], status, r = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		return -r;
	}
	for (;;) {
		long long left = deadline_ms - fsio_mono_ms();
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pf, 1, (int)(left > 60000 ? 60000 : left)) <= 0)
			continue;
		if (len + 4096 > cap) {
			char *nb;
			if (cap >= LIMIT_BODY_BYTES_MAX) {
				kill(pid, SIGKILL);
				r = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				kill(pid, SIGKILL);
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(pfd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = -ECHILD;
	if (r < 0) {
		free(buf);
		return r;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return -ENOMEM;
	buf[len] = '\0';
	*ret_out = buf;
	*ret_len = len;
	return 0;
}

/* `serf <cmd> -format json [-rpc-addr A]` into a malloc'd string. */
static int
serf_json(struct ctx *c, const char *cmd, char **ret, size_t *ret_len)
{
	char *argv[] = { "serf", (char *)cmd, "-format", "json", NULL, NULL, NULL };
	int r;

	if (c->rpc_addr != NULL) {
		argv[4] = "-rpc-addr";
		argv[5] = (char *)c->rpc_addr;
	}
	r = run_capture(argv, c->deadline_ms - c->reserve_ms, ret, ret_len);
	if (r < 0)
		log_error("sync: serf %s%s%s: %s", cmd, c->rpc_addr ? " -rpc-addr " : "",
		    c->rpc_addr ? c->rpc_addr : "", r == -ECHILD ? "failed (see its output)" :
		    r == -ETIMEDOUT ? "no answer within the time bound" : strerror(-r));
	return r;
}

/* The local agent's name: SERF_SELF_NAME, else `serf info`. */
static char *
self_name(struct ctx *c)
{
	const char *env = getenv("SERF_SELF_NAME");
	char *out = NULL, *name = NULL, *p, *q;
	size_t len;

	if (env != NULL && env[0] != '\0')
		return strdup(env);
	if (serf_json(c, "info", &out, &len) < 0)
		return NULL;
	/* {"agent":{"name":"..."},...}: the first "name" is the agent's. */
	p = strstr(out, "\"name\"");
	if (p != NULL && (p = strchr(p + 6, '"')) != NULL && (q = strchr(p + 1, '"')) != NULL)
		name = strndup(p + 1, (size_t)(q - p - 1));
	if (name == NULL)
		log_error("sync: no agent name in `serf info` output");
	free(out);
	return name;
}

static int
cmd_sync(struct ctx *c)
{
	struct serf_members ms = { 0 };
	struct deliver_result res = { .st = DELIVER_RETRY };
	struct deliver_stats st;
	struct spool *sp = NULL;
	struct batch b;
	char *out = NULL, *self = NULL, *arr = NULL, *body = NULL, err[256], replay[256];
	size_t len, nbad = 0;
	bool pending = false;
	int r, rc = 0;

	batch_init(&b);
	if (serf_json(c, "members", &out, &len) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	if ((r = serf_input_parse_members_json(out, len, &ms, err, sizeof(err))) < 0) {
		log_error("sync: %s", r == -ENOMEM ? "out of memory" : err);
		rc = EXIT_FAIL;
		goto out;
	}
	if ((self = self_name(c)) == NULL || !header_safe(self)) {
		rc = EXIT_FAIL;
		goto out;
	}
	b.kind = REPORT_KIND_DISCOVERED;
	b.t_ms = fsio_now_ms();
	for (size_t i = 0; i < ms.n; i++) {
		struct report rep;
		r = batch_member_report(&ms.v[i], NULL, &(struct batch_tags){
		    c->cfg.label_tag, c->cfg.serial_tag, c->cfg.addr_tag }, &rep, err,
		    sizeof(err));
		if (r < 0) {
			log_warn("sync: member %s left out: %s", ms.v[i].name, err);
			nbad++;
			continue;
		}
		if (batch_add(&b, &rep) < 0) {
			report_finish(&rep);
			rc = EXIT_FAIL;
			goto out;
		}
	}
	if (open_spool(c, false, &sp, NULL, &pending) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	if (pending) {
		log_error("sync: batches left in %s/incoming, snapshot not sent: time bound "
		    "reached", c->cfg.spool_dir);
		rc = EXIT_FAIL;
		goto out;
	}
	/* The snapshot is newer than anything queued: the queue goes first. */
	r = deliver_spool(sp, &c->dopts, &st, on_note, c->cfg.spool_dir);
	fmt_replay(&st, replay, sizeof(replay));
	if (r < 0) {
		log_error("sync: spool not empty, snapshot not sent: %s%s",
		    r == -EAGAIN ? st.err : strerror(-r), replay);
		rc = EXIT_FAIL;
		goto out;
	}
	if ((r = spool_assign(sp, &b)) < 0) {
		log_error("sync: spool %s: %s", c->cfg.spool_dir, strerror(-r));
		rc = EXIT_FAIL;
		goto out;
	}
	arr = report_json_encode(b.reports, b.n, 1);
	if (arr == NULL || (body = malloc(strlen(arr) + 16)) == NULL) {
		rc = EXIT_FAIL;
		goto out;
	}
	len = (size_t)snprintf(body, strlen(arr) + 16, "{\"members\":%s}", arr);
	if (deliver_post(&c->dopts, "/monitor/snapshot", body, len, self, b.epoch, b.seq,
	    &res) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	if (res.st == DELIVER_OK) {
		log_info("sync from %s: %zu members, %zu left out -> delivered to %s (seq %llu)%s",
		    self, b.n + nbad, nbad, res.url, b.seq, replay);
		rc = nbad > 0 ? EXIT_REJECTED : 0;
	} else if (res.st == DELIVER_REJECTED) {
		spool_reject(sp, &b, body, res.status, res.reply ? res.reply : "");
		log_error("sync from %s: snapshot REJECTED (%s/rejected): %s", self,
		    c->cfg.spool_dir, res.err);
		rc = EXIT_REJECTED;
	} else {
		log_error("sync from %s: snapshot not delivered: %s", self, res.err);
		spool_set_error(sp, res.err);
		rc = EXIT_FAIL;
	}
out:
	deliver_result_finish(&res);
	spool_close(sp);
	batch_finish(&b);
	serf_members_finish(&ms);
	free(out);
	free(self);
	free(arr);
	free(body);
	return rc;
}

static int
parse_timeout(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.1 && v <= 3600))
		return -EINVAL;
	*ret = v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "spool-dir", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'E' },
		{ "key", required_argument, NULL, 'K' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "rpc-addr", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { 0 };
	struct config_strlist flag_urls = { 0 };
	const char *config_path = NULL, *spool_flag = NULL, *cacert = NULL, *tokfile = NULL;
	const char *certf = NULL, *keyf = NULL;
	const char *cmd = "event", *env_urls;
	double timeout_flag = 0;
	char err[512];
	int opt, verbose = 0, rc = EXIT_USAGE, r;
	long long start = fsio_mono_ms();

	signal(SIGPIPE, SIG_IGN);
	log_init("serf-forwarder", 0, false);
	while ((opt = getopt_long(argc, argv, "c:u:s:t:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'u': {
			char **v = realloc(flag_urls.v, (flag_urls.n + 1) * sizeof(*v));
			if (v == NULL || (v[flag_urls.n] = strdup(optarg)) == NULL) {
				if (v != NULL)
					flag_urls.v = v;
				log_error("out of memory");
				goto out;
			}
			flag_urls.v = v;
			flag_urls.n++;
			break;
		}
		case 's':
			spool_flag = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &timeout_flag) < 0) {
				log_error("-t %s: expected seconds between 0.1 and 3600", optarg);
				goto out;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		case 'C':
			cacert = optarg;
			break;
		case 'E':
			certf = optarg;
			break;
		case 'K':
			keyf = optarg;
			break;
		case 'T':
			tokfile = optarg;
			break;
		case 'R':
			c.rpc_addr = optarg;
			break;
		default:
			usage(stderr);
			goto out;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	if (optind < argc) {
		log_error("unexpected argument %s", argv[optind]);
		usage(stderr);
		goto out;
	}
	if (strcmp(cmd, "version") == 0) {
		printf("serf-forwarder %s\n", PROJECT_VERSION);
		rc = 0;
		goto out;
	}
	if (strcmp(cmd, "event") != 0 && strcmp(cmd, "flush") != 0 &&
	    strcmp(cmd, "status") != 0 && strcmp(cmd, "sync") != 0) {
		log_error("unknown command %s", cmd);
		usage(stderr);
		goto out;
	}
	/* serf shows handler output only at debug level: mirror runs to syslog. */
	log_init("serf-forwarder", verbose, strcmp(cmd, "status") != 0);

	/* Defaults, then the file, then the environment and flags. */
	snprintf(c.cfg.spool_dir, sizeof(c.cfg.spool_dir), "%s", DEFAULT_SPOOL);
	c.cfg.timeout_s = 5;
	snprintf(c.cfg.label_tag, sizeof(c.cfg.label_tag), "NodeLabel");
	snprintf(c.cfg.serial_tag, sizeof(c.cfg.serial_tag), "NodeSerial");
	snprintf(c.cfg.addr_tag, sizeof(c.cfg.addr_tag), "NodeAddr");
	c.cfg.spool_max_bytes = LIMIT_SPOOL_BYTES_DEFAULT;
	if (config_path != NULL || access(DEFAULT_CONFIG, F_OK) == 0) {
		const char *path = config_path ? config_path : DEFAULT_CONFIG;
		r = config_load_file(path, config_keys, sizeof(config_keys) /
		    sizeof(config_keys[0]), &c.cfg, err, sizeof(err), on_config_warn, NULL);
		if (r < 0) {
			log_error("config %s: %s", path, err);
			goto out;
		}
	}
	env_urls = getenv("SERF_FORWARDER_URL");
	if (flag_urls.n > 0) {
		config_strlist_free(&c.cfg.urls);
		c.cfg.urls = flag_urls;
		memset(&flag_urls, 0, sizeof(flag_urls));
	} else if (env_urls != NULL && env_urls[0] != '\0') {
		if (config_strlist_split(&c.cfg.urls, env_urls) < 0) {
			log_error("out of memory");
			goto out;
		}
	}
	if (c.cfg.urls.n == 0 && config_strlist_split(&c.cfg.urls, DEFAULT_URL) < 0) {
		log_error("out of memory");
		goto out;
	}
	if ((spool_flag && set_str(c.cfg.spool_dir, sizeof(c.cfg.spool_dir), spool_flag,
	    "-s") < 0) ||
	    (cacert && set_str(c.cfg.ca_file, sizeof(c.cfg.ca_file), cacert, "--cacert") < 0) ||
	    (certf && set_str(c.cfg.cert_file, sizeof(c.cfg.cert_file), certf, "--cert") < 0) ||
	    (keyf && set_str(c.cfg.key_file, sizeof(c.cfg.key_file), keyf, "--key") < 0) ||
	    (tokfile && set_str(c.cfg.token_file, sizeof(c.cfg.token_file), tokfile,
	    "--token-file") < 0))
		goto out;
	if (timeout_flag > 0)
		c.cfg.timeout_s = timeout_flag;
	if (c.rpc_addr == NULL) {
		const char *e = getenv("SERF_RPC_ADDR");
		if (e != NULL && e[0] != '\0')
			c.rpc_addr = e;
	}
	if (c.cfg.spool_dir[0] == '\0' || c.cfg.label_tag[0] == '\0' ||
	    c.cfg.serial_tag[0] == '\0' || c.cfg.addr_tag[0] == '\0') {
		log_error("spool_dir, label_tag, serial_tag and addr_tag must not be empty");
		goto out;
	}

	c.deadline_ms = start + (long long)(c.cfg.timeout_s * 1000);
	/* Time kept for the spool write after a failed POST. */
	c.reserve_ms = (long)(c.cfg.timeout_s * 1000 / 4);
	if (c.reserve_ms > 1000)
		c.reserve_ms = 1000;

	if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(&c);
		goto out;
	}
	if (read_token(&c) < 0)
		goto out;
	c.dopts = (struct deliver_opts){
		.urls = c.cfg.urls.v,
		.nurls = c.cfg.urls.n,
		.token = c.token,
		.ca_file = c.cfg.ca_file[0] ? c.cfg.ca_file : NULL,
		.cert_file = c.cfg.cert_file[0] ? c.cfg.cert_file : NULL,
		.key_file = c.cfg.key_file[0] ? c.cfg.key_file : NULL,
		.deadline_ms = c.deadline_ms,
		.reserve_ms = c.reserve_ms,
	};
	if (strcmp(cmd, "flush") == 0)
		rc = cmd_flush(&c);
	else if (strcmp(cmd, "sync") == 0)
		rc = cmd_sync(&c);
	else
		rc = cmd_event(&c);
out:
	config_strlist_free(&flag_urls);
	config_strlist_free(&c.cfg.urls);
	free(c.token);
	return rc;
}
