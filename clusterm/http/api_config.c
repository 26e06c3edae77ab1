/*
 * contiv's configuration endpoints: /config (the ansible section; the
 * serf, inventory and manager sections shown as contiv does and fixed) and
 * /globals (the extra variables every job gets).
 */
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_json.h"
#include "conf.h"
#include "lifecycle.h"
#include "log.h"
#include "manager.h"

/*
 * The sections of contiv's manager.Config that clusterm does not take from
 * POST /config: serf (its serf client's config, clusterm runs none),
 * inventory (collins or boltdb, none here) and manager (the address served).
 * GET /config shows them so that a get -> set round trip passes.
 */
#define CONTIV_SERF_ADDR	"127.0.0.1:7373"

/* The fixed sections as GET /config shows them; NULL on out-of-memory. */
static cJSON *
fixed_sections(struct manager *m)
{
	cJSON *o = cJSON_CreateObject(), *serf, *inv, *mgr;

	if (o == NULL)
		return NULL;
	serf = cJSON_AddObjectToObject(o, "serf");
	inv = cJSON_AddObjectToObject(o, "inventory");
	mgr = cJSON_AddObjectToObject(o, "manager");
	if (serf == NULL || inv == NULL || mgr == NULL ||
	    cJSON_AddStringToObject(serf, "Addr", CONTIV_SERF_ADDR) == NULL ||
	    cJSON_AddStringToObject(serf, "AuthKey", "") == NULL ||
	    cJSON_AddNumberToObject(serf, "Timeout", 0) == NULL ||
	    cJSON_AddStringToObject(mgr, "addr", m->conf.addr) == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* {"ansible": {...}} with the fixed sections added (o taken over); NULL: ENOMEM. */
static cJSON *
with_sections(struct manager *m, cJSON *o)
{
	cJSON *f = o != NULL ? fixed_sections(m) : NULL;

	if (f == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	while (f->child != NULL) {
		cJSON *sec = cJSON_DetachItemViaPointer(f, f->child);
		cJSON_AddItemToObject(o, sec->string, sec);
	}
	cJSON_Delete(f);
	return o;
}

static bool
fixed_section(const char *key)
{
	return strcmp(key, "serf") == 0 || strcmp(key, "inventory") == 0 ||
	    strcmp(key, "manager") == 0;
}

/* Whether v is contiv's "not set": null, "", 0, false, or an object of such. */
static bool
unset(const cJSON *v)
{
	const cJSON *it;

	if (cJSON_IsNull(v) || cJSON_IsFalse(v))
		return true;
	if (cJSON_IsString(v))
		return v->valuestring[0] == '\0';
	if (cJSON_IsNumber(v))
		return v->valuedouble == 0;
	if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		cJSON_ArrayForEach(it, v)
			if (!unset(it))
				return false;
		return true;
	}
	return false;
}

/*
 * Whether a posted section (serf, inventory, manager) sets a value other
 * than the running one: a member that is not set is no change (contiv's
 * client sends every field, "" when unset).
 */
static bool
section_differs(struct manager *m, const cJSON *posted)
{
	cJSON *fixed = fixed_sections(m), *cur;
	const cJSON *it;
	bool differs = false;

	if (fixed == NULL)
		return true;
	cur = cJSON_GetObjectItemCaseSensitive(fixed, posted->string);
	if (!cJSON_IsObject(posted))
		differs = !unset(posted);
	else {
		cJSON_ArrayForEach(it, posted) {
			const cJSON *was = cJSON_GetObjectItemCaseSensitive(cur, it->string);
			if (!unset(it) && (was == NULL || !cJSON_Compare(it, was, true))) {
				differs = true;
				break;
			}
		}
	}
	cJSON_Delete(fixed);
	return differs;
}

/*
 * Keys of contiv's request struct that a body may carry where they do not
 * apply: its Go client always sends the whole struct. Each is logged the
 * first time an endpoint sees it, then silently ignored.
 */
struct ignored_key {
	const char *key;
	atomic_bool logged;
};

static struct ignored_key globals_ignored[] = {
	{ "nodes", false }, { "addrs", false }, { "host_group", false }, { "job", false },
	{ "monitor_event", false },
};
static struct ignored_key config_ignored[] = {
	{ "serf", false }, { "inventory", false }, { "manager", false },
	{ "monitor_event", false },
};

/* Whether key is one of tab's; logs it on its first sighting. */
static bool
ignored(struct ignored_key *tab, size_t n, const char *endpoint, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(tab[i].key, key) != 0)
			continue;
		if (!atomic_exchange(&tab[i].logged, true))
			log_warn("%s: key %s of contiv's request is not used here, ignored "
			    "(said once)", endpoint, key);
		return true;
	}
	return false;
}

