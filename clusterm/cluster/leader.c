/*
 * Leader election on an etcd lease: the instance key with the lowest
 * create revision leads. One thread renews the lease and reads the keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "fsio.h"
#include "leader.h"
#include "log.h"


struct leader {
	struct etcd *e;
	struct leader_hooks hooks;
	char prefix[256];		/* <prefix>/leader/ */
	char key[512];			/* <prefix>/leader/<id> */
	char value[LEADER_ID_MAX + LEADER_URL_MAX + 32];
	long ttl_s;
	int64_t lease;
	long long renewed_sent_ms;	/* monotonic send time of the last renewal that worked */
	pthread_t thread;
	volatile int stop;
	pthread_mutex_t mu;		/* the view and the fence */
	pthread_cond_t cv;
	struct leader_view view;
	int64_t fence;			/* create revision of our key while leading */
	int64_t won_rev;		/* etcd's revision when this term began, 0 none */
	bool lapsed;			/* the lease ran out here, then a renewal worked */
	char last_leader[LEADER_ID_MAX];	/* the leader the last read saw */
};

static void
sleep_ms(struct leader *l, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->mu);
	if (!l->stop)
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	pthread_mutex_unlock(&l->mu);
}

/* A new lease and our key under it (none there before). 0, or -EEXIST, -EAGAIN... */
static int
register_key(struct leader *l, char *err, size_t errlen)
{
	struct etcd_cmp c = { l->key, strlen(l->key), ETCD_CMP_VERSION, 0 };
	struct etcd_op op = { .type = ETCD_OP_PUT, .key = l->key, .key_len = strlen(l->key),
	    .value = l->value, .value_len = strlen(l->value) };
	long long sent = fsio_mono_ms();
	bool ok = false;
	int64_t rev;
	int rc;

	rc = etcd_lease_grant(l->e, l->ttl_s, &l->lease, err, errlen);
	if (rc < 0)
		return rc;
	op.lease = l->lease;
	rc = etcd_txn(l->e, &c, 1, &op, 1, &ok, &rev, err, errlen);
	if (rc < 0)
		return rc;
	if (!ok) {
		char e2[128];
		etcd_lease_revoke(l->e, l->lease, e2, sizeof(e2));
		l->lease = 0;
		snprintf(err, errlen, "another live instance holds the key %s (two instances "
		    "with the same manager.instance_id?)", l->key);
		return -EEXIST;
	}
	pthread_mutex_lock(&l->mu);
	l->renewed_sent_ms = sent;
	pthread_mutex_unlock(&l->mu);
	return 0;
}

/* Whether the lease still lives by this instance's clock. l->mu held. */
static bool
lease_alive(struct leader *l)
{
	return fsio_mono_ms() < l->renewed_sent_ms + l->ttl_s * 1000 - LEADER_MARGIN_MS;
}

