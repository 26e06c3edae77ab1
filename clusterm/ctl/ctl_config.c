/* The settings commands: global get/set (the ansible globals) and config get/set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cm_limits.h"
#include "ctl_config.h"
#include "ctl_http.h"
#include "ctl_print.h"
#include "ctl_util.h"

/* GET of a contiv info path, printed as "key: value" lines or raw with -j. */
static enum ctl_exit
get_tree(struct ctl *c, const char *path)
{
	struct ctl_reply r = { 0 };
	enum ctl_exit x = ctl_request(c, "GET", path, NULL, &r);

	if (x != CTL_EXIT_OK)
		return x;
	if (c->json || r.json == NULL)
		ctl_print_raw(&r);
	else
		ctl_print_tree(stdout, r.json, 0);
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

enum ctl_exit
ctl_config_global_get(struct ctl *c, char **args, int nargs)
{
	(void)args;
	(void)nargs;
	return get_tree(c, "/info/globals");
}

enum ctl_exit
ctl_config_get(struct ctl *c, char **args, int nargs)
{
	(void)args;
	(void)nargs;
	return get_tree(c, "/config");
}

enum ctl_exit
ctl_config_global_set(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	cJSON *body;
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	if (c->extra_vars == NULL) {
		ctl_err("global set needs -e/--extra-vars JSON (use -e '{}' to clear the globals)");
		return CTL_EXIT_USAGE;
	}
	if (ctl_util_check_extra_vars(c->extra_vars) < 0)
		return CTL_EXIT_USAGE;
	body = cJSON_CreateObject();
	if (body == NULL || !cJSON_AddStringToObject(body, "extra_vars", c->extra_vars)) {
		cJSON_Delete(body);
		return ctl_util_oom();
	}
	x = ctl_post_json(c, "/globals", body, &r);
	cJSON_Delete(body);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json)
		ctl_print_raw(&r);
	else
		printf("globals set\n");
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}

/* Reads a whole file ("-": stdin) of at most LIMIT_CONFIG_BYTES into a malloc'd string. */
static int
read_input(const char *path, char **ret)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t len = 0, cap = 4096;
	char *buf;
	int r = 0;

	if (f == NULL)
		return -errno;
	buf = malloc(cap);
	while (buf != NULL) {
		size_t n;
		if (len + 1 == cap) {
			char *b;
			if (cap > LIMIT_CONFIG_BYTES) {
				r = -EFBIG;
				break;
			}
			b = realloc(buf, cap * 2);
			if (b == NULL)
				break;
			buf = b;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - 1 - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				r = -EIO;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (buf == NULL || (r == 0 && len + 1 > cap)) {
		free(buf);
		return -ENOMEM;
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

enum ctl_exit
ctl_config_set(struct ctl *c, char **args, int nargs)
{
	struct ctl_reply r = { 0 };
	cJSON *conf, *body;
	char *text = NULL;
	enum ctl_exit x;
	int rc;

	(void)nargs;
	rc = read_input(args[0], &text);
	if (rc < 0) {
		ctl_err("%s: %s", args[0], strerror(-rc));
		return CTL_EXIT_USAGE;
	}
	conf = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(conf)) {
		ctl_err("%s: not a JSON object", args[0]);
		cJSON_Delete(conf);
		return CTL_EXIT_USAGE;
	}
	/*
	 * The file goes as it is: clusterm.conf's shape ({"ansible": {...}}, what
	 * "config get" prints), or contiv's {"config": {...}} as its clusterctl sent.
	 */
	body = conf;
	x = ctl_post_json(c, "/config", body, &r);
	cJSON_Delete(body);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json)
		ctl_print_raw(&r);
	else
		printf("configuration set\n");
	ctl_reply_finish(&r);
	return CTL_EXIT_OK;
}
