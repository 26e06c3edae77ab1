/*
 * clusterm: flags, configuration, signals, start-up and orderly stop. The
 * main thread only waits for signals; civetweb's workers serve requests and
 * one ticker thread runs the timers (grace periods, disruption, snapshots).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

#include "conf.h"
#include "fsio.h"
#include "http.h"
#include "intake.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"
#include "version.h"

#define TICK_MS			100
#define SNAPSHOT_CHECK_MS	1000
#define MAX_ROUTES		64

static pthread_mutex_t tick_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tick_cv = PTHREAD_COND_INITIALIZER;
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
	};
	return p;
}

static void *
ticker(void *arg)
{
	struct manager *m = arg;
	long long last_snap = fsio_mono_ms();
	char err[512];

	pthread_mutex_lock(&tick_mu);
	while (!tick_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&tick_cv, &tick_mu, &ts);
		if (tick_stop)
			break;
		pthread_mutex_unlock(&tick_mu);
		if (intake_tick(m->state, fsio_now_ms()) < 0)
			log_error("timer: the store refused a state change");
		if (fsio_mono_ms() - last_snap >= SNAPSHOT_CHECK_MS) {
			last_snap = fsio_mono_ms();
			int rc = state_maybe_snapshot(m->state, false, err, sizeof(err));
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

/* Loads the file (when given or present) and applies the flags over it. */
static int
load_conf(struct conf *c, const char *file, bool file_given, const char *addr,
    const char *dir)
{
	char err[1024];

	conf_defaults(c);
	if (file_given || access(CONF_DEFAULT_PATH, F_OK) == 0) {
		if (conf_load(c, file, err, sizeof(err), warn_cb, NULL) < 0) {
			log_error("%s", err);
			return -1;
		}
	}
	if (addr != NULL)
		snprintf(c->addr, sizeof(c->addr), "%s", addr);
	if (dir != NULL && (size_t)snprintf(c->state_dir, sizeof(c->state_dir), "%s", dir) >=
	    sizeof(c->state_dir)) {
		log_error("-d: path too long");
		return -1;
	}
	if (conf_check(c, err, sizeof(err)) < 0) {
		log_error("%s%s%s", file_given || access(CONF_DEFAULT_PATH, F_OK) == 0 ?
		    file : "", file_given ? ": " : "", err);
		return -1;
	}
	return 0;
}

