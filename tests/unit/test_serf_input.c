/* Unit tests: serf's handler stdin, line by line and streamed, and `serf members` JSON. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_limits.h"
#include "serf_input.h"

/* One row: a line and what it must give ("k=v;k=v" for the tags). */
static const struct {
	const char *line;
	int rc;
	const char *name, *addr, *role, *tags;
} lines[] = {
	{ "n1\t10.0.0.1\tweb\tNodeLabel=a,NodeSerial=S1", 0, "n1", "10.0.0.1", "web",
	    "NodeLabel=a;NodeSerial=S1" },
	{ "n1\t10.0.0.1\t\t", 0, "n1", "10.0.0.1", "", "" },
	{ "n1\t10.0.0.1", 0, "n1", "10.0.0.1", "", "" },
	{ "n1\t10.0.0.1\tweb", 0, "n1", "10.0.0.1", "web", "" },
	{ "n1\t10.0.0.1\t\tk=v\r", 0, "n1", "10.0.0.1", "", "k=v" },
	/* a value with a comma: the piece without '=' belongs to it */
	{ "n1\t::1\t\tlist=a,b,c,x=1", 0, "n1", "::1", "", "list=a,b,c;x=1" },
	/* a value holding '=' stays whole */
	{ "n1\t10.0.0.1\t\tq=a=b", 0, "n1", "10.0.0.1", "", "q=a=b" },
	/* serf's ambiguous weird=a,b=c reads as two tags (the contract's rule) */
	{ "n1\t10.0.0.1\t\tweird=a,b=c", 0, "n1", "10.0.0.1", "", "weird=a;b=c" },
	/* a repeated key cannot come from serf's map: it is part of the value */
	{ "n1\t10.0.0.1\t\tk=a,k=b", 0, "n1", "10.0.0.1", "", "k=a,k=b" },
	/* empty value, empty pieces */
	{ "n1\t10.0.0.1\t\tk=,,x=1", 0, "n1", "10.0.0.1", "", "k=,;x=1" },
	/* escaped tab and newline arrive as two characters and stay so */
	{ "n1\t10.0.0.1\tr\\tx\tk=a\\nb", 0, "n1", "10.0.0.1", "r\\tx", "k=a\\nb" },
	{ "", -ENODATA, NULL, NULL, NULL, NULL },
	{ "\r", -ENODATA, NULL, NULL, NULL, NULL },
	{ "  \t ", -ENODATA, NULL, NULL, NULL, NULL },
	{ "n1", -EINVAL, NULL, NULL, NULL, NULL },
	{ "n1\t", -EINVAL, NULL, NULL, NULL, NULL },
	{ "\t10.0.0.1\t\t", -EINVAL, NULL, NULL, NULL, NULL },
	{ "n1\t10.0.0.1\t\tk=v\textra", -EINVAL, NULL, NULL, NULL, NULL },
};

static void
fmt_tags(const struct serf_member *m, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < m->ntags; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s=%s", i ? ";" : "", m->tags[i].key,
		    m->tags[i].value);
	}
}

START_TEST(test_line)
{
	struct serf_member m;
	char why[128], tags[512];
	int rc = serf_input_parse_line(lines[_i].line, strlen(lines[_i].line), &m, why,
	    sizeof(why));

	ck_assert_msg(rc == lines[_i].rc, "line %d: rc %d", _i, rc);
	if (rc != 0)
		return;
	ck_assert_str_eq(m.name, lines[_i].name);
	ck_assert_str_eq(m.addr, lines[_i].addr);
	ck_assert_str_eq(m.role, lines[_i].role);
	fmt_tags(&m, tags, sizeof(tags));
	ck_assert_str_eq(tags, lines[_i].tags);
	serf_member_finish(&m);
}
END_TEST

START_TEST(test_nul_byte)
{
	struct serf_member m;
	char why[128];

	ck_assert_int_eq(serf_input_parse_line("n1\0x\t1.2.3.4", 12, &m, why, sizeof(why)),
	    -EINVAL);
}
END_TEST

static size_t nbad_cb;

static void
on_bad(size_t lineno, const char *why, void *arg)
{
	(void)lineno;
	(void)why;
	(void)arg;
	nbad_cb++;
}

