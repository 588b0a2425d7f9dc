/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"
#include "wire.h"

int bp_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags)
{
	if (nfds > BP_FDS_MAX)
		return -EINVAL;
	return bp_send_any(sock, buf, len, fds, nfds, flags);
}

int bp_send_any(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * BP_SCM_MAX_FD)];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > BP_SCM_MAX_FD)
		return -EINVAL;
	if (nfds > 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);
		if (n >= 0)
			return (size_t)n == len ? 0 : -EIO;
		if (errno != EINTR)
			return -errno;
	}
}

static void close_cmsg_fds(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

static void peek_header(const void *buf, size_t len, unsigned *ret_type, uint32_t *ret_seq)
{
	struct bp_header h;
	if (len < sizeof(h))
		return;
	memcpy(&h, buf, sizeof(h));
	if (ret_type)
		*ret_type = h.type;
	if (ret_seq)
		*ret_seq = h.seq;
}

int bp_recv(int sock, void *buf, size_t cap, int flags, struct bp_msg *ret,
	    unsigned *ret_type, uint32_t *ret_seq)
{
	/* Room for one more fd than any message may carry, so a surplus shows
	 * as a count mismatch rather than only as MSG_CTRUNC. */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * (BP_FDS_MAX + 1))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_cmsg_fds(&mh);
		peek_header(buf, (size_t)n, ret_type, ret_seq);
		return (mh.msg_flags & MSG_CTRUNC) ? -ETOOMANYREFS : -EMSGSIZE;
	}

	int fds[BP_FDS_MAX + 1];
	unsigned nfds = 0;
	bool bad = false;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(sizeof(int)) ||
		    (c->cmsg_len - CMSG_LEN(0)) % sizeof(int) != 0) {
			bad = true;
			continue;
		}
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfds + k > BP_FDS_MAX + 1) {
			bad = true;
			continue;
		}
		memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
		nfds += k;
	}
	if (bad) {
		close_cmsg_fds(&mh);
		peek_header(buf, (size_t)n, ret_type, ret_seq);
		return -ETOOMANYREFS;
	}

	if (n == 0 && nfds == 0)
		return 0;

	int r = bp_decode(buf, (size_t)n, nfds, ret);   /* writes *ret only on success */
	if (r < 0) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		peek_header(buf, (size_t)n, ret_type, ret_seq);
		return r;
	}
	ret->nfds = nfds;
	memcpy(ret->fds, fds, nfds * sizeof(int));
	return 1;
}

int bp_send_msg(int sock, void *buf, size_t cap, unsigned type, uint32_t seq,
		const void *fixed, size_t fixed_size,
		const struct bp_field *fields, unsigned nfields,
		const int *fds, unsigned nfds, int flags)
{
	int size = bp_encode(buf, cap, type, seq, fixed, fixed_size, fields, nfields, nfds);
	if (size < 0)
		return size;
	return bp_send(sock, buf, (size_t)size, fds, nfds, flags);
}

int bp_connect_unix(const char *path, int type)
{
	return bp_connect_unix_timeout(path, type, -1);
}

int bp_connect_unix_timeout(const char *path, int type, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	if (len == 0)
		return -EINVAL;
	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);

	_cleanup_close_ int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* An AF_UNIX connect waits for backlog room as long as a send may. */
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	if (timeout_ms >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + len + 1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN && timeout_ms >= 0 ? -ETIMEDOUT : -errno;
	return TAKE_FD(fd);
}
