/* SPDX-License-Identifier: MIT */
/*
 * Buckets at a start and at the end (store-bucket.c describes them): the
 * limits they set, and reading them back.  Every message
 * of a stored bucket is read with MSG_PEEK from offset 0 (SO_PEEK_OFF), so
 * the kernel gives brokerd a copy of each fd and the bucket stays whole in
 * the fd store: a crash during the restore loses nothing.  Then the slots
 * no restored socket has are marked gone, to be rewritten away.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-login.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "store-private.h"
#include "util.h"

static int push(struct bucket_fds *out, int fd, uint32_t bucket, uint64_t key)
{
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 256;
		struct bucket_fd *v = realloc(out->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		out->v = v;
		out->cap = cap;
	}
	out->v[out->n++] = (struct bucket_fd){ fd, bucket, key };
	return 0;
}

static int push_dead(struct bucket_fds *out, uint64_t key)
{
	if (out->ndead == out->dead_cap) {
		size_t cap = out->dead_cap ? out->dead_cap * 2 : 64;
		uint64_t *v = realloc(out->dead, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		out->dead = v;
		out->dead_cap = cap;
	}
	out->dead[out->ndead++] = key;
	return 0;
}

/* The next message's fds (at most BUCKET_MAX, *ret_n of them) and keys,
 * and its tombstones into out.  Returns 1, 0 at the end, -EBADMSG for a
 * message that is not a whole bucket message (its fds closed), -ENOMEM, or
 * recvmsg()'s errno. */
static int peek_one(int rfd, int *fds, uint64_t *keys, int *ret_n, struct bucket_fds *out)
{
	union {
		struct bucket_msg h;
		uint8_t raw[sizeof(struct bucket_msg) + (BUCKET_MAX + 1) * sizeof(uint64_t)];
	} u;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * BUCKET_MAX)];
	} control;
	struct iovec iov = { .iov_base = &u, .iov_len = sizeof(u) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	ssize_t len = recvmsg(rfd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (len < 0)
		return errno == EAGAIN ? 0 : -errno;
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k && n < BUCKET_MAX; i++)
				memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	if ((mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || (size_t)len < sizeof(u.h) || u.h.magic != BUCKET_MAGIC ||
	    u.h.nfds != n || u.h.nfds + u.h.ndead > BUCKET_MAX + 1 ||
	    (size_t)len != sizeof(u.h) + (size_t)(u.h.nfds + u.h.ndead) * sizeof(uint64_t)) {
		for (int i = 0; i < n; i++)
			close(fds[i]);
		return -EBADMSG;
	}
	memcpy(keys, u.h.keys, (size_t)n * sizeof(uint64_t));
	for (unsigned i = 0; i < u.h.ndead; i++)
		if (push_dead(out, u.h.keys[n + i]) < 0) {
			for (int k = 0; k < n; k++)
				close(fds[k]);
			return -ENOMEM;
		}
	*ret_n = n;
	return 1;
}

int bucket_load(struct daemon *d, int rfd, uint64_t gen, struct bucket_fds *out)
{
	struct store *s = d->store;
	int off = 0;
	if (setsockopt(rfd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) < 0) {
		int r = -errno;
		close(rfd);
		return r;
	}
	unsigned idx;
	int r = bucket_insert(s, rfd, -1, gen, &idx);
	if (r < 0)
		return r;
	if (gen > s->bucket_gen)
		s->bucket_gen = gen;
	struct bucket *b = s->buckets[idx];
	int fds[BUCKET_MAX];
	uint64_t keys[BUCKET_MAX];
	char name[BUCKET_NAME_MAX];
	bucket_name(gen, name);
	/* Bounded even if a bad message did not move the peek offset on. */
	for (int round = 0; round < 64 * BUCKET_MAX; round++) {
		int n = 0;
		size_t ndead = out->ndead;
		r = peek_one(rfd, fds, keys, &n, out);
		if (out->ndead > ndead)
			b->foreign = b->dirty = true;   /* whose they are is not known: keep them to the last */
		if (r == 0)
			break;
		if (r < 0) {
			log_error_errno(r, "stored fd %s: cannot read a message in it (%m); the sockets in it "
					"are lost", name);
			if (r == -EBADMSG)
				continue;
			break;   /* -ENOMEM, or the socket itself fails */
		}
		for (int i = 0; i < n; i++) {
			if (b->used == BUCKET_MAX || !keys[i] || push(out, fds[i], idx + 1, keys[i]) < 0) {
				close(fds[i]);
				b->dirty = true;
				continue;
			}
			b->slot[b->used++] = (struct bslot){ keys[i], NULL };
		}
	}
	off = -1;
	(void)setsockopt(rfd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off));
	return 0;
}

