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

#include <msgpack.h>

#include "crc32c.h"
#include "fsio.h"
#include "mpcheck.h"
#include "spool.h"

#define SEQ_BLOCK	1024ULL
#define HDR_LEN		8
#define QDIR		"q"
#define INDIR		"incoming"
#define BOOT_HEX_LEN	32	/* the boot id without its dashes */
/* incoming/ names: 20-digit stamp, 10-digit pid, 6-digit counter, boot id, ".b". */
#define IN_NAME_LEN	(20 + 1 + 10 + 1 + 6 + 1 + BOOT_HEX_LEN + 2)
/*
 * A temporary file in incoming/ older than this is a killed writer's (a
 * run lasts at most 3600 s); younger ones may still be written.
 */
#define IN_TMP_STALE_S	(2 * 3600)

struct spool {
	char dir[PATH_MAX];
	char qdir[PATH_MAX];
	int lock_fd;
	bool loaded;			/* epoch and counter read */
	char epoch[LIMIT_EPOCH_LEN + 1];
	unsigned long long next, reserved;
	char boot[64];
	size_t ncorrupt;
	char last_aside[IN_NAME_LEN + 64];	/* the last incoming/ file moved aside, why */
};

static int
join(char *buf, size_t len, const char *a, const char *b)
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
spool_write_quick(const char *dir, const char *name, const void *buf, size_t len)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, name,
	    (long)getpid()) >= sizeof(tmp) || join(dst, sizeof(dst), dir, name) < 0)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = fsio_write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int
spool_write_inplace(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, r;

	if ((r = join(path, sizeof(path), dir, name)) < 0)
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
	    join(s->qdir, sizeof(s->qdir), dir, QDIR) < 0 ||
	    join(lock, sizeof(lock), dir, "lock") < 0) {
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

/* ---- record encoding ---- */

static int
pack_str(msgpack_packer *pk, const char *v)
{
	size_t l = strlen(v);

	if (msgpack_pack_str(pk, l) != 0)
		return -ENOMEM;
	return msgpack_pack_str_body(pk, v, l) != 0 ? -ENOMEM : 0;
}

static int
pack_kv(msgpack_packer *pk, const char *k, const char *v)
{
	int r = pack_str(pk, k);

	return r < 0 ? r : pack_str(pk, v);
}

static int
pack_report(msgpack_packer *pk, const struct report *r)
{
	static const char *keys[] = { REPORT_KEY_LABEL, REPORT_KEY_SERIAL, REPORT_KEY_ADDR,
	    REPORT_KEY_NAME, REPORT_KEY_ROLE, REPORT_KEY_EVENT, REPORT_KEY_STATUS };
	size_t n = r->ntags;
	int rc;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		n += report_get(r, keys[i]) != NULL;
	if (msgpack_pack_map(pk, n) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = report_get(r, keys[i]);
		if (v != NULL && (rc = pack_kv(pk, keys[i], v)) < 0)
			return rc;
	}
	for (size_t i = 0; i < r->ntags; i++)
		if ((rc = pack_kv(pk, r->tags[i].key, r->tags[i].value)) < 0)
			return rc;
	return 0;
}

static void
put_le32(char *p, uint32_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)((v >> 8) & 0xff);
	p[2] = (char)((v >> 16) & 0xff);
	p[3] = (char)((v >> 24) & 0xff);
}

static uint32_t
get_le32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	    (uint32_t)u[3] << 24;
}

int
spool_record_encode(const struct batch *b, char **ret_buf, size_t *ret_len)
{
	static const char zero[HDR_LEN];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r = -ENOMEM;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_sbuffer_write(&sb, zero, HDR_LEN) != 0)
		goto out;
	if (msgpack_pack_map(&pk, 6) != 0 ||
	    pack_kv(&pk, "epoch", b->epoch) < 0 ||
	    pack_str(&pk, "seq") < 0 || msgpack_pack_unsigned_long_long(&pk, b->seq) != 0 ||
	    pack_kv(&pk, "kind", b->kind == REPORT_KIND_NONE ? "" :
	    report_kind_name(b->kind)) < 0 ||
	    pack_str(&pk, "reporter") < 0 ||
	    (b->reporter ? pack_str(&pk, b->reporter) : msgpack_pack_nil(&pk)) != 0 ||
	    pack_str(&pk, "t") < 0 || msgpack_pack_long_long(&pk, b->t_ms) != 0 ||
	    pack_str(&pk, "reports") < 0 || msgpack_pack_array(&pk, b->n) != 0)
		goto out;
	for (size_t i = 0; i < b->n; i++)
		if (pack_report(&pk, &b->reports[i]) < 0)
			goto out;
	if (sb.size - HDR_LEN > UINT32_MAX) {
		r = -E2BIG;
		goto out;
	}
	put_le32(sb.data, (uint32_t)(sb.size - HDR_LEN));
	put_le32(sb.data + 4, crc32c(0, sb.data + HDR_LEN, sb.size - HDR_LEN));
	*ret_buf = sb.data;
	*ret_len = sb.size;
	sb.data = NULL;
	r = 0;
