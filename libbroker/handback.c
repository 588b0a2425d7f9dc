/* SPDX-License-Identifier: MIT */
/* The handbacks of an activation (activation.h): a HANDBACK_MANY's sockets
 * queued and delivered one or many at a time, and their acknowledgements,
 * one or many in a message. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "wire.h"

static void queue_put(broker_activation *a, struct handback_priv *p)
{
	if (!a->head)
		eventfd_write(a->queued_fd, 1);
	p->next = NULL;
	*a->tail = p;
	a->tail = &p->next;
}

struct handback_priv *handback_queue_take(broker_activation *a)
{
	struct handback_priv *p;
	while ((p = a->head)) {
		a->head = p->next;
		if (!a->head) {
			eventfd_t v;
			a->tail = &a->head;
			eventfd_read(a->queued_fd, &v);
		}
		if (a->conns[p->slot] >= 0 && a->gen[p->slot] == p->gen)
			return p;
		broker_handback_free(&p->pub);
	}
	return NULL;
}

struct handback_priv *handback_new(broker_activation *a, const struct bp_field *app,
					  const struct bp_handback *w, const struct bp_field f[2], int fd, int slot)
{
	const struct bp_field *s[3] = { app, &f[0], &f[1] };
	size_t total = sizeof(struct handback_priv);
	for (unsigned i = 0; i < 3; i++)
		total += s[i]->len + 1;
	struct handback_priv *p = calloc(1, total);
	if (!p)
		return NULL;
	char *q = (char *)(p + 1);
	const char *str[3];
	for (unsigned i = 0; i < 3; i++) {
		if (s[i]->len)
			memcpy(q, s[i]->ptr, s[i]->len);
		q[s[i]->len] = 0;
		str[i] = q;
		q += s[i]->len + 1;
	}
	p->pub = (broker_handback){
		.app_id = str[0], .id = str[1], .context = str[2], .context_len = f[1].len,
		.kind = w->kind, .reason = w->reason, .keepalive_sec = w->keepalive_sec,
		.held_since_usec = w->held_since_usec, .serial = w->serial, .fd = fd,
	};
	p->slot = slot;
	p->gen = a->gen[slot];
	return p;
}

static const uint8_t item_kind[] = { BP_ITEM_STR, BP_ITEM_BYTES };

int handback_queue_many(broker_activation *a, struct bp_msg *m, int slot)
{
	struct bp_handback w;
	struct bp_field f[2];
	size_t off = 0;
	unsigned n = 0;
	int r;
	while ((r = bp_item_get(&m->field[1], &off, &w, sizeof(w), f, item_kind, 2)) == 0)
		n++;
	if (r < 0 || n != m->u.many.count || n != m->nfds) {
		bp_msg_close_fds(m);
		return -EPROTO;
	}
	off = 0;
	for (unsigned i = 0; i < n; i++) {
		bp_item_get(&m->field[1], &off, &w, sizeof(w), f, item_kind, 2);
		struct handback_priv *p = handback_new(a, &m->field[0], &w, f, m->fds[i], slot);
		if (!p) {
			bp_msg_close_fds(m);
			return -ENOMEM;
		}
		m->fds[i] = -1;
		queue_put(a, p);
	}
	return 0;
}

/* Acknowledge serials[0..n) (n <= BP_ACKS_MAX) on slot: 0 or the send's error. */
static int send_acks(broker_activation *a, int slot, const uint64_t *serials, unsigned n)
{
	if (n == 1) {
		struct bp_handback_ack ack = { .serial = serials[0] };
		return bp_send_msg(a->conns[slot], a->buf, sizeof(a->buf), BP_HANDBACK_ACK, 0, &ack, sizeof(ack),
				   NULL, 0, NULL, 0, 0);
	}
	struct bp_many many = { .count = n };
	struct bp_field f = { serials, n * (uint32_t)sizeof(uint64_t) };
	return bp_send_msg(a->conns[slot], a->buf, sizeof(a->buf), BP_ACK_MANY, 0, &many, sizeof(many),
			   &f, 1, NULL, 0, 0);
}

/* Is h's connection still the one it came on? */
static bool conn_open(const broker_activation *a, const broker_handback *h)
{
	const struct handback_priv *p = (const struct handback_priv *)h;
	return a->conns[p->slot] >= 0 && a->gen[p->slot] == p->gen;
}

int broker_handback_accept(broker_activation *a, broker_handback *h)
{
	if (!a || !h || h->fd < 0)
		return -EINVAL;
	if (!conn_open(a, h))
		return -EPIPE;
	int r = send_acks(a, ((struct handback_priv *)h)->slot, &h->serial, 1);
	if (r < 0)
		return r;
	int fd = h->fd;
	h->fd = -1;
	return fd;
}

/* In fds[] while a handback's outcome is open: no errno (a send on a
 * wake socket's non-blocking connection may well say -EAGAIN). */
#define UNSETTLED INT_MIN

/* The ones of h[0..n) that came on slot and are not settled in fds[]
 * yet, acknowledged BP_ACKS_MAX a message; how many. */
static size_t accept_slot(broker_activation *a, int slot, broker_handback **h, size_t n, int *fds)
{
	size_t done = 0, idx[BP_ACKS_MAX], i = 0;
	for (;;) {
		unsigned k = 0;
		for (; i < n && k < BP_ACKS_MAX; i++)
			if (fds[i] == UNSETTLED && ((struct handback_priv *)h[i])->slot == slot) {
				a->serials[k] = h[i]->serial;
				idx[k++] = i;
			}
		if (k == 0)
			return done;
		int r = send_acks(a, slot, a->serials, k);
		for (unsigned j = 0; j < k; j++) {
			broker_handback *x = h[idx[j]];
			fds[idx[j]] = r < 0 ? r : x->fd;
			if (r == 0)
				x->fd = -1;
		}
		done += r < 0 ? 0 : k;
	}
}

int broker_handback_accept_many(broker_activation *a, broker_handback **h, size_t n, int *fds)
{
	if (!a || (n && (!h || !fds)) || n > INT_MAX)
		return -EINVAL;
	/* a handback named twice is acknowledged once: the second is -EINVAL */
	for (size_t i = 0; i < n; i++) {
		struct handback_priv *p = (struct handback_priv *)h[i];
		fds[i] = !p || h[i]->fd < 0 || p->named ? -EINVAL : !conn_open(a, h[i]) ? -EPIPE : UNSETTLED;
		if (fds[i] == UNSETTLED)
			p->named = true;
	}
	size_t done = 0;
	for (int slot = 0; slot < CONNS_MAX; slot++)
		done += accept_slot(a, slot, h, n, fds);
	for (size_t i = 0; i < n; i++)
		if (h[i])
			((struct handback_priv *)h[i])->named = false;
	return (int)done;
}

broker_handback *broker_handback_free(broker_handback *h)
{
	if (!h)
		return NULL;
	if (h->fd >= 0)
		close(h->fd);
	free(h);
	return NULL;
}

