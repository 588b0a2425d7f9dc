/* SPDX-License-Identifier: MIT */
/* The hand-offs, as a table of operations: how a manifest's hand-off
 * (libbroker, listen-fds, inetd) delivers triggered sockets and what the
 * end of its instance means.  activate.c picks one per app. */
#pragma once

#include "core.h"

struct handoff_ops {
	/* Hand over what is pending (a->npending > 0, a->m set), starting
	 * the app if need be; a failure goes to activate_failed(). */
	void (*deliver)(struct daemon *d, struct app *a);
	/* The last process of the instance brokerd started is gone; status
	 * is its main process's (waitpid's), 0 if brokerd stopped it.
	 * a->pid is 0 and a->inst ended already. */
	void (*child_exited)(struct daemon *d, struct app *a, int status);
};

extern const struct handoff_ops wake_ops;              /* wake.c: libbroker */
extern const struct handoff_ops compat_listen_fds_ops;   /* compat.c */
extern const struct handoff_ops compat_inetd_ops;        /* compat.c */
