/* Counters kept with relaxed atomics; gauges computed at scrape time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "oplog.h"
#include "reporters.h"

static unsigned long long reports_accepted, reports_duplicate;
static unsigned long long rejected[REJECT_COUNT];

static const char *reject_names[REJECT_COUNT] = { "malformed", "invalid", "limit",
	"too_large", "media_type", "auth" };
/* The front's own count of each reason (http.c), -1 where it has none. */
static const int front_reject[REJECT_COUNT] = { HTTP_REJECT_MALFORMED, -1, -1,
	HTTP_REJECT_TOO_LARGE, HTTP_REJECT_MEDIA_TYPE, HTTP_REJECT_AUTH };

void
metrics_reports(size_t accepted, size_t duplicates)
{
	__atomic_add_fetch(&reports_accepted, accepted, __ATOMIC_RELAXED);
	__atomic_add_fetch(&reports_duplicate, duplicates, __ATOMIC_RELAXED);
}

void
metrics_rejected(enum metrics_reject why)
{
	if ((unsigned)why < REJECT_COUNT)
		__atomic_add_fetch(&rejected[why], 1, __ATOMIC_RELAXED);
}

void
metrics_http(int status)
{
	http_count_reply(status);
}

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap * 2 + (size_t)n;
		char *b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
}

