/* SPDX-License-Identifier: MIT */
/* The transport under the frames: a stream socket (TCP, or the TLS
 * keeper's local stream) or a TLS session in this process, read and
 * written without waiting; waits are poll() with a deadline.  And the TCP
 * connect of ws:// and of the proxy. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ws.h"
#include "../util.h"

enum broker_tls_status bt_status_from_gai(int gai_err);

ssize_t ws_io_read(broker_ws *w, void *buf, size_t len)
{
	if (w->tls)
		return ws_tls_read(w->tls, buf, len);
	for (;;) {
		ssize_t n = recv(w->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

ssize_t ws_io_write(broker_ws *w, const void *buf, size_t len)
{
	if (w->tls)
		return ws_tls_write(w->tls, buf, len);
	for (;;) {
		ssize_t n = send(w->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

int ws_io_wait(broker_ws *w, short events, uint64_t deadline)
{
	struct pollfd p = { w->tls ? ws_tls_fd(w->tls) : w->fd, w->tls ? ws_tls_events(w->tls) : events, 0 };
	for (;;) {
		int r = poll(&p, 1, ws_ms_left(w, deadline));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int ws_io_write_all(broker_ws *w, const void *buf, size_t len, uint64_t deadline)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = ws_io_write(w, (const char *)buf + done, len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		int r = n == -EAGAIN ? ws_io_wait(w, POLLOUT, deadline) : (int)n;
		if (r < 0)
			return r;
	}
	return 0;
}

ssize_t ws_io_read_head(broker_ws *w, char *buf, uint64_t deadline)
{
	size_t have = 0;
	for (;;) {
		/* One byte at a time: the first frame may follow the head at once,
		 * and must stay where the frame reader finds it. */
		ssize_t n = ws_io_read(w, buf + have, 1);
		if (n == 0)
			return -ECONNRESET;
		if (n == -EAGAIN) {
			int r = ws_io_wait(w, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return n;
		ssize_t end = ws_head_length(buf, ++have);
		if (end != 0)
			return end;
	}
}

static int connect_one(const struct addrinfo *a, uint64_t deadline, broker_ws *w, int *ret_fd)
{
	int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
		int e = -errno;
		close(fd);
		return e;
	}
	struct pollfd p = { fd, POLLOUT, 0 };
	int r;
	while ((r = poll(&p, 1, ws_ms_left(w, deadline))) < 0 && errno == EINTR)
		;
	int err = 0;
	socklen_t elen = sizeof(err);
	if (r == 0)
		err = ETIMEDOUT;
	else if (r < 0)
		err = errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		close(fd);
		return -err;
	}
	*ret_fd = fd;
	return 0;
}

int ws_tcp_connect(broker_ws *w, const char *host, const char *service, uint64_t deadline)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG }, *res;
	int g = getaddrinfo(host, service, &hints, &res);
	if (g != 0)
		return ws_fail(w, bt_status_from_gai(g), broker_tls_status_errno(bt_status_from_gai(g)),
			       "%s: %s", host, gai_strerror(g));
	int err = -ENXIO, fd = -1;
	for (const struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		err = connect_one(a, deadline, w, &fd);
		if (err == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		enum broker_tls_status s = ws_status_from_errno(err);
		return ws_fail(w, s, s == BROKER_TLS_UNKNOWN ? err : broker_tls_status_errno(s),
			       "connect to %s port %s: %s", host, service, strerror(-err));
	}
	return fd;
}
