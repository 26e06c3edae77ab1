/*
 * The unit tests' real etcd: etcd_up() starts one member on a loopback port
 * (a check fixture; etcd_down() stops it by its pid and removes its data),
 * and struct seen, a store follower that records what the watch brings.
 */
#ifndef ETCD_FIXTURE_H
#define ETCD_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"
#include "leader.h"
#include "store.h"
#include "store_etcd.h"

/* The member's client URL, and it as an endpoint list of one. */
extern char etcd_url[64];
extern const char *etcd_endpoints[1];

void etcd_up(void);
void etcd_down(void);
/* A client of the member (3 s a call). */
struct etcd *conn(void);

/* What a store's follower was given; .mu initialised by the test. */
struct seen {
	pthread_mutex_t mu;
	int resets, reloads;
	char snap[64];
	char recs[64][32];
	uint64_t own[64];
	int n;
};

void seen_reset(void *arg);
void seen_reload_done(void *arg, bool ok);
int seen_snapshot(const void *buf, size_t len, int64_t pos, void *arg);
void seen_record(const void *buf, size_t len, int64_t pos, uint64_t own, void *arg);
int seen_count(struct seen *s);
/* Until s has n records (10 s at most: the test fails). */
void wait_count(struct seen *s, int n);
int visit_none(const void *buf, size_t len, void *arg);

/* A store on prefix /s as instance id, recovered (nothing followed yet). */
struct store *open_store(const char *id, struct leader *l);
/* The same through the endpoints eps, each given attempt_ms (0: the default). */
struct store *open_store_at(const char *id, struct leader *l, const char *const *eps, size_t n,
    long attempt_ms);

#endif
