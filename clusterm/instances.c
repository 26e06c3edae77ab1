/* Several instances on etcd: the store, the election, the role's hooks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "conf.h"
#include "instances.h"
#include "leader.h"
#include "lifecycle.h"
#include "log.h"
#include "oplog.h"
#include "ops.h"
#include "state.h"
#include "store.h"
#include "store_etcd.h"

/* An etcd call (a commit, a read) gets this long over all endpoints. */
#define INSTANCES_ETCD_TIMEOUT_MS	3000
/* A new leader's catch-up: between two tries when the log cannot be read to its end. */
#define INSTANCES_CATCHUP_RETRY_MS	200

static pthread_mutex_t role_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t role_cv = PTHREAD_COND_INITIALIZER;
static bool ready, quiesced;
static bool takeover_running, takeover_again;	/* role_mu */
static int64_t caught_up_rev;	/* role_mu: the term (leader_won_rev) caught up with, 0 none */
static int lock_fd = -1;

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * A new leader's catch-up: it acts only once it has applied the log up to
 * etcd's revision at the moment it won (won). A fenced no-op (a timer tick)
 * goes through the log: once it is applied here, so is everything before
 * it, won included. 0, or -EAGAIN when this term ended or the store did
 * not take it (then the caller tries again).
 */
static int
catch_up(struct manager *m, int64_t won)
{
	struct op op = { .kind = OP_TICK };
	struct store_stats st = { 0 };

	if (won == 0 || leader_won_rev(m->leader) != won)
		return -EAGAIN;
	if (oplog_submit(m->state, &op) < 0)
		return -EAGAIN;
	/* The store moves its position a moment after the record is applied. */
	for (int i = 0; i < INSTANCES_CATCHUP_RETRY_MS / 10; i++) {
		store_get_stats(state_store(m->state), &st);
		if (st.applied_rev >= won)
			break;
		nap_ms(10);
	}
	if (st.applied_rev < won || leader_won_rev(m->leader) != won)
		return -EAGAIN;
	return 0;
}

/*
 * Catches up, then ends the jobs a previous leader left; again when this
 * instance became the leader once more meanwhile. Detached: the leader
 * thread never waits on it. Until it is done, this instance does not act
 * as the leader (instances_leading): no timer, no reconcile.
 */
static void *
takeover(void *arg)
{
	struct manager *m = arg;
	int64_t warned = 0;

	pthread_mutex_lock(&role_mu);
	while (takeover_again && !quiesced) {
		int64_t won = leader_won_rev(m->leader);
		int rc;

		takeover_again = false;
		pthread_mutex_unlock(&role_mu);
		if (won == 0)
			goto next;	/* not leading (any more): nothing to take over */
		if (catch_up(m, won) < 0) {
			if (warned != won)	/* once a term: it retries every few hundred ms */
				log_warn("leader: the log is not applied up to revision %lld yet; "
				    "the takeover waits", (long long)won);
			warned = won;
			nap_ms(INSTANCES_CATCHUP_RETRY_MS);
			pthread_mutex_lock(&role_mu);
			takeover_again = true;
			continue;
		}
		log_info("leader: the log is applied up to revision %lld; taking over",
		    (long long)won);
		rc = lifecycle_takeover(m->lc);
		if (rc < 0) {
			log_error("leader: ending the jobs the previous leader left: the store "
			    "refused; trying again");
			nap_ms(INSTANCES_CATCHUP_RETRY_MS);
			pthread_mutex_lock(&role_mu);
			takeover_again = true;
			continue;
		}
		if (rc > 0)
			log_warn("leader: %d job(s) of the previous leader ended Errored", rc);
		pthread_mutex_lock(&role_mu);
		if (leader_won_rev(m->leader) == won)
			caught_up_rev = won;
		pthread_mutex_unlock(&role_mu);
next:
		pthread_mutex_lock(&role_mu);
	}
	takeover_running = false;
	pthread_cond_broadcast(&role_cv);
	pthread_mutex_unlock(&role_mu);
	return NULL;
}

/* The runner's deadline: the lease's, by this instance's clock (0 when not leading). */
static long long
lease_deadline(void *arg)
{
	struct manager *m = arg;

	return leader_deadline_ms(m->leader);
}

/* role_mu held: a takeover (a running one goes round once more). */
static void
start_takeover(struct manager *m)
{
	pthread_attr_t attr;
	pthread_t t;

	takeover_again = true;
	if (takeover_running)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	takeover_running = pthread_create(&t, &attr, takeover, m) == 0;
	pthread_attr_destroy(&attr);
	if (!takeover_running)
		log_error("leader: cannot start the takeover thread");
}

