/* SPDX-License-Identifier: MIT */
/* Apps by id.  An app lives as long as it has a manifest, held sockets, an
 * activation connection or an instance. */
#pragma once

#include "core.h"

struct app *app_find(struct daemon *d, const char *id);
/* Find or create (IDLE, no manifest); NULL when out of memory. */
struct app *app_get(struct daemon *d, const char *id);
/* Free a if nothing keeps it: EVENT_APP_GONE first, so that whoever
 * points at it lets go. */
void app_maybe_free(struct daemon *d, struct app *a);

/* The access policy's two questions (control/access.h asks them per verb):
 * may uid act as a (root, or the manifest's user)?  May who see a and its
 * sockets (admins see every app)? */
bool app_may_act(const struct app *a, uid_t uid);
bool app_may_see(const struct app *a, const struct identity *who);

/* How often the socket ino was handed back to a within the trigger
 * limit's current window. */
unsigned app_handbacks(const struct daemon *d, const struct app *a, uint64_t ino);

/* a's trigger limit: at most burst starts within interval ms (0: none);
 * its manifest's, else brokerd.conf's. */
unsigned app_trigger_burst(const struct daemon *d, const struct app *a);
unsigned app_trigger_interval_ms(const struct daemon *d, const struct app *a);
