/* SPDX-License-Identifier: MIT */
/* Transfer: the first step of the cycle.  An app hands brokerd a socket. */
#pragma once

#include "core.h"

struct transfer {
	const char *id;              /* NUL-terminated */
	const void *ctx;
	uint32_t ctx_len;
	uint32_t keepalive_sec;
	uint32_t flags;              /* none defined: must be 0 */
};

/* Hold socket fd for app a (who is allowed to act as it: the caller
 * checked), as t describes: the id, the context, the keep-alive, the
 * socket itself against the app's capabilities, and the limits are
 * checked; then it is held, durable and watched (replacing a socket of the
 * same id).  fd is consumed on success and on failure.  Returns 0, or a
 * negative errno with why (len bytes) saying why where there is more to
 * say than the errno. */
int transfer_socket(struct daemon *d, struct app *a, const struct identity *who, int fd,
		    const struct transfer *t, char *why, size_t len);
