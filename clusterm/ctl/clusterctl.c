/*
 * clusterctl: the operator CLI of clusterm. main and the option parser; the
 * commands and their help are in ctl_cmd.c, the help's printing in
 * ctl_help.c, where clusterm is found in ctl_url.c. Options may come
 * before, between or after the command words (contiv's docs write
 * "clusterctl node commission node1 --host-group=service-master").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_help.h"
#include "ctl_http.h"
#include "ctl_url.h"
#include "fsio.h"
#include "httpc.h"
#include "text.h"
#include "version.h"

enum opt_id {
	OPT_URL, OPT_EXTRA_VARS, OPT_HOST_GROUP, OPT_JSON, OPT_FOLLOW, OPT_TOKEN_FILE,
	OPT_CACERT, OPT_CERT, OPT_KEY, OPT_NODE, OPT_SINCE, OPT_LIMIT, OPT_HELP, OPT_VERSION,
};

struct opt {
	const char *name;	/* long name */
	char letter;		/* short letter, 0 for none */
	bool arg;		/* takes a value */
	enum opt_id id;
	unsigned cmd_flag;	/* CTL_OPT_* when the option belongs to some commands only */
};

static const struct opt opts[] = {
	{ "url", 'u', true, OPT_URL, 0 },
	{ "extra-vars", 'e', true, OPT_EXTRA_VARS, CTL_OPT_EXTRA_VARS },
	{ "host-group", 'g', true, OPT_HOST_GROUP, CTL_OPT_HOST_GROUP },
	{ "json", 'j', false, OPT_JSON, 0 },
	{ "follow", 'f', false, OPT_FOLLOW, CTL_OPT_FOLLOW },
	{ "token-file", 0, true, OPT_TOKEN_FILE, 0 },
	{ "cacert", 0, true, OPT_CACERT, 0 },
	{ "cert", 0, true, OPT_CERT, 0 },
	{ "key", 0, true, OPT_KEY, 0 },
	{ "node", 0, true, OPT_NODE, CTL_OPT_NODE },
	{ "since", 0, true, OPT_SINCE, CTL_OPT_SINCE },
	{ "limit", 0, true, OPT_LIMIT, CTL_OPT_LIMIT },
	{ "help", 'h', false, OPT_HELP, 0 },
	{ "version", 0, false, OPT_VERSION, 0 },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void
usage(FILE *f)
{
	ctl_help_usage(f);
}

struct parsed {
	char **pos;		/* positional arguments, in order */
	int npos;
	const char *token_file;
	bool help, version;
	unsigned given;		/* CTL_OPT_* seen */
	const char *given_name[8]; /* the spelling used, per CTL_OPT_* bit, for messages */
};

static const struct opt *
find_long(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static const struct opt *
find_short(char letter)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].letter == letter)
			return &opts[i];
	return NULL;
}

static int
apply(struct ctl *c, struct parsed *p, const struct opt *o, const char *spelled,
    const char *value)
{
	if (o->arg && value[0] == '\0' && o->id != OPT_EXTRA_VARS) {
		ctl_err("option %s needs a non-empty value", spelled);
		return -EINVAL;
	}
	switch (o->id) {
	case OPT_URL: c->url = value; break;
	case OPT_EXTRA_VARS: c->extra_vars = value[0] != '\0' ? value : NULL; break;
	case OPT_HOST_GROUP: c->host_group = value; break;
	case OPT_JSON: c->json = true; break;
	case OPT_FOLLOW: c->follow = true; break;
	case OPT_TOKEN_FILE: p->token_file = value; break;
	case OPT_CACERT: c->cacert = value; break;
	case OPT_CERT: c->cert = value; break;
	case OPT_KEY: c->key = value; break;
	case OPT_NODE: c->node = value; break;
	case OPT_SINCE: c->since = value; break;
	case OPT_LIMIT: c->limit = value; break;
	case OPT_HELP: p->help = true; break;
	case OPT_VERSION: p->version = true; break;
	}
	if (o->cmd_flag != 0) {
		p->given |= o->cmd_flag;
		for (unsigned b = 0; b < 8; b++)
			if (o->cmd_flag == (1u << b))
				p->given_name[b] = o->name;
	}
	return 0;
}

