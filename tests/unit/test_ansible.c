/* Unit tests: inventory text, extra-vars merging, argv/envp (CONTRACT section 5). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clusterm/jobs/ansible.h"
#include "cm_limits.h"

START_TEST(test_inventory_exact)
{
	const struct ansible_host h[] = {
		{ "node1-SN123", "10.0.0.1" },
		{ "node-2", "fe80::1" },
		{ "host.a_b-c", "node3.example.com" },
	};
	char err[256], *text = NULL;

	ck_assert_int_eq(ansible_inventory_text("service-master", h, 3, &text, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(text,
	    "[service-master]\n"
	    "node1-SN123 ansible_ssh_host=10.0.0.1 node_name=node1-SN123 node_addr=10.0.0.1\n"
	    "node-2 ansible_ssh_host=fe80::1 node_name=node-2 node_addr=fe80::1\n"
	    "host.a_b-c ansible_ssh_host=node3.example.com node_name=host.a_b-c "
	    "node_addr=node3.example.com\n");
	free(text);
}
END_TEST

/* Names refused in the inventory (and so on the command line). */
static const char *bad_names[] = {
	"", "a\nb", "a b", "a;b", "$(id)", "a$(id)", "../x", "x/../y", "a/b",
	"\xc3\xa9t\xc3\xa9", "-x", ".x", "-", "a`id`", "a|b", "a=b", "a\tb",
	"[x]", "a\rb",
	/* 64-character label, no '-' to split at */
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	/* 63 + '-' + 64: the serial is too long */
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-"
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
};

