/* SPDX-License-Identifier: MIT */
/* The libbroker hand-off (wake.c): its ops are in handoff.h. */
#pragma once

#include <stddef.h>

#include "core.h"

/* A running process (pid, as SO_PEERCRED saw it) attaches itself as a's
 * instance over fd, its end of a new AF_UNIX SOCK_SEQPACKET connection:
 * from its ACT_HELLO on, a's triggers go to it as to an instance brokerd
 * started.  fd is consumed, on success and on failure.  Returns 0, or
 * -EBUSY (a has an instance connected already), -EOPNOTSUPP (a's
 * hand-off is not libbroker), -EPROTOTYPE (fd is no such socket), -ENOMEM,
 * with one sentence in why. */
int wake_attach(struct daemon *d, struct app *a, int fd, pid_t pid, char *why, size_t len);
