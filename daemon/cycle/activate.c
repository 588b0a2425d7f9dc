/* SPDX-License-Identifier: MIT */
/* Activation and back-off (activate.h); the hand-offs do the delivering. */
#include <stdio.h>
#include <sys/wait.h>

#include "activate.h"
#include "app.h"
#include "backoff.h"
#include "bus.h"
#include "handback.h"
#include "handoff.h"
#include "lifecycle.h"
#include "log.h"
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

/* Instances whose last process is gone end, as their hand-off says. */
static void end_instances(struct daemon *d)
{
	struct app *a, *next;
	TAILQ_FOREACH_SAFE(a, &d->apps, link, next) {
		if (!instance_over(&a->inst))
			continue;
		/* What brokerd stopped ended as asked, whatever its status. */
		int status = a->inst.stopping ? 0 : a->inst.main_status;
		instance_end(&a->inst);
		handoff_of(a)->child_exited(d, a, status);
	}
}

/* The main process of a's instance was reaped. */
static void on_main(struct ev_loop *loop, ev_child *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct app *a = container_of(w, struct app, child);
	int status = w->rstatus;
	pid_t pid = w->rpid;
	ev_child_stop(loop, w);
	a->pid = 0;
	instance_main_reaped(d, &a->inst, status);
	char how[96];
	int n = WIFEXITED(status) ? snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status))
				  : snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(status));
	if (a->inst.nprocs)
		snprintf(how + n, sizeof(how) - (size_t)n, "; %u process(es) of it still run", a->inst.nprocs);
	lifecycle_app_exited(d, a, pid, how);
	end_instances(d);
}

/* Any child of brokerd reaped: an orphan that came back to brokerd, the
 * subreaper, or a main process (on_main has its status). */
static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	(void)w;
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	instance_scan(d);
	end_instances(d);
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
	/* A start: wait for its main process (in this loop iteration, before
	 * it can be missed). */
	if (a->pid && !ev_is_active(&a->child)) {
		ev_child_init(&a->child, on_main, a->pid, 0);
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
	case EVENT_DROP:
		/* A program serving a socket brokerd no longer holds is stopped. */
		if (ev->held->state == BROKER_STATE_LENT && instance_alive(&a->inst))
			backoff_stop(d, a);
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
		if ((a->state == BROKER_APP_IDLE || (a->state == BROKER_APP_RUNNING && ev->prev == BROKER_APP_THROTTLED)) &&
		    a->npending)
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
	int r = instance_init();
	if (r < 0)
		log_warning_errno(r, "cannot become a child subreaper: %m; an instance's orphans are not tracked");
	ev_child_init(&d->reaper, on_child, 0, 0);
	ev_child_start(d->loop, &d->reaper);
	r = event_subscribe(d, on_event, EVENT_BIT(EVENT_TRIGGER) | EVENT_BIT(EVENT_RESTORED) |
			    EVENT_BIT(EVENT_RELOAD) | EVENT_BIT(EVENT_APP_STATE) | EVENT_BIT(EVENT_DROP));
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
		if (instance_alive(&a->inst)) {
			ev_child_stop(d->loop, &a->child);
			a->pid = 0;   /* left running: it is the app's, not ours to kill */
			instance_end(&a->inst);
		}
		lifecycle_app_reset(d, a);
	}
	ev_child_stop(d->loop, &d->reaper);
	bus_close(d);
}
