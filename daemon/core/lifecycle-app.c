/* SPDX-License-Identifier: MIT */
/* The lifecycle of apps: their state, back-off and counters (lifecycle.h). */
#include "app.h"
#include "lifecycle.h"
#include "util.h"

void lifecycle_app_state(struct daemon *d, struct app *a, enum broker_app_state s)
{
	int prev = a->state;
	if (prev == BROKER_APP_STARTING && s != BROKER_APP_STARTING)
		d->nstarting--;
	else if (prev != BROKER_APP_STARTING && s == BROKER_APP_STARTING)
		d->nstarting++;
	a->state = s;
	event_emit(d, &(struct event){ .type = EVENT_APP_STATE, .app = a, .prev = prev, .pid = a->pid });
}

void lifecycle_app_begin(struct app *a)
{
	a->acked = 0;
}

void lifecycle_app_succeeded(struct app *a)
{
	a->failures = 0;
}

uint64_t lifecycle_app_failed(struct daemon *d, struct app *a, int error, const char *why, bool healthy)
{
	/* A crash after a healthy run is retried at once: only failures in a
	 * row, with no healthy run between them, back off. */
	if (healthy)
		a->failures = 0;
	uint64_t ms = healthy ? 0 : d->cfg.backoff_initial_ms;
	a->failures++;
	for (unsigned i = 1; i < a->failures && ms < d->cfg.backoff_max_ms; i++)
		ms *= 2;
	if (ms > d->cfg.backoff_max_ms)
		ms = d->cfg.backoff_max_ms;
	lifecycle_app_state(d, a, BROKER_APP_BACKOFF);
	a->backoff_ms = ms;
	a->retry_at = now_usec(CLOCK_REALTIME) + ms * 1000;
	event_emit(d, &(struct event){ .type = EVENT_FAILURE, .app = a, .error = error, .pid = a->pid,
				      .detail = why });
	return ms;
}

void lifecycle_app_throttled(struct daemon *d, struct app *a, uint64_t ms, const char *why)
{
	a->throttles++;
	a->throttled_in_window = true;
	lifecycle_app_state(d, a, BROKER_APP_THROTTLED);
	a->backoff_ms = ms;
	a->retry_at = now_usec(CLOCK_REALTIME) + ms * 1000;
	event_emit(d, &(struct event){ .type = EVENT_THROTTLED, .app = a, .pid = a->pid, .detail = why });
}

void lifecycle_app_retry(struct daemon *d, struct app *a, bool connected)
{
	a->retry_at = 0;
	lifecycle_app_state(d, a, connected ? BROKER_APP_RUNNING : BROKER_APP_IDLE);
}

void lifecycle_app_activated(struct daemon *d, struct app *a, int reason, const char *detail)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	a->started_at = now;
	if (!a->window_starts || now - a->window_start >= (uint64_t)app_trigger_interval_ms(d, a) * 1000) {
		if (a->window_starts && !a->throttled_in_window)
			a->throttles = 0;   /* a whole window within the limit */
		a->window_start = now;
		a->window_starts = 0;
		a->throttled_in_window = false;
	}
	a->window_starts++;
	event_emit(d, &(struct event){ .type = EVENT_ACTIVATE, .app = a, .reason = reason, .pid = a->pid,
				      .detail = detail });
}

void lifecycle_app_attached(struct daemon *d, struct app *a, pid_t pid)
{
	a->attached = pid;
	a->started_at = now_usec(CLOCK_MONOTONIC);
	lifecycle_app_state(d, a, BROKER_APP_ATTACHED);
	event_emit(d, &(struct event){ .type = EVENT_ATTACH, .app = a, .pid = pid });
}

void lifecycle_app_detached(struct app *a)
{
	a->attached = 0;
}

void lifecycle_app_thaw(struct daemon *d, struct app *a, pid_t pid, int error, const char *detail)
{
	if (error && a->suspended_said)
		return;
	a->suspended_said = error != 0;
	event_emit(d, &(struct event){ .type = EVENT_THAW, .app = a, .pid = pid, .error = error, .detail = detail });
}

void lifecycle_app_runs(struct app *a)
{
	a->suspended_said = false;
}

void lifecycle_app_exited(struct daemon *d, struct app *a, pid_t pid, const char *how)
{
	event_emit(d, &(struct event){ .type = EVENT_EXIT, .app = a, .pid = pid, .detail = how });
}

void lifecycle_app_reset(struct daemon *d, struct app *a)
{
	ev_timer_stop(d->loop, &a->timer);
	ev_timer_stop(d->loop, &a->kick);
	ev_timer_stop(d->loop, &a->suspended);
	if (a->state != BROKER_APP_IDLE)
		lifecycle_app_state(d, a, BROKER_APP_IDLE);
}
