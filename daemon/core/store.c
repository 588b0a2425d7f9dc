/* SPDX-License-Identifier: MIT */
/*
 * Durability at run time: each change to a held socket is one record in the
 * registry log, and each held socket one entry in systemd's fd store.
 * Order matters for what a crash at any point leaves behind:
 *   put:    the record, then FDSTORE.  A crash between the two leaves
 *           metadata without a socket, which the next start drops; the
 *           transfer was never acknowledged, so the app still has it.
 *   remove: FDSTOREREMOVE, then the record.  A crash between the two
 *           again leaves metadata without a socket: not handed back twice.
 * systemd keeps one copy of a socket: it drops, without a word, an FDSTORE
 * of a socket it stores already ("Suppressing duplicate fd").  So a socket
 * transferred again while its old entry is still held (a replace of the
 * same socket, a re-transfer read before the hand-back's ack) is not stored
 * again: the new entry takes over the old one's name (stored_as), and the
 * old one goes without an FDSTOREREMOVE.  Its record and the new one's
 * name the same stored socket; a crash between the two leaves both, and
 * restore takes the later.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "store-private.h"
#include "util.h"

static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

void store_fdname(uint64_t serial, char buf[static 12])
{
	char tmp[12];
	int n = 0;
	do {
		tmp[n++] = digits[serial & 63];
		serial >>= 6;
	} while (serial);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = 0;
}

int store_serial_from_fdname(const char *name, uint64_t *ret)
{
	size_t n = strlen(name);
	if (n == 0 || n > 11 || name[0] == '0')
		return -EINVAL;   /* serials start at 1: no leading zero digit */
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = memchr(digits, name[i], 64);
		if (!p || (v >> 58))
			return -EINVAL;
		v = (v << 6) | (uint64_t)(p - digits);
	}
	*ret = v;
	return 0;
}

static enum bucket_tear tear;
static bool tear_ready;          /* not in the restore that reads the hook */

int store_bucket_tear(const char *name)
{
	if (strcmp(name, "bucket-sent") == 0)
		tear = BUCKET_TEAR_SENT;
	else if (strcmp(name, "bucket-stored") == 0)
		tear = BUCKET_TEAR_STORED;
	else
		return -EINVAL;
	return 0;
}

void store_maybe_tear(enum bucket_tear at)
{
	if (tear == at && tear_ready)
		raise(SIGKILL);
}

void store_tear_ready(void)
{
	tear_ready = true;
}

void bucket_name(uint64_t gen, char buf[static BUCKET_NAME_MAX])
{
	memcpy(buf, "bucket.", 7);
	store_fdname(gen, buf + 7);
}

int bucket_gen_from_name(const char *name, uint64_t *ret)
{
	if (strncmp(name, "bucket.", 7) != 0)
		return -EINVAL;
	return store_serial_from_fdname(name + 7, ret);
}

bool store_owns_name(const char *name)
{
	uint64_t serial;
	return strcmp(name, STORE_REGISTRY_NAME) == 0 || bucket_gen_from_name(name, &serial) == 0 ||
	       store_serial_from_fdname(name, &serial) == 0;
}

