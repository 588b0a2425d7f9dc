/* SPDX-License-Identifier: MIT */
/*
 * libbroker-ws: WebSocket connections for broker apps (RFC 6455), framed by
 * libwslay.
 *
 * A library of its own (pkg-config: libbroker-ws) that links libc, libwslay
 * and nettle (SHA-1 and base64 for the handshake), never GnuTLS: a ws://
 * app, and a woken app that only reads and writes a held connection
 * (broker_ws_adopt()), start without it.  For wss:// the library loads
 * libbroker-tls (and with it GnuTLS) with dlopen() at the first wss://
 * connect.  See docs/websocket.md.
 *
 * Conventions (as in broker.h and broker-tls.h):
 *   - int and ssize_t results are >= 0 on success and a negative errno on
 *     failure;
 *   - out-parameters (ret_*) are written only on success;
 *   - functions that free take NULL and return NULL;
 *   - every fd the library creates is O_CLOEXEC; the library never logs and
 *     never raises SIGPIPE.
 *
 * Statuses: every failure of connect, receive or send records a status on
 * the handle, the same enum broker_tls_status that libbroker-tls uses (the
 * network statuses with their "retry may help" flag and errno), with a
 * detail text.  WebSocket and HTTP refusals have the status
 * PROTOCOL_NEGOTIATION_FAILED and a more precise errno:
 *   -EPROTONOSUPPORT  the server chose no Sec-WebSocket-Protocol of ours (or
 *                     refused them): broker_ws_get_info()'s server_protocol
 *                     is the value it named ("" if it named none);
 *   -EACCES           the server (401, 403) or the proxy (407, or 401) refused
 *                     or wanted credentials; http_status or proxy_status
 *                     says which;
 *   -EPROTO           not a valid WebSocket (or proxy) answer.
 *
 * Bytes are never lost across a hand-off: the library reads a frame's bytes
 * and never beyond its end, so whatever it has not read is still in the
 * socket.  broker_ws_take_fd() refuses (-EBUSY) while a frame or a
 * fragmented message is partly read, or a received message is not yet
 * consumed, or a queued one not yet sent.
 *
 * A handle is not thread-safe.
 */
#ifndef BROKER_WS_H
#define BROKER_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <socket-broker/broker-tls.h>   /* enum broker_tls_status (values only) */

