/*
 * Debian 12's civetweb 1.15 loads OpenSSL at run time with dlopen("libssl.so")
 * and then looks up SSL_get_peer_certificate, which OpenSSL 3 no longer
 * exports (it became a macro for SSL_get1_peer_certificate). Without it
 * civetweb's TLS cannot start at all.
 *
 * This tiny library carries the soname "libssl.so" and depends on the real
 * libssl.so.3. clusterm loads it by path before civetweb initialises TLS;
 * civetweb's dlopen("libssl.so") then finds this already-loaded object, and
 * its dlsym() lookups search it first and the real libssl behind it.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

X509 *SSL_get_peer_certificate(const SSL *s);

/* OpenSSL 1.1's SSL_get_peer_certificate took a reference, as get1 does. */
X509 *
SSL_get_peer_certificate(const SSL *s)
{
	return SSL_get1_peer_certificate(s);
}
