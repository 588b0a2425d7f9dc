/* SPDX-License-Identifier: MIT */
/* Live events for `brokerctl monitor` (monitor.h). */
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "event.h"
#include "monitor.h"
#include "util.h"

#define MONITOR_EVENTS (EVENT_BIT(EVENT_TRANSFER) | EVENT_BIT(EVENT_TRIGGER) | EVENT_BIT(EVENT_ACTIVATE) | \
			EVENT_BIT(EVENT_HANDBACK) | EVENT_BIT(EVENT_ACK) | EVENT_BIT(EVENT_CLAIM) | \
			EVENT_BIT(EVENT_DROP) | EVENT_BIT(EVENT_FAILURE) | EVENT_BIT(EVENT_EXIT) | \
			EVENT_BIT(EVENT_RELOAD) | EVENT_BIT(EVENT_GIVEN) | EVENT_BIT(EVENT_PEER_GONE) | \
			EVENT_BIT(EVENT_THROTTLED) | EVENT_BIT(EVENT_ATTACH) | EVENT_BIT(EVENT_THAW))

static void on_event(struct daemon *d, const struct event *ev)
{
	if (!d->nmonitors)
		return;
	int type = ev->type;
	const char *detail = ev->detail;
	char by[32];
	if (type == EVENT_DROP) {
		snprintf(by, sizeof(by), "by uid %u", ev->uid);
		detail = by;
	} else if (type == EVENT_GIVEN) {
		type = BROKER_EVENT_ACK;
		detail = "given to the inetd program";
	} else if (type == EVENT_PEER_GONE) {
		type = BROKER_EVENT_DROP;
		detail = "peer closed";
	}
	const struct app *a = ev->app;
	const struct held *h = ev->held;
	struct bp_event w = {
		.event = (uint32_t)type, .reason = (uint32_t)ev->reason, .kind = h ? h->kind : 0,
		.error = ev->error, .time_usec = now_usec(CLOCK_REALTIME), .pid = (uint32_t)ev->pid,
	};
	const char *app_id = a ? a->id : "";
	struct bp_field f[3] = {
		{ app_id, (uint32_t)strlen(app_id) },
		{ h ? held_id(h) : "", h ? h->id_len : 0 },
		{ detail ? detail : "", detail ? (uint32_t)strlen(detail) : 0 },
	};
	uint8_t buf[1024];
	int len = bp_encode(buf, sizeof(buf), BP_EVENT, 0, &w, sizeof(w), f, 3, 0);
	if (len < 0)
		return;
	/* Events of an app go to whoever may see it; the others (reload) to admins. */
	struct client *c, *next;
	TAILQ_FOREACH_SAFE(c, &d->clients, link, next)
		if (c->monitor && (a ? access_may_see(c, a) : c->admin) &&
		    !client_queue_event(d, c, buf, (size_t)len))
			client_free(d, c, "monitor fell behind");
}

int monitor_init(struct daemon *d)
{
	return event_subscribe(d, on_event, MONITOR_EVENTS);
}
