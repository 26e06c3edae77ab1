/* serf's handler input: member lines on stdin, `serf members` JSON. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cm_limits.h"
#include "fsio.h"
#include "serf_input.h"

struct serf_parser {
	serf_input_bad_fn bad;
	void *arg;
	char *line;		/* LIMIT_STDIN_LINE_BYTES + 1 */
	size_t len;
	bool overlong;		/* the current line passed the limit: skip to '\n' */
	size_t lineno;
	size_t nbad;
	bool too_many_reported;
	struct serf_members ms;
	size_t cap;
};

void
serf_member_finish(struct serf_member *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->addr);
	free(m->role);
	free(m->status);
	for (size_t i = 0; i < m->ntags; i++) {
		free(m->tags[i].key);
		free(m->tags[i].value);
	}
	free(m->tags);
	memset(m, 0, sizeof(*m));
}

void
serf_members_finish(struct serf_members *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++)
		serf_member_finish(&ms->v[i]);
	free(ms->v);
	ms->v = NULL;
	ms->n = 0;
}

const char *
serf_member_tag(const struct serf_member *m, const char *key)
{
	for (size_t i = 0; i < m->ntags; i++)
		if (strcmp(m->tags[i].key, key) == 0)
			return m->tags[i].value;
	return NULL;
}

static int
tag_push(struct serf_member *m, const char *k, size_t klen, const char *v, size_t vlen)
{
	struct serf_tag *t = realloc(m->tags, (m->ntags + 1) * sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	m->tags = t;
	t[m->ntags].key = strndup(k, klen);
	t[m->ntags].value = strndup(v, vlen);
	if (t[m->ntags].key == NULL || t[m->ntags].value == NULL) {
		free(t[m->ntags].key);
		free(t[m->ntags].value);
		return -ENOMEM;
	}
	m->ntags++;
	return 0;
}

/* Appends ",piece" to the last tag's value. */
static int
tag_extend(struct serf_member *m, const char *piece, size_t len)
{
	struct serf_tag *t = &m->tags[m->ntags - 1];
	size_t old = strlen(t->value);
	char *v = realloc(t->value, old + 1 + len + 1);

	if (v == NULL)
		return -ENOMEM;
	v[old] = ',';
	memcpy(v + old + 1, piece, len);
	v[old + 1 + len] = '\0';
	t->value = v;
	return 0;
}

static bool
has_key(const struct serf_member *m, const char *k, size_t klen)
{
	for (size_t i = 0; i < m->ntags; i++)
		if (strlen(m->tags[i].key) == klen && memcmp(m->tags[i].key, k, klen) == 0)
			return true;
	return false;
}

int
serf_input_parse_tags(const char *s, size_t len, struct serf_member *m)
{
	const char *end = s + len;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t plen = comma ? (size_t)(comma - s) : (size_t)(end - s);
		const char *eq = memchr(s, '=', plen);
		int r;

		if (m->ntags > 0 && (eq == NULL || has_key(m, s, (size_t)(eq - s))))
			r = tag_extend(m, s, plen);
		else if (eq == NULL)
			r = plen > 0 ? tag_push(m, s, plen, "", 0) : 0;
		else
			r = tag_push(m, s, (size_t)(eq - s), eq + 1, plen - (size_t)(eq - s) - 1);
		if (r < 0)
			return r;
		s += plen;
		if (s < end)
			s++;	/* the comma */
	}
	return 0;
}

static bool
blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

int
serf_input_parse_line(const char *line, size_t len, struct serf_member *ret,
    char *why, size_t whylen)
{
	const char *f[4] = { NULL, NULL, NULL, NULL };
	size_t flen[4] = { 0, 0, 0, 0 };
	struct serf_member m = { 0 };
	size_t nf = 0;
	const char *p = line, *end;
	int r;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (blank(line, len))
		return -ENODATA;
	end = line + len;
	if (memchr(line, '\0', len) != NULL) {
		snprintf(why, whylen, "line holds a NUL byte");
		return -EINVAL;
	}
	for (;;) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		if (nf == 4) {
			snprintf(why, whylen, "more than 4 tab separated fields");
			return -EINVAL;
		}
		f[nf] = p;
		flen[nf] = tab ? (size_t)(tab - p) : (size_t)(end - p);
		nf++;
		if (tab == NULL)
			break;
		p = tab + 1;
	}
	if (nf < 2 || flen[0] == 0 || flen[1] == 0) {
		snprintf(why, whylen, "missing member name or address");
		return -EINVAL;
	}
	m.name = strndup(f[0], flen[0]);
	m.addr = strndup(f[1], flen[1]);
	m.role = strndup(nf > 2 ? f[2] : "", flen[2]);
	if (m.name == NULL || m.addr == NULL || m.role == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (nf > 3 && (r = serf_input_parse_tags(f[3], flen[3], &m)) < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	serf_member_finish(&m);
	return r;
}

struct serf_parser *
serf_parser_new(serf_input_bad_fn bad, void *arg)
{
	struct serf_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->line = malloc(LIMIT_STDIN_LINE_BYTES + 1);
	if (p->line == NULL) {
		free(p);
		return NULL;
	}
	p->bad = bad;
	p->arg = arg;
	return p;
}

void
serf_parser_free(struct serf_parser *p)
{
	if (p == NULL)
		return;
	serf_members_finish(&p->ms);
	free(p->line);
	free(p);
}

static void
left_out(struct serf_parser *p, const char *why)
{
	p->nbad++;
	if (p->bad != NULL)
		p->bad(p->lineno, why, p->arg);
}

/* One complete line in p->line[0..len). */
static int
take_line(struct serf_parser *p)
{
	struct serf_member m;
	char why[128];
	int r;

	p->lineno++;
	if (p->overlong) {
		p->overlong = false;
		p->len = 0;
		snprintf(why, sizeof(why), "line longer than %d bytes",
		    LIMIT_STDIN_LINE_BYTES);
		left_out(p, why);
		return 0;
	}
	r = serf_input_parse_line(p->line, p->len, &m, why, sizeof(why));
	p->len = 0;
	if (r == -ENODATA)
		return 0;
	if (r == -EINVAL) {
		left_out(p, why);
		return 0;
	}
	if (r < 0)
		return r;
	if (p->ms.n >= LIMIT_STDIN_MEMBERS) {
		serf_member_finish(&m);
		snprintf(why, sizeof(why), "more than %d members", LIMIT_STDIN_MEMBERS);
		left_out(p, why);
		return 0;
	}
	if (p->ms.n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct serf_member *v = realloc(p->ms.v, cap * sizeof(*v));
		if (v == NULL) {
			serf_member_finish(&m);
			return -ENOMEM;
		}
		p->ms.v = v;
		p->cap = cap;
	}
	p->ms.v[p->ms.n++] = m;
	return 0;
}

int
serf_parser_feed(struct serf_parser *p, const char *buf, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t n = nl ? (size_t)(nl - buf) : len;
		int r;

		if (!p->overlong) {
			if (p->len + n > LIMIT_STDIN_LINE_BYTES) {
				p->overlong = true;
			} else {
				memcpy(p->line + p->len, buf, n);
				p->len += n;
			}
		}
		if (nl == NULL)
			return 0;
		if ((r = take_line(p)) < 0)
			return r;
		buf += n + 1;
		len -= n + 1;
	}
	return 0;
}

