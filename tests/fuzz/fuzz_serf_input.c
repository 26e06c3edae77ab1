/*
 * libFuzzer target: serf-forwarder's stdin parsers. The first byte picks the
 * mode: the streaming member-line parser fed in chunks whose sizes come from
 * that byte, or the `serf members -format json` parser.
 */
#include <stdint.h>
#include <stdlib.h>

#include "serf_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
bad_line(size_t lineno, const char *why, void *arg)
{
	size_t *n = arg;

	(void)lineno;
	(void)why;
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct serf_members ms;
	struct serf_parser *p;
	size_t nbad = 0, nreported = 0, chunk, off;
	char err[256];
	const char *buf = (const char *)data + 1;
	int rc;

	if (size < 1)
		return 0;
	size--;
	if (data[0] & 0x80) {
		if (serf_input_parse_members_json(buf, size, &ms, err, sizeof(err)) == 0)
			serf_members_finish(&ms);
		return 0;
	}
	p = serf_parser_new(bad_line, &nreported);
	if (p == NULL)
		return 0;
	chunk = (size_t)(data[0] & 0x7f) + 1;
	for (off = 0; off < size; off += chunk) {
		rc = serf_parser_feed(p, buf + off, size - off < chunk ? size - off : chunk);
		if (rc < 0)
			break;
	}
	if (serf_parser_end(p, &ms, &nbad) == 0) {
		if (nbad != nreported)
			abort();	/* every left-out line is reported */
		for (size_t i = 0; i < ms.n; i++)
			if (ms.v[i].name == NULL || ms.v[i].addr == NULL || ms.v[i].role == NULL)
				abort();
		serf_members_finish(&ms);
	}
	serf_parser_free(p);
	return 0;
}
