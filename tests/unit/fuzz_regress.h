/*
 * Replays the inputs that once crashed a fuzz target (kept in
 * tests/fuzz/regressions/<target>/, found through $FUZZ_REGRESSIONS) in a
 * unit test, so the fix stays without a fuzz build.
 */
#ifndef FUZZ_REGRESS_H
#define FUZZ_REGRESS_H

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "fsio.h"

/* Calls fn on every file of the target's regressions dir; returns how many. */
static size_t
fuzz_regress_each(const char *target, void (*fn)(const unsigned char *buf, size_t len,
    const char *name))
{
	const char *base = getenv("FUZZ_REGRESSIONS");
	char dir[PATH_MAX], path[PATH_MAX * 2];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (base == NULL)
		base = "tests/fuzz/regressions";
	ck_assert_int_lt(snprintf(dir, sizeof(dir), "%s/%s", base, target), (int)sizeof(dir));
	d = opendir(dir);
	ck_assert_msg(d != NULL, "%s: cannot open (set FUZZ_REGRESSIONS)", dir);
	while ((de = readdir(d)) != NULL) {
		char *buf;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ck_assert_int_eq(fsio_read_file(path, 16 * 1024 * 1024, &buf, &len), 0);
		fn((const unsigned char *)buf, len, de->d_name);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

#endif