char *
metrics_render(struct state *s, const struct leader_view *cluster)
{
	struct out o = { .cap = 4096 };
	size_t by_state[3] = { 0 }, by_status[NS_COUNT] = { 0 };
	size_t partitioned = 0, unreachable = 0, fresh = 0, stale = 0;
	unsigned long long spool = 0;
	long long now = oplog_clock_ms(s);
	struct store_stats st;
	struct http_stats hs;
	bool disruption;
	size_t total;

	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return NULL;
	o.buf[0] = '\0';

	state_rdlock(s);
	total = inventory_count(state_inventory(s));
	for (size_t i = 0; i < total; i++) {
		struct node *n = inventory_at(state_inventory(s), i);
		by_state[n->state]++;
		by_status[n->status]++;
		partitioned += n->partitioned;
		unreachable += n->unreachable;
	}
	for (uint32_t i = 0; i < state_nreporters(s); i++) {
		struct reporter_view v;
		reporters_get(s, i, &v);
		if (reporters_stale(&v, state_params(s), now))
			stale++;
		else
			fresh++;
		if (v.spool_depth > 0)
			spool += (unsigned long long)v.spool_depth;
	}
	disruption = state_disruption(s, NULL);
	state_unlock(s);
	store_get_stats(state_store(s), &st);

	put(&o, "# HELP clusterm_reports_received_total Node reports applied.\n"
	    "# TYPE clusterm_reports_received_total counter\n"
	    "clusterm_reports_received_total %llu\n",
	    __atomic_load_n(&reports_accepted, __ATOMIC_RELAXED));
	put(&o, "# HELP clusterm_reports_duplicate_total Reports in batches already applied.\n"
	    "# TYPE clusterm_reports_duplicate_total counter\n"
	    "clusterm_reports_duplicate_total %llu\n",
	    __atomic_load_n(&reports_duplicate, __ATOMIC_RELAXED));
	put(&o, "# HELP clusterm_requests_rejected_total Requests refused, by reason.\n"
	    "# TYPE clusterm_requests_rejected_total counter\n");
	http_get_stats(&hs);
	for (int i = 0; i < REJECT_COUNT; i++)
		put(&o, "clusterm_requests_rejected_total{reason=\"%s\"} %llu\n",
		    reject_names[i], __atomic_load_n(&rejected[i], __ATOMIC_RELAXED) +
		    (front_reject[i] >= 0 ? hs.rejected[front_reject[i]] : 0));
	put(&o, "# HELP clusterm_nodes Known nodes, by monitoring state.\n"
	    "# TYPE clusterm_nodes gauge\n");
	for (int i = 0; i < 3; i++)
		put(&o, "clusterm_nodes{state=\"%s\"} %zu\n", mon_state_name(i), by_state[i]);
	put(&o, "# HELP clusterm_nodes_by_status Known nodes, by lifecycle status.\n"
	    "# TYPE clusterm_nodes_by_status gauge\n");
	for (int i = 0; i < NS_COUNT; i++)
		put(&o, "clusterm_nodes_by_status{status=\"%s\"} %zu\n", node_status_name(i),
		    by_status[i]);
	put(&o, "# HELP clusterm_nodes_flagged Nodes with a flag of their own evidence of "
	    "life.\n# TYPE clusterm_nodes_flagged gauge\n"
	    "clusterm_nodes_flagged{flag=\"partitioned\"} %zu\n"
	    "clusterm_nodes_flagged{flag=\"unreachable\"} %zu\n", partitioned, unreachable);
	put(&o, "# HELP clusterm_reporters Reporters known, fresh or stale (not heard for "
	    "monitor.reporter_stale_s).\n# TYPE clusterm_reporters gauge\n"
	    "clusterm_reporters{state=\"fresh\"} %zu\n"
	    "clusterm_reporters{state=\"stale\"} %zu\n", fresh, stale);
	put(&o, "# HELP clusterm_reporter_spool_depth Batches waiting in the reporters' "
	    "spools, as they last said.\n# TYPE clusterm_reporter_spool_depth gauge\n"
	    "clusterm_reporter_spool_depth %llu\n", spool);
	put(&o, "# HELP clusterm_disruption 1 while in disruption mode.\n"
	    "# TYPE clusterm_disruption gauge\nclusterm_disruption %d\n", disruption);
	put(&o, "# HELP clusterm_store_failed 1 once the store refused a write.\n"
	    "# TYPE clusterm_store_failed gauge\nclusterm_store_failed %d\n", st.failed);
	put(&o, "# HELP clusterm_store_log_records Log records behind the last snapshot.\n"
	    "# TYPE clusterm_store_log_records gauge\nclusterm_store_log_records %llu\n",
	    (unsigned long long)st.log_records);
	put(&o, "# HELP clusterm_store_fsync_seconds Latency of the log's fsyncs.\n"
	    "# TYPE clusterm_store_fsync_seconds histogram\n");
	{
		unsigned long long cum = 0;
		for (int i = 0; i < STORE_FSYNC_BUCKETS; i++) {
			cum += st.fsync_bucket[i];
			put(&o, "clusterm_store_fsync_seconds_bucket{le=\"%g\"} %llu\n",
			    store_fsync_bounds[i], cum);
		}
		cum += st.fsync_bucket[STORE_FSYNC_BUCKETS];
		put(&o, "clusterm_store_fsync_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
		put(&o, "clusterm_store_fsync_seconds_sum %g\n", st.fsync_sum_s);
		put(&o, "clusterm_store_fsync_seconds_count %llu\n",
		    (unsigned long long)st.fsyncs);
	}
	put(&o, "# HELP clusterm_role This instance's role: 1 for the one it has.\n"
	    "# TYPE clusterm_role gauge\n"
	    "clusterm_role{role=\"leader\"} %d\nclusterm_role{role=\"follower\"} %d\n",
	    cluster->is_leader, !cluster->is_leader);
	put(&o, "# HELP clusterm_leader_changes_total Leaders seen since the start, this "
	    "instance's terms too.\n"
	    "# TYPE clusterm_leader_changes_total counter\n"
	    "clusterm_leader_changes_total %llu\n",
	    (unsigned long long)cluster->leader_changes);
	put(&o, "# HELP clusterm_applied_revision The shared log's revision applied here "
	    "(etcd; 0 with the embedded store).\n"
	    "# TYPE clusterm_applied_revision gauge\nclusterm_applied_revision %lld\n",
	    (long long)st.applied_rev);
	put(&o, "# HELP clusterm_revision_lag Revisions etcd has told of that are not "
	    "applied here yet.\n"
	    "# TYPE clusterm_revision_lag gauge\nclusterm_revision_lag %lld\n",
	    (long long)(st.head_rev > st.applied_rev ? st.head_rev - st.applied_rev : 0));
	put(&o, "# HELP clusterm_http_requests_total HTTP replies, by status code.\n"
	    "# TYPE clusterm_http_requests_total counter\n");
	for (int code = 100; code < 600; code++) {
		unsigned long long v = hs.by_code[code];
		if (v > 0)
			put(&o, "clusterm_http_requests_total{code=\"%d\"} %llu\n", code, v);
	}
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
