/* SPDX-License-Identifier: MIT */
/* An app's one timer: while it starts or runs, the deadline for its hello
 * and its acknowledgements; after a failed activation, the back-off, which
 * doubles with each failure from backoff-initial up to backoff-max. */
#pragma once

#include "core.h"

/* An activation failed (why: one sentence): the sockets stay held, BACKOFF,
 * and the retry waits for the back-off. */
void backoff_fail(struct daemon *d, struct app *a, int error, const char *why);

/* Would one more start take a past its trigger limit?  Then a is
 * THROTTLED (its sockets stay held; the timer ends it) and true. */
bool backoff_throttle(struct daemon *d, struct app *a);

/* Stop a's instance, all of its processes: SIGTERM now, SIGKILL if it is
 * not over within the activation timeout.  Its end is no failure. */
void backoff_stop(struct daemon *d, struct app *a);

/* Would handing h back once more make it a spin (handed back
 * trigger-limit-burst times within the interval)?  Then a is THROTTLED
 * (h stays pending; the timer ends it) and true. */
bool backoff_spin(struct daemon *d, struct app *a, const struct held *h);

/* (Re)start a's timer to fire in seconds. */
void backoff_arm(struct daemon *d, struct app *a, double seconds);

/* The activation timeout of a, in ms: its manifest's, else brokerd.conf's. */
unsigned backoff_timeout_ms(struct daemon *d, const struct app *a);
