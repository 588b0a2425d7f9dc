/* SPDX-License-Identifier: MIT */
/* Who a control client is beyond its uid: its systemd unit, pinned to the
 * process with a pidfd so that a recycled pid cannot stand in for it. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* A pidfd for the peer of the connected socket conn: SO_PEERPIDFD where
 * the kernel has it (Linux 6.5; exact), else pidfd_open(pid), which names
 * the wrong process only if the peer died and its pid was reused between
 * its connect() and brokerd's accept().  Returns the fd or a negative errno. */
int peer_pidfd(int conn, pid_t pid);

/* Is the process behind pidfd (which has pid) in unit?  Its user unit
 * (sd_pid_get_user_unit) where it runs under a user manager inside
 * user@UID.service; otherwise its unit (sd_pid_get_unit), which is also
 * what a user manager that owns the cgroup root, as in a container or the
 * test harness, gives.  The lookup only counts if the process is still
 * alive after it.  Returns 0, -EPERM (another unit, named in why),
 * -ESRCH (the process is gone) or another negative errno. */
int peer_check_unit(int pidfd, pid_t pid, const char *unit, char *why, size_t len);
