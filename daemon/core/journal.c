/* SPDX-License-Identifier: MIT */
/* The journal's view of the lifecycle: one line per event worth one, with
 * the app, the socket and the reason as structured fields (log.c). */
#include "event.h"
#include "log.h"
#include "util.h"

/* An app's trigger lines a second at info; the rest at debug.  A storm of
 * 10 000 sockets would otherwise spend the journal's whole rate limit
 * (10 000 lines in 30 s by default), and it would then drop the lines that
 * matter; the activation's line and the hand-back's say how many. */
#define TRIGGER_LINES 10

static void log_trigger(struct app *a, const char *id, int reason)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (now - a->trigger_second >= 1000000) {
		a->trigger_second = now;
		a->trigger_lines = 0;
	}
	unsigned k = ++a->trigger_lines;
	log_event(k <= TRIGGER_LINES ? LOG_INFO : LOG_DEBUG, MSGID_TRIGGER, 0, a->id, id, reason,
		  k == TRIGGER_LINES ? "triggered (this app's further triggers this second are logged at debug)"
				     : "triggered");
}

void journal_on_event(struct daemon *d, const struct event *ev)
{
	struct app *a = ev->app;
	struct held *h = ev->held;
	const char *id = h ? held_id(h) : NULL;
	switch (ev->type) {
	case EVENT_TRANSFER:
		log_full(LOG_DEBUG, a->id, id, 0, "held (%s%s)", broker_kind_name(h->kind),
			 ev->prev ? ", replacing" : "");
		break;
	case EVENT_TRIGGER:
		log_trigger(a, id, ev->reason);
		break;
	case EVENT_ACTIVATE:
		if (a->m->handoff == HANDOFF_LIBBROKER)
			log_full(LOG_INFO, a->id, NULL, ev->reason, "activating (%s) for %u socket(s)",
				 ev->detail, a->npending);
		else
			log_full(LOG_INFO, a->id, NULL, ev->reason, "started %s (pid %d, %s)", a->m->argv[0],
				 (int)ev->pid, ev->detail);
		break;
	case EVENT_HANDBACK:
		log_full(LOG_DEBUG, a->id, id, ev->reason, "handed back");
		break;
	case EVENT_ACK:   /* one of many (prev): the hand-back logs one line for all */
		log_full(ev->prev ? LOG_DEBUG : LOG_INFO, a->id, id, ev->reason, "handed back and acknowledged");
		break;
	case EVENT_CLAIM:
		log_full(LOG_DEBUG, a->id, id, 0, "claimed back");
		break;
	case EVENT_DROP:
		log_full(LOG_NOTICE, a->id, id, 0, "dropped by uid %u", ev->uid);
		break;
	case EVENT_PEER_GONE:
		log_full(LOG_INFO, a->id, id, ev->reason, "peer closed; dropped (the %s program has no way to be told)",
			 manifest_handoff_name(a->m->handoff));
		break;
	case EVENT_REPLACED:
		log_full(LOG_DEBUG, a->id, id, 0, "replaced by a new transfer%s", ev->prev ? " of the same socket" : "");
		break;
	case EVENT_FAILURE:
		log_event(LOG_WARNING, MSGID_ACTIVATION_FAILED, ev->error, a->id, NULL, 0,
			  "activation failed: %s; %u socket(s) stay held, retry %u in %.1f s",
			  ev->detail, a->nheld, a->failures, (double)a->backoff_ms / 1000.);
		break;
	case EVENT_THROTTLED:
		log_event(LOG_WARNING, MSGID_THROTTLED, 0, a->id, NULL, 0, "throttled: %s; its %u socket(s) stay held, the next start "
			 "in %.1f s", ev->detail, a->nheld, (double)a->backoff_ms / 1000.);
		break;
	case EVENT_ATTACH:
		log_full(LOG_INFO, a->id, NULL, 0, "pid %d attached: its triggers go to it in place", (int)ev->pid);
		break;
	case EVENT_THAW:
		if (ev->error)
			log_event(LOG_NOTICE, MSGID_THAW, ev->error, a->id, NULL, 0, "not thawed: %s; %u socket(s) "
				  "stay held with their data until the instance runs again or exits", ev->detail,
				  a->npending);
		else
			log_event(LOG_INFO, MSGID_THAW, 0, a->id, NULL, 0, "thawed: %s; handing back %u socket(s)",
				  ev->detail, a->npending);
		break;
	case EVENT_EXIT:
		log_full(LOG_INFO, a->id, NULL, 0, "instance %d %s", (int)ev->pid, ev->detail);
		break;
	case EVENT_RELOAD:
		log_info("%s from %s", ev->detail, d->cfg.apps_dir);
		break;
	default:
		break;
	}
}
