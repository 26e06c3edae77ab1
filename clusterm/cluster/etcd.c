/*
 * etcd's v3 JSON gateway over libcurl: one curl handle per struct etcd, run
 * by a multi handle of its own (connections kept alive, deadlines looked at
 * while a transfer waits), endpoints tried in turn within one deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "etcd.h"
#include "etcd_impl.h"
#include "fsio.h"

/* How often a running call looks at its deadlines and its stop flag. */
#define ETCD_POLL_MS		50
/* How often a stream looks whether its endpoint failed for another connection. */
#define ETCD_HEALTH_POLL_MS	200


/* ---- the connection ---- */

int
etcd_new(const struct etcd_opts *o, struct etcd **ret, char *err, size_t errlen)
{
	struct etcd *e;

	if (o->nendpoints == 0 || o->nendpoints > ETCD_MAX_ENDPOINTS) {
		snprintf(err, errlen, "etcd: %zu endpoints (1 to %d)", o->nendpoints,
		    ETCD_MAX_ENDPOINTS);
		return -EINVAL;
	}
	if (o->attempt_timeout_ms < 0 || o->attempt_timeout_ms > ETCD_ATTEMPT_MAX_MS) {
		snprintf(err, errlen, "etcd: an endpoint timeout of %ld ms (%d to %d)",
		    o->attempt_timeout_ms, ETCD_ATTEMPT_MIN_MS, ETCD_ATTEMPT_MAX_MS);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (e->endpoints = calloc(o->nendpoints, sizeof(char *))) == NULL ||
	    (e->avoid_until = calloc(o->nendpoints, sizeof(*e->avoid_until))) == NULL ||
	    (e->curl = curl_easy_init()) == NULL || (e->multi = curl_multi_init()) == NULL) {
		etcd_free(e);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < o->nendpoints; i++) {
		size_t l = strlen(o->endpoints[i]);
		if ((e->endpoints[i] = strdup(o->endpoints[i])) == NULL) {
			etcd_free(e);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		e->n++;
		while (l > 0 && e->endpoints[i][l - 1] == '/')
			e->endpoints[i][--l] = '\0';
	}
	snprintf(e->ca, sizeof(e->ca), "%s", o->ca_file ? o->ca_file : "");
	snprintf(e->cert, sizeof(e->cert), "%s", o->cert_file ? o->cert_file : "");
	snprintf(e->key, sizeof(e->key), "%s", o->key_file ? o->key_file : "");
	e->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 3000;
	e->attempt_ms = o->attempt_timeout_ms > 0 ? o->attempt_timeout_ms : ETCD_ATTEMPT_MS;
	if (e->attempt_ms < ETCD_ATTEMPT_MIN_MS)
		e->attempt_ms = ETCD_ATTEMPT_MIN_MS;
	atomic_init(&e->deadline_ms, 0);
	pthread_mutex_init(&e->fd_mu, NULL);
	e->stream_fd = -1;
	*ret = e;
	return 0;
}

void
etcd_free(struct etcd *e)
{
	if (e == NULL)
		return;
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	if (e->multi != NULL)
		curl_multi_cleanup(e->multi);
	pthread_mutex_destroy(&e->fd_mu);
	for (size_t i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->avoid_until);
	free(e);
}

int64_t
etcd_now_ms(void)
{
	return (int64_t)fsio_mono_ms();
}

void
etcd_set_deadline(struct etcd *e, int64_t deadline_ms)
{
	atomic_store(&e->deadline_ms, deadline_ms > 0 ? deadline_ms : 0);
}

const char *
etcd_endpoint(const struct etcd *e)
{
	return e->n > 0 && e->last[0] != '\0' ? e->endpoints[e->cur] : "";
}

void
etcd_skip_endpoint(struct etcd *e)
{
	e->avoid_until[e->cur] = fsio_mono_ms() + ETCD_AVOID_MS;
	e->cur = (e->cur + 1) % e->n;
}

/* A stream's socket, so that etcd_abort() can end it at once. */
static int
sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct etcd *e = arg;

	(void)purpose;
	pthread_mutex_lock(&e->fd_mu);
	e->stream_fd = fd;
	if (e->aborted)
		shutdown(fd, SHUT_RDWR);
	pthread_mutex_unlock(&e->fd_mu);
	return CURL_SOCKOPT_OK;
}

