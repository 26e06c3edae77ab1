/* The report model: storage, validation and the node name. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_limits.h"
#include "report.h"
#include "text.h"

struct known_key {
	const char *key;
	size_t off;
	size_t max;
};

static const struct known_key known[] = {
	{ REPORT_KEY_LABEL, offsetof(struct report, label), LIMIT_LABEL_LEN },
	{ REPORT_KEY_SERIAL, offsetof(struct report, serial), LIMIT_SERIAL_LEN },
	{ REPORT_KEY_ADDR, offsetof(struct report, addr), LIMIT_ADDR_LEN },
	{ REPORT_KEY_NAME, offsetof(struct report, name), LIMIT_MEMBER_NAME_LEN },
	{ REPORT_KEY_ROLE, offsetof(struct report, role), LIMIT_ROLE_LEN },
	{ REPORT_KEY_EVENT, offsetof(struct report, event), 32 },
	{ REPORT_KEY_STATUS, offsetof(struct report, status), 32 },
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

static char **
field(struct report *r, size_t i)
{
	return (char **)((char *)r + known[i].off);
}

static const char *
cfield(const struct report *r, size_t i)
{
	return *(char *const *)((const char *)r + known[i].off);
}

void
report_init(struct report *r)
{
	memset(r, 0, sizeof(*r));
}

void
report_finish(struct report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < NKNOWN; i++)
		free(*field(r, i));
	for (size_t i = 0; i < r->ntags; i++) {
		free(r->tags[i].key);
		free(r->tags[i].value);
	}
	free(r->tags);
	memset(r, 0, sizeof(*r));
}

int
report_copy(struct report *dst, const struct report *src)
{
	struct report tmp;

	report_init(&tmp);
	for (size_t i = 0; i < NKNOWN; i++) {
		const char *v = cfield(src, i);
		if (v != NULL && (*field(&tmp, i) = strdup(v)) == NULL)
			goto oom;
	}
	if (src->ntags > 0) {
		tmp.tags = calloc(src->ntags, sizeof(*tmp.tags));
		if (tmp.tags == NULL)
			goto oom;
		for (size_t i = 0; i < src->ntags; i++) {
			tmp.tags[i].key = strdup(src->tags[i].key);
			tmp.tags[i].value = strdup(src->tags[i].value);
			tmp.ntags++;
			if (tmp.tags[i].key == NULL || tmp.tags[i].value == NULL)
				goto oom;
		}
	}
	report_finish(dst);
	*dst = tmp;
	return 0;
oom:
	report_finish(&tmp);
	return -ENOMEM;
}

int
report_set(struct report *r, const char *key, const char *value)
{
	size_t vlen = strlen(value);
	struct report_tag *t;

	for (size_t i = 0; i < NKNOWN; i++) {
		char **f;
		if (strcmp(key, known[i].key) != 0)
			continue;
		f = field(r, i);
		if (*f != NULL)
			return -EEXIST;
		if (vlen > known[i].max)
			return -E2BIG;
		*f = strdup(value);
		return *f == NULL ? -ENOMEM : 0;
	}
	if (strlen(key) > LIMIT_TAG_KEY_LEN || vlen > LIMIT_TAG_VALUE_LEN ||
	    r->ntags >= LIMIT_REPORT_TAGS)
		return -E2BIG;
	for (size_t i = 0; i < r->ntags; i++)
		if (strcmp(r->tags[i].key, key) == 0)
			return -EEXIST;
	t = realloc(r->tags, (r->ntags + 1) * sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	r->tags = t;
	t[r->ntags].key = strdup(key);
	t[r->ntags].value = strdup(value);
	if (t[r->ntags].key == NULL || t[r->ntags].value == NULL) {
		free(t[r->ntags].key);
		free(t[r->ntags].value);
		return -ENOMEM;
	}
	r->ntags++;
	return 0;
}

const char *
report_get(const struct report *r, const char *key)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (strcmp(key, known[i].key) == 0)
			return cfield(r, i);
	for (size_t i = 0; i < r->ntags; i++)
		if (strcmp(r->tags[i].key, key) == 0)
			return r->tags[i].value;
	return NULL;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool
report_label_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL || !is_alnum(s[0]))
		return false;
	for (const char *p = s; *p != '\0'; p++, n++) {
		if (!is_alnum(*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
		if (n >= LIMIT_LABEL_LEN)
			return false;
	}
	return true;
}

/* RFC 1123 host name: dot separated labels of letters, digits and '-'. */
static bool
hostname_valid(const char *s)
{
	size_t len = strlen(s), lab = 0;
	char prev = '.';

	if (len == 0 || len > LIMIT_ADDR_LEN)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (lab == 0 || prev == '-')
				return false;
			lab = 0;
		} else if (is_alnum(*p) || *p == '-') {
			if (lab == 0 && *p == '-')
				return false;
			if (++lab > 63)
				return false;
		} else {
			return false;
		}
		prev = *p;
	}
	return prev != '-';	/* a trailing dot is allowed */
}

