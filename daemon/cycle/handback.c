/* SPDX-License-Identifier: MIT */
/* The hand-back exchange (handback.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backoff.h"
#include "app.h"
#include "handback.h"
#include "held.h"
#include "lifecycle.h"
#include "log.h"
#include "util.h"
#include "wire.h"

/* Messages read per wakeup before other connections get their turn. */
#define READ_MAX 256

static void on_conn(struct ev_loop *loop, ev_io *w, int revents);

int handback_open(struct daemon *d, struct app *a, int fd)
{
	struct actconn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->app = a;
	ev_io_init(&c->io, on_conn, fd, EV_READ);
	ev_io_start(d->loop, &c->io);
	a->conn = c;
	lifecycle_app_begin(a);
	return 0;
}

static void conn_free(struct daemon *d, struct actconn *c)
{
	lifecycle_requeue(d, c->app);
	if (c->app->attached)
		lifecycle_app_detached(c->app);
	ev_timer_stop(d->loop, &c->app->suspended);
	ev_io_stop(d->loop, &c->io);
	close(c->io.fd);
	c->app->conn = NULL;
	free(c);
}

void handback_abort(struct daemon *d, struct actconn *c)
{
	conn_free(d, c);
}

void handback_close(struct daemon *d, struct actconn *c, const char *why)
{
	struct app *a = c->app;
	bool hello = c->hello;
	bool lost = a->ninflight > 0 || !hello;
	conn_free(d, c);
	if (a->state == BROKER_APP_THROTTLED)
		return;   /* the throttle's timer ends it: then a new start */
	ev_timer_stop(d->loop, &a->timer);

	/* A failure is an activation that made no progress: no hello, or
	 * sockets left unacknowledged with none acknowledged at all. */
	if (why || (lost && a->acked == 0)) {
		backoff_fail(d, a, -ETIMEDOUT, why ? why : !hello ? "the app exited before opening its activation"
							    : "the app closed its activation without acknowledging");
		return;
	}
	lifecycle_app_succeeded(a);
	lifecycle_app_state(d, a, BROKER_APP_IDLE);
	app_maybe_free(d, a);
}

static struct bp_handback handback_head(const struct held *h)
{
	return (struct bp_handback){
		.kind = h->kind, .reason = h->reason, .keepalive_sec = h->keepalive_sec,
		.held_since_usec = h->held_since, .serial = h->serial,
	};
}

static const uint8_t item_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };

/* The sockets of the message being sent (brokerd has one loop: one will do). */
static struct {
	uint8_t items[BP_MSG_MAX];
	struct held *held[BP_FDS_MAX];
	int fds[BP_FDS_MAX];
	unsigned n;
} B;

/* Put the first pending sockets in B: as many as one HANDBACK_MANY can
 * carry, stopping before one the spin guard throttles (which throttles the
 * app).  The items' length in *ret_len. */
static void gather(struct daemon *d, struct app *a, size_t *ret_len)
{
	/* header, bp_many, the app id field and the items field's length */
	size_t room = BP_MSG_MAX - sizeof(struct bp_header) - sizeof(struct bp_many) -
		      2 * sizeof(uint32_t) - strlen(a->id) - 1, off = 0;
	B.n = 0;
	for (struct held *h = TAILQ_FIRST(&a->pending); h && B.n < BP_FDS_MAX; h = TAILQ_NEXT(h, queue)) {
		if (backoff_spin(d, a, h))
			break;
		struct bp_handback hb = handback_head(h);
		struct bp_field f[2] = { { held_id(h), h->id_len }, { held_ctx(h), h->ctx_len } };
		if (bp_item_put(B.items, room, &off, &hb, sizeof(hb), f, item_kind, 2) < 0)
			break;
		B.held[B.n] = h;
		B.fds[B.n++] = held_fd(h);
	}
	*ret_len = off;
}

/* Send the next pending sockets into B.held[0..B.n): one HANDBACK_MANY
 * with as many as fit (protocol 4), else one HANDBACK (an older app, or a
 * socket whose id and context fill a message alone).  B.n is 0 if the
 * spin guard stopped the first. */
