/* SPDX-License-Identifier: MIT */
/* The access policy of the control verbs (access.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "app.h"
#include "identity.h"
#include "log.h"
#include "registry.h"

bool access_may_act(const struct client *c, const struct app *a)
{
	return app_may_act(a, c->uid);
}

bool access_may_see(const struct client *c, const struct app *a)
{
	return c->admin || app_may_act(a, c->uid);
}

int access_register(struct daemon *d, struct client *c, const char *id, char *why, size_t len)
{
	struct app *a = app_find(d, id);
	if (!a || !a->m || !access_may_act(c, a)) {
		if (a && a->m && access_may_see(c, a)) {
			snprintf(why, len, "uid %u may not act as %s (its manifest names user %s)", c->uid, id, a->m->user);
			return -EPERM;
		}
		/* Only to the user the file names (or an admin): the rest learn
		 * nothing of other users' apps. */
		const struct skipped *s = registry_skipped(d, id, c->admin ? (uid_t)-1 : c->uid);
		if (s && !(a && a->m)) {
			snprintf(why, len, "the manifest for %s was skipped, so brokerd does not know the app: %s",
				 id, s->why);
			return -ENOENT;
		}
		snprintf(why, len, "no manifest declares an app %s that uid %u may act as", id, c->uid);
		return -ENOENT;
	}
	if (c->app && c->app != a) {
		snprintf(why, len, "this connection is registered as %s already", c->app->id);
		return -EALREADY;
	}
	/* A unit binds root too: only that unit's processes are the app. */
	if (a->m->unit && (!c->unit || strcmp(c->unit, a->m->unit) != 0)) {
		if (c->unit)
			snprintf(why, len, "pid %d runs in unit %s; only %s may act as this app", (int)c->pid,
				 c->unit, a->m->unit);
		else
			snprintf(why, len, "pid %d: %s; only %s may act as this app", (int)c->pid,
				 identity_unit_error(c->unit_error), a->m->unit);
		log_full(LOG_NOTICE, a->id, NULL, 0, "registration refused: %s", why);
		return -EPERM;
	}
	c->app = a;
	return 0;
}

int access_own_app(struct client *c, struct app **ret, char *why, size_t len)
{
	if (!c->app)
		return -EDESTADDRREQ;
	if (!access_may_act(c, c->app)) {
		snprintf(why, len, "uid %u may no longer act as %s: its manifest changed or went away",
			 c->uid, c->app->id);
		return -EPERM;
	}
	const char *unit = c->app->m ? c->app->m->unit : NULL;
	if (unit && (!c->unit || strcmp(c->unit, unit) != 0)) {
		snprintf(why, len, "pid %d may no longer act as %s: its manifest now names unit %s",
			 (int)c->pid, c->app->id, unit);
		return -EPERM;
	}
	*ret = c->app;
	return 0;
}

int access_named_app(struct daemon *d, struct client *c, const char *name, struct app **ret,
		     char *why, size_t len)
{
	if (!*name)
		return access_own_app(c, ret, why, len);
	struct app *a = app_find(d, name);
	if (!a || !access_may_see(c, a)) {
		/* To a stranger, someone else's app and no app look the same. */
		snprintf(why, len, "no app %s that uid %u may see", name, c->uid);
		return -ENOENT;
	}
	*ret = a;
	return 0;
}

int access_need_admin(struct daemon *d, const char *what, char *why, size_t len)
{
	if (d->cfg.admin_group)
		snprintf(why, len, "%s needs root or membership of group %s", what, d->cfg.admin_group);
	else
		snprintf(why, len, "%s needs root (no admin group is configured)", what);
	return -EPERM;
}
