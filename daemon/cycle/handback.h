/* SPDX-License-Identifier: MIT */
/*
 * The hand-back exchange with a running app (libbroker hand-off): the app
 * says ACT_HELLO; brokerd sends the pending sockets, up to 253 in a
 * HANDBACK_MANY (an app of protocol 2 or 3: one HANDBACK each), then a
 * BATCH_END; the app acknowledges each socket, with HANDBACK_ACK or many
 * in an ACK_MANY, and only then does brokerd let go of its copy.  A connection that closes or times out
 * puts its unacknowledged sockets back in front of pending; if the app
 * acknowledged nothing, that is a failure and the next attempt waits with
 * exponential back-off.
 */
#pragma once

#include "core.h"
#include "event.h"

struct actconn {
	ev_io io;
	struct app *app;
	pid_t pid;                   /* the pid its ACT_HELLO gave (the app's word), 0 = none yet */
	uint32_t version;            /* the protocol version its ACT_HELLO gave */
	bool hello;                  /* ACT_HELLO received */
	bool batch_open;             /* handbacks sent since the last BATCH_END */
	bool writing;                /* waiting for the socket to take more */
};

/* Begin an exchange with a over fd (non-blocking; consumed on success).
 * Returns 0 or -ENOMEM. */
int handback_open(struct daemon *d, struct app *a, int fd);

/* End it.  why == NULL: a normal end; else a failure, one sentence. */
void handback_close(struct daemon *d, struct actconn *c, const char *why);

/* Send what is pending over a connection that said hello.  Returns false
 * if the connection had to be closed (c is gone then). */
bool handback_flush(struct daemon *d, struct actconn *c);

/* Take in what the app sent (acks, its end) without waiting.  Returns
 * false if the connection had to be closed (c is gone then). */
bool handback_read(struct daemon *d, struct actconn *c);

/* brokerd stops: end the exchange, the in-flight sockets pending again. */
void handback_abort(struct daemon *d, struct actconn *c);

/* A socket in flight removed otherwise (dropped, replaced): once none is
 * left, the app has nothing to acknowledge in time. */
#define HANDBACK_EVENTS (EVENT_BIT(EVENT_DROP) | EVENT_BIT(EVENT_REPLACED) | EVENT_BIT(EVENT_REMOVED))
void handback_on_event(struct daemon *d, const struct event *ev);
