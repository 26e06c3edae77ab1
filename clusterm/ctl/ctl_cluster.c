/* The cluster command: the instances of one manager on etcd, and which one leads. */
#include <stdio.h>

#include <cjson/cJSON.h>

#include "ctl_cluster.h"
#include "ctl_http.h"
#include "ctl_print.h"
#include "ctl_util.h"

enum ctl_exit
ctl_cluster_list(struct ctl *c, char **args, int nargs)
{
	static const char *const hdr[] = { "ID", "URL", "ROLE", "LAST SEEN" };
	static const char *const keys[] = { "id", "url", "role", "last_seen" };
	struct ctl_reply r = { 0 };
	const cJSON *inst;
	enum ctl_exit x;

	(void)args;
	(void)nargs;
	x = ctl_request(c, "GET", "/api/v1/cluster", NULL, &r);
	if (x != CTL_EXIT_OK)
		return x;
	if (c->json) {
		ctl_print_raw(&r);
		goto out;
	}
	inst = cJSON_GetObjectItemCaseSensitive(r.json, "instances");
	if (!cJSON_IsArray(inst)) {
		ctl_err("unexpected reply from clusterm (no \"instances\" array)");
		x = CTL_EXIT_REFUSED;
		goto out;
	}
	if (ctl_print_objects(stdout, inst, hdr, keys, 4) < 0)
		x = ctl_util_oom();
out:
	ctl_reply_finish(&r);
	return x;
}
