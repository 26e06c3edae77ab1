/*
 * libFuzzer target: the decoders of the store's records, operations
 * (ops_decode, then the apply step recovery runs) and snapshots
 * (records_decode_snapshot), into a fresh state.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state *s = fuzz_state_new();
	int rc;

	rc = fuzz_state_visit(s, data, size);
	if (rc < 0 && rc != -EBADMSG && rc != -ENOMEM) {
		fprintf(stderr, "record decode: unexpected %d\n", rc);
		abort();
	}
	state_close(s);
	return 0;
}
