/* The slots of long-lived replies and their stop (see streams.h). */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "http.h"
#include "streams.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;	/* CLOCK_MONOTONIC: stop, and a stream leaving */
static int max_open = STREAMS_MAX_DEFAULT;
static int nopen;
static bool stopping;

static void
init_cv(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cv, &a);
	pthread_condattr_destroy(&a);
}

/* The monotonic time ms from now, for pthread_cond_timedwait. */
static struct timespec
after_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

void
streams_init(int max)
{
	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	max_open = max < 1 ? 1 : max > STREAMS_MAX_LIMIT ? STREAMS_MAX_LIMIT : max;
	pthread_mutex_unlock(&mu);
}

int
streams_max(void)
{
	int m;

	pthread_mutex_lock(&mu);
	m = max_open;
	pthread_mutex_unlock(&mu);
	return m;
}

int
streams_enter(void)
{
	int rc = 0;

	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	if (stopping)
		rc = -ESHUTDOWN;
	else if (nopen >= max_open)
		rc = -EBUSY;
	else
		nopen++;
	pthread_mutex_unlock(&mu);
	return rc;
}

void
streams_leave(void)
{
	pthread_mutex_lock(&mu);
	if (nopen > 0)
		nopen--;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

bool
streams_stopping(void)
{
	bool s;

	pthread_mutex_lock(&mu);
	s = stopping;
	pthread_mutex_unlock(&mu);
	return s;
}

bool
streams_wait(long ms)
{
	struct timespec until = after_ms(ms);
	bool s;

	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	/* Spurious wake-ups and a leaving stream only shorten one poll period. */
	if (!stopping)
		pthread_cond_timedwait(&cv, &mu, &until);
	s = stopping;
	pthread_mutex_unlock(&mu);
	return s;
}

int
streams_stop(long wait_ms)
{
	struct timespec until = after_ms(wait_ms);
	int left;

	pthread_once(&once, init_cv);
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_broadcast(&cv);
	while (nopen > 0 && pthread_cond_timedwait(&cv, &mu, &until) != ETIMEDOUT)
		;
	left = nopen;
	pthread_mutex_unlock(&mu);
	return left;
}

int
streams_enter_or_refuse(struct http_req *req)
{
	int rc = streams_enter();

	if (rc == -EBUSY)
		http_reply_error(req, 503, "%d followers and streams are open already "
		    "(manager.max_streams); try again later", streams_max());
	else if (rc < 0)
		http_reply_error(req, 503, "clusterm is stopping");
	return rc < 0 ? -1 : 0;
}
