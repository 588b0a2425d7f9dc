/* SPDX-License-Identifier: MIT */
/* Control connections (client.h): read requests, write replies, and the
 * replies that wait for a client that does not read. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "event.h"
#include "keeper.h"
#include "log.h"
#include "records.h"
#include "util.h"
#include "verbs.h"
#include "wire.h"

#define MONITOR_QUEUE_MAX 1024

static void on_client(struct ev_loop *loop, ev_io *w, int revents);

void client_set_events(struct daemon *d, struct client *c)
{
	/* While a reply waits to go out, read nothing more from this client:
	 * it cannot make brokerd buffer more than one reply stream. */
	bool blocked = c->nout > 0 || c->resume.type;
	int events = blocked ? EV_WRITE : EV_READ;
	if (c->monitor)
		events = c->nout ? EV_READ | EV_WRITE : EV_READ;
	if (c->io.events == events)
		return;
	ev_io_stop(d->loop, &c->io);
	ev_io_set(&c->io, c->io.fd, events);
	ev_io_start(d->loop, &c->io);
	/* A client that does not drain its replies in time is dropped. */
	if (blocked && !c->monitor && c->hello) {
		ev_timer_set(&c->timer, (double)d->cfg.client_timeout_ms / 1000., 0.);
		ev_timer_start(d->loop, &c->timer);
	} else if (c->hello) {
		ev_timer_stop(d->loop, &c->timer);
	}
}

static bool enqueue(struct client *c, const void *buf, size_t len)
{
	struct outmsg *o = malloc(sizeof(*o) + len);
	if (!o)
		return false;
	o->len = len;
	memcpy(o->data, buf, len);
	STAILQ_INSERT_TAIL(&c->out, o, link);
	c->nout++;
	return true;
}

/* Send buf now, or queue it behind what is already waiting.  A client
 * that cannot be written to is marked broken (its verb's caller frees it). */
static int client_send(struct daemon *d, struct client *c, const void *buf, size_t len)
{
	if (c->nout == 0) {
		int r = bp_send(c->io.fd, buf, len, NULL, 0, MSG_DONTWAIT);
		if (r != -EAGAIN) {
			c->broken |= r < 0;
			return r;
		}
	}
	if (!enqueue(c, buf, len)) {
		c->broken = true;
		return -ENOMEM;
	}
	client_set_events(d, c);
	return 0;
}

int client_reply(struct daemon *d, struct client *c, unsigned type, uint32_t seq,
		 const void *fixed, size_t fixed_size, const struct bp_field *fields, unsigned n)
{
	int len = bp_encode(d->wbuf, sizeof(d->wbuf), type, seq, fixed, fixed_size, fields, n, 0);
	if (len < 0) {
		c->broken = true;
		return len;
	}
	return client_send(d, c, d->wbuf, (size_t)len);
}

int client_error(struct daemon *d, struct client *c, uint32_t seq, int error, const char *fmt, ...)
{
	char text[512];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
	} else {
		snprintf(text, sizeof(text), "%s", broker_strerror(error));
	}
	struct bp_error e = { .error = error < 0 ? error : -error };
	struct bp_field f = { text, (uint32_t)strlen(text) };
	return client_reply(d, c, BP_ERROR, seq, &e, sizeof(e), &f, 1);
}

bool client_queue_event(struct daemon *d, struct client *c, const void *buf, size_t len)
{
	if (c->nout >= MONITOR_QUEUE_MAX)
		return false;
	return client_send(d, c, buf, len) == 0;
}

void client_free(struct daemon *d, struct client *c, const char *why)
{
	if (why)
		log_debug("client pid %d uid %u: %s", (int)c->pid, c->uid, why);
	ev_io_stop(d->loop, &c->io);
	ev_timer_stop(d->loop, &c->timer);
	close(c->io.fd);
	free(c->unit);
	free((void *)c->resume.ids.ptr);
	struct outmsg *o;
	while ((o = STAILQ_FIRST(&c->out))) {
		STAILQ_REMOVE_HEAD(&c->out, link);
		free(o);
	}
	if (c->monitor)
		d->nmonitors--;
	keeper_forget_owner(d, c);
	TAILQ_REMOVE(&d->clients, c, link);
	d->nclients--;
	free(c);
}

