/*
 * clusterm: flags, configuration, signals, start-up and orderly stop. The
 * main thread only waits for signals; civetweb's workers serve requests and
 * one ticker thread runs the timers (grace periods, disruption, snapshots).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include "cm_limits.h"
#include "conf.h"
#include "forget.h"
#include "fsio.h"
#include "http.h"
#include "httpc.h"
#include "apply.h"
#include "auth.h"
#include "instances.h"
#include "intake.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"
#include "oplog.h"
#include "streams.h"
#include "tls_setup.h"
#include "version.h"

#define TICK_MS			100
/* malloc arenas shared by all threads (glibc would make up to 8 per core). */
#define MALLOC_ARENAS		4
#define SNAPSHOT_CHECK_MS	1000
#define MAX_ROUTES		64

static pthread_mutex_t tick_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cv;	/* CLOCK_MONOTONIC, set up in main() */
static bool tick_stop;

static void
usage(FILE *f)
{
	fprintf(f, "usage: clusterm [-nv] [-c file] [-l addr:port] [-d state_dir] "
	    "[--insecure] [--version]\n");
}

static void
warn_cb(const char *msg, void *arg)
{
	(void)arg;
	log_warn("%s", msg);
}

static struct votes_params
params_of(const struct conf *c)
{
	struct votes_params p = {
		.grace_ms = c->grace_s * 1000LL,
		.quorum = c->quorum,
		.disruption_ratio = c->disruption_ratio,
		.disruption_window_ms = c->disruption_window_s * 1000LL,
		.reporter_stale_ms = c->reporter_stale_s * 1000LL,
		.hb_timeout_ms = c->heartbeat_timeout_s * 1000LL,
		.hb_interval_ms = c->heartbeat_interval_s * 1000LL,
		.reap_after_ms = c->reap_after_s * 1000LL,
		.observers = (uint32_t)c->observers,
	};
	return p;
}

static void *
ticker(void *arg)
{
	struct manager *m = arg;
	long long last_snap = fsio_mono_ms(), last_reconcile = fsio_mono_ms();
	char err[512];

	pthread_mutex_lock(&tick_mu);
	while (!tick_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&tick_cv, &tick_mu, &ts);
		if (tick_stop)
			break;
		pthread_mutex_unlock(&tick_mu);
		/* Timers and snapshots are the leader's. */
		if (!instances_leading(m)) {
			pthread_mutex_lock(&tick_mu);
			continue;
		}
		if (intake_tick(m->state) < 0)
			log_error("timer: the store refused a state change");
		if (forget_tick(m->state) < 0)
			log_error("reaper: the store refused a state change");
		if (fsio_mono_ms() - last_reconcile >= m->conf.reconcile_s * 1000LL) {
			last_reconcile = fsio_mono_ms();
			if (lifecycle_reconcile(m->lc) < 0)
				log_warn("job reconcile: the store refused a job change; again in "
				    "%ld s", m->conf.reconcile_s);
		}
		if (fsio_mono_ms() - last_snap >= SNAPSHOT_CHECK_MS) {
			last_snap = fsio_mono_ms();
			int rc = oplog_maybe_snapshot(m->state, false, err, sizeof(err));
			if (rc < 0)
				log_error("%s", err);
			else if (rc > 0)
				log_info("snapshot written");
		}
		pthread_mutex_lock(&tick_mu);
	}
	pthread_mutex_unlock(&tick_mu);
	return NULL;
}

static bool
is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "localhost:", 10) == 0 ||
	    strncmp(addr, "[::1]:", 6) == 0;
}