out:
	msgpack_sbuffer_destroy(&sb);
	return r;
}

static bool
str_is(const msgpack_object *o, const char *s)
{
	size_t l = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == l &&
	    memcmp(o->via.str.ptr, s, l) == 0;
}

/* A msgpack string as a malloc'd C string; NULL when not a NUL-free string. */
static char *
str_dup(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return NULL;
	return strndup(o->via.str.ptr, o->via.str.size);
}

static int
unpack_report(const msgpack_object *o, struct report *ret)
{
	struct report r;

	if (o->type != MSGPACK_OBJECT_MAP)
		return -EBADMSG;
	report_init(&r);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		char *k = str_dup(&o->via.map.ptr[i].key);
		char *v = str_dup(&o->via.map.ptr[i].val);
		int rc = (k == NULL || v == NULL) ? -EBADMSG : report_set(&r, k, v);
		free(k);
		free(v);
		if (rc < 0) {
			report_finish(&r);
			return rc == -ENOMEM ? rc : -EBADMSG;
		}
	}
	*ret = r;
	return 0;
}

int
spool_record_decode(const char *buf, size_t len, struct batch *ret)
{
	msgpack_unpacked up;
	const msgpack_object *root;
	struct batch b;
	size_t off = 0;
	uint32_t plen;
	int r = -EBADMSG;

	if (len < HDR_LEN)
		return -EBADMSG;
	plen = get_le32(buf);
	if ((size_t)plen != len - HDR_LEN || get_le32(buf + 4) != crc32c(0, buf + HDR_LEN, plen))
		return -EBADMSG;
	batch_init(&b);
	msgpack_unpacked_init(&up);
	if (!mpcheck_bounded(buf + HDR_LEN, plen) ||
	    msgpack_unpack_next(&up, buf + HDR_LEN, plen, &off) != MSGPACK_UNPACK_SUCCESS ||
	    up.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	root = &up.data;
	for (uint32_t i = 0; i < root->via.map.size; i++) {
		const msgpack_object *k = &root->via.map.ptr[i].key;
		const msgpack_object *v = &root->via.map.ptr[i].val;

		if (str_is(k, "epoch")) {
			if (v->type != MSGPACK_OBJECT_STR || v->via.str.size > LIMIT_EPOCH_LEN)
				goto out;
			if (v->via.str.size > 0)
				memcpy(b.epoch, v->via.str.ptr, v->via.str.size);
			b.epoch[v->via.str.size] = '\0';
		} else if (str_is(k, "seq")) {
			if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
				goto out;
			b.seq = v->via.u64;
		} else if (str_is(k, "kind")) {
			if (str_is(v, "discovered"))
				b.kind = REPORT_KIND_DISCOVERED;
			else if (str_is(v, "disappeared"))
				b.kind = REPORT_KIND_DISAPPEARED;
			else
				b.kind = REPORT_KIND_NONE;
		} else if (str_is(k, "reporter")) {
			free(b.reporter);	/* a repeated key must not leak the first */
			b.reporter = NULL;
			if (v->type != MSGPACK_OBJECT_NIL && (b.reporter = str_dup(v)) == NULL)
				goto out;
		} else if (str_is(k, "t")) {
			if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
				b.t_ms = (long long)v->via.u64;
			else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
				b.t_ms = v->via.i64;
		} else if (str_is(k, "reports")) {
			if (v->type != MSGPACK_OBJECT_ARRAY)
				goto out;
			for (uint32_t j = 0; j < v->via.array.size; j++) {
				struct report rep;
				if ((r = unpack_report(&v->via.array.ptr[j], &rep)) < 0)
					goto out;
				if ((r = batch_add(&b, &rep)) < 0) {
					report_finish(&rep);
					goto out;
				}
			}
			r = -EBADMSG;
		}
	}
	*ret = b;
	batch_init(&b);
	r = 0;
out:
	msgpack_unpacked_destroy(&up);
	batch_finish(&b);
	return r;
}

/* ---- epoch and sequence ---- */

/* The kernel's boot id (procfs files report size 0: read, do not stat). */
static void
read_boot_id(char *buf, size_t len)
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

static int
parse_ull(const char *s, char **end, unsigned long long *ret)
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

	read_boot_id(s->boot, sizeof(s->boot));
	if ((r = join(path, sizeof(path), s->dir, "epoch")) < 0)
		return r;
	r = fsio_read_file(path, 4096, &buf, NULL);
	if (r == -ENOENT)
		return new_epoch(s);
	if (r < 0)
		return r;
	p = buf;
	end = strchr(p, '\n');
	if (end == NULL || end == p || (size_t)(end - p) > LIMIT_EPOCH_LEN ||
	    parse_ull(end + 1, &p, &s->reserved) < 0) {
		free(buf);
		return new_epoch(s);	/* an unreadable epoch: start a new one */
	}
	memcpy(s->epoch, buf, (size_t)(end - buf));
	s->epoch[end - buf] = '\0';
	free(buf);
	buf = NULL;

	/* The cheap counter, trusted only when written in this boot. */
	next = 0;
	if (join(path, sizeof(path), s->dir, "seq") == 0 &&
	    fsio_read_file(path, 4096, &buf, NULL) == 0) {
		if (parse_ull(buf, &p, &next) < 0 || *p != ' ' ||
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
	memcpy(b->epoch, s->epoch, sizeof(b->epoch));
	b->seq = s->next++;
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
static void
entry_name(char *buf, size_t len, unsigned long long seq)
{
	snprintf(buf, len, "%020llu.b", seq);
}

static int
list_dir(const char *qdir, bool clean_tmp, struct spool_entry **ret, size_t *ret_n)
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
		    parse_ull(de->d_name, &end, &seq) < 0 || end != de->d_name + 20)
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
	return list_dir(s->qdir, true, ret, ret_n);
}

static int
load_path(const char *path, struct batch *ret)
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

	if ((r = join(path, sizeof(path), s->qdir, e->name)) < 0)
		return r;
	return load_path(path, ret);
}

