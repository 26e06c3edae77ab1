/* Inventory text, extra-vars merging and the ansible-playbook command line. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ansible.h"
#include "buf.h"

#include "cm_limits.h"
#include "fsio.h"
#include "report.h"
#include "report_json.h"
#include "text.h"

/* Entries of a job step's argv and envp, not counting the NULL at the end. */
#define ANSIBLE_ARGV_MAX	10
#define ANSIBLE_ENVP_MAX	4

extern char **environ;

/* malloc'd concatenation of a and b, NULL on out-of-memory. */
static char *
concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, a, la);
	memcpy(p + la, b, lb + 1);
	return p;
}

void
ansible_conf_defaults(struct ansible_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->command, sizeof(c->command), "%s", ANSIBLE_DEFAULT_COMMAND);
	snprintf(c->playbook_location, sizeof(c->playbook_location), "%s",
	    ANSIBLE_DEFAULT_LOCATION);
	snprintf(c->configure_playbook, sizeof(c->configure_playbook), "%s",
	    ANSIBLE_DEFAULT_CONFIGURE);
	snprintf(c->cleanup_playbook, sizeof(c->cleanup_playbook), "%s",
	    ANSIBLE_DEFAULT_CLEANUP);
	snprintf(c->upgrade_playbook, sizeof(c->upgrade_playbook), "%s",
	    ANSIBLE_DEFAULT_UPGRADE);
	snprintf(c->extra_variables, sizeof(c->extra_variables), "{}");
	c->timeout_s = ANSIBLE_DEFAULT_TIMEOUT_S;
}

/*
 * Parses text as a JSON object into *ret (the caller deletes it); NULL or
 * blank text gives an empty object. what names the text in err.
 */
static int
parse_object(const char *text, const char *what, cJSON **ret, char *err, size_t errlen)
{
	bool empty = text == NULL || text[strspn(text, " \t\r\n")] == '\0';
	cJSON *o;

	if (empty) {
		o = cJSON_CreateObject();
		if (o == NULL)
			return -ENOMEM;
		*ret = o;
		return 0;
	}
	if (report_json_depth(text, strlen(text)) > LIMIT_JSON_DEPTH) {
		snprintf(err, errlen, "%s nest deeper than %d levels", what,
		    LIMIT_JSON_DEPTH);
		return -EINVAL;
	}
	o = cJSON_ParseWithOpts(text, NULL, 1);
	if (o == NULL || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		snprintf(err, errlen, "%s must be a JSON object", what);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}

int
ansible_conf_check(const struct ansible_conf *c, char *err, size_t errlen)
{
	const struct {
		const char *key, *val;
		bool may_be_empty;
	} s[] = {
		{ "ansible.command", c->command, false },
		{ "ansible.playbook_location", c->playbook_location, false },
		{ "ansible.configure_playbook", c->configure_playbook, false },
		{ "ansible.cleanup_playbook", c->cleanup_playbook, false },
		{ "ansible.upgrade_playbook", c->upgrade_playbook, false },
		{ "ansible.user", c->user, true },
		{ "ansible.priv_key_file", c->priv_key_file, true },
	};
	cJSON *o = NULL;
	int r;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		if (s[i].val[0] == '\0' && !s[i].may_be_empty) {
			snprintf(err, errlen, "%s must not be empty", s[i].key);
			return -EINVAL;
		}
		if (text_str_has_ctrl(s[i].val)) {
			snprintf(err, errlen, "%s holds a control character", s[i].key);
			return -EINVAL;
		}
	}
	if (c->timeout_s < 0) {
		snprintf(err, errlen, "ansible.timeout_s must not be negative");
		return -EINVAL;
	}
	r = parse_object(c->extra_variables, "ansible.extra_variables", &o, err, errlen);
	cJSON_Delete(o);
	return r;
}

bool
ansible_host_group_valid(const char *g)
{
	size_t n = 0;

	if (g == NULL)
		return false;
	for (const char *p = g; *p != '\0'; p++, n++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9');
		if (n >= LIMIT_HOST_GROUP_LEN)
			return false;
		if (!alnum && (n == 0 || (*p != '.' && *p != '_' && *p != '-')))
			return false;
	}
	return n > 0;
}

