/* SPDX-License-Identifier: MIT */
/*
 * Activation: when an app's pending sockets go out, through its hand-off
 * (handoff.h), with one start at a time per app, at most
 * max-pending-activations starting at once, and a back-off after a failed
 * attempt.  Subscribes to the lifecycle's events: a trigger, a restored
 * trigger and a reload deliver soon; a free start slot lets waiting apps go.
 */
#pragma once

#include "core.h"

/* Subscribe, and have the poll set report to the trigger.  0 or a negative errno. */
int activate_init(struct daemon *d);

/* Deliver a's pending sockets on the next loop iteration (triggers seen in
 * this one go out together). */
void activate_kick(struct daemon *d, struct app *a);

/* brokerd stops: end every activation connection (its sockets stay held),
 * stop waiting for instances (left running: they are the apps'). */
void activate_shutdown(struct daemon *d);
