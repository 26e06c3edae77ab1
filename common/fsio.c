/* File system helpers. Every function returns 0 or -errno. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"

int
fsio_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
fsio_read_all(int fd, void *buf, size_t len, size_t *ret_n)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_n = got;
	return 0;
}

int
fsio_fsync_dir(const char *dir)
{
	int fd, r = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Temporary file in dir, write, (fsync,) rename over name (, fsync of dir).
 * durable selects the fsyncs.
 */
static int
write_replace(const char *dir, const char *name, const void *buf, size_t len,
    mode_t mode, bool durable)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, name,
	    (long)getpid()) >= sizeof(tmp) ||
	    (size_t)snprintf(dst, sizeof(dst), "%s/%s", dir, name) >= sizeof(dst))
		return -ENAMETOOLONG;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = fsio_write_all(fd, buf, len);
	if (durable && r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return durable ? fsio_fsync_dir(dir) : 0;
}

int
fsio_write_atomic(const char *dir, const char *name, const void *buf, size_t len,
    mode_t mode)
{
	return write_replace(dir, name, buf, len, mode, true);
}

int
fsio_write_atomic_nosync(const char *dir, const char *name, const void *buf,
    size_t len, mode_t mode)
{
	return write_replace(dir, name, buf, len, mode, false);
}

int
fsio_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	struct stat st;
	char *buf = NULL;
	size_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = fsio_read_all(fd, buf, (size_t)st.st_size, &n);
	if (r < 0)
		goto out;
	buf[n] = '\0';
	*ret_buf = buf;
	if (ret_len != NULL)
		*ret_len = n;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

/* mkdir of path; when it creates it, an fsync of its parent makes the entry durable. */
static int
mkdir_durable(char *path, mode_t mode)
{
	char *slash;
	int rc;

	if (mkdir(path, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
	for (slash = path + strlen(path); slash > path && slash[-1] == '/'; slash--)
		;
	while (slash > path && slash[-1] != '/')
		slash--;
	if (slash == path)
		return fsio_fsync_dir(".");
	if (slash == path + 1)
		return fsio_fsync_dir("/");
	slash[-1] = '\0';
	rc = fsio_fsync_dir(path);
	slash[-1] = '/';
	return rc;
}

int
fsio_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	int rc;

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		rc = mkdir_durable(buf, mode);
		*p = '/';
		if (rc < 0)
			return rc;
	}
	return mkdir_durable(buf, mode);
}

long long
fsio_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
fsio_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
fsio_lock(const char *path, int timeout_ms, int *ret_fd)
{
	long long deadline = fsio_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
		if (fsio_mono_ms() >= deadline) {
			close(fd);
			return -EWOULDBLOCK;
		}
		/* Poll: flock has no timed wait, and a signal-based alarm
		 * would be process-global. */
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	*ret_fd = fd;
	return 0;
}
