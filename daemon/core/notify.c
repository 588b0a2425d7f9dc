/* SPDX-License-Identifier: MIT */
/* Talking to the service manager (notify.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "core.h"
#include "event.h"
#include "log.h"
#include "notify.h"
#include "util.h"

#define STATUS_INTERVAL_USEC 1000000u

static void send_status(struct daemon *d)
{
	unsigned triggered = 0, handing = 0, running = 0;
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all) {
		triggered += h->state == BROKER_STATE_TRIGGERED;
		handing += h->state == BROKER_STATE_HANDING_BACK;
	}
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link)
		running += a->conn != NULL || instance_alive(&a->inst);
	char text[256];
	snprintf(text, sizeof(text), "STATUS=%u socket(s) held, %u triggered, %u handing back; "
		 "%u app(s), %u running; %llu thawed, %llu held for a suspended app", d->nheld, triggered, handing,
		 d->napps, running, (unsigned long long)d->thaws_total, (unsigned long long)d->thaws_held);
	sd_notify(0, text);
	d->status_sent = now_usec(CLOCK_MONOTONIC);
}

static void on_status(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	send_status(ev_userdata(loop));
}

void notify_changed(struct daemon *d)
{
	if (!d->notify || d->stopping || ev_is_active(&d->status_timer))
		return;
	/* Coalesce: everything that changes within the interval goes out once. */
	uint64_t now = now_usec(CLOCK_MONOTONIC), due = d->status_sent + STATUS_INTERVAL_USEC;
	ev_timer_set(&d->status_timer, due > now ? (double)(due - now) / 1e6 : 0., 0.);
	ev_timer_start(d->loop, &d->status_timer);
}

void notify_on_event(struct daemon *d, const struct event *ev)
{
	(void)ev;
	notify_changed(d);
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sd_notify(0, "WATCHDOG=1");
}

void notify_ready(struct daemon *d)
{
	ev_init(&d->status_timer, on_status);
	d->notify = getenv("NOTIFY_SOCKET") != NULL;
	if (!d->notify)
		return;
	uint64_t usec;
	if (sd_watchdog_enabled(0, &usec) > 0) {
		/* Twice per period: a loop that stops turning misses both. */
		double every = (double)usec / 2e6;
		ev_timer_init(&d->watchdog, on_watchdog, every, every);
		ev_timer_start(d->loop, &d->watchdog);
		log_debug("watchdog: pinging every %.3f s", every);
	}
	sd_notify(0, "READY=1");
	send_status(d);
}

void notify_stopping(struct daemon *d)
{
	if (!d->notify)
		return;
	ev_timer_stop(d->loop, &d->watchdog);
	ev_timer_stop(d->loop, &d->status_timer);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping; held sockets stay in the fd store");
}
