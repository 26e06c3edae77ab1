/* JSON <-> reports. Every decoder validates the whole body before returning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cm_limits.h"
#include "report_json.h"

void
report_batch_finish(struct report_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		report_finish(&b->reports[i]);
	free(b->reports);
	memset(b, 0, sizeof(*b));
}

int
report_json_depth(const char *body, size_t len)
{
	int depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = body[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '[' || c == '{') {
			if (++depth > max)
				max = depth;
		} else if (c == ']' || c == '}')
			depth--;
	}
	return max;
}

bool
report_json_has_nul(const char *body, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (body[i] == '\0')
			return true;
		if (!in_str) {
			in_str = body[i] == '"';
			continue;
		}
		if (body[i] == '"') {
			in_str = false;
		} else if (body[i] == '\\' && i + 1 < len) {
			if (body[i + 1] == 'u' && i + 5 < len && memcmp(body + i + 2, "0000", 4) == 0)
				return true;
			i++;	/* the escaped character */
		}
	}
	return false;
}

/* Any case: contiv's monitor sends its enum's String(), "Discovered". */
enum report_kind
report_kind_parse(const char *s)
{
	if (s == NULL)
		return REPORT_KIND_NONE;
	if (strcasecmp(s, "discovered") == 0)
		return REPORT_KIND_DISCOVERED;
	if (strcasecmp(s, "disappeared") == 0)
		return REPORT_KIND_DISAPPEARED;
	return REPORT_KIND_NONE;
}

const char *
report_kind_name(enum report_kind k)
{
	switch (k) {
	case REPORT_KIND_DISCOVERED:
		return "discovered";
	case REPORT_KIND_DISAPPEARED:
		return "disappeared";
	default:
		return "none";
	}
}

/* One JSON object of string values into r. idx names the element in errors. */
static int
decode_object(const cJSON *obj, size_t idx, struct report *r, char *err, size_t errlen)
{
	const cJSON *it;
	int rc;

	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "element %zu is not a JSON object", idx);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, obj) {
		if (!cJSON_IsString(it)) {
			snprintf(err, errlen, "element %zu: key %.64s must be a string",
			    idx, it->string);
			return -EINVAL;
		}
		rc = report_set(r, it->string, it->valuestring);
		if (rc == -E2BIG) {
			snprintf(err, errlen, "element %zu: key %.64s is over its length "
			    "limit, or more than %d tags", idx, it->string, LIMIT_REPORT_TAGS);
			return rc;
		}
		if (rc == -EEXIST) {
			snprintf(err, errlen, "element %zu: key %.64s given twice", idx,
			    it->string);
			return -EINVAL;
		}
		if (rc < 0) {
			snprintf(err, errlen, "out of memory");
			return rc;
		}
	}
	return 0;
}

static int
validate(struct report *r, size_t idx, char *err, size_t errlen)
{
	char why[256];

	if (report_validate(r, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "element %zu: %s", idx, why);
		return -EINVAL;
	}
	return 0;
}

