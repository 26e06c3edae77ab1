/*
 * serf-forwarder's commands (event, flush, status, sync, tick) and what they
 * share: the settled configuration, the time bound and the exit codes.
 * main.c fills a struct ctx from the file, the environment and the flags.
 */
#ifndef CMD_H
#define CMD_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "deliver.h"
#include "report.h"
#include "seen.h"
#include "spool.h"

#define EXIT_USAGE	1
#define EXIT_FAIL	2
#define EXIT_REJECTED	3

#define TAG_NAME_LEN	(LIMIT_TAG_KEY_LEN + 1)

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
	long tick_s;			/* the period ticks run at; bounds a tick's run */
	long sync_interval_s;		/* a tick syncs this often (less jitter) */
	char node_name[LIMIT_MEMBER_NAME_LEN + 1];	/* a tick's/sync's name, "" */
	char rpc_addr[256];		/* serf's RPC address, "" = serf's default */
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

/* Each command returns the process's exit code and logs its one line. */
int cmd_event(struct ctx *c);
int cmd_flush(struct ctx *c);
int cmd_status(struct ctx *c);
int cmd_sync(struct ctx *c);
int cmd_tick(struct ctx *c);

/*
 * sync under the name self; *ret_unreached is set when it failed for
 * want of clusterm (no URL took the spool or the snapshot).
 */
int cmd_sync_as(struct ctx *c, const char *self, bool *ret_unreached);
/*
 * This node's name for a run without SERF_SELF_NAME: SERF_SELF_NAME,
 * node_name, the last event run's (spool dir), else `serf info`. *ret is
 * malloc'd. 0 or -errno (logged, who being the command).
 */
int cmd_self_name(struct ctx *c, const char *who, char **ret);

void cmd_usage(FILE *f);

struct observe;
struct batch;
/* Loads the assignment from the spool dir and sets X-Observe-Version (cmd_observe.c). */
void cmd_observe_load(struct ctx *c, struct observe *o);
/*
 * Drops b's reports on members that are neither self nor o's subjects;
 * returns how many. With left, copies of them are added there (-ENOMEM
 * leaves them out of left only: they were left out of b anyway).
 */
size_t cmd_observe_filter(const struct observe *o, const char *self, struct batch *b,
    struct batch *left);
/*
 * Moves back into b the reports of left that o now wants (a member that
 * became a subject in this run: its gone report must not be lost);
 * returns how many. -ENOMEM: none moved.
 */
int cmd_observe_restore(const struct observe *o, const char *self, struct batch *b,
    struct batch *left);
/*
 * Takes a reply's "observe" (json, malloc'd, freed here; NULL: none): a new
 * assignment is saved and replaces *o; with sp, the members seen among its
 * new subjects are queued and delivered in this run. Malformed: logged,
 * ignored. With ret_sent (kind set by the caller), copies of the reports
 * of that kind so queued are added to it; *ret_behind (may be NULL) tells
 * whether they were left in the spool undelivered.
 */
void cmd_observe_take(struct ctx *c, struct spool *sp, const char *self, struct observe *o,
    char *json, struct batch *ret_sent, bool *ret_behind);

/*
 * Opens the spool within the bound, loads seen and moves incoming/ into
 * the queue (see cmd.c). *ret is closed by spool_close, *ret_seen (when
 * asked for) freed by seen_free. 0 or -errno, logged.
 */
int cmd_open_spool(struct ctx *c, bool quiet_busy, struct spool **ret,
    struct seen **ret_seen, bool *ret_pending);
/* The replay's part of a run's one line ("" when nothing was replayed). */
void cmd_fmt_replay(const struct deliver_stats *st, char *buf, size_t len);
/* deliver_spool's note callback: arg is the spool directory. */
void cmd_on_note(const char *what, unsigned long long seq, const char *detail, void *arg);

#endif
