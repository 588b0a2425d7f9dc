/* SPDX-License-Identifier: MIT */
/*
 * Activation and acknowledged hand-back (libbroker hand-off).
 *
 * Per app: triggered sockets wait in app->pending.  If the app has an
 * activation connection that said hello, they are sent at once as
 * HANDBACKs and move to the connection's in-flight list until acknowledged;
 * brokerd keeps its own copy until then.  Otherwise the app is started
 * (exec) or its wake socket is connected to, and delivery waits for the
 * app's ACT_HELLO, which also gathers triggers that arrive meanwhile into
 * one start.  A connection that closes or times out puts its unacknowledged
 * sockets back in front of pending; if the app acknowledged nothing, that
 * is a failure and the next attempt waits with exponential back-off.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "notify.h"
#include "store.h"
#include "util.h"
#include "wire.h"

static void on_conn(struct ev_loop *loop, ev_io *w, int revents);
static void conn_close(struct daemon *d, struct actconn *c, const char *why);

static unsigned app_timeout_ms(struct daemon *d, struct app *a)
{
	return a->m && a->m->timeout_ms ? a->m->timeout_ms : d->cfg.activation_timeout_ms;
}

static void set_state(struct daemon *d, struct app *a, enum broker_app_state s)
{
	if (a->state == BROKER_APP_STARTING && s != BROKER_APP_STARTING) {
		d->nstarting--;
		/* a start slot is free: apps that waited for one may go */
		struct app *o;
		TAILQ_FOREACH(o, &d->apps, link)
			if (o != a && o->npending && o->state == BROKER_APP_IDLE && !o->conn)
				app_kick(d, o);
	} else if (a->state != BROKER_APP_STARTING && s == BROKER_APP_STARTING) {
		d->nstarting++;
	}
	a->state = s;
	notify_changed(d);
}

static void timer_restart(struct daemon *d, struct app *a, double seconds)
{
	ev_timer_stop(d->loop, &a->timer);
	ev_timer_set(&a->timer, seconds, 0.);
	ev_timer_start(d->loop, &a->timer);
}

/* The activation failed: keep every socket, retry after a back-off. */
void app_failed(struct daemon *d, struct app *a, int error, const char *why)
{
	a->failures++;
	uint64_t ms = d->cfg.backoff_initial_ms;
	for (unsigned i = 1; i < a->failures && ms < d->cfg.backoff_max_ms; i++)
		ms *= 2;
	if (ms > d->cfg.backoff_max_ms)
		ms = d->cfg.backoff_max_ms;
	set_state(d, a, BROKER_APP_BACKOFF);
	a->retry_at = now_usec(CLOCK_REALTIME) + ms * 1000;
	timer_restart(d, a, (double)ms / 1000.);
	log_full(LOG_WARNING, a->id, NULL, 0,
		 "activation failed: %s; %u socket(s) stay held, retry %u in %.1f s",
		 why, a->nheld, a->failures, (double)ms / 1000.);
	monitor_emit(d, BROKER_EVENT_FAILURE, a, NULL, 0, error, a->pid, "%s", why);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct app *a = container_of(w, struct app, timer);

	if (a->state == BROKER_APP_BACKOFF) {
		/* The failed instance was asked to stop a back-off ago. */
		if (a->pid > 0)
			kill(a->pid, SIGKILL);
		set_state(d, a, BROKER_APP_IDLE);
		a->retry_at = 0;
		app_kick(d, a);
		return;
	}
	/* Started or running, and no hello or no ack in time. */
	char why[320];
	if (a->conn && !a->conn->hello && a->m && a->m->activation == ACTIVATION_WAKE_SOCKET)
		snprintf(why, sizeof(why), "nothing accepted on wake socket %.200s within %u ms "
			 "(is the app's service failing to start?)", a->m->wake_socket, app_timeout_ms(d, a));
	else if (a->conn && !a->conn->hello)
		snprintf(why, sizeof(why), "the app did not open its activation within %u ms",
			 app_timeout_ms(d, a));
	else if (a->conn)
		snprintf(why, sizeof(why), "the app did not acknowledge %u handed-back socket(s) within %u ms",
			 a->conn->ninflight, app_timeout_ms(d, a));
	else
		snprintf(why, sizeof(why), "the app did not exit within %u ms", app_timeout_ms(d, a));
	if (a->pid > 0)
		kill(a->pid, a->conn ? SIGTERM : SIGKILL);
	if (a->conn)
		conn_close(d, a->conn, why);
	else if (a->pid > 0)
		timer_restart(d, a, (double)app_timeout_ms(d, a) / 1000.);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct app *a = container_of(w, struct app, child);
	int status = w->rstatus;
	pid_t pid = a->pid;

	ev_child_stop(loop, w);
	a->pid = 0;
	char how[64];
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	log_full(LOG_INFO, a->id, NULL, 0, "instance %d %s", (int)pid, how);
	monitor_emit(d, BROKER_EVENT_EXIT, a, NULL, 0, 0, pid, "%s", how);

	if (a->m && a->m->handoff != HANDOFF_LIBBROKER) {
		compat_child_exited(d, a, status);
		return;
	}
	if (a->conn)
		return;   /* the connection's end decides */
	if (a->state != BROKER_APP_BACKOFF) {
		ev_timer_stop(loop, &a->timer);
		set_state(d, a, BROKER_APP_IDLE);
	}
	if (a->npending)
		app_kick(d, a);
	app_maybe_free(d, a);
}

