/* SPDX-License-Identifier: MIT */
/* Frames and messages on libwslay's event API.
 *
 * Exact reading: wslay asks for as many bytes as its buffer holds, which
 * could take bytes past the end of a frame out of the socket, where a
 * hand-off would lose them.  So the receive callback gives it no more than
 * the part of the frame it is in needs (two header bytes, then the extended
 * length and mask, then the payload), following the frame boundaries from
 * the header bytes it passes on.  Between frames the socket holds every
 * byte not yet received, and broker_ws_take_fd() hands out exactly that.
 * The callback also stops at a message boundary while a received message
 * waits for the app: at most one message is buffered. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "ws.h"

static size_t need(const broker_ws *w)
{
	switch (w->rphase) {
	case 0: return 2 - w->hdr_have;
	case 1: return w->hdr_need - w->hdr_have;
	default: return w->payload_left > SIZE_MAX ? SIZE_MAX : (size_t)w->payload_left;
	}
}

static void start_payload(broker_ws *w, uint64_t len)
{
	w->hdr_have = 0;
	w->payload_left = len;
	w->rphase = len ? 2 : 0;
}

/* Follow n bytes that go to wslay (never more than need()). */
static void track(broker_ws *w, const uint8_t *p, size_t n)
{
	if (w->rphase == 2) {
		if (!(w->payload_left -= n))
			w->rphase = 0;
		return;
	}
	memcpy(w->hdr + w->hdr_have, p, n);
	w->hdr_have += n;
	if (w->rphase == 0 && w->hdr_have == 2) {
		unsigned len7 = w->hdr[1] & 0x7f;
		size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
		w->hdr_need = 2 + ext + (w->hdr[1] & 0x80 ? 4 : 0);
		if (w->hdr_need == 2)
			start_payload(w, len7);
		else
			w->rphase = 1;
	} else if (w->rphase == 1 && w->hdr_have == w->hdr_need) {
		unsigned len7 = w->hdr[1] & 0x7f;
		uint64_t len = len7;
		if (len7 >= 126) {
			len = 0;
			for (size_t i = 0; i < (len7 == 126 ? 2u : 8u); i++)
				len = len << 8 | w->hdr[2 + i];
		}
		start_payload(w, len);
	}
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *data)
{
	broker_ws *w = data;
	if (w->in_head && w->rphase == 0 && w->hdr_have == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	size_t want = need(w);
	ssize_t n = ws_io_read(w, buf, len < want ? len : want);
	if (n > 0) {
		track(w, buf, (size_t)n);
		return n;
	}
	if (n == -EAGAIN) {
		w->would_block = true;
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	} else {
		if (n == 0)
			w->eof = true;
		else
			w->io_error = (int)n;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	}
	return -1;
}

/* Write out what obuf holds: 0 when empty, -EAGAIN, or an error. */
static int write_pending(broker_ws *w)
{
	while (w->olen) {
		ssize_t n = ws_io_write(w, w->obuf, w->olen);
		if (n <= 0)
			return n == 0 ? -EAGAIN : (int)n;
		memmove(w->obuf, w->obuf + n, w->olen - (size_t)n);
		w->olen -= (size_t)n;
	}
	return 0;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	broker_ws *w = user;
	size_t taken = 0;
	if (w->olen + len <= sizeof(w->obuf)) {
		memcpy(w->obuf + w->olen, data, len);
		w->olen += len;
		taken = len;
		if (flags & WSLAY_MSG_MORE)
			return (ssize_t)len;   /* the rest of the frame follows */
	}
	int r = write_pending(w);
	ssize_t n = r < 0 ? r : taken ? (ssize_t)taken : ws_io_write(w, data, len);
	if (n > 0 || (n == -EAGAIN && taken))
		return taken ? (ssize_t)taken : n;   /* what obuf took is ours to send */
	if (n == -EAGAIN || n == 0) {
		w->would_block = true;
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	} else {
		w->io_error = (int)n;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	}
	return -1;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static void frame_start_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *a,
			   void *user)
{
	broker_ws *w = user;
	if (a->opcode <= WSLAY_BINARY_FRAME)
		w->in_message = !a->fin;
}

static void msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
	broker_ws *w = user;
	if (a->opcode == WSLAY_CONNECTION_CLOSE) {
		w->info.close_code = a->status_code;
		return;
	}
	if (a->opcode == WSLAY_PONG)
		w->info.pongs++;
	if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME &&
	    (a->opcode != WSLAY_PONG || w->mode != BROKER_WS_MESSAGE))
		return;
	struct ws_inmsg *m = malloc(sizeof(*m) + a->msg_length);
	if (!m) {
		w->io_error = -ENOMEM;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		wslay_event_shutdown_read(ctx);
		return;
	}
	*m = (struct ws_inmsg){ .type = a->opcode, .len = a->msg_length };
	if (a->msg_length)
		memcpy(m->data, a->msg, a->msg_length);
	*w->in_tail = m;
	w->in_tail = &m->next;
}

