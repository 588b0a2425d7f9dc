/* SPDX-License-Identifier: MIT */
/* One session: the app's request (BP_KEEPER_CONNECT), the connect or
 * STARTTLS upgrade driven by the loop, the reply with what was negotiated
 * and the app's end of the relayed stream, and the session's end. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keeper.h"
#include "proto.h"
#include "util.h"
#include "wire.h"

void session_end(struct session *s)
{
	struct keeper *k = s->k;
	ev_io_stop(k->loop, &s->req_w);
	ev_io_stop(k->loop, &s->net_w);
	ev_io_stop(k->loop, &s->local_w);
	ev_timer_stop(k->loop, &s->connect_timer);
	/* The stream closes before brokerd forgets it: a transfer that comes
	 * in between finds it closed (brokerd then takes it as leading
	 * nowhere), never open and unknown. */
	if (s->local_fd >= 0)
		close(s->local_fd);
	brokerd_forget(k, s);
	if (s->req_fd >= 0)
		close(s->req_fd);
	broker_tls_free(s->t);   /* close_notify if the session still runs */
	free(s->down);
	free(s->up);
	LIST_REMOVE(s, link);
	k->nsessions--;
	free(s);
	keeper_update_idle(k);
}

static struct bp_field str_field(const char *s)
{
	return (struct bp_field){ s, (uint32_t)strlen(s) };
}

/* The reply: the info as far as it goes, and on success the app's end. */
static int reply(struct session *s, int err, int app_fd)
{
	broker_tls_info i;
	broker_tls_get_info(s->t, &i);
	struct bp_keeper_reply rep = {
		.error = err, .status = broker_tls_get_status(s->t), .version = i.version,
		.flags = (i.encrypted ? BP_KEEPER_ENCRYPTED : 0) | (i.peer_verified ? BP_KEEPER_VERIFIED : 0) |
			 (i.client_cert_requested ? BP_KEEPER_CERT_REQUESTED : 0) |
			 (i.client_cert_sent ? BP_KEEPER_CERT_SENT : 0),
		.cert_problems = i.cert_problems, .addresses_tried = i.addresses_tried,
	};
	const struct bp_field f[] = {
		str_field(broker_tls_get_detail(s->t)), str_field(i.protocol), str_field(i.cipher),
		str_field(i.description), str_field(i.peer_subject), str_field(i.verify_name),
		str_field(i.peer_address),
	};
	uint8_t buf[4096];
	return bp_send_msg(s->req_fd, buf, sizeof(buf), BP_KEEPER_REPLY, 1, &rep, sizeof(rep), f, 7,
			   app_fd >= 0 ? &app_fd : NULL, app_fd >= 0, MSG_DONTWAIT);
}

static void fail(struct session *s, int err)
{
	reply(s, err, -1);
	session_end(s);
}

/* Connected: the stream pair, brokerd told, the app answered. */
static void established(struct session *s)
{
	int pair[2];
	struct stat st;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
		fail(s, -errno);
		return;
	}
	if (fstat(pair[1], &st) < 0) {
		close(pair[0]);
		close(pair[1]);
		fail(s, -errno);
		return;
	}
	s->local_fd = pair[0];
	s->app_ino = (uint64_t)st.st_ino;
	/* A relay sends what the app wrote as soon as it has it: with Nagle,
	 * an app's second small write in a round trip would wait for the
	 * peer's delayed ACK (40 ms).  Not a TCP socket (never here): no harm. */
	int one = 1;
	(void)setsockopt(broker_tls_get_fd(s->t), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Before the app has its end, so that its transfer finds it known. */
	brokerd_register(s->k, s);
	int r = reply(s, 0, pair[1]);
	close(pair[1]);
	if (r < 0) {
		session_end(s);   /* the app is gone: so is its connection */
		return;
	}
	ev_io_stop(s->k->loop, &s->req_w);
	close(TAKE_FD(s->req_fd));
	ev_timer_stop(s->k->loop, &s->connect_timer);
	s->open = true;
	relay_start(s);
}

