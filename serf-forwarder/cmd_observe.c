/*
 * Observers in the runs that post (observe.h): the assignment held goes
 * out as X-Observe-Version, a reply's new one is kept, and the members seen
 * among its new subjects are reported in the same run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fsio.h"
#include "log.h"
#include "observe.h"

/* The text of X-Observe-Version for c->dopts (one assignment per process). */
static char version_text[32];

static void
set_header(struct ctx *c, const struct observe *o)
{
	if (!o->known) {
		c->dopts.observe_version = NULL;
		return;
	}
	snprintf(version_text, sizeof(version_text), "%llu", o->version);
	c->dopts.observe_version = version_text;
}

void
cmd_observe_load(struct ctx *c, struct observe *o)
{
	char why[512];
	int r = observe_load(c->cfg.spool_dir, o, why, sizeof(why));

	if (r < 0) {
		/* Unreadable or damaged: as if none was received (every member reported). */
		log_warn("observers: %s/%s ignored: %s", c->cfg.spool_dir, OBSERVE_FILE,
		    r == -ENOMEM ? "out of memory" : why);
		observe_finish(o);
	}
	set_header(c, o);
}

size_t
cmd_observe_filter(const struct observe *o, const char *self, struct batch *b,
    struct batch *left)
{
	size_t left_out = 0;

	for (size_t i = b->n; i-- > 0;) {
		if (!observe_wants(o, self, b->reports[i].name)) {
			if (left != NULL && batch_add_copy(left, &b->reports[i]) < 0)
				log_warn("observers: out of memory keeping a left-out report");
			batch_remove(b, i);
			left_out++;
		}
	}
	return left_out;
}

int
cmd_observe_restore(const struct observe *o, const char *self, struct batch *b,
    struct batch *left)
{
	int moved = 0;

	for (size_t i = left->n; i-- > 0;) {
		if (!observe_wants(o, self, left->reports[i].name))
			continue;
		if (batch_add_copy(b, &left->reports[i]) < 0)
			return -ENOMEM;
		batch_remove(left, i);
		moved++;
	}
	return moved;
}

/*
 * The reports of seen on members among now's subjects that old did not
 * have (all of them when old filtered nothing) into nb, as kind. -ENOMEM.
 */
static int
new_subjects(struct batch *nb, enum report_kind kind, const char *self, const struct batch *seen,
    const struct observe *old, const struct observe *now)
{
	nb->kind = kind;
	nb->t_ms = fsio_now_ms();
	if ((nb->reporter = strdup(self)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < seen->n; i++) {
		const char *name = seen->reports[i].name;
		if (name == NULL || !observe_has(now, name) ||
		    (old->known && old->on && observe_has(old, name)))
			continue;
		if (batch_add_copy(nb, &seen->reports[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Queues the members seen among the subjects of now that old did not have
 * (all of them when old filtered nothing), alive as discovered and gone as
 * disappeared (a failure seen while the member was not a subject yet is
 * not lost), and delivers the spool. Copies of the reports queued of
 * sent->kind go to sent (when not NULL); *behind is set when the spool was
 * left undelivered. Returns a further assignment from those replies
 * (malloc'd) or NULL.
 */
static char *
report_new_subjects(struct ctx *c, struct spool *sp, const char *self,
    const struct observe *old, const struct observe *now, struct batch *sent, bool *behind)
{
	struct batch seen, gone, nb[2];
	struct deliver_stats st;
	bool compacted = false;
	char *next = NULL;
	size_t queued = 0;
	int r;

	batch_init(&nb[0]);
	batch_init(&nb[1]);
	if (observe_members_load(c->cfg.spool_dir, &seen, &gone) < 0) {
		batch_finish(&seen);
		return NULL;
	}
	if (new_subjects(&nb[0], REPORT_KIND_DISCOVERED, self, &seen, old, now) < 0 ||
	    new_subjects(&nb[1], REPORT_KIND_DISAPPEARED, self, &gone, old, now) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		if (nb[i].n == 0)
			continue;
		if ((r = spool_assign(sp, &nb[i])) < 0 ||
		    (r = spool_push(sp, &nb[i], (unsigned long long)c->cfg.spool_max_bytes,
		    &compacted)) < 0) {
			log_warn("observers: the %zu members seen among the new subjects not "
			    "queued: spool %s: %s", nb[i].n, c->cfg.spool_dir, strerror(-r));
			goto out;
		}
		queued += nb[i].n;
		for (size_t j = 0; sent != NULL && nb[i].kind == sent->kind && j < nb[i].n; j++)
			if (batch_add_copy(sent, &nb[i].reports[j]) < 0)
				break;	/* left out of sent: reported once more, not lost */
	}
	if (queued == 0)
		goto out;
	r = deliver_spool(sp, &c->dopts, &st, cmd_on_note, c->cfg.spool_dir);
	if (r != 0)
		*behind = true;
	log_info("observers: %zu members seen among the new subjects of version %llu %s",
	    queued, now->version, r == 0 ? "delivered" : "queued in the spool");
	next = st.observe;
out:
	batch_finish(&nb[0]);
	batch_finish(&nb[1]);
	batch_finish(&seen);
	batch_finish(&gone);
	return next;
}

void
cmd_observe_take(struct ctx *c, struct spool *sp, const char *self, struct observe *o,
    char *json, struct batch *ret_sent, bool *ret_behind)
{
	bool behind = false;

	/* A reply that reports new subjects may carry a newer assignment still. */
	for (int round = 0; json != NULL && round < 3; round++) {
		struct observe now, old;
		char why[512];
		int r = observe_parse(json, &now, why, sizeof(why));

		if (r < 0) {
			log_warn("observers: a malformed assignment from clusterm ignored: %s: "
			    "%.200s", r == -ENOMEM ? "out of memory" : why, json);
			break;
		}
		free(json);
		json = NULL;
		if (o->known && now.version == o->version && now.on == o->on) {
			observe_finish(&now);
			break;
		}
		if ((r = observe_save(c->cfg.spool_dir, &now)) < 0)
			log_warn("observers: %s/%s not saved: %s", c->cfg.spool_dir,
			    OBSERVE_FILE, strerror(-r));
		log_info("observers: %s (version %llu, %zu subjects)", now.on ?
		    "assignment taken" : "off, every member reported", now.version, now.n);
		old = *o;
		*o = now;
		set_header(c, o);
		if (sp != NULL && o->on && self != NULL)
			json = report_new_subjects(c, sp, self, &old, o, ret_sent, &behind);
		observe_finish(&old);
	}
	free(json);
	if (ret_behind != NULL)
		*ret_behind = behind;
}