/* The state dir holds reports, job logs and the TLS key: the owner's only. */
static int
check_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		log_error("manager.state_dir: %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((st.st_mode & 0077) != 0) {
		log_error("manager.state_dir: %s is accessible by group or others (mode %04o): "
		    "chmod 700 it", dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}


/*
 * Loads the file (when given or present) and applies the flags over it. A
 * flag's error names the flag, a file's error the file and the key.
 */
static int
load_conf(struct conf *c, const char *file, bool file_given, const char *addr,
    const char *dir)
{
	bool from_file = file_given || access(CONF_DEFAULT_PATH, F_OK) == 0;
	char err[1024];

	conf_defaults(c);
	if (addr != NULL && conf_addr_check("-l", addr, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (dir != NULL && dir[0] != '/') {
		log_error("-d: '%s' must be an absolute path", dir);
		return -1;
	}
	if (from_file && conf_load(c, file, err, sizeof(err), warn_cb, NULL) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (addr != NULL && (size_t)snprintf(c->addr, sizeof(c->addr), "%s", addr) >=
	    sizeof(c->addr)) {
		log_error("-l: address too long");
		return -1;
	}
	if (dir != NULL && (size_t)snprintf(c->state_dir, sizeof(c->state_dir), "%s", dir) >=
	    sizeof(c->state_dir)) {
		log_error("-d: path too long");
		return -1;
	}
	if (conf_finish(c, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (conf_check(c, err, sizeof(err)) < 0) {
		/* The flags were checked above: what is left came from the file (or a default). */
		if (from_file)
			log_error("%s: %s", file, err);
		else
			log_error("%s", err);
		return -1;
	}
	return 0;
}

/* SIGHUP: the monitor and ansible sections are taken from the file again. */
static void
reload(struct manager *m, const char *file, bool file_given, struct http_server *http)
{
	struct votes_params params;
	struct conf c;
	char err[1024];

	/* Tokens first: a bad config file must not block their rotation. */
	if (m->conf.tokens_file[0] != '\0') {
		struct auth *a = NULL;
		if (auth_load(m->conf.tokens_file, &a, err, sizeof(err)) < 0)
			log_error("reload: %s; keeping the tokens in force", err);
		else {
			http_set_auth(http, a);
			log_info("reload: %zu token(s) from %s", auth_count(a),
			    m->conf.tokens_file);
		}
	}

	conf_defaults(&c);
	if ((file_given || access(CONF_DEFAULT_PATH, F_OK) == 0) &&
	    conf_load(&c, file, err, sizeof(err), warn_cb, NULL) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	snprintf(c.addr, sizeof(c.addr), "%s", m->conf.addr);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", m->conf.state_dir);
	if (conf_finish(&c, err, sizeof(err)) < 0 || conf_check(&c, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		conf_free(&c);
		return;
	}
	conf_free(&c);
	if (state_ansible_override(m->state) != NULL) {
		/* The file is the truth again; the override set through POST /config goes. */
		if (lifecycle_set_config(m->state, NULL, "SIGHUP", err, sizeof(err)) < 0)
			log_error("reload: %s", err);
		else
			log_info("reload: the ansible section set through POST /config is dropped");
	}
	params = params_of(&c);
	if (intake_set_params(m->state, &params, "SIGHUP") < 0)
		log_error("reload: the store refused the monitor parameters");
	state_wrlock(m->state);
	m->conf.grace_s = c.grace_s;
	m->conf.quorum = c.quorum;
	m->conf.disruption_ratio = c.disruption_ratio;
	m->conf.disruption_window_s = c.disruption_window_s;
	m->conf.reporter_stale_s = c.reporter_stale_s;
	m->conf.heartbeat_timeout_s = c.heartbeat_timeout_s;
	m->conf.heartbeat_interval_s = c.heartbeat_interval_s;
	m->conf.reap_after_s = c.reap_after_s;
	m->conf.observers = c.observers;
	m->conf.ansible = c.ansible;
	state_unlock(m->state);
	log_info("reloaded monitor and ansible sections (grace %lds, quorum %ld, reap after "
	    "%lds)", c.grace_s, c.quorum, c.reap_after_s);
}

/* What main() sets up, kept for the orderly stop. */
struct daemon {
	struct manager m;
	const char *file;		/* the configuration file */
	bool file_given, check_only;
	int verbose;
	struct auth *auth;		/* owned until http_set_auth() takes it */
	struct http_server *http;
	pthread_t tick_thread;
	sigset_t sigs;			/* taken by sigwait in main's thread */
	char tls_path[PATH_MAX];
};

/* The command line into d; -l and -d into *addr and *dir. 0 to go on, 1 to exit 0, -1 to exit 1. */
static int
parse_flags(int argc, char **argv, struct daemon *d, const char **addr, const char **dir)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:l:d:nvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': d->file = optarg; d->file_given = true; break;
		case 'l': *addr = optarg; break;
		case 'd': *dir = optarg; break;
		case 'n': d->check_only = true; break;
		case 'v': d->verbose++; break;
		case 'I': d->m.insecure = true; break;
		case 'V': printf("clusterm %s\n", PROJECT_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Loads the configuration and the tokens, and refuses an open address without them. */
static int
load_and_check(struct daemon *d, const char *addr, const char *dir)
{
	char err[1024];

	if (load_conf(&d->m.conf, d->file, d->file_given, addr, dir) < 0)
		return -1;
	if (d->m.conf.tokens_file[0] != '\0' &&
	    auth_load(d->m.conf.tokens_file, &d->auth, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (d->auth == NULL && !is_loopback(d->m.conf.addr) && !d->m.insecure) {
		log_error("manager.addr: %s is not a loopback address and no "
		    "auth.tokens_file is set; use --insecure to serve it anyway", d->m.conf.addr);
		return -1;
	}
	return 0;
}

/* -n: the configuration was good; the state directory too when it exists. The exit status. */
static int
run_check_only(struct daemon *d)
{
	if (access(d->m.conf.state_dir, F_OK) == 0 && check_state_dir(d->m.conf.state_dir) < 0) {
		auth_free(d->auth);
		return 1;
	}
	auth_free(d->auth);
	printf("configuration ok\n");
	return 0;
}

/* Signals are taken by sigwait in this thread; every other thread blocks them. */
static void
block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Opens the state (recovery) and applies the file's monitor parameters.
 * 0; -1 when nothing is open (exit at once); -2 when the state must be closed.
 */
static int
open_state(struct daemon *d)
{
	struct manager *m = &d->m;
	struct votes_params params, initial;
	pthread_condattr_t cattr;
	char err[1024];

	/*
	 * 128 civetweb workers would each get a malloc arena that keeps what
	 * its batches freed: a few shared arenas bound the footprint.
	 */
	mallopt(M_ARENA_MAX, MALLOC_ARENAS);
	pthread_condattr_init(&cattr);
	pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
	pthread_cond_init(&tick_cv, &cattr);
	pthread_condattr_destroy(&cattr);
	params = params_of(&m->conf);
	m->started_ms = fsio_now_ms();
	/* Before recovery writes anything there. */
	if (access(m->conf.state_dir, F_OK) == 0 && check_state_dir(m->conf.state_dir) < 0) {
		auth_free(d->auth);
		d->auth = NULL;
		return -1;
	}
	/*
	 * The log starts from the contract's defaults; the file's parameters
	 * are an operation of their own, so a replay anywhere gives the same.
	 */
	{
		struct conf defaults;
		conf_defaults(&defaults);
		initial = params_of(&defaults);
	}
	if (conf_is_etcd(&m->conf)) {
		if (instances_open(m, &initial) < 0)
			return -1;
	} else if (oplog_open(m->conf.state_dir, &initial, apply_op, NULL, &m->state, err,
	    sizeof(err), warn_cb, NULL) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (intake_set_params(m->state, &params, "clusterm") < 0) {
		log_error("the store refused the monitor parameters");
		return -2;
	}
	log_info("state %s: %zu nodes, %zu jobs recovered", m->conf.state_dir,
	    inventory_count(state_inventory(m->state)), state_njobs(m->state));
	return 0;
}

/* Starts the job runner and marks the jobs a stop interrupted. 0; -1: no runner; -2: stop it. */
static int
start_jobs(struct manager *m)
{
	int rc;

	if (lifecycle_start(m->state, &m->conf.ansible, m->conf.state_dir, m->conf.max_jobs,
	    m->conf.queue_jobs, &m->lc) < 0) {
		log_error("%s/jobs: cannot start the job runner", m->conf.state_dir);
		return -1;
	}
	/* On etcd, the jobs a stop left are the new leader's to end (instances.c). */
	rc = m->leader != NULL ? 0 : lifecycle_recover(m->lc);
	instances_ready(m);
	if (rc < 0) {
		log_error("job recovery: the store refused the change");
		return -2;
	}
	if (rc > 0)
		log_warn("%d job(s) were running when clusterm stopped: marked Errored", rc);
	return 0;
}

/* Every handler table, the TLS set-up, then the server, which takes d->auth. */
static int
start_http(struct daemon *d)
{
	static struct http_route routes[MAX_ROUTES];
	const struct http_route *tables[] = { api_monitor_routes, api_v1_routes,
		api_contiv_routes, api_config_routes, api_stream_routes, api_ui_routes };
	struct manager *m = &d->m;
	struct http_opts ho;
	char err[1024];
	int nroutes = 0;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct http_route *r = tables[t]; r->fn != NULL; r++)
			if (nroutes < MAX_ROUTES - 1)
				routes[nroutes++] = *r;
	if (m->conf.cert_file[0] != '\0') {
		/* civetweb loads OpenSSL at run time: make sure it could. */
		tls_load_shim();
		if ((mg_init_library(MG_FEATURES_TLS) & MG_FEATURES_TLS) == 0) {
			log_error("tls.cert_file: TLS cannot be initialised (civetweb could not "
			    "load libssl.so / libcrypto.so: install libssl-dev)");
			return -1;
		}
		if (tls_pem(&m->conf, d->tls_path, sizeof(d->tls_path)) < 0)
			return -1;
	} else {
		mg_init_library(0);
	}
	streams_init((int)m->conf.max_streams);
	memset(&ho, 0, sizeof(ho));
	ho.addr = m->conf.addr;
	ho.max_body = (size_t)m->conf.max_body_bytes;
	ho.routes = routes;
	ho.ctx = m;
	ho.tls_pem = d->tls_path;
	ho.tls_ca = m->conf.ca_file;
	if (http_start(&ho, &d->http, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	http_set_auth(d->http, d->auth);
	d->auth = NULL;
	return 0;
}

/* Serves until SIGTERM or SIGINT; SIGHUP reloads. */
static void
wait_for_stop(struct daemon *d)
{
	int sig;

	for (;;) {
		if (sigwait(&d->sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&d->m, d->file, d->file_given, d->http);
			continue;
		}
		log_info("signal %d: stopping", sig);
		break;
	}
}

/*
 * The orderly stop's first part: streams end first (a follower would hold
 * its worker, and mg_stop joins them all), then the ticker; main() then
 * stops HTTP, the jobs (SIGTERM, SIGKILL after a bound) and the store.
 */
static void
stop_streams_and_ticker(struct daemon *d)
{
	int left;

	oplog_wake_watchers(d->m.state, true);	/* event streams wait there */
	if ((left = streams_stop(STREAMS_STOP_WAIT_MS)) > 0)
		log_warn("%d stream(s) did not end within %d ms; closing them", left,
		    STREAMS_STOP_WAIT_MS);
	pthread_mutex_lock(&tick_mu);
	tick_stop = true;
	pthread_cond_signal(&tick_cv);
	pthread_mutex_unlock(&tick_mu);
	pthread_join(d->tick_thread, NULL);
}

int
main(int argc, char **argv)
{
	static struct daemon d;
	const char *addr = NULL, *dir = NULL;
	int rc = 1;

	d.file = CONF_DEFAULT_PATH;
	rc = parse_flags(argc, argv, &d, &addr, &dir);
	if (rc != 0)
		return rc > 0 ? 0 : 1;
	rc = 1;
	log_init("clusterm", d.verbose, false);
	if (load_and_check(&d, addr, dir) < 0)
		return 1;
	if (d.check_only)
		return run_check_only(&d);
	/* Insecure means what it says: no tokens in force (on any address). */
	d.m.insecure = d.m.insecure && d.auth == NULL;
	if (d.m.insecure)
		log_warn("--insecure: serving %s without authentication", d.m.conf.addr);
	else if (d.auth != NULL)
		log_info("auth: %zu token(s) from %s", auth_count(d.auth), d.m.conf.tokens_file);

	block_signals(&d.sigs);
	/* libcurl (the etcd client, forwarding to the leader): before any thread. */
	if (httpc_global_init() < 0) {
		log_error("libcurl cannot be initialised");
		return 1;
	}
	switch (open_state(&d)) {
	case -1: return 1;
	case -2: goto out_state;
	}
	switch (start_jobs(&d.m)) {
	case -1: goto out_state;
	case -2: goto out_lc;
	}
	if (start_http(&d) < 0)
		goto out_lc;
	if (pthread_create(&d.tick_thread, NULL, ticker, &d.m) != 0) {
		log_error("cannot start the timer thread");
		goto out_http;
	}
	log_info("clusterm %s listening on %s (port %d), state in %s", PROJECT_VERSION,
	    d.m.conf.addr, http_port(d.http), d.m.conf.state_dir);

	wait_for_stop(&d);
	rc = 0;
	stop_streams_and_ticker(&d);
out_http:
	streams_stop(0);
	http_stop(d.http);
out_lc:
	instances_quiesce(&d.m);
	lifecycle_stop(d.m.lc);
out_state:
	state_close(d.m.state);
	instances_close(&d.m);
	conf_free(&d.m.conf);
	auth_free(d.auth);
	mg_exit_library();
	log_info("stopped");
	return rc;
}