static bool
blank(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return *s == '\0';
}

/*
 * The text of the globals a POST /globals body (parsed) sets, into *ret (malloc'd,
 * the caller frees): extra_vars as JSON text (contiv) or an object. An
 * absent, null or blank extra_vars is "not set", which for the globals is
 * their default, {} (contiv's DefaultValidJSON). 0, -EINVAL with err, or
 * -ENOMEM.
 */
static int
globals_text(const cJSON *body, char **ret, char *err, size_t errlen)
{
	cJSON *obj = NULL;
	const cJSON *it, *ev = NULL;
	char *out;
	int rc = -EINVAL;

	if (!cJSON_IsObject(body)) {
		snprintf(err, errlen, "body must be a JSON object, {\"extra_vars\": "
		    "\"<JSON text>\"}");
		goto out;
	}
	cJSON_ArrayForEach(it, body) {
		if (strcmp(it->string, "extra_vars") == 0)
			ev = it;
		else if (!ignored(globals_ignored, sizeof(globals_ignored) /
		    sizeof(globals_ignored[0]), "POST /globals", it->string)) {
			snprintf(err, errlen, "unknown key %.64s: the body is {\"extra_vars\": "
			    "\"<JSON text>\"}", it->string);
			goto out;
		}
	}
	if (ev == NULL || cJSON_IsNull(ev) || (cJSON_IsString(ev) && blank(ev->valuestring)))
		obj = cJSON_CreateObject();
	else if (cJSON_IsString(ev))
		obj = cJSON_Parse(ev->valuestring);
	else if (cJSON_IsObject(ev))
		obj = cJSON_Duplicate(ev, 1);
	else {
		snprintf(err, errlen, "\"extra_vars\" should be a valid json: extra_vars "
		    "must be a JSON object or its text");
		goto out;
	}
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "\"extra_vars\" should be a valid json: extra_vars "
		    "%s", obj == NULL ? "is not valid JSON" : "must hold a JSON object");
		goto out;
	}
	if ((out = cJSON_PrintUnformatted(obj)) == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	*ret = out;
	rc = 0;
out:
	cJSON_Delete(obj);
	return rc;
}

/*
 * A POST /config body as {"ansible": {...}} for conf_ansible_apply, into
 * *ret (malloc'd, the caller frees). The configuration is the body or its
 * "config" member (contiv's clusterctl wraps it so, beside monitor_event).
 * Its serf, inventory and manager must be the running ones (as GET /config
 * shows them; contiv refuses a change there), monitor_event is not ours;
 * an ansible string key holding "" is not set (contiv sends every field,
 * "" when unset). Anything else, unknown keys and wrong types, is left for
 * conf_ansible_apply to refuse by name.
 * 0, -EINVAL with err, -EPERM with contiv's sentence, or -ENOMEM.
 */
