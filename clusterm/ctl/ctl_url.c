/*
 * Where clusterctl finds clusterm: -u, else $CLUSTERM_URL, else manager.addr
 * of clusterm.conf ($CLUSTERM_CONF, else /etc/clusterm/clusterm.conf when
 * readable), else 127.0.0.1:9007. The source is kept for the messages of a
 * connection failure.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cm_limits.h"
#include "ctl_http.h"
#include "ctl_url.h"
#include "fsio.h"

/* The string at conf[section][key], NULL when absent or not a non-empty string. */
static const char *
conf_str(const cJSON *conf, const char *section, const char *key)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(conf, section);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);

	return cJSON_IsString(v) && v->valuestring[0] != '\0' ? v->valuestring : NULL;
}

/*
 * manager.addr is where clusterm listens: a wildcard host ("0.0.0.0:9007",
 * "[::]:9007", ":9007") is reached on the loopback address of its family.
 */
static int
addr_to_url(const char *addr, bool tls, char *buf, size_t len)
{
	const char *scheme = tls ? "https://" : "http://";
	const char *port = strrchr(addr, ':');
	int n;

	if (strstr(addr, "://") != NULL)
		n = snprintf(buf, len, "%s", addr);
	else if (port != NULL && (port == addr || strncmp(addr, "0.0.0.0:", 8) == 0))
		n = snprintf(buf, len, "%s127.0.0.1%s", scheme, port);
	else if (port != NULL && strncmp(addr, "[::]:", 5) == 0)
		n = snprintf(buf, len, "%s[::1]%s", scheme, port);
	else
		n = snprintf(buf, len, "%s%s", scheme, addr);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/*
 * Reads the conf file: 0 with c->url set when it names an address or TLS,
 * 1 when it is absent or unreadable (only allowed for the default path),
 * -EINVAL after printing why it cannot be used.
 */
static int
from_conf(struct ctl *c, const char *path, bool named)
{
	char *text = NULL;
	size_t len;
	cJSON *conf;
	const char *addr;
	bool tls;
	int r;

	r = fsio_read_file(path, LIMIT_CONFIG_BYTES, &text, &len);
	if (r < 0) {
		if (!named && (r == -ENOENT || r == -ENOTDIR))
			return 1;
		if (!named && r == -EACCES) {
			/* Said when clusterm is not reached: its manager.addr may differ. */
			snprintf(c->url_from_buf, sizeof(c->url_from_buf),
			    "the default; %s: %s", path, strerror(-r));
			c->url_from = c->url_from_buf;
			return 1;
		}
		ctl_err("%s%s: %s", named ? "CLUSTERM_CONF names " : "", path, strerror(-r));
		return -EINVAL;
	}
	conf = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(conf)) {
		ctl_err("%s: not a JSON object; it is read for manager.addr "
		    "(-u URL or CLUSTERM_URL skip it)", path);
		cJSON_Delete(conf);
		return -EINVAL;
	}
	addr = conf_str(conf, "manager", "addr");
	tls = conf_str(conf, "tls", "cert_file") != NULL;
	r = addr_to_url(addr != NULL ? addr : CTL_DEFAULT_URL, tls, c->url_buf,
	    sizeof(c->url_buf));
	cJSON_Delete(conf);
	if (r < 0) {
		ctl_err("%s: manager.addr is too long", path);
		return -EINVAL;
	}
	c->url = c->url_buf;
	if (addr != NULL)
		snprintf(c->url_from_buf, sizeof(c->url_from_buf), "manager.addr in %s", path);
	else
		snprintf(c->url_from_buf, sizeof(c->url_from_buf),
		    "the default; %s has no manager.addr", path);
	c->url_from = c->url_from_buf;
	return 0;
}

int
ctl_url_resolve(struct ctl *c)
{
	const char *env = getenv("CLUSTERM_URL");
	const char *conf = getenv("CLUSTERM_CONF");
	int r;

	if (c->url != NULL) {
		c->url_from = "from -u";
		return 0;
	}
	if (env != NULL && env[0] != '\0') {
		c->url = env;
		c->url_from = "from CLUSTERM_URL";
		return 0;
	}
	if (conf != NULL && conf[0] != '\0')
		r = from_conf(c, conf, true);
	else
		r = from_conf(c, CTL_DEFAULT_CONF, false);
	if (r <= 0)
		return r;
	c->url = CTL_DEFAULT_URL;
	if (c->url_from == NULL)
		c->url_from = "the default";
	return 0;
}