bool
ansible_node_name_valid(const char *name)
{
	char label[LIMIT_LABEL_LEN + 1];
	size_t len;

	if (name == NULL)
		return false;
	if (report_label_valid(name))
		return true;
	len = strnlen(name, LIMIT_NODE_NAME_LEN + 1);
	if (len > LIMIT_NODE_NAME_LEN)
		return false;
	/* Any '-' may be the one between label and serial (labels hold '-' too). */
	for (size_t i = 1; i <= LIMIT_LABEL_LEN && i < len; i++) {
		if (name[i] != '-')
			continue;
		memcpy(label, name, i);
		label[i] = '\0';
		if (report_label_valid(label) && report_label_valid(name + i + 1))
			return true;
	}
	return false;
}

int
ansible_inventory_text(const char *host_group, const struct ansible_host *hosts,
    size_t n, char **ret_text, char *err, size_t errlen)
{
	struct buf b;
	int rc;

	if (!ansible_host_group_valid(host_group)) {
		snprintf(err, errlen, "host group must match [A-Za-z0-9][A-Za-z0-9._-]* "
		    "and hold at most %d characters", LIMIT_HOST_GROUP_LEN);
		return -EINVAL;
	}
	if (n == 0 || hosts == NULL) {
		snprintf(err, errlen, "an inventory needs at least one node");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!ansible_node_name_valid(hosts[i].name)) {
			/* The name is not echoed: it may hold anything. */
			snprintf(err, errlen, "node %zu of the inventory has an invalid name", i + 1);
			return -EINVAL;
		}
		if (!report_addr_valid(hosts[i].addr)) {
			snprintf(err, errlen, "node %s has an invalid management address",
			    hosts[i].name);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(hosts[i].name, hosts[j].name) == 0) {
				snprintf(err, errlen, "node %s is listed twice", hosts[i].name);
				return -EINVAL;
			}
		}
	}

	buf_init(&b, 0);
	rc = buf_addf(&b, "[%s]\n", host_group);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = buf_addf(&b, "%s ansible_ssh_host=%s node_name=%s node_addr=%s\n",
		    hosts[i].name, hosts[i].addr, hosts[i].name, hosts[i].addr);
	if (rc < 0 || (*ret_text = buf_take(&b)) == NULL) {
		buf_free(&b);
		return -ENOMEM;
	}
	return 0;
}

int
ansible_inventory_write(const char *dir, const char *name, const char *host_group,
    const struct ansible_host *hosts, size_t n, char *err, size_t errlen)
{
	char *text = NULL;
	int r;

	r = ansible_inventory_text(host_group, hosts, n, &text, err, errlen);
	if (r < 0)
		return r;
	r = fsio_write_atomic(dir, name, text, strlen(text), 0600);
	if (r < 0)
		snprintf(err, errlen, "cannot write inventory %s/%s: %s", dir, name,
		    strerror(-r));
	free(text);
	return r;
}

int
ansible_merge_extra_vars(const char *request, const char *globals, const char *config,
    char **ret_json, char *err, size_t errlen)
{
	/* Lowest precedence first: later objects overwrite earlier keys. */
	const char *texts[] = { config, globals, request };
	const char *names[] = { "ansible.extra_variables", "the global extra vars",
	    "the request's extra vars" };
	cJSON *out = NULL, *in[3] = { NULL, NULL, NULL };
	char *s;
	int r;

	for (size_t i = 0; i < 3; i++) {
		r = parse_object(texts[i], names[i], &in[i], err, errlen);
		if (r < 0)
			goto out;
	}
	out = cJSON_CreateObject();
	if (out == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < 3; i++) {
		cJSON *it;

		cJSON_ArrayForEach(it, in[i]) {
			cJSON *dup = cJSON_Duplicate(it, 1);

			if (dup == NULL) {
				r = -ENOMEM;
				goto out;
			}
			if (cJSON_GetObjectItemCaseSensitive(out, it->string) != NULL) {
				if (!cJSON_ReplaceItemInObjectCaseSensitive(out, it->string, dup)) {
					cJSON_Delete(dup);
					r = -ENOMEM;
					goto out;
				}
			} else {
				cJSON_AddItemToObject(out, it->string, dup);
			}
		}
	}
	s = cJSON_PrintUnformatted(out);
	if (s == NULL) {
		r = -ENOMEM;
		goto out;
	}
	*ret_json = s;
	r = 0;
out:
	cJSON_Delete(out);
	for (size_t i = 0; i < 3; i++)
		cJSON_Delete(in[i]);
	return r;
}

