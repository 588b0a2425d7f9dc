/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <systemd/sd-login.h>

#include "identity.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77   /* Linux 6.5; Debian 12's headers predate it */
#endif

int peer_pidfd(int conn, pid_t pid)
{
	int fd;
	socklen_t len = sizeof(fd);
	if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0)
		return fd;   /* CLOEXEC already */
	if (pid <= 0)
		return -ESRCH;   /* the peer is in a pid namespace we cannot see */
	fd = pidfd_open(pid, 0);   /* pidfds are always CLOEXEC */
	return fd < 0 ? -errno : fd;
}

static int alive(int pidfd)
{
	/* A pidfd becomes readable when its process exits; polling it needs
	 * no permission over the process, unlike pidfd_send_signal(). */
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int n = poll(&p, 1, 0);
	if (n < 0)
		return -errno;
	return n == 0 ? 0 : -ESRCH;
}

int peer_check_unit(int pidfd, pid_t pid, const char *unit, char *why, size_t len)
{
	if (pidfd < 0 || pid <= 0) {
		snprintf(why, len, "brokerd cannot pin the peer process, so cannot check that it runs in %s", unit);
		return -EPERM;
	}
	char *found = NULL;
	const char *kind = "user unit";
	int r = sd_pid_get_user_unit(pid, &found);
	if (r == -ENODATA || r == -ENXIO) {
		kind = "unit";
		r = sd_pid_get_unit(pid, &found);
	}
	int a = alive(pidfd);
	if (a < 0) {
		free(found);
		snprintf(why, len, "the peer process exited before its unit could be checked");
		return a;
	}
	if (r < 0) {
		snprintf(why, len, "pid %d is in no systemd unit (%s); only %s may act as this app", (int)pid,
			 strerror(-r), unit);
		return r == -ENOMEM ? r : -EPERM;
	}
	r = strcmp(found, unit) == 0 ? 0 : -EPERM;
	if (r < 0)
		snprintf(why, len, "pid %d runs in %s %s; only %s may act as this app", (int)pid, kind, found, unit);
	free(found);
	return r;
}
