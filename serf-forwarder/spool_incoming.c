/*
 * incoming/: batches of runs that could not get the lock in time, moved
 * into the queue by the next lock holder (spool_absorb); and the spool's
 * status, read without the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsio.h"
#include "spool_impl.h"

struct in_entry {
	char name[IN_NAME_LEN + 1];
	bool this_boot;
	bool regular;		/* a plain file (not a directory, FIFO, symlink, ...) */
	long long mtime_ns;
	size_t size;
};

/* The boot id as 32 hex digits ("0..." when unreadable). */
static void
boot_hex(char *buf, size_t len)
{
	char id[64];
	size_t n = 0;

	spool_read_boot_id(id, sizeof(id));
	for (const char *p = id; *p != '\0' && n + 1 < len && n < BOOT_HEX_LEN; p++)
		if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
			buf[n++] = *p;
	while (n + 1 < len && n < BOOT_HEX_LEN)
		buf[n++] = '0';
	buf[n] = '\0';
}

static bool
is_in_name(const char *n)
{
	static const char shape[] = "dddddddddddddddddddd-dddddddddd-dddddd-"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.b";

	if (strlen(n) != IN_NAME_LEN)
		return false;
	for (size_t i = 0; i < IN_NAME_LEN; i++) {
		char c = n[i];
		if (shape[i] == 'd' ? !(c >= '0' && c <= '9') :
		    shape[i] == 'x' ? !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) :
		    c != shape[i])
			return false;
	}
	return true;
}

