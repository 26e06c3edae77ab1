/*
 * Long-lived replies (a followed job log, later an event stream) share one
 * bound and one stop. Each takes a slot with streams_enter() before it
 * answers and gives it back with streams_leave(); between its writes it
 * sleeps in streams_wait(), which returns at once when clusterm stops, so
 * the stream can say so and end before civetweb's workers are joined. The
 * bound keeps streams from taking the workers that intake needs.
 *
 * One set of slots per process (the daemon serves one API).
 */
#ifndef STREAMS_H
#define STREAMS_H

#include <stdbool.h>

#include "cm_limits.h"

/* manager.max_streams: default and range, in cm_limits.h (LIMIT_STREAMS_*). */
#define STREAMS_MAX_DEFAULT	LIMIT_STREAMS_DEFAULT
#define STREAMS_MAX_LIMIT	LIMIT_STREAMS_MAX
/* Longest streams_stop() waits for the streams to end. */
#define STREAMS_STOP_WAIT_MS	1000
/* The line a stream ends with when clusterm stops. */
#define STREAMS_STOP_LINE	"--- clusterm is stopping: this stream ends here\n"

/* Sets the bound (1 .. STREAMS_MAX_LIMIT); before serving. */
void streams_init(int max);
/* The bound in force. */
int streams_max(void);

/* Takes a slot: 0, -EBUSY when max streams are open, -ESHUTDOWN once stopping. */
int streams_enter(void);
struct http_req;
/* streams_enter(), or a 503 saying why on req and -1. */
int streams_enter_or_refuse(struct http_req *req);
/* Gives back a slot taken by streams_enter(). */
void streams_leave(void);

/* Whether clusterm is stopping: a stream should end now. */
bool streams_stopping(void);
/* Sleeps up to ms, less when clusterm stops; returns streams_stopping(). */
bool streams_wait(long ms);

/*
 * Asks every stream to end, refuses new ones, and waits up to wait_ms for
 * the open ones to leave. Returns how many are still open.
 */
int streams_stop(long wait_ms);

#endif
