/* SPDX-License-Identifier: MIT */
/* Apps by id (a tsearch() tree) and in order of creation (d->apps). */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "event.h"
#include "lifecycle.h"
#include "util.h"

static int app_cmp(const void *a, const void *b)
{
	return strcmp(((const struct app *)a)->id, ((const struct app *)b)->id);
}

struct app *app_find(struct daemon *d, const char *id)
{
	struct app key;   /* app_cmp reads only the id: not = { ... }, which clears all of it */
	key.id = (char *)id;
	void **node = tfind(&key, &d->app_index, app_cmp);
	return node ? *node : NULL;
}

struct app *app_get(struct daemon *d, const char *id)
{
	struct app *a = app_find(d, id);
	if (a)
		return a;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->id = strdup(id))) {
		free(a);
		return NULL;
	}
	/* The cycle gives them their callbacks when it starts them. */
	ev_init(&a->timer, NULL);
	ev_init(&a->kick, NULL);
	ev_child_init(&a->child, NULL, 0, 0);
	TAILQ_INIT(&a->pending);
	TAILQ_INIT(&a->inflight);
	if (!tsearch(a, &d->app_index, app_cmp)) {
		free(a->id);
		free(a);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&d->apps, a, link);
	d->napps++;
	return a;
}

void app_maybe_free(struct daemon *d, struct app *a)
{
	if (a->m || a->nheld || a->conn || a->pid || instance_alive(&a->inst))
		return;
	event_emit(d, &(struct event){ .type = EVENT_APP_GONE, .app = a });
	lifecycle_app_reset(d, a);
	tdelete(a, &d->app_index, app_cmp);
	TAILQ_REMOVE(&d->apps, a, link);
	d->napps--;
	free(a->id);
	free(a);
}

bool app_may_act(const struct app *a, uid_t uid)
{
	return uid == 0 || (a->m && a->m->uid == uid);
}

bool app_may_see(const struct app *a, const struct identity *who)
{
	return who->admin || app_may_act(a, who->uid);
}

unsigned app_handbacks(const struct daemon *d, const struct app *a, uint64_t ino)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	if (now - a->handback_window_start >= (uint64_t)app_trigger_interval_ms(d, a) * 1000)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(a->handbacks); i++)
		if (a->handbacks[i].ino == ino)
			return a->handbacks[i].count;
	return 0;
}

unsigned app_trigger_burst(const struct daemon *d, const struct app *a)
{
	return a->m && a->m->trigger_limit_burst ? a->m->trigger_limit_burst : d->cfg.trigger_limit_burst;
}

unsigned app_trigger_interval_ms(const struct daemon *d, const struct app *a)
{
	return a->m && a->m->trigger_interval_set ? a->m->trigger_limit_interval_ms : d->cfg.trigger_limit_interval_ms;
}
