/* SPDX-License-Identifier: MIT */
/* libFuzzer: bp_recv() on a real SOCK_SEQPACKET socketpair, with 0-6 fds
 * attached, or 238-253 (as many as SCM_RIGHTS carries), and a receive
 * buffer that may be too small.  Every fd that arrives must be either in
 * the decoded message or closed: the lowest free fd must not move. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "send-fds.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sv[2] = { -1, -1 };
static int lowest_free = -1;

static int lowest_fd(void)
{
	int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		__builtin_trap();
	close(fd);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	if (sv[0] < 0) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			__builtin_trap();
		int big = 1 << 20;
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		lowest_free = lowest_fd();
	}
	unsigned nfds = data[0] < 0xf0 ? data[0] % 7u : 238u + (data[0] & 0x0fu);
	size_t cap = data[1] & 1 ? BP_MSG_MAX : (size_t)data[1] * 4;   /* sometimes too small */
	data += 2, size -= 2;
	if (size == 0 && nfds == 0)
		return 0;   /* an empty packet reads as end of stream */

	int fds[BP_SCM_MAX_FD];
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = sv[0];   /* any fd will do; the kernel makes new ones */
	if (send_with_fds(sv[0], data, size, fds, nfds, MSG_DONTWAIT) != (ssize_t)size)
		return 0;   /* too big for the socket: not brokerd's problem */

	static uint8_t buf[BP_MSG_MAX];
	struct bp_msg m;
	unsigned type = 0;
	uint32_t seq = 0;
	int r = bp_recv(sv[1], buf, cap, MSG_DONTWAIT, &m, &type, &seq);
	if (r == 1) {
		if (m.nfds != nfds)
			__builtin_trap();
		bp_msg_close_fds(&m);
	} else if (r == -EAGAIN) {
		__builtin_trap();   /* it was sent */
	}
	if (lowest_fd() != lowest_free)
		__builtin_trap();   /* an fd leaked */
	return 0;
}