START_TEST(test_bad_name)
{
	const struct ansible_host h[] = { { "ok1", "10.0.0.1" }, { bad_names[_i], "10.0.0.2" } };
	char err[256] = "", *text = NULL;

	ck_assert_msg(!ansible_node_name_valid(bad_names[_i]), "name '%s'", bad_names[_i]);
	ck_assert_int_eq(ansible_inventory_text("g", h, 2, &text, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(text);
	ck_assert_ptr_nonnull(strstr(err, "node 2"));
}
END_TEST

START_TEST(test_good_names)
{
	/* 63 + '-' + 63: the longest name */
	const char *longest =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	/* a label ending in '-' before the separator */
	const char *dashes = "a--b";

	ck_assert(ansible_node_name_valid("n"));
	ck_assert(ansible_node_name_valid("node1-SER.1_x"));
	ck_assert(ansible_node_name_valid(longest));
	ck_assert(ansible_node_name_valid(dashes));
	ck_assert(!ansible_node_name_valid(NULL));
}
END_TEST

static const char *bad_addrs[] = {
	"", "10.0.0.1\n", "a b", "x;rm", "$(id)", "../etc", "\xc3\xa9t\xc3\xa9.com",
	"999.1.1.1", "[::1]", "a_b",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.aa",	/* 254 */
};

START_TEST(test_bad_addr)
{
	const struct ansible_host h[] = { { "n1", bad_addrs[_i] } };
	char err[256] = "", *text = NULL;

	ck_assert_int_eq(ansible_inventory_text("g", h, 1, &text, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(text);
	ck_assert_ptr_nonnull(strstr(err, "n1"));
	ck_assert_ptr_nonnull(strstr(err, "address"));
}
END_TEST

START_TEST(test_inventory_refusals)
{
	const struct ansible_host ok[] = { { "n1", "10.0.0.1" } };
	const struct ansible_host twice[] = { { "n1", "10.0.0.1" }, { "n1", "10.0.0.2" } };
	const struct ansible_host nulls[] = { { NULL, "10.0.0.1" } };
	const struct ansible_host nulla[] = { { "n1", NULL } };
	const char *groups[] = { "", "a b", "a\n", "[x]", "../g", "g;id", "-g",
	    "ggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg" };
	char err[256], *text = NULL;

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		ck_assert_int_eq(ansible_inventory_text(groups[i], ok, 1, &text, err,
		    sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "host group"));
	}
	ck_assert_int_eq(ansible_inventory_text(NULL, ok, 1, &text, err, sizeof(err)),
	    -EINVAL);
	ck_assert_int_eq(ansible_inventory_text("g", ok, 0, &text, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(ansible_inventory_text("g", twice, 2, &text, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "twice"));
	ck_assert_int_eq(ansible_inventory_text("g", nulls, 1, &text, err, sizeof(err)),
	    -EINVAL);
	ck_assert_int_eq(ansible_inventory_text("g", nulla, 1, &text, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_null(text);
	ck_assert(ansible_host_group_valid("service-worker"));
	ck_assert(ansible_host_group_valid("cluster-node"));
	ck_assert(ansible_host_group_valid(
	    "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg"));	/* 64 */
}
END_TEST

START_TEST(test_inventory_write)
{
	const struct ansible_host h[] = { { "n1", "127.0.0.1" } };
	char dir[] = "/tmp/test_ansible.XXXXXX", path[128], buf[256], err[256];
	struct stat st;
	FILE *f;
	size_t n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(ansible_inventory_write(dir, "inv", "g", h, 1, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/inv", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	ck_assert_str_eq(buf, "[g]\nn1 ansible_ssh_host=127.0.0.1 node_name=n1 "
	    "node_addr=127.0.0.1\n");
	ck_assert_int_eq(ansible_inventory_write(dir, "bad", "g b", h, 1, err, sizeof(err)),
	    -EINVAL);
	snprintf(path, sizeof(path), "%s/bad", dir);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_lt(ansible_inventory_write("/nonexistent/dir", "inv", "g", h, 1, err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir"));
	snprintf(path, sizeof(path), "%s/inv", dir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_merge_precedence)
{
	char err[256], *out = NULL;

	ck_assert_int_eq(ansible_merge_extra_vars(
	    "{\"a\":\"req\",\"r\":1}",
	    "{\"a\":\"glob\",\"b\":\"glob\",\"g\":[1,2]}",
	    "{\"a\":\"conf\",\"b\":\"conf\",\"c\":\"conf\",\"o\":{\"x\":1}}",
	    &out, err, sizeof(err)), 0);
	/* Keys keep the order of first appearance, lowest precedence first. */
	ck_assert_str_eq(out, "{\"a\":\"req\",\"b\":\"glob\",\"c\":\"conf\","
	    "\"o\":{\"x\":1},\"g\":[1,2],\"r\":1}");
	free(out);

	/* Keys differ by case: both stay. */
	ck_assert_int_eq(ansible_merge_extra_vars("{\"K\":1}", NULL, "{\"k\":2}", &out, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(out, "{\"k\":2,\"K\":1}");
	free(out);

	ck_assert_int_eq(ansible_merge_extra_vars(NULL, "", "  ", &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out, "{}");
	free(out);
}
END_TEST

static const char *not_objects[] = {
	"[]", "[1]", "1", "\"s\"", "null", "true", "{", "{\"a\":}", "{} x", "{}{}",
	"{\"a\":1,}", "nonsense",
	"{\"a\":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}",	/* deeper than 16 */
};

START_TEST(test_merge_not_object)
{
	char err[256], *out = NULL;

	ck_assert_int_eq(ansible_merge_extra_vars(not_objects[_i], "{}", "{}", &out, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "request"));
	ck_assert_int_eq(ansible_merge_extra_vars("{}", not_objects[_i], "{}", &out, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "global"));
	ck_assert_int_eq(ansible_merge_extra_vars("{}", "{}", not_objects[_i], &out, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ansible.extra_variables"));
	ck_assert_ptr_null(out);
}
END_TEST

static void
assert_strv(char **got, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		ck_assert_ptr_nonnull(got[i]);
		ck_assert_str_eq(got[i], want[i]);
	}
	ck_assert_ptr_null(got[i]);
}

/* Reads a whole (small) file into buf; its mode into *ret_mode. */
static void
read_small(const char *path, char *buf, size_t len, mode_t *ret_mode)
{
	struct stat st;
	FILE *f;
	size_t n;

	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	*ret_mode = st.st_mode & 07777;
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

START_TEST(test_cmd_exact)
{
	struct ansible_conf *c = malloc(sizeof(*c));
	struct ansible_cmd cmd = { NULL, NULL, NULL };
	const char *env[] = { "FOO=bar", "PATH=/p1:/p2", "LD_PRELOAD=x.so", "HOME=/home/cm",
	    "ANSIBLE_CONFIG=/evil", NULL };
	char dir[] = "/tmp/test_ansible.XXXXXX", inv[128], at[176], vpath[160], buf[256];
	const char *want_argv[] = { "ansible-playbook", "-i", inv,
	    "--extra-vars", at, "/etc/clusterm/ansible/site.yml", NULL };
	const char *want_argv2[] = { "/usr/bin/ansible-playbook", "-i", inv,
	    "--user", "deploy", "--private-key", "/keys/id", "--extra-vars", at,
	    "/pb/cleanup.yml", NULL };
	const char *want_env[] = { "ANSIBLE_HOST_KEY_CHECKING=false",
	    "ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS=ignore", "PATH=/p1:/p2",
	    "HOME=/home/cm", NULL };
	const char *empty_env[] = { "PATH=", NULL };
	const char *want_env_default[] = { "ANSIBLE_HOST_KEY_CHECKING=false",
	    "ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS=ignore",
	    "PATH=" ANSIBLE_DEFAULT_PATH, "HOME=" ANSIBLE_DEFAULT_HOME, NULL };
	char err[256];
	mode_t mode;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(inv, sizeof(inv), "%s/7.inv", dir);
	snprintf(vpath, sizeof(vpath), "%s/7.inv.vars.json", dir);
	snprintf(at, sizeof(at), "@%s", vpath);
	ansible_conf_defaults(c);
	ck_assert_int_eq(ansible_build_cmd(c, inv, c->configure_playbook,
	    "{\"a\":1}", env, &cmd, err, sizeof(err)), 0);
	assert_strv(cmd.argv, want_argv);
	assert_strv(cmd.envp, want_env);
	ck_assert_str_eq(cmd.vars_path, vpath);
	read_small(vpath, buf, sizeof(buf), &mode);
	ck_assert_str_eq(buf, "{\"a\":1}");
	ck_assert_int_eq(mode, 0600);
	/* finish frees, the file stays for the job runner to remove. */
	ansible_cmd_finish(&cmd);
	ck_assert_ptr_null(cmd.argv);
	ck_assert_ptr_null(cmd.vars_path);
	ck_assert_int_eq(access(vpath, F_OK), 0);

	snprintf(c->command, sizeof(c->command), "/usr/bin/ansible-playbook");
	snprintf(c->playbook_location, sizeof(c->playbook_location), "/pb//");
	snprintf(c->user, sizeof(c->user), "deploy");
	snprintf(c->priv_key_file, sizeof(c->priv_key_file), "/keys/id");
	ck_assert_int_eq(ansible_build_cmd(c, inv, c->cleanup_playbook, "{}",
	    empty_env, &cmd, err, sizeof(err)), 0);
	assert_strv(cmd.argv, want_argv2);
	assert_strv(cmd.envp, want_env_default);
	read_small(vpath, buf, sizeof(buf), &mode);
	ck_assert_str_eq(buf, "{}");
	ansible_cmd_discard(&cmd);
	ck_assert_ptr_null(cmd.argv);
	ck_assert_int_eq(access(vpath, F_OK), -1);
	ansible_cmd_discard(NULL);

	/* Refusals, ret untouched, no file left. */
	ck_assert_int_eq(ansible_build_cmd(c, inv, "", "{}", env, &cmd, err, sizeof(err)),
	    -EINVAL);
	ck_assert_int_eq(ansible_build_cmd(c, inv, "a\nb.yml", "{}", env, &cmd, err,
	    sizeof(err)), -EINVAL);
	ck_assert_int_eq(ansible_build_cmd(c, inv, "site.yml", "{\"a\":\"\n\"}", env, &cmd,
	    err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(access(vpath, F_OK), -1);
	ck_assert_int_eq(ansible_build_cmd(c, "/nonexistent/dir/7.inv", "site.yml", "{}",
	    env, &cmd, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/7.inv.vars.json"));
	c->command[0] = '\0';
	ck_assert_int_eq(ansible_build_cmd(c, inv, "site.yml", "{}", env, &cmd, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_null(cmd.argv);
	ck_assert_ptr_null(cmd.vars_path);
	ansible_cmd_finish(NULL);
	ck_assert_int_eq(rmdir(dir), 0);
	free(c);
}
END_TEST

/* The secret is never in argv; the file replaces what was there, never follows a link. */
START_TEST(test_cmd_vars_file)
{
	struct ansible_conf *c = malloc(sizeof(*c));
	struct ansible_cmd cmd = { NULL, NULL, NULL };
	const char *env[] = { "PATH=/bin", NULL };
	char dir[] = "/tmp/test_ansible.XXXXXX", inv[128], vpath[160], target[160];
	char buf[256], err[256];
	const char *secret = "{\"db_password\":\"s3cret\"}";
	mode_t mode;
	FILE *f;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ansible_conf_defaults(c);
	snprintf(inv, sizeof(inv), "%s/9.inv", dir);
	snprintf(vpath, sizeof(vpath), "%s/9.inv" ANSIBLE_VARS_SUFFIX, dir);
	snprintf(target, sizeof(target), "%s/target", dir);

	/* A stale world-readable file of that name: replaced by a new 0600 one. */
	f = fopen(vpath, "w");
	ck_assert_ptr_nonnull(f);
	fputs("stale", f);
	fclose(f);
	ck_assert_int_eq(chmod(vpath, 0644), 0);
	ck_assert_int_eq(ansible_build_cmd(c, inv, "site.yml", secret, env, &cmd, err,
	    sizeof(err)), 0);
	for (char **p = cmd.argv; *p != NULL; p++)
		ck_assert_msg(strstr(*p, "s3cret") == NULL, "secret in argv: %s", *p);
	read_small(vpath, buf, sizeof(buf), &mode);
	ck_assert_str_eq(buf, secret);
	ck_assert_int_eq(mode, 0600);
	ansible_cmd_discard(&cmd);

	/* A symlink planted there is replaced, its target not written. */
	ck_assert_int_eq(symlink(target, vpath), 0);
	ck_assert_int_eq(ansible_build_cmd(c, inv, "site.yml", secret, env, &cmd, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(access(target, F_OK), -1);
	read_small(vpath, buf, sizeof(buf), &mode);
	ck_assert_str_eq(buf, secret);
	ansible_cmd_discard(&cmd);
	ck_assert_int_eq(access(vpath, F_OK), -1);
	ck_assert_int_eq(rmdir(dir), 0);
	free(c);
}
END_TEST

START_TEST(test_conf_check)
{
	struct ansible_conf *c = malloc(sizeof(*c));
	char err[256];

	ck_assert_ptr_nonnull(c);
	ansible_conf_defaults(c);
	ck_assert_str_eq(c->command, "ansible-playbook");
	ck_assert_str_eq(c->upgrade_playbook, "rolling-upgrade.yml");
	ck_assert_int_eq(c->timeout_s, 3600);
	ck_assert_int_eq(ansible_conf_check(c, err, sizeof(err)), 0);
	snprintf(c->extra_variables, sizeof(c->extra_variables), "[1]");
	ck_assert_int_eq(ansible_conf_check(c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ansible.extra_variables"));
	ansible_conf_defaults(c);
	c->cleanup_playbook[0] = '\0';
	ck_assert_int_eq(ansible_conf_check(c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ansible.cleanup_playbook"));
	ansible_conf_defaults(c);
	c->timeout_s = -1;
	ck_assert_int_eq(ansible_conf_check(c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ansible.timeout_s"));
	free(c);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("ansible");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_inventory_exact);
	tcase_add_loop_test(tc, test_bad_name, 0, sizeof(bad_names) / sizeof(bad_names[0]));
	tcase_add_test(tc, test_good_names);
	tcase_add_loop_test(tc, test_bad_addr, 0, sizeof(bad_addrs) / sizeof(bad_addrs[0]));
	tcase_add_test(tc, test_inventory_refusals);
	tcase_add_test(tc, test_inventory_write);
	tcase_add_test(tc, test_merge_precedence);
	tcase_add_loop_test(tc, test_merge_not_object, 0,
	    sizeof(not_objects) / sizeof(not_objects[0]));
	tcase_add_test(tc, test_cmd_exact);
	tcase_add_test(tc, test_cmd_vars_file);
	tcase_add_test(tc, test_conf_check);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