/* Chunks split anywhere, CRLF, blank lines, a last line without newline. */
START_TEST(test_stream)
{
	const char *in = "a\t10.0.0.1\t\t\r\n\r\n\nb\t10.0.0.2\trole\tk=v,w\nbroken\nc\t10.0.0.3";
	struct serf_parser *p = serf_parser_new(on_bad, NULL);
	struct serf_members ms;
	size_t nbad, len = strlen(in);

	nbad_cb = 0;
	for (size_t i = 0; i < len; i += 3)
		ck_assert_int_eq(serf_parser_feed(p, in + i, len - i < 3 ? len - i : 3), 0);
	ck_assert_int_eq(serf_parser_end(p, &ms, &nbad), 0);
	ck_assert_uint_eq(ms.n, 3);
	ck_assert_uint_eq(nbad, 1);
	ck_assert_uint_eq(nbad_cb, 1);
	ck_assert_str_eq(ms.v[0].name, "a");
	ck_assert_str_eq(ms.v[1].role, "role");
	ck_assert_str_eq(serf_member_tag(&ms.v[1], "k"), "v,w");
	ck_assert_str_eq(ms.v[2].addr, "10.0.0.3");
	serf_members_finish(&ms);
	serf_parser_free(p);
}
END_TEST

/* A line over the limit is left out, the next one still counts. */
START_TEST(test_long_line)
{
	struct serf_parser *p = serf_parser_new(on_bad, NULL);
	struct serf_members ms;
	size_t nbad, n = LIMIT_STDIN_LINE_BYTES + 100;
	char *big = malloc(n);

	memset(big, 'x', n);
	memcpy(big, "n\t1.2.3.4\t\tk=", 13);
	ck_assert_int_eq(serf_parser_feed(p, big, n), 0);
	ck_assert_int_eq(serf_parser_feed(p, "\nok\t1.2.3.5\n", 12), 0);
	ck_assert_int_eq(serf_parser_end(p, &ms, &nbad), 0);
	ck_assert_uint_eq(ms.n, 1);
	ck_assert_uint_eq(nbad, 1);
	ck_assert_str_eq(ms.v[0].name, "ok");
	serf_members_finish(&ms);
	serf_parser_free(p);
	free(big);
}
END_TEST

START_TEST(test_member_limit)
{
	struct serf_parser *p = serf_parser_new(NULL, NULL);
	struct serf_members ms;
	char line[64];
	size_t nbad;

	for (int i = 0; i < LIMIT_STDIN_MEMBERS + 5; i++) {
		int l = snprintf(line, sizeof(line), "n%d\t10.0.0.1\t\t\n", i);
		ck_assert_int_eq(serf_parser_feed(p, line, (size_t)l), 0);
	}
	ck_assert_int_eq(serf_parser_end(p, &ms, &nbad), 0);
	ck_assert_uint_eq(ms.n, LIMIT_STDIN_MEMBERS);
	ck_assert_uint_eq(nbad, 5);
	serf_members_finish(&ms);
	serf_parser_free(p);
}
END_TEST

/* Reading from a pipe: EOF ends it; an open writer runs into the bound. */
START_TEST(test_read_fd)
{
	struct serf_parser *p = serf_parser_new(NULL, NULL);
	struct serf_members ms;
	size_t nbad;
	int fd[2];

	ck_assert_int_eq(pipe(fd), 0);
	ck_assert_int_eq(write(fd[1], "a\t1.2.3.4\n", 10), 10);
	ck_assert_int_eq(serf_input_read_fd(p, fd[0], 0), -ETIMEDOUT);
	close(fd[1]);
	ck_assert_int_eq(serf_input_read_fd(p, fd[0], (long long)1 << 62), 0);
	close(fd[0]);
	ck_assert_int_eq(serf_parser_end(p, &ms, &nbad), 0);
	ck_assert_uint_eq(ms.n, 1);
	serf_members_finish(&ms);
	serf_parser_free(p);
}
END_TEST

START_TEST(test_members_json)
{
	const char *js = "{\"members\":[{\"name\":\"a\",\"addr\":\"127.0.0.2:7946\",\"port\":7946,"
	    "\"tags\":{\"role\":\"web\",\"NodeSerial\":\"S\"},\"status\":\"alive\"},"
	    "{\"name\":\"b\",\"addr\":\"[::1]:7946\",\"tags\":{},\"status\":\"failed\"}]}";
	struct serf_members ms;
	char err[128];

	ck_assert_int_eq(serf_input_parse_members_json(js, strlen(js), &ms, err, sizeof(err)), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_str_eq(ms.v[0].addr, "127.0.0.2");
	ck_assert_str_eq(ms.v[0].role, "web");
	ck_assert_str_eq(ms.v[0].status, "alive");
	ck_assert_str_eq(serf_member_tag(&ms.v[0], "NodeSerial"), "S");
	ck_assert_str_eq(ms.v[1].addr, "::1");
	ck_assert_str_eq(ms.v[1].role, "");
	serf_members_finish(&ms);
	ck_assert_int_eq(serf_input_parse_members_json("{}", 2, &ms, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(serf_input_parse_members_json("nope", 4, &ms, err, sizeof(err)), -EINVAL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("serf_input");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_line, 0, sizeof(lines) / sizeof(lines[0]));
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_stream);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_member_limit);
	tcase_add_test(tc, test_read_fd);
	tcase_add_test(tc, test_members_json);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
