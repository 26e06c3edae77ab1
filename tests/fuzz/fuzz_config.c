/*
 * libFuzzer target: the config loader (common/config.c) with clusterm's own
 * key table, through conf_load() on a memfd, then conf_check() on what
 * loaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
warn(const char *msg, void *arg)
{
	(void)msg;
	(void)arg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf c;	/* ~100 KiB */
	static int fd = -1;
	static char path[64];
	char err[1024];

	if (fd < 0) {
		fd = memfd_create("fuzz_config", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	conf_defaults(&c);
	if (conf_load(&c, path, err, sizeof(err), warn, NULL) == 0)
		(void)conf_check(&c, err, sizeof(err));
	return 0;
}