static int
config_body(struct manager *m, const cJSON *in, char **ret, char *err, size_t errlen)
{
	cJSON *out = NULL, *conf;
	const cJSON *it, *wrap;
	char *res;
	int rc = -EINVAL;

	if (!cJSON_IsObject(in)) {
		snprintf(err, errlen, "\"config\" should be a valid json: the body must be a "
		    "JSON object, {\"ansible\": {...}} or {\"config\": {...}}");
		goto out;
	}
	conf = (cJSON *)in;
	if ((wrap = cJSON_GetObjectItemCaseSensitive(in, "config")) != NULL) {
		if (!cJSON_IsObject(wrap)) {
			snprintf(err, errlen, "config: expected an object");
			goto out;
		}
		cJSON_ArrayForEach(it, in) {
			if (it != wrap && !ignored(config_ignored, sizeof(config_ignored) /
			    sizeof(config_ignored[0]), "POST /config", it->string)) {
				snprintf(err, errlen, "%.64s: unknown key beside config",
				    it->string);
				goto out;
			}
		}
		conf = (cJSON *)wrap;
	}
	if ((out = cJSON_CreateObject()) == NULL)
		goto oom;
	cJSON_ArrayForEach(it, conf) {
		cJSON *copy;

		if (fixed_section(it->string) && section_differs(m, it)) {
			snprintf(err, errlen, "\"%s\" configuration can't be changed. Only "
			    "changes to ansible configuration are allowed.", it->string);
			rc = -EPERM;
			goto out;
		}
		if (ignored(config_ignored, sizeof(config_ignored) / sizeof(config_ignored[0]),
		    "POST /config", it->string))
			continue;
		if ((copy = cJSON_Duplicate(it, 1)) == NULL)
			goto oom;
		if (strcmp(it->string, "ansible") == 0 && cJSON_IsObject(copy)) {
			for (cJSON *v = copy->child, *next; v != NULL; v = next) {
				char path[128];

				next = v->next;
				/* A key too long for path is no key of ours: left to refuse. */
				if (cJSON_IsString(v) && v->valuestring[0] == '\0' &&
				    (size_t)snprintf(path, sizeof(path), "ansible.%s",
				    v->string) < sizeof(path) && conf_ansible_string_key(path))
					cJSON_Delete(cJSON_DetachItemViaPointer(copy, v));
			}
		}
		cJSON_AddItemToObject(out, it->string, copy);
	}
	if ((res = cJSON_PrintUnformatted(out)) == NULL)
		goto oom;
	*ret = res;
	rc = 0;
	goto out;
oom:
	snprintf(err, errlen, "out of memory");
	rc = -ENOMEM;
out:
	cJSON_Delete(out);
	return rc;
}

/* {"extra_vars": {...}} with the globals parsed, as contiv answers. */
static cJSON *
globals_json(struct state *s)
{
	cJSON *o = cJSON_CreateObject(), *g;

	state_rdlock(s);
	g = cJSON_Parse(state_globals(s));
	state_unlock(s);
	if (o == NULL || g == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(g);
		return NULL;
	}
	cJSON_AddItemToObject(o, "extra_vars", g);
	return o;
}

static void
get_globals(struct http_req *req)
{
	struct manager *m = req->ctx;

	http_reply_json(req, 200, globals_json(m->state));
}

static void
post_globals(struct http_req *req)
{
	struct manager *m = req->ctx;
	char *text = NULL, err[512];
	cJSON *in = NULL;
	int rc;

	if (http_read_json(req, "\"extra_vars\" should be a valid json: ", &in) < 0)
		return;
	rc = globals_text(in, &text, err, sizeof(err));
	cJSON_Delete(in);
	if (rc < 0) {
		http_reply_error(req, rc == -ENOMEM ? 500 : 400, "%s", err);
		return;
	}
	rc = lifecycle_set_globals(m->state, text, api_actor(req), err, sizeof(err));
	free(text);
	if (rc < 0) {
		http_reply_error(req, rc == -EIO ? 503 : 500, "%s", err);
		return;
	}
	log_info("globals set by %s", api_actor(req));
	http_reply_json(req, 200, globals_json(m->state));
}

