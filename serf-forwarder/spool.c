/*
 * The spool: queue files, the epoch and the sequence counter.
 *
 * Sequence numbers must never be reused within an epoch, or clusterm would
 * drop a new batch as a duplicate. Making the counter durable on every run
 * would cost an fsync per event, so the counter is split: the epoch file
 * durably reserves a block of numbers (up to "reserved"), the seq file
 * holds the next number and the boot id it was written under, overwritten
 * in place without fsync (no temporary file, no rename: this runs once per
 * event). A process crash cannot lose the write (the page cache survives
 * it); only a kernel crash or power loss can, and that changes the boot
 * id, so a seq file from another boot, or one that does not parse, is not
 * trusted and numbering resumes at the reserved bound.
 *
 * The record format is in spool_record.c, compaction in spool_compact.c,
 * incoming/, absorb and status in spool_incoming.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "spool_impl.h"


int
spool_join(char *buf, size_t len, const char *a, const char *b)
{
	if ((size_t)snprintf(buf, len, "%s/%s", a, b) >= len)
		return -ENAMETOOLONG;
	return 0;
}

const char *
spool_dir(const struct spool *s)
{
	return s->dir;
}

size_t
spool_ncorrupt(const struct spool *s)
{
	return s->ncorrupt;
}

int
spool_write_inplace(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, r;

	if ((r = spool_join(path, sizeof(path), dir, name)) < 0)
		return r;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = fsio_write_all(fd, buf, len);
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	if (r == 0 && st.st_size > (off_t)len && ftruncate(fd, (off_t)len) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int
spool_open(const char *dir, long long deadline_ms, struct spool **ret)
{
	char lock[PATH_MAX];
	struct spool *s;
	long long left;
	int r;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->lock_fd = -1;
	if ((size_t)snprintf(s->dir, sizeof(s->dir), "%s", dir) >= sizeof(s->dir) ||
	    spool_join(s->qdir, sizeof(s->qdir), dir, QDIR) < 0 ||
	    spool_join(lock, sizeof(lock), dir, "lock") < 0) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if (mkdir(s->qdir, 0700) < 0 && errno != EEXIST) {
		if ((r = fsio_mkdir_p(s->qdir, 0700)) < 0)
			goto fail;
	}
	left = deadline_ms - fsio_mono_ms();
	r = fsio_lock(lock, left > 0 ? (int)(left > INT_MAX ? INT_MAX : left) : 0,
	    &s->lock_fd);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	free(s);
	return r;
}

void
spool_close(struct spool *s)
{
	if (s == NULL)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

/* ---- epoch and sequence ---- */

/* The kernel's boot id (procfs files report size 0: read, do not stat). */
void
spool_read_boot_id(char *buf, size_t len)
{
	size_t n = 0;
	int fd;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fsio_read_all(fd, buf, len - 1, &n) == 0 && n > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	} else {
		snprintf(buf, len, "-");
	}
	if (fd >= 0)
		close(fd);
}

