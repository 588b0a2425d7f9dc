/* SPDX-License-Identifier: MIT */
/* Activation and back-off (activate.h); the hand-offs do the delivering. */
#include <stdio.h>
#include <sys/wait.h>

#include "activate.h"
#include "app.h"
#include "backoff.h"
#include "handback.h"
#include "handoff.h"
#include "lifecycle.h"
#include "log.h"
#include "thaw.h"
#include "trigger.h"
#include "util.h"

static const struct handoff_ops *const handoffs[] = {
	[HANDOFF_LIBBROKER] = &wake_ops,
	[HANDOFF_LISTEN_FDS] = &compat_listen_fds_ops,
	[HANDOFF_INETD] = &compat_inetd_ops,
};

/* An app whose manifest went away meanwhile ends as libbroker's would. */
static const struct handoff_ops *handoff_of(const struct app *a)
{
	return a->m ? handoffs[a->m->handoff] : &wake_ops;
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
	lifecycle_app_exited(d, a, pid, how);
	handoff_of(a)->child_exited(d, a, status);
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
	handoff_of(a)->deliver(d, a);
	/* A start: wait for the instance (in this loop iteration, before it
	 * can be missed). */
	if (a->pid && !ev_is_active(&a->child)) {
		ev_child_init(&a->child, on_child, a->pid, 0);
		ev_child_start(d->loop, &a->child);
	}
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	deliver(ev_userdata(loop), container_of(w, struct app, kick));
}

void activate_kick(struct daemon *d, struct app *a)
{
	if (ev_is_active(&a->kick) || ev_is_pending(&a->kick))
		return;
	ev_timer_init(&a->kick, on_kick, 0., 0.);
	ev_timer_start(d->loop, &a->kick);
}

static void on_event(struct daemon *d, const struct event *ev)
{
	struct app *a = ev->app, *o;
	switch (ev->type) {
	case EVENT_TRIGGER:
		activate_kick(d, a);
		break;
	case EVENT_RESTORED:
		if (ev->held->state == BROKER_STATE_TRIGGERED)
			activate_kick(d, a);
		break;
	case EVENT_RELOAD:
		TAILQ_FOREACH(o, &d->apps, link)
			if (o->npending)
				activate_kick(d, o);
		break;
	case EVENT_APP_STATE:
		if (d->stopping)
			break;
		/* Idle again (the instance or its connection ended, the back-off
		 * is over): what waits goes out. */
		if (a->state == BROKER_APP_IDLE && a->npending)
			activate_kick(d, a);
		/* A start slot is free: apps that waited for one may go. */
		if (ev->prev == BROKER_APP_STARTING && a->state != BROKER_APP_STARTING)
			TAILQ_FOREACH(o, &d->apps, link)
				if (o != a && o->npending && o->state == BROKER_APP_IDLE && !o->conn)
					activate_kick(d, o);
		break;
	default:
		break;
	}
}

int activate_init(struct daemon *d)
{
	int r = event_subscribe(d, on_event, EVENT_BIT(EVENT_TRIGGER) | EVENT_BIT(EVENT_RESTORED) |
				EVENT_BIT(EVENT_RELOAD) | EVENT_BIT(EVENT_APP_STATE));
	if (r == 0)
		r = event_subscribe(d, handback_on_event, HANDBACK_EVENTS);
	return r < 0 ? r : trigger_init(d);
}

void activate_shutdown(struct daemon *d)
{
	d->stopping = true;   /* the fd store keeps everything as it is */
	struct app *a;
	TAILQ_FOREACH(a, &d->apps, link) {
		if (a->conn)
			handback_abort(d, a->conn);
		if (a->pid) {
			ev_child_stop(d->loop, &a->child);
			a->pid = 0;   /* left running: it is the app's, not ours to kill */
		}
		lifecycle_app_reset(d, a);
	}
	thaw_shutdown(d);
}