static void
on_lead(void *arg)
{
	struct manager *m = arg;

	pthread_mutex_lock(&role_mu);
	if (ready && !quiesced)
		start_takeover(m);
	pthread_mutex_unlock(&role_mu);
}

static void
on_depose(void *arg)
{
	struct manager *m = arg;
	int n;

	pthread_mutex_lock(&role_mu);
	caught_up_rev = 0;
	if (ready && !quiesced && (n = lifecycle_abandon(m->lc)) > 0)
		log_warn("leader: %d job(s) stopped: this instance no longer leads", n);
	pthread_mutex_unlock(&role_mu);
}

/* STATE_DIR exists (0700) and is ours alone: flock on STATE_DIR/lock. */
static int
lock_state_dir(const char *dir)
{
	char path[4200];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("%s: %s", dir, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("%s: %s", path, errno == EWOULDBLOCK ?
		    "another clusterm holds this state dir" : strerror(errno));
		close(lock_fd);
		lock_fd = -1;
		return -1;
	}
	return 0;
}

int
instances_open(struct manager *m, const struct votes_params *initial)
{
	const struct conf *c = &m->conf;
	struct leader_hooks hooks = { on_lead, on_depose, m };
	struct leader_opts lo;
	struct store_etcd_opts so;
	struct store *st;
	char err[1024];

	if (lock_state_dir(c->state_dir) < 0)
		return -1;
	memset(&lo, 0, sizeof(lo));
	lo.etcd.endpoints = (const char *const *)c->etcd_endpoints.v;
	lo.etcd.nendpoints = c->etcd_endpoints.n;
	lo.etcd.ca_file = c->etcd_ca_file;
	lo.etcd.cert_file = c->etcd_cert_file;
	lo.etcd.key_file = c->etcd_key_file;
	lo.etcd.timeout_ms = INSTANCES_ETCD_TIMEOUT_MS;
	lo.etcd.attempt_timeout_ms = c->endpoint_timeout_ms;
	lo.prefix = c->etcd_prefix;
	lo.instance_id = c->instance_id;
	lo.advertise_url = c->advertise_url;
	lo.lease_ttl_s = c->lease_ttl_s;
	if (leader_start(&lo, &hooks, &m->leader, err, sizeof(err)) < 0) {
		log_error("store.etcd: %s", err);
		return -1;
	}
	memset(&so, 0, sizeof(so));
	so.etcd = lo.etcd;
	so.prefix = c->etcd_prefix;
	so.instance_id = c->instance_id;
	so.leader = m->leader;
	if (store_open_etcd(&so, &st, err, sizeof(err)) < 0 ||
	    oplog_open_store(st, initial, apply_op, NULL, &m->state, err, sizeof(err), NULL,
	    NULL) < 0) {
		log_error("store.etcd (%s%s): %s", c->etcd_prefix, "/", err);
		leader_stop(m->leader);
		m->leader = NULL;
		return -1;
	}
	oplog_set_snapshot_records(m->state, (uint64_t)c->snapshot_records);
	log_info("etcd: instance %s (%s) on %zu endpoint(s), prefix %s, lease %ld s",
	    c->instance_id, c->advertise_url, c->etcd_endpoints.n, c->etcd_prefix,
	    c->lease_ttl_s);
	return 0;
}

void
instances_ready(struct manager *m)
{
	if (m->leader == NULL)
		return;
	if (lifecycle_set_deadline(m->lc, lease_deadline, m) < 0)
		log_error("leader: the job runner's watchdog cannot start");
	pthread_mutex_lock(&role_mu);
	ready = true;
	if (leader_is_leader(m->leader))
		start_takeover(m);
	pthread_mutex_unlock(&role_mu);
}

bool
instances_leading(struct manager *m)
{
	int64_t won;
	bool b;

	if (m->leader == NULL)
		return true;
	won = leader_won_rev(m->leader);
	pthread_mutex_lock(&role_mu);
	b = won != 0 && caught_up_rev == won;
	pthread_mutex_unlock(&role_mu);
	return b && leader_is_leader(m->leader);
}

void
instances_quiesce(struct manager *m)
{
	if (m->leader == NULL)
		return;
	pthread_mutex_lock(&role_mu);
	quiesced = true;
	while (takeover_running)
		pthread_cond_wait(&role_cv, &role_mu);
	pthread_mutex_unlock(&role_mu);
}

void
instances_close(struct manager *m)
{
	leader_stop(m->leader);
	m->leader = NULL;
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
}