/* Value of NAME in an environ-style array, NULL when absent. */
static const char *
env_get(const char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env != NULL && *env != NULL; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

void
ansible_cmd_finish(struct ansible_cmd *cmd)
{
	if (cmd == NULL)
		return;
	for (char **p = cmd->argv; p != NULL && *p != NULL; p++)
		free(*p);
	for (char **p = cmd->envp; p != NULL && *p != NULL; p++)
		free(*p);
	free(cmd->argv);
	free(cmd->envp);
	free(cmd->vars_path);
	cmd->argv = NULL;
	cmd->envp = NULL;
	cmd->vars_path = NULL;
}

void
ansible_cmd_discard(struct ansible_cmd *cmd)
{
	if (cmd == NULL)
		return;
	if (cmd->vars_path != NULL)
		(void)unlink(cmd->vars_path);
	ansible_cmd_finish(cmd);
}

/*
 * Writes the extra-vars JSON to a fresh file at path, mode 0600: a file
 * left there (a job that was never submitted) is replaced, and O_EXCL with
 * O_NOFOLLOW makes sure the secret goes into a new inode of ours, not into
 * a file or symlink someone else placed. 0 or -errno; nothing is left on
 * failure.
 */
static int
write_vars_file(const char *path, const char *json)
{
	int fd, r;

	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	    0600);
	if (fd < 0)
		return -errno;
	r = fsio_write_all(fd, json, strlen(json));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		(void)unlink(path);
	return r;
}

/* <location>/<playbook>, without doubling a trailing '/' of location. */
static char *
playbook_path(const char *location, const char *playbook)
{
	size_t ll = strlen(location), lp = strlen(playbook);
	char *p;

	while (ll > 1 && location[ll - 1] == '/')
		ll--;
	p = malloc(ll + 1 + lp + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, location, ll);
	if (ll == 1 && location[0] == '/')
		ll = 0;	/* "/" + "/" + playbook would double the slash */
	p[ll] = '/';
	memcpy(p + ll + 1, playbook, lp + 1);
	return p;
}

#define ADD(v, n, max, expr) do { if ((n) >= (max) || \
	    ((v)[(n)++] = (expr)) == NULL) return -ENOMEM; } while (0)

/*
 * command -i inv [--user U] [--private-key K] --extra-vars @FILE playbook
 * into argv (ANSIBLE_ARGV_MAX + 1 NULLs); *at ("@FILE") is argv's once it
 * is NULL. 0 or -ENOMEM (what argv holds is the caller's to free).
 */
static int
build_argv(const struct ansible_conf *c, const char *inventory_path, const char *playbook,
    char **argv, char **at)
{
	size_t na = 0;

	ADD(argv, na, ANSIBLE_ARGV_MAX, strdup(c->command));
	ADD(argv, na, ANSIBLE_ARGV_MAX, strdup("-i"));
	ADD(argv, na, ANSIBLE_ARGV_MAX, strdup(inventory_path));
	if (c->user[0] != '\0') {
		ADD(argv, na, ANSIBLE_ARGV_MAX, strdup("--user"));
		ADD(argv, na, ANSIBLE_ARGV_MAX, strdup(c->user));
	}
	if (c->priv_key_file[0] != '\0') {
		ADD(argv, na, ANSIBLE_ARGV_MAX, strdup("--private-key"));
		ADD(argv, na, ANSIBLE_ARGV_MAX, strdup(c->priv_key_file));
	}
	ADD(argv, na, ANSIBLE_ARGV_MAX, strdup("--extra-vars"));
	ADD(argv, na, ANSIBLE_ARGV_MAX, *at);
	*at = NULL;
	ADD(argv, na, ANSIBLE_ARGV_MAX, playbook_path(c->playbook_location, playbook));
	return 0;
}