/* An array of report objects (or of contiv nodes) into b. */
static int
decode_array(const cJSON *arr, bool contiv, struct report_batch *b, char *err,
    size_t errlen)
{
	size_t n;
	int rc;

	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "%s must be a JSON array", contiv ? "nodes" : "body");
		return -EINVAL;
	}
	n = (size_t)cJSON_GetArraySize(arr);
	if (n > LIMIT_BATCH_REPORTS) {
		snprintf(err, errlen, "batch holds %zu reports, the limit is %d", n,
		    LIMIT_BATCH_REPORTS);
		return -E2BIG;
	}
	b->reports = calloc(n ? n : 1, sizeof(*b->reports));
	if (b->reports == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (const cJSON *it = arr->child; it != NULL; it = it->next) {
		struct report *r = &b->reports[b->n];
		report_init(r);
		b->n++;
		if (!contiv) {
			rc = decode_object(it, b->n - 1, r, err, errlen);
		} else {
			static const char *map[][2] = {
				{ "label", REPORT_KEY_LABEL },
				{ "serial", REPORT_KEY_SERIAL },
				{ "addr", REPORT_KEY_ADDR },
			};
			rc = 0;
			if (!cJSON_IsObject(it)) {
				snprintf(err, errlen, "node %zu is not a JSON object", b->n - 1);
				return -EINVAL;
			}
			for (size_t k = 0; k < 3 && rc == 0; k++) {
				const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, map[k][0]);
				if (v == NULL)
					continue;
				if (!cJSON_IsString(v)) {
					snprintf(err, errlen, "node %zu: %s must be a string",
					    b->n - 1, map[k][0]);
					return -EINVAL;
				}
				rc = report_set(r, map[k][1], v->valuestring);
				if (rc == -E2BIG)
					snprintf(err, errlen, "node %zu: %s is over its "
					    "length limit", b->n - 1, map[k][0]);
			}
		}
		if (rc < 0)
			return rc;
		rc = validate(r, b->n - 1, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
report_json_decode(const char *body, size_t len, enum report_form form,
    struct report_batch *ret, char *err, size_t errlen)
{
	struct report_batch b = { 0 };
	const cJSON *ev, *name, *nodes, *members;
	cJSON *root = NULL;
	int rc;

	if (report_json_has_nul(body, len)) {
		snprintf(err, errlen, "JSON strings must not hold NUL characters");
		return -EINVAL;
	}
	if (report_json_depth(body, len) > LIMIT_JSON_DEPTH) {
		snprintf(err, errlen, "JSON nesting deeper than %d", LIMIT_JSON_DEPTH);
		return -E2BIG;
	}
	root = cJSON_ParseWithLength(body, len);
	if (root == NULL) {
		snprintf(err, errlen, "body is not valid JSON");
		return -EBADMSG;
	}

	switch (form) {
	case REPORT_FORM_ARRAY:
		rc = decode_array(root, false, &b, err, errlen);
		break;
	case REPORT_FORM_SINGLE:
		b.reports = calloc(1, sizeof(*b.reports));
		if (b.reports == NULL) {
			rc = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			break;
		}
		report_init(&b.reports[0]);
		b.n = 1;
		rc = decode_object(root, 0, &b.reports[0], err, errlen);
		if (rc == 0)
			rc = validate(&b.reports[0], 0, err, errlen);
		break;
	case REPORT_FORM_CONTIV:
		ev = cJSON_GetObjectItemCaseSensitive(root, "monitor_event");
		if (!cJSON_IsObject(ev)) {
			snprintf(err, errlen, "monitor_event must be a JSON object");
			rc = -EINVAL;
			break;
		}
		name = cJSON_GetObjectItemCaseSensitive(ev, "name");
		b.kind = report_kind_parse(cJSON_IsString(name) ? name->valuestring : NULL);
		if (b.kind == REPORT_KIND_NONE) {
			/* contiv's wording, then ours. */
			snprintf(err, errlen, "Invalid or empty event name specified: \"%.64s\": "
			    "monitor_event.name must be \"discovered\" or \"disappeared\" "
			    "(any case)", cJSON_IsString(name) ? name->valuestring : "");
			rc = -EINVAL;
			break;
		}
		nodes = cJSON_GetObjectItemCaseSensitive(ev, "nodes");
		if (cJSON_IsNull(nodes)) {
			/* Go marshals an empty node list as null: an empty batch. */
			b.reports = calloc(1, sizeof(*b.reports));
			rc = b.reports != NULL ? 0 : -ENOMEM;
			if (rc < 0)
				snprintf(err, errlen, "out of memory");
			break;
		}
		rc = decode_array(nodes, true, &b, err, errlen);
		break;
	case REPORT_FORM_SNAPSHOT:
		members = cJSON_GetObjectItemCaseSensitive(root, "members");
		if (!cJSON_IsObject(root) || members == NULL) {
			snprintf(err, errlen, "body must be an object with a members array");
			rc = -EINVAL;
			break;
		}
		rc = decode_array(members, false, &b, err, errlen);
		for (size_t i = 0; rc == 0 && i < b.n; i++) {
			if (b.reports[i].status == NULL) {
				snprintf(err, errlen, "element %zu: missing key %s", i,
				    REPORT_KEY_STATUS);
				rc = -EINVAL;
			}
		}
		break;
	default:
		rc = -EINVAL;
		snprintf(err, errlen, "unknown body form");
	}
	cJSON_Delete(root);
	if (rc < 0) {
		report_batch_finish(&b);
		return rc;
	}
	*ret = b;
	return 0;
}

static bool
add_str(cJSON *o, const char *k, const char *v)
{
	return v == NULL || cJSON_AddStringToObject(o, k, v) != NULL;
}

char *
report_json_encode(const struct report *r, size_t n, int with_status)
{
	cJSON *arr = cJSON_CreateArray();
	char *out = NULL;

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (o == NULL || !cJSON_AddItemToArray(arr, o))
			goto out;
		if (!add_str(o, REPORT_KEY_LABEL, r[i].label) ||
		    !add_str(o, REPORT_KEY_SERIAL, r[i].serial) ||
		    !add_str(o, REPORT_KEY_ADDR, r[i].addr) ||
		    !add_str(o, REPORT_KEY_NAME, r[i].name) ||
		    !add_str(o, REPORT_KEY_ROLE, r[i].role) ||
		    !add_str(o, REPORT_KEY_EVENT, r[i].event) ||
		    (with_status && !add_str(o, REPORT_KEY_STATUS, r[i].status)))
			goto out;
		for (size_t t = 0; t < r[i].ntags; t++)
			if (!add_str(o, r[i].tags[t].key, r[i].tags[t].value))
				goto out;
	}
	out = cJSON_PrintUnformatted(arr);
out:
	cJSON_Delete(arr);
	return out;
}
