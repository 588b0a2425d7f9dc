/* SPDX-License-Identifier: MIT */
/* The lifecycle: every write of state, queues and counters (lifecycle.h). */
#include <search.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "held.h"
#include "lifecycle.h"
#include "log.h"
#include "pollset.h"
#include "store.h"
#include "util.h"

/* pid: the app's instance, where the event concerns it (a hand-back). */
static void emit(struct daemon *d, enum event_type type, struct app *a, struct held *h, int reason, pid_t pid)
{
	struct event ev = { .type = type, .app = a, .held = h, .reason = reason, .pid = pid };
	event_emit(d, &ev);
}

static void on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct held *h = container_of((void *)w, struct held, data);
	lifecycle_trigger(ev_userdata(loop), h, BROKER_REASON_KEEPALIVE_EXPIRED);
}

/* Keep-alives that fall due close together fire together: a timer goes
 * off at its deadline rounded up to a grid of 1/16 of its interval, at
 * most 1 s, so that 15k sockets handed over within a few seconds cost a
 * handful of wakeups rather than thousands, at the price of firing up to
 * one grid step late. */
static void keepalive_start(struct daemon *d, struct held *h, ev_timer *t)
{
	uint64_t interval = (uint64_t)h->keepalive_sec * 1000000u;
	uint64_t grid = interval / 16 < 1000000u ? interval / 16 : 1000000u;
	ev_now_update(d->loop);   /* libev's clock and ours read together */
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (!h->deadline)
		h->deadline = now + interval;
	uint64_t at = (h->deadline + grid - 1) / grid * grid;
	ev_timer_init(t, on_keepalive, at > now ? (double)(at - now) / 1e6 : 0., 0.);
	ev_timer_start(d->loop, t);
}

/* WATCHING: armed, and the keep-alive running.  An arm that fails leaves h
 * WATCHING but unarmed; the caller decides. */
static int watch(struct daemon *d, struct held *h)
{
	h->state = BROKER_STATE_WATCHING;
	h->spurious = 0;
	int r = pollset_arm(d, h);
	if (r < 0)
		return r;
	ev_timer *t = held_timer(h);
	if (t && h->kind != BROKER_KIND_LISTENER)
		keepalive_start(d, h, t);
	return 0;
}

/* An armed socket stays armed: an event that comes meanwhile finds it no
 * longer WATCHING and only disarms it, which costs less than a syscall. */
static void unwatch(struct daemon *d, struct held *h)
{
	ev_timer *t = held_timer(h);
	if (t)
		ev_timer_stop(d->loop, t);
}

/* Into both indexes and the lists.  Any other holder of the id or of the
 * socket is gone already. */
static int insert(struct daemon *d, struct held *h)
{
	struct app *a = h->app;
	if (!tsearch(h, &a->index, held_cmp))
		return -ENOMEM;
	if (!tsearch(h, &d->file_index, held_file_cmp)) {
		tdelete(h, &a->index, held_cmp);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&d->all, h, all);
	a->nheld++;
	d->nheld++;
	return 0;
}

static void pend(struct held *h)
{
	h->state = BROKER_STATE_TRIGGERED;
	TAILQ_INSERT_TAIL(&h->app->pending, h, queue);
	h->app->npending++;
}

int lifecycle_hold(struct daemon *d, struct held *h, struct held *old, pid_t pid)
{
	struct app *a = h->app;
	h->state = BROKER_STATE_WATCHING;
	int r = store_put(d, h);
	if (r < 0)
		goto fail;
	bool same = old && old->ino == h->ino;   /* held_add_facts() allows no other */
	r = watch(d, h);
	if (r < 0) {
		/* Refused, so that the app keeps its socket rather than have
		 * brokerd hold one it cannot watch. */
		log_full_errno(LOG_ERR, r, a->id, held_id(h), 0, "cannot watch the socket: %m");
		unwatch(d, h);
		if (same)
			h->stored_as = 0;   /* the store entry is still old's */
		store_del(d, h);
		goto fail;
	}
	if (old) {
		if (same) {
			old->stored_as = 0;   /* its fd store entry is h's now */
			store_carry(d, h);
		}
		lifecycle_remove(d, &(struct event){ .type = EVENT_REPLACED, .held = old, .prev = same });
	}
	r = insert(d, h);
	if (r < 0) {
		pollset_forget(d, h);
		unwatch(d, h);
		store_del(d, h);
		goto fail;
	}
	event_emit(d, &(struct event){ .type = EVENT_TRANSFER, .app = a, .held = h, .pid = pid, .prev = old != NULL });
	return 0;
fail:
	close(h->fd);
	free(h);
	return r;
}

int lifecycle_restore(struct daemon *d, struct held *h)
{
	if (insert(d, h) < 0) {
		close(h->fd);
		free(h);
		return -ENOMEM;
	}
	if (h->state == BROKER_STATE_TRIGGERED || h->state == BROKER_STATE_HANDING_BACK)
		pend(h);   /* triggered but never acknowledged: wake the app again */
	else if (watch(d, h) < 0)   /* LENT too: its program is not ours any more */
		pend(h);   /* unarmable: to its app, as it would be at once anyway */
	emit(d, EVENT_RESTORED, h->app, h, h->reason, 0);
	return 0;
}

