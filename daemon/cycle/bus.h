/* SPDX-License-Identifier: MIT */
/*
 * brokerd's one connection to the service manager that runs it (the user
 * bus for a user instance, the system bus otherwise), opened when first
 * needed and shared by thaw.c and wakeunit.c.  Calls on it block for at
 * most 5 s; they are made only on a failure or a suspension, never per
 * socket.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "core.h"

/* The connection, opened now if need be; NULL when no bus is reachable.
 * d keeps it: the caller does not unref it. */
sd_bus *bus_get(struct daemon *d);

/* After a call failed with r: a broken connection is dropped, so the next
 * bus_get() opens a new one. */
void bus_check(struct daemon *d, int r);

/* Close the connection (brokerd stops). */
void bus_close(struct daemon *d);
