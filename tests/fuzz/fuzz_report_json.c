/*
 * libFuzzer target: common/report_json.c. The first byte picks the body form
 * (array, single, contiv, snapshot), the rest is the body. What decodes must
 * encode, and the encoding must decode again to equal reports.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum report_form forms[] = { REPORT_FORM_ARRAY, REPORT_FORM_SINGLE,
		REPORT_FORM_CONTIV, REPORT_FORM_SNAPSHOT };
	struct report_batch b, again;
	char err[256];
	char *out;
	int rc;

	if (size < 1)
		return 0;
	rc = report_json_decode((const char *)data + 1, size - 1, forms[data[0] % 4], &b,
	    err, sizeof(err));
	if (rc < 0)
		return 0;
	out = report_json_encode(b.reports, b.n, 1);
	if (out == NULL)
		abort();	/* only out-of-memory may fail */
	rc = report_json_decode(out, strlen(out), REPORT_FORM_ARRAY, &again, err,
	    sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "round trip failed: %s\n%s\n", err, out);
		abort();
	}
	if (again.n != b.n)
		abort();
	for (size_t i = 0; i < b.n; i++)
		if (!report_equal(&b.reports[i], &again.reports[i])) {
			fprintf(stderr, "report %zu changed in the round trip:\n%s\n", i, out);
			abort();
		}
	report_batch_finish(&again);
	report_batch_finish(&b);
	free(out);
	return 0;
}