#ifdef __cplusplus
extern "C" {
#endif

/* How received data is given to the app. */
enum broker_ws_mode {
	BROKER_WS_MESSAGE = 0,   /* broker_ws_recv() returns one whole message */
	BROKER_WS_STREAM = 1,    /* broker_ws_recv() returns bytes of the data messages in order;
				    broker_ws_send() sends each buffer as a binary message */
};

/* Message types (the RFC 6455 opcodes). */
enum broker_ws_type {
	BROKER_WS_TEXT = 1,
	BROKER_WS_BINARY = 2,
	BROKER_WS_PONG = 10,     /* received only, in message mode: the answer to broker_ws_ping() */
};

/* The largest message received (longer ones close the connection with
 * 1009), and the most protocols offered. */
#define BROKER_WS_MAX_MESSAGE (1u << 20)
#define BROKER_WS_MAX_PROTOCOLS 16

/* broker_ws_set_credentials() flags. */
enum {
	BROKER_WS_CREDENTIALS_ALLOW_PLAIN = 1 << 0,   /* send them over ws:// too (anyone on the path reads them) */
};

typedef struct broker_ws broker_ws;

/* A new handle: blocking, connect timeout 30 s, no I/O timeout, no
 * protocols, no credentials, no proxy.  Errors: -EINVAL, -ENOMEM. */
int broker_ws_new(enum broker_ws_mode mode, broker_ws **ret);

/* Closes the socket (no close frame: call broker_ws_close() first for a
 * clean end) and frees everything.  Returns NULL. */
broker_ws *broker_ws_free(broker_ws *w);

/* ---- Settings: before connect or adopt (-EBUSY afterwards). ----------- */

/* Offer these Sec-WebSocket-Protocol values, in order of preference (n at
 * most BROKER_WS_MAX_PROTOCOLS, each an HTTP token).  The server must choose
 * one of them, or the connect fails with -EPROTONOSUPPORT.  n 0: none.
 * Errors: -EINVAL (not a token), -E2BIG, -ENOMEM. */
int broker_ws_set_protocols(broker_ws *w, const char *const *protocols, size_t n);

/* HTTP Basic credentials for the server.  Sent only over wss:// unless
 * flags has BROKER_WS_CREDENTIALS_ALLOW_PLAIN; a ws:// connect with
 * credentials and without it fails with -EPERM before anything is sent.
 * user must not contain ':'.  NULL user: none.  Errors: -EINVAL, -ENOMEM. */
int broker_ws_set_credentials(broker_ws *w, const char *user, const char *password, unsigned flags);

/* Connect through an HTTP proxy (CONNECT host:port, RFC 9110), with Basic
 * Proxy-Authorization if user is not NULL.  host NULL: no proxy.  The
 * proxy's connection is plain TCP; for wss:// TLS runs inside the tunnel.
 * Errors: -EINVAL, -ENOMEM. */
int broker_ws_set_proxy(broker_ws *w, const char *host, const char *service,
			const char *user, const char *password);

/* wss://: trust only the CA certificates in this PEM file (NULL: the system
 * store), as broker_tls_set_ca_file(); checked at connect. */
int broker_ws_set_ca_file(broker_ws *w, const char *path);

/* wss://: a holdable connection, whose TLS session the TLS keeper keeps
 * (broker_tls_set_holdable()): the handle's fd is then a local stream that
 * broker_ws_take_fd() hands out and brokerd can hold.  ws:// is holdable
 * as it is.  Errors: -EINVAL. */
int broker_ws_set_holdable(broker_ws *w, bool holdable);

/* connect_ms bounds the whole connect (proxy, TLS, handshake); io_ms each
 * blocking receive or send.  < 0: no limit. */
int broker_ws_set_timeouts(broker_ws *w, int connect_ms, int io_ms);

/* Non-blocking receive and send (after a blocking connect): they return
 * -EAGAIN instead of waiting; wait for broker_ws_get_events() on
 * broker_ws_get_fd().  May change at any time. */
int broker_ws_set_nonblocking(broker_ws *w, bool nonblocking);

/* ---- Connecting -------------------------------------------------------- */

/* Connect to url ("ws://host[:port][/path[?query]]" or "wss://...", at most
 * 2048 bytes; host a name, an IPv4 address or [IPv6]) and do the opening
 * handshake.  Blocking, bounded by connect_ms.  Returns 0, or a status's
 * errno, or -EPROTONOSUPPORT, -EACCES, -EPROTO (above), -EPERM
 * (credentials over ws://), -EINVAL (not such a URL), -EBUSY (used),
 * -ELIBACC (wss:// and libbroker-tls cannot be loaded). */
int broker_ws_connect(broker_ws *w, const char *url);

/* Take fd, a stream on which a client handshake was done earlier (a
 * connection brokerd handed back), and continue the WebSocket on it.  The
 * handle owns fd on success; on failure (-EBUSY, -EINVAL, -ENOTSOCK,
 * -ENOMEM) it stays the caller's.  The protocol chosen then is not known
 * here: keep it in the socket's context. */
int broker_ws_adopt(broker_ws *w, int fd);

/* ---- What happened ----------------------------------------------------- */

enum broker_tls_status broker_ws_get_status(const broker_ws *w);
/* "" if none; valid until the next call on w. */
const char *broker_ws_get_detail(const broker_ws *w);
/* The status's name, sentence, retry flag: as broker_tls_status_*(),
 * without loading libbroker-tls. */
const char *broker_ws_status_name(int status);
const char *broker_ws_status_message(int status);
bool broker_ws_status_retry_may_help(int status);

typedef struct broker_ws_info {
	bool encrypted;              /* wss:// */
	bool relayed;                /* the TLS keeper holds the session (holdable wss://) */
	bool peer_verified;          /* wss://: the server's certificate was verified */
	unsigned tls_version;        /* 0x0303, 0x0304; 0 without TLS */
	int http_status;             /* of the handshake (101), or of the refusal; 0 if none */
	int proxy_status;            /* of the proxy's CONNECT answer; 0 without a proxy */
	const char *protocol;        /* the Sec-WebSocket-Protocol chosen, "" if none */
	const char *server_protocol; /* what the server named when it refused ours, "" if nothing */
	unsigned pongs;              /* pongs received */
	int close_code;              /* the server's close code, 0 if it sent no close frame */
} broker_ws_info;

/* Strings point into w and live until broker_ws_free(). */
int broker_ws_get_info(const broker_ws *w, broker_ws_info *ret);

/* ---- Data -------------------------------------------------------------- */

/* Message mode: the next whole message, its type in *ret_type (TEXT,
 * BINARY or PONG); -EMSGSIZE if it is longer than len (it stays; see
 * broker_ws_next_length()).  Stream mode: up to len bytes of data messages
 * (*ret_type may be NULL).  Returns the length, 0 at the end (the server's
 * close frame, or a close between frames), -EAGAIN (non-blocking),
 * -ETIMEDOUT (nothing within io_ms; the connection stays usable),
 * -ECONNRESET (cut inside a frame), or a status's errno.  Pings are
 * answered by the library. */
ssize_t broker_ws_recv(broker_ws *w, void *buf, size_t len, int *ret_type);

/* Length of the next message already received, or -EAGAIN if none. */
ssize_t broker_ws_next_length(const broker_ws *w);

/* Send one message of type TEXT or BINARY (stream mode: always binary).
 * Blocking: returns len once it is sent.  Non-blocking: len once queued;
 * call broker_ws_flush() when broker_ws_get_events() asks for POLLOUT. */
ssize_t broker_ws_send(broker_ws *w, int type, const void *buf, size_t len);
/* A ping with up to 125 bytes of payload; its pong arrives through recv. */
int broker_ws_ping(broker_ws *w, const void *payload, size_t len);
/* Send what is queued: 0 when all is sent, -EAGAIN (non-blocking). */
int broker_ws_flush(broker_ws *w);
/* Send a close frame (code 1000 if 0, reason at most 123 bytes). */
int broker_ws_close(broker_ws *w, int code, const char *reason);

/* The fd to wait on, and POLLIN and/or POLLOUT.  -ENOTCONN if none. */
int broker_ws_get_fd(const broker_ws *w);
int broker_ws_get_events(const broker_ws *w);

/* Hand the stream out (blocking again) to give it to brokerd; the handle
 * forgets it.  For ws:// and holdable wss:// only.  Errors: -EBADFD (TLS
 * in this process), -EBUSY (a frame or message partly read, a message not
 * consumed, or data not yet sent: receive or flush first), -ENOTCONN. */
int broker_ws_take_fd(broker_ws *w);

#ifdef __cplusplus
}
#endif

#endif
