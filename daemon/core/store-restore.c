/* SPDX-License-Identifier: MIT */
/*
 * Restore at start: match the held sockets in the buckets systemd passed
 * back in LISTEN_FDS (each keyed by the serial it was stored as), and any
 * a brokerd before buckets stored on their own (named by that serial),
 * with the registry log's entries, hold them again as they were, and start a fresh log with
 * a snapshot of the result.  A socket without metadata, or metadata
 * without a socket, is logged and dropped: it belongs to a transfer a
 * crash interrupted before brokerd acknowledged it, so the app still has
 * its own copy.  Two entries stored as one socket are a replace of the
 * same socket that a crash interrupted between its two records: the later
 * entry takes the socket.
 */
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core.h"
#include "held.h"
#include "log.h"
#include "store-private.h"
#include "util.h"

struct rentry {
	struct reglog_entry e;       /* strings point into data[], NUL-terminated */
	int fd;
	uint32_t bucket;             /* index + 1 of the bucket fd came from, 0 = stored on its own */
	bool superseded;             /* a later entry is stored as the same socket */
	char data[];
};

struct replay {
	void *tree;                  /* struct rentry * by serial */
	size_t n;
	struct rentry **list;        /* filled after the replay, by serial */
	size_t filled;
};

static int by_serial(const void *a, const void *b)
{
	uint64_t x = ((const struct rentry *)a)->e.serial, y = ((const struct rentry *)b)->e.serial;
	return x < y ? -1 : x > y;
}

/* By stored_as, then serial. */
static int by_stored_p(const void *a, const void *b)
{
	const struct rentry *x = *(const struct rentry *const *)a, *y = *(const struct rentry *const *)b;
	if (x->e.stored_as != y->e.stored_as)
		return x->e.stored_as < y->e.stored_as ? -1 : 1;
	return by_serial(x, y);
}

static struct rentry *find(struct replay *rp, uint64_t serial)
{
	struct rentry key = { .e.serial = serial };
	void **node = tfind(&key, &rp->tree, by_serial);
	return node ? *node : NULL;
}

static int on_put(void *ud, const struct reglog_entry *e)
{
	struct replay *rp = ud;
	struct rentry *r = calloc(1, sizeof(*r) + e->app_len + 1u + e->id_len + 1u + e->ctx_len);
	if (!r)
		return -ENOMEM;
	r->e = *e;
	r->fd = -1;
	char *p = r->data;
	memcpy(p, e->app_id, e->app_len);
	r->e.app_id = p;
	p += e->app_len + 1;
	memcpy(p, e->id, e->id_len);
	r->e.id = p;
	p += e->id_len + 1;
	if (e->ctx_len)
		memcpy(p, e->ctx, e->ctx_len);
	r->e.ctx = p;
	void **node = tsearch(r, &rp->tree, by_serial);
	if (!node) {
		free(r);
		return -ENOMEM;
	}
	if (*node != r) {   /* a serial is never put twice; keep the later one anyway */
		free(*node);
		*node = r;
	} else {
		rp->n++;
	}
	return 0;
}

static int on_update(void *ud, uint64_t serial, uint8_t state, uint8_t reason, uint64_t deadline,
		     uint64_t last_trigger)
{
	struct rentry *r = find(ud, serial);
	if (r) {
		r->e.state = state;
		r->e.reason = reason;
		r->e.deadline = deadline;
		r->e.last_trigger = last_trigger;
	}
	return 0;
}

static int on_remove(void *ud, uint64_t serial)
{
	struct replay *rp = ud;
	struct rentry *r = find(rp, serial);
	if (r) {
		tdelete(r, &rp->tree, by_serial);
		free(r);
		rp->n--;
	}
	return 0;
}

static void collect(const void *node, VISIT which, void *ud)
{
	struct replay *rp = ud;
	if (which == postorder || which == leaf)
		rp->list[rp->filled++] = *(struct rentry *const *)node;
}

static void drop_fd(int fd, const char *name, const char *why)
{
	log_warning("stored fd %s: %s; closed and removed from the fd store", name, why);
	close(fd);
	store_forget_name(name);
}

