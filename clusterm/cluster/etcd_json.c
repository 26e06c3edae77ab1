/* The gateway's encodings: base64 keys and values, 64-bit numbers as JSON strings. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "etcd.h"
#include "etcd_impl.h"

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
etcd_b64_encode(const void *buf, size_t len, char *ret)
{
	const unsigned char *p = buf;
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		ret[o++] = b64[p[i] >> 2];
		ret[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		ret[o++] = b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		ret[o++] = b64[p[i + 2] & 63];
	}
	if (i < len) {
		ret[o++] = b64[p[i] >> 2];
		if (i + 1 < len) {
			ret[o++] = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			ret[o++] = b64[(p[i + 1] & 15) << 2];
		} else {
			ret[o++] = b64[(p[i] & 3) << 4];
			ret[o++] = '=';
		}
		ret[o++] = '=';
	}
	ret[o] = '\0';
	return o;
}

static int
b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
etcd_b64_decode(const char *s, size_t len, char *ret, size_t *ret_len)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		int v;
		if (s[i] == '=')
			break;
		if ((v = b64_val(s[i])) < 0)
			return -EBADMSG;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			ret[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	*ret_len = o;
	return 0;
}

void
etcd_prefix_end(const char *prefix, size_t len, char *ret, size_t *ret_len)
{
	memcpy(ret, prefix, len);
	*ret_len = len;
	while (*ret_len > 0) {
		unsigned char c = (unsigned char)ret[*ret_len - 1];
		if (c < 0xff) {
			ret[*ret_len - 1] = (char)(c + 1);
			return;
		}
		(*ret_len)--;
	}
	/* All 0xff: the whole key space after it ("\0" means that to etcd). */
	ret[0] = '\0';
	*ret_len = 1;
}

/* ---- JSON helpers ---- */

int
etcd_add_b64(cJSON *o, const char *name, const char *buf, size_t len)
{
	char *t = malloc(4 * ((len + 2) / 3) + 1);

	if (t == NULL)
		return -ENOMEM;
	etcd_b64_encode(buf, len, t);
	cJSON *v = cJSON_AddStringToObject(o, name, t);
	free(t);
	return v == NULL ? -ENOMEM : 0;
}

int
etcd_add_i64(cJSON *o, const char *name, int64_t v)
{
	char t[32];

	snprintf(t, sizeof(t), "%" PRId64, v);
	return cJSON_AddStringToObject(o, name, t) == NULL ? -ENOMEM : 0;
}

/* An int64 field: a JSON string (or a number); absent is 0. */
int64_t
etcd_get_i64(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	if (cJSON_IsNumber(v))
		return (int64_t)v->valuedouble;
	return 0;
}

/* A base64 field into a malloc'd NUL-terminated buffer (absent: ""). */
int
etcd_get_b64(const cJSON *o, const char *name, char **ret, size_t *ret_len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	const char *s = cJSON_IsString(v) ? v->valuestring : "";
	size_t sl = strlen(s);
	char *b = malloc(3 * (sl / 4) + 4);

	if (b == NULL)
		return -ENOMEM;
	if (etcd_b64_decode(s, sl, b, ret_len) < 0) {
		free(b);
		return -EBADMSG;
	}
	b[*ret_len] = '\0';
	*ret = b;
	return 0;
}

void
etcd_kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

int
etcd_kv_parse(const cJSON *o, struct etcd_kv *kv, bool want_value)
{
	memset(kv, 0, sizeof(*kv));
	if (!cJSON_IsObject(o))
		return -EBADMSG;
	if (etcd_get_b64(o, "key", &kv->key, &kv->key_len) < 0)
		return -EBADMSG;
	if (want_value && etcd_get_b64(o, "value", &kv->value, &kv->value_len) < 0) {
		etcd_kv_free(kv);
		return -EBADMSG;
	}
	kv->create_rev = etcd_get_i64(o, "create_revision");
	kv->mod_rev = etcd_get_i64(o, "mod_revision");
	kv->version = etcd_get_i64(o, "version");
	kv->lease = etcd_get_i64(o, "lease");
	return 0;
}
