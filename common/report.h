/*
 * The node report: what one observer says of one node (CONTRACT section 2),
 * its validation rules and the node name derived from it.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Report keys as they travel in JSON. */
#define REPORT_KEY_LABEL	"Node-Label"
#define REPORT_KEY_SERIAL	"Node-Serial"
#define REPORT_KEY_ADDR		"Node-Mgmt-Address"
#define REPORT_KEY_NAME		"Node-Name"
#define REPORT_KEY_ROLE		"Node-Role"
#define REPORT_KEY_EVENT	"Serf-Event"
#define REPORT_KEY_STATUS	"Serf-Status"

struct report_tag {
	char *key;
	char *value;
};

/*
 * All strings are owned by the report (malloc'd); NULL means the key was
 * absent. report_finish() frees them.
 */
struct report {
	char *label;
	char *serial;
	char *addr;
	char *name;	/* serf member name */
	char *role;
	char *event;	/* Serf-Event */
	char *status;	/* Serf-Status (snapshot bodies only) */
	struct report_tag *tags;
	size_t ntags;
};

void report_init(struct report *r);
void report_finish(struct report *r);

/* Deep copy; dst must be initialised or finished. -ENOMEM. */
int report_copy(struct report *dst, const struct report *src);

/*
 * Sets a known key or appends a tag (copies key and value). Returns -E2BIG
 * when the value is over its length limit or the tag count is over
 * LIMIT_REPORT_TAGS, -EEXIST for a key given twice, -ENOMEM.
 */
int report_set(struct report *r, const char *key, const char *value);

/* Value of a known key or tag, NULL when absent. */
const char *report_get(const struct report *r, const char *key);

/*
 * Checks the report against CONTRACT section 2. On failure returns -EINVAL
 * and writes one sentence naming the offending key into why.
 */
int report_validate(const struct report *r, char *why, size_t whylen);

/* Label and serial charset: [A-Za-z0-9][A-Za-z0-9._-]{0,62}. */
bool report_label_valid(const char *s);
/* IPv4, IPv6 or DNS host name. */
bool report_addr_valid(const char *s);
/* A serf event name clusterm knows. */
bool report_event_valid(const char *s);

/* "<label>-<serial>" or "<label>"; -ENOBUFS when len is too small. */
int report_node_name(const struct report *r, char *buf, size_t len);

/* true when both reports carry the same keys and values (tag order aside). */
bool report_equal(const struct report *a, const struct report *b);

#endif
