/* The pure parts of a tick: sync due times, the node's name, the tick lock. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_limits.h"
#include "fsio.h"
#include "text.h"
#include "tick.h"

long long
tick_next_due(long long last_ms, long interval_s, double u)
{
	long long iv = (long long)interval_s * 1000;

	if (!(u >= 0))
		u = 0;
	if (u >= 1)
		u = 0.999999;
	return last_ms + iv - (long long)((double)iv * SYNC_JITTER_PCT / 100.0 * u);
}

bool
tick_sync_due(long long now_ms, long long due_ms, long interval_s)
{
	if (due_ms < 0 || now_ms >= due_ms)
		return true;
	return due_ms - now_ms > (long long)interval_s * 1000;
}

static int
parse_ll(const char *s, char **end, long long *ret)
{
	long long v;

	errno = 0;
	v = strtoll(s, end, 10);
	if (errno != 0 || *end == s || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int
tick_state_parse(const char *txt, long long *ret_last, long long *ret_due)
{
	long long last, due;
	char *end;

	if (parse_ll(txt, &end, &last) < 0 || *end != ' ' ||
	    parse_ll(end + 1, &end, &due) < 0 || (*end != '\n' && *end != '\0'))
		return -EINVAL;
	*ret_last = last;
	*ret_due = due;
	return 0;
}

/* dir/name into a malloc'd string (at most max bytes). */
static int
read_small(const char *dir, const char *name, size_t max, char **ret)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return fsio_read_file(path, max, ret, NULL);
}

int
tick_state_load(const char *dir, long long *ret_last, long long *ret_due)
{
	char *txt = NULL;
	int r;

	if ((r = read_small(dir, TICK_SYNC_FILE, 128, &txt)) < 0)
		return r == -EFBIG ? -EINVAL : r;
	r = tick_state_parse(txt, ret_last, ret_due);
	free(txt);
	return r;
}

int
tick_state_save(const char *dir, long long last_ms, long long due_ms)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%lld %lld\n", last_ms, due_ms);

	return fsio_write_atomic_nosync(dir, TICK_SYNC_FILE, buf, (size_t)n, 0600);
}

bool
tick_name_valid(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= LIMIT_MEMBER_NAME_LEN && !text_str_has_ctrl(s);
}

int
tick_name_pick(const char *env, const char *cfg, const char *stored, const char **ret,
    enum tick_name_src *ret_src)
{
	const char *v[] = { env, cfg, stored };
	const enum tick_name_src src[] = { TICK_NAME_ENV, TICK_NAME_CONFIG,
	    TICK_NAME_LAST_EVENT };

	for (size_t i = 0; i < 3; i++) {
		if (tick_name_valid(v[i])) {
			*ret = v[i];
			*ret_src = src[i];
			return 0;
		}
	}
	return -ENOENT;
}

const char *
tick_name_src_str(enum tick_name_src src)
{
	switch (src) {
	case TICK_NAME_ENV:
		return "SERF_SELF_NAME";
	case TICK_NAME_CONFIG:
		return "node_name";
	case TICK_NAME_LAST_EVENT:
		return "the last event run";
	}
	return "?";
}

int
tick_info_name(const char *json, size_t len, char **ret)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *agent, *name;
	char *s;

	agent = cJSON_GetObjectItemCaseSensitive(root, "agent");
	name = cJSON_GetObjectItemCaseSensitive(agent, "name");
	if (!cJSON_IsString(name) || !tick_name_valid(name->valuestring)) {
		cJSON_Delete(root);
		return -EBADMSG;
	}
	s = strdup(name->valuestring);
	cJSON_Delete(root);
	if (s == NULL)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int
tick_self_load(const char *dir, char **ret)
{
	char *txt = NULL;
	int r;

	if ((r = read_small(dir, TICK_SELF_FILE, LIMIT_MEMBER_NAME_LEN + 2, &txt)) < 0)
		return r == -EFBIG ? -EINVAL : r;
	txt[strcspn(txt, "\n")] = '\0';
	if (!tick_name_valid(txt)) {
		free(txt);
		return -EINVAL;
	}
	*ret = txt;
	return 0;
}

int
tick_self_save(const char *dir, const char *name)
{
	char buf[LIMIT_MEMBER_NAME_LEN + 2], *old = NULL;
	int n;

	if (!tick_name_valid(name))
		return -EINVAL;
	if (tick_self_load(dir, &old) == 0 && strcmp(old, name) == 0) {
		free(old);
		return 0;	/* the common case: one read, no write */
	}
	free(old);
	n = snprintf(buf, sizeof(buf), "%s\n", name);
	return fsio_write_atomic_nosync(dir, TICK_SELF_FILE, buf, (size_t)n, 0600);
}

int
tick_lock(const char *dir, int *ret_fd)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, TICK_LOCK_FILE) >= sizeof(path))
		return -ENAMETOOLONG;
	return fsio_lock(path, 0, ret_fd);
}
