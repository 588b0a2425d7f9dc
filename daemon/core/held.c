/* SPDX-License-Identifier: MIT */
/* Held sockets: lookup by id, and making them (held.h). */
#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "held.h"
#include "lifecycle.h"
#include "log.h"
#include "reglog.h"
#include "util.h"

int held_cmp(const void *a, const void *b)
{
	return strcmp(held_id(a), held_id(b));
}

int held_file_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct held *)a)->ino, y = ((const struct held *)b)->ino;
	return x < y ? -1 : x > y;
}

int held_serial_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct held *)a)->serial, y = ((const struct held *)b)->serial;
	return x < y ? -1 : x > y;
}

struct held *held_find_inflight(struct app *a, uint64_t serial)
{
	struct held key = { .serial = serial };
	void **node = tfind(&key, &a->inflight_index, held_serial_cmp);
	return node ? *node : NULL;
}

int held_ino(int fd, uint64_t *ret)
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
	void **node = tfind(&key, &d->file_index, held_file_cmp);
	return node ? *node : NULL;
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
	struct sock_facts f;
	int r = sock_facts_get(fd, &f);
	if (r < 0) {
		close(fd);
		return r;
	}
	struct identity who = { .uid = owner };
	return held_add_facts(d, a, id, fd, &f, 0, ctx, ctx_len, keepalive_sec, &who, ret);
}

int held_add_facts(struct daemon *d, struct app *a, const char *id, int fd, const struct sock_facts *f,
		   uint64_t ino, const void *ctx, uint32_t ctx_len, uint32_t keepalive_sec,
		   const struct identity *who, struct held **ret)
{
	int kind = sock_facts_kind(f);
	int r = kind < 0 ? kind : ino ? 0 : held_ino(fd, &ino);
	struct held *h = r < 0 ? NULL : held_alloc(id, strlen(id), ctx, ctx_len, keepalive_sec);
	if (!h) {
		close(fd);
		return r < 0 ? r : -ENOMEM;
	}
	/* One socket, one entry: the fd store keeps one copy of a socket. */
	struct held *old = held_find(a, id), *same = held_find_file(d, ino);
	if (same && same != old) {
		close(fd);
		free(h);
		return -EEXIST;
	}
	/* The same socket again (a dup, or the fd of a hand-back not yet
	 * acknowledged): it is in the fd store already, under the old
	 * entry's name, and systemd would drop a second copy. */
	if (same) {
		h->stored_as = old->stored_as;
		h->bucket = old->bucket;
	}
	h->ino = ino;
	h->fd = fd;
	h->app = a;
	h->serial = ++d->next_serial;
	h->held_since = now_usec(CLOCK_REALTIME);
	h->owner = who->uid;
	h->kind = (uint8_t)kind;
	h->family = (uint16_t)f->family;
	h->sotype = (uint8_t)f->sotype;
	if (keepalive_sec && kind != BROKER_KIND_LISTENER)   /* stored with the rest */
		h->deadline = now_usec(CLOCK_MONOTONIC) + (uint64_t)keepalive_sec * 1000000u;
	r = lifecycle_hold(d, h, old, who->pid);
	if (r < 0)
		return r;
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

	int r = held_ino(held_fd(h), &h->ino);
	if (r < 0) {
		close(held_fd(h));
		free(h);
		return r;
	}
	struct held *old = held_find(a, held_id(h));
	if (old) {
		log_full(LOG_WARNING, a->id, held_id(h), 0, "stored twice; the later transfer wins");
		lifecycle_remove(d, &(struct event){ .type = EVENT_REMOVED, .held = old });
	}
	struct held *same = held_find_file(d, h->ino);
	if (same) {   /* the manager keeps one copy of a socket: never two entries */
		log_full(LOG_WARNING, same->app->id, held_id(same), 0, "the same socket as %s/%s; the later "
			 "transfer wins", a->id, held_id(h));
		lifecycle_remove(d, &(struct event){ .type = EVENT_REMOVED, .held = same });
	}
	r = lifecycle_restore(d, h);
	if (r < 0)
		return r;
	*ret = h;
	return 0;
}

unsigned held_count_state(struct daemon *d, int state)
{
	unsigned n = 0;
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all)
		n += h->state == state;
	return n;
}

#define NDROPPED (sizeof(((struct daemon *)0)->dropped) / sizeof(uint64_t))

static int socket_cookie(int fd, uint64_t *ret)
{
	socklen_t len = sizeof(*ret);
	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, ret, &len) < 0 ? -errno : 0;
}

void held_remember_dropped(struct daemon *d, int fd)
{
	uint64_t cookie;
	if (socket_cookie(fd, &cookie) == 0)
		d->dropped[d->ndropped++ % NDROPPED] = cookie;
}

bool held_dropped_before(const struct daemon *d, int fd)
{
	uint64_t cookie;
	if (!d->ndropped || socket_cookie(fd, &cookie) < 0)
		return false;   /* nothing dropped yet: no syscall on the common path */
	for (size_t i = 0; i < NDROPPED && i < d->ndropped; i++)
		if (d->dropped[i] == cookie)
			return true;
	return false;
}
