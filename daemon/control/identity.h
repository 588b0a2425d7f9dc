/* SPDX-License-Identifier: MIT */
/* Who a control client is beyond its uid: its systemd unit, looked up when
 * brokerd accepts the connection and pinned to the process with a pidfd, so
 * that a recycled pid cannot stand in for it. */
#pragma once

#include <sys/types.h>

/* The unit of the process at the other end of the just-accepted connection
 * conn (pid from SO_PEERCRED).  The process is pinned with a pidfd first:
 * SO_PEERPIDFD where the kernel has it (Linux 6.5; exact), else
 * pidfd_open(pid), which names the wrong process only if the peer died and
 * its pid was reused between its connect() and brokerd's accept().  The unit
 * is its user unit (sd_pid_get_user_unit) where it runs under a user manager
 * inside user@UID.service, otherwise its unit (sd_pid_get_unit), which is
 * also what a user manager that owns the cgroup root gives, as in a
 * container or the test harness.  The answer counts only if the pidfd says
 * the process is still alive after the lookup.
 * Returns 0 with the unit in *ret_unit (free() it), or a negative errno
 * that identity_unit_error() turns into a reason. */
int identity_unit(int conn, pid_t pid, char **ret_unit);

/* Why a client whose identity_unit() failed with error has no unit. */
const char *identity_unit_error(int error);
