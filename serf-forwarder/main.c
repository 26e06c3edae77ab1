/*
 * serf-forwarder: serf's event handler. Reads the event and its members,
 * posts one batch to clusterm or spools it durably, replaying the spool
 * first so that a reporter's batches arrive in order (CONTRACT section 6).
 * This file settles the configuration (defaults, file, environment, flags)
 * and runs one command (cmd_event.c, cmd_sync.c, cmd.c).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config.h"
#include "fsio.h"
#include "log.h"
#include "text.h"
#include "tick.h"
#include "version.h"

#define DEFAULT_CONFIG	"/etc/serf-forwarder.conf"
#define DEFAULT_SPOOL	"/var/spool/serf-forwarder"
#define DEFAULT_URL	"http://127.0.0.1:9007"

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
	{ "tick_s", CONFIG_INT, offsetof(struct fwd_config, tick_s), 0, 1, TICK_S_MAX, 0, 0 },
	{ "sync_interval_s", CONFIG_INT, offsetof(struct fwd_config, sync_interval_s), 0, 1,
	    SYNC_INTERVAL_S_MAX, 0, 0 },
	KEY_STR("node_name", node_name),
	KEY_STR("rpc_addr", rpc_addr),
};

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
	if (text_str_has_ctrl(buf)) {
		log_error("token_file %s holds control characters", c->cfg.token_file);
		free(buf);
		return -EINVAL;
	}
	c->token = buf;
	return 0;
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


/* What the command line says, before it is settled over the file. */
struct flags {
	struct config_strlist urls;
	const char *config_path, *spool_dir, *cacert, *token_file, *cert, *key;
	const char *rpc_addr;
	const char *cmd;
	double timeout;
	int verbose;
	bool version;
};

/*
 * Reads the options and the command into f. 0 to go on, else *ret_rc is
 * the exit code (-h, a bad flag) and the caller stops.
 */
static int
parse_flags(int argc, char **argv, struct flags *f, int *ret_rc)
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
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	*ret_rc = EXIT_USAGE;
	while ((opt = getopt_long(argc, argv, "c:u:s:t:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			f->config_path = optarg;
			break;
		case 'u': {
			char **v = realloc(f->urls.v, (f->urls.n + 1) * sizeof(*v));
			if (v == NULL || (v[f->urls.n] = strdup(optarg)) == NULL) {
				if (v != NULL)
					f->urls.v = v;
				log_error("out of memory");
				return -1;
			}
			f->urls.v = v;
			f->urls.n++;
			break;
		}
		case 's':
			f->spool_dir = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &f->timeout) < 0) {
				log_error("-t %s: expected seconds between 0.1 and 3600", optarg);
				return -1;
			}
			break;
		case 'v':
			f->verbose++;
			break;
		case 'h':
			cmd_usage(stdout);
			*ret_rc = 0;
			return -1;
		case 'C':
			f->cacert = optarg;
			break;
		case 'E':
			f->cert = optarg;
			break;
		case 'K':
			f->key = optarg;
			break;
		case 'T':
			f->token_file = optarg;
			break;
		case 'R':
			f->rpc_addr = optarg;
			break;
		case 'V':
			f->version = true;
			break;
		default:
			cmd_usage(stderr);
			return -1;
		}
	}
	if (optind < argc)
		f->cmd = argv[optind++];
	if (optind < argc) {
		log_error("unexpected argument %s", argv[optind]);
		cmd_usage(stderr);
		return -1;
	}
	return 0;
}

/* Defaults, then the file. 0 or -1 (logged). */
static int
load_config(struct ctx *c, const char *config_path)
{
	char err[512];
	int r;

	snprintf(c->cfg.spool_dir, sizeof(c->cfg.spool_dir), "%s", DEFAULT_SPOOL);
	c->cfg.timeout_s = 5;
	snprintf(c->cfg.label_tag, sizeof(c->cfg.label_tag), "NodeLabel");
	snprintf(c->cfg.serial_tag, sizeof(c->cfg.serial_tag), "NodeSerial");
	snprintf(c->cfg.addr_tag, sizeof(c->cfg.addr_tag), "NodeAddr");
	c->cfg.spool_max_bytes = LIMIT_SPOOL_BYTES_DEFAULT;
	c->cfg.tick_s = TICK_S_DEFAULT;
	c->cfg.sync_interval_s = SYNC_INTERVAL_S_DEFAULT;
	if (config_path != NULL || access(DEFAULT_CONFIG, F_OK) == 0) {
		const char *path = config_path ? config_path : DEFAULT_CONFIG;
		r = config_load_file(path, config_keys, sizeof(config_keys) /
		    sizeof(config_keys[0]), &c->cfg, err, sizeof(err), on_config_warn, NULL);
		if (r < 0) {
			log_error("config %s: %s", path, err);
			return -1;
		}
	}
	return 0;
}

