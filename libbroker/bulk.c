/* SPDX-License-Identifier: MIT */
/* The bulk verbs: TRANSFER_MANY and CLAIM_MANY, split into messages of at
 * most BP_FDS_MAX sockets and BP_MSG_MAX bytes, and their RESULTS. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "client.h"
#include "util.h"
#include "wire.h"

/* What a request's items field may hold: the header, the fixed part and
 * the field's length take the rest of a message. */
#define ITEMS_ROOM (BP_MSG_MAX - sizeof(struct bp_header) - sizeof(struct bp_many) - sizeof(uint32_t))

static const uint8_t transfer_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };
static const uint8_t claim_kind[] = { BP_ITEM_STR };
static const uint8_t result_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES, BP_ITEM_STR };

/* A growing array of results. */
struct list {
	broker_result *r;
	size_t n, cap;
};

static int list_add(struct list *l, const char *id, int error, const char *message)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		broker_result *r = realloc(l->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		l->r = r;
		l->cap = cap;
	}
	char *i = strdup(id), *m = strdup(error && !*message ? broker_strerror(error) : message);
	if (!i || !m) {
		free(i);
		free(m);
		return -ENOMEM;
	}
	l->r[l->n++] = (broker_result){ .id = i, .error = error, .message = m, .fd = -1 };
	return 0;
}

broker_result *broker_results_free(broker_result *results, size_t n)
{
	if (!results)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		free((void *)results[i].id);
		free((void *)results[i].message);
		broker_info_free(results[i].info);
	}
	free(results);
	return NULL;
}

/* Read RESULTS for the current request until the last; add(each) sees
 * every result with its socket (or -1).  0, or a negative errno of the
 * connection or the protocol.  A BP_ERROR for the whole request is its
 * errno, and no result was seen. */
typedef int result_fn(broker *b, const struct bp_result *head, const struct bp_field f[3], int fd, void *u);

static int read_results(broker *b, int r, result_fn *add, void *u)
{
	for (;;) {
		if (r < 0)
			return r;
		if (b->reply.type != BP_RESULTS) {
			bp_msg_close_fds(&b->reply);
			return -EPROTO;
		}
		struct bp_result head;
		struct bp_field f[3];
		size_t off = 0;
		unsigned count = 0, fdi = 0;
		while ((r = bp_item_get(&b->reply.field[0], &off, &head, sizeof(head), f, result_kind, 3)) == 0) {
			int fd = -1;
			if (head.nfds > 1 || (head.nfds && fdi == b->reply.nfds)) {
				r = -EPROTO;
				break;
			}
			if (head.nfds) {
				fd = b->reply.fds[fdi];
				b->reply.fds[fdi++] = -1;
			}
			count++;
			r = add(b, &head, f, fd, u);
			if (r < 0)
				break;
		}
		if (r < 0 || count != b->reply.u.many.count || fdi != b->reply.nfds) {
			bp_msg_close_fds(&b->reply);
			return r < 0 ? r : -EPROTO;
		}
		if (!(b->reply.u.many.flags & BP_RESULTS_MORE))
			return 0;
		r = bc_reply(b);
	}
}

/* broker_transfer()'s own checks, before anything is sent. */
static int check_item(const broker_transfer_item *it, char *why, size_t len)
{
	struct stat st;
	if (!it->id)
		return snprintf(why, len, "no socket id"), -EINVAL;
	if (it->fd < 0)
		return snprintf(why, len, "fd %d is not a file descriptor", it->fd), -EINVAL;
	if (it->context_len && !it->context)
		return snprintf(why, len, "context_len is %zu but context is NULL", it->context_len), -EINVAL;
	if (it->context_len > ITEMS_ROOM / 2)
		return snprintf(why, len, "a context of %zu bytes is too big for a bulk transfer", it->context_len), -E2BIG;
	if (bg_is_guarded(it->fd))
		return snprintf(why, len, "fd %d carries a userspace TLS session", it->fd), -EBADFD;
	if (fstat(it->fd, &st) < 0)
		return snprintf(why, len, "fd %d: %m", it->fd), -errno;
	if (!S_ISSOCK(st.st_mode))
		return snprintf(why, len, "fd %d is not a socket", it->fd), -ENOTSOCK;
	return 0;
}

