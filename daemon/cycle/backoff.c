/* SPDX-License-Identifier: MIT */
/* An app's one timer (backoff.h): the activation deadline, or the back-off
 * after a failed activation. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "app.h"
#include "backoff.h"
#include "handback.h"
#include "lifecycle.h"
#include "log.h"
#include "thaw.h"
#include "util.h"
#include "wakeunit.h"

unsigned backoff_timeout_ms(struct daemon *d, const struct app *a)
{
	return a->m && a->m->timeout_ms ? a->m->timeout_ms : d->cfg.activation_timeout_ms;
}

/* Did a's last instance run healthy: up for healthy-run-ms, and served
 * (acknowledged a hand-back, or was lent its sockets)? */
static bool ran_healthy(const struct daemon *d, const struct app *a)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	bool served = a->acked || (a->m && a->m->handoff != HANDOFF_LIBBROKER);
	return a->started_at && served && now - a->started_at >= (uint64_t)d->cfg.healthy_run_ms * 1000;
}

void backoff_fail(struct daemon *d, struct app *a, int error, const char *why)
{
	char text[1024];
	if (a->m && a->m->activation == ACTIVATION_WAKE_SOCKET && error != -EPERM) {
		snprintf(text, sizeof(text), "%s", why);
		wakeunit_explain(d, a, text, sizeof(text));
		why = text;
	}
	uint64_t ms = lifecycle_app_failed(d, a, error, why, ran_healthy(d, a));
	backoff_arm(d, a, (double)ms / 1000.);
}

/* Throttle a until its window (from window_start) is over, and longer
 * each time in a row. */
static void throttle(struct daemon *d, struct app *a, uint64_t window_start, const char *why)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC), window = (uint64_t)app_trigger_interval_ms(d, a) * 1000;
	uint64_t ms = (window_start + window - now + 999) / 1000, floor = d->cfg.backoff_initial_ms;
	for (unsigned i = 0; i < a->throttles && floor < d->cfg.backoff_max_ms; i++)
		floor *= 2;
	if (ms < floor)
		ms = floor > d->cfg.backoff_max_ms ? d->cfg.backoff_max_ms : floor;
	lifecycle_app_throttled(d, a, ms, why);
	backoff_arm(d, a, (double)ms / 1000.);
}

bool backoff_throttle(struct daemon *d, struct app *a)
{
	unsigned burst = app_trigger_burst(d, a), interval = app_trigger_interval_ms(d, a);
	uint64_t now = now_usec(CLOCK_MONOTONIC), window = (uint64_t)interval * 1000;
	if (!interval || a->window_starts < burst || now - a->window_start >= window)
		return false;
	char why[160];
	snprintf(why, sizeof(why), "started %u times within %u ms (trigger-limit-burst=%u, "
		 "trigger-limit-interval-ms=%u)", a->window_starts, interval, burst, interval);
	throttle(d, a, a->window_start, why);
	return true;
}

bool backoff_spin(struct daemon *d, struct app *a, const struct held *h)
{
	unsigned burst = app_trigger_burst(d, a), interval = app_trigger_interval_ms(d, a);
	unsigned n = interval ? app_handbacks(d, a, h->ino) : 0;
	if (n < burst || !burst)
		return false;
	char why[320];
	snprintf(why, sizeof(why), "socket %.128s handed back %u times within %u ms (trigger-limit-burst=%u, "
		 "trigger-limit-interval-ms=%u)", held_id(h), n, interval, burst, interval);
	throttle(d, a, a->handback_window_start, why);
	return true;
}

/* Started or running, and no hello or no ack in time. */
static void timed_out(struct daemon *d, struct app *a)
{
	char why[320];
	struct actconn *c = a->conn;
	/* Suspended after a batch went out is not hung: thawed, it gets its
	 * time again; held, brokerd waits with it and starts no second one. */
	if (c && c->hello && a->ninflight && thaw_instance(d, a, thaw_instance_pid(a)) != 0) {
		backoff_arm(d, a, (double)backoff_timeout_ms(d, a) / 1000.);
		return;
	}
	if (c && !c->hello && a->m && a->m->activation == ACTIVATION_WAKE_SOCKET)
		snprintf(why, sizeof(why), "nothing accepted on wake socket %.200s within %u ms "
			 "(is the app's service failing to start?)", a->m->wake_socket, backoff_timeout_ms(d, a));
	else if (c && !c->hello)
		snprintf(why, sizeof(why), "the app did not open its activation within %u ms",
			 backoff_timeout_ms(d, a));
	else if (c)
		snprintf(why, sizeof(why), "the app did not acknowledge %u handed-back socket(s) within %u ms",
			 a->ninflight, backoff_timeout_ms(d, a));
	else
		snprintf(why, sizeof(why), "the app did not exit within %u ms%s", backoff_timeout_ms(d, a),
			 a->inst.stopping ? " of being stopped" : "");
	/* The whole instance: what it left behind would serve on. */
	unsigned n = instance_kill(d, &a->inst, c ? SIGTERM : SIGKILL);
	if (c)
		handback_close(d, c, why);
	else if (instance_alive(&a->inst)) {
		log_full(LOG_WARNING, a->id, NULL, 0, "%s: %u process(es) killed", why, n);
		backoff_arm(d, a, (double)backoff_timeout_ms(d, a) / 1000.);
	}
}

void backoff_stop(struct daemon *d, struct app *a)
{
	a->inst.stopping = true;
	unsigned n = instance_kill(d, &a->inst, SIGTERM);
	log_full(LOG_NOTICE, a->id, NULL, 0, "stopping its instance: %u process(es) sent SIGTERM", n);
	backoff_arm(d, a, (double)backoff_timeout_ms(d, a) / 1000.);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	struct daemon *d = ev_userdata(loop);
	struct app *a = container_of(w, struct app, timer);
	if (a->state == BROKER_APP_THROTTLED) {
		lifecycle_app_retry(d, a, a->conn && a->conn->hello);
		return;
	}
	if (a->state != BROKER_APP_BACKOFF) {
		timed_out(d, a);
		return;
	}
	/* The failed instance was asked to stop a back-off ago. */
	instance_kill(d, &a->inst, SIGKILL);
	lifecycle_app_retry(d, a, false);
}

void backoff_arm(struct daemon *d, struct app *a, double seconds)
{
	ev_timer_stop(d->loop, &a->timer);
	ev_set_cb(&a->timer, on_timer);
	ev_timer_set(&a->timer, seconds, 0.);
	ev_timer_start(d->loop, &a->timer);
}
