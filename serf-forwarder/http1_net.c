/*
 * http1's network side: a bounded name lookup (a numeric address skips the
 * resolver), a non-blocking connect tried over each address, and sending
 * the request, every step bounded by a deadline with poll().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "http1_impl.h"

/* Milliseconds left until deadline, clamped for poll(). */
static int
ms_left(long long deadline_ms)
{
	long long left = deadline_ms - fsio_mono_ms();

	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Waits until fd is ready for events or the deadline passes. */
int
http1_net_wait(int fd, short events, long long deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = ms_left(deadline_ms), n;

		if (left == 0)
			return HTTP1_ERR_TIMEOUT;
		n = poll(&p, 1, left);
		if (n > 0)
			return 0;	/* POLLERR/POLLHUP too: the next call says what */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/*
 * Name lookup on getaddrinfo_a's thread, waited for until the deadline. On
 * a timeout a lookup already running cannot be cancelled; its request is
 * then left to the thread (a few hundred bytes, once per run at most).
 */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[HTTP1_HOST_MAX + 1];
	char port[8];
};

/* A numeric address, without the resolver (nor NSS modules): true when it was one. */
static bool
resolve_numeric(const struct http1_url *u, struct http1_addr *a)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, u->host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)strtol(u->port, NULL, 10));
		a->len = sizeof(*in4);
		return true;
	}
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET6, u->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)strtol(u->port, NULL, 10));
		a->len = sizeof(*in6);
		return true;
	}
	return false;
}

/*
 * Waits for lk's lookup until the deadline: its gai_error() result, or
 * EAI_INPROGRESS on a timeout, when lk has been freed or left to the thread.
 */
static int
lookup_wait(struct lookup *lk, long long deadline_ms)
{
	struct gaicb *list[1] = { &lk->cb };
	int g;

	while ((g = gai_error(&lk->cb)) == EAI_INPROGRESS) {
		int left = ms_left(deadline_ms);
		struct timespec ts = { left / 1000, (long)(left % 1000) * 1000000L };
		const struct gaicb *const *wl = (const struct gaicb *const *)list;

		if (left == 0) {
			g = gai_cancel(&lk->cb);
			if (g == EAI_ALLDONE) {
				freeaddrinfo(lk->cb.ar_result);
				free(lk);
			} else if (g == EAI_CANCELED) {
				free(lk);
			}
			return EAI_INPROGRESS;
		}
		gai_suspend(wl, 1, &ts);
	}
	return g;
}

int
http1_net_resolve(const struct http1_url *u, long long deadline_ms,
    struct http1_addr *addrs, size_t *ret_n, char *err, size_t errlen)
{
	struct lookup *lk;
	struct gaicb *list[1];
	size_t n = 0;
	int g;

	if (resolve_numeric(u, &addrs[0])) {
		*ret_n = 1;
		return 0;
	}
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return -ENOMEM;
	lk->hints.ai_family = AF_UNSPEC;
	lk->hints.ai_socktype = SOCK_STREAM;
	memcpy(lk->host, u->host, sizeof(lk->host));
	memcpy(lk->port, u->port, sizeof(lk->port));
	lk->cb.ar_name = lk->host;
	lk->cb.ar_service = lk->port;
	lk->cb.ar_request = &lk->hints;
	list[0] = &lk->cb;
	g = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
	if (g == 0)
		g = lookup_wait(lk, deadline_ms);
	if (g == EAI_INPROGRESS) {
		snprintf(err, errlen, "resolving %s: no answer within the time bound",
		    u->host);
		return HTTP1_ERR_TIMEOUT;
	}
	if (g != 0) {
		snprintf(err, errlen, "resolving %s: %s", u->host, gai_strerror(g));
		free(lk);
		return HTTP1_ERR_CONNECT;
	}
	for (struct addrinfo *ai = lk->cb.ar_result; ai != NULL && n < HTTP1_ADDRS_MAX;
	    ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(addrs[n].ss))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n].ss, ai->ai_addr, ai->ai_addrlen);
		addrs[n].len = ai->ai_addrlen;
		n++;
	}
	freeaddrinfo(lk->cb.ar_result);
	free(lk);
	if (n == 0) {
		snprintf(err, errlen, "resolving %s: no address", u->host);
		return HTTP1_ERR_CONNECT;
	}
	*ret_n = n;
	return 0;
}

/* Connects to the first address that answers before the deadline. */
int
http1_net_connect(const struct http1_url *u, const struct http1_addr *addrs, size_t n,
    long long deadline_ms, int *ret_fd, char *err, size_t errlen)
{
	int rc = HTTP1_ERR_CONNECT;

	for (size_t i = 0; i < n; i++) {
		int fd, one = 1, soerr = 0, r;
		socklen_t sl = sizeof(soerr);

		fd = socket(addrs[i].ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd < 0) {
			snprintf(err, errlen, "socket: %s", strerror(errno));
			continue;
		}
		/* One small request: do not let Nagle hold the body back. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (const struct sockaddr *)&addrs[i].ss, addrs[i].len) == 0)
			goto connected;
		if (errno != EINPROGRESS && errno != EINTR) {
			soerr = errno;
			goto failed;
		}
		r = http1_net_wait(fd, POLLOUT, deadline_ms);
		if (r == HTTP1_ERR_TIMEOUT) {
			snprintf(err, errlen, "connect to %s port %s: no answer within the time "
			    "bound", u->host, u->port);
			close(fd);
			return HTTP1_ERR_TIMEOUT;
		}
		if (r < 0)
			soerr = -r;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr == 0)
			goto connected;
failed:
		snprintf(err, errlen, "connect to %s port %s: %s", u->host, u->port,
		    strerror(soerr));
		close(fd);
		continue;
connected:
		*ret_fd = fd;
		return 0;
	}
	return rc;
}



/* Sends head and body. -EPIPE-like failures are returned as -errno. */
int
http1_net_send(int fd, const char *head, size_t hlen, const char *body, size_t blen,
    long long deadline_ms)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)head, .iov_len = hlen },
		{ .iov_base = (void *)body, .iov_len = body != NULL ? blen : 0 },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };

	while (iov[0].iov_len + iov[1].iov_len > 0) {
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);
		size_t done;

		if (n < 0) {
			int r;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if ((r = http1_net_wait(fd, POLLOUT, deadline_ms)) < 0)
				return r;
			continue;
		}
		done = (size_t)n;
		for (int i = 0; i < 2; i++) {
			size_t k = done < iov[i].iov_len ? done : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			done -= k;
		}
	}
	return 0;
}
