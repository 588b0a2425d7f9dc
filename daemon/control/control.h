/* SPDX-License-Identifier: MIT */
/* Control connections: one per client of the control socket. */
#pragma once

#include <sys/queue.h>

#include "brokerd.h"

struct outmsg {
	STAILQ_ENTRY(outmsg) link;
	size_t len;
	uint8_t data[];
};

/* A reply stream that goes on when the client can take more. */
struct resume {
	unsigned type;               /* BP_LIST, BP_APPS or BP_CLAIM; 0 = none */
	uint32_t seq;
	uint64_t cursor;             /* last serial (LIST) or app index (APPS) sent */
	unsigned count;
	struct app *app;             /* LIST of one app; NULL = every app allowed */
	char id[BROKER_ID_MAX + 1];  /* CLAIM */
};

struct client {
	ev_io io;
	ev_timer timer;              /* hello deadline, then drain deadline */
	TAILQ_ENTRY(client) link;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char *unit;                  /* its systemd unit, if a manifest names units */
	int unit_error;              /* why unit is NULL: peer_unit()'s error */
	bool hello;
	bool admin;
	bool monitor;
	struct app *app;             /* registered as */
	STAILQ_HEAD(, outmsg) out;
	unsigned nout;
	struct resume resume;
};

/* Watch c for what it waits for now: writability while a reply (or a
 * reply stream in c->resume) waits to go out, with the drain deadline;
 * requests otherwise. */
void client_set_events(struct daemon *d, struct client *c);

/* Encode and send a reply (no fds), queueing it if the client is not
 * reading.  Returns 0, or a negative errno if the client must go. */
int client_reply(struct daemon *d, struct client *c, unsigned type, uint32_t seq,
		 const void *fixed, size_t fixed_size, const struct bp_field *fields, unsigned n);
int client_error(struct daemon *d, struct client *c, uint32_t seq, int error, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Watch c for what it waits for now: writability while a reply is queued
 * or a reply stream is paused (c->resume), else requests. */
void client_set_events(struct daemon *d, struct client *c);
/* Queue an already encoded event for a monitor; false if it fell behind. */
bool client_queue_event(struct daemon *d, struct client *c, const void *buf, size_t len);
void client_free(struct daemon *d, struct client *c, const char *why);

/* monitor.c: make c a monitor if the limits allow (0 or -EUSERS, with why). */
int monitor_start(struct daemon *d, struct client *c, char *why, size_t len);

/* verbs.c: handle one decoded request (owns m's fds). */
void verb_dispatch(struct daemon *d, struct client *c, struct bp_msg *m);
/* Go on with c->resume; returns -EAGAIN if the client still cannot take more. */
int verb_resume(struct daemon *d, struct client *c);
/* May this client act as app a (root, or the manifest's user)? */
bool client_may_act(const struct client *c, const struct app *a);
/* May it see app a and its sockets (admins see every app)? */
bool client_may_see(const struct client *c, const struct app *a);
