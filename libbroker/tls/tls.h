/* SPDX-License-Identifier: MIT */
/* libbroker-tls internals shared by its source files (not installed). */
#pragma once

#include <gnutls/gnutls.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <socket-broker/broker.h>
#include <socket-broker/broker-tls.h>

enum bt_phase {
	BT_IDLE,          /* nothing started yet */
	BT_RESOLVING,     /* waiting for the resolver thread */
	BT_CONNECTING,    /* a non-blocking connect() in flight */
	BT_HANDSHAKE,     /* TLS handshake in progress */
	BT_KEEPER,        /* holdable: waiting for the TLS keeper's reply */
	BT_OPEN,          /* connected (and, unless plain, TLS established) */
	BT_CLOSED,        /* TLS ended by broker_tls_shutdown(); the socket may remain */
	BT_FAILED,        /* finished by an error; the socket is gone */
};

struct bt_resolver;

struct broker_tls {
	enum broker_tls_level level;
	enum bt_phase phase;
	bool nonblocking;
	int connect_ms, io_ms;
	uint64_t deadline_usec;          /* CLOCK_MONOTONIC; 0 = none */
	unsigned ignorable;              /* BROKER_TLS_PROBLEM_* the caller tolerates */

	int fd;                          /* the socket, -1 if none */
	bool guarded;                    /* fd is marked with broker_fd_guard() */
	struct bt_resolver *resolver;
	struct addrinfo *addrs, *next_addr;
	unsigned addresses_tried;
	char peer_address[64];

	char *verify_name;               /* host for connect, verify_name for upgrade */
	char *ca_file;
	gnutls_certificate_credentials_t cred;
	bool client_cert_set;
	gnutls_session_t session;
	bool session_active;             /* a TLS session runs (or is being set up) on fd */
	bool established;                /* the handshake completed */
	int transport_errno;             /* last errno seen by our push/pull functions */
	bool transport_eof;              /* the peer closed the TCP stream */
	unsigned cert_problems;
	bool verify_ran;
	char verify_text[160];           /* GnuTLS's words for the verification result */
	char *peer_subject;
	char *description;

	/* Holdable (keeper.c): the session lives in the TLS keeper, and fd is
	 * the local stream it relays; what it negotiated comes in its reply. */
	bool holdable;
	bool relayed;                    /* fd is the keeper's stream */
	int keeper_fd;                   /* the request's connection while BT_KEEPER, else -1 */
	char *client_cert, *client_key;  /* as given, for the keeper */
	unsigned k_version, k_flags;     /* BP_KEEPER_* flags */
	char *k_protocol, *k_cipher;

	short io_events;                 /* what an interrupted read/write/shutdown waits for */

	enum broker_tls_status status;
	char detail[256];
};

/* Record a failure: status and detail, end the session and close the
 * socket.  Returns the status's negative errno. */
int bt_fail(broker_tls *t, enum broker_tls_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Record success: the connection is open (BT_OPEN, status OK, no detail,
 * no deadline).  Returns 0. */
int bt_opened(broker_tls *t);
/* Close the socket (clearing the guard first, so a reused fd number is not
 * left marked). */
void bt_close_socket(broker_tls *t);
enum broker_tls_status bt_status_from_errno(int err);
enum broker_tls_status bt_status_from_gai(int gai_err);

/* connect.c */
int bt_connect_step(broker_tls *t);
/* Wait (blocking mode) for the handle's fd and events up to deadline_usec
 * (0: none).  0 when ready, -ETIMEDOUT, or a negative errno. */
int bt_wait(broker_tls *t, uint64_t deadline_usec);
void bt_resolver_cancel(broker_tls *t);
int bt_resolver_fd(const struct bt_resolver *r);

/* handle.c: the credentials, created on first use. */
int bt_credentials(broker_tls *t);

/* keeper.c: connect or upgrade (fd >= 0, the handle's) through the keeper;
 * a step while BT_KEEPER; forget the keeper's connection and strings. */
int bt_keeper_start(broker_tls *t, const char *host, const char *service, int fd);
int bt_keeper_step(broker_tls *t);
void bt_keeper_free(broker_tls *t);

/* session.c */
int bt_session_start(broker_tls *t);
int bt_handshake_step(broker_tls *t);
void bt_session_end(broker_tls *t);
/* Map a GnuTLS error from the record layer to a failure (bt_fail()). */
int bt_fail_gnutls(broker_tls *t, int gerr, bool handshake);
