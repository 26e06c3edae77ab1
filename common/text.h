/* Checks on text taken from outside: control characters, visible bytes. */
#ifndef TEXT_H
#define TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* true when one of the n bytes of s is a control character (< 0x20) or DEL. */
bool text_has_ctrl(const char *s, size_t n);

/* text_has_ctrl() of a NUL-terminated string. */
static inline bool
text_str_has_ctrl(const char *s)
{
	return text_has_ctrl(s, strlen(s));
}

/*
 * true when none of the n bytes of s is a control character or DEL, and
 * none is a blank (space, tab) unless blanks is set. Bytes >= 0x80 pass:
 * this is about what breaks a line or a field, not about UTF-8.
 */
bool text_visible(const char *s, size_t n, bool blanks);

#endif
