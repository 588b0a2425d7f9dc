/* SPDX-License-Identifier: MIT */
/* Control connections: one per client of the control socket. */
#pragma once

#include <sys/queue.h>
#include <sys/socket.h>

#include "core.h"

struct outmsg {
	STAILQ_ENTRY(outmsg) link;
	size_t len;
	uint8_t data[];
};

/* A reply stream that goes on when the client can take more. */
struct resume {
	unsigned type;               /* BP_LIST, BP_APPS, BP_CLAIM or BP_CLAIM_MANY; 0 = none */
	uint32_t seq;
	uint64_t cursor;             /* last serial (LIST, CLAIM_MANY of all) or app index (APPS)
	                                sent, or offset into ids (CLAIM_MANY of a list) */
	unsigned count;
	struct app *app;             /* LIST of one app; NULL = every app allowed */
	char id[BROKER_ID_MAX + 1];  /* CLAIM */
	struct bp_field ids;         /* CLAIM_MANY: a copy of the request's ids (malloc), or none */
};

struct client {
	ev_io io;
	ev_timer timer;              /* hello deadline, then drain deadline */
	TAILQ_ENTRY(client) link;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char *unit;                  /* its systemd unit, if a manifest names units */
	int unit_error;              /* why unit is NULL: identity_unit()'s error */
	bool hello;
	bool admin;
	bool monitor;
	bool broken;                 /* a reply could not be sent or queued: it must go */
	struct app *app;             /* registered as */
	STAILQ_HEAD(, outmsg) out;
	unsigned nout;
	struct resume resume;
};

/* Subscribe to the lifecycle: a client registered as an app that goes
 * away is no longer registered.  0 or a negative errno. */
int client_init(struct daemon *d);

/* A client on the just-accepted connection fd (consumed on success), with
 * its unit (taken on success) and its admin right; NULL if out of memory. */
struct client *client_new(struct daemon *d, int fd, const struct ucred *cred, char *unit, bool admin);

/* Watch c for what it waits for now: writability while a reply is queued
 * or a reply stream is paused (c->resume), with the drain deadline;
 * requests otherwise. */
void client_set_events(struct daemon *d, struct client *c);

/* Encode and send a reply (no fds), queueing it if the client is not
 * reading.  Returns 0, or a negative errno with c->broken set: the client
 * must go. */
int client_reply(struct daemon *d, struct client *c, unsigned type, uint32_t seq,
		 const void *fixed, size_t fixed_size, const struct bp_field *fields, unsigned n);
int client_error(struct daemon *d, struct client *c, uint32_t seq, int error, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Queue an already encoded event for a monitor; false if it fell behind. */
bool client_queue_event(struct daemon *d, struct client *c, const void *buf, size_t len);
void client_free(struct daemon *d, struct client *c, const char *why);
/* Every client (brokerd stops). */
void client_close_all(struct daemon *d);
