/* SPDX-License-Identifier: MIT */
/*
 * A running instance that its shell suspended: stopped by a signal
 * (SIGSTOP), or frozen by the cgroup v2 freezer (`systemctl freeze`, a
 * desktop's freezer).  Before brokerd delivers to a running instance it
 * looks; if the instance is suspended and its manifest says `thaw = yes`,
 * brokerd thaws it, with its own rights: the unit through its service
 * manager (Unit.Thaw over sd-bus, so the manager's FreezerState stays
 * true), else the cgroup's cgroup.freeze, and SIGCONT for a stopped
 * process.  brokerd never suspends anything again.
 */
#pragma once

#include "core.h"

/* Make instance pid of a runnable for a delivery.  Returns 0 (it runs),
 * 1 (it was suspended and is thawed: EVENT_THAW), or -EAGAIN when it stays
 * suspended (not allowed by the manifest, or brokerd may not thaw it:
 * EVENT_THAW once, with why); the delivery must wait then.  pid <= 0: 0. */
int thaw_instance(struct daemon *d, struct app *a, pid_t pid);

/* The instance behind a's connection: attached, started by brokerd, or
 * the pid its ACT_HELLO gave (a wake socket's service) if that process is
 * the app's user's; 0 if none is known. */
pid_t thaw_instance_pid(const struct app *a);
