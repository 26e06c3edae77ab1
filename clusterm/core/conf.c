/* clusterm.conf: key table, defaults and checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_limits.h"
#include "conf.h"
#include "config.h"
#include "rings.h"
#include "text.h"

#include <pthread.h>

#define S(field) offsetof(struct conf, field), sizeof(((struct conf *)0)->field)
#define L(field) offsetof(struct conf, field), 0
#define AN(field) offsetof(struct ansible_conf, field), sizeof(((struct ansible_conf *)0)->field)
#define LAN(field) offsetof(struct ansible_conf, field), 0

/* The ansible section, relative to struct ansible_conf (POST /config uses it alone). */
static const struct config_key ansible_keys[] = {
	{ "ansible.command", CONFIG_STRING, AN(command), 0, 0, 0, 0 },
	{ "ansible.playbook_location", CONFIG_STRING, AN(playbook_location), 0, 0, 0, 0 },
	{ "ansible.configure_playbook", CONFIG_STRING, AN(configure_playbook), 0, 0, 0, 0 },
	{ "ansible.cleanup_playbook", CONFIG_STRING, AN(cleanup_playbook), 0, 0, 0, 0 },
	{ "ansible.upgrade_playbook", CONFIG_STRING, AN(upgrade_playbook), 0, 0, 0, 0 },
	{ "ansible.extra_variables", CONFIG_STRING, AN(extra_variables), 0, 0, 0, 0 },
	{ "ansible.user", CONFIG_STRING, AN(user), 0, 0, 0, 0 },
	{ "ansible.priv_key_file", CONFIG_STRING, AN(priv_key_file), 0, 0, 0, 0 },
	{ "ansible.timeout_s", CONFIG_INT, LAN(timeout_s), 0, 7 * 86400, 0, 0 },
	/* A whole contiv config may be posted: its other sections are not ours. */
	{ "serf", CONFIG_IGNORED, 0, 0, 0, 0, 0, 0 },
	{ "inventory", CONFIG_IGNORED, 0, 0, 0, 0, 0, 0 },
};
#define NANSIBLE (sizeof(ansible_keys) / sizeof(ansible_keys[0]))