/* Reads the instances; fills v and returns the create revision of our key (0: none). */
static int
read_instances(struct leader *l, struct leader_view *v, int64_t *ret_mine, int64_t *ret_rev,
    char *err, size_t errlen)
{
	struct etcd_range_req r = { .key = l->prefix, .key_len = strlen(l->prefix),
	    .sort_by_create = true };
	struct etcd_range_res res;
	char end[300];
	size_t endlen;
	long long now = fsio_now_ms();
	int rc;

	etcd_prefix_end(l->prefix, strlen(l->prefix), end, &endlen);
	r.range_end = end;
	r.range_end_len = endlen;
	rc = etcd_range(l->e, &r, &res, err, errlen);
	if (rc < 0)
		return rc;
	*ret_mine = 0;
	*ret_rev = res.header_rev;
	v->n = 0;
	v->leader[0] = v->leader_url[0] = '\0';
	for (size_t i = 0; i < res.n && v->n < LEADER_MAX_INSTANCES; i++) {
		struct leader_instance *in = &v->inst[v->n];
		cJSON *j = cJSON_ParseWithLength(res.kvs[i].value, res.kvs[i].value_len);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
		const cJSON *url = cJSON_GetObjectItemCaseSensitive(j, "url");

		if (cJSON_IsString(id) && cJSON_IsString(url)) {
			snprintf(in->id, sizeof(in->id), "%s", id->valuestring);
			snprintf(in->url, sizeof(in->url), "%s", url->valuestring);
			in->leader = v->n == 0;
			in->last_seen_ms = now;
			if (in->leader) {
				snprintf(v->leader, sizeof(v->leader), "%s", in->id);
				snprintf(v->leader_url, sizeof(v->leader_url), "%s", in->url);
			}
			v->n++;
		}
		cJSON_Delete(j);
	}
	/* Ours, among all of them (beyond the LEADER_MAX_INSTANCES shown too). */
	for (size_t i = 0; i < res.n; i++)
		if (strcmp(res.kvs[i].key, l->key) == 0 && res.kvs[i].lease == l->lease)
			*ret_mine = res.kvs[i].create_rev;
	if (*ret_mine != 0 && res.n > 0 && strcmp(res.kvs[0].key, l->key) != 0)
		*ret_mine = -*ret_mine;		/* ours, not the first: a follower */
	etcd_range_res_free(&res);
	return 0;
}

/* Sets the role (rev: etcd's revision as of the read that gave it); hooks outside the lock. */
static void
set_role(struct leader *l, bool leading, int64_t fence, int64_t rev)
{
	bool was;

	pthread_mutex_lock(&l->mu);
	was = l->view.is_leader;
	/* The lease ran out here meanwhile: that term is over, whatever etcd says now. */
	if (l->lapsed && was) {
		l->lapsed = false;
		l->view.is_leader = false;
		l->fence = 0;
		l->won_rev = 0;
		pthread_mutex_unlock(&l->mu);
		log_warn("leader: the lease of %s ran out here before its renewal", l->view.self);
		if (l->hooks.on_depose != NULL)
			l->hooks.on_depose(l->hooks.arg);
		pthread_mutex_lock(&l->mu);
		was = false;
	}
	l->lapsed = false;
	l->view.is_leader = leading;
	l->fence = leading ? fence : 0;
	if (leading && (!was || l->won_rev == 0))
		l->won_rev = rev;
	else if (!leading)
		l->won_rev = 0;
	pthread_mutex_unlock(&l->mu);
	if (leading && !was) {
		log_info("leader: this instance (%s) leads now", l->view.self);
		if (l->hooks.on_lead != NULL)
			l->hooks.on_lead(l->hooks.arg);
	} else if (!leading && was) {
		log_warn("leader: this instance (%s) no longer leads", l->view.self);
		if (l->hooks.on_depose != NULL)
			l->hooks.on_depose(l->hooks.arg);
	}
}

static void
set_etcd(struct leader *l, bool ok, const char *why)
{
	pthread_mutex_lock(&l->mu);
	if (ok != l->view.etcd_ok) {
		if (ok)
			log_info("leader: etcd answers again");
		else
			log_warn("leader: %s", why);
	}
	l->view.etcd_ok = ok;
	snprintf(l->view.why, sizeof(l->view.why), "%s", ok ? "" : why);
	pthread_mutex_unlock(&l->mu);
}