/* The environment and the flags over the file; then the bound. 0 or -1. */
static int
apply_flags(struct ctx *c, struct flags *f, long long start)
{
	const char *env_urls = getenv("SERF_FORWARDER_URL");

	if (f->urls.n > 0) {
		config_strlist_free(&c->cfg.urls);
		c->cfg.urls = f->urls;
		memset(&f->urls, 0, sizeof(f->urls));
	} else if (env_urls != NULL && env_urls[0] != '\0') {
		if (config_strlist_split(&c->cfg.urls, env_urls) < 0) {
			log_error("out of memory");
			return -1;
		}
	}
	if (c->cfg.urls.n == 0 && config_strlist_split(&c->cfg.urls, DEFAULT_URL) < 0) {
		log_error("out of memory");
		return -1;
	}
	if ((f->spool_dir && set_str(c->cfg.spool_dir, sizeof(c->cfg.spool_dir),
	    f->spool_dir, "-s") < 0) ||
	    (f->cacert && set_str(c->cfg.ca_file, sizeof(c->cfg.ca_file), f->cacert,
	    "--cacert") < 0) ||
	    (f->cert && set_str(c->cfg.cert_file, sizeof(c->cfg.cert_file), f->cert,
	    "--cert") < 0) ||
	    (f->key && set_str(c->cfg.key_file, sizeof(c->cfg.key_file), f->key, "--key") < 0) ||
	    (f->token_file && set_str(c->cfg.token_file, sizeof(c->cfg.token_file),
	    f->token_file, "--token-file") < 0))
		return -1;
	if (f->timeout > 0)
		c->cfg.timeout_s = f->timeout;
	else if (strcmp(f->cmd, "tick") == 0 && c->cfg.timeout_s > (double)c->cfg.tick_s)
		c->cfg.timeout_s = (double)c->cfg.tick_s;	/* a tick ends within its period */
	c->rpc_addr = f->rpc_addr;
	if (c->rpc_addr == NULL) {
		const char *e = getenv("SERF_RPC_ADDR");
		if (e != NULL && e[0] != '\0')
			c->rpc_addr = e;
		else if (c->cfg.rpc_addr[0] != '\0')
			c->rpc_addr = c->cfg.rpc_addr;
	}
	if (c->cfg.node_name[0] != '\0' && !tick_name_valid(c->cfg.node_name)) {
		log_error("node_name holds control characters");
		return -1;
	}
	if (c->cfg.spool_dir[0] == '\0' || c->cfg.label_tag[0] == '\0' ||
	    c->cfg.serial_tag[0] == '\0' || c->cfg.addr_tag[0] == '\0') {
		log_error("spool_dir, label_tag, serial_tag and addr_tag must not be empty");
		return -1;
	}

	c->deadline_ms = start + (long long)(c->cfg.timeout_s * 1000);
	/* Time kept for the spool write after a failed POST. */
	c->reserve_ms = (long)(c->cfg.timeout_s * 1000 / 4);
	if (c->reserve_ms > 1000)
		c->reserve_ms = 1000;
	return 0;
}

/* Runs the settled command (not status or version): its exit code. */
static int
run_command(struct ctx *c, const char *cmd)
{
	if (read_token(c) < 0)
		return EXIT_USAGE;
	c->dopts = (struct deliver_opts){
		.urls = c->cfg.urls.v,
		.nurls = c->cfg.urls.n,
		.token = c->token,
		.ca_file = c->cfg.ca_file[0] ? c->cfg.ca_file : NULL,
		.cert_file = c->cfg.cert_file[0] ? c->cfg.cert_file : NULL,
		.key_file = c->cfg.key_file[0] ? c->cfg.key_file : NULL,
		.deadline_ms = c->deadline_ms,
		.reserve_ms = c->reserve_ms,
		.spool_depth = 0,
	};
	if (strcmp(cmd, "flush") == 0)
		return cmd_flush(c);
	if (strcmp(cmd, "sync") == 0)
		return cmd_sync(c);
	if (strcmp(cmd, "tick") == 0)
		return cmd_tick(c);
	return cmd_event(c);
}

int
main(int argc, char **argv)
{
	struct ctx c = { 0 };
	struct flags f = { .cmd = "event" };
	int rc = EXIT_USAGE;
	long long start = fsio_mono_ms();

	signal(SIGPIPE, SIG_IGN);
	log_init("serf-forwarder", 0, false);
	if (parse_flags(argc, argv, &f, &rc) < 0)
		goto out;
	rc = EXIT_USAGE;
	if (strcmp(f.cmd, "version") == 0 || f.version) {
		printf("serf-forwarder %s\n", PROJECT_VERSION);
		rc = 0;
		goto out;
	}
	if (strcmp(f.cmd, "event") != 0 && strcmp(f.cmd, "flush") != 0 &&
	    strcmp(f.cmd, "status") != 0 && strcmp(f.cmd, "sync") != 0 &&
	    strcmp(f.cmd, "tick") != 0) {
		log_error("unknown command %s", f.cmd);
		cmd_usage(stderr);
		goto out;
	}
	/* serf shows handler output only at debug level: mirror runs to syslog. */
	log_init("serf-forwarder", f.verbose, strcmp(f.cmd, "status") != 0);

	if (load_config(&c, f.config_path) < 0 || apply_flags(&c, &f, start) < 0)
		goto out;
	if (strcmp(f.cmd, "status") == 0)
		rc = cmd_status(&c);
	else
		rc = run_command(&c, f.cmd);
out:
	config_strlist_free(&f.urls);
	config_strlist_free(&c.cfg.urls);
	free(c.token);
	return rc;
}
