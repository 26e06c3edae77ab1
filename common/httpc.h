/*
 * The HTTP client used by serf-forwarder and clusterctl (libcurl inside).
 * CURLcode results are turned into project codes here.
 */
#ifndef HTTPC_H
#define HTTPC_H

#include <stdbool.h>
#include <stddef.h>

/* Project codes (negative, beside -errno). */
#define HTTPC_ERR_CONNECT	(-1001)	/* could not connect / resolve */
#define HTTPC_ERR_TIMEOUT	(-1002)	/* the time bound ran out */
#define HTTPC_ERR_TLS		(-1003)	/* TLS handshake or verification */
#define HTTPC_ERR_IO		(-1004)	/* send/receive failed mid-way */
#define HTTPC_ERR_ABORTED	(-1005)	/* the data callback said stop */
#define HTTPC_ERR_OTHER		(-1006)

struct httpc_opts {
	const char *ca_file;		/* NULL: system CAs */
	const char *cert_file;		/* client certificate (mutual TLS), NULL none */
	const char *key_file;		/* its private key; NULL: in cert_file */
	const char *token;		/* bearer token, NULL for none */
	long connect_timeout_ms;	/* 0: libcurl default */
	long timeout_ms;		/* whole transfer; 0: none */
	/* Extra request headers ("Name: value"), NULL-terminated, may be NULL. */
	const char *const *headers;
	/*
	 * When set, the body is handed over as it arrives instead of being
	 * collected (log following); return non-zero to stop.
	 */
	int (*on_data)(const char *buf, size_t len, void *arg);
	void *on_data_arg;
};

struct httpc_response {
	long status;	/* HTTP status, 0 when none arrived */
	char *body;	/* malloc'd, NUL-terminated ("" when empty); NULL with on_data */
	size_t len;
};

/* Once per process, before threads (curl_global_init). */
int httpc_global_init(void);
void httpc_global_cleanup(void);

/*
 * One request. body may be NULL (no body). A reply of any status is success
 * (0) with ret filled; transport failures return an HTTPC_ERR_* code and
 * write one sentence into err. ret is written only on success.
 */
int httpc_request(const char *method, const char *url, const char *body, size_t len,
    const struct httpc_opts *o, struct httpc_response *ret, char *err, size_t errlen);

void httpc_response_finish(struct httpc_response *r);

/* Whether a failure is worth retrying elsewhere / later: transport errors and 5xx. */
bool httpc_is_retryable(int rc, long status);

/*
 * Builds a URL from a base ("host:port", "http://host:port" or with a path
 * prefix) and a path ("/monitor/event/discovered") into a malloc'd string.
 * A base without scheme gets "http://". NULL on out-of-memory.
 */
char *httpc_url(const char *base, const char *path);

#endif
