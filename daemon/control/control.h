/* SPDX-License-Identifier: MIT */
/* The control socket: bound by brokerd or passed by systemd (d->control_fd). */
#pragma once

#include "core.h"

/* Bind the socket (unless systemd passed it) and accept on it.  0 or a
 * negative errno (-EADDRINUSE: another brokerd answers there). */
int control_open(struct daemon *d);
/* Stop accepting; close it (and unlink it, if brokerd bound it). */
void control_close(struct daemon *d);
