/* SPDX-License-Identifier: MIT */
/* daemon_init(): one struct daemon, and the counters it keeps. */
#include <string.h>

#include "daemon.h"
#include "event.h"
#include "notify.h"
#include "store.h"
#include "util.h"

/* brokerd's totals, as STATUS and `brokerctl status` show them. */
static void count(struct daemon *d, const struct event *ev)
{
	switch (ev->type) {
	case EVENT_TRIGGER: d->triggers_total++; break;
	case EVENT_ACTIVATE: d->activations_total++; break;
	case EVENT_ACK: d->handbacks_total++; break;
	case EVENT_THAW: ev->error ? d->thaws_held++ : d->thaws_total++; break;
	default: break;
	}
}

int daemon_init(struct daemon *d, struct ev_loop *loop, bool user)
{
	memset(d, 0, sizeof(*d));
	d->loop = loop;
	if (loop)
		ev_set_userdata(loop, d);
	d->control_fd = -1;
	d->held_ep = -1;
	TAILQ_INIT(&d->apps);
	TAILQ_INIT(&d->all);
	TAILQ_INIT(&d->clients);
	d->started = now_usec(CLOCK_MONOTONIC);
	ev_init(&d->status_timer, NULL);
	event_subscribe(d, journal_on_event, EVENT_ALL);
	event_subscribe(d, count, EVENT_BIT(EVENT_TRIGGER) | EVENT_BIT(EVENT_ACTIVATE) | EVENT_BIT(EVENT_ACK) |
			EVENT_BIT(EVENT_THAW));
	event_subscribe(d, notify_on_event, EVENT_ALL);
	return config_defaults(&d->cfg, user);
}

void daemon_free(struct daemon *d)
{
	store_free(d);
	config_free(&d->cfg);
}