/* Writing order: earlier boots first (by mtime), then this boot's by name. */
static int
cmp_in(const void *a, const void *b)
{
	const struct in_entry *x = a, *y = b;

	if (x->this_boot != y->this_boot)
		return x->this_boot ? 1 : -1;
	if (!x->this_boot && x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * incoming/ in writing order (malloc'd array). With clean, temporary files
 * of writers killed long ago are removed.
 */
static int
list_incoming(const char *indir, bool clean, struct in_entry **ret, size_t *ret_n)
{
	struct in_entry *v = NULL;
	size_t n = 0, cap = 0;
	char boot[BOOT_HEX_LEN + 1];
	struct dirent *de;
	time_t now = time(NULL);
	DIR *d;
	int r = 0;

	d = opendir(indir);
	if (d == NULL) {
		if (errno != ENOENT)
			return -errno;
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	boot_hex(boot, sizeof(boot));
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.') {
			if (clean && strstr(de->d_name, ".tmp.") != NULL &&
			    fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
			    now - st.st_mtime > IN_TMP_STALE_S)
				unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		/* Not following links: only a plain file is ever opened for reading. */
		if (!is_in_name(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (n == cap) {
			struct in_entry *nv;
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		memcpy(v[n].name, de->d_name, IN_NAME_LEN + 1);
		v[n].this_boot = strncmp(de->d_name + IN_NAME_LEN - 2 - BOOT_HEX_LEN, boot,
		    BOOT_HEX_LEN) == 0;
		v[n].regular = S_ISREG(st.st_mode);
		v[n].mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
		v[n].size = (size_t)st.st_size;
		n++;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_in);
	*ret = v;
	*ret_n = n;
	v = NULL;
out:
	free(v);
	closedir(d);
	return r;
}

int
spool_incoming_write(const char *dir, const struct batch *b)
{
	static unsigned counter;	/* names stay unique within one process */
	char indir[PATH_MAX], name[2 * IN_NAME_LEN], boot[BOOT_HEX_LEN + 1], *buf = NULL;
	struct timespec ts;
	size_t len;
	int r;

	if ((r = spool_join(indir, sizeof(indir), dir, INDIR)) < 0)
		return r;
	if (mkdir(indir, 0700) == 0) {
		if ((r = fsio_fsync_dir(dir)) < 0)
			return r;
	} else if (errno != EEXIST) {
		return -errno;
	}
	clock_gettime(CLOCK_BOOTTIME, &ts);
	boot_hex(boot, sizeof(boot));
	if (snprintf(name, sizeof(name), "%020llu-%010ld-%06u-%s.b",
	    (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec,
	    (long)getpid(), counter++ % 1000000, boot) != IN_NAME_LEN)
		return -EINVAL;
	if ((r = spool_record_encode(b, &buf, &len)) < 0)
		return r;
	r = fsio_write_atomic(indir, name, buf, len, 0600);
	free(buf);
	return r;
}

/*
 * Moves incoming/name to corrupt/ (durably enough: it is already out of the
 * way); why is kept for the log.
 */
static int
quarantine_incoming(struct spool *s, const char *indir, const char *name, const char *why)
{
	char cdir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	int r;

	if ((r = spool_join(cdir, sizeof(cdir), s->dir, "corrupt")) < 0 ||
	    (r = spool_join(from, sizeof(from), indir, name)) < 0 ||
	    (r = spool_join(to, sizeof(to), cdir, name)) < 0)
		return r;
	if (mkdir(cdir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (rename(from, to) < 0)
		return -errno;
	s->ncorrupt++;
	snprintf(s->last_aside, sizeof(s->last_aside), "%s (%s)", name, why);
	return 0;
}

const char *
spool_last_aside(const struct spool *s)
{
	return s->last_aside;
}


/* The queue's size in bytes and its listing (caller frees *ret). */
static int
queue_size(struct spool *s, struct spool_entry **ret, size_t *ret_n,
    unsigned long long *ret_bytes)
{
	unsigned long long total = 0;
	int r;

	if ((r = spool_list(s, ret, ret_n)) < 0)
		return r;
	for (size_t i = 0; i < *ret_n; i++)
		total += (*ret)[i].size;
	*ret_bytes = total;
	return 0;
}

/* One spool_absorb() run: where it is and what it has met so far. */
struct absorb {
	struct spool *s;
	const char *indir;
	unsigned long long max_bytes;
	spool_absorb_fn fn;
	void *arg;
	struct spool_entry *e;	/* the queue's listing, for compaction */
	size_t nq;
	unsigned long long total;
	size_t nskipped;	/* unusable files that could not be moved aside */
	bool compacted;
};

/*
 * Reads incoming/ file in: 0 with *ret loaded, 1 when it is gone or was
 * moved aside (corrupt, unreadable or not a file at all: out of the way,
 * so that it does not hold up the batches behind it; when even the move
 * fails it is skipped and tried again by the next run), or -ENOMEM.
 */
static int
absorb_read(struct absorb *a, const struct in_entry *in, const char *path,
    struct batch *ret)
{
	int r = in->regular ? spool_load_path(path, ret) : -EINVAL;

	if (r == -ENOENT)
		return 1;	/* gone since the listing */
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (quarantine_incoming(a->s, a->indir, in->name, !in->regular ?
		    "not a plain file" : r == -EBADMSG ? "not a spool record" :
		    strerror(-r)) < 0)
			a->nskipped++;
		return 1;
	}
	return 0;
}

/*
 * Moves one loaded batch b (file path, len bytes) into the queue,
 * compacting when the queue would pass its bound.
 */
static int
absorb_queue(struct absorb *a, const struct batch *b, const char *path, size_t len)
{
	char to[PATH_MAX], qname[32];
	int r;

	if (a->nq > 0 && a->total + len > a->max_bytes) {
		/* The listing is behind the renames: take it anew. */
		free(a->e);
		a->e = NULL;
		r = queue_size(a->s, &a->e, &a->nq, &a->total);
		if (r == 0)
			r = spool_compact(a->s, b, a->e, a->nq);
		if (r == 0 && unlink(path) < 0)
			r = -errno;
		free(a->e);
		a->e = NULL;
		if (r == 0)
			r = queue_size(a->s, &a->e, &a->nq, &a->total);
		a->compacted = true;
		return r;
	}
	spool_entry_name(qname, sizeof(qname), b->seq);
	if ((r = spool_join(to, sizeof(to), a->s->qdir, qname)) == 0 && rename(path, to) < 0)
		r = -errno;
	a->total += len;
	a->nq++;	/* e is not updated: only "not empty" matters here */
	return r;
}

/* One incoming/ file into the queue: 0 moved, 1 skipped, or -errno. */
static int
absorb_one(struct absorb *a, const struct in_entry *in)
{
	struct spool *s = a->s;
	char path[PATH_MAX], *buf = NULL;
	struct batch b;
	size_t len;
	int r;

	if ((r = spool_join(path, sizeof(path), a->indir, in->name)) < 0)
		return r;
	if ((r = absorb_read(a, in, path, &b)) != 0)
		return r;
	/* Numbered by an absorb that crashed before the rename: keep it. */
	if (b.seq == 0 || strcmp(b.epoch, s->epoch) != 0) {
		if ((r = spool_assign(s, &b)) < 0 ||
		    (r = spool_record_encode(&b, &buf, &len)) < 0 ||
		    (r = fsio_write_atomic(a->indir, in->name, buf, len, 0600)) < 0) {
			free(buf);
			batch_finish(&b);
			return r;
		}
		free(buf);
	} else {
		len = in->size;
	}
	r = absorb_queue(a, &b, path, len);
	if (r == 0 && a->fn != NULL && (r = a->fn(&b, a->arg)) > 0)
		r = 0;	/* moved all the same */
	batch_finish(&b);
	return r;
}

int
spool_absorb(struct spool *s, unsigned long long max_bytes, long long deadline_ms,
    spool_absorb_fn fn, void *arg, size_t *ret_n, bool *ret_compacted)
{
	struct absorb a = { .s = s, .max_bytes = max_bytes, .fn = fn, .arg = arg };
	struct in_entry *in = NULL;
	char indir[PATH_MAX];
	size_t nin = 0, moved = 0;
	bool left = false;
	int r;

	if ((r = spool_join(indir, sizeof(indir), s->dir, INDIR)) < 0)
		return r;
	a.indir = indir;
	if ((r = list_incoming(indir, true, &in, &nin)) < 0 || nin == 0)
		goto out;
	if ((r = spool_ensure_loaded(s)) < 0 || (r = queue_size(s, &a.e, &a.nq, &a.total)) < 0)
		goto out;
	for (size_t i = 0; i < nin; i++) {
		if (fsio_mono_ms() >= deadline_ms) {
			left = true;
			break;
		}
		if ((r = absorb_one(&a, &in[i])) < 0)
			goto out;
		if (r == 0)
			moved++;
	}
	r = fsio_fsync_dir(s->qdir);
	if (r == 0)
		r = fsio_fsync_dir(indir);
	if (r == 0 && left)
		r = -EAGAIN;
	if (r == 0 && a.nskipped > 0)
		snprintf(s->last_aside, sizeof(s->last_aside), "%zu unusable files could not "
		    "be moved out of incoming/", a.nskipped);
out:
	free(in);
	free(a.e);
	if (r == 0 || r == -EAGAIN) {
		*ret_n = moved;
		if (ret_compacted != NULL)
			*ret_compacted = a.compacted;
	}
	return r;
}

/* ---- status ---- */

int
spool_status(const char *dir, struct spool_status *ret)
{
	struct spool_status st = { .oldest_ms = -1 };
	struct spool_entry *e = NULL;
	struct in_entry *in = NULL;
	char qdir[PATH_MAX], path[PATH_MAX], *txt = NULL;
	size_t n = 0, nin = 0;
	int r;

	if ((r = spool_join(qdir, sizeof(qdir), dir, QDIR)) < 0)
		return r;
	if ((r = spool_list_dir(qdir, false, &e, &n)) < 0)
		return r;
	st.depth = n;
	for (size_t i = 0; i < n; i++)
		st.bytes += e[i].size;
	if ((r = spool_join(path, sizeof(path), dir, INDIR)) < 0 ||
	    (r = list_incoming(path, false, &in, &nin)) < 0) {
		free(e);
		return r;
	}
	st.depth += nin;
	for (size_t i = 0; i < nin; i++)
		st.bytes += in[i].size;
	for (size_t i = 0; i < n && st.oldest_ms < 0; i++) {
		struct batch b;
		struct stat sb;
		if (spool_join(path, sizeof(path), qdir, e[i].name) < 0)
			continue;
		if (spool_load_path(path, &b) == 0) {
			st.oldest_ms = b.t_ms;
			batch_finish(&b);
		} else if (stat(path, &sb) == 0) {
			st.oldest_ms = (long long)sb.st_mtime * 1000;
		}
	}
	/* Batches are numbered after q/'s, yet may be older (a stuck lock holder). */
	for (size_t i = 0; i < nin; i++) {
		char indir[PATH_MAX];
		struct batch b;

		if (spool_join(indir, sizeof(indir), dir, INDIR) < 0 ||
		    spool_join(path, sizeof(path), indir, in[i].name) < 0 || spool_load_path(path, &b) < 0)
			continue;
		if (st.oldest_ms < 0 || b.t_ms < st.oldest_ms)
			st.oldest_ms = b.t_ms;
		batch_finish(&b);
		break;
	}
	if (spool_join(path, sizeof(path), dir, "last_error") == 0 &&
	    fsio_read_file(path, sizeof(st.last_error) - 1, &txt, NULL) == 0) {
		txt[strcspn(txt, "\n")] = '\0';
		snprintf(st.last_error, sizeof(st.last_error), "%s", txt);
		free(txt);
	}
	free(e);
	free(in);
	*ret = st;
	return 0;
}
