/* SPDX-License-Identifier: MIT */
/*
 * Buckets: held sockets kept in flight in AF_UNIX datagram socketpairs, so
 * that systemd's fd store holds one fd per bucket (up to BUCKET_MAX held
 * sockets), not one per socket (docs/systemd.md says why).  A bucket's
 * receiving end is in the fd store under "bucket.GEN"; each message in it
 * carries fds with their keys (the serial each socket is stored as).
 *   put:     one message with the new socket, appended to the open bucket
 *            (durable at once: the stored receiving end queues it).
 *   remove:  the slot is dead at once; the bucket is rewritten on the next
 *            loop iteration (a new socketpair with the live fds, stored,
 *            then the old one removed), so the socket's last copy goes
 *            and its peer sees the close.  A crash in between leaves both
 *            buckets stored: a superset, which restore de-duplicates by key.
 *   restore: MSG_PEEK with SO_PEEK_OFF reads every message without taking
 *            it, so the stored buckets stay whole until rewritten.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "store-private.h"
#include "util.h"
#include "wire.h"

#define BUCKET_SNDBUF (1 << 20)    /* the kernel caps it at wmem_max */
#define BUCKET_COALESCE 0.005      /* s: removals in this time share a rewrite */
#define BUCKET_RETRY 1.0           /* s before a rewrite that failed is tried again */
#define BUCKET_MERGE (BUCKET_MAX / 4)   /* fewer live slots: move them to the open bucket */

static int close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
	return -1;
}

static void forget(struct store *s, unsigned idx)
{
	struct bucket *b = s->buckets[idx];
	char name[BUCKET_NAME_MAX];
	bucket_name(b->gen, name);
	store_forget_name(name);
	close_fd(b->rfd);
	close_fd(b->sfd);
	free(b);
	s->buckets[idx] = NULL;
	s->nbuckets--;
	if (s->open == idx + 1)
		s->open = 0;
}

/* A new socketpair, its receiving end stored under a new name. */
static int pair_new(struct store *s, int *ret_rfd, int *ret_sfd, uint64_t *ret_gen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	int size = BUCKET_SNDBUF;
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	*ret_rfd = sv[0];
	*ret_sfd = sv[1];
	*ret_gen = ++s->bucket_gen;
	return 0;
}

int bucket_pair_store(int rfd, uint64_t gen)
{
	char name[BUCKET_NAME_MAX], text[64];
	bucket_name(gen, name);
	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
	return store_notify(text, rfd);
}

/* One message: n fds with their keys, then ndead tombstones. */
static int send_msg(int sfd, const int *fds, const uint64_t *keys, unsigned n, const uint64_t *dead,
		    unsigned ndead)
{
	union {
		struct bucket_msg m;
		uint8_t raw[sizeof(struct bucket_msg) + (BUCKET_MAX + 1) * sizeof(uint64_t)];
	} u;
	u.m = (struct bucket_msg){ .magic = BUCKET_MAGIC, .nfds = (uint16_t)n, .ndead = (uint16_t)ndead };
	if (n)
		memcpy(u.m.keys, keys, n * sizeof(uint64_t));
	if (ndead)
		memcpy(u.m.keys + n, dead, ndead * sizeof(uint64_t));
	return bp_send_any(sfd, &u, sizeof(u.m) + (n + ndead) * sizeof(uint64_t), fds, n, MSG_DONTWAIT);
}

static int send_fds(int sfd, const int *fds, const uint64_t *keys, unsigned n)
{
	return send_msg(sfd, fds, keys, n, NULL, 0);
}

static int slot_of(const struct bucket *b, uint64_t key)
{
	for (unsigned i = 0; i < b->used; i++)
		if (b->slot[i].key == key && b->slot[i].h)
			return (int)i;
	return -1;
}

/* A free place in the table, growing it. */
static int table_place(struct store *s, unsigned *ret)
{
	for (unsigned i = 0; i < s->table_size; i++)
		if (!s->buckets[i]) {
			*ret = i;
			return 0;
		}
	unsigned size = s->table_size ? s->table_size * 2 : 16;
	struct bucket **t = realloc(s->buckets, size * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + s->table_size, 0, (size - s->table_size) * sizeof(*t));
	*ret = s->table_size;
	s->buckets = t;
	s->table_size = size;
	return 0;
}

