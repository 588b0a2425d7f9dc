/* SPDX-License-Identifier: MIT */
/* Live events for `brokerctl monitor`: a subscriber to the lifecycle. */
#pragma once

#include "client.h"

/* Subscribe.  0 or a negative errno.  (A client becomes a monitor by the
 * MONITOR verb, verbs.c.) */
int monitor_init(struct daemon *d);
