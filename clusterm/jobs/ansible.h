/*
 * What a provisioning job runs (CONTRACT section 5): the generated inventory
 * text, the merged extra-vars and the argv/envp of ansible-playbook. No
 * process handling here (that is jobs.c); every name and address that
 * reaches the inventory file or the command line is checked again here.
 */
#ifndef ANSIBLE_H
#define ANSIBLE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Buffer sizes of struct ansible_conf, with the NUL. The config loader's
 * CONFIG_STRING keys take these as their size.
 */
#define ANSIBLE_PATH_SIZE		4096	/* command, playbook_location, priv_key_file */
#define ANSIBLE_NAME_SIZE		256	/* playbook file names, user */
#define ANSIBLE_EXTRA_VARS_SIZE		(64 * 1024)	/* extra_variables JSON text */

/* Defaults (CONTRACT section 4). */
#define ANSIBLE_DEFAULT_COMMAND		"ansible-playbook"
#define ANSIBLE_DEFAULT_LOCATION	"/etc/clusterm/ansible"
#define ANSIBLE_DEFAULT_CONFIGURE	"site.yml"
#define ANSIBLE_DEFAULT_CLEANUP		"cleanup.yml"
#define ANSIBLE_DEFAULT_UPGRADE		"rolling-upgrade.yml"
#define ANSIBLE_DEFAULT_TIMEOUT_S	3600

/* Appended to the inventory path: the file the extra-vars JSON goes into. */
#define ANSIBLE_VARS_SUFFIX		".vars.json"

/* Environment given to the child when the parent has none. */
#define ANSIBLE_DEFAULT_PATH		"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ANSIBLE_DEFAULT_HOME		"/"

/* The config's "ansible" section, filled by the config loader. */
struct ansible_conf {
	char command[ANSIBLE_PATH_SIZE];
	char playbook_location[ANSIBLE_PATH_SIZE];
	char configure_playbook[ANSIBLE_NAME_SIZE];
	char cleanup_playbook[ANSIBLE_NAME_SIZE];
	char upgrade_playbook[ANSIBLE_NAME_SIZE];
	char extra_variables[ANSIBLE_EXTRA_VARS_SIZE];	/* a JSON object, as text */
	char user[ANSIBLE_NAME_SIZE];			/* "" = no --user */
	char priv_key_file[ANSIBLE_PATH_SIZE];		/* "" = no --private-key */
	long timeout_s;					/* 0 = no timeout */
};

/* One host of a generated inventory; the strings stay the caller's. */
struct ansible_host {
	const char *name;	/* node name, <label>-<serial> or <label> */
	const char *addr;	/* management address */
};

/*
 * argv and envp of one ansible-playbook run, NULL-terminated. Everything is
 * owned by the struct (ansible_cmd_finish frees it).
 */
struct ansible_cmd {
	char **argv;
	char **envp;
	/*
	 * The extra-vars file on disk (argv holds "@" and this path). Once the
	 * command was given to jobs_submit() the job runner removes the file
	 * when the job ends; a command never submitted is dropped with
	 * ansible_cmd_discard(), which removes it.
	 */
	char *vars_path;
};

/* Fills c with the contract's defaults. */
void ansible_conf_defaults(struct ansible_conf *c);

/*
 * Checks a loaded section: command and playbook_location not empty,
 * extra_variables a JSON object, timeout_s >= 0, no control characters.
 * -EINVAL with one sentence naming the key ("ansible.command ...") in err.
 */
int ansible_conf_check(const struct ansible_conf *c, char *err, size_t errlen);

/*
 * A node name as clusterm derives it: a valid label (report_label_valid),
 * or two valid labels joined by '-'.
 */
bool ansible_node_name_valid(const char *name);

/* A host group: [A-Za-z0-9][A-Za-z0-9._-]*, at most LIMIT_HOST_GROUP_LEN. */
bool ansible_host_group_valid(const char *group);

/*
 * Builds the inventory text: "[<host_group>]\n" then per host
 * "<name> ansible_ssh_host=<addr> node_name=<name> node_addr=<addr>\n".
 * Refuses (-EINVAL, one sentence naming the culprit in err) an invalid host
 * group, node name or address, a name given twice, or no hosts at all.
 * *ret_text is malloc'd, the caller frees it. -ENOMEM.
 */
int ansible_inventory_text(const char *host_group, const struct ansible_host *hosts,
    size_t n, char **ret_text, char *err, size_t errlen);

/*
 * Writes that text to dir/name (mode 0600, atomically and durably, through
 * fsio_write_atomic). Same refusals as ansible_inventory_text; -errno of the
 * write otherwise, with a sentence naming the path.
 */
int ansible_inventory_write(const char *dir, const char *name, const char *host_group,
    const struct ansible_host *hosts, size_t n, char *err, size_t errlen);

/*
 * Merges three JSON texts, each a JSON object (NULL or "" count as {}),
 * top-level keys of request winning over globals, globals over config
 * (ansible.extra_variables). A text that is not a JSON object gives
 * -EINVAL with a sentence naming which one in err. *ret_json is a malloc'd
 * compact JSON text the caller frees. -ENOMEM.
 */
int ansible_merge_extra_vars(const char *request, const char *globals, const char *config,
    char **ret_json, char *err, size_t errlen);

/*
 * Builds argv
 *   <command> -i <inventory_path> [--user U] [--private-key K]
 *   --extra-vars @<inventory_path>.vars.json <playbook_location>/<playbook>
 * after writing extra_vars_json into that file (mode 0600, a new inode
 * replacing any file of that name), so that the JSON, which may hold
 * secrets, never appears on a command line (any local user reads
 * /proc/PID/cmdline). envp: ANSIBLE_HOST_KEY_CHECKING=false, PATH=, HOME= taken from
 * parent_env (an environ-style array; NULL means this process's environ)
 * or the ANSIBLE_DEFAULT_* values. Nothing else is passed on. playbook is
 * one of c's *_playbook fields (or any relative file name). -EINVAL with a
 * sentence in err for an empty command/playbook or a control character in
 * any argument; -errno with a sentence naming the file when it cannot be
 * written; -ENOMEM. ret is written only on success; on failure no file is
 * left.
 */
int ansible_build_cmd(const struct ansible_conf *c, const char *inventory_path,
    const char *playbook, const char *extra_vars_json, const char *const *parent_env,
    struct ansible_cmd *ret, char *err, size_t errlen);

/*
 * Frees what the struct owns and zeroes it; NULL ok. The extra-vars file
 * stays (the job runner removes it at the job's end).
 */
void ansible_cmd_finish(struct ansible_cmd *cmd);

/* The same for a command that was never submitted: removes its vars file too. */
void ansible_cmd_discard(struct ansible_cmd *cmd);

#endif
