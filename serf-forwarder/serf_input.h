/*
 * What serf hands an event handler: the member lines on stdin
 * (NAME\tADDRESS\tROLE\tTAGS) and, for `sync`, the JSON of
 * `serf members -format json`.
 */
#ifndef SERF_INPUT_H
#define SERF_INPUT_H

#include <stdbool.h>
#include <stddef.h>

struct serf_tag {
	char *key;
	char *value;
};

/* One member; every string is malloc'd and owned by the member. */
struct serf_member {
	char *name;
	char *addr;
	char *role;		/* "" when serf gave none */
	char *status;		/* only from `serf members` (alive, left, ...); else NULL */
	struct serf_tag *tags;
	size_t ntags;
};

struct serf_members {
	struct serf_member *v;
	size_t n;
};

void serf_member_finish(struct serf_member *m);
void serf_members_finish(struct serf_members *ms);

/* Value of a member tag, NULL when absent. */
const char *serf_member_tag(const struct serf_member *m, const char *key);

/*
 * Splits serf's TAGS field into m's tags: `k=v` pieces joined by commas; a
 * piece without '=' (or repeating a key already seen, serf's tags being a
 * map) belongs to the previous value, joined back with its comma. -ENOMEM.
 */
int serf_input_parse_tags(const char *s, size_t len, struct serf_member *m);

/*
 * Parses one line (without its newline; a trailing CR is dropped).
 * Returns 0 with ret filled, -ENODATA for an empty or blank line, -EINVAL
 * with one sentence in why for a line that is no member, -ENOMEM.
 */
int serf_input_parse_line(const char *line, size_t len, struct serf_member *ret,
    char *why, size_t whylen);

/* Called for every line that was left out (1-based line number). */
typedef void (*serf_input_bad_fn)(size_t lineno, const char *why, void *arg);

/*
 * A streaming parser: feed() any chunks of stdin, then end(). Lines over
 * LIMIT_STDIN_LINE_BYTES and members over LIMIT_STDIN_MEMBERS are left out
 * and reported through bad.
 */
struct serf_parser;

struct serf_parser *serf_parser_new(serf_input_bad_fn bad, void *arg);
void serf_parser_free(struct serf_parser *p);
int serf_parser_feed(struct serf_parser *p, const char *buf, size_t len);
/*
 * Flushes a last line without newline and moves the members into ret
 * (caller frees with serf_members_finish); *ret_nbad gets the count of
 * left-out lines. The parser is empty afterwards.
 */
int serf_parser_end(struct serf_parser *p, struct serf_members *ret, size_t *ret_nbad);

/*
 * Reads fd to EOF into the parser, waiting at most until deadline_ms
 * (fsio_mono_ms clock). -ETIMEDOUT when the writer did not close in time
 * (what arrived so far stays in the parser), -errno on a read error.
 */
int serf_input_read_fd(struct serf_parser *p, int fd, long long deadline_ms);

/*
 * Parses `serf members -format json` output into members (status set,
 * address without its port). -EINVAL with one sentence in err, -ENOMEM.
 */
int serf_input_parse_members_json(const char *json, size_t len,
    struct serf_members *ret, char *err, size_t errlen);

#endif