int
spool_drop(struct spool *s, const struct spool_entry *e)
{
	char path[PATH_MAX];
	int r;

	if ((r = join(path, sizeof(path), s->qdir, e->name)) < 0)
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

	if ((r = join(cdir, sizeof(cdir), s->dir, "corrupt")) < 0 ||
	    (r = join(from, sizeof(from), s->qdir, e->name)) < 0 ||
	    (r = join(to, sizeof(to), cdir, e->name)) < 0)
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

	if ((r = join(rdir, sizeof(rdir), s->dir, "rejected")) < 0)
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
		if ((r = join(path, sizeof(path), s->dir, "last_error")) < 0)
			return r;
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	}
	return spool_write_quick(s->dir, "last_error", text, strlen(text));
}

/* ---- compaction ---- */

struct item {
	const char *reporter;	/* points into the batch it came from */
	char node[LIMIT_NODE_NAME_LEN + 1];
	size_t ord;
	enum report_kind kind;
	struct report *r;
	bool keep;
};

static int
cmp_node(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = strcmp(x->reporter ? x->reporter : "", y->reporter ? y->reporter : "");

	if (c == 0)
		c = strcmp(x->node, y->node);
	if (c == 0)
		c = x->ord < y->ord ? -1 : x->ord > y->ord;
	return c;
}