/* Hold one entry's socket again, in the state it was in. */
static void restore_one(struct daemon *d, struct rentry *r, unsigned *ret_pending)
{
	char name[12];
	store_fdname(r->e.stored_as, name);
	if (r->superseded) {
		log_full(LOG_DEBUG, r->e.app_id, r->e.id, 0, "replaced by a transfer of the same socket; dropped");
		return;
	}
	if (r->fd < 0) {
		log_full(LOG_NOTICE, r->e.app_id, r->e.id, 0, "metadata without a socket in the fd store "
			 "(a transfer or hand-back a crash interrupted); dropped");
		return;
	}
	struct app *a = app_get(d, r->e.app_id);
	struct held *h;
	int err = a ? held_restore(d, a, &r->e, r->fd, &h) : -ENOMEM;
	r->fd = -1;   /* consumed */
	if (err == 0)
		h->bucket = r->bucket;
	if (err < 0) {
		log_full(LOG_WARNING, r->e.app_id, r->e.id, 0, "cannot hold the stored socket again: %s; dropped",
			 strerror(-err));
		if (!r->bucket)
			store_forget_name(name);
		return;
	}
	/* held_restore() queued or watched it; the cycle starts the app. */
	if (h->state == BROKER_STATE_TRIGGERED)
		(*ret_pending)++;
}

static void close_bucket_fds(struct bucket_fds *bf)
{
	for (size_t i = 0; i < bf->n; i++)
		close(bf->v[i].fd);
	free(bf->v);
	free(bf->dead);
	*bf = (struct bucket_fds){ 0 };
}

/* Open the registry passed back, or start a new one and store it. */
static int open_registry(struct daemon *d, int fd, struct replay *rp)
{
	struct store *s = d->store;
	static const struct reglog_replay cb = { on_put, on_update, on_remove };
	if (fd >= 0) {
		int r = reglog_load(&s->log, fd, &cb, rp);
		if (r == 0) {
			if (s->log.dropped)
				log_notice("registry log: %llu byte(s) of an interrupted write after the last "
					   "complete record ignored", (unsigned long long)s->log.dropped);
			return 0;
		}
		if (r == -ENOMEM)
			return r;
		log_error_errno(r, "the registry's metadata cannot be read (%m): every stored socket is dropped");
		tdestroy(rp->tree, free);
		*rp = (struct replay){ 0 };
		store_forget_name(STORE_REGISTRY_NAME);
	}
	int r = reglog_create(&s->log);
	if (r < 0)
		return r;
	r = store_notify("FDSTORE=1\nFDNAME=" STORE_REGISTRY_NAME "\nFDPOLL=0", s->log.fd);
	if (r < 0)
		log_error("cannot put the registry in the fd store: %s; held sockets will not survive a restart",
			  strerror(-r));
	return 0;
}

/* The latest of the entries stored as key, or NULL.  byname is the
 * entries sorted by_stored_p. */