/*
 * Splits argv into options and positional arguments. Accepts "--name value",
 * "--name=value", "-x value", "-xvalue", clustered "-jf", Go-style
 * "-name[=value]" (contiv's clusterctl took those) and "--" to end options;
 * a lone "-" is an argument (stdin for "config set").
 */
static int
parse_args(int argc, char **argv, struct ctl *c, struct parsed *p)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		const struct opt *o;

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				p->pos[p->npos++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			p->pos[p->npos++] = a;
			continue;
		}
		if (a[1] == '-' || strlen(a) > 2) {
			const char *name = a + (a[1] == '-' ? 2 : 1);
			const char *eq = strchr(name, '=');
			size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);

			o = find_long(name, len);
			if (o == NULL && a[1] == '-') {
				ctl_err("unknown option: %.*s", (int)(len + 2), a);
				return -EINVAL;
			}
			if (o != NULL) {
				const char *value = NULL;
				if (o->arg && eq != NULL)
					value = eq + 1;
				else if (o->arg && i + 1 < argc)
					value = argv[++i];
				else if (o->arg) {
					ctl_err("option %s needs a value", a);
					return -EINVAL;
				} else if (eq != NULL) {
					ctl_err("option --%s takes no value", o->name);
					return -EINVAL;
				}
				if (apply(c, p, o, o->name, value) < 0)
					return -EINVAL;
				continue;
			}
		}
		/* Short options, possibly clustered. */
		for (char *s = a + 1; *s != '\0'; s++) {
			char spelled[3] = { '-', *s, '\0' };
			o = find_short(*s);
			if (o == NULL) {
				ctl_err("unknown option: -%c", *s);
				return -EINVAL;
			}
			if (!o->arg) {
				if (apply(c, p, o, o->name, NULL) < 0)
					return -EINVAL;
				continue;
			}
			if (s[1] != '\0') {
				if (apply(c, p, o, spelled, s + 1) < 0)
					return -EINVAL;
			} else if (i + 1 < argc) {
				if (apply(c, p, o, spelled, argv[++i]) < 0)
					return -EINVAL;
			} else {
				ctl_err("option %s needs a value", spelled);
				return -EINVAL;
			}
			break;
		}
	}
	return 0;
}

/*
 * Finds the command named by the first positional words; prints why not
 * and returns NULL when none matches. *ret_used gets the words consumed.
 */
static const struct ctl_cmd *
find_cmd(char **pos, int npos, int *ret_used)
{
	const char *group;
	const struct ctl_cmd *k = ctl_cmd_find(pos, npos, ret_used, &group);

	if (k != NULL)
		return k;
	if (npos == 0) {
		ctl_err("no command given");
		usage(stderr);
	} else if (group == NULL) {
		ctl_err("unknown command: %s", pos[0]);
		usage(stderr);
	} else {
		if (npos < 2)
			ctl_err("%s: a subcommand is missing", group);
		else
			ctl_err("%s: unknown subcommand: %s", group, pos[1]);
		ctl_help_subcommands(stderr, group);
		fprintf(stderr, "(\"clusterctl help %s\" describes them)\n", group);
	}
	return NULL;
}

/*
 * "--help" after command words: the help of the command they name (words
 * after it, its arguments, do not matter), else of the group.
 */
static enum ctl_exit
help_for(char **pos, int npos)
{
	const char *group;
	int used;

	if (ctl_cmd_find(pos, npos, &used, &group) != NULL)
		return ctl_help(pos, used);
	return ctl_help(pos, npos > 2 ? 2 : npos);
}