/* An ansible section as {"ansible": {...}}, the shape of clusterm.conf. */
static cJSON *
ansible_json(const struct ansible_conf *a)
{
	cJSON *o = cJSON_CreateObject(), *sec;

	sec = cJSON_AddObjectToObject(o, "ansible");
	if (sec == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(sec, "command", a->command);
	cJSON_AddStringToObject(sec, "playbook_location", a->playbook_location);
	cJSON_AddStringToObject(sec, "configure_playbook", a->configure_playbook);
	cJSON_AddStringToObject(sec, "cleanup_playbook", a->cleanup_playbook);
	cJSON_AddStringToObject(sec, "upgrade_playbook", a->upgrade_playbook);
	cJSON_AddStringToObject(sec, "extra_variables", a->extra_variables);
	cJSON_AddStringToObject(sec, "user", a->user);
	cJSON_AddStringToObject(sec, "priv_key_file", a->priv_key_file);
	cJSON_AddNumberToObject(sec, "timeout_s", (double)a->timeout_s);
	return o;
}

static void
get_config(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct ansible_conf *a = malloc(sizeof(*a));	/* too big for a worker's stack */
	char err[512] = "out of memory";
	int rc = -ENOMEM;

	if (a != NULL) {
		state_rdlock(m->state);
		rc = lifecycle_effective_conf(m->lc, a, err, sizeof(err));
		state_unlock(m->state);
	}
	if (rc < 0)
		http_reply_error(req, 500, "%s", err);
	else
		http_reply_json(req, 200, with_sections(m, ansible_json(a)));
	free(a);
}

/*
 * Applies {"ansible": {...}} over the section in force and keeps the result
 * (persisted) until the next POST or a SIGHUP, which makes the file the
 * truth again.
 */
static void
post_config(struct http_req *req)
{
	struct manager *m = req->ctx;
	struct ansible_conf *a;
	char err[512], *text = NULL;
	cJSON *o, *in = NULL;
	int rc;

	if (http_read_json(req, "\"config\" should be a valid json: ", &in) < 0)
		return;
	if ((a = malloc(sizeof(*a))) == NULL) {	/* too big for a worker's stack */
		http_reply_error(req, 500, "out of memory");
		cJSON_Delete(in);
		return;
	}
	char *body = NULL;
	rc = config_body(m, in, &body, err, sizeof(err));
	cJSON_Delete(in);
	if (rc < 0) {
		/* contiv answers a change of a fixed section with its generic 500. */
		http_reply_error(req, rc == -EINVAL ? 400 : 500, "%s", err);
		if (rc == -EPERM)
			log_info("POST /config from %s refused: %s", api_actor(req), err);
		free(a);
		return;
	}
	state_rdlock(m->state);
	rc = lifecycle_effective_conf(m->lc, a, err, sizeof(err));
	state_unlock(m->state);
	if (rc == 0 && conf_ansible_apply(a, body, err, sizeof(err)) < 0)
		rc = -EINVAL;
	free(body);
	if (rc == 0) {
		o = ansible_json(a);
		text = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
		cJSON_Delete(o);
		rc = text != NULL ? lifecycle_set_config(m->state, text, api_actor(req), err,
		    sizeof(err)) : -ENOMEM;
	}
	free(text);
	if (rc == -EINVAL)
		http_reply_error(req, 400, "%s", err);
	else if (rc < 0)
		http_reply_error(req, rc == -EIO ? 503 : 500, "%s", err);
	else {
		log_info("ansible section set by %s", api_actor(req));
		http_reply_json(req, 200, with_sections(m, ansible_json(a)));
	}
	free(a);
}

const struct http_route api_config_routes[] = {
	{ "GET", "/info/globals", get_globals, AUTH_READER },
	{ "GET", "/config", get_config, AUTH_READER },
	{ "POST", "/config", post_config, AUTH_ADMIN },
	{ "POST", "/globals", post_globals, AUTH_ADMIN },
	{ NULL, NULL, NULL, AUTH_OPEN },
};
