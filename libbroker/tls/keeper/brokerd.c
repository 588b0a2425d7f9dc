/* SPDX-License-Identifier: MIT */
/*
 * Telling brokerd where each relayed stream goes, so that it applies the
 * app's capabilities to the real connection (BP_KEEPER, docs/protocol.md):
 * for every open session the inode of the app's end and the TCP socket
 * itself, whose addresses brokerd reads with its own classifier.  brokerd
 * believes this only from the keeper executable it trusts.
 *
 * brokerd is the one $BROKER_SOCKET (or the default) names.  Each exchange
 * is short and bounded (2 s); if brokerd is not there, sessions stay
 * unregistered (brokerd then refuses their transfer) until it is back: the
 * keeper tries again every few seconds while it has sessions, and registers
 * every open one at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <socket-broker/broker.h>

#include "keeper.h"
#include "proto.h"
#include "wire.h"

#define BROKERD_TIMEOUT_MS 2000
#define BROKERD_RETRY_SEC 3.0

/* One request and its reply: 0, brokerd's error, or a transport error
 * (after which the connection is dropped). */
static int exchange(struct keeper *k, unsigned type, const void *fixed, size_t fixed_size,
		    const struct bp_field *f, unsigned nf, int fd)
{
	uint8_t buf[4096];
	uint32_t seq = ++k->broker_seq;
	int r = bp_send_msg(k->broker_fd, buf, sizeof(buf), type, seq, fixed, fixed_size, f, nf,
			    fd >= 0 ? &fd : NULL, fd >= 0, 0);
	struct bp_msg m;
	if (r == 0)
		r = bp_recv(k->broker_fd, buf, sizeof(buf), 0, &m, NULL, NULL);
	if (r <= 0) {
		brokerd_close(k);
		return r < 0 ? r : -EPIPE;
	}
	bp_msg_close_fds(&m);
	if (m.seq != seq) {
		brokerd_close(k);
		return -EPROTO;
	}
	return m.type == BP_ERROR ? m.u.error.error : 0;
}

static void on_broker_gone(struct ev_loop *loop, ev_io *w, int revents)
{
	brokerd_close(w->data);
}

static bool brokerd_connect(struct keeper *k)
{
	if (k->broker_fd >= 0)
		return true;
	const char *path = broker_default_socket();
	if (!path)
		return false;
	int fd = bp_connect_unix_timeout(path, SOCK_SEQPACKET, BROKERD_TIMEOUT_MS);
	if (fd < 0)
		return false;
	struct timeval tv = { .tv_sec = BROKERD_TIMEOUT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	k->broker_fd = fd;
	struct bp_hello hello = { .version = BP_VERSION };
	const struct bp_field name = { "broker-tls-keeper", sizeof("broker-tls-keeper") - 1 };
	if (exchange(k, BP_HELLO, &hello, sizeof(hello), &name, 1, -1) < 0) {
		brokerd_close(k);
		return false;
	}
	ev_io_init(&k->broker_w, on_broker_gone, k->broker_fd, EV_READ);
	k->broker_w.data = k;
	ev_io_start(k->loop, &k->broker_w);
	/* Everything open that brokerd does not know yet. */
	struct session *s;
	LIST_FOREACH(s, &k->sessions, link) {
		if (k->broker_fd < 0)
			break;
		if (s->open && !s->registered)
			brokerd_register(k, s);
	}
	return k->broker_fd >= 0;
}

void brokerd_register(struct keeper *k, struct session *s)
{
	if (s->registered)
		return;
	if (k->broker_fd < 0 && !brokerd_connect(k)) {
		if (!ev_is_active(&k->broker_retry))
			ev_timer_again(k->loop, &k->broker_retry);
		return;
	}
	int tcp = broker_tls_get_fd(s->t);
	if (tcp < 0)
		return;
	struct bp_keeper reg = { .ino = s->app_ino };
	int r = exchange(k, BP_KEEPER, &reg, sizeof(reg), NULL, 0, tcp);
	s->registered = r == 0;
	broker_tls_info i;
	if (r < 0 && k->broker_fd >= 0 && broker_tls_get_info(s->t, &i) == 0)
		fprintf(stderr, "broker-tls-keeper: brokerd refused the stream to %s: %s\n", i.peer_address,
			strerror(-r));
}

void brokerd_forget(struct keeper *k, struct session *s)
{
	if (!s->registered || k->broker_fd < 0)
		return;
	struct bp_keeper reg = { .ino = s->app_ino };
	exchange(k, BP_KEEPER, &reg, sizeof(reg), NULL, 0, -1);
	s->registered = false;
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct keeper *k = w->data;
	if (k->nsessions && !brokerd_connect(k))
		return;   /* the repeating timer tries again */
	ev_timer_stop(loop, w);
}

void brokerd_close(struct keeper *k)
{
	if (k->broker_fd < 0)
		return;
	ev_io_stop(k->loop, &k->broker_w);
	close(k->broker_fd);
	k->broker_fd = -1;
	struct session *s;
	LIST_FOREACH(s, &k->sessions, link)
		s->registered = false;
	ev_timer_again(k->loop, &k->broker_retry);
}

void brokerd_init(struct keeper *k)
{
	k->broker_fd = -1;
	ev_init(&k->broker_retry, on_retry);
	k->broker_retry.repeat = BROKERD_RETRY_SEC;
	k->broker_retry.data = k;
}
