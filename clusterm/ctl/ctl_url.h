/* Where clusterctl finds clusterm (ctl_url.c). */
#ifndef CTL_URL_H
#define CTL_URL_H

#include "ctl.h"

/*
 * Sets c->url and c->url_from when -u did not: $CLUSTERM_URL, else
 * manager.addr (and https when tls.cert_file is set) of $CLUSTERM_CONF or a
 * readable /etc/clusterm/clusterm.conf, else CTL_DEFAULT_URL. 0, or -EINVAL
 * after printing why a named or malformed config file cannot be used.
 */
int ctl_url_resolve(struct ctl *c);

#endif
