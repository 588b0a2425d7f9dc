/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "send-fds.h"
#include "wire.h"

ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags)
{
	int r = bp_send_any(sock, buf, len, fds, nfds, flags);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return (ssize_t)len;
}