static void on_client_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct client *c = container_of(w, struct client, timer);
	if (!c->hello)
		client_error(d, c, 0, -ETIMEDOUT, "no hello within %u ms", d->cfg.client_timeout_ms);
	client_free(d, c, c->hello ? "did not read its replies in time" : "no hello in time");
}

/* Write what waits; false if the client had to go. */
static bool flush(struct daemon *d, struct client *c)
{
	struct outmsg *o;
	while ((o = STAILQ_FIRST(&c->out))) {
		int r = bp_send(c->io.fd, o->data, o->len, NULL, 0, MSG_DONTWAIT);
		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			client_free(d, c, "write failed");
			return false;
		}
		STAILQ_REMOVE_HEAD(&c->out, link);
		c->nout--;
		free(o);
	}
	if (c->resume.type) {
		int r = records_resume(d, c);
		if (r == -EAGAIN)
			return true;
		if (r < 0) {
			client_free(d, c, "reply failed");
			return false;
		}
	}
	client_set_events(d, c);
	return true;
}

static void on_client(struct ev_loop *loop, ev_io *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	struct client *c = container_of(w, struct client, io);

	if ((revents & EV_WRITE) && !flush(d, c))
		return;
	if (!(revents & EV_READ) || (c->io.events & EV_READ) == 0)
		return;

	struct bp_msg m;
	unsigned type = 0;
	uint32_t seq = 0;
	int r = bp_recv(w->fd, d->rbuf, d->cfg.max_message, MSG_DONTWAIT, &m, &type, &seq);
	if (r == -EAGAIN)
		return;
	if (r == 0) {
		client_free(d, c, NULL);   /* routine (every brokerctl call): not logged */
		return;
	}
	if (c->monitor) {
		/* A monitor only listens; anything it says ends it. */
		if (r > 0)
			bp_msg_close_fds(&m);
		client_free(d, c, "monitor sent a request");
		return;
	}
	if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP && r != -ETOOMANYREFS && r != -EMSGSIZE) {
		client_free(d, c, "receive failed");
		return;
	}
	if (r < 0) {
		/* Every fd that came with it is closed already; say why. */
		if (client_error(d, c, seq, r, "%s%s%s", broker_strerror(r),
				 bp_type_name(type) ? " in " : "", bp_type_name(type) ? bp_type_name(type) : "") < 0)
			client_free(d, c, "cannot reply");
		return;
	}
	verb_dispatch(d, c, &m);
}

struct client *client_new(struct daemon *d, int fd, const struct ucred *cred, char *unit, bool admin)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->uid = cred->uid;
	c->gid = cred->gid;
	c->pid = cred->pid;
	c->unit = unit;
	c->admin = admin;
	STAILQ_INIT(&c->out);
	ev_io_init(&c->io, on_client, fd, EV_READ);
	ev_io_start(d->loop, &c->io);
	ev_timer_init(&c->timer, on_client_timer, (double)d->cfg.client_timeout_ms / 1000., 0.);
	ev_timer_start(d->loop, &c->timer);
	TAILQ_INSERT_TAIL(&d->clients, c, link);
	d->nclients++;
	return c;
}

void client_close_all(struct daemon *d)
{
	struct client *c;
	while ((c = TAILQ_FIRST(&d->clients)))
		client_free(d, c, NULL);
}

/* An app goes away: nothing may point at it any more. */
static void forget_app(struct daemon *d, const struct event *ev)
{
	struct app *a = ev->app;
	/* A listing of an app that goes away still ends with END: it just
	 * matches nothing more. */
	static struct app gone;
	struct client *c;
	TAILQ_FOREACH(c, &d->clients, link) {
		if (c->app == a)
			c->app = NULL;
		if (c->resume.app == a)
			c->resume.app = &gone;
	}
}

int client_init(struct daemon *d)
{
	return event_subscribe(d, forget_app, EVENT_BIT(EVENT_APP_GONE));
}
