/* The event command's side of observers (observe.h, cmd_event_impl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_event_impl.h"
#include "fsio.h"
#include "log.h"

/* Appends b's members to the members seen (observe.h); a failure is logged. */
void
event_note_members(struct event_run *e, const struct batch *b)
{
	int r;

	if ((r = fsio_mkdir_p(e->c->cfg.spool_dir, 0700)) < 0 ||
	    (r = observe_members_update(e->c->cfg.spool_dir, b)) < 0)
		log_warn("%s: could not save %s/%s: %s", e->event, e->c->cfg.spool_dir,
		    OBSERVE_MEMBERS_FILE, strerror(-r));
}

/*
 * No assignment known yet: the own report is posted first, alone, so that
 * its reply tells whether observers are in force before the others are
 * sent (observe.h). Only when the spool is drained, and never spooled on
 * its own: when no URL takes it, it stays in b and goes (or is spooled)
 * with the rest in one batch, as without observers. Nothing to do when b
 * has no own report or nothing else. 0 or -ENOMEM.
 */
static int
event_probe(struct event_run *e, struct batch *b)
{
	struct deliver_result res = { .st = DELIVER_RETRY };
	struct batch first;
	char *body = NULL;
	size_t i;
	int r = 0;

	e->nprobe = 0;
	for (i = 0; i < b->n; i++)
		if (b->reports[i].name != NULL && strcmp(b->reports[i].name, e->self) == 0)
			break;
	if (i == b->n || b->n < 2 || !e->drained)
		return 0;
	batch_init(&first);
	first.kind = b->kind;
	first.t_ms = b->t_ms;
	if ((first.reporter = strdup(e->self)) == NULL ||
	    batch_add_copy(&first, &b->reports[i]) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (spool_assign(e->sp, &first) < 0)
		goto out;	/* no number: no probe, the batch goes whole */
	if ((body = batch_json(&first)) == NULL ||
	    deliver_post(&e->c->dopts, deliver_path(first.kind), body, strlen(body),
	    first.reporter, first.epoch, first.seq, &res) < 0) {
		r = -ENOMEM;
		goto out;
	}
	if (res.st != DELIVER_OK)
		goto out;	/* it goes with the rest (a seq left unused is allowed) */
	batch_remove(b, i);
	e->nprobe = 1;
	e->delivered++;
	e->accepted += res.accepted > 0 ? res.accepted : 0;
	e->duplicates += res.duplicates > 0 ? res.duplicates : 0;
	snprintf(e->first_seq, sizeof(e->first_seq), "%llu", first.seq);
	snprintf(e->outcome, sizeof(e->outcome), "delivered to %s", res.url);
	free(e->observe);
	e->observe = res.observe;
	res.observe = NULL;
out:
	deliver_result_finish(&res);
	free(body);
	batch_finish(&first);
	return r;
}

int
event_learn(struct event_run *e, struct observe *obs, struct batch *b, bool *noted)
{
	struct batch all, sent;
	int r, rc = 0;

	batch_init(&all);
	batch_init(&sent);
	e->observe = e->st.observe;
	e->st.observe = NULL;
	if (!obs->known && e->observe == NULL) {
		size_t before = e->delivered;
		/* b as read, for the members seen (the probe takes the own report out) */
		all.kind = b->kind;
		for (size_t i = 0; i < b->n; i++)
			if (batch_add_copy(&all, &b->reports[i]) < 0)
				goto oom;
		if (event_probe(e, b) < 0)
			goto oom;
		if (e->observe != NULL || e->delivered == before) {
			event_note_members(e, &all);
			*noted = true;
		}
		if (e->delivered > before && e->observe == NULL) {
			/* Answered without an assignment: observers are off. */
			obs->known = true;
			if ((r = observe_save(e->c->cfg.spool_dir, obs)) < 0)
				log_warn("%s: could not save %s/%s: %s", e->event, e->c->cfg.spool_dir,
				    OBSERVE_FILE, strerror(-r));
			cmd_observe_load(e->c, obs);
		}
	}
	if (e->observe != NULL) {
		bool behind = false;

		/* A new assignment before the rest goes: the rest follows it. */
		if (!*noted) {
			event_note_members(e, b);
			*noted = true;
		}
		sent.kind = b->kind;
		cmd_observe_take(e->c, e->sp, e->self, obs, e->observe, &sent, &behind);
		e->observe = NULL;
		/* Left in the spool: the rest must queue behind them, not overtake. */
		if (behind)
			e->drained = false;
		e->nfiltered += cmd_observe_filter(obs, e->self, b, NULL);
		/* Members that became subjects now: their reports go after all. */
		if ((r = cmd_observe_restore(obs, e->self, b, &e->left)) < 0)
			goto oom;
		e->nfiltered -= (size_t)r;
		/*
		 * Those of them reported just now as new subjects (from the
		 * members seen, this run's included) are not sent twice.
		 */
		e->nreported = observe_drop_reported(b, &sent);
	}
	goto out;
oom:
	rc = -ENOMEM;
out:
	batch_finish(&sent);
	batch_finish(&all);
	return rc;
}