void app_init(struct daemon *d, struct app *a)
{
	(void)d;
	ev_init(&a->timer, on_timer);
	ev_init(&a->kick, NULL);
	ev_child_init(&a->child, on_child, 0, 0);
	TAILQ_INIT(&a->pending);
}

static struct actconn *conn_new(struct daemon *d, struct app *a, int fd)
{
	struct actconn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->app = a;
	TAILQ_INIT(&c->inflight);
	ev_io_init(&c->io, on_conn, fd, EV_READ);
	ev_io_start(d->loop, &c->io);
	a->conn = c;
	a->acked = 0;
	return c;
}

/* Put c's unacknowledged sockets back in front of pending, in order. */
static void conn_requeue(struct daemon *d, struct actconn *c)
{
	struct app *a = c->app;
	struct held *h;
	while ((h = TAILQ_LAST(&c->inflight, held_list))) {
		TAILQ_REMOVE(&c->inflight, h, queue);
		c->ninflight--;
		h->state = BROKER_STATE_TRIGGERED;
		store_update(d, h);
		TAILQ_INSERT_HEAD(&a->pending, h, queue);
		a->npending++;
	}
}

/* End an activation connection.  why == NULL: a normal end. */
static void conn_close(struct daemon *d, struct actconn *c, const char *why)
{
	struct app *a = c->app;
	bool hello = c->hello;
	bool lost = c->ninflight > 0 || !hello;
	conn_requeue(d, c);
	ev_io_stop(d->loop, &c->io);
	close(c->io.fd);
	a->conn = NULL;
	free(c);
	ev_timer_stop(d->loop, &a->timer);

	/* A failure is an activation that made no progress: no hello, or
	 * sockets left unacknowledged with none acknowledged at all. */
	if (why || (lost && a->acked == 0)) {
		app_failed(d, a, -ETIMEDOUT, why ? why : !hello ? "the app exited before opening its activation"
							  : "the app closed its activation without acknowledging");
		return;
	}
	a->failures = 0;
	set_state(d, a, BROKER_APP_IDLE);
	if (a->npending)
		app_kick(d, a);
	app_maybe_free(d, a);
}