/* One round: renew when due, read the instances, take the role. */
static void
step(struct leader *l, long long *next_renew)
{
	char err[512] = "";
	struct leader_view v;
	int64_t mine = 0, rev = 0;
	bool alive;
	int rc = 0;

	/* While leading, no call outlasts the lease's time left here (0: no bound). */
	pthread_mutex_lock(&l->mu);
	etcd_set_deadline(l->e, l->view.is_leader ?
	    l->renewed_sent_ms + l->ttl_s * 1000 - LEADER_MARGIN_MS : 0);
	pthread_mutex_unlock(&l->mu);
	if (l->lease == 0) {
		rc = register_key(l, err, sizeof(err));
		if (rc < 0)
			goto fail;
		*next_renew = fsio_mono_ms() + l->ttl_s * 1000 / 3;
	} else if (fsio_mono_ms() >= *next_renew) {
		long ttl = 0;
		long long sent = fsio_mono_ms();
		rc = etcd_lease_keepalive(l->e, l->lease, &ttl, err, sizeof(err));
		if (rc < 0)
			goto fail;
		if (ttl <= 0) {
			/* Gone in etcd: a new lease and key, behind the others. */
			log_warn("leader: the lease of %s expired in etcd; registering again",
			    l->view.self);
			l->lease = 0;
			set_role(l, false, 0, 0);
			return;
		}
		pthread_mutex_lock(&l->mu);
		if (!lease_alive(l))
			l->lapsed = true;
		l->renewed_sent_ms = sent;
		pthread_mutex_unlock(&l->mu);
		*next_renew = sent + l->ttl_s * 1000 / 3;
	}
	memset(&v, 0, sizeof(v));
	rc = read_instances(l, &v, &mine, &rev, err, sizeof(err));
	if (rc < 0)
		goto fail;
	pthread_mutex_lock(&l->mu);
	if (v.leader[0] != '\0' && strcmp(v.leader, l->last_leader) != 0) {
		l->view.leader_changes++;
		snprintf(l->last_leader, sizeof(l->last_leader), "%s", v.leader);
	}
	l->view.n = v.n;
	memcpy(l->view.inst, v.inst, sizeof(v.inst));
	snprintf(l->view.leader, sizeof(l->view.leader), "%s", v.leader);
	snprintf(l->view.leader_url, sizeof(l->view.leader_url), "%s", v.leader_url);
	pthread_mutex_unlock(&l->mu);
	set_etcd(l, true, "");
	if (mine == 0) {
		/* Our key is gone (expired, deleted): register again. */
		l->lease = 0;
		set_role(l, false, 0, 0);
		return;
	}
	set_role(l, mine > 0, mine > 0 ? mine : 0, rev);
	return;
fail:
	set_etcd(l, false, err);
	/*
	 * Without a renewal for the lease's whole TTL it is as good as gone
	 * here: the term ends. The lease itself is kept and renewal tried on:
	 * etcd may still hold it (a renewal that only lost time on a silent
	 * member), and then its key, first of all, would block every other
	 * instance until it expired; renewed, it leads again in a new term
	 * (with its catch-up); gone in etcd, it registers again.
	 */
	pthread_mutex_lock(&l->mu);
	alive = lease_alive(l);
	pthread_mutex_unlock(&l->mu);
	if (l->lease != 0 && !alive) {
		set_role(l, false, 0, 0);
		pthread_mutex_lock(&l->mu);
		l->view.leader[0] = l->view.leader_url[0] = '\0';
		pthread_mutex_unlock(&l->mu);
	}
}

static void *
run(void *arg)
{
	struct leader *l = arg;
	long long next_renew = fsio_mono_ms() + l->ttl_s * 1000 / 3;

	while (!l->stop) {
		step(l, &next_renew);
		sleep_ms(l, LEADER_POLL_MS);
	}
	return NULL;
}

