/* File system helpers: whole writes, atomic replace, fsync, locks. */
#ifndef FSIO_H
#define FSIO_H

#include <stddef.h>
#include <sys/types.h>

/* write(2) until done, retrying EINTR. 0 or -errno. */
int fsio_write_all(int fd, const void *buf, size_t len);

/* read(2) until len bytes or EOF; *ret_n gets the count. 0 or -errno. */
int fsio_read_all(int fd, void *buf, size_t len, size_t *ret_n);

/* fsync of a directory (after a create, rename or unlink in it). */
int fsio_fsync_dir(const char *dir);

/*
 * Writes dir/name atomically and durably: a temporary file in dir, fsync,
 * rename over name, fsync of dir. 0 or -errno.
 */
int fsio_write_atomic(const char *dir, const char *name, const void *buf,
    size_t len, mode_t mode);

/*
 * fsio_write_atomic() without the fsyncs: readers never see a half-written
 * file, but after a power loss name may hold the old data, the new, or a
 * part of the new (no fsync: for files that are only hints).
 */
int fsio_write_atomic_nosync(const char *dir, const char *name, const void *buf,
    size_t len, mode_t mode);

/* Reads a whole file of at most max bytes into a malloc'd NUL-terminated
 * buffer. -EFBIG when larger. */
int fsio_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);

/*
 * mkdir -p with mode for the directories it creates, each made durable (an
 * fsync of its parent after its mkdir). 0 or -errno.
 */
int fsio_mkdir_p(const char *path, mode_t mode);

/*
 * Opens (creating, mode 0600) path and takes an exclusive flock, waiting at
 * most timeout_ms (0 = try once). -EWOULDBLOCK when still held by another.
 * *ret_fd holds the lock until closed.
 */
int fsio_lock(const char *path, int timeout_ms, int *ret_fd);

/* Milliseconds: wall clock (for records) and monotonic (for bounds). */
long long fsio_now_ms(void);
long long fsio_mono_ms(void);

#endif