static int send_handback(struct daemon *d, struct actconn *c, struct held *h)
{
	struct bp_handback hb = {
		.kind = h->kind, .reason = h->reason, .keepalive_sec = h->keepalive_sec,
		.held_since_usec = h->held_since, .serial = h->serial,
	};
	struct bp_field f[3] = {
		{ c->app->id, (uint32_t)strlen(c->app->id) },
		{ held_id(h), h->id_len },
		{ held_ctx(h), h->ctx_len },
	};
	int fd = held_fd(h);
	return bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_HANDBACK, 0, &hb, sizeof(hb), f, 3,
			   &fd, 1, MSG_DONTWAIT);
}

static void conn_want_write(struct daemon *d, struct actconn *c, bool on)
{
	if (c->writing == on)
		return;
	c->writing = on;
	ev_io_stop(d->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, on ? EV_READ | EV_WRITE : EV_READ);
	ev_io_start(d->loop, &c->io);
}

/* Send what is pending over a connection that said hello.  Returns false
 * if the connection had to be closed (c is gone then). */
static bool conn_flush(struct daemon *d, struct actconn *c)
{
	struct app *a = c->app;
	struct held *h;
	while ((h = TAILQ_FIRST(&a->pending))) {
		int r = send_handback(d, c, h);
		if (r == -EAGAIN) {
			conn_want_write(d, c, true);
			return true;
		}
		if (r == -EPIPE || r == -ECONNRESET) {
			/* The app closed its activation after its last batch and
			 * we had not read the end yet: an ordinary end, and the
			 * next start takes what is pending. */
			conn_close(d, c, NULL);
			return false;
		}
		if (r < 0) {
			char why[128];
			snprintf(why, sizeof(why), "handing back failed: %s", strerror(-r));
			conn_close(d, c, why);
			return false;
		}
		TAILQ_REMOVE(&a->pending, h, queue);
		a->npending--;
		h->state = BROKER_STATE_HANDING_BACK;
		store_update(d, h);
		TAILQ_INSERT_TAIL(&c->inflight, h, queue);
		c->ninflight++;
		c->batch_open = true;
		log_full(LOG_DEBUG, a->id, held_id(h), h->reason, "handed back");
		monitor_emit(d, BROKER_EVENT_HANDBACK, a, h, h->reason, 0, a->pid, NULL);
	}
	if (c->batch_open) {
		struct bp_end end = { .count = c->ninflight };
		int r = bp_send_msg(c->io.fd, d->wbuf, sizeof(d->wbuf), BP_BATCH_END, 0, &end, sizeof(end),
				    NULL, 0, NULL, 0, MSG_DONTWAIT);
		if (r == -EAGAIN) {
			conn_want_write(d, c, true);
			return true;
		}
		c->batch_open = false;
	}
	conn_want_write(d, c, false);
	if (c->ninflight)
		timer_restart(d, a, (double)app_timeout_ms(d, a) / 1000.);
	else
		ev_timer_stop(d->loop, &a->timer);
	return true;
}

static void conn_ack(struct daemon *d, struct actconn *c, uint64_t serial)
{
	struct app *a = c->app;
	struct held *h;
	TAILQ_FOREACH(h, &c->inflight, queue)
		if (h->serial == serial)
			break;
	if (!h) {
		/* replaced or dropped while in flight: nothing left to let go */
		log_full(LOG_DEBUG, a->id, NULL, 0, "ack for unknown serial %llu ignored",
			 (unsigned long long)serial);
		return;
	}
	a->acked++;
	a->failures = 0;
	d->handbacks_total++;
	log_full(LOG_INFO, a->id, held_id(h), h->reason, "handed back and acknowledged");
	monitor_emit(d, BROKER_EVENT_ACK, a, h, h->reason, 0, a->pid, NULL);
	held_remove(d, h);   /* takes it off the in-flight list, closes brokerd's copy */
	if (c->ninflight)
		timer_restart(d, a, (double)app_timeout_ms(d, a) / 1000.);
	else
		ev_timer_stop(d->loop, &a->timer);
}

