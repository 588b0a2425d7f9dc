/* SPDX-License-Identifier: MIT */
/* push-client's WebSocket mode (push-ws.c). */
#pragma once

#include <stdbool.h>

#include <socket-broker/broker.h>

struct push_ws_opts {
	const char *url;           /* ws://... or wss://... */
	const char *protocol;      /* Sec-WebSocket-Protocol to ask for, NULL: none */
	const char *ca;            /* wss://: CA file, NULL: the system trust store */
};

/* Load libbroker-ws, connect (wss:// holdable, through the TLS keeper),
 * check the protocol, greet, and put the stream (the caller's to hand
 * over) in *ret_fd and "ws=URL protocol=P" in context[size]; returns 0 or
 * an exit code with *ret_fd -1. */
int push_ws_run(const struct push_ws_opts *o, int *ret_fd, char *context, size_t size);

/* A woken instance with a held WebSocket (context "ws=..."): for reason,
 * read the messages that arrived and answer each with "ack N", or send a
 * ping for a keep-alive.  Returns fd, ready to be handed over again, or -1
 * if the connection ended (fd is closed then). */
int push_ws_serve(enum broker_reason reason, int fd, const char *context);
