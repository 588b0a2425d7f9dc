/* SPDX-License-Identifier: MIT */
/* libbroker internals shared by its source files (not installed). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <socket-broker/broker.h>
#include "proto.h"

struct broker {
	int fd;
	uint32_t seq;
	uid_t uid;
	bool admin;
	bool registered;       /* broker_register() or the hello registered an app */
	char *app;             /* the app id the hello registered, or NULL */
	bool monitoring;
	int timeout_ms;        /* for each request's send and each reply; -1 = none */
	bool rcvtimeo;         /* SO_RCVTIMEO is timeout_ms: recvmsg waits by itself */
	char message[512];     /* what went wrong in the last call, or "" */
	struct bp_msg reply;   /* the last message received; fields point into buf */
	uint8_t buf[BP_MSG_MAX];
};

/* Send a request and wait for its reply into b->reply.  A BP_ERROR reply
 * becomes its negative errno (text in b->message). */
int bc_request(broker *b, unsigned type, const void *fixed, size_t fixed_size,
	       const struct bp_field *fields, unsigned nfields, const int *fds, unsigned nfds);

/* Wait for the next reply to the current request (for reply streams). */
int bc_reply(broker *b);

/* Receive the next message into b->reply; -ETIMEDOUT after timeout_ms (>= 0). */
int bc_recv(broker *b, int timeout_ms);

/* A public call begins: the last call's message is gone. */
static inline void bc_begin(broker *b)
{
	b->message[0] = 0;
}

/* Fail the current call with err (< 0), saying why in b->message. */
int bc_fail(broker *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A broker_info from an INFO's fixed part and its five fields (app, id,
 * context, local, peer), in one allocation; NULL if out of memory. */
broker_info *bc_info_new(const struct bp_info *w, const struct bp_field field[5]);

/* Is fd marked by broker_fd_guard()? */
bool bg_is_guarded(int fd);