/* The bearer token: --token-file, else $CLUSTERM_TOKEN, else none. */
static int
load_token(struct ctl *c, const char *file)
{
	const char *env = getenv("CLUSTERM_TOKEN");
	char *buf;
	size_t len, skip;
	int r;

	if (file == NULL) {
		if (env != NULL && env[0] != '\0' && (c->token = strdup(env)) == NULL)
			return -ENOMEM;
		return 0;
	}
	r = fsio_read_file(file, CTL_TOKEN_MAX, &buf, &len);
	if (r < 0) {
		ctl_err("token file %s: %s", file, strerror(-r));
		return r;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
	    buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	skip = strspn(buf, " \t\r\n");
	memmove(buf, buf + skip, len - skip + 1);
	len -= skip;
	if (text_has_ctrl(buf, len)) {
		ctl_err("token file %s holds control characters", file);
		free(buf);
		return -EINVAL;
	}
	if (len == 0) {
		ctl_err("token file %s is empty", file);
		free(buf);
		return -EINVAL;
	}
	c->token = buf;
	return 0;
}

static int
check_cmd_opts(const struct ctl_cmd *k, const struct parsed *p, char **pos)
{
	unsigned extra = p->given & ~k->opts;

	for (unsigned b = 0; b < 8; b++)
		if (extra & (1u << b)) {
			ctl_err("option --%s does not apply to \"%s%s%s\"", p->given_name[b],
			    pos[0], k->sub != NULL ? " " : "", k->sub != NULL ? pos[1] : "");
			return -EINVAL;
		}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctl c = { .url = NULL };
	struct parsed p = { .npos = 0 };
	const struct ctl_cmd *k;
	int used = 0, nargs;
	enum ctl_exit x;

	p.pos = calloc((size_t)argc + 1, sizeof(*p.pos));
	if (p.pos == NULL) {
		ctl_err("out of memory");
		return CTL_EXIT_USAGE;
	}
	if (parse_args(argc, argv, &c, &p) < 0) {
		usage(stderr);
		x = CTL_EXIT_USAGE;
		goto out;
	}
	if (p.help) {
		x = help_for(p.pos, p.npos);
		goto out;
	}
	if (p.version) {
		printf("clusterctl %s\n", PROJECT_VERSION);
		x = CTL_EXIT_OK;
		goto out;
	}
	if (p.npos > 0 && strcmp(p.pos[0], "help") == 0) {
		x = ctl_help(p.pos + 1, p.npos - 1);
		goto out;
	}
	k = find_cmd(p.pos, p.npos, &used);
	if (k == NULL) {
		x = CTL_EXIT_USAGE;
		goto out;
	}
	nargs = p.npos - used;
	if (nargs < k->min_args || (k->max_args >= 0 && nargs > k->max_args)) {
		char want[32];
		if (k->max_args < 0)
			snprintf(want, sizeof(want), "at least %d", k->min_args);
		else if (k->min_args == k->max_args)
			snprintf(want, sizeof(want), "%d", k->min_args);
		else
			snprintf(want, sizeof(want), "%d to %d", k->min_args, k->max_args);
		ctl_err("\"%s%s%s\" expects %s argument(s) but received %d", k->group,
		    k->sub != NULL ? " " : "", k->sub != NULL ? k->sub : "", want, nargs);
		ctl_help_cmd_usage(stderr, k);
		x = CTL_EXIT_USAGE;
		goto out;
	}
	if (check_cmd_opts(k, &p, p.pos) < 0) {
		ctl_help_cmd_usage(stderr, k);
		x = CTL_EXIT_USAGE;
		goto out;
	}
	if (ctl_url_resolve(&c) < 0) {
		x = CTL_EXIT_USAGE;
		goto out;
	}
	if (load_token(&c, p.token_file) < 0) {
		x = CTL_EXIT_USAGE;
		goto out;
	}
	if (httpc_global_init() != 0) {
		ctl_err("cannot initialise libcurl");
		x = CTL_EXIT_UNREACHABLE;
		goto out;
	}
	x = k->run(&c, p.pos + used, nargs);
	httpc_global_cleanup();
out:
	if (fflush(stdout) != 0 && x == CTL_EXIT_OK && errno != EPIPE)
		x = CTL_EXIT_USAGE;
	free(c.token);
	free(p.pos);
	return (int)x;
}
