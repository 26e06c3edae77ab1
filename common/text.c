/* Text checks. */
#include "text.h"

bool
text_has_ctrl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			return true;
	}
	return false;
}

bool
text_visible(const char *s, size_t n, bool blanks)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == ' ' || ch == '\t') {
			if (!blanks)
				return false;
		} else if (ch < 0x20 || ch == 0x7f) {
			return false;
		}
	}
	return true;
}
