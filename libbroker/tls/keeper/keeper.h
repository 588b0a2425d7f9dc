/* SPDX-License-Identifier: MIT */
/*
 * broker-tls-keeper: holds the TLS sessions of one user's holdable
 * connections (broker_tls_set_holdable()) so that the apps can hand their
 * end to brokerd and exit.  Each session is a broker_tls handle (the real
 * TCP connection and its GnuTLS state) and the keeper's end of an AF_UNIX
 * stream whose other end went to the app; the keeper relays plaintext
 * between them through two bounded buffers.  One libev loop.
 *
 *   main.c      options, the listening socket, sandboxing, accept
 *   session.c   one request: connect or upgrade, the reply, the end
 *   relay.c     the relay and its back-pressure
 *   brokerd.c   telling brokerd where each relayed stream really goes
 */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <socket-broker/broker-tls.h>

/* Per direction: at most this much plaintext waits in the keeper; beyond
 * it the keeper stops reading that side (TCP's window, or the local
 * stream's buffer, pushes back on the writer). */
#define KEEPER_BUF (16u * 1024u)

struct session;

struct keeper {
	struct ev_loop *loop;
	int listen_fd;
	ev_io listen_w;
	ev_timer idle;              /* exit after idle_sec without sessions (0: never) */
	double idle_sec;
	ev_signal sigterm, sigint;
	LIST_HEAD(, session) sessions;
	unsigned nsessions, max_sessions;

	int broker_fd;              /* control connection to brokerd, -1 */
	ev_io broker_w;             /* readable between exchanges: brokerd went away */
	ev_timer broker_retry;
	uint32_t broker_seq;
};

struct session {
	struct keeper *k;
	LIST_ENTRY(session) link;

	int req_fd;                 /* the app's request connection until the reply, else -1 */
	ev_io req_w;
	broker_tls *t;
	ev_io net_w;                /* on broker_tls_get_fd() */
	ev_timer connect_timer;
	bool open;                  /* connected, replied, relaying */

	int local_fd;               /* the keeper's end of the relayed stream, -1 */
	ev_io local_w;
	uint64_t app_ino;           /* the inode of the app's end, as brokerd knows it */
	bool registered;            /* brokerd has it */
	bool net_eof, local_eof;
	/* KEEPER_BUF each, allocated while bytes are in flight only: an idle
	 * held session keeps no buffer. */
	size_t down_off, down_len;  /* server -> app */
	size_t up_off, up_len;      /* app -> server */
	char *down, *up;
};

/* session.c: take a request connection (fd is consumed). */
void session_accept(struct keeper *k, int fd);
/* End a session: close both sides, forget it at brokerd, free it. */
void session_end(struct session *s);

/* relay.c: start relaying an open session; move bytes after a wakeup. */
void relay_start(struct session *s);

/* brokerd.c: register or forget an open session's stream (no-ops without
 * brokerd); re-register everything once brokerd is back. */
void brokerd_register(struct keeper *k, struct session *s);
void brokerd_forget(struct keeper *k, struct session *s);
void brokerd_init(struct keeper *k);
void brokerd_close(struct keeper *k);

/* main.c: the idle timer after the session count changed. */
void keeper_update_idle(struct keeper *k);
