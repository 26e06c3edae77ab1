/*
 * The sync command: `serf members` as one snapshot, posted after the spool
 * has been replayed (the snapshot is newer than anything queued).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cmd.h"
#include "fsio.h"
#include "log.h"
#include "observe.h"
#include "report_json.h"
#include "run.h"
#include "serf_input.h"
#include "text.h"
#include "tick.h"

/*
 * `serf <cmd> -format json [-rpc-addr A]` into a malloc'd string; what
 * the command run (who: "sync", "tick") says to the log names serf's
 * stderr when it failed.
 */
static int
serf_json(struct ctx *c, const char *who, const char *cmd, char **ret, size_t *ret_len)
{
	char *argv[] = { "serf", (char *)cmd, "-format", "json", NULL, NULL, NULL };
	char err[RUN_ERR_MAX];
	int r;

	if (c->rpc_addr != NULL) {
		argv[4] = "-rpc-addr";
		argv[5] = (char *)c->rpc_addr;
	}
	r = run_capture(argv, c->deadline_ms - c->reserve_ms, ret, ret_len, err, sizeof(err));
	if (r < 0)
		log_error("%s: serf %s%s%s: %s%s%s%s", who, cmd, c->rpc_addr ? " -rpc-addr " : "",
		    c->rpc_addr ? c->rpc_addr : "", r == -ECHILD ? "failed" :
		    r == -ETIMEDOUT ? "no answer within the time bound" : strerror(-r),
		    err[0] ? " (serf said: " : "", err, err[0] ? ")" : "");
	return r;
}

int
cmd_self_name(struct ctx *c, const char *who, char **ret)
{
	const char *pick;
	enum tick_name_src src;
	char *stored = NULL, *out = NULL, *name = NULL;
	size_t len;
	int r;

	tick_self_load(c->cfg.spool_dir, &stored);
	if (tick_name_pick(getenv("SERF_SELF_NAME"), c->cfg.node_name, stored, &pick,
	    &src) == 0) {
		name = strdup(pick);
		free(stored);
		if (name == NULL)
			return -ENOMEM;
		log_debug("%s: node name %s (from %s)", who, name, tick_name_src_str(src));
		*ret = name;
		return 0;
	}
	free(stored);
	if ((r = serf_json(c, who, "info", &out, &len)) < 0)
		return r;
	r = tick_info_name(out, len, &name);
	free(out);
	if (r == -EBADMSG)
		log_error("%s: no valid agent.name in `serf info` output", who);
	if (r < 0)
		return r;
	log_debug("%s: node name %s (from serf info)", who, name);
	*ret = name;
	return 0;
}

/*
 * The members as one discovered batch in b; a member that makes no report
 * is logged and counted in *nbad. 0 or -ENOMEM.
 */
static int
sync_collect(struct ctx *c, const struct serf_members *ms, struct batch *b, size_t *nbad)
{
	char err[256];
	int r;

	b->kind = REPORT_KIND_DISCOVERED;
	b->t_ms = fsio_now_ms();
	for (size_t i = 0; i < ms->n; i++) {
		struct report rep;
		r = batch_member_report(&ms->v[i], NULL, &(struct batch_tags){
		    c->cfg.label_tag, c->cfg.serial_tag, c->cfg.addr_tag }, &rep, err,
		    sizeof(err));
		if (r < 0) {
			log_warn("sync: member %s left out: %s", ms->v[i].name, err);
			(*nbad)++;
			continue;
		}
		if (batch_add(b, &rep) < 0) {
			report_finish(&rep);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Posts the snapshot b (numbered) as body and logs the run's line: the
 * exit code.
 */
static int
sync_post(struct ctx *c, struct spool *sp, const struct batch *b, const char *self,
    const char *body, size_t len, size_t nbad, const char *replay, bool *ret_unreached)
{
	struct deliver_result res = { .st = DELIVER_RETRY };
	int rc;

	if (deliver_post(&c->dopts, "/monitor/snapshot", body, len, self, b->epoch, b->seq,
	    &res) < 0)
		return EXIT_FAIL;
	if (res.st == DELIVER_OK) {
		log_info("sync from %s: %zu members, %zu left out -> delivered to %s (seq %llu)%s",
		    self, b->n + nbad, nbad, res.url, b->seq, replay);
		rc = nbad > 0 ? EXIT_REJECTED : 0;
	} else if (res.st == DELIVER_REJECTED) {
		spool_reject(sp, b, body, res.status, res.reply ? res.reply : "");
		log_error("sync from %s: snapshot REJECTED (%s/rejected): %s", self,
		    c->cfg.spool_dir, res.err);
		rc = EXIT_REJECTED;
	} else {
		log_error("sync from %s: snapshot not delivered: %s", self, res.err);
		spool_set_error(sp, res.err);
		*ret_unreached = true;
		rc = EXIT_FAIL;
	}
	deliver_result_finish(&res);
	return rc;
}

int
cmd_sync_as(struct ctx *c, const char *self, bool *ret_unreached)
{
	struct serf_members ms = { 0 };
	struct deliver_stats st;
	struct spool *sp = NULL;
	struct batch b;
	char *out = NULL, *arr = NULL, *body = NULL, err[256], replay[256];
	size_t len, nbad = 0;
	bool pending = false;
	int r, rc = 0;

	*ret_unreached = false;
	batch_init(&b);
	if (serf_json(c, "sync", "members", &out, &len) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	if ((r = serf_input_parse_members_json(out, len, &ms, err, sizeof(err))) < 0) {
		log_error("sync: %s", r == -ENOMEM ? "out of memory" : err);
		rc = EXIT_FAIL;
		goto out;
	}
	if (sync_collect(c, &ms, &b, &nbad) < 0) {
		rc = EXIT_FAIL;
		goto out;
	}
	{
		/* Observers in force: the view of itself and its subjects only. */
		struct observe obs;
		cmd_observe_load(c, &obs);
		cmd_observe_filter(&obs, self, &b, NULL);
		observe_finish(&obs);
	}
	if (cmd_open_spool(c, false, &sp, NULL, &pending) < 0) {
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
	r = deliver_spool(sp, &c->dopts, &st, cmd_on_note, c->cfg.spool_dir);
	cmd_fmt_replay(&st, replay, sizeof(replay));
	free(st.observe);	/* an event run or a tick takes assignments */
	if (r < 0) {
		log_error("sync: spool not empty, snapshot not sent: %s%s",
		    r == -EAGAIN ? st.err : strerror(-r), replay);
		*ret_unreached = r == -EAGAIN;
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
	rc = sync_post(c, sp, &b, self, body, len, nbad, replay, ret_unreached);
out:
	spool_close(sp);
	batch_finish(&b);
	serf_members_finish(&ms);
	free(out);
	free(arr);
	free(body);
	return rc;
}

int
cmd_sync(struct ctx *c)
{
	char *self = NULL;
	bool unreached;
	int rc;

	if (cmd_self_name(c, "sync", &self) < 0)
		return EXIT_FAIL;
	rc = cmd_sync_as(c, self, &unreached);
	free(self);
	return rc;
}
