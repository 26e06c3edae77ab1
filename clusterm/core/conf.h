/* clusterm.conf: the typed configuration (CONTRACT section 4). */
#ifndef CONF_H
#define CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "ansible.h"
#include "config.h"

#define CONF_DEFAULT_PATH "/etc/clusterm/clusterm.conf"
#define CONF_STR 512
/* The highest TCP port; 0 asks for a free one. */
#define CONF_PORT_MAX 65535
/* manager.reconcile_s: the default and bounds (seconds). */
#define CONF_RECONCILE_DEFAULT	5
#define CONF_RECONCILE_MIN	1
#define CONF_RECONCILE_MAX	3600
/* store.etcd.lease_ttl_s bounds, and endpoints in the list. */
#define CONF_LEASE_TTL_MIN 2
#define CONF_LEASE_TTL_MAX 600
#define CONF_ETCD_MAX_ENDPOINTS 16
/* manager.instance_id and advertise_url, as the instances' view holds them. */
#define CONF_INSTANCE_ID_MAX 127
#define CONF_ADVERTISE_URL_MAX 255
/* store.etcd.snapshot_records: log records in etcd before the leader snapshots. */
#define CONF_SNAPSHOT_RECORDS_DEFAULT 20000
#define CONF_SNAPSHOT_RECORDS_MIN 100
#define CONF_SNAPSHOT_RECORDS_MAX 10000000
/* store.etcd.endpoint_timeout_ms: an etcd member's time to answer before the next is tried. */
#define CONF_ENDPOINT_TIMEOUT_MS_DEFAULT 1000
#define CONF_ENDPOINT_TIMEOUT_MS_MIN 100
#define CONF_ENDPOINT_TIMEOUT_MS_MAX 60000
/* monitor.reap_after_s: at most a year (0 = never reap). */
#define CONF_REAP_AFTER_MAX (366L * 86400)

struct conf {
	char addr[CONF_STR];
	char state_dir[PATH_MAX];
	long max_jobs;
	bool queue_jobs;	/* at max_jobs: wait as Queued instead of 409 */
	long reconcile_s;	/* the leader's job reconcile period */
	long max_streams;	/* followed logs and other streams open at once */
	long max_body_bytes;
	long grace_s;
	long quorum;
	double disruption_ratio;
	long disruption_window_s;
	long reporter_stale_s;		/* CONTRACT 11 */
	long heartbeat_timeout_s;
	long heartbeat_interval_s;
	long reap_after_s;	/* forget Disappeared, Unallocated nodes after; 0 never */
	long observers;		/* monitor.observers: K, 0 = every reporter counts */
	struct ansible_conf ansible;
	char tokens_file[PATH_MAX];
	bool reporter_from_cert;	/* mutual TLS: X-Reporter must be the cert's CN */
	char cert_file[PATH_MAX];
	char key_file[PATH_MAX];
	char ca_file[PATH_MAX];
	/* Several instances (CONTRACT section 9). */
	char instance_id[CONF_STR];	/* "" until conf_finish: <hostname>:<port> */
	char advertise_url[CONF_STR];	/* "" until conf_finish: http(s)://addr */
	char store_backend[16];		/* "wal" | "etcd" */
	struct config_strlist etcd_endpoints;
	char etcd_prefix[CONF_STR];
	long lease_ttl_s;
	long snapshot_records;		/* store.etcd.snapshot_records */
	long endpoint_timeout_ms;	/* store.etcd.endpoint_timeout_ms */
	char etcd_ca_file[PATH_MAX];
	char etcd_cert_file[PATH_MAX];
	char etcd_key_file[PATH_MAX];
};

/* Fills c with the defaults of CONTRACT section 4. */
void conf_defaults(struct conf *c);

/*
 * Loads path over the defaults. Unknown keys, wrong types and values out of
 * range fail with err naming the key; ignored contiv sections are passed to
 * warn. 0 or -errno.
 */
int conf_load(struct conf *c, const char *path, char *err, size_t errlen,
    void (*warn)(const char *msg, void *arg), void *warn_arg);

/*
 * Applies a POST /config body ({"ansible": {...}}) over a: keys named as in
 * clusterm.conf on error, a unchanged then. 0 or -EINVAL / -ENOMEM.
 */
int conf_ansible_apply(struct ansible_conf *a, const char *json, char *err, size_t errlen);

/* Whether path ("ansible.user") is a string key of the ansible section. */
bool conf_ansible_string_key(const char *path);

/*
 * Fills what defaults to other keys (manager.instance_id, advertise_url,
 * the etcd endpoints) once flags have overridden the file. -ENOMEM.
 */
int conf_finish(struct conf *c, char *err, size_t errlen);

/* Frees what conf_load allocated (the endpoint list). */
void conf_free(struct conf *c);

/* Whether the etcd backend is configured. */
bool conf_is_etcd(const struct conf *c);

/*
 * Checks an address "HOST:PORT" / "[V6]:PORT"; on failure err names it as
 * what ("-l", "manager.addr"). 0 or -EINVAL.
 */
int conf_addr_check(const char *what, const char *addr, char *err, size_t errlen);

/* Checks what can be checked without starting: paths usable, values sane. */
int conf_check(const struct conf *c, char *err, size_t errlen);

#endif