/* SIGHUP: the monitor and ansible sections are taken from the file again. */
static void
reload(struct manager *m, const char *file, bool file_given)
{
	struct conf c;
	char err[1024];

	conf_defaults(&c);
	if ((file_given || access(CONF_DEFAULT_PATH, F_OK) == 0) &&
	    conf_load(&c, file, err, sizeof(err), warn_cb, NULL) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	snprintf(c.addr, sizeof(c.addr), "%s", m->conf.addr);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", m->conf.state_dir);
	if (conf_check(&c, err, sizeof(err)) < 0) {
		log_error("reload: %s; keeping the running configuration", err);
		return;
	}
	pthread_rwlock_wrlock(&m->state->lock);
	if (m->state->ansible_override != NULL) {
		uint64_t seq;
		/* The file is the truth again; the override set through POST /config goes. */
		state_set_ansible_override(m->state, NULL);
		state_event(m->state, "", "config", "api", "file", "SIGHUP",
		    "ansible section reloaded from the file");
		if (state_log(m->state, NULL, NULL, 0, &seq) < 0)
			log_error("reload: the store refused the change");
		log_info("reload: the ansible section set through POST /config is dropped");
	}
	m->state->params = params_of(&c);
	m->conf.grace_s = c.grace_s;
	m->conf.quorum = c.quorum;
	m->conf.disruption_ratio = c.disruption_ratio;
	m->conf.disruption_window_s = c.disruption_window_s;
	m->conf.ansible = c.ansible;
	pthread_rwlock_unlock(&m->state->lock);
	log_info("reloaded monitor and ansible sections (grace %lds, quorum %ld)",
	    c.grace_s, c.quorum);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "insecure", no_argument, NULL, 'I' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct http_route routes[MAX_ROUTES];
	const struct http_route *tables[] = { api_monitor_routes, api_v1_routes,
		api_contiv_routes };
	const char *file = CONF_DEFAULT_PATH, *addr = NULL, *dir = NULL;
	bool file_given = false, check_only = false;
	struct http_server *http = NULL;
	struct manager m;
	struct votes_params params;
	struct http_opts ho;
	pthread_t tick_thread;
	sigset_t sigs;
	char err[1024];
	int verbose = 0, opt, sig, nroutes = 0, rc = 1;

	memset(&m, 0, sizeof(m));
	while ((opt = getopt_long(argc, argv, "c:l:d:nvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': file = optarg; file_given = true; break;
		case 'l': addr = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': check_only = true; break;
		case 'v': verbose++; break;
		case 'I': m.insecure = true; break;
		case 'V': printf("clusterm %s\n", PROJECT_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	log_init("clusterm", verbose, false);
	if (load_conf(&m.conf, file, file_given, addr, dir) < 0)
		return 1;
	if (m.conf.tokens_file[0] != '\0' || m.conf.cert_file[0] != '\0') {
		log_error("%s: tokens and TLS are not supported by this build yet",
		    m.conf.tokens_file[0] ? "auth.tokens_file" : "tls.cert_file");
		return 1;
	}
	if (!is_loopback(m.conf.addr) && !m.insecure) {
		log_error("manager.addr: %s is not a loopback address and no "
		    "auth.tokens_file is set; use --insecure to serve it anyway", m.conf.addr);
		return 1;
	}
	if (check_only) {
		printf("configuration ok\n");
		return 0;
	}
	if (m.insecure)
		log_warn("--insecure: serving %s without authentication", m.conf.addr);

	/* Signals are taken by sigwait in this thread; every other thread blocks them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	params = params_of(&m.conf);
	m.started_ms = fsio_now_ms();
	if (state_open(m.conf.state_dir, &params, &m.state, err, sizeof(err), warn_cb,
	    NULL) < 0) {
		log_error("%s", err);
		return 1;
	}
	log_info("state %s: %zu nodes, %zu jobs recovered", m.conf.state_dir,
	    inventory_count(m.state->inv), m.state->njobs);
	if (lifecycle_start(m.state, &m.conf.ansible, m.conf.state_dir, m.conf.max_jobs,
	    &m.lc) < 0) {
		log_error("%s/jobs: cannot start the job runner", m.conf.state_dir);
		goto out_state;
	}
	rc = lifecycle_recover(m.lc);
	if (rc < 0) {
		log_error("job recovery: the store refused the change");
		rc = 1;
		goto out_lc;
	}
	if (rc > 0)
		log_warn("%d job(s) were running when clusterm stopped: marked Errored", rc);
	rc = 1;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct http_route *r = tables[t]; r->fn != NULL; r++)
			if (nroutes < MAX_ROUTES - 1)
				routes[nroutes++] = *r;
	mg_init_library(0);
	memset(&ho, 0, sizeof(ho));
	ho.addr = m.conf.addr;
	ho.max_body = (size_t)m.conf.max_body_bytes;
	ho.routes = routes;
	ho.ctx = &m;
	if (http_start(&ho, &http, err, sizeof(err)) < 0) {
		log_error("manager.addr: %s", err);
		goto out_lc;
	}
	if (pthread_create(&tick_thread, NULL, ticker, &m) != 0) {
		log_error("cannot start the timer thread");
		goto out_http;
	}
	log_info("clusterm %s listening on %s (port %d), state in %s", PROJECT_VERSION,
	    m.conf.addr, http_port(http), m.conf.state_dir);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&m, file, file_given);
			continue;
		}
		log_info("signal %d: stopping", sig);
		break;
	}
	rc = 0;
	pthread_mutex_lock(&tick_mu);
	tick_stop = true;
	pthread_cond_signal(&tick_cv);
	pthread_mutex_unlock(&tick_mu);
	pthread_join(tick_thread, NULL);
out_http:
	http_stop(http);
out_lc:
	lifecycle_stop(m.lc);
out_state:
	state_close(m.state);
	mg_exit_library();
	log_info("stopped");
	return rc;
}