struct transfer_batch {
	struct list *l;
	const broker_transfer_item *items;
	const size_t *which;   /* index in items of each socket sent */
	size_t n, got;
	int held;
};

static int add_transferred(broker *b, const struct bp_result *head, const struct bp_field f[3], int fd, void *u)
{
	(void)b;
	struct transfer_batch *t = u;
	if (fd >= 0)
		close(fd);   /* brokerd does not send one here */
	if (t->got == t->n)
		return -EPROTO;
	size_t i = t->which[t->got++];
	if (head->error == 0) {
		close(t->items[i].fd);   /* brokerd holds its own copy */
		t->held++;
	}
	broker_result *r = &t->l->r[i];
	r->error = head->error;
	free((void *)r->message);
	r->message = strdup(head->error && !f[2].len ? broker_strerror(head->error) : (const char *)f[2].ptr);
	return r->message ? 0 : -ENOMEM;
}

/* Send one TRANSFER_MANY of the items in which[0..n) and take its results. */
static int transfer_batch(broker *b, struct transfer_batch *t, void *buf, size_t off, const int *fds)
{
	struct bp_many many = { .count = (uint32_t)t->n };
	struct bp_field f = { buf, (uint32_t)off };
	int r = bc_request(b, BP_TRANSFER_MANY, &many, sizeof(many), &f, 1, fds, (unsigned)t->n);
	r = read_results(b, r, add_transferred, t);
	if (r == 0 && t->got != t->n)
		r = -EPROTO;
	/* what brokerd did not answer gets the error of the whole */
	for (size_t k = t->got; k < t->n && r < 0; k++) {
		broker_result *res = &t->l->r[t->which[k]];
		res->error = r;
		free((void *)res->message);
		res->message = strdup(b->message[0] ? b->message : broker_strerror(r));
		if (!res->message)
			return -ENOMEM;
	}
	return 0;
}

int broker_transfer_many(broker *b, const broker_transfer_item *items, size_t n,
			 broker_result **ret_results)
{
	if (!b || (!items && n))
		return -EINVAL;
	bc_begin(b);
	struct list l = { 0 };
	void *buf = malloc(ITEMS_ROOM);
	size_t *which = malloc(BP_FDS_MAX * sizeof(*which));
	int fds[BP_FDS_MAX], r = buf && which ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && r == 0; i++) {
		char why[256] = "";
		int e = check_item(&items[i], why, sizeof(why));
		r = list_add(&l, items[i].id ? items[i].id : "", e, why);
	}
	struct transfer_batch t = { .l = &l, .items = items, .which = which };
	size_t off = 0;
	for (size_t i = 0; i <= n && r == 0; i++) {
		if (i < n && l.r[i].error)
			continue;
		if (i < n) {
			struct bp_transfer head = { .keepalive_sec = items[i].keepalive_sec };
			struct bp_field f[2] = {
				{ items[i].id, (uint32_t)strlen(items[i].id) },
				{ items[i].context, (uint32_t)items[i].context_len },
			};
			int e = t.n < BP_FDS_MAX ? bp_item_put(buf, ITEMS_ROOM, &off, &head, sizeof(head), f,
							       transfer_kind, 2) : -EMSGSIZE;
			if (e == 0) {
				which[t.n] = i;
				fds[t.n++] = items[i].fd;
				continue;
			}
			if (t.n == 0) {   /* does not fit a message on its own */
				l.r[i].error = -ENAMETOOLONG;
				continue;
			}
		} else if (t.n == 0) {
			break;
		}
		r = transfer_batch(b, &t, buf, off, fds);
		t.n = t.got = 0;
		off = 0;
		if (i < n)
			i--;   /* the item that did not fit opens the next message */
	}
	free(buf);
	free(which);
	if (r < 0) {
		broker_results_free(l.r, l.n);
		return r;
	}
	if (ret_results)
		*ret_results = l.r ? l.r : calloc(1, sizeof(broker_result));
	else
		broker_results_free(l.r, l.n);
	if (ret_results && !*ret_results)
		return -ENOMEM;
	return t.held;
}

