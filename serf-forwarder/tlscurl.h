/*
 * https:// requests through libcurl, loaded with dlopen("libcurl.so.4") on
 * the first HTTPS request, so that plain-HTTP runs never map it. Takes the
 * same request and reply types as http1.h and returns the same codes.
 */
#ifndef TLSCURL_H
#define TLSCURL_H

#include <stddef.h>

#include "http1.h"

/* The library loaded on demand. */
#define TLSCURL_SONAME	"libcurl.so.4"

/*
 * One exchange with an https:// URL (rq->ca_file and rq->token honoured).
 * Same contract as http1_request(); when libcurl cannot be loaded the
 * result is HTTP1_ERR_TLS (retryable: the batch is spooled) and err says
 * why. The library stays loaded until the process exits.
 */
int tlscurl_request(const struct http1_req *rq, struct http1_resp *ret, char *err,
    size_t errlen);

#endif
