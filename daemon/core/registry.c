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

void registry_report_manifest(const char *path, const char *message)
{
	(void)path;
	log_error("manifest skipped: %s", message);
}

int registry_reload(struct daemon *d)
{
	struct manifest **list;
	int n = manifests_load_dir(d->cfg.apps_dir, true, registry_report_manifest, &list);
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