/* Messages read per wakeup before other connections get their turn. */
#define CONN_READ_MAX 256

/* Handle one message from the app; false if c had to be closed. */
static bool conn_message(struct daemon *d, struct actconn *c, struct bp_msg *m)
{
	struct app *a = c->app;
	if ((m->type != BP_ACT_HELLO && m->type != BP_HANDBACK_ACK) || (m->type == BP_ACT_HELLO) == c->hello) {
		bp_msg_close_fds(m);
		char why[128];
		snprintf(why, sizeof(why), "the app broke the activation protocol (%s)", bp_type_name(m->type));
		conn_close(d, c, why);
		return false;
	}
	if (m->type == BP_ACT_HELLO) {
		if (m->u.act_hello.version != BP_VERSION) {
			conn_close(d, c, "the app's libbroker speaks another protocol version");
			return false;
		}
		c->hello = true;
		/* Always answer with a batch end, even an empty one (what woke
		 * the app may have been claimed meanwhile): the app must not
		 * wait for handbacks that will not come. */
		c->batch_open = true;
		set_state(d, a, BROKER_APP_RUNNING);
		log_full(LOG_DEBUG, a->id, NULL, 0, "activation opened by pid %u", m->u.act_hello.pid);
		return conn_flush(d, c);
	}
	conn_ack(d, c, m->u.handback_ack.serial);
	return true;
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	struct actconn *c = container_of(w, struct actconn, io);

	if ((revents & EV_WRITE) && !conn_flush(d, c))
		return;
	if (!(revents & EV_READ))
		return;

	/* Everything queued, not one message per wakeup: a storm's acks come
	 * back faster than that. */
	for (unsigned i = 0; i < CONN_READ_MAX; i++) {
		struct bp_msg m;
		int r = bp_recv(w->fd, d->rbuf, sizeof(d->rbuf), MSG_DONTWAIT, &m, NULL, NULL);
		if (r == -EAGAIN)
			return;
		/* An app that exits with messages unread (a batch end, say)
		 * resets the connection.  The reset is reported first, but the
		 * acks it sent before are still queued behind it: read them, or
		 * their sockets would be handed back a second time. */
		if (r == -ECONNRESET)
			continue;
		if (r == 0) {
			conn_close(d, c, NULL);
			return;
		}
		if (r < 0) {
			char why[128];
			snprintf(why, sizeof(why), "the app broke the activation protocol (%s)", strerror(-r));
			conn_close(d, c, why);
			return;
		}
		if (!conn_message(d, c, &m))
			return;
	}
}

/* Start the app: exec its command, or connect to its wake socket. */
static int app_start(struct daemon *d, struct app *a)
{
	struct manifest *m = a->m;
	int reason = TAILQ_FIRST(&a->pending)->reason;
	int fd, r;

	if (m->activation == ACTIVATION_WAKE_SOCKET) {
		/* Non-blocking: a full backlog is a failed attempt, not a stall. */
		fd = bp_connect_unix(m->wake_socket, SOCK_SEQPACKET | SOCK_NONBLOCK);
		if (fd < 0)
			return fd;
		/* Sockets go to whoever listens there: it must be the service
		 * manager (root) or the app's own user, not a squatter. */
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != 0 && cred.uid != m->uid)) {
			close(fd);
			return -EPERM;
		}
	} else {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		const char *name = "socket-broker";
		r = spawn_command(d, a, &sv[1], &name, 1, -1, reason, &a->pid);
		close(sv[1]);
		if (r < 0) {
			close(sv[0]);
			return r;
		}
		ev_child_set(&a->child, a->pid, 0);
		ev_child_start(d->loop, &a->child);
		fd = sv[0];
		fcntl(fd, F_SETFL, O_NONBLOCK);
	}
	if (!conn_new(d, a, fd)) {
		close(fd);
		return -ENOMEM;
	}
	set_state(d, a, BROKER_APP_STARTING);
	d->activations_total++;
	timer_restart(d, a, (double)app_timeout_ms(d, a) / 1000.);
	log_full(LOG_INFO, a->id, NULL, reason, "activating (%s) for %u socket(s)%s",
		 activation_name(m->activation), a->npending, a->pid ? "" : "");
	monitor_emit(d, BROKER_EVENT_ACTIVATE, a, NULL, reason, 0, a->pid, "%s",
		     activation_name(m->activation));
	return 0;
}

