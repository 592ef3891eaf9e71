#ifndef SLIPWAY_LIBGIT2_SHIM_H
#define SLIPWAY_LIBGIT2_SHIM_H

#include <git2.h>

/* git_libgit2_opts is variadic, which Swift cannot call: one wrapper per option used. */

/* Trust the certificates in `file` (PEM) for https remotes, in addition to the system's. */
static inline int slipway_git_set_ssl_cert_file(const char *file) {
    return git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, NULL);
}

#endif
