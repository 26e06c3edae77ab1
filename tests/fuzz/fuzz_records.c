/*
 * libFuzzer target: clusterm/records.c records_decode(), the decoder of the
 * store's batch records and snapshots, with a visitor that puts nodes into
 * an inventory and frees jobs and events as recovery would.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "records_visit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inventory *inv = inventory_new();
	struct records_visitor v;
	char err[256];
	int rc;

	if (inv == NULL)
		return 0;
	v = fuzz_visitor(inv);
	rc = records_decode(data, size, &v, err, sizeof(err));
	if (rc < 0 && rc != -EBADMSG && rc != -ENOMEM && rc != -EEXIST && rc != -EINVAL) {
		fprintf(stderr, "records_decode: unexpected %d (%s)\n", rc, err);
		abort();
	}
	inventory_free(inv);
	return 0;
}
