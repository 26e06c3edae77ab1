/* Helpers the commands share: the out-of-memory exit and the -e check. */
#include <errno.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "ctl_http.h"
#include "ctl_util.h"

/* Prints "out of memory"; the exit status is a usage error, as before the split. */
enum ctl_exit
ctl_util_oom(void)
{
	ctl_err("out of memory");
	return CTL_EXIT_USAGE;
}

/*
 * Checks -e: it must be a JSON object (ansible extra-vars). On failure
 * prints why; the caller exits with a usage error.
 */
int
ctl_util_check_extra_vars(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	bool ok = cJSON_IsObject(j);

	cJSON_Delete(j);
	if (!ok) {
		ctl_err("-e/--extra-vars must be a JSON object, e.g. '{\"key\":\"value\"}'");
		return -EINVAL;
	}
	return 0;
}
