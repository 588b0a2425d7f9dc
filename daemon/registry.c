/* SPDX-License-Identifier: MIT */
/* The registry: apps by id, and each app's held sockets by id; reload. */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

static int file_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct held *)a)->ino, y = ((const struct held *)b)->ino;
	return x < y ? -1 : x > y;
}

int socket_ino(int fd, uint64_t *ret)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	*ret = st.st_ino;
	return 0;
}

struct held *held_find_file(struct daemon *d, uint64_t ino)
{
	struct held key = { .ino = ino };
	void **node = tfind(&key, &d->file_index, file_cmp);
	return node ? *node : NULL;
}

/* Into both indexes and the lists.  The caller took any other holder of
 * the id or of the socket out first. */
static int held_link(struct daemon *d, struct app *a, struct held *h)
{
	if (!tsearch(h, &a->index, held_cmp))
		return -ENOMEM;
	if (!tsearch(h, &d->file_index, file_cmp)) {
		tdelete(h, &a->index, held_cmp);
		return -ENOMEM;
	}
	TAILQ_INSERT_TAIL(&d->all, h, all);
	a->nheld++;
	d->nheld++;
	return 0;
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
	if (r == 0)
		r = socket_ino(fd, &desc.ino);
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
	h->ino = desc->ino;
	h->held_since = now_usec(CLOCK_REALTIME);
	h->owner = owner;
	h->kind = (uint8_t)desc->kind;
	h->family = (uint16_t)desc->family;
	h->sotype = (uint8_t)desc->sotype;
	h->state = BROKER_STATE_WATCHING;
	if (keepalive_sec && desc->kind != BROKER_KIND_LISTENER)   /* stored with the rest */
		h->deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t)keepalive_sec * 1000000u;

	struct held *old = held_find(a, id), *same = held_find_file(d, desc->ino);
	if (same && same != old) {
		close(fd);
		free(h);
		return -EEXIST;
	}
	/* The same socket again (a dup, or the fd of a hand-back not yet
	 * acknowledged): it is in the fd store already, under the old
	 * entry's name, and systemd would drop a second copy. */
	if (same)
		h->stored_as = old->stored_as;

	/* Durable first (fd store, metadata), then visible. */
	int r = store_put(d, h);
	if (r < 0) {
		close(fd);
		free(h);
		return r;
	}
	if (old) {
		log_full(LOG_DEBUG, a->id, id, 0, "replaced by a new transfer%s", same ? " of the same socket" : "");
		if (same)
			old->stored_as = 0;   /* its fd store entry is h's now */
		held_remove(d, old);
	}
	if (held_link(d, a, h) < 0) {
		store_del(d, h);
		close(fd);
		free(h);
		return -ENOMEM;
	}
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
	h->stored_as = e->stored_as;
	h->held_since = e->held_since;
	h->last_trigger = e->last_trigger;
	h->deadline = e->deadline;
	h->owner = e->owner;
	h->kind = e->kind;
	h->family = e->family;
	h->sotype = e->sotype;
	h->state = e->state;
	h->reason = e->reason;

	int r = socket_ino(held_fd(h), &h->ino);
	if (r < 0) {
		close(held_fd(h));
		free(h);
		return r;
	}
	struct held *old = held_find(a, held_id(h));
	if (old) {
		log_full(LOG_WARNING, a->id, held_id(h), 0, "stored twice; the later transfer wins");
		held_remove(d, old);
	}
	struct held *same = held_find_file(d, h->ino);
	if (same) {   /* the manager keeps one copy of a socket: never two entries */
		log_full(LOG_WARNING, same->app->id, held_id(same), 0, "the same socket as %s/%s; the later "
			 "transfer wins", a->id, held_id(h));
		held_remove(d, same);
	}
	if (held_link(d, a, h) < 0) {
		close(held_fd(h));
		free(h);
		return -ENOMEM;
	}
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
	if (held_find_file(d, h->ino) == h)
		tdelete(h, &d->file_index, file_cmp);
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
