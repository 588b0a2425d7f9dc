/* SPDX-License-Identifier: MIT */
/* The registry as a whole: reload and shutdown (registry.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "lifecycle.h"
#include "log.h"
#include "pollset.h"
#include "registry.h"
#include "util.h"

void registry_shutdown(struct daemon *d)
{
	/* Closing brokerd's copies is not letting go: under systemd the fd
	 * store keeps them for the next start. */
	d->stopping = true;
	registry_forget_skipped(d);
	struct app *a, *next;
	TAILQ_FOREACH(a, &d->apps, link)
		lifecycle_app_reset(d, a);
	struct held *h;
	while ((h = TAILQ_FIRST(&d->all)))
		lifecycle_remove(d, &(struct event){ .type = EVENT_REMOVED, .held = h });
	TAILQ_FOREACH_SAFE(a, &d->apps, link, next) {
		a->m = manifest_free(a->m);
		app_maybe_free(d, a);
	}
	pollset_done(d);
}

void registry_report_manifest(void *ud, const char *path, const char *message)
{
	struct daemon *d = ud;
	log_error("manifest skipped: %s", message);
	if (!d || d->nskipped >= 1024)
		return;
	char id[256];
	uid_t uid;
	manifest_peek(path, id, sizeof(id), &uid);
	struct skipped *more = realloc(d->skipped, (d->nskipped + 1) * sizeof(*more));
	if (!more)
		return;
	d->skipped = more;
	struct skipped *s = &more[d->nskipped];
	*s = (struct skipped){ .id = id[0] ? strdup(id) : NULL, .uid = uid, .why = strdup(message) };
	if (s->why && (!id[0] || s->id))
		d->nskipped++;
	else {
		free(s->id);
		free(s->why);
	}
}

const struct skipped *registry_skipped(const struct daemon *d, const char *id, uid_t uid)
{
	for (unsigned i = 0; i < d->nskipped; i++) {
		const struct skipped *s = &d->skipped[i];
		if (s->id && strcmp(s->id, id) == 0 && (uid == (uid_t)-1 || s->uid == uid))
			return s;
	}
	return NULL;
}

static void free_skipped(struct skipped *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(s[i].id);
		free(s[i].why);
	}
	free(s);
}

void registry_forget_skipped(struct daemon *d)
{
	free_skipped(d->skipped, d->nskipped);
	d->skipped = NULL;
	d->nskipped = 0;
}

int registry_reload(struct daemon *d)
{
	struct manifest **list;
	struct skipped *old = d->skipped;
	unsigned nold = d->nskipped;
	d->skipped = NULL;
	d->nskipped = 0;
	int n = manifests_load_dir(d->cfg.apps_dir, true, registry_report_manifest, d, &list);
	if (n < 0) {   /* the old manifests stay, and so does what was said of the others */
		registry_forget_skipped(d);
		d->skipped = old;
		d->nskipped = nold;
	} else {
		free_skipped(old, nold);
	}
	if (n < 0) {
		log_error_errno(n, "cannot read %s: %m; keeping the manifests in force", d->cfg.apps_dir);
		return n;
	}
	/* Apps that lost their manifest keep their sockets until claimed or dropped. */
	struct app *a, *next;
	TAILQ_FOREACH(a, &d->apps, link)
		a->m = manifest_free(a->m);
	for (int i = 0; i < n; i++) {
		a = app_get(d, list[i]->id);
		if (!a) {
			manifest_free(list[i]);
			continue;
		}
		a->m = list[i];
	}
	free(list);   /* the manifests now belong to their apps */
	TAILQ_FOREACH_SAFE(a, &d->apps, link, next)
		app_maybe_free(d, a);
	char detail[32];
	snprintf(detail, sizeof(detail), "%d app(s)", n);
	/* The cycle delivers what waits for an app that is back. */
	event_emit(d, &(struct event){ .type = EVENT_RELOAD, .detail = detail });
	return 0;
}