int ws_frames_start(broker_ws *w)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = recv_cb,
		.send_callback = send_cb,
		.genmask_callback = genmask_cb,
		.on_frame_recv_start_callback = frame_start_cb,
		.on_msg_recv_callback = msg_cb,
	};
	if (wslay_event_context_client_init(&w->ctx, &cbs, w) != 0)
		return -ENOMEM;
	wslay_event_config_set_max_recv_msg_length(w->ctx, BROKER_WS_MAX_MESSAGE);
	return 0;
}

void ws_frames_free(broker_ws *w)
{
	if (w->ctx)
		wslay_event_context_free(w->ctx);
	w->ctx = NULL;
	while (w->in_head) {
		struct ws_inmsg *m = w->in_head;
		w->in_head = m->next;
		free(m);
	}
	w->in_tail = &w->in_head;
}

/* Failures of wslay or of the transport under it. */
static int io_failed(broker_ws *w, const char *what)
{
	if (w->io_error == -ENOMEM)
		return ws_fail(w, BROKER_TLS_UNKNOWN, -ENOMEM, "%s: out of memory", what);
	if (w->io_error) {
		enum broker_tls_status s = ws_status_from_errno(w->io_error);
		return ws_fail(w, s, s == BROKER_TLS_UNKNOWN ? w->io_error : broker_tls_status_errno(s),
			       "%s: %s", what, strerror(-w->io_error));
	}
	if (w->eof)
		return ws_fail(w, BROKER_TLS_CONNECTION_RESET, -ECONNRESET,
			       "%s: the connection ended inside a frame", what);
	return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EPROTO, "%s: a WebSocket protocol error", what);
}

/* Send what is queued.  0 when all is sent, -EAGAIN (non-blocking). */
static int flush(broker_ws *w, uint64_t deadline, bool may_wait)
{
	while (wslay_event_want_write(w->ctx) || w->olen) {
		w->would_block = false;
		wslay_event_set_error(w->ctx, 0);
		if (wslay_event_send(w->ctx) < 0)
			return io_failed(w, "send");
		int r = write_pending(w);
		if (r < 0 && r != -EAGAIN) {
			w->io_error = r;
			return io_failed(w, "send");
		}
		if (!w->would_block && r == 0)
			continue;
		w->events = POLLOUT;
		if (!may_wait)
			return -EAGAIN;
		r = ws_io_wait(w, POLLOUT, deadline);
		if (r == -ETIMEDOUT)
			return ws_fail(w, BROKER_TLS_TIMED_OUT, -ETIMEDOUT, "could not send within %d ms", w->io_ms);
		if (r < 0)
			return ws_fail(w, BROKER_TLS_UNKNOWN, r, "poll: %s", strerror(-r));
	}
	w->events = POLLIN;
	return 0;
}

/* Receive until a message waits for the app or the connection ended. */
static int pump(broker_ws *w, uint64_t deadline)
{
	while (!w->in_head && !w->ended) {
		w->would_block = false;
		wslay_event_set_error(w->ctx, 0);
		int r = wslay_event_recv(w->ctx);
		if (w->eof && w->rphase == 0 && w->hdr_have == 0 && !w->in_message) {
			w->ended = true;   /* closed between frames */
			break;
		}
		if (r < 0 || w->io_error)
			return io_failed(w, "receive");
		int f = flush(w, deadline, false);   /* pongs, the answer to a close */
		if (f < 0 && f != -EAGAIN)
			return f;
		if (!wslay_event_get_read_enabled(w->ctx)) {
			if (!wslay_event_get_close_received(w->ctx))
				return ws_fail(w, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, -EPROTO,
					       "receive: a WebSocket protocol error or a message over %u bytes",
					       BROKER_WS_MAX_MESSAGE);
			w->ended = true;
			break;
		}
		if (w->in_head || !w->would_block)
			continue;
		w->events = POLLIN;
		if (w->nonblocking)
			return -EAGAIN;
		r = ws_io_wait(w, POLLIN, deadline);
		if (r == -ETIMEDOUT) {
			w->status = BROKER_TLS_TIMED_OUT;
			snprintf(w->detail, sizeof(w->detail), "nothing to read within %d ms", w->io_ms);
			return r;
		}
		if (r < 0)
			return ws_fail(w, BROKER_TLS_UNKNOWN, r, "poll: %s", strerror(-r));
	}
	return 0;
}

static void pop(broker_ws *w)
{
	struct ws_inmsg *m = w->in_head;
	if (!(w->in_head = m->next))
		w->in_tail = &w->in_head;
	free(m);
}

