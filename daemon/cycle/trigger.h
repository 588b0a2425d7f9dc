/* SPDX-License-Identifier: MIT */
/* Triggers: why a held socket woke, told without reading its data. */
#pragma once

#include "core.h"

/* The reason a socket of kind (BROKER_KIND_*) is readable now:
 * BROKER_REASON_SOCKET_ACTIVITY, _CONNECTION_ACCEPTED or _SOCKET_CLOSED, or
 * BROKER_REASON_NONE if nothing explains it (nothing is consumed: it peeks
 * at most). */
int trigger_classify(int fd, int kind);

/* Have the poll set report to the trigger (pollset.h).  0 or a negative errno. */
int trigger_init(struct daemon *d);

/* An admin's `brokerctl trigger`: a WATCHING socket triggers for what it
 * shows, or for admin-trigger when it is quiet or a listener. */
void trigger_admin(struct daemon *d, struct held *h);