static int send_next(struct daemon *d, struct actconn *c)
{
	struct app *a = c->app;
	size_t len = 0;
	if (c->version >= 4) {
		gather(d, a, &len);
		if (B.n > 0) {
			struct bp_many many = { .count = B.n };
			struct bp_field f[2] = { { a->id, (uint32_t)strlen(a->id) }, { B.items, (uint32_t)len } };
			return bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_HANDBACK_MANY, 0, &many,
					   sizeof(many), f, 2, B.fds, B.n, MSG_DONTWAIT);
		}
	}
	struct held *h = TAILQ_FIRST(&a->pending);
	B.n = 0;
	if (a->state == BROKER_APP_THROTTLED || backoff_spin(d, a, h))
		return 0;
	struct bp_handback hb = handback_head(h);
	struct bp_field f[3] = {
		{ a->id, (uint32_t)strlen(a->id) },
		{ held_id(h), h->id_len },
		{ held_ctx(h), h->ctx_len },
	};
	B.held[B.n++] = h;
	int fd = held_fd(h);
	return bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_HANDBACK, 0, &hb, sizeof(hb), f, 3,
			   &fd, 1, MSG_DONTWAIT);
}

static void want_write(struct daemon *d, struct actconn *c, bool on)
{
	if (c->writing == on)
		return;
	c->writing = on;
	ev_io_stop(d->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, on ? EV_READ | EV_WRITE : EV_READ);
	ev_io_start(d->loop, &c->io);
}

/* The app has this long to acknowledge what is in flight. */
static void ack_deadline(struct daemon *d, struct app *a)
{
	if (a->state == BROKER_APP_THROTTLED)
		return;   /* the timer is the throttle's; the deadline comes after */
	if (a->ninflight)
		backoff_arm(d, a, (double)backoff_timeout_ms(d, a) / 1000.);
	else
		ev_timer_stop(d->loop, &a->timer);
}

bool handback_flush(struct daemon *d, struct actconn *c)
{
	struct app *a = c->app;
	while (a->state != BROKER_APP_THROTTLED && !TAILQ_EMPTY(&a->pending)) {
		int r = send_next(d, c);
		if (r == -EAGAIN) {
			want_write(d, c, true);
			return true;
		}
		if (r == -EPIPE || r == -ECONNRESET) {
			/* The app closed its activation after its last batch and
			 * we had not read the end yet: an ordinary end, and the
			 * next start takes what is pending. */
			handback_close(d, c, NULL);
			return false;
		}
		if (r < 0) {
			char why[128];
			snprintf(why, sizeof(why), "handing back failed: %s", strerror(-r));
			handback_close(d, c, why);
			return false;
		}
		if (B.n == 0)
			break;   /* the spin guard throttled the app */
		for (unsigned i = 0; i < B.n; i++)
			lifecycle_send(d, B.held[i]);
		c->batch_open = true;
	}
	if (c->batch_open) {
		struct bp_end end = { .count = a->ninflight };
		int r = bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_BATCH_END, 0, &end, sizeof(end),
				    NULL, 0, NULL, 0, MSG_DONTWAIT);
		if (r == -EAGAIN) {
			want_write(d, c, true);
			return true;
		}
		c->batch_open = false;
	}
	want_write(d, c, false);
	ack_deadline(d, a);
	return true;
}

/* Let go of the socket in flight with this serial; true if there was
 * one.  together: one of an ACK_MANY's, which logs one line for all. */
static bool ack(struct daemon *d, struct actconn *c, uint64_t serial, bool together)
{
	struct app *a = c->app;
	struct held *h = held_find_inflight(a, serial);
	if (!h) {
		/* replaced or dropped while in flight: nothing left to let go */
		log_full(LOG_DEBUG, a->id, NULL, 0, "ack for unknown serial %llu ignored",
			 (unsigned long long)serial);
		return false;
	}
	lifecycle_remove(d, &(struct event){ .type = EVENT_ACK, .held = h, .reason = h->reason, .pid = a->pid,
					     .prev = together });
	return true;
}

/* ACK_MANY: count serials, all of them there.  -EBADMSG if not.  One
 * line for them all: a storm's thousands of sockets would otherwise spend
 * the journal's rate limit (10 000 lines in 30 s by default) in seconds,
 * and it would then drop the lines that matter. */
