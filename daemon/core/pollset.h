/* SPDX-License-Identifier: MIT */
/*
 * The poll set: held sockets in an epoll set of brokerd's own, one-shot,
 * so that an event disarms its socket as a trigger must.  libev's io
 * watchers would not do: libev never removes an fd from its epoll set, and
 * a socket that brokerd closed while the app still has it stays there, so
 * the app's traffic on it woke brokerd, which then rebuilt its whole epoll
 * set (one epoll_ctl per held socket).  Here a socket that is still armed
 * leaves the set before brokerd lets go of it; a disarmed one never
 * reports again.
 */
#pragma once

#include "core.h"

/* Create the set (once) and call ready (NULL: nobody) for each socket it
 * reports, disarmed.  0 or a negative errno. */
int pollset_init(struct daemon *d, pollset_ready_fn *ready);
void pollset_done(struct daemon *d);

/* Arm h for one event; 0 or a negative errno (h->poll unchanged). */
int pollset_arm(struct daemon *d, struct held *h);

/* Out of the set, before brokerd closes its copy of a socket that may
 * live on elsewhere (when brokerd stops, the set goes with it). */
void pollset_forget(struct daemon *d, struct held *h);