static struct rentry *latest(struct replay *rp, struct rentry **byname, uint64_t key)
{
	struct rentry k = { .e.stored_as = key, .e.serial = UINT64_MAX }, *kp = &k;
	size_t lo = 0, hi = rp->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (by_stored_p(&byname[mid], &kp) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && byname[lo - 1]->e.stored_as == key ? byname[lo - 1] : NULL;
}

static int by_key(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Give each fd to the latest entry stored as it; drop what matches
 * nothing.  Buckets first: a socket a crash left both in a bucket and on
 * its own (while moving in) is the bucket's.  A second copy of a key (a
 * bucket rewrite a crash interrupted) and a tombstoned key are closed. */
static void match_fds(struct replay *rp, struct rentry **byname, struct bucket_fds *bf, int *fds, char **names,
		      int nfds)
{
	for (size_t i = 0; i + 1 < rp->n; i++)
		if (byname[i]->e.stored_as == byname[i + 1]->e.stored_as)
			byname[i]->superseded = true;
	if (bf->ndead)
		qsort(bf->dead, bf->ndead, sizeof(*bf->dead), by_key);
	for (size_t i = 0; i < bf->n; i++) {
		struct bucket_fd *f = &bf->v[i];
		bool dead = bf->ndead && bsearch(&f->key, bf->dead, bf->ndead, sizeof(*bf->dead), by_key);
		struct rentry *found = dead ? NULL : latest(rp, byname, f->key);
		if (!found || found->fd >= 0) {
			close(f->fd);
			continue;
		}
		found->fd = f->fd;
		found->bucket = f->bucket;
	}
	for (int i = 0; i < nfds; i++) {
		uint64_t serial;
		if (fds[i] < 0)
			continue;
		if (store_serial_from_fdname(names[i], &serial) < 0) {
			drop_fd(fds[i], names[i], "not a name brokerd gives");
			continue;
		}
		struct rentry *found = latest(rp, byname, serial);
		if (!found || found->fd >= 0) {
			drop_fd(fds[i], names[i], found ? "stored twice" : "no metadata");
			continue;
		}
		found->fd = fds[i];
	}
}

int store_restore(struct daemon *d, int *fds, char **names, int nfds)
{
	if (!getenv("NOTIFY_SOCKET")) {
		/* No service manager: nothing to restore into, nowhere to store. */
		for (int i = 0; i < nfds; i++) {
			log_warning("passed fd %s without a service manager to store it in; closed", names[i]);
			close(fds[i]);
		}
		return 0;
	}
	store_fit_to_manager(d);
	struct store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->log.fd = -1;
	ev_init(&s->compact, NULL);
	d->store = s;
	s->bucket_budget = store_bucket_budget();
	store_audit_init(d);
	bucket_init(d);

	int regfd = -1;
	struct bucket_fds bf = { 0 };
	for (int i = 0; i < nfds; i++) {
		uint64_t gen;
		if (strcmp(names[i], STORE_REGISTRY_NAME) == 0) {
			if (regfd < 0)
				regfd = fds[i];
			else
				close(fds[i]);
			fds[i] = -1;
		} else if (bucket_gen_from_name(names[i], &gen) == 0) {
			int r = bucket_load(d, fds[i], gen, &bf);
			if (r < 0)
				log_error_errno(r, "stored fd %s: cannot read it (%m); the sockets in it are lost",
						names[i]);
			fds[i] = -1;
		}
	}
	struct replay rp = { 0 };
	int r = open_registry(d, regfd, &rp);
	if (r == 0 && rp.n && !(rp.list = calloc(rp.n, sizeof(*rp.list))))
		r = -ENOMEM;
	if (r < 0) {
		for (int i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		close_bucket_fds(&bf);
		tdestroy(rp.tree, free);
		return r;
	}
	struct rentry **byname = NULL;
	if (rp.n) {
		twalk_r(rp.tree, collect, &rp);
		if (!(byname = malloc(rp.n * sizeof(*byname)))) {
			for (int i = 0; i < nfds; i++)
				if (fds[i] >= 0)
					close(fds[i]);
			close_bucket_fds(&bf);
			tdestroy(rp.tree, free);
			free(rp.list);
			return -ENOMEM;
		}
		memcpy(byname, rp.list, rp.n * sizeof(*byname));
		qsort(byname, rp.n, sizeof(*byname), by_stored_p);
	}
	match_fds(&rp, byname, &bf, fds, names, nfds);
	free(byname);
	free(bf.v);
	free(bf.dead);

	unsigned pending = 0;
	for (size_t i = 0; i < rp.n; i++)
		restore_one(d, rp.list[i], &pending);
	if (s->log.next_serial > d->next_serial + 1)
		d->next_serial = s->log.next_serial - 1;
	tdestroy(rp.tree, free);
	free(rp.list);

	/* A fresh log: the torn tail, if any, and the old epoch are behind us. */
	r = store_compact_now(d);
	if (r < 0)
		log_error("held sockets will not survive a restart until brokerd is restarted");
	else
		s->ready = true;
	s->stored = d->nheld;   /* each restored one came back from the store */
	bucket_settle(d);
	store_tear_ready();
	if (rp.n)
		log_event(LOG_INFO, MSGID_RESTORED, 0, NULL, NULL, 0, "restored %u held socket(s) from the fd store, %u of them triggered and pending",
			  d->nheld, pending);
	return 0;
}