int store_notify(const char *text, int fd)
{
	int r = sd_pid_notify_with_fds(0, 0, text, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
	return r < 0 ? r : 0;
}

void store_forget_name(const char *name)
{
	char text[64];
	snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	int r = store_notify(text, -1);
	if (r < 0)
		log_warning_errno(r, "cannot remove %s from the fd store: %m", name);
}

void store_entry_of(const struct held *h, struct reglog_entry *e)
{
	*e = (struct reglog_entry){
		.serial = h->serial, .stored_as = h->stored_as, .held_since = h->held_since, .last_trigger = h->last_trigger,
		.deadline = h->deadline, .keepalive_sec = h->keepalive_sec, .owner = h->owner,
		.kind = h->kind, .state = h->state, .reason = h->reason, .sotype = h->sotype,
		.family = h->family, .app_len = (uint16_t)strlen(h->app->id), .id_len = h->id_len,
		.ctx_len = h->ctx_len, .app_id = h->app->id, .id = held_id(h), .ctx = held_ctx(h),
	};
}

static size_t put_size(const struct held *h)
{
	return reglog_put_size(strlen(h->app->id), h->id_len, h->ctx_len);
}

struct walk {
	struct held *next;
};

static int each_held(void *ud, struct reglog_entry *e)
{
	struct walk *w = ud;
	if (!w->next)
		return 0;
	store_entry_of(w->next, e);
	w->next = TAILQ_NEXT(w->next, all);
	return 1;
}

int store_compact_now(struct daemon *d)
{
	struct store *s = d->store;
	struct walk w = { TAILQ_FIRST(&d->all) };
	int r = reglog_compact(&s->log, d->next_serial + 1, each_held, &w);
	if (r < 0) {
		log_error_errno(r, "cannot compact the registry log: %m");
		return r;
	}
	s->compactions++;
	return 0;
}

static void on_compact(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	store_compact_now(ev_userdata(loop));
}

/* Not inside a put or a remove: the socket in question is not yet, or
 * still, in d->all. */
static void maybe_compact(struct daemon *d)
{
	struct store *s = d->store;
	if (!reglog_wants_compaction(&s->log) || ev_is_active(&s->compact))
		return;
	ev_timer_init(&s->compact, on_compact, 0., 0.);
	ev_timer_start(d->loop, &s->compact);
}

/* An fd store entry of its own, named by h's key: past the bucket budget. */
static int store_alone(struct held *h)
{
	char name[12], text[64];
	store_fdname(h->stored_as, name);
	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
	return store_notify(text, held_fd(h));
}

int store_put(struct daemon *d, struct held *h)
{
	struct store *s = d->store;
	if (!s || !s->ready)
		return 0;
	bool carried = h->stored_as != 0;
	if (!carried)
		h->stored_as = h->serial;
	struct reglog_entry e;
	store_entry_of(h, &e);
	int r = reglog_put(&s->log, &e);
	if (r < 0) {
		log_full_errno(LOG_ERR, r, h->app->id, held_id(h), 0, "cannot record the socket's metadata: %m");
		goto fail;
	}
	if (!carried) {
		r = bucket_total(s) < s->bucket_budget ? bucket_add(d, h) : store_alone(h);
		if (r < 0) {
			log_full_errno(LOG_ERR, r, h->app->id, held_id(h), 0, "cannot put the socket in the fd store: %m");
			reglog_remove(&s->log, h->serial, put_size(h));
			goto fail;
		}
		s->stored++;
	}
	maybe_compact(d);
	store_audit_soon(d);
	return 0;
fail:
	if (!carried)
		h->stored_as = 0;
	return r;
}

void store_carry(struct daemon *d, struct held *h)
{
	if (d->store && h->stored_as && h->bucket)
		bucket_carry(d, h);
}

void store_update(struct daemon *d, struct held *h)
{
	struct store *s = d->store;
	if (!s || !s->ready)
		return;
	int r = reglog_update(&s->log, h->serial, h->state, h->reason, h->deadline, h->last_trigger);
	if (r < 0)
		log_full_errno(LOG_ERR, r, h->app->id, held_id(h), 0, "cannot record a state change: %m");
	maybe_compact(d);
}

void store_del(struct daemon *d, struct held *h)
{
	struct store *s = d->store;
	if (!s)
		return;
	if (h->stored_as) {
		if (h->bucket) {
			bucket_drop(d, h);
		} else {   /* stored on its own by a brokerd before buckets */
			char name[12];
			store_fdname(h->stored_as, name);
			store_forget_name(name);
		}
		h->stored_as = 0;
		if (s->stored)
			s->stored--;
	}
	if (!s->ready)
		return;
	int r = reglog_remove(&s->log, h->serial, put_size(h));
	if (r < 0)
		log_full_errno(LOG_ERR, r, h->app->id, held_id(h), 0, "cannot record the removal: %m");
	maybe_compact(d);
	store_audit_soon(d);
}

void store_counts(const struct daemon *d, uint32_t *ret_stored, uint32_t *ret_lost)
{
	const struct store *s = d->store;
	*ret_stored = s ? s->stored : UINT32_MAX;
	*ret_lost = s ? s->lost : 0;
}

unsigned bucket_total(const struct store *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->table_size; i++)
		n += s->buckets[i] ? s->buckets[i]->live : 0;
	return n;
}

static void buckets_free(struct daemon *d)
{
	struct store *s = d->store;
	ev_timer_stop(d->loop, &s->rewrite);
	for (unsigned i = 0; i < s->table_size; i++)
		if (s->buckets[i]) {
			close(s->buckets[i]->rfd);
			if (s->buckets[i]->sfd >= 0)
				close(s->buckets[i]->sfd);
			free(s->buckets[i]);
		}
	free(s->buckets);
	s->buckets = NULL;
	s->table_size = s->nbuckets = s->open = 0;
}

void store_free(struct daemon *d)
{
	struct store *s = d->store;
	if (!s)
		return;
	store_audit_done(d);
	buckets_free(d);
	ev_timer_stop(d->loop, &s->compact);
	reglog_close(&s->log);
	free(s);
	d->store = NULL;
}