static int
cmp_ord(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static bool
same_reporter(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static int
write_batch(struct spool *s, const struct batch *b)
{
	char name[32], *buf = NULL;
	size_t len;
	int r;

	if ((r = spool_record_encode(b, &buf, &len)) < 0)
		return r;
	entry_name(name, sizeof(name), b->seq);
	r = fsio_write_atomic(s->qdir, name, buf, len, 0600);
	free(buf);
	return r;
}

/*
 * Rewrites the queue plus nb as the newest report per (reporter, node), in
 * batches per (reporter, kind) of at most BATCH_MAX_REPORTS, with new
 * sequence numbers; then removes the old files.
 */
static int
compact(struct spool *s, const struct batch *nb, const struct spool_entry *e, size_t ne)
{
	struct batch *src = NULL, out;
	struct item *it = NULL;
	size_t nsrc = 0, nit = 0, cap = 0;
	int r = 0;

	batch_init(&out);
	src = calloc(ne + 1, sizeof(*src));
	if (src == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ne; i++) {
		r = spool_load(s, &e[i], &src[nsrc]);
		if (r == -EBADMSG) {
			s->ncorrupt++;
			spool_quarantine(s, &e[i]);
			continue;
		}
		if (r < 0)
			goto out;
		nsrc++;
	}
	for (size_t i = 0; i < nsrc + 1; i++) {
		const struct batch *b = i < nsrc ? &src[i] : nb;
		for (size_t j = 0; j < b->n; j++) {
			if (nit == cap) {
				struct item *v;
				cap = cap ? cap * 2 : 256;
				v = realloc(it, cap * sizeof(*v));
				if (v == NULL) {
					r = -ENOMEM;
					goto out;
				}
				it = v;
			}
			it[nit].reporter = b->reporter;
			if (report_node_name(&b->reports[j], it[nit].node,
			    sizeof(it[nit].node)) < 0)
				snprintf(it[nit].node, sizeof(it[nit].node), "?");
			it[nit].ord = nit;
			it[nit].kind = b->kind;
			it[nit].r = &b->reports[j];
			it[nit].keep = false;
			nit++;
		}
	}
	if (nit == 0)
		goto drop;
	qsort(it, nit, sizeof(*it), cmp_node);
	for (size_t i = 0; i < nit; i++)
		it[i].keep = i + 1 == nit ||
		    !same_reporter(it[i].reporter, it[i + 1].reporter) ||
		    strcmp(it[i].node, it[i + 1].node) != 0;
	qsort(it, nit, sizeof(*it), cmp_ord);

	/* One pass per (reporter, kind) group, in order of first appearance. */
	for (size_t i = 0; i < nit; i++) {
		if (!it[i].keep)
			continue;
		const char *rep = it[i].reporter;
		enum report_kind kind = it[i].kind;
		for (size_t j = i; j < nit; j++) {
			if (!it[j].keep || it[j].kind != kind || !same_reporter(it[j].reporter, rep))
				continue;
			if (out.n == 0) {
				out.kind = kind;
				out.t_ms = fsio_now_ms();
				if (rep != NULL && (out.reporter = strdup(rep)) == NULL) {
					r = -ENOMEM;
					goto out;
				}
			}
			if ((r = batch_add_copy(&out, it[j].r)) < 0)
				goto out;
			it[j].keep = false;
			if (out.n == BATCH_MAX_REPORTS) {
				if ((r = spool_assign(s, &out)) < 0 || (r = write_batch(s, &out)) < 0)
					goto out;
				batch_finish(&out);
			}
		}
		if (out.n > 0) {
			if ((r = spool_assign(s, &out)) < 0 || (r = write_batch(s, &out)) < 0)
				goto out;
			batch_finish(&out);
		}
	}
drop:
	for (size_t i = 0; i < ne; i++)
		spool_drop(s, &e[i]);
	r = spool_sync(s);
out:
	batch_finish(&out);
	for (size_t i = 0; i < nsrc; i++)
		batch_finish(&src[i]);
	free(src);
	free(it);
	return r;
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
		r = compact(s, b, e, n);
		if (r == 0 && ret_compacted != NULL)
			*ret_compacted = true;
		goto out;
	}
	entry_name(name, sizeof(name), b->seq);
	r = fsio_write_atomic(s->qdir, name, buf, len, 0600);
	if (r == 0 && ret_compacted != NULL)
		*ret_compacted = false;
out:
	free(buf);
	free(e);
	return r;
}

/* ---- incoming/ ---- */

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

	read_boot_id(id, sizeof(id));
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

	if ((r = join(indir, sizeof(indir), dir, INDIR)) < 0)
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

	if ((r = join(cdir, sizeof(cdir), s->dir, "corrupt")) < 0 ||
	    (r = join(from, sizeof(from), indir, name)) < 0 ||
	    (r = join(to, sizeof(to), cdir, name)) < 0)
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

/* Reads the epoch and counter once. */
static int
ensure_loaded(struct spool *s)
{
	int r;

	if (s->loaded)
		return 0;
	if ((r = load_counter(s)) < 0)
		return r;
	s->loaded = true;
	return 0;
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

int
spool_absorb(struct spool *s, unsigned long long max_bytes, long long deadline_ms,
    spool_absorb_fn fn, void *arg, size_t *ret_n, bool *ret_compacted)
{
	struct in_entry *in = NULL;
	struct spool_entry *e = NULL;
	unsigned long long total = 0;
	char indir[PATH_MAX];
	size_t nin = 0, nq = 0, moved = 0, nskipped = 0;
	bool compacted = false, left = false;
	int r;

	if ((r = join(indir, sizeof(indir), s->dir, INDIR)) < 0)
		return r;
	if ((r = list_incoming(indir, true, &in, &nin)) < 0 || nin == 0)
		goto out;
	if ((r = ensure_loaded(s)) < 0 || (r = queue_size(s, &e, &nq, &total)) < 0)
		goto out;
	for (size_t i = 0; i < nin; i++) {
		char path[PATH_MAX], to[PATH_MAX], qname[32], *buf = NULL;
		struct batch b;
		size_t len;

		if (fsio_mono_ms() >= deadline_ms) {
			left = true;
			break;
		}
		if ((r = join(path, sizeof(path), indir, in[i].name)) < 0)
			goto out;
		r = in[i].regular ? load_path(path, &b) : -EINVAL;
		if (r == -ENOENT)
			continue;	/* gone since the listing */
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			/*
			 * Corrupt, unreadable or not a file at all: out of the way,
			 * so that it does not hold up the batches behind it. When
			 * even the move fails it is skipped (and tried again by
			 * the next run).
			 */
			if (quarantine_incoming(s, indir, in[i].name, !in[i].regular ?
			    "not a plain file" : r == -EBADMSG ? "not a spool record" :
			    strerror(-r)) < 0)
				nskipped++;
			continue;
		}
		/* Numbered by an absorb that crashed before the rename: keep it. */
		if (b.seq == 0 || strcmp(b.epoch, s->epoch) != 0) {
			if ((r = spool_assign(s, &b)) < 0 ||
			    (r = spool_record_encode(&b, &buf, &len)) < 0 ||
			    (r = fsio_write_atomic(indir, in[i].name, buf, len, 0600)) < 0) {
				free(buf);
				batch_finish(&b);
				goto out;
			}
			free(buf);
		} else {
			len = in[i].size;
		}
		if (nq > 0 && total + len > max_bytes) {
			/* The listing is behind the renames above: take it anew. */
			free(e);
			e = NULL;
			r = queue_size(s, &e, &nq, &total);
			if (r == 0)
				r = compact(s, &b, e, nq);
			if (r == 0 && unlink(path) < 0)
				r = -errno;
			free(e);
			e = NULL;
			if (r == 0)
				r = queue_size(s, &e, &nq, &total);
			compacted = true;
		} else {
			entry_name(qname, sizeof(qname), b.seq);
			if ((r = join(to, sizeof(to), s->qdir, qname)) == 0 && rename(path, to) < 0)
				r = -errno;
			total += len;
			nq++;	/* e is not updated: only "not empty" matters here */
		}
		if (r == 0 && fn != NULL)
			r = fn(&b, arg);
		batch_finish(&b);
		if (r < 0)
			goto out;
		moved++;
	}
	r = fsio_fsync_dir(s->qdir);
	if (r == 0)
		r = fsio_fsync_dir(indir);
	if (r == 0 && left)
		r = -EAGAIN;
	if (r == 0 && nskipped > 0)
		snprintf(s->last_aside, sizeof(s->last_aside), "%zu unusable files could not "
		    "be moved out of incoming/", nskipped);
out:
	free(in);
	free(e);
	if (r == 0 || r == -EAGAIN) {
		*ret_n = moved;
		if (ret_compacted != NULL)
			*ret_compacted = compacted;
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

	if ((r = join(qdir, sizeof(qdir), dir, QDIR)) < 0)
		return r;
	if ((r = list_dir(qdir, false, &e, &n)) < 0)
		return r;
	st.depth = n;
	for (size_t i = 0; i < n; i++)
		st.bytes += e[i].size;
	if ((r = join(path, sizeof(path), dir, INDIR)) < 0 ||
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
		if (join(path, sizeof(path), qdir, e[i].name) < 0)
			continue;
		if (load_path(path, &b) == 0) {
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

		if (join(indir, sizeof(indir), dir, INDIR) < 0 ||
		    join(path, sizeof(path), indir, in[i].name) < 0 || load_path(path, &b) < 0)
			continue;
		if (st.oldest_ms < 0 || b.t_ms < st.oldest_ms)
			st.oldest_ms = b.t_ms;
		batch_finish(&b);
		break;
	}
	if (join(path, sizeof(path), dir, "last_error") == 0 &&
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