static const struct config_key base_keys[] = {
	{ "manager.addr", CONFIG_STRING, S(addr), 0, 0, 0, 0 },
	{ "manager.state_dir", CONFIG_STRING, S(state_dir), 0, 0, 0, 0 },
	{ "manager.max_jobs", CONFIG_INT, L(max_jobs), 1, 64, 0, 0 },
	{ "manager.queue_jobs", CONFIG_BOOL, L(queue_jobs), 0, 0, 0, 0 },
	{ "manager.reconcile_s", CONFIG_INT, L(reconcile_s), CONF_RECONCILE_MIN,
	    CONF_RECONCILE_MAX, 0, 0 },
	{ "manager.max_streams", CONFIG_INT, L(max_streams), 1, LIMIT_STREAMS_MAX, 0, 0 },
	{ "manager.max_body_bytes", CONFIG_INT, L(max_body_bytes), 1024,
	    LIMIT_BODY_BYTES_MAX, 0, 0 },
	{ "monitor.grace_s", CONFIG_INT, L(grace_s), 0, 86400, 0, 0 },
	{ "monitor.quorum", CONFIG_INT, L(quorum), 0, 100000, 0, 0 },
	{ "monitor.disruption_ratio", CONFIG_DOUBLE, L(disruption_ratio), 0, 0, 0.0, 1.0 },
	{ "monitor.disruption_window_s", CONFIG_INT, L(disruption_window_s), 1, 86400, 0, 0 },
	{ "monitor.reporter_stale_s", CONFIG_INT, L(reporter_stale_s), 1, 86400, 0, 0 },
	{ "monitor.heartbeat_timeout_s", CONFIG_INT, L(heartbeat_timeout_s), 1, 86400, 0, 0 },
	{ "monitor.heartbeat_interval_s", CONFIG_INT, L(heartbeat_interval_s), 0, 86400, 0, 0 },
	{ "monitor.reap_after_s", CONFIG_INT, L(reap_after_s), 0, CONF_REAP_AFTER_MAX, 0, 0 },
	{ "monitor.observers", CONFIG_INT, L(observers), 0, RINGS_MAX_K, 0, 0 },
	{ "auth.tokens_file", CONFIG_STRING, S(tokens_file), 0, 0, 0, 0 },
	{ "auth.reporter_from_cert", CONFIG_BOOL, L(reporter_from_cert), 0, 0, 0, 0 },
	{ "tls.cert_file", CONFIG_STRING, S(cert_file), 0, 0, 0, 0 },
	{ "tls.key_file", CONFIG_STRING, S(key_file), 0, 0, 0, 0 },
	{ "tls.ca_file", CONFIG_STRING, S(ca_file), 0, 0, 0, 0 },
	{ "manager.instance_id", CONFIG_STRING, S(instance_id), 0, 0, 0, 0 },
	{ "manager.advertise_url", CONFIG_STRING, S(advertise_url), 0, 0, 0, 0 },
	{ "store.backend", CONFIG_STRING, S(store_backend), 0, 0, 0, 0 },
	{ "store.etcd.endpoints", CONFIG_STRLIST, L(etcd_endpoints), 0, 0, 0, 0 },
	{ "store.etcd.prefix", CONFIG_STRING, S(etcd_prefix), 0, 0, 0, 0 },
	{ "store.etcd.lease_ttl_s", CONFIG_INT, L(lease_ttl_s), CONF_LEASE_TTL_MIN,
	    CONF_LEASE_TTL_MAX, 0, 0 },
	{ "store.etcd.snapshot_records", CONFIG_INT, L(snapshot_records),
	    CONF_SNAPSHOT_RECORDS_MIN, CONF_SNAPSHOT_RECORDS_MAX, 0, 0 },
	{ "store.etcd.endpoint_timeout_ms", CONFIG_INT, L(endpoint_timeout_ms),
	    CONF_ENDPOINT_TIMEOUT_MS_MIN, CONF_ENDPOINT_TIMEOUT_MS_MAX, 0, 0 },
	{ "store.etcd.ca_file", CONFIG_STRING, S(etcd_ca_file), 0, 0, 0, 0 },
	{ "store.etcd.cert_file", CONFIG_STRING, S(etcd_cert_file), 0, 0, 0, 0 },
	{ "store.etcd.key_file", CONFIG_STRING, S(etcd_key_file), 0, 0, 0, 0 },
};

#define NBASE (sizeof(base_keys) / sizeof(base_keys[0]))

static struct config_key all_keys[NBASE + NANSIBLE];
static pthread_once_t all_once = PTHREAD_ONCE_INIT;

/* The whole table: the base keys plus the ansible ones moved into struct conf. */
static void
all_init(void)
{
	memcpy(all_keys, base_keys, sizeof(base_keys));
	for (size_t i = 0; i < NANSIBLE; i++) {
		all_keys[NBASE + i] = ansible_keys[i];
		all_keys[NBASE + i].offset += offsetof(struct conf, ansible);
	}
}

void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->addr, sizeof(c->addr), "127.0.0.1:9007");
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/clusterm");
	c->max_jobs = 1;
	c->queue_jobs = false;
	c->reconcile_s = CONF_RECONCILE_DEFAULT;
	c->max_streams = LIMIT_STREAMS_DEFAULT;
	c->max_body_bytes = LIMIT_BODY_BYTES_DEFAULT;
	c->grace_s = 5;
	c->quorum = 0;
	c->disruption_ratio = 0.55;
	c->disruption_window_s = 60;
	c->reporter_stale_s = 30;
	c->heartbeat_timeout_s = 25;
	c->heartbeat_interval_s = 10;
	c->observers = 0;
	ansible_conf_defaults(&c->ansible);
	snprintf(c->store_backend, sizeof(c->store_backend), "wal");
	snprintf(c->etcd_prefix, sizeof(c->etcd_prefix), "/clusterm");
	c->lease_ttl_s = 5;
	c->snapshot_records = CONF_SNAPSHOT_RECORDS_DEFAULT;
	c->endpoint_timeout_ms = CONF_ENDPOINT_TIMEOUT_MS_DEFAULT;
}

