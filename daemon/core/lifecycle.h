/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle of held sockets and apps: the only code that writes a held
 * socket's state, an app's state, the pending and in-flight queues and the
 * counters.  Each transition is one function here; it writes the store
 * (store.h) and emits one event (event.h).  The map of states is in
 * docs/architecture.md.
 *
 * held:  (new) -> WATCHING -> TRIGGERED -> HANDING_BACK -> (removed: ack)
 *                    ^  |          |  ^          |
 *                    |  +-> LENT   |  +----------+ requeue (no ack)
 *                    +------+------+  (watch again)
 * app:   IDLE -> STARTING -> RUNNING -> IDLE;  any -> BACKOFF -> IDLE
 */
#pragma once

#include "core.h"
#include "event.h"

/* A new held socket h (held_alloc'd, fields set) enters the registry:
 * stored first (fd store, metadata), then armed, then old (what its app
 * holds under its id, or NULL) removed, then visible, WATCHING; emits
 * EVENT_TRANSFER with pid.  On failure h and its fd are freed and closed,
 * nothing is stored and old stays held. */
int lifecycle_hold(struct daemon *d, struct held *h, struct held *old, pid_t pid);

/* A held socket rebuilt from the fd store (held_alloc'd, fields from the
 * metadata) enters the registry in its state: TRIGGERED and HANDING_BACK
 * come back TRIGGERED and pending, everything else WATCHING; emits
 * EVENT_RESTORED.  Returns 0 or -ENOMEM (h freed, its fd closed). */
int lifecycle_restore(struct daemon *d, struct held *h);

/* TRIGGERED or LENT -> WATCHING, with a fresh keep-alive deadline. */
void lifecycle_watch(struct daemon *d, struct held *h);

/* WATCHING -> TRIGGERED for reason, at the end of its app's pending
 * queue.  Anything else: nothing happens (one-shot). */
void lifecycle_trigger(struct daemon *d, struct held *h, int reason);

/* A socket that brokerd cannot arm is not left unwatched: it goes to its
 * app as closed (TRIGGERED, socket-closed), so the app gets it back.
 * Called with h WATCHING and the arm's error. */
void lifecycle_unarmable(struct daemon *d, struct held *h, int error);

/* The first pending socket of its app -> HANDING_BACK, in flight; one
 * more hand-back of the socket in its app's window (app_handbacks). */
void lifecycle_send(struct daemon *d, struct held *h);

/* Every in-flight socket of a -> TRIGGERED, back in front of pending, in order. */
void lifecycle_requeue(struct daemon *d, struct app *a);

/* WATCHING or TRIGGERED -> LENT to a compatibility program. */
void lifecycle_lend(struct daemon *d, struct held *h);

/* The end of ev->held: emits ev (type EVENT_ACK, _CLAIM, _DROP, _GIVEN,
 * _PEER_GONE, _REPLACED or _REMOVED; app filled in here), then takes it off
 * every list, out of the store (unless brokerd stops) and closes brokerd's
 * copy. */
void lifecycle_remove(struct daemon *d, const struct event *ev);

/* Apps. */
void lifecycle_app_state(struct daemon *d, struct app *a, enum broker_app_state s);
/* An activation attempt begins: nothing acknowledged in it yet. */
void lifecycle_app_begin(struct app *a);
/* It made progress: the back-off starts again from the beginning. */
void lifecycle_app_succeeded(struct app *a);
/* It failed (why: one sentence): BACKOFF, the failure counted, the retry
 * time set; EVENT_FAILURE.  After a healthy run (healthy) the count starts
 * again and the retry is at once.  Returns the back-off in ms. */
uint64_t lifecycle_app_failed(struct daemon *d, struct app *a, int error, const char *why, bool healthy);
/* Started too often (why: the limit, in words): THROTTLED for ms, each
 * throttle in a row counted; EVENT_THROTTLED. */
void lifecycle_app_throttled(struct daemon *d, struct app *a, uint64_t ms, const char *why);
/* BACKOFF or THROTTLED is over: IDLE again, or RUNNING if the app is
 * connected (a running app throttled for its hand-backs). */
void lifecycle_app_retry(struct daemon *d, struct app *a, bool connected);
/* Started or connected (detail: how): EVENT_ACTIVATE. */
void lifecycle_app_activated(struct daemon *d, struct app *a, int reason, const char *detail);
/* A running instance pid attached itself: ATTACHED; EVENT_ATTACH.  Its
 * run counts from now, for the back-off's healthy-run rule. */
void lifecycle_app_attached(struct daemon *d, struct app *a, pid_t pid);
/* Its attachment ended; the state change follows. */
void lifecycle_app_detached(struct app *a);
/* The instance pid was suspended (detail: how, and what brokerd did):
 * thawed (error 0), or not (error: why not; the delivery waits), the
 * latter once per suspension; EVENT_THAW. */
void lifecycle_app_thaw(struct daemon *d, struct app *a, pid_t pid, int error, const char *detail);
/* The instance runs (again): the next suspension is told anew. */
void lifecycle_app_runs(struct app *a);
/* Its instance pid exited (how: one phrase): EVENT_EXIT. */
void lifecycle_app_exited(struct daemon *d, struct app *a, pid_t pid, const char *how);
/* Stop a's timers and make it IDLE (brokerd stops, or a is freed). */
void lifecycle_app_reset(struct daemon *d, struct app *a);