ssize_t broker_ws_recv(broker_ws *w, void *buf, size_t len, int *ret_type)
{
	if (!w || (!buf && len) || (w->mode == BROKER_WS_MESSAGE && !ret_type))
		return -EINVAL;
	if (!w->ctx)
		return w->status ? broker_tls_status_errno(w->status) : -ENOTCONN;
	uint64_t deadline = ws_deadline(w->io_ms);
	struct ws_inmsg *m;
	for (;;) {
		int r = pump(w, deadline);
		if (r < 0)
			return r;
		if (!(m = w->in_head)) {
			if (ret_type)
				*ret_type = 0;
			return 0;   /* the end */
		}
		if (w->mode == BROKER_WS_MESSAGE || m->off < m->len)
			break;
		pop(w);   /* stream mode: an empty message is no data */
	}
	size_t n = m->len - m->off;
	if (w->mode == BROKER_WS_MESSAGE && n > len)
		return -EMSGSIZE;
	n = n < len ? n : len;
	if (n)
		memcpy(buf, m->data + m->off, n);
	m->off += n;
	if (ret_type)
		*ret_type = m->type;
	if (m->off == m->len)
		pop(w);
	w->status = BROKER_TLS_OK;
	return (ssize_t)n;
}

ssize_t broker_ws_next_length(const broker_ws *w)
{
	return !w ? -EINVAL : w->in_head ? (ssize_t)(w->in_head->len - w->in_head->off) : -EAGAIN;
}

static int queue(broker_ws *w, uint8_t opcode, const void *buf, size_t len)
{
	if (!w->ctx)
		return w->status ? broker_tls_status_errno(w->status) : -ENOTCONN;
	struct wslay_event_msg m = { opcode, buf, len };
	int r = wslay_event_queue_msg(w->ctx, &m);
	if (r == WSLAY_ERR_NOMEM)
		return -ENOMEM;
	if (r != 0)
		return -ESHUTDOWN;   /* a close was queued or sent */
	r = flush(w, ws_deadline(w->io_ms), !w->nonblocking);
	return r == -EAGAIN ? 0 : r;
}

ssize_t broker_ws_send(broker_ws *w, int type, const void *buf, size_t len)
{
	if (!w || (!buf && len) || (type != BROKER_WS_TEXT && type != BROKER_WS_BINARY))
		return -EINVAL;
	int r = queue(w, w->mode == BROKER_WS_STREAM ? WSLAY_BINARY_FRAME : (uint8_t)type, buf, len);
	return r < 0 ? r : (ssize_t)len;
}

int broker_ws_ping(broker_ws *w, const void *payload, size_t len)
{
	if (!w || len > 125 || (!payload && len))
		return -EINVAL;
	return queue(w, WSLAY_PING, payload, len);
}

int broker_ws_flush(broker_ws *w)
{
	if (!w)
		return -EINVAL;
	if (!w->ctx)
		return w->status ? broker_tls_status_errno(w->status) : -ENOTCONN;
	return flush(w, ws_deadline(w->io_ms), !w->nonblocking);
}

int broker_ws_close(broker_ws *w, int code, const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;
	if (!w || rlen > 123 || code < 0 || code > 4999)
		return -EINVAL;
	if (!w->ctx)
		return -ENOTCONN;
	if (wslay_event_queue_close(w->ctx, code ? (uint16_t)code : 1000, (const uint8_t *)reason, rlen) != 0)
		return -ESHUTDOWN;
	int r = flush(w, ws_deadline(w->io_ms), !w->nonblocking);
	return r == -EAGAIN ? 0 : r;
}

int broker_ws_take_fd(broker_ws *w)
{
	if (!w)
		return -EINVAL;
	if (w->tls)
		return -EBADFD;
	if (w->fd < 0 || !w->ctx)
		return -ENOTCONN;
	bool unsent = wslay_event_want_write(w->ctx) || w->olen;
	if (w->rphase || w->hdr_have || w->in_message || w->in_head || unsent) {
		snprintf(w->detail, sizeof(w->detail), "%s", w->in_head ? "a received message is not consumed"
			 : unsent ? "queued data is not sent yet"
			 : "a frame or a fragmented message is partly read");
		return -EBUSY;
	}
	int fd = w->fd;
	w->fd = -1;
	ws_frames_free(w);
	return fd;
}

int broker_ws_adopt(broker_ws *w, int fd)
{
	if (!w || fd < 0)
		return -EINVAL;
	if (w->used)
		return -EBUSY;
	int type;
	socklen_t len = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -EINVAL;
	if (type != SOCK_STREAM)
		return -EINVAL;
	w->fd = fd;
	int r = ws_frames_start(w);
	if (r < 0) {
		w->fd = -1;
		return r;
	}
	w->used = true;
	return 0;
}