int
spool_parse_ull(const char *s, char **end, unsigned long long *ret)
{
	unsigned long long v;

	errno = 0;
	v = strtoull(s, end, 10);
	if (errno != 0 || *end == s)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The largest seq among queue file names, 0 for none. */
static unsigned long long
queue_max_seq(struct spool *s)
{
	struct spool_entry *e = NULL;
	unsigned long long m = 0;
	size_t n = 0;

	if (spool_list(s, &e, &n) == 0 && n > 0)
		m = e[n - 1].seq;
	free(e);
	return m;
}

static int
write_epoch(struct spool *s)
{
	char buf[LIMIT_EPOCH_LEN + 32];
	int n = snprintf(buf, sizeof(buf), "%s\n%llu\n", s->epoch, s->reserved);

	return fsio_write_atomic(s->dir, "epoch", buf, (size_t)n, 0600);
}

static int
new_epoch(struct spool *s)
{
	unsigned char rnd[12];
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(s->epoch + 2 * i, 3, "%02x", rnd[i]);
	s->next = queue_max_seq(s) + 1;
	s->reserved = s->next + SEQ_BLOCK;
	return write_epoch(s);
}

static int
load_counter(struct spool *s)
{
	char path[PATH_MAX], *buf = NULL, *p, *end;
	unsigned long long next;
	int r;

	spool_read_boot_id(s->boot, sizeof(s->boot));
	if ((r = spool_join(path, sizeof(path), s->dir, "epoch")) < 0)
		return r;
	r = fsio_read_file(path, 4096, &buf, NULL);
	if (r == -ENOENT)
		return new_epoch(s);
	if (r < 0)
		return r;
	p = buf;
	end = strchr(p, '\n');
	if (end == NULL || end == p || (size_t)(end - p) > LIMIT_EPOCH_LEN ||
	    spool_parse_ull(end + 1, &p, &s->reserved) < 0) {
		free(buf);
		return new_epoch(s);	/* an unreadable epoch: start a new one */
	}
	memcpy(s->epoch, buf, (size_t)(end - buf));
	s->epoch[end - buf] = '\0';
	free(buf);
	buf = NULL;

	/* The cheap counter, trusted only when written in this boot. */
	next = 0;
	if (spool_join(path, sizeof(path), s->dir, "seq") == 0 &&
	    fsio_read_file(path, 4096, &buf, NULL) == 0) {
		if (spool_parse_ull(buf, &p, &next) < 0 || *p != ' ' ||
		    strncmp(p + 1, s->boot, strlen(s->boot)) != 0 ||
		    (p[1 + strlen(s->boot)] != '\n' && p[1 + strlen(s->boot)] != '\0'))
			next = 0;
		free(buf);
	}
	if (next == 0 || next > s->reserved) {
		s->next = s->reserved;
		s->reserved = s->next + SEQ_BLOCK;
		if ((r = write_epoch(s)) < 0)
			return r;
		s->seq_stale = true;
	} else {
		s->next = next;
	}
	return 0;
}

int
spool_assign(struct spool *s, struct batch *b)
{
	char buf[128];
	int r, n;

	if (!s->loaded) {
		if ((r = load_counter(s)) < 0)
			return r;
		s->loaded = true;
	}
	if (s->next >= s->reserved) {
		s->reserved = s->next + SEQ_BLOCK;
		if ((r = write_epoch(s)) < 0)
			return r;
	}
	n = snprintf(buf, sizeof(buf), "%llu %s\n", s->next + 1, s->boot);
	if ((r = spool_write_inplace(s->dir, "seq", buf, (size_t)n)) < 0)
		return r;
	s->seq_stale = false;
	memcpy(b->epoch, s->epoch, sizeof(b->epoch));
	b->seq = s->next++;
	return 0;
}

int
spool_position(struct spool *s, char ret_epoch[LIMIT_EPOCH_LEN + 1],
    unsigned long long *ret_last)
{
	char buf[128];
	int r, n;

	if ((r = spool_ensure_loaded(s)) < 0)
		return r;
	if (s->seq_stale) {
		/*
		 * Without this, every run until the next batch would find the
		 * seq file of another boot and reserve a new block.
		 */
		n = snprintf(buf, sizeof(buf), "%llu %s\n", s->next, s->boot);
		if ((r = spool_write_inplace(s->dir, "seq", buf, (size_t)n)) < 0)
			return r;
		s->seq_stale = false;
	}
	memcpy(ret_epoch, s->epoch, LIMIT_EPOCH_LEN + 1);
	*ret_last = s->next - 1;
	return 0;
}

/* ---- the queue ---- */

static int
cmp_entry(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Queue file name for seq: 20 digits, so names sort like numbers. */
void
spool_entry_name(char *buf, size_t len, unsigned long long seq)
{
	snprintf(buf, len, "%020llu.b", seq);
}

int
spool_list_dir(const char *qdir, bool clean_tmp, struct spool_entry **ret, size_t *ret_n)
{
	struct spool_entry *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	d = opendir(qdir);
	if (d == NULL)
		return errno == ENOENT ? (*ret = NULL, *ret_n = 0, 0) : -errno;
	while ((de = readdir(d)) != NULL) {
		unsigned long long seq;
		struct stat st;
		char *end;

		if (de->d_name[0] == '.') {
			/* A temporary file left by a killed writer (we hold the lock). */
			if (clean_tmp && strstr(de->d_name, ".tmp.") != NULL)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (strlen(de->d_name) != 22 || strcmp(de->d_name + 20, ".b") != 0 ||
		    spool_parse_ull(de->d_name, &end, &seq) < 0 || end != de->d_name + 20)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		if (n == cap) {
			struct spool_entry *nv;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		memcpy(v[n].name, de->d_name, 23);
		v[n].seq = seq;
		v[n].size = (size_t)st.st_size;
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_entry);
	*ret = v;
	*ret_n = n;
	v = NULL;
out:
	free(v);
	closedir(d);
	return r;
}

int
spool_list(struct spool *s, struct spool_entry **ret, size_t *ret_n)
{
	return spool_list_dir(s->qdir, true, ret, ret_n);
}

int
spool_load_path(const char *path, struct batch *ret)
{
	char *buf = NULL;
	size_t len;
	int r;

	r = fsio_read_file(path, LIMIT_RECORD_BYTES, &buf, &len);
	if (r == -EFBIG)
		return -EBADMSG;
	if (r < 0)
		return r;
	r = spool_record_decode(buf, len, ret);
	free(buf);
	return r;
}

int
spool_load(struct spool *s, const struct spool_entry *e, struct batch *ret)
{
	char path[PATH_MAX];
	int r;

	if ((r = spool_join(path, sizeof(path), s->qdir, e->name)) < 0)
		return r;
	return spool_load_path(path, ret);
}

int
spool_drop(struct spool *s, const struct spool_entry *e)
{
	char path[PATH_MAX];
	int r;

	if ((r = spool_join(path, sizeof(path), s->qdir, e->name)) < 0)
		return r;
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

int
spool_sync(struct spool *s)
{
	return fsio_fsync_dir(s->qdir);
}

int
spool_quarantine(struct spool *s, const struct spool_entry *e)
{
	char cdir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	int r;

	if ((r = spool_join(cdir, sizeof(cdir), s->dir, "corrupt")) < 0 ||
	    (r = spool_join(from, sizeof(from), s->qdir, e->name)) < 0 ||
	    (r = spool_join(to, sizeof(to), cdir, e->name)) < 0)
		return r;
	if (mkdir(cdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (rename(from, to) < 0)
		return -errno;
	return fsio_fsync_dir(s->qdir);
}

int
spool_reject(struct spool *s, const struct batch *b, const char *body, long status,
    const char *reply)
{
	char rdir[PATH_MAX], name[128], *txt;
	size_t len;
	int r;

	if ((r = spool_join(rdir, sizeof(rdir), s->dir, "rejected")) < 0)
		return r;
	if (mkdir(rdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	snprintf(name, sizeof(name), "%020llu-%s.json", b->seq, b->epoch);
	if ((r = fsio_write_atomic(rdir, name, body, strlen(body), 0600)) < 0)
		return r;
	len = strlen(reply) + 64;
	txt = malloc(len);
	if (txt == NULL)
		return -ENOMEM;
	len = (size_t)snprintf(txt, len, "HTTP %ld\n%s\n", status, reply);
	snprintf(name, sizeof(name), "%020llu-%s.reply", b->seq, b->epoch);
	r = fsio_write_atomic(rdir, name, txt, len, 0600);
	free(txt);
	return r;
}

int
spool_set_error(struct spool *s, const char *text)
{
	char path[PATH_MAX];
	int r;

	if (text == NULL) {
		if ((r = spool_join(path, sizeof(path), s->dir, "last_error")) < 0)
			return r;
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	}
	return fsio_write_atomic_nosync(s->dir, "last_error", text, strlen(text), 0600);
}

int
spool_push(struct spool *s, const struct batch *b, unsigned long long max_bytes,
    bool *ret_compacted)
{
	struct spool_entry *e = NULL;
	unsigned long long total = 0;
	char name[32], *buf = NULL;
	size_t n = 0, len;
	int r;

	if ((r = spool_record_encode(b, &buf, &len)) < 0)
		return r;
	if ((r = spool_list(s, &e, &n)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		total += e[i].size;
	if (n > 0 && total + len > max_bytes) {
		r = spool_compact(s, b, e, n);
		if (r == 0 && ret_compacted != NULL)
			*ret_compacted = true;
		goto out;
	}
	spool_entry_name(name, sizeof(name), b->seq);
	r = fsio_write_atomic(s->qdir, name, buf, len, 0600);
	if (r == 0 && ret_compacted != NULL)
		*ret_compacted = false;
out:
	free(buf);
	free(e);
	return r;
}

/* Reads the epoch and counter once. */
int
spool_ensure_loaded(struct spool *s)
{
	int r;

	if (s->loaded)
		return 0;
	if ((r = load_counter(s)) < 0)
		return r;
	s->loaded = true;
	return 0;
}
