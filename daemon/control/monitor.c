/* SPDX-License-Identifier: MIT */
/* Live events for `brokerctl monitor`. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "util.h"

void monitor_emit(struct daemon *d, int event, const struct app *a, const struct held *h,
		  int reason, int error, pid_t pid, const char *fmt, ...)
{
	if (!d->nmonitors)
		return;
	char detail[256] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	struct bp_event ev = {
		.event = (uint32_t)event, .reason = (uint32_t)reason, .kind = h ? h->kind : 0,
		.error = error, .time_usec = now_usec(CLOCK_REALTIME), .pid = (uint32_t)pid,
	};
	const char *app_id = a ? a->id : "";
	struct bp_field f[3] = {
		{ app_id, (uint32_t)strlen(app_id) },
		{ h ? held_id(h) : "", h ? h->id_len : 0 },
		{ detail, (uint32_t)strlen(detail) },
	};
	uint8_t buf[1024];
	int len = bp_encode(buf, sizeof(buf), BP_EVENT, 0, &ev, sizeof(ev), f, 3, 0);
	if (len < 0)
		return;
	/* Events of an app go to whoever may see it; the others (reload) to admins. */
	struct client *c, *next;
	TAILQ_FOREACH_SAFE(c, &d->clients, link, next)
		if (c->monitor && (a ? client_may_see(c, a) : c->admin) &&
		    !client_queue_event(d, c, buf, (size_t)len))
			client_free(d, c, "monitor fell behind");
}

int monitor_start(struct daemon *d, struct client *c, char *why, size_t len)
{
	if (d->nmonitors >= d->cfg.max_monitors) {
		snprintf(why, len, "brokerd already has %u monitors, its limit", d->nmonitors);
		return -EUSERS;
	}
	/* So that one user cannot take every monitor slot. */
	unsigned mine = 0;
	struct client *o;
	TAILQ_FOREACH(o, &d->clients, link)
		mine += o->monitor && o->uid == c->uid;
	if (!c->admin && mine >= d->cfg.max_monitors_per_uid) {
		snprintf(why, len, "uid %u already has %u monitors, its limit", c->uid, mine);
		return -EUSERS;
	}
	c->monitor = true;
	d->nmonitors++;
	return 0;
}
