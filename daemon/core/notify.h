/* SPDX-License-Identifier: MIT */
/* Talking to the service manager: READY=1, STATUS= with counts (at most
 * once a second), WATCHDOG=1 from the event loop when WatchdogSec= is set.
 * Without $NOTIFY_SOCKET every call does nothing. */
#pragma once

struct daemon;

/* Everything is restored and the control socket is open. */
void notify_ready(struct daemon *d);

/* Counts changed: send a new STATUS= soon. */
void notify_changed(struct daemon *d);
/* Every event may change a count: a subscriber (event.h) that calls notify_changed(). */
struct event;
void notify_on_event(struct daemon *d, const struct event *ev);

void notify_stopping(struct daemon *d);