void
etcd_abort(struct etcd *e)
{
	pthread_mutex_lock(&e->fd_mu);
	e->aborted = true;
	if (e->stream_fd >= 0)
		shutdown(e->stream_fd, SHUT_RDWR);
	pthread_mutex_unlock(&e->fd_mu);
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *k = arg;
	size_t n = size * nmemb;

	if (k->b->len + n > ETCD_MAX_REPLY_BYTES || buf_add(k->b, ptr, n) < 0)
		return 0;
	k->started = true;
	if (k->on_data != NULL && (k->stop_rc = k->on_data(k)) != 0)
		return 0;
	return n;
}

/* The earlier of a call's own deadline and etcd_set_deadline()'s (0: none). */
static long long
deadline_of(struct etcd *e, long long call_deadline)
{
	long long set = (long long)atomic_load(&e->deadline_ms);

	if (set > 0 && (call_deadline == 0 || set < call_deadline))
		return set;
	return call_deadline;
}

/*
 * What the connections of this process have learned of the endpoints: one
 * found silent, unreachable or without its member (5xx) by one connection
 * is tried last by all, and a watch streaming from it ends (a member that
 * stopped answering requests sends its watches nothing either). A success
 * there clears it. URL -> when it last failed; the oldest goes when full.
 */
#define HEALTH_SLOTS		64
static pthread_mutex_t health_mu = PTHREAD_MUTEX_INITIALIZER;
static struct health {
	char url[512];
	long long failed_ms;
} health[HEALTH_SLOTS];

static void
health_set(const char *url, long long failed_ms)
{
	struct health *slot = NULL;

	pthread_mutex_lock(&health_mu);
	for (size_t i = 0; i < HEALTH_SLOTS; i++) {
		if (strcmp(health[i].url, url) == 0) {
			slot = &health[i];
			break;
		}
		if (slot == NULL || health[i].failed_ms < slot->failed_ms)
			slot = &health[i];
	}
	if (strcmp(slot->url, url) == 0)
		slot->failed_ms = failed_ms;
	else if (failed_ms != 0 && snprintf(slot->url, sizeof(slot->url), "%s", url) <
	    (int)sizeof(slot->url))
		slot->failed_ms = failed_ms;
	pthread_mutex_unlock(&health_mu);
}

/* When url last failed for any connection within ETCD_AVOID_MS, else 0. */
static long long
health_failed(const char *url, long long now)
{
	long long t = 0;

	pthread_mutex_lock(&health_mu);
	for (size_t i = 0; i < HEALTH_SLOTS; i++)
		if (strcmp(health[i].url, url) == 0) {
			t = health[i].failed_ms;
			break;
		}
	pthread_mutex_unlock(&health_mu);
	return t != 0 && now - t < ETCD_AVOID_MS ? t : 0;
}

/* Endpoint i failed: tried last by this connection, and by all when shared. */
static void
mark_failed(struct etcd *e, size_t i, bool shared)
{
	long long now = fsio_mono_ms();

	e->avoid_until[i] = now + ETCD_AVOID_MS;
	if (shared)
		health_set(e->endpoints[i], now);
}

/*
 * The order of one call's tries: from the endpoint that answered last, each
 * once, those that failed within ETCD_AVOID_MS (here or for another
 * connection) after the others.
 */
