/* SPDX-License-Identifier: MIT */
/*
 * brokerd's events: one per lifecycle transition (lifecycle.c emits them
 * all).  The journal (journal.c), the counters and STATUS= (daemon.c,
 * notify.c), the monitor (control/monitor.c), the activation (cycle/) and
 * the control connections subscribe.  Nothing below control calls up into
 * it: an app that goes away is an event, not a call.
 */
#pragma once

#include "core.h"

enum event_type {
	/* Those a monitor sees, numbered as on the wire (BROKER_EVENT_*). */
	EVENT_TRANSFER = BROKER_EVENT_TRANSFER,   /* held is new, WATCHING; pid: who; prev: 1 if it replaced one */
	EVENT_TRIGGER = BROKER_EVENT_TRIGGER,     /* held WATCHING -> TRIGGERED, for reason */
	EVENT_ACTIVATE = BROKER_EVENT_ACTIVATE,   /* app started (pid) or its wake socket connected; detail: how */
	EVENT_HANDBACK = BROKER_EVENT_HANDBACK,   /* held TRIGGERED -> HANDING_BACK */
	EVENT_ACK = BROKER_EVENT_ACK,             /* held acknowledged by its app (prev: 1 if one of an ACK_MANY's); removed next */
	EVENT_CLAIM = BROKER_EVENT_CLAIM,         /* held claimed by its app (pid); removed next */
	EVENT_DROP = BROKER_EVENT_DROP,           /* held dropped by an admin (uid, pid); removed next */
	EVENT_FAILURE = BROKER_EVENT_FAILURE,     /* app's activation failed: error, detail; now BACKOFF */
	EVENT_EXIT = BROKER_EVENT_EXIT,           /* app's instance pid exited; detail: how */
	EVENT_RELOAD = BROKER_EVENT_RELOAD,       /* the manifests were read again; detail: "N app(s)" */
	EVENT_THROTTLED = BROKER_EVENT_THROTTLED, /* app started too often: THROTTLED; detail: the limit */
	EVENT_ATTACH = BROKER_EVENT_ATTACH,       /* a running instance (pid) attached: ATTACHED */
	EVENT_THAW = BROKER_EVENT_THAW,           /* instance pid suspended: thawed (error 0) or the delivery held; detail */
	/* brokerd's own. */
	EVENT_GIVEN,          /* held given to an inetd program for good; removed next (monitor: ACK) */
	EVENT_PEER_GONE,      /* held's peer closed and its program cannot be told; removed next (monitor: DROP) */
	EVENT_REPLACED,       /* held replaced by a new transfer of its id (prev: 1 if of the same socket); removed next */
	EVENT_REMOVED,        /* held removed for another reason (brokerd stops, stored twice) */
	EVENT_REQUEUED,       /* held HANDING_BACK -> TRIGGERED: the app never acknowledged it */
	EVENT_LENT,           /* held -> LENT to a listen-fds or inetd program */
	EVENT_WATCH,          /* held -> WATCHING again */
	EVENT_RESTORED,       /* held again from the fd store, WATCHING or TRIGGERED */
	EVENT_APP_STATE,      /* app's state changed; prev: the old one */
	EVENT_APP_GONE,       /* app is about to be freed: forget every pointer to it */
	EVENT_MAX
};

#define EVENT_BIT(type) (1ull << (type))
#define EVENT_ALL (~0ull)

struct event {
	enum event_type type;
	struct app *app;
	struct held *held;           /* NULL for an app's events */
	int reason;                  /* enum broker_reason, 0 = none */
	int error;                   /* EVENT_FAILURE: negative errno */
	int prev;                    /* see the type */
	pid_t pid;
	uid_t uid;
	const char *detail;          /* one phrase, or NULL */
};

/* Call fn for every event whose bit is in mask, after the subscribers
 * before it.  Returns 0, or -ENOSPC past EVENT_SUBS_MAX. */
int event_subscribe(struct daemon *d, event_fn *fn, uint64_t mask);

/* Tell every subscriber.  ev's held and app are valid during the call. */
static inline void event_emit(struct daemon *d, const struct event *ev)
{
	uint64_t bit = EVENT_BIT(ev->type);
	for (unsigned i = 0; i < d->nsubs; i++)
		if (d->subs[i].mask & bit)
			d->subs[i].fn(d, ev);
}

/* journal.c: one journal (or stderr) line per event that is worth one. */
void journal_on_event(struct daemon *d, const struct event *ev);