bool
report_addr_valid(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (s == NULL || s[0] == '\0')
		return false;
	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return true;
	/* A dotted quad that inet_pton refused (999.1.1.1) is no host name. */
	if (strspn(s, "0123456789.") == strlen(s))
		return false;
	return hostname_valid(s);
}

bool
report_event_valid(const char *s)
{
	static const char *ev[] = { "member-join", "member-leave", "member-failed",
	    "member-update", "member-reap" };

	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
		if (strcmp(s, ev[i]) == 0)
			return true;
	return false;
}

int
report_validate(const struct report *r, char *why, size_t whylen)
{
	if (r->label == NULL) {
		snprintf(why, whylen, "missing key %s", REPORT_KEY_LABEL);
		return -EINVAL;
	}
	if (!report_label_valid(r->label)) {
		snprintf(why, whylen, "%s must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}",
		    REPORT_KEY_LABEL);
		return -EINVAL;
	}
	if (r->serial != NULL && r->serial[0] != '\0' && !report_label_valid(r->serial)) {
		snprintf(why, whylen, "%s of node %s must be empty or match "
		    "[A-Za-z0-9][A-Za-z0-9._-]{0,62}", REPORT_KEY_SERIAL, r->label);
		return -EINVAL;
	}
	if (r->addr == NULL) {
		snprintf(why, whylen, "missing key %s for node %s", REPORT_KEY_ADDR, r->label);
		return -EINVAL;
	}
	if (!report_addr_valid(r->addr)) {
		snprintf(why, whylen, "%s of node %s is not an IPv4, IPv6 address or "
		    "host name", REPORT_KEY_ADDR, r->label);
		return -EINVAL;
	}
	if (r->event != NULL && !report_event_valid(r->event)) {
		snprintf(why, whylen, "%s of node %s is not a serf member event",
		    REPORT_KEY_EVENT, r->label);
		return -EINVAL;
	}
	if (r->status != NULL && strcmp(r->status, "alive") != 0 &&
	    strcmp(r->status, "leaving") != 0 && strcmp(r->status, "left") != 0 &&
	    strcmp(r->status, "failed") != 0) {
		snprintf(why, whylen, "%s of node %s must be alive, leaving, left or failed",
		    REPORT_KEY_STATUS, r->label);
		return -EINVAL;
	}
	if ((r->name != NULL && (text_str_has_ctrl(r->name) || r->name[0] == '\0')) ||
	    (r->role != NULL && text_str_has_ctrl(r->role))) {
		snprintf(why, whylen, "%s or %s of node %s holds control characters or is empty",
		    REPORT_KEY_NAME, REPORT_KEY_ROLE, r->label);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->ntags; i++) {
		if (r->tags[i].key[0] == '\0' || text_str_has_ctrl(r->tags[i].key) ||
		    text_str_has_ctrl(r->tags[i].value)) {
			snprintf(why, whylen, "tag of node %s has an empty key or control "
			    "characters", r->label);
			return -EINVAL;
		}
	}
	return 0;
}

int
report_node_name(const struct report *r, char *buf, size_t len)
{
	int n;

	if (r->serial != NULL && r->serial[0] != '\0')
		n = snprintf(buf, len, "%s-%s", r->label, r->serial);
	else
		n = snprintf(buf, len, "%s", r->label ? r->label : "");
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	return 0;
}

static bool
streq_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

bool
report_equal(const struct report *a, const struct report *b)
{
	for (size_t i = 0; i < NKNOWN; i++)
		if (!streq_null(cfield(a, i), cfield(b, i)))
			return false;
	if (a->ntags != b->ntags)
		return false;
	for (size_t i = 0; i < a->ntags; i++)
		if (!streq_null(a->tags[i].value, report_get(b, a->tags[i].key)))
			return false;
	return true;
}
