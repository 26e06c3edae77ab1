/* The network side of requests and the listener: the peer's certificate, why a bind fails. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <civetweb.h>

#include "http.h"

int
http_client_cn(struct http_req *req, char *buf, size_t len)
{
	const struct mg_request_info *ri = mg_get_request_info(req->conn);
	const char *p, *cn = NULL;
	size_t n = 0;

	if (ri->client_cert == NULL || ri->client_cert->subject == NULL)
		return -ENOENT;
	/*
	 * civetweb gives the subject as OpenSSL's one-line form,
	 * "/C=DE/O=Example/CN=n1", where a '/' inside a value is written "\/":
	 * split at unescaped slashes only, so that O=evil\/CN=n1 is no CN.
	 * More than one CN component is refused, not guessed; so is a CN
	 * holding an escape (no reporter name needs one).
	 */
	p = ri->client_cert->subject;
	if (*p != '/')
		return -EINVAL;
	while (*p == '/') {
		const char *start = ++p;
		bool esc = false;

		for (; *p != '\0'; p++) {
			if (esc)
				esc = false;
			else if (*p == '\\')
				esc = true;
			else if (*p == '/')
				break;
		}
		if ((size_t)(p - start) >= 3 && strncmp(start, "CN=", 3) == 0) {
			if (cn != NULL)
				return -EINVAL;
			cn = start + 3;
			n = (size_t)(p - cn);
		}
	}
	if (cn == NULL || n == 0 || n >= len || memchr(cn, '\\', n) != NULL)
		return -EINVAL;
	memcpy(buf, cn, n);
	buf[n] = '\0';
	return 0;
}

int
http_bind_errno(const char *addr)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints, *res = NULL;
	size_t hl;
	int fd, one = 1, rc = 0;

	if (colon == NULL)
		return 0;
	hl = (size_t)(colon - addr);
	if (hl >= 2 && addr[0] == '[' && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return 0;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host[0] != '\0' ? host : NULL, colon + 1, &hints, &res) != 0 ||
	    res == NULL)
		return EADDRNOTAVAIL;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0)
		rc = errno;
	else {
		/* As civetweb binds: a socket in TIME_WAIT is no reason. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
			rc = errno;
		close(fd);
	}
	freeaddrinfo(res);
	return rc;
}