void
conf_free(struct conf *c)
{
	config_strlist_free(&c->etcd_endpoints);
}

bool
conf_is_etcd(const struct conf *c)
{
	return strcmp(c->store_backend, "etcd") == 0;
}

int
conf_finish(struct conf *c, char *err, size_t errlen)
{
	const char *colon = strrchr(c->addr, ':');

	if (c->instance_id[0] == '\0') {
		char host[256] = "localhost";
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(c->instance_id, sizeof(c->instance_id), "%s:%s", host,
		    colon != NULL ? colon + 1 : "9007");
	}
	if (c->advertise_url[0] == '\0')
		snprintf(c->advertise_url, sizeof(c->advertise_url), "%s://%.*s",
		    c->cert_file[0] != '\0' ? "https" : "http",
		    (int)sizeof(c->advertise_url) - 9, c->addr);
	if (c->etcd_endpoints.n == 0 &&
	    config_strlist_split(&c->etcd_endpoints, "http://127.0.0.1:2379") < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* store.*: the backend's name, the etcd section when it is etcd's. */
static int
check_store(const struct conf *c, char *err, size_t errlen)
{
	if (strcmp(c->store_backend, "wal") != 0 && strcmp(c->store_backend, "etcd") != 0) {
		snprintf(err, errlen, "store.backend: '%s' is not \"wal\" or \"etcd\"",
		    c->store_backend);
		return -EINVAL;
	}
	if (c->etcd_endpoints.n > CONF_ETCD_MAX_ENDPOINTS) {
		snprintf(err, errlen, "store.etcd.endpoints: %zu endpoints, at most %d",
		    c->etcd_endpoints.n, CONF_ETCD_MAX_ENDPOINTS);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->etcd_endpoints.n; i++) {
		const char *e = c->etcd_endpoints.v[i];
		if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0) {
			snprintf(err, errlen, "store.etcd.endpoints: '%s' is not an http:// or "
			    "https:// URL", e);
			return -EINVAL;
		}
	}
	if (c->etcd_prefix[0] != '/' || c->etcd_prefix[strlen(c->etcd_prefix) - 1] == '/' ||
	    text_str_has_ctrl(c->etcd_prefix)) {
		snprintf(err, errlen, "store.etcd.prefix: '%s' must start with / and not end "
		    "with one", c->etcd_prefix);
		return -EINVAL;
	}
	if (strlen(c->instance_id) > CONF_INSTANCE_ID_MAX) {
		snprintf(err, errlen, "manager.instance_id: %zu bytes, at most %d",
		    strlen(c->instance_id), CONF_INSTANCE_ID_MAX);
		return -EINVAL;
	}
	if (strlen(c->advertise_url) > CONF_ADVERTISE_URL_MAX ||
	    (strncmp(c->advertise_url, "http://", 7) != 0 &&
	    strncmp(c->advertise_url, "https://", 8) != 0) || text_str_has_ctrl(c->advertise_url)) {
		snprintf(err, errlen, "manager.advertise_url: '%.100s' is not an http:// or "
		    "https:// URL of at most %d bytes", c->advertise_url, CONF_ADVERTISE_URL_MAX);
		return -EINVAL;
	}
	if (c->instance_id[0] == '\0' || text_str_has_ctrl(c->instance_id) ||
	    strchr(c->instance_id, '/') != NULL) {
		snprintf(err, errlen, "manager.instance_id: '%s' must be non-empty text without "
		    "'/'", c->instance_id);
		return -EINVAL;
	}
	for (int i = 0; i < 3; i++) {
		const char *k[] = { "store.etcd.ca_file", "store.etcd.cert_file",
		    "store.etcd.key_file" };
		const char *v[] = { c->etcd_ca_file, c->etcd_cert_file, c->etcd_key_file };
		if (v[i][0] != '\0' && access(v[i], R_OK) != 0) {
			snprintf(err, errlen, "%s: %s: %s", k[i], v[i], strerror(errno));
			return -EINVAL;
		}
	}
	return 0;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen,
    void (*warn)(const char *msg, void *arg), void *warn_arg)
{
	pthread_once(&all_once, all_init);
	return config_load_file(path, all_keys, NBASE + NANSIBLE, c, err, errlen, warn,
	    warn_arg);
}

int
conf_ansible_apply(struct ansible_conf *a, const char *json, char *err, size_t errlen)
{
	struct ansible_conf *tmp = malloc(sizeof(*tmp));	/* ~80 KiB */
	int rc;

	if (tmp == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*tmp = *a;
	/* The body is {"ansible": {...}}: other sections are unknown keys here. */
	rc = config_load_json(json, strlen(json), ansible_keys, NANSIBLE, tmp, err, errlen,
	    NULL, NULL);
	if (rc == 0)
		rc = ansible_conf_check(tmp, err, errlen);
	if (rc == 0)
		*a = *tmp;
	free(tmp);
	return rc;
}

bool
conf_ansible_string_key(const char *path)
{
	for (size_t i = 0; i < NANSIBLE; i++)
		if (ansible_keys[i].type == CONFIG_STRING && strcmp(ansible_keys[i].path, path) == 0)
			return true;
	return false;
}

/* "host:port" / "[v6]:port" with a port in range. */
static bool
addr_valid(const char *a)
{
	const char *colon = strrchr(a, ':');
	char *end;
	long port;

	if (colon == NULL || colon == a)
		return false;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && end != colon + 1 && port >= 0 && port <= CONF_PORT_MAX;
}

int
conf_addr_check(const char *what, const char *addr, char *err, size_t errlen)
{
	if (addr_valid(addr))
		return 0;
	snprintf(err, errlen, "%s: '%.200s' is not HOST:PORT (port 0-%d, 0 picks a free one)",
	    what, addr, CONF_PORT_MAX);
	return -EINVAL;
}

int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	if (conf_addr_check("manager.addr", c->addr, err, errlen) < 0)
		return -EINVAL;
	if (c->state_dir[0] != '/') {
		snprintf(err, errlen, "manager.state_dir: '%s' must be an absolute path",
		    c->state_dir);
		return -EINVAL;
	}
	if (ansible_conf_check(&c->ansible, err, errlen) < 0)
		return -EINVAL;
	if (check_store(c, err, errlen) < 0)
		return -EINVAL;
	if ((c->cert_file[0] == '\0') != (c->key_file[0] == '\0')) {
		snprintf(err, errlen, "%s: tls.cert_file and tls.key_file go together",
		    c->cert_file[0] ? "tls.key_file" : "tls.cert_file");
		return -EINVAL;
	}
	/* Asked for and not possible: refused rather than silently not checked. */
	if (c->reporter_from_cert && (c->cert_file[0] == '\0' || c->ca_file[0] == '\0')) {
		snprintf(err, errlen, "auth.reporter_from_cert: needs mutual TLS "
		    "(tls.cert_file, tls.key_file and tls.ca_file)");
		return -EINVAL;
	}
	if (c->tokens_file[0] != '\0' && access(c->tokens_file, R_OK) != 0) {
		snprintf(err, errlen, "auth.tokens_file: %s: %s", c->tokens_file,
		    strerror(errno));
		return -EINVAL;
	}
	for (int i = 0; i < 3; i++) {
		const char *k[] = { "tls.cert_file", "tls.key_file", "tls.ca_file" };
		const char *v[] = { c->cert_file, c->key_file, c->ca_file };
		if (v[i][0] != '\0' && access(v[i], R_OK) != 0) {
			snprintf(err, errlen, "%s: %s: %s", k[i], v[i], strerror(errno));
			return -EINVAL;
		}
	}
	return 0;
}