/* Each restored socket claims its slot; what no socket claimed
 * is gone. */
static void claim_slots(struct daemon *d)
{
	struct store *s = d->store;
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all) {
		struct bucket *b = h->bucket && h->bucket <= s->table_size ? s->buckets[h->bucket - 1] : NULL;
		unsigned i = 0;
		while (b && i < b->used && (b->slot[i].key != h->stored_as || b->slot[i].h))
			i++;
		if (b && i < b->used)
			b->slot[i].h = h;
		else
			h->bucket = 0;
	}
	for (unsigned k = 0; k < s->table_size; k++) {
		struct bucket *b = s->buckets[k];
		if (!b)
			continue;
		b->live = 0;
		for (unsigned i = 0; i < b->used; i++)
			b->live += b->slot[i].h != NULL;
		if (b->live < b->used)
			b->dirty = true;
	}
}

void bucket_settle(struct daemon *d)
{
	struct store *s = d->store;
	claim_slots(d);
	/* The emptiest bucket takes appends again, once rewritten as a new
	 * socketpair whose sending end brokerd has. */
	unsigned best = 0;
	for (unsigned k = 0; k < s->table_size; k++) {
		struct bucket *b = s->buckets[k];
		if (b && b->live < BUCKET_MAX && (!best || b->live < s->buckets[best - 1]->live))
			best = k + 1;
	}
	if (best)
		s->buckets[best - 1]->dirty = true;
	bucket_rewrite_dirty(d);
	/* Sockets a brokerd before buckets stored on their own move in; their
	 * old entries go once the bucket has them. */
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all) {
		if (!h->stored_as || h->bucket || bucket_total(s) >= s->bucket_budget)
			continue;
		char name[12];
		store_fdname(h->stored_as, name);
		int r = bucket_add(d, h);
		if (r < 0)
			log_full_errno(LOG_WARNING, r, h->app->id, held_id(h), 0,
				       "cannot move the stored socket into a bucket (%m); it stays stored as %s", name);
		else
			store_forget_name(name);
	}
}

/* The service manager keeps every stored fd open itself, and must find
 * room to move them all to 3, 4, ... when it starts brokerd again; with
 * buckets that is one fd per bucket.  Held sockets are in flight in the
 * buckets, and the kernel refuses (ETOOMANYREFS) to let a user without
 * CAP_SYS_RESOURCE have more fds in flight than its RLIMIT_NOFILE: keep
 * room for rewrites (a bucket is in flight twice while it is rewritten),
 * for the buckets' own fds and for transfers on their way.  Then say if
 * the store is too small, where systemd tells (254 and later set
 * $FDSTORE; 252 silently drops what does not fit). */
void store_fit_to_manager(struct daemon *d)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		unsigned long margin = 4 * BUCKET_MAX + rl.rlim_cur / 64;
		unsigned cap = rl.rlim_cur > 2 * margin ? (unsigned)(rl.rlim_cur - margin) : (unsigned)(rl.rlim_cur / 2);
		if (d->cfg.max_held > cap) {
			log_warning("max-held lowered from %u to %u, the fd limit less room for the fd store's "
				    "buckets and their rewrites", d->cfg.max_held, cap);
			d->cfg.max_held = cap;
		}
		if (d->cfg.max_held_per_app > d->cfg.max_held)
			d->cfg.max_held_per_app = d->cfg.max_held;
	}
	const char *fdstore = getenv("FDSTORE");
	unsigned long room = fdstore ? strtoul(fdstore, NULL, 10) : 0;
	unsigned want = d->cfg.max_held / (BUCKET_MAX / 4) + 2;
	if (fdstore && room < want)
		log_warning("FileDescriptorStoreMax=%lu is below %u, enough for the registry and the buckets of "
			    "max-held (%u) sockets: held sockets beyond it will not survive a restart", room, want,
			    d->cfg.max_held);
}

/* Fds in flight count against the user who sent them, and the kernel
 * refuses every process of that user without CAP_SYS_RESOURCE an fd
 * passing (ETOOMANYREFS) while the user has more in flight than the
 * process's own RLIMIT_NOFILE, often 1024.  A user instance runs as the
 * user of its apps and of everything else in the session: there, at most
 * STORE_USER_BUDGET held sockets go in buckets, the rest in fd store
 * entries of their own.  Root (whose processes the limit does not bind)
 * and a system instance's own user have no such budget. */
unsigned store_bucket_budget(void)
{
	char *unit = NULL;
	if (geteuid() == 0)
		return UINT_MAX;
	bool user = sd_pid_get_user_unit(0, &unit) >= 0;
	free(unit);
	return user ? STORE_USER_BUDGET : UINT_MAX;
}
