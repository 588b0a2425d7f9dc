/* SPDX-License-Identifier: MIT */
/* The registry: apps by id, and each app's held sockets by id; reload. */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "notify.h"
#include "reglog.h"
#include "store.h"
#include "util.h"

static int app_cmp(const void *a, const void *b)
{
	return strcmp(((const struct app *)a)->id, ((const struct app *)b)->id);
}

static int held_cmp(const void *a, const void *b)
{
	return strcmp(held_id(a), held_id(b));
}

struct app *app_find(struct daemon *d, const char *id)
{
	struct app key = { .id = (char *)id };
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
	app_init(d, a);
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
	if (a->m || a->nheld || a->conn || a->pid)
		return;
	app_shutdown(d, a);
	clients_forget_app(d, a);
	tdelete(a, &d->app_index, app_cmp);
	TAILQ_REMOVE(&d->apps, a, link);
	d->napps--;
	free(a->id);
	free(a);
}

struct held *held_find(struct app *a, const char *id)
{
	/* A stack key with the id inline: held_cmp only reads the id. */
	size_t n = strlen(id);
	struct held *key = alloca(sizeof(*key) + n + 1);
	key->keepalive_sec = 0;
	memcpy(key->data, id, n + 1);
	void **node = tfind(key, &a->index, held_cmp);
	return node ? *node : NULL;
}

struct held *held_alloc(const char *id, size_t id_len, const void *ctx, uint32_t ctx_len,
			uint32_t keepalive_sec)
{
	size_t timer = held_timer_size(keepalive_sec);
	struct held *h = calloc(1, sizeof(*h) + timer + id_len + 1 + ctx_len);
	if (!h)
		return NULL;
	h->keepalive_sec = keepalive_sec;
	h->id_len = (uint16_t)id_len;
	h->ctx_len = ctx_len;
	memcpy(h->data + timer, id, id_len);
	if (ctx_len)
		memcpy(h->data + timer + id_len + 1, ctx, ctx_len);
	if (timer)
		ev_init(held_timer(h), NULL);
	return h;
}

int held_add(struct daemon *d, struct app *a, const char *id, int fd, const void *ctx,
	     uint32_t ctx_len, uint32_t keepalive_sec, uid_t owner, struct held **ret)
{
	struct sock_desc desc;
	int r = socket_describe(fd, &desc.kind, &desc.family, &desc.sotype);
	if (r < 0) {
		close(fd);
		return r;
	}
	return held_add_described(d, a, id, fd, &desc, ctx, ctx_len, keepalive_sec, owner, ret);
}

int held_add_described(struct daemon *d, struct app *a, const char *id, int fd,
		       const struct sock_desc *desc, const void *ctx, uint32_t ctx_len,
		       uint32_t keepalive_sec, uid_t owner, struct held **ret)
{
	size_t id_len = strlen(id);
	struct held *h = held_alloc(id, id_len, ctx, ctx_len, keepalive_sec);
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	h->app = a;
	h->serial = ++d->next_serial;
	h->held_since = now_usec(CLOCK_REALTIME);
	h->owner = owner;
	h->kind = (uint8_t)desc->kind;
	h->family = (uint16_t)desc->family;
	h->sotype = (uint8_t)desc->sotype;
	h->state = BROKER_STATE_WATCHING;
	if (keepalive_sec && desc->kind != BROKER_KIND_LISTENER)   /* stored with the rest */
		h->deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t)keepalive_sec * 1000000u;

	/* Durable first (fd store, metadata), then visible. */
	int r = store_put(d, h);
	if (r < 0) {
		close(fd);
		free(h);
		return r;
	}

	struct held *old = held_find(a, id);
	if (old) {
		log_full(LOG_DEBUG, a->id, id, 0, "replaced by a new transfer");
		held_remove(d, old);
	}
	if (!tsearch(h, &a->index, held_cmp)) {
		store_del(d, h);
		close(fd);
		free(h);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&d->all, h, all);
	a->nheld++;
	d->nheld++;
	held_watch(d, h);
	if (ret)
		*ret = h;
	return 0;
}

int held_restore(struct daemon *d, struct app *a, const struct reglog_entry *e, int fd,
		 struct held **ret)
{
	_cleanup_close_ int owned = fd;
	int sotype;
	socklen_t len = sizeof(sotype);
	/* Only what the metadata says it is; a socket that errored meanwhile
	 * is still held, so that the app hears of it. */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &sotype, &len) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	if (sotype != e->sotype || bp_check_id(e->id, BROKER_ID_MAX) < 0)
		return -EBADMSG;
	struct held *h = held_alloc(e->id, e->id_len, e->ctx, e->ctx_len, e->keepalive_sec);
	if (!h)
		return -ENOMEM;
	h->fd = TAKE_FD(owned);
	h->app = a;
	h->serial = e->serial;
	h->held_since = e->held_since;
	h->last_trigger = e->last_trigger;
	h->deadline = e->deadline;
	h->owner = e->owner;
	h->kind = e->kind;
	h->family = e->family;
	h->sotype = e->sotype;
	h->state = e->state;
	h->reason = e->reason;

	struct held *old = held_find(a, held_id(h));
	if (old) {
		log_full(LOG_WARNING, a->id, held_id(h), 0, "stored twice; the later transfer wins");
		held_remove(d, old);
	}
	if (!tsearch(h, &a->index, held_cmp)) {
		close(held_fd(h));
		free(h);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&d->all, h, all);
	a->nheld++;
	d->nheld++;
	*ret = h;
	return 0;
}

void held_remove(struct daemon *d, struct held *h)
{
	struct app *a = h->app;
	held_forget(d, h);
	app_withdraw(d, h);
	if (!d->stopping)
		store_del(d, h);
	tdelete(h, &a->index, held_cmp);
	TAILQ_REMOVE(&d->all, h, all);
	a->nheld--;
	d->nheld--;
	close(held_fd(h));
	free(h);
}

unsigned held_count_state(struct daemon *d, int state)
{
	unsigned n = 0;
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all)
		n += h->state == state;
	return n;
}

void registry_shutdown(struct daemon *d)
{
	/* Closing brokerd's copies is not letting go: under systemd the fd
	 * store keeps them for the next start. */
	d->stopping = true;
	struct app *a, *next;
	TAILQ_FOREACH(a, &d->apps, link)
		app_shutdown(d, a);
	struct held *h;
	while ((h = TAILQ_FIRST(&d->all)))
		held_remove(d, h);
	TAILQ_FOREACH_SAFE(a, &d->apps, link, next) {
		a->m = manifest_free(a->m);
		app_maybe_free(d, a);
	}
	held_watch_done(d);
}

void report_manifest(const char *path, const char *message)
{
	(void)path;
	log_error("manifest skipped: %s", message);
}

int daemon_reload(struct daemon *d)
{
	struct manifest **list;
	int n = manifests_load_dir(d->cfg.apps_dir, true, report_manifest, &list);
	if (n < 0) {
		log_error("cannot read %s: %s; keeping the manifests in force", d->cfg.apps_dir, strerror(-n));
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
	TAILQ_FOREACH_SAFE(a, &d->apps, link, next) {
		if (a->npending)
			app_kick(d, a);
		app_maybe_free(d, a);
	}
	log_info("%d app(s) from %s", n, d->cfg.apps_dir);
	monitor_emit(d, BROKER_EVENT_RELOAD, NULL, NULL, 0, 0, 0, "%d app(s)", n);
	notify_changed(d);   /* the app count is in STATUS= */
	return 0;
}
