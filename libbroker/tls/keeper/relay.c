/* SPDX-License-Identifier: MIT */
/*
 * The relay of an open session: server -> down buffer -> local stream, and
 * local stream -> up buffer -> server.  A full buffer stops reading the side
 * that fills it, so a slow reader pushes back on the writer (TCP's window
 * on the server, the local stream's socket buffer on the app).
 *
 * Only application data reaches the local stream: TLS records that are not
 * (session tickets, key updates) are consumed inside GnuTLS and give no
 * bytes, so a held stream does not wake its app for them.  The server's end
 * (close_notify, FIN, reset or any fatal error) ends the session once what
 * it sent before has been written: the local stream is closed, and brokerd
 * sees it close.  The app's end (EOF on the local stream) sends what it
 * wrote before, then close_notify.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keeper.h"

/* A drained buffer goes back to the allocator; one is taken again when
 * there is something to read into it.  False: out of memory (wait). */
static bool buffer(char **b)
{
	return *b || (*b = malloc(KEEPER_BUF));
}

static void drained(char **b, size_t *off, size_t *len)
{
	if (*off == *len) {
		*off = *len = 0;
		free(*b);
		*b = NULL;
	}
}

/* One pass over both directions; whether anything moved.  *dead is set
 * when the local stream failed. */
static bool pump(struct session *s, bool *dead)
{
	bool moved = false;
	/* Server -> down.  Read until -EAGAIN: decrypted data can wait in
	 * GnuTLS where poll() does not see it. */
	while (!s->net_eof && s->down_len < KEEPER_BUF && buffer(&s->down)) {
		ssize_t n = broker_tls_read(s->t, s->down + s->down_len, KEEPER_BUF - s->down_len);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			s->net_eof = true;   /* close_notify (0), or the connection failed */
			break;
		}
		s->down_len += (size_t)n;
		moved = true;
	}
	/* Down -> local. */
	while (s->down_off < s->down_len) {
		ssize_t n = send(s->local_fd, s->down + s->down_off, s->down_len - s->down_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			*dead = true;
			return moved;
		}
		s->down_off += (size_t)n;
		moved = true;
	}
	drained(&s->down, &s->down_off, &s->down_len);
	/* Local -> up. */
	while (!s->local_eof && s->up_len < KEEPER_BUF && buffer(&s->up)) {
		ssize_t n = recv(s->local_fd, s->up + s->up_len, KEEPER_BUF - s->up_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			s->local_eof = true;   /* the app (or brokerd) let go of the stream */
			break;
		}
		s->up_len += (size_t)n;
		moved = true;
	}
	/* Up -> server (nothing more once the server is gone). */
	while (!s->net_eof && s->up_off < s->up_len) {
		ssize_t n = broker_tls_write(s->t, s->up + s->up_off, s->up_len - s->up_off);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			s->net_eof = true;
			break;
		}
		s->up_off += (size_t)n;
		moved = true;
	}
	if (s->net_eof)
		s->up_off = s->up_len;   /* nowhere to go */
	drained(&s->up, &s->up_off, &s->up_len);
	return moved;
}

static void rearm(struct session *s)
{
	struct ev_loop *loop = s->k->loop;
	int local = (!s->local_eof && s->up_len < KEEPER_BUF ? EV_READ : 0) |
		    (s->down_off < s->down_len ? EV_WRITE : 0);
	int tls_events = broker_tls_get_events(s->t);
	int net = 0;
	if (!s->net_eof) {
		if (s->down_len < KEEPER_BUF)
			net |= EV_READ;
		if (s->up_off < s->up_len)
			net |= tls_events & POLLOUT ? EV_WRITE : EV_READ;
		if (tls_events & POLLOUT)
			net |= EV_WRITE;
	}
	ev_io_stop(loop, &s->local_w);
	if (local) {
		ev_io_set(&s->local_w, s->local_fd, local);
		ev_io_start(loop, &s->local_w);
	}
	int fd = broker_tls_get_fd(s->t);
	ev_io_stop(loop, &s->net_w);
	if (net && fd >= 0) {
		ev_io_set(&s->net_w, fd, net);
		ev_io_start(loop, &s->net_w);
	}
}

static void run(struct session *s)
{
	bool dead = false;
	while (pump(s, &dead) && !dead)
		;
	if (dead || (s->net_eof && s->down_off == s->down_len) || (s->local_eof && s->up_off == s->up_len)) {
		if (!s->net_eof)
			broker_tls_shutdown(s->t);   /* close_notify: one try, non-blocking */
		session_end(s);
		return;
	}
	rearm(s);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	run(w->data);
}

void relay_start(struct session *s)
{
	ev_io_stop(s->k->loop, &s->net_w);
	ev_io_init(&s->net_w, on_io, broker_tls_get_fd(s->t), EV_READ);
	ev_io_init(&s->local_w, on_io, s->local_fd, EV_READ);
	s->net_w.data = s->local_w.data = s;
	run(s);   /* data may have come with the handshake */
}
