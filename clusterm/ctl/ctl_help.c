/*
 * clusterctl's help: the usage (clusterctl(1)'s SYNOPSIS, built from the
 * command table), "help [COMMAND]" and "COMMAND --help".
 */
#include <stdio.h>
#include <string.h>

#include "ctl_help.h"
#include "ctl_http.h"

#define HELP_WIDTH	76	/* columns of a wrapped paragraph */

void
ctl_help_usage(FILE *f)
{
	fputs("usage: clusterctl [-hj] [-u url] [--cacert file] [--cert file] [--key file]\n"
	    "                  [--token-file file] command ...\n", f);
	for (size_t i = 0; i < ctl_ncmds; i++)
		fprintf(f, "       clusterctl %s\n", ctl_cmds[i].synopsis);
	fputs("       clusterctl help [command ...]\n"
	    "       clusterctl --version\n", f);
}

/* The command's words as typed in full: "node commission". */
static void
words_of(const struct ctl_cmd *k, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", k->group, k->sub != NULL ? " " : "",
	    k->sub != NULL ? k->sub : "");
}

void
ctl_help_cmd_usage(FILE *f, const struct ctl_cmd *k)
{
	char w[64];

	words_of(k, w, sizeof(w));
	fprintf(f, "usage: clusterctl %s\n(\"clusterctl help %s\" describes it)\n",
	    k->synopsis, w);
}

/* Prints text wrapped at HELP_WIDTH columns, indented by indent. */
static void
wrap(FILE *f, const char *text, int indent)
{
	const char *p = text;
	int col = 0;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (col > 0 && col + 1 + (int)n > HELP_WIDTH) {
			fputc('\n', f);
			col = 0;
		}
		if (col == 0) {
			fprintf(f, "%*s", indent, "");
			col = indent;
		} else {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, n, f);
		col += (int)n;
		p += n;
		p += strspn(p, " ");
	}
	if (col > 0)
		fputc('\n', f);
}

void
ctl_help_subcommands(FILE *f, const char *group)
{
	fprintf(f, "%s subcommands:", group);
	for (size_t i = 0; i < ctl_ncmds; i++)
		if (strcmp(ctl_cmds[i].group, group) == 0)
			fprintf(f, " %s", ctl_cmds[i].sub);
	fputc('\n', f);
}

static void
list_commands(FILE *f, const char *group)
{
	for (size_t i = 0; i < ctl_ncmds; i++) {
		char w[64];

		if (group != NULL && strcmp(ctl_cmds[i].group, group) != 0)
			continue;
		words_of(&ctl_cmds[i], w, sizeof(w));
		fprintf(f, "    %-20s %s\n", w, ctl_cmds[i].summary);
	}
}

static void
help_top(FILE *f)
{
	ctl_help_usage(f);
	fputs("\nCommands:\n", f);
	list_commands(f, NULL);
	fputs("    help [command ...]   describe a command, with an example\n\n", f);
	wrap(f, "Where clusterm is: -u URL, else the environment variable CLUSTERM_URL, "
	    "else manager.addr of " CTL_DEFAULT_CONF " when it is readable (or of the "
	    "file CLUSTERM_CONF names; https when its tls.cert_file is set), else "
	    CTL_DEFAULT_URL ".", 0);
	wrap(f, "A bearer token (when clusterm has auth.tokens_file): --token-file FILE, "
	    "else CLUSTERM_TOKEN. --cacert FILE verifies an https server; --cert and "
	    "--key present a client certificate.", 0);
	wrap(f, "-j/--json prints the server's JSON. Exit status: 0 done, 1 usage, "
	    "2 the server refused (its error printed), 3 clusterm not reached.", 0);
}

static void
help_group(FILE *f, const char *group)
{
	const char *lead = "usage:";

	for (size_t i = 0; i < ctl_ncmds; i++)
		if (strcmp(ctl_cmds[i].group, group) == 0) {
			fprintf(f, "%-6s clusterctl %s\n", lead, ctl_cmds[i].synopsis);
			lead = "";
		}
	fprintf(f, "\n%s commands:\n", group);
	list_commands(f, group);
	fprintf(f, "\n\"clusterctl help %s COMMAND\" describes one, with an example.\n", group);
}

static void
help_cmd(FILE *f, const struct ctl_cmd *k)
{
	fprintf(f, "usage: clusterctl %s\n\n", k->synopsis);
	wrap(f, k->description, 0);
	fprintf(f, "\nExample:\n    %s\n", k->example);
	fputc('\n', f);
	wrap(f, "Global options (\"clusterctl --help\"): -u url, -j, --token-file file, "
	    "--cacert file.", 0);
}

enum ctl_exit
ctl_help(char **words, int nwords)
{
	const struct ctl_cmd *k;
	const char *group;
	int used;

	if (nwords == 0) {
		help_top(stdout);
		return CTL_EXIT_OK;
	}
	k = ctl_cmd_find(words, nwords, &used, &group);
	if (k != NULL && used == nwords) {
		help_cmd(stdout, k);
		return CTL_EXIT_OK;
	}
	if (k == NULL && group != NULL && nwords == 1) {
		help_group(stdout, group);
		return CTL_EXIT_OK;
	}
	if (group == NULL) {
		ctl_err("help: unknown command: %s", words[0]);
	} else if (k == NULL) {
		ctl_err("help: %s: unknown subcommand: %s", group, words[1]);
		ctl_help_subcommands(stderr, group);
	} else {
		ctl_err("help: \"%s\" takes no further command words", k->group);
	}
	fputs("(\"clusterctl help\" lists the commands)\n", stderr);
	return CTL_EXIT_USAGE;
}
