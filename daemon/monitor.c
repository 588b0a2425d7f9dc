/* SPDX-License-Identifier: MIT */
/* Live events for `brokerctl monitor`. */
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
	struct client *c, *next;
	TAILQ_FOREACH_SAFE(c, &d->clients, link, next)
		if (c->monitor && (!a || c->admin || client_may_act(c, a)) && !client_queue_event(d, c, buf, (size_t)len))
			client_free(d, c, "monitor fell behind");
}