int
leader_start(const struct leader_opts *o, const struct leader_hooks *hooks,
    struct leader **ret, char *err, size_t errlen)
{
	struct leader *l = calloc(1, sizeof(*l));
	struct etcd_opts eo = o->etcd;
	long long deadline;
	cJSON *v;
	char *txt;
	int rc;

	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Each call gets a third of the TTL, so a renewal cannot outlive the lease. */
	eo.timeout_ms = o->lease_ttl_s * 1000 / 3;
	rc = etcd_new(&eo, &l->e, err, errlen);
	if (rc < 0) {
		free(l);
		return rc;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (hooks != NULL)
		l->hooks = *hooks;
	l->ttl_s = o->lease_ttl_s;
	snprintf(l->prefix, sizeof(l->prefix), "%s/leader/", o->prefix);
	snprintf(l->key, sizeof(l->key), "%s%s", l->prefix, o->instance_id);
	snprintf(l->view.self, sizeof(l->view.self), "%s", o->instance_id);
	v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "id", o->instance_id);
	cJSON_AddStringToObject(v, "url", o->advertise_url);
	txt = cJSON_PrintUnformatted(v);
	cJSON_Delete(v);
	if (txt == NULL) {
		leader_stop(l);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(l->value, sizeof(l->value), "%s", txt);
	free(txt);
	/*
	 * The key of this instance's previous run (killed) lives until its
	 * lease runs out: wait that long for it, no longer.
	 */
	deadline = fsio_mono_ms() + (o->lease_ttl_s + 2) * 1000LL;
	for (;;) {
		rc = register_key(l, err, errlen);
		if (rc != -EEXIST || fsio_mono_ms() > deadline)
			break;
		sleep_ms(l, LEADER_POLL_MS);
	}
	if (rc < 0) {
		leader_stop(l);
		return rc;
	}
	l->view.etcd_ok = true;
	if (pthread_create(&l->thread, NULL, run, l) != 0) {
		l->thread = 0;
		leader_stop(l);
		snprintf(err, errlen, "cannot start the leader thread");
		return -EAGAIN;
	}
	*ret = l;
	return 0;
}

void
leader_stop(struct leader *l)
{
	char err[256];

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	if (l->thread != 0)
		pthread_join(l->thread, NULL);
	set_role(l, false, 0, 0);
	etcd_set_deadline(l->e, 0);	/* the revoke gets the call's own timeout */
	if (l->lease != 0 && etcd_lease_revoke(l->e, l->lease, err, sizeof(err)) < 0)
		log_warn("leader: revoking the lease: %s", err);
	etcd_free(l->e);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

void
leader_get_view(struct leader *l, struct leader_view *ret)
{
	pthread_mutex_lock(&l->mu);
	*ret = l->view;
	pthread_mutex_unlock(&l->mu);
}

int64_t
leader_fence(struct leader *l, char *ret_key, size_t len)
{
	int64_t f;

	pthread_mutex_lock(&l->mu);
	f = l->fence;
	/* Past the lease's life here, even a leader that has not noticed yet writes nothing. */
	if (f != 0 && !lease_alive(l))
		f = 0;
	if (ret_key != NULL)
		snprintf(ret_key, len, "%s", l->key);
	pthread_mutex_unlock(&l->mu);
	return f;
}

bool
leader_is_leader(struct leader *l)
{
	bool b;

	pthread_mutex_lock(&l->mu);
	/* Past the lease's life here it leads no more, noticed or not (as leader_fence). */
	b = l->view.is_leader && lease_alive(l);
	pthread_mutex_unlock(&l->mu);
	return b;
}

long long
leader_deadline_ms(struct leader *l)
{
	long long d = 0;

	pthread_mutex_lock(&l->mu);
	if (l->view.is_leader)
		d = l->renewed_sent_ms + l->ttl_s * 1000 - LEADER_MARGIN_MS;
	pthread_mutex_unlock(&l->mu);
	return d;
}

int64_t
leader_won_rev(struct leader *l)
{
	int64_t r = 0;

	pthread_mutex_lock(&l->mu);
	if (l->view.is_leader && lease_alive(l))
		r = l->won_rev;
	pthread_mutex_unlock(&l->mu);
	return r;
}

bool
leader_etcd_ok(struct leader *l, char *why, size_t len)
{
	bool ok;

	pthread_mutex_lock(&l->mu);
	ok = l->view.etcd_ok;
	if (!ok && why != NULL)
		snprintf(why, len, "%s", l->view.why);
	pthread_mutex_unlock(&l->mu);
	return ok;
}
