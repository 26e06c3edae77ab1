/*
 * clusterctl's shared types, at the bottom of its modules: the state of one
 * invocation, exit statuses and option bits. ctl_url.c finds clusterm,
 * ctl_http.c talks to it, ctl_print.c prints, ctl_util.c holds the commands'
 * helpers, ctl_nodes.c, ctl_jobs.c, ctl_events.c, ctl_reporters.c,
 * ctl_cluster.c and ctl_config.c the commands, ctl_cmd.c their table and
 * help, ctl_help.c prints the help, clusterctl.c main and the option parser.
 * clusterctl.bash is the bash completion.
 */
#ifndef CTL_H
#define CTL_H

#include <stdbool.h>

/* Exit statuses (contract section 7). Commands return one of these. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_USAGE = 1,		/* bad command line */
	CTL_EXIT_REFUSED = 2,		/* the server answered with an error */
	CTL_EXIT_UNREACHABLE = 3,	/* no answer from the server */
};

/* Options a command may take beyond the global ones (-u, -j, --cacert, --token-file). */
#define CTL_OPT_EXTRA_VARS	(1u << 0)	/* -e/--extra-vars */
#define CTL_OPT_HOST_GROUP	(1u << 1)	/* -g/--host-group */
#define CTL_OPT_FOLLOW		(1u << 2)	/* -f/--follow */
#define CTL_OPT_NODE		(1u << 3)	/* --node */
#define CTL_OPT_SINCE		(1u << 4)	/* --since */
#define CTL_OPT_LIMIT		(1u << 5)	/* --limit */

#define CTL_DEFAULT_URL		"127.0.0.1:9007"
#define CTL_DEFAULT_CONF	"/etc/clusterm/clusterm.conf"
#define CTL_CONNECT_TIMEOUT_MS	5000L
#define CTL_TIMEOUT_MS		60000L
#define CTL_TOKEN_MAX		4096

/* One invocation. Strings point into argv or the environment, except token. */
struct ctl {
	const char *url;
	const char *url_from;		/* where url came from, for messages ("the default") */
	char url_buf[320];		/* backs url when it comes from clusterm.conf */
	char url_from_buf[300];
	char *const *names;		/* the nodes a request names, for messages; may be NULL */
	int nnames;
	const char *cacert;
	const char *cert;	/* client certificate for mutual TLS */
	const char *key;
	char *token;			/* owned, NULL for none */
	bool json;
	bool follow;
	const char *extra_vars;
	const char *host_group;
	const char *node;
	const char *since;
	const char *limit;
	unsigned given;			/* CTL_OPT_* seen on the command line */
};

#endif