static void deliver(struct daemon *d, struct app *a)
{
	if (!a->npending)
		return;
	if (!a->m) {
		log_full(LOG_WARNING, a->id, NULL, 0, "%u socket(s) triggered, but the app has no manifest; "
			 "they stay held until it is back (reload) or they are dropped", a->npending);
		return;
	}
	if (a->m->handoff != HANDOFF_LIBBROKER) {
		compat_deliver(d, a);
		return;
	}
	if (a->conn) {
		if (a->conn->hello)
			conn_flush(d, a->conn);
		return;   /* starting: hello will flush */
	}
	if (a->state == BROKER_APP_BACKOFF || a->pid)
		return;   /* the retry timer or the child's exit comes back here */
	if (d->nstarting >= d->cfg.max_pending_activations) {
		log_full(LOG_NOTICE, a->id, NULL, 0, "waiting: %u activations are already starting", d->nstarting);
		return;
	}
	int r = app_start(d, a);
	if (r < 0) {
		char why[512];
		if (a->m->activation == ACTIVATION_WAKE_SOCKET && r == -EPERM)
			snprintf(why, sizeof(why), "wake socket %s is served by neither root nor the app's user %s",
				 a->m->wake_socket, a->m->user);
		else if (a->m->activation == ACTIVATION_WAKE_SOCKET)
			snprintf(why, sizeof(why), "cannot connect to wake socket %s: %s", a->m->wake_socket, strerror(-r));
		else
			snprintf(why, sizeof(why), "cannot start %s: %s", a->m->argv[0], strerror(-r));
		app_failed(d, a, r, why);
	}
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	deliver(ev_userdata(loop), container_of(w, struct app, kick));
}

void app_kick(struct daemon *d, struct app *a)
{
	/* Deliver on the next loop iteration, so that triggers seen in this
	 * one go out together. */
	if (ev_is_active(&a->kick) || ev_is_pending(&a->kick))
		return;
	ev_timer_init(&a->kick, on_kick, 0., 0.);
	ev_timer_start(d->loop, &a->kick);
}

void app_withdraw(struct daemon *d, struct held *h)
{
	struct app *a = h->app;
	if (h->state == BROKER_STATE_TRIGGERED) {
		TAILQ_REMOVE(&a->pending, h, queue);
		a->npending--;
	} else if (h->state == BROKER_STATE_HANDING_BACK && a->conn) {
		TAILQ_REMOVE(&a->conn->inflight, h, queue);
		a->conn->ninflight--;
		if (!a->conn->ninflight && a->conn->hello)
			ev_timer_stop(d->loop, &a->timer);
	}
}

void app_shutdown(struct daemon *d, struct app *a)
{
	ev_timer_stop(d->loop, &a->timer);
	ev_timer_stop(d->loop, &a->kick);
	if (a->conn) {
		struct actconn *c = a->conn;
		conn_requeue(d, c);
		ev_io_stop(d->loop, &c->io);
		close(c->io.fd);
		free(c);
		a->conn = NULL;
	}
	if (a->pid) {
		ev_child_stop(d->loop, &a->child);
		a->pid = 0;   /* left running: it is the app's, not ours to kill */
	}
	if (a->state == BROKER_APP_STARTING)
		d->nstarting--;
	a->state = BROKER_APP_IDLE;
}