static int add_claimed(broker *b, const struct bp_result *head, const struct bp_field f[3], int fd, void *u)
{
	struct list *l = u;
	int r = list_add(l, f[0].ptr, head->error, f[2].ptr);
	if (r < 0 || (head->error == 0) != (fd >= 0)) {
		if (fd >= 0)
			close(fd);
		return r < 0 ? r : -EPROTO;
	}
	if (fd < 0)
		return 0;
	const struct bp_field info[5] = {
		{ b->app ? b->app : "", b->app ? (uint32_t)strlen(b->app) : 0 }, f[0], f[1], { "", 0 }, { "", 0 },
	};
	broker_result *res = &l->r[l->n - 1];
	res->fd = fd;
	res->info = bc_info_new(&head->info, info);   /* NULL if out of memory: the socket is kept */
	return 0;
}

/* One CLAIM_MANY; the ids it names that brokerd did not answer get the
 * error that cut it short.  A failure before any result is returned. */
static int claim_batch(broker *b, struct list *l, uint32_t flags, const struct bp_field *ids, size_t nids)
{
	struct bp_claim_many c = { .flags = flags };
	size_t before = l->n;
	int r = bc_request(b, BP_CLAIM_MANY, &c, sizeof(c), ids, 1, NULL, 0);
	r = read_results(b, r, add_claimed, l);
	if (r == 0 || r == -ENOMEM)
		return r;
	if (l->n == before && before == 0)
		return r;
	const char *why = b->message[0] ? b->message : broker_strerror(r);
	if (flags & BP_CLAIM_ALL)
		return list_add(l, "", r, why);
	size_t off = 0;
	struct bp_field f;
	for (size_t k = 0; k < nids && bp_item_get(ids, &off, NULL, 0, &f, claim_kind, 1) == 0; k++)
		if (k >= l->n - before && list_add(l, f.ptr, r, why) < 0)
			return -ENOMEM;
	return 0;
}

int broker_claim_many(broker *b, const char *const *ids, size_t n, broker_result **ret_results)
{
	if (!b || !ret_results)
		return -EINVAL;
	bc_begin(b);
	struct list l = { 0 };
	void *buf = malloc(ITEMS_ROOM);
	int r = buf ? 0 : -ENOMEM;
	if (r == 0 && !ids) {
		r = claim_batch(b, &l, BP_CLAIM_ALL, &(struct bp_field){ NULL, 0 }, 0);
		n = 0;
	}
	size_t off = 0, nb = 0;
	for (size_t i = 0; i <= n && r == 0; i++) {
		if (i < n) {
			struct bp_field f = { ids[i] ? ids[i] : "", ids[i] ? (uint32_t)strlen(ids[i]) : 0 };
			if (bp_item_put(buf, ITEMS_ROOM, &off, NULL, 0, &f, claim_kind, 1) == 0) {
				nb++;
				continue;
			}
			if (nb == 0) {   /* an id longer than a message */
				r = bc_fail(b, -ENAMETOOLONG, "id %zu is too long", i);
				break;
			}
		} else if (nb == 0) {
			break;
		}
		r = claim_batch(b, &l, 0, &(struct bp_field){ buf, (uint32_t)off }, nb);
		off = nb = 0;
		if (i < n)
			i--;
	}
	free(buf);
	if (r < 0) {
		for (size_t i = 0; i < l.n; i++)
			if (l.r[i].fd >= 0)
				close(l.r[i].fd);   /* none: a failure after a result is a result */
		broker_results_free(l.r, l.n);
		return r;
	}
	*ret_results = l.r ? l.r : calloc(1, sizeof(broker_result));
	if (!*ret_results)
		return -ENOMEM;
	return (int)l.n;
}
