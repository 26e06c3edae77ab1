/* Bounds check of untrusted msgpack before msgpack-c unpacks it; see mpcheck.h. */
#include <stdint.h>

#include "mpcheck.h"

/* Big-endian unsigned of n (1, 2 or 4) bytes at p. */
static uint64_t
get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

bool
mpcheck_bounded(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t pending = 1;	/* objects still to read; never above len - off */
	size_t off = 0;

	while (pending > 0) {
		unsigned char b;
		uint64_t skip = 0, elems = 0;
		int lenbytes = 0;

		if (off >= len)
			return false;
		b = p[off++];
		pending--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			continue;
		if (b <= 0x8f) {
			elems = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			elems = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: lenbytes = 1; break;	/* bin8, str8 */
			case 0xc5: case 0xda: lenbytes = 2; break;	/* bin16, str16 */
			case 0xc6: case 0xdb: lenbytes = 4; break;	/* bin32, str32 */
			case 0xc7: lenbytes = 1; skip = 1; break;	/* ext8: len, type */
			case 0xc8: lenbytes = 2; skip = 1; break;
			case 0xc9: lenbytes = 4; skip = 1; break;
			case 0xca: case 0xce: case 0xd2: skip = 4; break;
			case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xd4: skip = 2; break;			/* fixext1: type, data */
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xde: lenbytes = 2; break;	/* array16, map16 */
			case 0xdd: case 0xdf: lenbytes = 4; break;	/* array32, map32 */
			default: return false;				/* 0xc1: never used */
			}
			if ((size_t)lenbytes > len - off)
				return false;
			if (lenbytes > 0) {
				uint64_t n = get_be(p + off, lenbytes);
				off += (size_t)lenbytes;
				if (b == 0xdc || b == 0xdd)
					elems = n;
				else if (b == 0xde || b == 0xdf)
					elems = 2 * n;
				else
					skip += n;
			}
		}
		if (skip > len - off)
			return false;
		off += (size_t)skip;
		pending += elems;
		if (pending > len - off)
			return false;
	}
	return true;
}
