/* clusterm's TLS set-up: civetweb's OpenSSL 3 shim, the PEM civetweb reads. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_limits.h"
#include "fsio.h"
#include "log.h"
#include "tls_setup.h"

/*
 * Loads libclusterm-tls.so (see tls_shim.c) from beside the executable (a
 * build tree) or from where meson installs it. Without it civetweb finds the
 * real libssl.so and fails on OpenSSL 3; the caller reports that.
 */
void
tls_load_shim(void)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/libclusterm-tls.so", self);
			if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) != NULL)
				return;
		}
	}
	if (dlopen(TLS_SHIM_PATH, RTLD_NOW | RTLD_GLOBAL) == NULL)
		log_warn("TLS shim %s: %s", TLS_SHIM_PATH, dlerror());
}

/*
 * civetweb wants the private key and the certificate chain in one PEM file:
 * write them into STATE_DIR/tls.pem, 0600.
 */
int
tls_pem(const struct conf *c, char *path, size_t len)
{
	char *key = NULL, *cert = NULL, *both = NULL;
	size_t klen, clen;
	int rc;

	if ((rc = fsio_read_file(c->key_file, LIMIT_CONFIG_BYTES, &key, &klen)) < 0) {
		log_error("tls.key_file: %s: %s", c->key_file, strerror(-rc));
		goto out;
	}
	if ((rc = fsio_read_file(c->cert_file, LIMIT_CONFIG_BYTES, &cert, &clen)) < 0) {
		log_error("tls.cert_file: %s: %s", c->cert_file, strerror(-rc));
		goto out;
	}
	if (strstr(key, "PRIVATE KEY-----") == NULL || strstr(cert, "CERTIFICATE-----") == NULL) {
		log_error("%s: not PEM", strstr(key, "PRIVATE KEY-----") == NULL ?
		    "tls.key_file" : "tls.cert_file");
		rc = -EINVAL;
		goto out;
	}
	if ((both = malloc(klen + clen + 2)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(both, key, klen);
	both[klen] = '\n';
	memcpy(both + klen + 1, cert, clen);
	rc = fsio_write_atomic(c->state_dir, "tls.pem", both, klen + 1 + clen, 0600);
	if (rc < 0) {
		log_error("manager.state_dir: %s/tls.pem: %s", c->state_dir, strerror(-rc));
		goto out;
	}
	if ((size_t)snprintf(path, len, "%s/tls.pem", c->state_dir) >= len) {
		log_error("manager.state_dir: path too long");
		rc = -ENAMETOOLONG;
	}
out:
	if (key != NULL)
		explicit_bzero(key, klen);
	if (both != NULL)
		explicit_bzero(both, klen + 1 + clen);
	free(key);
	free(cert);
	free(both);
	return rc;
}