/* A bucket in the table: rfd and sfd are consumed. */
int bucket_insert(struct store *s, int rfd, int sfd, uint64_t gen, unsigned *ret_idx)
{
	unsigned idx;
	struct bucket *b = calloc(1, sizeof(*b));
	int r = b ? table_place(s, &idx) : -ENOMEM;
	if (r < 0) {
		free(b);
		close_fd(rfd);
		close_fd(sfd);
		return r;
	}
	b->rfd = rfd;
	b->sfd = sfd;
	b->gen = gen;
	s->buckets[idx] = b;
	s->nbuckets++;
	*ret_idx = idx;
	return 0;
}

static int open_new(struct store *s)
{
	int rfd = -1, sfd = -1;
	uint64_t gen = 0;
	unsigned idx;
	int r = pair_new(s, &rfd, &sfd, &gen);
	if (r < 0)
		return r;
	r = bucket_pair_store(rfd, gen);
	if (r < 0) {
		close(rfd);
		close(sfd);
		return r;
	}
	r = bucket_insert(s, rfd, sfd, gen, &idx);
	if (r < 0)
		return r;
	s->open = idx + 1;
	return 0;
}

/* Append fds (with their keys) to the open bucket, opening one if there is
 * none or it has no room for n more; *ret_idx is its place. */
static int append(struct store *s, const int *fds, const uint64_t *keys, struct held *const *hs, unsigned n,
		  unsigned *ret_idx)
{
	for (int attempt = 0;; attempt++) {
		struct bucket *b = s->open ? s->buckets[s->open - 1] : NULL;
		if (!b || b->sfd < 0 || b->used + n > BUCKET_MAX) {
			s->open = 0;   /* it keeps its sending end, for tombstones */
			int r = open_new(s);
			if (r < 0)
				return r;
			b = s->buckets[s->open - 1];
		}
		int r = send_fds(b->sfd, fds, keys, n);
		if (r == 0) {
			for (unsigned i = 0; i < n; i++)
				b->slot[b->used++] = (struct bslot){ keys[i], hs[i] };
			b->live += n;
			*ret_idx = s->open - 1;
			return 0;
		}
		/* Its send buffer is full: take a new one, once. */
		if ((r != -EAGAIN && r != -ENOBUFS) || attempt)
			return r;
		unsigned idx = s->open - 1;
		s->open = 0;
		if (!b->live)
			forget(s, idx);
	}
}

int bucket_add(struct daemon *d, struct held *h)
{
	int fd = held_fd(h);
	unsigned idx;
	int r = append(d->store, &fd, &h->stored_as, &h, 1, &idx);
	if (r == 0)
		h->bucket = idx + 1;
	return r;
}

void bucket_schedule(struct daemon *d, double after)
{
	struct store *s = d->store;
	if (ev_is_active(&s->rewrite))
		return;
	ev_timer_set(&s->rewrite, after, 0.);
	ev_timer_start(d->loop, &s->rewrite);
}

void bucket_carry(struct daemon *d, struct held *h)
{
	struct store *s = d->store;
	struct bucket *b = h->bucket && h->bucket <= s->table_size ? s->buckets[h->bucket - 1] : NULL;
	int i = b ? slot_of(b, h->stored_as) : -1;
	if (i >= 0)
		b->slot[i].h = h;
}

/* A tombstone for key: into its own bucket b if it can, else into the
 * open bucket or a new one, which then must outlive b's gone slots. */
static int tombstone(struct store *s, struct bucket *b, uint64_t key)
{
	if (b->sfd >= 0 && send_msg(b->sfd, NULL, NULL, 0, &key, 1) == 0)
		return 0;
	struct bucket *o = s->open ? s->buckets[s->open - 1] : NULL;
	int r = o && o != b && o->sfd >= 0 ? send_msg(o->sfd, NULL, NULL, 0, &key, 1) : -EBADF;
	if (r < 0) {
		r = open_new(s);
		o = r == 0 ? s->buckets[s->open - 1] : NULL;
		r = o ? send_msg(o->sfd, NULL, NULL, 0, &key, 1) : r;
	}
	if (r == 0)
		o->foreign = true;
	return r;
}

