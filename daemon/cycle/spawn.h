/* SPDX-License-Identifier: MIT */
/* Fork and exec a manifest's command with the sd_listen_fds protocol. */
#pragma once

#include "core.h"

/* fds[i] becomes fd 3+i named names[i]; stdio_fd (or -1) becomes stdin and
 * stdout; the environment says which app and why (reason).  The caller's
 * fds stay the caller's.  0 with the child's pid in *ret_pid and a->inst
 * begun with it (the child is in a session of its own), or a
 * negative errno (-ENOEXEC: no command; -EPERM: another user's app and
 * brokerd is not root). */
int spawn_command(struct daemon *d, struct app *a, const int *fds, const char *const *names,
		  unsigned nfds, int stdio_fd, int reason, pid_t *ret_pid);
