/* SPDX-License-Identifier: MIT */
/* Reading and writing on an open connection, ending TLS, handing the
 * socket out, and recording how a connection ended up. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tls.h"
#include "../util.h"

static int usable(broker_tls *t)
{
	if (!t)
		return -EINVAL;
	if (t->phase == BT_FAILED)
		return broker_tls_status_errno(t->status);
	if (t->phase == BT_CLOSED)
		return -ESHUTDOWN;
	return t->phase == BT_OPEN ? 0 : -ENOTCONN;
}

/* A session in this process (not plain, not relayed by the keeper). */
static bool tls(const broker_tls *t)
{
	return t->session != NULL;
}

static uint64_t io_deadline(const broker_tls *t)
{
	return t->io_ms >= 0 ? now_usec(CLOCK_MONOTONIC) + (uint64_t)t->io_ms * 1000 : 0;
}

/* The operation would block: note what it waits for, and wait in blocking
 * mode.  0 to try again, or a negative errno. */
static int io_wait(broker_tls *t, uint64_t deadline, bool reading)
{
	if (tls(t))
		t->io_events = gnutls_record_get_direction(t->session) ? POLLOUT : POLLIN;
	else
		t->io_events = reading ? POLLIN : POLLOUT;
	if (t->nonblocking)
		return -EAGAIN;
	int r = bt_wait(t, deadline);
	if (r == -ETIMEDOUT && reading) {
		/* Nothing was consumed: the connection stays usable. */
		t->status = BROKER_TLS_TIMED_OUT;
		snprintf(t->detail, sizeof(t->detail), "nothing to read within %d ms", t->io_ms);
		return r;
	}
	if (r == -ETIMEDOUT)
		return bt_fail(t, BROKER_TLS_TIMED_OUT, "could not write within %d ms", t->io_ms);
	return r < 0 ? bt_fail(t, BROKER_TLS_UNKNOWN, "poll: %s", strerror(-r)) : 0;
}

static ssize_t done_io(broker_tls *t, ssize_t n)
{
	t->io_events = POLLIN;
	t->status = BROKER_TLS_OK;
	t->detail[0] = 0;
	return n;
}

/* Checks for read and write. */
static int usable_for_io(broker_tls *t, const void *buf, size_t len)
{
	int r = usable(t);
	return r < 0 ? r : !buf && len ? -EINVAL : 0;
}

ssize_t broker_tls_read(broker_tls *t, void *buf, size_t len)
{
	int r = usable_for_io(t, buf, len);
	if (r < 0)
		return r;
	uint64_t deadline = io_deadline(t);
	for (;;) {
		ssize_t n;
		if (tls(t)) {
			n = gnutls_record_recv(t->session, buf, len);
			if (n >= 0)
				return done_io(t, n);
			if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED) {
				/* Warnings (a refused renegotiation, say) are not the end. */
				if (!gnutls_error_is_fatal((int)n))
					continue;
				return bt_fail_gnutls(t, (int)n, false);
			}
		} else {
			n = recv(t->fd, buf, len, 0);
			if (n >= 0)
				return done_io(t, n);
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return bt_fail(t, bt_status_from_errno(errno), "read: %m");
		}
		if ((r = io_wait(t, deadline, true)) < 0)
			return r;
	}
}

size_t broker_tls_pending(const broker_tls *t)
{
	return t && t->session && t->session_active ? gnutls_record_check_pending(t->session) : 0;
}

ssize_t broker_tls_write(broker_tls *t, const void *buf, size_t len)
{
	int r = usable_for_io(t, buf, len);
	if (r < 0)
		return r;
	uint64_t deadline = io_deadline(t);
	size_t done = 0;
	while (done < len) {
		const char *p = (const char *)buf + done;
		ssize_t n;
		if (tls(t)) {
			n = gnutls_record_send(t->session, p, len - done);
			if (n < 0 && n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED)
				return bt_fail_gnutls(t, (int)n, false);
		} else {
			n = send(t->fd, p, len - done, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN)
				return bt_fail(t, bt_status_from_errno(errno), "write: %m");
		}
		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if ((r = io_wait(t, deadline, false)) < 0)
			/* A partly written buffer is a success for a non-blocking caller. */
			return r == -EAGAIN && done ? (ssize_t)done : r;
	}
	return done_io(t, (ssize_t)done);
}

int broker_tls_shutdown(broker_tls *t)
{
	if (t && t->phase == BT_CLOSED)
		return 0;
	int r = usable(t);
	if (r < 0)
		return r;
	if (t->relayed) {
		/* The keeper sends close_notify when the stream ends. */
		if (shutdown(t->fd, SHUT_WR) < 0)
			return bt_fail(t, bt_status_from_errno(errno), "shutdown: %m");
		t->phase = BT_CLOSED;
		return 0;
	}
	if (!tls(t))
		return 0;
	uint64_t deadline = io_deadline(t);
	while ((r = gnutls_bye(t->session, GNUTLS_SHUT_WR)) < 0) {
		if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED)
			return bt_fail_gnutls(t, r, false);
		if ((r = io_wait(t, deadline, false)) < 0)
			return r;
	}
	bt_session_end(t);
	t->phase = BT_CLOSED;
	return 0;
}

int broker_tls_take_fd(broker_tls *t)
{
	if (!t)
		return -EINVAL;
	if (t->session_active)
		return -EBADFD;
	if (t->fd < 0 || (t->phase != BT_OPEN && t->phase != BT_CLOSED))
		return -ENOTCONN;
	int flags = fcntl(t->fd, F_GETFL);
	if (flags < 0 || fcntl(t->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		return -errno;
	t->phase = BT_CLOSED;
	return TAKE_FD(t->fd);
}

void bt_close_socket(broker_tls *t)
{
	if (t->guarded) {
		broker_fd_guard(t->fd, NULL);
		t->guarded = false;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

int bt_opened(broker_tls *t)
{
	t->phase = BT_OPEN;
	t->status = BROKER_TLS_OK;
	t->detail[0] = 0;
	t->deadline_usec = 0;
	return 0;
}

int bt_fail(broker_tls *t, enum broker_tls_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->detail, sizeof(t->detail), fmt, ap);
	va_end(ap);
	t->status = status;
	bt_resolver_cancel(t);
	bt_session_end(t);
	bt_close_socket(t);
	if (t->keeper_fd >= 0)
		close(TAKE_FD(t->keeper_fd));
	t->phase = BT_FAILED;
	t->deadline_usec = 0;
	return broker_tls_status_errno(status);
}
