/* clusterm's TLS set-up (tls_setup.c). */
#ifndef TLS_SETUP_H
#define TLS_SETUP_H

#include <stddef.h>

#include "conf.h"

/*
 * Loads libclusterm-tls.so (see tls_shim.c) from beside the executable (a
 * build tree) or from where meson installs it, so that civetweb finds
 * OpenSSL 3; a failure is logged and left to mg_init_library to report.
 */
void tls_load_shim(void);

/*
 * Writes the certificate and key of c into one PEM file civetweb reads,
 * owner-only, in the state dir; its path into path. 0, or -1 logged.
 */
int tls_pem(const struct conf *c, char *path, size_t len);

#endif