static size_t
try_order(const struct etcd *e, long long now, size_t *ret)
{
	bool late[ETCD_MAX_ENDPOINTS];
	size_t n = 0;

	for (size_t i = 0; i < e->n; i++)
		late[i] = e->avoid_until[i] > now || health_failed(e->endpoints[i], now) != 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t t = 0; t < e->n; t++) {
			size_t i = (e->cur + t) % e->n;
			if (late[i] == (pass == 1))
				ret[n++] = i;
		}
	return n;
}

/* How one try ended. */
enum try_end {
	TRY_DONE,		/* curl finished: *ret_cc says how */
	TRY_STOPPED,		/* *k->stop, or etcd_abort() */
	TRY_NO_ANSWER,		/* nothing within the endpoint's attempt timeout */
	TRY_DEADLINE,		/* the call's deadline (or etcd_set_deadline()'s) passed */
	TRY_PEER_FAILED,	/* a stream whose endpoint failed for another connection */
};

/*
 * Runs the transfer set up on e->curl until it ends, its endpoint has sent
 * nothing by no_answer_at, the deadline passes or the caller stops it;
 * every ETCD_POLL_MS at most it looks.
 */
static enum try_end
try_once(struct etcd *e, size_t i, struct sink *k, long long no_answer_at,
    long long call_deadline, CURLcode *ret_cc)
{
	long long since = fsio_mono_ms(), next_health = since + ETCD_HEALTH_POLL_MS;
	enum try_end end = TRY_DONE;
	int running = 1, left;
	CURLMsg *msg;

	*ret_cc = CURLE_OK;
	if (curl_multi_add_handle(e->multi, e->curl) != CURLM_OK) {
		*ret_cc = CURLE_OUT_OF_MEMORY;
		return TRY_DONE;
	}
	for (;;) {
		long long now, dl, wait = ETCD_POLL_MS;
		if (curl_multi_perform(e->multi, &running) != CURLM_OK) {
			*ret_cc = CURLE_RECV_ERROR;
			running = -1;
			break;
		}
		if (running == 0)
			break;
		now = fsio_mono_ms();
		dl = deadline_of(e, call_deadline);
		if ((k->stop != NULL && *k->stop) || e->aborted) {
			end = TRY_STOPPED;
			break;
		}
		if (!k->started && now >= no_answer_at) {
			end = TRY_NO_ANSWER;
			break;
		}
		if (dl > 0 && now >= dl) {
			end = TRY_DEADLINE;
			break;
		}
		if (k->on_data != NULL && k->started && now >= next_health) {
			if (health_failed(e->endpoints[i], now) > since) {
				end = TRY_PEER_FAILED;
				break;
			}
			next_health = now + ETCD_HEALTH_POLL_MS;
		}
		if (!k->started && no_answer_at - now < wait)
			wait = no_answer_at - now;
		if (dl > 0 && dl - now < wait)
			wait = dl - now;
		curl_multi_poll(e->multi, NULL, 0, (int)(wait > 0 ? wait : 1), NULL);
	}
	if (running == 0)
		while ((msg = curl_multi_info_read(e->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == e->curl)
				*ret_cc = msg->data.result;
	/* A transfer cut short closes its connection: none is reused half-read. */
	curl_multi_remove_handle(e->multi, e->curl);
	return end;
}

/* Appends one try's failure to why ("; " between two), cut at its end. */
static void __attribute__((format(printf, 3, 4)))
add_why(char *why, size_t len, const char *fmt, ...)
{
	size_t used = strlen(why);
	va_list ap;

	if (used > 0 && used + 2 < len) {
		memcpy(why + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + used, len - used, fmt, ap);
	va_end(ap);
}

/* Sets e->curl up for one try of body to url. */
static void
setup(struct etcd *e, const char *url, const char *body, struct curl_slist *hdr,
    struct sink *k, char *cerr, long connect_ms)
{
	curl_easy_reset(e->curl);
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_KEEPINTVL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms > 0 ? connect_ms : 1L);
	if (e->ca[0] != '\0')
		curl_easy_setopt(e->curl, CURLOPT_CAINFO, e->ca);
	if (e->cert[0] != '\0')
		curl_easy_setopt(e->curl, CURLOPT_SSLCERT, e->cert);
	if (e->key[0] != '\0')
		curl_easy_setopt(e->curl, CURLOPT_SSLKEY, e->key);
	if (k->stop != NULL) {
		curl_easy_setopt(e->curl, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
		curl_easy_setopt(e->curl, CURLOPT_SOCKOPTDATA, e);
	}
}

/*
 * POSTs body to path at one endpoint after another until one answers, all
 * within timeout_ms (0: no bound, streaming) and etcd_set_deadline()'s
 * instant. Each endpoint gets e->attempt_ms to send its first byte; one
 * that does not, or cannot be reached, or answers 5xx, is left for the next
 * and tried after the others for ETCD_AVOID_MS. A request left unanswered
 * may still be applied by its member, even later: the caller's -EAGAIN
 * covers that. The reply is in k->b, its HTTP status in *ret_status.
 */
int
etcd_post(struct etcd *e, const char *path, const char *body, struct sink *k, long timeout_ms,
    long *ret_status, char *err, size_t errlen)
{
	long long now = fsio_mono_ms();
	long long call_deadline = timeout_ms > 0 ? now + timeout_ms : 0;
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char url[512], why[CURL_ERROR_SIZE + 1200] = "";
	size_t order[ETCD_MAX_ENDPOINTS], norder = try_order(e, now, order);
	int rc = -EAGAIN;

	if (hdr != NULL && k->require_leader)
		hdr = curl_slist_append(hdr, "Grpc-Metadata-hasleader: true");
	if (hdr == NULL) {
		snprintf(err, errlen, "out of memory");
		curl_slist_free_all(hdr);
		return -ENOMEM;
	}
	for (size_t t = 0; t < norder; t++) {
		size_t i = order[t];
		long long dl = deadline_of(e, call_deadline), no_answer_at;
		char cerr[CURL_ERROR_SIZE] = "";
		enum try_end end;
		CURLcode cc;

		now = fsio_mono_ms();
		if (dl > 0 && now >= dl) {
			if (t == 0)
				add_why(why, sizeof(why), "the deadline passed before %s%s was "
				    "sent", e->endpoints[i], path);
			break;
		}
		no_answer_at = now + e->attempt_ms;
		buf_reset(k->b);
		k->started = false;
		k->scanned = 0;
		k->stop_rc = 0;
		snprintf(url, sizeof(url), "%s%s", e->endpoints[i], path);
		setup(e, url, body, hdr, k, cerr, dl > 0 && dl - now < e->attempt_ms ?
		    (long)(dl - now) : e->attempt_ms);
		end = try_once(e, i, k, no_answer_at, call_deadline, &cc);
		if (k->stop != NULL) {
			pthread_mutex_lock(&e->fd_mu);
			e->stream_fd = -1;
			pthread_mutex_unlock(&e->fd_mu);
		}
		if (end == TRY_STOPPED && k->stop != NULL && *k->stop) {
			e->cur = i;
			rc = 0;
			goto out;
		}
		if (end == TRY_STOPPED) {
			add_why(why, sizeof(why), "%s: the call was aborted", url);
			break;
		}
		if (end == TRY_PEER_FAILED) {
			add_why(why, sizeof(why), "%s: another connection found it failing; the "
			    "stream ends", url);
			snprintf(e->last, sizeof(e->last), "%s", e->endpoints[i]);
			e->cur = i;
			break;
		}
		if (end == TRY_NO_ANSWER || (end == TRY_DEADLINE && !k->started)) {
			/*
			 * Connected perhaps, but silent: stopped, stalled, cut off.
			 * A deadline shorter than the attempt's is no proof: here only.
			 */
			mark_failed(e, i, end == TRY_NO_ANSWER);
			add_why(why, sizeof(why), "%s: no answer within %lld ms%s", url,
			    fsio_mono_ms() - now, end == TRY_DEADLINE ? " (the deadline)" : "");
			if (end == TRY_DEADLINE)
				break;
			continue;
		}
		if (end == TRY_DEADLINE) {
			add_why(why, sizeof(why), "%s: the reply was not whole by the deadline", url);
			break;
		}
		if (cc == CURLE_WRITE_ERROR && k->stop_rc != 0) {
			rc = k->stop_rc;
			e->cur = i;
			e->avoid_until[i] = 0;
			snprintf(e->last, sizeof(e->last), "%s", e->endpoints[i]);
			goto out;
		}
		if (cc == CURLE_OK) {
			long st = 0;
			curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &st);
			if (st >= 500 && st != 500) {
				/* A gateway without its member (503 etc.): try the next. */
				mark_failed(e, i, true);
				add_why(why, sizeof(why), "%s answered HTTP %ld", url, st);
				continue;
			}
			*ret_status = st;
			e->cur = i;
			e->avoid_until[i] = 0;
			if (health_failed(e->endpoints[i], fsio_mono_ms()) != 0)
				health_set(e->endpoints[i], 0);
			snprintf(e->last, sizeof(e->last), "%s", e->endpoints[i]);
			rc = 0;
			goto out;
		}
		add_why(why, sizeof(why), "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
		if (k->on_data != NULL && k->started) {
			/* A stream that had started and broke: the caller reconnects. */
			e->cur = i;
			snprintf(e->last, sizeof(e->last), "%s", e->endpoints[i]);
			break;
		}
		mark_failed(e, i, true);
	}
	snprintf(err, errlen, "etcd: %s", why[0] != '\0' ? why : "no endpoint tried");
out:
	curl_slist_free_all(hdr);
	return rc;
}

/*
 * One unary call: POSTs the JSON request, parses the reply into *ret. An
 * error the gateway answered (a JSON "error") becomes -EPROTO, or
 * -ECANCELED when it says the revision was compacted.
 */
int
etcd_call(struct etcd *e, const char *path, cJSON *req, cJSON **ret, char *err, size_t errlen)
{
	struct buf b;
	struct sink k = { .b = &b };
	char *body = cJSON_PrintUnformatted(req);
	long st = 0;
	int rc;

	buf_init(&b, ETCD_MAX_REPLY_BYTES);

	if (body == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (strlen(body) > ETCD_MAX_REQUEST_BYTES) {
		snprintf(err, errlen, "etcd: a request of %zu bytes is over the %d byte limit",
		    strlen(body), ETCD_MAX_REQUEST_BYTES);
		free(body);
		return -E2BIG;
	}
	rc = etcd_post(e, path, body, &k, e->timeout_ms, &st, err, errlen);
	free(body);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	*ret = cJSON_ParseWithLength(b.data != NULL ? b.data : "", b.len);
	if (*ret == NULL) {
		snprintf(err, errlen, "etcd %s: HTTP %ld, a reply that is not JSON", path, st);
		buf_free(&b);
		return -EBADMSG;
	}
	if (st != 200) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(*ret, "error");
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(*ret, "message");
		snprintf(err, errlen, "etcd %s: HTTP %ld: %.200s", path, st,
		    cJSON_IsString(m) ? m->valuestring : "(no message)");
		rc = cJSON_IsString(m) && strstr(m->valuestring, "compacted") != NULL ?
		    -ECANCELED : -EPROTO;
		/* No leader, timed out: etcd cannot answer now, like an unreachable one. */
		if (cJSON_IsString(m) && (strstr(m->valuestring, "no leader") != NULL ||
		    strstr(m->valuestring, "timed out") != NULL ||
		    strstr(m->valuestring, "not capable") != NULL))
			rc = -EAGAIN;
		cJSON_Delete(*ret);
		*ret = NULL;
	}
	buf_free(&b);
	return rc;
}