/*
 * The child's environment into envp (ANSIBLE_ENVP_MAX + 1 NULLs): PATH and
 * HOME from parent_env (or defaults) and ansible's settings. 0 or -ENOMEM.
 */
static int
build_envp(const char *const *parent_env, char **envp)
{
	const char *path = env_get(parent_env, "PATH"), *home = env_get(parent_env, "HOME");
	size_t ne = 0;

	if (path == NULL || path[0] == '\0' || text_str_has_ctrl(path))
		path = ANSIBLE_DEFAULT_PATH;
	if (home == NULL || home[0] == '\0' || text_str_has_ctrl(home))
		home = ANSIBLE_DEFAULT_HOME;
	ADD(envp, ne, ANSIBLE_ENVP_MAX, strdup("ANSIBLE_HOST_KEY_CHECKING=false"));
	/* contiv's group names hold '-': keep them, without ansible's warning in every log. */
	ADD(envp, ne, ANSIBLE_ENVP_MAX, strdup("ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS=ignore"));
	ADD(envp, ne, ANSIBLE_ENVP_MAX, concat("PATH=", path));
	ADD(envp, ne, ANSIBLE_ENVP_MAX, concat("HOME=", home));
	return 0;
}

#undef ADD

int
ansible_build_cmd(const struct ansible_conf *c, const char *inventory_path,
    const char *playbook, const char *extra_vars_json, const char *const *parent_env,
    struct ansible_cmd *ret, char *err, size_t errlen)
{
	struct ansible_cmd cmd = { NULL, NULL, NULL };
	char *at = NULL;
	int r;

	if (parent_env == NULL)
		parent_env = (const char *const *)environ;
	if (c->command[0] == '\0' || c->playbook_location[0] == '\0' ||
	    playbook == NULL || playbook[0] == '\0' || inventory_path == NULL ||
	    inventory_path[0] == '\0' || extra_vars_json == NULL) {
		snprintf(err, errlen, "the ansible command, playbook location, playbook, "
		    "inventory and extra vars must all be given");
		return -EINVAL;
	}
	if (text_str_has_ctrl(c->command) || text_str_has_ctrl(c->playbook_location) ||
	    text_str_has_ctrl(playbook) || text_str_has_ctrl(inventory_path) ||
	    text_str_has_ctrl(extra_vars_json) || text_str_has_ctrl(c->user) ||
	    text_str_has_ctrl(c->priv_key_file)) {
		snprintf(err, errlen, "an argument of the ansible command holds a control "
		    "character");
		return -EINVAL;
	}

	/*
	 * command -i inv [--user U] [--private-key K] --extra-vars @FILE playbook
	 * NULL. The JSON (secrets, often) goes into FILE, never into argv,
	 * which every local user can read in /proc/PID/cmdline.
	 */
	cmd.argv = calloc(ANSIBLE_ARGV_MAX + 1, sizeof(char *));
	cmd.envp = calloc(ANSIBLE_ENVP_MAX + 1, sizeof(char *));
	cmd.vars_path = concat(inventory_path, ANSIBLE_VARS_SUFFIX);
	at = concat("@", cmd.vars_path != NULL ? cmd.vars_path : "");
	if (cmd.argv == NULL || cmd.envp == NULL || cmd.vars_path == NULL || at == NULL)
		goto oom;
	if (build_argv(c, inventory_path, playbook, cmd.argv, &at) < 0 ||
	    build_envp(parent_env, cmd.envp) < 0)
		goto oom;
	r = write_vars_file(cmd.vars_path, extra_vars_json);
	if (r < 0) {
		snprintf(err, errlen, "cannot write the extra vars file %s: %s", cmd.vars_path,
		    strerror(-r));
		goto fail;
	}
	*ret = cmd;
	return 0;
oom:
	r = -ENOMEM;
fail:
	free(at);
	ansible_cmd_finish(&cmd);
	return r;
}
