/* SPDX-License-Identifier: MIT */
/* One struct daemon, made ready for the layers above. */
#pragma once

#include "core.h"

/* Zero d, give it loop (may be NULL: no event loop, as for --check), the
 * default configuration of a system (user false) or user instance, and
 * core's subscribers: the journal, the counters, STATUS=.  0 or a
 * negative errno (config_defaults()'s). */
int daemon_init(struct daemon *d, struct ev_loop *loop, bool user);

/* What daemon_init() and the store allocated (the loop stays the caller's). */
void daemon_free(struct daemon *d);