void lifecycle_watch(struct daemon *d, struct held *h)
{
	struct app *a = h->app;
	if (h->state == BROKER_STATE_TRIGGERED) {
		TAILQ_REMOVE(&a->pending, h, queue);
		a->npending--;
	}
	h->deadline = 0;
	int r = watch(d, h);
	if (r < 0) {
		lifecycle_unarmable(d, h, r);
		return;
	}
	store_update(d, h);
	emit(d, EVENT_WATCH, a, h, 0, 0);
}

void lifecycle_trigger(struct daemon *d, struct held *h, int reason)
{
	struct app *a = h->app;
	if (h->state != BROKER_STATE_WATCHING)
		return;
	unwatch(d, h);
	h->reason = (uint8_t)reason;
	h->deadline = 0;
	h->last_trigger = now_usec(CLOCK_REALTIME);
	pend(h);
	store_update(d, h);
	emit(d, EVENT_TRIGGER, a, h, reason, 0);
}

void lifecycle_unarmable(struct daemon *d, struct held *h, int error)
{
	log_full_errno(LOG_ERR, error, h->app->id, held_id(h), 0, "cannot watch the socket: %m; it goes back to the app");
	h->state = BROKER_STATE_WATCHING;
	lifecycle_trigger(d, h, BROKER_REASON_SOCKET_CLOSED);
}

/* One more hand-back of h's socket in its app's window (app_handbacks). */
static void count_handback(struct daemon *d, struct app *a, const struct held *h)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (now - a->handback_window_start >= (uint64_t)app_trigger_interval_ms(d, a) * 1000) {
		a->handback_window_start = now;
		memset(a->handbacks, 0, sizeof(a->handbacks));
	}
	struct app_handbacks *slot = &a->handbacks[0];
	for (size_t i = 0; i < ARRAY_SIZE(a->handbacks); i++) {
		if (a->handbacks[i].ino == h->ino) {
			slot = &a->handbacks[i];
			break;
		}
		if (a->handbacks[i].count < slot->count)
			slot = &a->handbacks[i];   /* else the least handed back makes room */
	}
	if (slot->ino != h->ino)
		*slot = (struct app_handbacks){ .ino = h->ino };
	slot->count++;
}

void lifecycle_send(struct daemon *d, struct held *h)
{
	struct app *a = h->app;
	count_handback(d, a, h);
	TAILQ_REMOVE(&a->pending, h, queue);
	a->npending--;
	h->state = BROKER_STATE_HANDING_BACK;
	store_update(d, h);
	TAILQ_INSERT_TAIL(&a->inflight, h, queue);
	a->ninflight++;
	/* ACK_MANY finds each of up to 1024 serials in a lookup, not a scan */
	if (!tsearch(h, &a->inflight_index, held_serial_cmp))
		log_full(LOG_CRIT, a->id, held_id(h), 0, "out of memory: its acknowledgement will not be found");
	emit(d, EVENT_HANDBACK, a, h, h->reason, a->pid);
}

void lifecycle_requeue(struct daemon *d, struct app *a)
{
	struct held *h;
	while ((h = TAILQ_LAST(&a->inflight, held_list))) {
		TAILQ_REMOVE(&a->inflight, h, queue);
		tdelete(h, &a->inflight_index, held_serial_cmp);
		a->ninflight--;
		h->state = BROKER_STATE_TRIGGERED;
		store_update(d, h);
		TAILQ_INSERT_HEAD(&a->pending, h, queue);
		a->npending++;
		emit(d, EVENT_REQUEUED, a, h, h->reason, 0);
	}
}

void lifecycle_lend(struct daemon *d, struct held *h)
{
	struct app *a = h->app;
	if (h->state == BROKER_STATE_TRIGGERED) {
		TAILQ_REMOVE(&a->pending, h, queue);
		a->npending--;
	} else {
		unwatch(d, h);
	}
	h->state = BROKER_STATE_LENT;
	store_update(d, h);
	emit(d, EVENT_LENT, a, h, h->reason, 0);
}

void lifecycle_remove(struct daemon *d, const struct event *why)
{
	struct held *h = why->held;
	struct app *a = h->app;
	struct event ev = *why;
	ev.app = a;
	event_emit(d, &ev);
	if (ev.type == EVENT_DROP)
		held_remember_dropped(d, held_fd(h));
	if (ev.type == EVENT_ACK) {
		a->acked++;
		a->failures = 0;
	}
	pollset_forget(d, h);
	unwatch(d, h);
	if (h->state == BROKER_STATE_TRIGGERED) {
		TAILQ_REMOVE(&a->pending, h, queue);
		a->npending--;
	} else if (h->state == BROKER_STATE_HANDING_BACK) {
		TAILQ_REMOVE(&a->inflight, h, queue);
		tdelete(h, &a->inflight_index, held_serial_cmp);
		a->ninflight--;
	}
	if (!d->stopping)
		store_del(d, h);
	tdelete(h, &a->index, held_cmp);
	if (held_find_file(d, h->ino) == h)
		tdelete(h, &d->file_index, held_file_cmp);
	TAILQ_REMOVE(&d->all, h, all);
	a->nheld--;
	d->nheld--;
	close(held_fd(h));
	free(h);
}