static int ack_many(struct daemon *d, struct actconn *c, const struct bp_msg *m)
{
	uint32_t n = m->u.many.count, known = 0;
	if (m->u.many.flags || n == 0 || n > BP_ACKS_MAX || m->field[0].len != (size_t)n * sizeof(uint64_t))
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t serial;
		memcpy(&serial, (const uint8_t *)m->field[0].ptr + i * sizeof(serial), sizeof(serial));
		known += ack(d, c, serial, true);
	}
	if (known)
		log_full(LOG_INFO, c->app->id, NULL, 0, "%u socket(s) handed back and acknowledged", known);
	return 0;
}

/* Handle one message from the app; false if c had to be closed. */
static bool conn_message(struct daemon *d, struct actconn *c, struct bp_msg *m)
{
	struct app *a = c->app;
	/* An attached process says hello again when it exec'd its next
	 * version, which took the connection over (an upgrade:
	 * examples/upgrade-echo.c).  From anyone else it breaks the protocol. */
	bool again = m->type == BP_ACT_HELLO && c->hello && a->attached && c->pid == a->attached &&
		     (pid_t)m->u.act_hello.pid == c->pid;
	bool acks = m->type == BP_HANDBACK_ACK || (m->type == BP_ACK_MANY && c->version >= 4), bad = false;
	if ((m->type != BP_ACT_HELLO && !acks) || ((m->type == BP_ACT_HELLO) == c->hello && !again) ||
	    (bad = m->type == BP_ACK_MANY && ack_many(d, c, m) < 0)) {
		bp_msg_close_fds(m);
		char why[128];
		snprintf(why, sizeof(why), "the app broke the activation protocol (%s%s)", bp_type_name(m->type),
			 bad ? " whose count, flags or serials do not add up" : "");
		handback_close(d, c, why);
		return false;
	}
	if (acks) {
		if (m->type == BP_HANDBACK_ACK)
			ack(d, c, m->u.handback_ack.serial, false);
		ack_deadline(d, c->app);
		return true;
	}
	uint32_t version = m->u.act_hello.version;
	if (version < BP_VERSION_MIN || version > BP_VERSION) {
		char why[128];
		snprintf(why, sizeof(why), "the app's libbroker speaks protocol version %u, not one of %u to %u",
			 version, BP_VERSION_MIN, BP_VERSION);
		handback_close(d, c, why);
		return false;
	}
	c->hello = true;
	c->version = version;
	c->pid = (pid_t)m->u.act_hello.pid;
	/* Always answer with a batch end, even an empty one (what woke the
	 * app may have been claimed meanwhile): the app must not wait for
	 * handbacks that will not come. */
	c->batch_open = true;
	if (!a->attached)
		lifecycle_app_state(d, a, BROKER_APP_RUNNING);
	log_full(LOG_DEBUG, a->id, NULL, 0, "activation opened by pid %u", m->u.act_hello.pid);
	return handback_flush(d, c);
}

bool handback_read(struct daemon *d, struct actconn *c)
{
	/* Everything queued, not one message per wakeup: a storm's acks come
	 * back faster than that. */
	for (unsigned i = 0; i < READ_MAX; i++) {
		struct bp_msg m;
		int r = bp_recv(c->io.fd, d->rbuf, sizeof(d->rbuf), MSG_DONTWAIT, &m, NULL, NULL);
		if (r == -EAGAIN)
			return true;
		/* An app that exits with messages unread (a batch end, say)
		 * resets the connection.  The reset is reported first, but the
		 * acks it sent before are still queued behind it: read them, or
		 * their sockets would be handed back a second time. */
		if (r == -ECONNRESET)
			continue;
		if (r == 0) {
			handback_close(d, c, NULL);
			return false;
		}
		if (r < 0) {
			char why[128];
			snprintf(why, sizeof(why), "the app broke the activation protocol (%s)", strerror(-r));
			handback_close(d, c, why);
			return false;
		}
		if (!conn_message(d, c, &m))
			return false;
	}
	return true;
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	struct actconn *c = container_of(w, struct actconn, io);

	if ((revents & EV_WRITE) && !handback_flush(d, c))
		return;
	if (revents & EV_READ)
		handback_read(d, c);
}

void handback_on_event(struct daemon *d, const struct event *ev)
{
	struct app *a = ev->app;
	if (ev->held->state == BROKER_STATE_HANDING_BACK && a->ninflight == 1 && a->conn && a->conn->hello &&
	    a->state != BROKER_APP_THROTTLED)
		ev_timer_stop(d->loop, &a->timer);
}
