/* SPDX-License-Identifier: MIT */
/*
 * The systemd .socket unit behind a wake socket, asked about when an
 * activation through it fails.  systemd's own rate limits (a .socket's
 * TriggerLimitBurst=, its service's StartLimitBurst=) put the unit in the
 * failed state for good: it closes its listener, and every later connect
 * is refused.  brokerd's back-off and trigger limit already bound how often
 * it wakes an app, so it then resets the unit (and the services it
 * triggers) and starts it again, and says so; any other failed state is
 * reported and left to the admin.
 */
#pragma once

#include <stddef.h>

#include "core.h"

/* a's activation through its wake socket failed with why (a sentence in a
 * buffer of len bytes).  Asks the service manager which .socket unit
 * listens on the manifest's socket = path, and, if that unit is failed,
 * appends "; its unit U is failed (RESULT)" and what brokerd did about it.
 * Nothing is appended if no manager answers, no unit listens there, or it
 * is not failed.  Blocks on the bus for at most a few calls' timeouts. */
void wakeunit_explain(struct daemon *d, const struct app *a, char *why, size_t len);