int
serf_parser_end(struct serf_parser *p, struct serf_members *ret, size_t *ret_nbad)
{
	int r;

	if ((p->len > 0 || p->overlong) && (r = take_line(p)) < 0)
		return r;
	*ret = p->ms;
	*ret_nbad = p->nbad;
	memset(&p->ms, 0, sizeof(p->ms));
	p->cap = 0;
	p->nbad = 0;
	p->lineno = 0;
	return 0;
}

int
serf_input_read_fd(struct serf_parser *p, int fd, long long deadline_ms)
{
	char buf[16384];

	for (;;) {
		long long left = deadline_ms - fsio_mono_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		if ((r = serf_parser_feed(p, buf, (size_t)n)) < 0)
			return r;
	}
}

/* "1.2.3.4:7946" -> "1.2.3.4", "[::1]:7946" -> "::1"; a bare IPv6 stays. */
static char *
strip_port(const char *a)
{
	const char *c;

	if (a[0] == '[') {
		c = strchr(a, ']');
		return c ? strndup(a + 1, (size_t)(c - a - 1)) : strdup(a);
	}
	c = strchr(a, ':');
	if (c != NULL && strchr(c + 1, ':') == NULL)
		return strndup(a, (size_t)(c - a));
	return strdup(a);
}

int
serf_input_parse_members_json(const char *json, size_t len, struct serf_members *ret,
    char *err, size_t errlen)
{
	struct serf_members ms = { 0 };
	const cJSON *arr, *it;
	cJSON *root;
	size_t n;
	int r = -EINVAL;

	root = cJSON_ParseWithLength(json, len);
	if (root == NULL) {
		snprintf(err, errlen, "serf members output is not JSON");
		return -EINVAL;
	}
	arr = cJSON_GetObjectItemCaseSensitive(root, "members");
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "serf members output has no \"members\" array");
		goto out;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n > LIMIT_STDIN_MEMBERS) {
		snprintf(err, errlen, "serf lists more than %d members", LIMIT_STDIN_MEMBERS);
		r = -E2BIG;
		goto out;
	}
	ms.v = calloc(n ? n : 1, sizeof(*ms.v));
	if (ms.v == NULL) {
		r = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(it, arr) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *addr = cJSON_GetObjectItemCaseSensitive(it, "addr");
		const cJSON *status = cJSON_GetObjectItemCaseSensitive(it, "status");
		const cJSON *tags = cJSON_GetObjectItemCaseSensitive(it, "tags");
		const cJSON *t;
		struct serf_member *m = &ms.v[ms.n];

		if (!cJSON_IsString(name) || !cJSON_IsString(addr) || !cJSON_IsString(status)) {
			snprintf(err, errlen, "serf members entry %zu lacks name, addr or status",
			    ms.n + 1);
			goto out;
		}
		ms.n++;
		m->name = strdup(name->valuestring);
		m->addr = strip_port(addr->valuestring);
		m->status = strdup(status->valuestring);
		if (m->name == NULL || m->addr == NULL || m->status == NULL) {
			r = -ENOMEM;
			goto out;
		}
		cJSON_ArrayForEach(t, tags) {
			if (!cJSON_IsString(t) || t->string == NULL)
				continue;
			if (tag_push(m, t->string, strlen(t->string), t->valuestring,
			    strlen(t->valuestring)) < 0) {
				r = -ENOMEM;
				goto out;
			}
		}
		m->role = strdup(serf_member_tag(m, "role") ? serf_member_tag(m, "role") : "");
		if (m->role == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	*ret = ms;
	memset(&ms, 0, sizeof(ms));
	r = 0;
out:
	serf_members_finish(&ms);
	cJSON_Delete(root);
	return r;
}
