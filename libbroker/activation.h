/* SPDX-License-Identifier: MIT */
/* The app side of a wake-up, inside libbroker: the activation's state
 * (activation.c) and its queue of handbacks and their acknowledgements
 * (handback.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <socket-broker/broker.h>
#include "proto.h"

#define CONNS_MAX 8   /* brokerd keeps one at a time; a few for overlap */

struct handback_priv {
	broker_handback pub;      /* first: the public part */
	struct handback_priv *next;   /* in the queue of those received, not yet delivered */
	int slot;                 /* the connection it came on, for the ack, */
	uint32_t gen;             /* as long as that connection is still open */
	bool named;               /* in broker_handback_accept_many(): seen once already */
};

/* A HANDBACK_MANY's sockets are delivered from a queue, one at a time or
 * (broker_activation_receive_many()) many.  While the queue holds any, an
 * eventfd in the epoll set keeps broker_activation_get_fd() readable, so
 * that an event loop that takes one at a time comes back for the rest.
 * An acknowledgement always goes before the caller has the fd: never kept
 * back, so that an app that dies with a socket in hand leaves brokerd no
 * copy of it (its peer sees the end) instead of a socket whose data it
 * took with it. */
struct broker_activation {
	int epfd;
	int queued_fd;            /* eventfd: readable while the queue is not empty */
	int listen_fd;            /* wake-socket activation: accept brokerd here; else -1 */
	int conns[CONNS_MAX];     /* connections from brokerd, -1 = free slot */
	uint32_t gen[CONNS_MAX];  /* bumped when a slot's connection goes */
	struct handback_priv *head, **tail;   /* received, not yet delivered */
	uint64_t serials[BP_ACKS_MAX];        /* broker_handback_accept_many()'s */
	uint8_t buf[BP_MSG_MAX];
};

/* A handback of app app, with the fixed part w, id and context f[0..1]
 * and fd (now the handback's), from slot; NULL if out of memory. */
struct handback_priv *handback_new(broker_activation *a, const struct bp_field *app,
				   const struct bp_handback *w, const struct bp_field f[2], int fd, int slot);

/* Queue the sockets of a HANDBACK_MANY from slot: 0, -EPROTO (malformed:
 * nothing queued) or -ENOMEM (what was not queued is closed, not
 * acknowledged: brokerd sends it again).  m's fds are taken either way. */
int handback_queue_many(broker_activation *a, struct bp_msg *m, int slot);

/* The next queued handback whose connection is still open, or NULL;
 * those whose connection went are freed (brokerd has them again). */
struct handback_priv *handback_queue_take(broker_activation *a);
