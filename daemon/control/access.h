/* SPDX-License-Identifier: MIT */
/* The access policy of the control verbs: who may act as an app, who may
 * see it, and the refusals that say so in one sentence. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "client.h"

/* May this client act as app a (root, or the manifest's user)? */
bool access_may_act(const struct client *c, const struct app *a);
/* May it see app a and its sockets (admins see every app)? */
bool access_may_see(const struct client *c, const struct app *a);

/* Make the connection act as app id (REGISTER, or the app id in HELLO):
 * the manifest's user, and its unit where it names one.  0, or -ENOENT
 * (no such app this client may act as: strangers cannot tell the two
 * apart), -EPERM (an admin who may see it but not act as it; the wrong
 * unit, logged), -EALREADY (registered as another app), with why. */
int access_register(struct daemon *d, struct client *c, const char *id, char *why, size_t len);

/* The registered app, for verbs that act as it, with the right checked
 * again (a reload may have changed the manifest).  0 with *ret set, or
 * -EDESTADDRREQ (not registered) or -EPERM with why. */
int access_own_app(struct client *c, struct app **ret, char *why, size_t len);
/* The app a request names ("" = the registered one), if this client may
 * see it; -ENOENT with why otherwise. */
int access_named_app(struct daemon *d, struct client *c, const char *name, struct app **ret,
		     char *why, size_t len);
/* Refuse an admin verb: -EPERM, with one sentence in why that says who may. */
int access_need_admin(struct daemon *d, const char *what, char *why, size_t len);