void bucket_drop(struct daemon *d, struct held *h)
{
	struct store *s = d->store;
	unsigned idx = h->bucket - 1;
	struct bucket *b = idx < s->table_size ? s->buckets[idx] : NULL;
	int i = b ? slot_of(b, h->stored_as) : -1;
	h->bucket = 0;
	if (i < 0)
		return;
	b->slot[i].h = NULL;
	b->live--;
	b->dirty = true;
	if (!b->live && !b->foreign && s->open != idx + 1) {
		forget(s, idx);
		return;
	}
	/* Gone for good before the removal's record is written, as a socket
	 * removed from the fd store was: a crash now does not bring it back. */
	int r = tombstone(s, b, h->stored_as);
	if (r < 0)
		log_full_errno(LOG_WARNING, r, h->app->id, held_id(h), 0, "fd store: no tombstone for the socket "
			       "(%m); a crash before its bucket is rewritten would hold it again");
	bucket_schedule(d, BUCKET_COALESCE);
}

/* The live slots' fds, keys and held sockets. */
static unsigned live_fds(struct bucket *b, int *fds, uint64_t *keys, struct held **hs)
{
	unsigned n = 0;
	for (unsigned i = 0; i < b->used; i++) {
		struct held *h = b->slot[i].h;
		if (!h || h->stored_as != b->slot[i].key)
			continue;
		fds[n] = held_fd(h);
		keys[n] = b->slot[i].key;
		hs[n++] = h;
	}
	return n;
}

static void point_to(struct held *const *hs, unsigned n, unsigned idx)
{
	for (unsigned i = 0; i < n; i++)
		hs[i]->bucket = idx + 1;
}

/* A new bucket with the live slots, stored, then the old one removed; a
 * sparse sealed bucket goes into the open one instead. */
static int rewrite(struct daemon *d, unsigned idx)
{
	struct store *s = d->store;
	struct bucket *b = s->buckets[idx];
	int fds[BUCKET_MAX];
	uint64_t keys[BUCKET_MAX];
	struct held *hs[BUCKET_MAX];
	unsigned n = live_fds(b, fds, keys, hs);
	if (!n) {
		forget(s, idx);
		return 0;
	}
	if (s->open != idx + 1 && n <= BUCKET_MERGE && s->open) {
		struct bucket *o = s->buckets[s->open - 1];
		unsigned to;
		if (o->used + n <= BUCKET_MAX && append(s, fds, keys, hs, n, &to) == 0) {
			store_maybe_tear(BUCKET_TEAR_SENT);
			point_to(hs, n, to);
			forget(s, idx);
			return 0;
		}
	}
	int rfd = -1, sfd = -1;
	uint64_t gen = 0;
	int r = pair_new(s, &rfd, &sfd, &gen);
	if (r < 0)
		return r;
	r = send_fds(sfd, fds, keys, n);
	if (r == 0) {
		store_maybe_tear(BUCKET_TEAR_SENT);
		r = bucket_pair_store(rfd, gen);
	}
	if (r < 0) {
		close(rfd);
		close(sfd);
		return r;
	}
	store_maybe_tear(BUCKET_TEAR_STORED);
	char name[BUCKET_NAME_MAX];
	bucket_name(b->gen, name);
	store_forget_name(name);
	close(b->rfd);
	close_fd(b->sfd);
	b->rfd = rfd;
	b->sfd = sfd;
	b->gen = gen;
	b->used = b->live = (uint16_t)n;
	b->dirty = b->foreign = false;
	if (!s->open && n < BUCKET_MAX)
		s->open = idx + 1;   /* it has room: appends go here */
	for (unsigned i = 0; i < n; i++)
		b->slot[i] = (struct bslot){ keys[i], hs[i] };
	return 0;
}

void bucket_rewrite_dirty(struct daemon *d)
{
	struct store *s = d->store;
	int failed = 0, first = 0;
	bool left = false;
	/* A bucket with foreign tombstones last, and only once every other
	 * gone slot is out of its bucket: then its tombstones are moot. */
	for (int pass = 0; pass < 2 && !(pass && left); pass++)
		for (unsigned i = 0; i < s->table_size; i++) {
			struct bucket *b = s->buckets[i];
			if (!b || !b->dirty || b->foreign != (pass == 1))
				continue;
			int r = rewrite(d, i);
			if (r < 0) {
				left = true;
				if (!failed++)
					first = r;
			}
		}
	if (failed) {
		log_warning_errno(first, "fd store: cannot rewrite %d bucket(s) (%m); their removed sockets stay "
				  "open until a retry succeeds", failed);
		bucket_schedule(d, BUCKET_RETRY);
	} else if (left) {
		bucket_schedule(d, BUCKET_COALESCE);
	}
}

static void on_rewrite(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	bucket_rewrite_dirty(ev_userdata(loop));
}

void bucket_init(struct daemon *d)
{
	ev_init(&d->store->rewrite, on_rewrite);
}
