/*
 * libFuzzer target: serf-forwarder's spool record decoder. With the first
 * byte odd the rest is decoded as it is (framing and CRC included); with it
 * even the rest is the msgpack payload and gets a correct frame, so the
 * fuzzer reaches the payload decoder past the CRC. A record that decodes
 * must encode and decode again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch b, again;
	unsigned char *rec;
	char *enc;
	size_t reclen, enclen;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		rc = spool_record_decode((const char *)data + 1, size - 1, &b);
	} else {
		reclen = 8 + size - 1;
		rec = malloc(reclen);
		if (rec == NULL)
			return 0;
		put_le32(rec, (uint32_t)(size - 1));
		put_le32(rec + 4, crc32c(0, data + 1, size - 1));
		if (size > 1)
			memcpy(rec + 8, data + 1, size - 1);
		rc = spool_record_decode((const char *)rec, reclen, &b);
		free(rec);
	}
	if (rc < 0)
		return 0;
	if (spool_record_encode(&b, &enc, &enclen) < 0)
		abort();
	if (spool_record_decode(enc, enclen, &again) < 0)
		abort();
	if (again.n != b.n || again.seq != b.seq || again.kind != b.kind)
		abort();
	batch_finish(&again);
	free(enc);
	batch_finish(&b);
	return 0;
}
