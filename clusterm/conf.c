/* clusterm.conf: key table, defaults and checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cm_limits.h"
#include "conf.h"
#include "config.h"

#define S(field) offsetof(struct conf, field), sizeof(((struct conf *)0)->field)
#define A(field) offsetof(struct conf, ansible.field), sizeof(((struct conf *)0)->ansible.field)
#define L(field) offsetof(struct conf, field), 0
#define LA(field) offsetof(struct conf, ansible.field), 0

static const struct config_key keys[] = {
	{ "manager.addr", CONFIG_STRING, S(addr), 0, 0, 0, 0 },
	{ "manager.state_dir", CONFIG_STRING, S(state_dir), 0, 0, 0, 0 },
	{ "manager.max_jobs", CONFIG_INT, L(max_jobs), 1, 64, 0, 0 },
	{ "manager.max_body_bytes", CONFIG_INT, L(max_body_bytes), 1024,
	    LIMIT_BODY_BYTES_MAX, 0, 0 },
	{ "monitor.grace_s", CONFIG_INT, L(grace_s), 0, 86400, 0, 0 },
	{ "monitor.quorum", CONFIG_INT, L(quorum), 0, 100000, 0, 0 },
	{ "monitor.disruption_ratio", CONFIG_DOUBLE, L(disruption_ratio), 0, 0, 0.0, 1.0 },
	{ "monitor.disruption_window_s", CONFIG_INT, L(disruption_window_s), 1, 86400, 0, 0 },
	{ "ansible.command", CONFIG_STRING, A(command), 0, 0, 0, 0 },
	{ "ansible.playbook_location", CONFIG_STRING, A(playbook_location), 0, 0, 0, 0 },
	{ "ansible.configure_playbook", CONFIG_STRING, A(configure_playbook), 0, 0, 0, 0 },
	{ "ansible.cleanup_playbook", CONFIG_STRING, A(cleanup_playbook), 0, 0, 0, 0 },
	{ "ansible.upgrade_playbook", CONFIG_STRING, A(upgrade_playbook), 0, 0, 0, 0 },
	{ "ansible.extra_variables", CONFIG_STRING, A(extra_variables), 0, 0, 0, 0 },
	{ "ansible.user", CONFIG_STRING, A(user), 0, 0, 0, 0 },
	{ "ansible.priv_key_file", CONFIG_STRING, A(priv_key_file), 0, 0, 0, 0 },
	{ "ansible.timeout_s", CONFIG_INT, LA(timeout_s), 1, 7 * 86400, 0, 0 },
	{ "auth.tokens_file", CONFIG_STRING, S(tokens_file), 0, 0, 0, 0 },
	{ "tls.cert_file", CONFIG_STRING, S(cert_file), 0, 0, 0, 0 },
	{ "tls.key_file", CONFIG_STRING, S(key_file), 0, 0, 0, 0 },
	{ "tls.ca_file", CONFIG_STRING, S(ca_file), 0, 0, 0, 0 },
	/* Sections of a contiv clusterm config that this manager does not use. */
	{ "serf", CONFIG_IGNORED, 0, 0, 0, 0, 0, 0 },
	{ "inventory", CONFIG_IGNORED, 0, 0, 0, 0, 0, 0 },
};

void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->addr, sizeof(c->addr), "127.0.0.1:9007");
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/clusterm");
	c->max_jobs = 1;
	c->max_body_bytes = LIMIT_BODY_BYTES_DEFAULT;
	c->grace_s = 5;
	c->quorum = 0;
	c->disruption_ratio = 0.55;
	c->disruption_window_s = 60;
	snprintf(c->ansible.command, sizeof(c->ansible.command), "ansible-playbook");
	snprintf(c->ansible.playbook_location, sizeof(c->ansible.playbook_location),
	    "/etc/clusterm/ansible");
	snprintf(c->ansible.configure_playbook, sizeof(c->ansible.configure_playbook),
	    "site.yml");
	snprintf(c->ansible.cleanup_playbook, sizeof(c->ansible.cleanup_playbook),
	    "cleanup.yml");
	snprintf(c->ansible.upgrade_playbook, sizeof(c->ansible.upgrade_playbook),
	    "rolling-upgrade.yml");
	snprintf(c->ansible.extra_variables, sizeof(c->ansible.extra_variables), "{}");
	c->ansible.timeout_s = 3600;
}

int
conf_load(struct conf *c, const char *path, char *err, size_t errlen,
    void (*warn)(const char *msg, void *arg), void *warn_arg)
{
	return config_load_file(path, keys, sizeof(keys) / sizeof(keys[0]), c, err, errlen,
	    warn, warn_arg);
}

/* "host:port" / "[v6]:port" with a port in range. */
static bool
addr_valid(const char *a)
{
	const char *colon = strrchr(a, ':');
	char *end;
	long port;

	if (colon == NULL || colon == a)
		return false;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && end != colon + 1 && port >= 0 && port <= 65535;
}

int
conf_check(const struct conf *c, char *err, size_t errlen)
{
	cJSON *ev;

	if (!addr_valid(c->addr)) {
		snprintf(err, errlen, "manager.addr: '%s' is not HOST:PORT", c->addr);
		return -EINVAL;
	}
	if (c->state_dir[0] != '/') {
		snprintf(err, errlen, "manager.state_dir: '%s' must be an absolute path",
		    c->state_dir);
		return -EINVAL;
	}
	ev = cJSON_Parse(c->ansible.extra_variables);
	if (!cJSON_IsObject(ev)) {
		cJSON_Delete(ev);
		snprintf(err, errlen, "ansible.extra_variables: must hold a JSON object");
		return -EINVAL;
	}
	cJSON_Delete(ev);
	if (c->ansible.command[0] == '\0') {
		snprintf(err, errlen, "ansible.command: must not be empty");
		return -EINVAL;
	}
	if ((c->cert_file[0] == '\0') != (c->key_file[0] == '\0')) {
		snprintf(err, errlen, "%s: tls.cert_file and tls.key_file go together",
		    c->cert_file[0] ? "tls.key_file" : "tls.cert_file");
		return -EINVAL;
	}
	if (c->tokens_file[0] != '\0' && access(c->tokens_file, R_OK) != 0) {
		snprintf(err, errlen, "auth.tokens_file: %s: %s", c->tokens_file,
		    strerror(errno));
		return -EINVAL;
	}
	for (int i = 0; i < 3; i++) {
		const char *k[] = { "tls.cert_file", "tls.key_file", "tls.ca_file" };
		const char *v[] = { c->cert_file, c->key_file, c->ca_file };
		if (v[i][0] != '\0' && access(v[i], R_OK) != 0) {
			snprintf(err, errlen, "%s: %s: %s", k[i], v[i], strerror(errno));
			return -EINVAL;
		}
	}
	return 0;
}
