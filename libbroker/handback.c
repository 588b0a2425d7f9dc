/* SPDX-License-Identifier: MIT */
/* The handbacks of an activation (activation.h): a HANDBACK_MANY's sockets
 * queued and delivered one at a time, and the acknowledgements kept back
 * to go together. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "wire.h"

int handback_flush_acks(broker_activation *a, int slot)
{
	unsigned n = a->nacks[slot];
	if (n == 0)
		return 0;
	a->nacks[slot] = 0;
	if (n == 1) {
		struct bp_handback_ack ack = { .serial = a->acks[slot][0] };
		return bp_send_msg(a->conns[slot], a->buf, sizeof(a->buf), BP_HANDBACK_ACK, 0, &ack, sizeof(ack),
				   NULL, 0, NULL, 0, 0);
	}
	struct bp_many many = { .count = n };
	struct bp_field f = { a->acks[slot], n * (uint32_t)sizeof(uint64_t) };
	return bp_send_msg(a->conns[slot], a->buf, sizeof(a->buf), BP_ACK_MANY, 0, &many, sizeof(many),
			   &f, 1, NULL, 0, 0);
}

void handback_flush_all(broker_activation *a)
{
	for (int i = 0; i < CONNS_MAX; i++)
		if (a->conns[i] >= 0)
			handback_flush_acks(a, i);
}

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
		p->many = true;
		queue_put(a, p);
	}
	return 0;
}

int broker_handback_accept(broker_activation *a, broker_handback *h)
{
	if (!a || !h || h->fd < 0)
		return -EINVAL;
	struct handback_priv *p = (struct handback_priv *)h;
	int slot = p->slot;
	if (a->conns[slot] < 0 || a->gen[slot] != p->gen)
		return -EPIPE;
	if (a->nacks[slot] == ACKS_HELD) {
		int r = handback_flush_acks(a, slot);
		if (r < 0)
			return r;
	}
	a->acks[slot][a->nacks[slot]++] = h->serial;
	/* Kept back while more of its kind wait in the queue; else now. */
	if (!p->many || !a->head) {
		int r = handback_flush_acks(a, slot);
		if (r < 0)
			return r;
	}
	int fd = h->fd;
	h->fd = -1;
	return fd;
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

