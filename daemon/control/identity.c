/* SPDX-License-Identifier: MIT */
/* Who a control client is beyond its uid (identity.h): its systemd unit,
 * pinned to the process with a pidfd. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "identity.h"
#include "util.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77   /* Linux 6.5; Debian 12's headers predate it */
#endif

static int open_pidfd(int conn, pid_t pid)
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

int identity_unit(int conn, pid_t pid, char **ret_unit)
{
	_cleanup_close_ int pidfd = open_pidfd(conn, pid);
	if (pidfd < 0)
		return pidfd;
	char *unit = NULL;
	int r = sd_pid_get_user_unit(pid, &unit);
	if (r == -ENODATA || r == -ENXIO)
		r = sd_pid_get_unit(pid, &unit);
	/* A pidfd polls readable once its process has exited; polling needs
	 * no permission over the process, unlike pidfd_send_signal(). */
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0) {
		free(unit);
		return -ESRCH;
	}
	if (r < 0)
		return r;
	*ret_unit = unit;
	return 0;
}

const char *identity_unit_error(int error)
{
	switch (error) {
	case -ESRCH:
		return "the process exited before its unit was known";
	case -ENODATA:
	case -ENXIO:
	case -ENOENT:
		return "the process is in no systemd unit";
	case 0:
		return "no manifest named a unit when it connected: connect again";
	default:
		return strerror(-error);
	}
}