static void arm(struct session *s)
{
	struct ev_loop *loop = s->k->loop;
	int fd = broker_tls_get_fd(s->t), ev = broker_tls_get_events(s->t), ms = broker_tls_get_timeout(s->t);
	ev_io_stop(loop, &s->net_w);
	ev_io_set(&s->net_w, fd, (ev & POLLOUT ? EV_WRITE : 0) | (ev & POLLIN ? EV_READ : 0));
	ev_io_start(loop, &s->net_w);
	ev_timer_stop(loop, &s->connect_timer);
	if (ms >= 0) {
		ev_timer_set(&s->connect_timer, ms / 1000.0 + 0.001, 0);
		ev_timer_start(loop, &s->connect_timer);
	}
}

/* After a connect, upgrade or step returned r. */
static void advanced(struct session *s, int r)
{
	if (r == -EAGAIN)
		arm(s);
	else if (r < 0)
		fail(s, r);
	else
		established(s);
}

static void step(struct session *s)
{
	advanced(s, broker_tls_step(s->t));
}

static void on_connect_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = w->data;
	if (s->open)
		return;   /* relay.c owns the watcher from here on */
	step(s);
}

static void on_connect_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	step(w->data);
}

/* The app hung up before the answer: nobody wants the connection. */
static void on_request_hup(struct ev_loop *loop, ev_io *w, int revents)
{
	session_end(w->data);
}

static int start(struct session *s, struct bp_msg *m)
{
	const struct bp_keeper_connect *c = &m->u.keeper_connect;
	const char *host = bp_msg_str(m, 0), *service = bp_msg_str(m, 1), *ca = bp_msg_str(m, 2),
		   *cert = bp_msg_str(m, 3), *key = bp_msg_str(m, 4), *name = bp_msg_str(m, 5);
	bool upgrade = c->flags & BP_KEEPER_UPGRADE;
	if (c->level == BROKER_TLS_LEVEL_PLAIN || (c->flags & ~BP_KEEPER_UPGRADE) || upgrade != (m->nfds == 1))
		return -EINVAL;
	int r = broker_tls_new((enum broker_tls_level)c->level, &s->t);
	if (r < 0)
		return r;
	if ((r = broker_tls_set_timeouts(s->t, c->connect_ms, -1)) < 0 ||
	    (r = broker_tls_set_ignorable(s->t, c->ignorable)) < 0 ||
	    (*ca && (r = broker_tls_set_ca_file(s->t, ca)) < 0) ||
	    (*cert && (r = broker_tls_set_client_cert(s->t, cert, *key ? key : NULL)) < 0) ||
	    (r = broker_tls_set_nonblocking(s->t, true)) < 0)
		return r;
	if (upgrade) {
		int fd = bp_msg_take_fd(m);
		r = broker_tls_upgrade(s->t, fd, name);
		if (r == -EINVAL || r == -EBUSY || r == -ENOMEM || r == -ENOTSOCK || r == -ENOTCONN)
			close(fd);   /* still ours, by the upgrade's rule */
	} else {
		r = broker_tls_connect(s->t, host, service);
	}
	return r;
}

static void on_request(struct ev_loop *loop, ev_io *w, int revents)
{
	struct session *s = w->data;
	uint8_t buf[8192];
	struct bp_msg m;
	int r = bp_recv(s->req_fd, buf, sizeof(buf), MSG_DONTWAIT, &m, NULL, NULL);
	if (r == -EAGAIN)
		return;
	if (r <= 0 || m.type != BP_KEEPER_CONNECT) {
		if (r > 0)
			bp_msg_close_fds(&m);
		session_end(s);
		return;
	}
	ev_io_stop(loop, &s->req_w);
	ev_io_init(&s->req_w, on_request_hup, s->req_fd, EV_READ);
	ev_io_start(loop, &s->req_w);
	r = start(s, &m);
	bp_msg_close_fds(&m);
	advanced(s, r);
}

void session_accept(struct keeper *k, int fd)
{
	struct session *s = k->nsessions < k->max_sessions ? calloc(1, sizeof(*s)) : NULL;
	if (!s) {
		close(fd);   /* the app's connect fails: "the TLS keeper closed the connection" */
		return;
	}
	s->k = k;
	s->req_fd = fd;
	s->local_fd = -1;
	ev_io_init(&s->req_w, on_request, fd, EV_READ);
	ev_init(&s->net_w, on_connect_io);
	ev_init(&s->connect_timer, on_connect_timer);
	s->req_w.data = s->net_w.data = s->connect_timer.data = s;
	ev_io_start(k->loop, &s->req_w);
	LIST_INSERT_HEAD(&k->sessions, s, link);
	k->nsessions++;
	keeper_update_idle(k);
}
