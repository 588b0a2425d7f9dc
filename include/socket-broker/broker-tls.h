/* SPDX-License-Identifier: MIT */
/*
 * libbroker-tls: secured connections for broker apps, built on GnuTLS.
 *
 * A library of its own (pkg-config: libbroker-tls) so that apps which do not
 * use TLS never load GnuTLS: loading it adds about 3.6 ms to every start, and
 * brokerd starts an app on every activation.  It links libbroker.
 *
 * Conventions (as in broker.h):
 *   - int and ssize_t results are >= 0 on success and a negative errno on
 *     failure;
 *   - out-parameters (ret_*) are written only on success;
 *   - functions that free take NULL and return NULL;
 *   - every fd the library creates is O_CLOEXEC; sockets are O_NONBLOCK
 *     internally whatever the handle's mode;
 *   - the library never logs and never raises SIGPIPE.
 *
 * Network failures: every failure of connect, upgrade, step, read, write or
 * shutdown also records a status (enum broker_tls_status) on the handle, read
 * it with broker_tls_get_status(), together with a detail text from the layer
 * that failed (getaddrinfo, the socket, or GnuTLS) from broker_tls_get_detail().
 * The negative errno returned for each status is fixed (see the enum), so a
 * caller that only looks at return values still gets a meaningful errno.
 * Argument errors (-EINVAL, -EBUSY, -ENOMEM, ...) leave the status alone.
 *
 * Never assume a protection level: after connecting, read
 * broker_tls_get_info() and check the protocol version, the cipher and
 * peer_verified before sending anything that needs them.  The level only says
 * what the library will accept; what was negotiated is in the info.
 *
 * Transferring: a socket with an active userspace TLS session cannot be handed
 * to brokerd (the session's keys and sequence numbers live in this process):
 * the library marks it with broker_fd_guard(), and broker_transfer() refuses
 * it with -EBADFD.  A holdable connection (broker_tls_set_holdable()) keeps
 * its session in the TLS keeper instead, and its fd is a local stream that
 * can be handed over like any other.  See docs/tls.md.
 *
 * A handle is not thread-safe; use one per thread or lock around it.
 */
#ifndef BROKER_TLS_H
#define BROKER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the connection must be protected with. */
enum broker_tls_level {
	BROKER_TLS_LEVEL_PLAIN = 0,   /* no TLS at all: a plain TCP stream */
	BROKER_TLS_LEVEL_TLS = 1,     /* TLS 1.2 or newer */
	BROKER_TLS_LEVEL_TLS13 = 2,   /* TLS 1.3 only */
};
/* Whatever the level, a NULL (authentication-only) cipher is never offered
 * nor accepted. */

/* What went wrong.  Each status has a name, a sentence, a "retry may help"
 * flag (the same operation, later, may succeed) and the errno that functions
 * return for it:
 *
 *  status                          errno          retry  typical cause
 *  OK                              0              -      it worked
 *  HOST_NOT_FOUND                  -ENXIO         yes    no such name, or no name service
 *  CONNECTION_REFUSED              -ECONNREFUSED  yes    nothing listens on the port
 *  TIMED_OUT                       -ETIMEDOUT     yes    no answer within the timeout
 *  NETWORK_UNREACHABLE             -ENETUNREACH   yes    no route to the host or network
 *  CONNECTION_RESET                -ECONNRESET    yes    peer reset or closed mid-stream
 *  CERTIFICATE_UNTRUSTED           -EKEYREJECTED  no     signer unknown, self-signed, bad chain
 *  CERTIFICATE_EXPIRED             -EKEYEXPIRED   no     expired or not yet valid
 *  HOSTNAME_MISMATCH               -EKEYREJECTED  no     certificate is for another name
 *  PROTOCOL_NEGOTIATION_FAILED     -EPROTO        no     no common TLS version or cipher, peer
 *                                                        does not speak TLS
 *  CLIENT_CERTIFICATE_REQUIRED     -ENOKEY        no     server wants a client certificate
 *                                                        (none sent, or it refused ours)
 *  UNKNOWN                         -EIO           no     anything else; fatal for the connection
 *
 * After a failure the connection is finished (its socket is closed, and only
 * broker_tls_free(), broker_tls_get_info() and the status functions remain
 * useful), with one exception: a blocking read that timed out. */
enum broker_tls_status {
	BROKER_TLS_OK = 0,
	BROKER_TLS_HOST_NOT_FOUND,
	BROKER_TLS_CONNECTION_REFUSED,
	BROKER_TLS_TIMED_OUT,
	BROKER_TLS_NETWORK_UNREACHABLE,
	BROKER_TLS_CONNECTION_RESET,
	BROKER_TLS_CERTIFICATE_UNTRUSTED,
	BROKER_TLS_CERTIFICATE_EXPIRED,
	BROKER_TLS_HOSTNAME_MISMATCH,
	BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED,
	BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED,
	BROKER_TLS_UNKNOWN,
};

/* "host-not-found", "certificate-expired", ...; "unknown" for values out of
 * range.  Never NULL. */
const char *broker_tls_status_name(int status);
/* One sentence for a person.  Never NULL. */
const char *broker_tls_status_message(int status);
/* Whether trying the same thing again later may succeed. */
bool broker_tls_status_retry_may_help(int status);
/* The negative errno that functions return for status (0 for OK). */
int broker_tls_status_errno(int status);

/* "plain", "tls", "tls13"; and back (-EINVAL if unknown). */
const char *broker_tls_level_name(int level);
int broker_tls_level_from_name(const char *name);

/* Certificate problems, as found when verifying the server (the info's
 * cert_problems) and as a caller may choose to tolerate them
 * (broker_tls_set_ignorable()). */
enum {
	BROKER_TLS_PROBLEM_UNTRUSTED = 1 << 0,   /* no trusted signer, or the chain is invalid */
	BROKER_TLS_PROBLEM_EXPIRED = 1 << 1,     /* expired or not yet valid */
	BROKER_TLS_PROBLEM_HOSTNAME = 1 << 2,    /* not issued for the expected name */
};

typedef struct broker_tls broker_tls;

/* A new, unconnected handle that will connect at level.  Blocking mode, a
 * connect timeout of 30 s, no I/O timeout, the system trust store.
 * Errors: -EINVAL (unknown level), -ENOMEM. */
int broker_tls_new(enum broker_tls_level level, broker_tls **ret);

/* Sends a TLS close_notify if a session is established (one attempt, never
 * blocks), clears the transfer guard, closes the socket and frees everything.
 * Returns NULL. */
broker_tls *broker_tls_free(broker_tls *t);

/* ---- Settings: before connect or upgrade (-EBUSY afterwards). ---------- */

/* Trust only the CA certificates in this PEM file instead of the system
 * trust store.  NULL goes back to the system store.  Errors: -ENOENT or
 * -EACCES (cannot read), -EBADMSG (no certificate in it). */
int broker_tls_set_ca_file(broker_tls *t, const char *path);

/* The client certificate and its private key, sent only if the server asks
 * for one.  Each is a PEM file path or, where GnuTLS supports it, a URI such
 * as a PKCS#11 URI ("pkcs11:token=...;object=...;type=cert"; the PIN goes in
 * the URI as pin-value= or pin-source=, RFC 7512).  key NULL: the key is in
 * the cert file.  Both are loaded now, so a bad file or an absent token is
 * reported here.  Errors: -ENOENT (no such file), -EOPNOTSUPP (a URI scheme
 * GnuTLS does not support here), -ENOKEY (the URI names no object that any
 * PKCS#11 module provides, a wrong PIN, or a key that does not match the
 * certificate), -EBADMSG (not PEM),
 * -EALREADY (already set); broker_tls_get_detail() says more. */
int broker_tls_set_client_cert(broker_tls *t, const char *cert, const char *key);

/* Tolerate some certificate problems (BROKER_TLS_PROBLEM_* bits; default 0).
 * The connection then succeeds with peer_verified false and the problems in
 * the info: it is encrypted, but the peer is not authenticated. */
int broker_tls_set_ignorable(broker_tls *t, unsigned problems);

/* connect_ms bounds the whole of connect (name resolution, every address,
 * the handshake) or upgrade; io_ms bounds each blocking read, write or
 * shutdown.  < 0: no limit.  Non-blocking mode enforces connect_ms in
 * broker_tls_step() too. */
int broker_tls_set_timeouts(broker_tls *t, int connect_ms, int io_ms);

/* Non-blocking mode for event loops: connect, upgrade, step, read, write and
 * shutdown return -EAGAIN instead of waiting; wait for broker_tls_get_events()
 * on broker_tls_get_fd(), at most broker_tls_get_timeout() ms, then call the
 * same function again.  Unlike the settings above it may change at any time
 * (a blocking connect, then non-blocking I/O, say). */
int broker_tls_set_nonblocking(broker_tls *t, bool nonblocking);

/* Holdable: the TLS session is kept by the TLS keeper (broker-tls-keeper(8),
 * one per user), which holds the real TCP connection and relays the
 * plaintext over a local AF_UNIX stream; that stream is the handle's fd.  It
 * reads and writes as usual, broker_tls_get_info() reports what the keeper
 * negotiated, and it can be handed to brokerd (broker_transfer() of
 * broker_tls_get_fd(), or of broker_tls_take_fd()), which wakes the app when
 * the server sends application data or closes.  A woken app reads and
 * writes that stream directly: it needs neither GnuTLS nor this library.
 * Ending it (close, or broker_tls_shutdown()) makes the keeper send
 * close_notify.  Through the keeper a server's close_notify and a reset both
 * read as the end of the stream (0).  The keeper is found at
 * broker_tls_keeper_socket() and started if nothing answers there.  Not for
 * the plain level (-EINVAL: a plain stream can be handed over itself).
 * Errors: -EINVAL, -EBUSY (connected already). */
int broker_tls_set_holdable(broker_tls *t, bool holdable);

/* Where holdable connections find the TLS keeper: $BROKER_TLS_KEEPER_SOCKET,
 * else $XDG_RUNTIME_DIR/socket-broker/tls-keeper; NULL if neither is set.
 * (A keeper started on demand is $BROKER_TLS_KEEPER, else the installed
 * broker-tls-keeper.)  Valid until the next call in this thread. */
const char *broker_tls_keeper_socket(void);

/* ---- Connecting -------------------------------------------------------- */

/* Resolve host (a name or a numeric address) and service (a port number or
 * a service name) with getaddrinfo, and try every address in turn until one
 * accepts the TCP connection; then, unless the level is plain, do the TLS
 * handshake, sending host as SNI and verifying the certificate against it.
 * A handshake failure does not move on to the next address.
 * Blocking mode: returns 0 when connected, or the status's errno.
 * Non-blocking mode: returns -EAGAIN once started; call broker_tls_step().
 * Errors besides the statuses': -EBUSY (already used), -EINVAL. */
int broker_tls_connect(broker_tls *t, const char *host, const char *service);

/* STARTTLS: start TLS on fd, a connected stream socket over which the caller
 * has already exchanged some plaintext, verifying the certificate against
 * verify_name.  The level must not be plain.  Returns as broker_tls_connect().
 * fd ownership: -EINVAL, -EBUSY, -ENOMEM, -ENOTSOCK and -ENOTCONN (not a
 * connected stream socket) leave fd untouched and the caller's; with any
 * other result the handle owns fd (on failure it has been closed).  fd's O_NONBLOCK flag is set.  Any plaintext the peer sent
 * after its go-ahead and the caller has not read is taken as TLS. */
int broker_tls_upgrade(broker_tls *t, int fd, const char *verify_name);

/* Non-blocking mode: advance connect or upgrade.  0: connected; -EAGAIN: wait
 * again; otherwise the status's errno. */
int broker_tls_step(broker_tls *t);

/* The fd to wait on now (while resolving it is not the socket, so read it
 * again after every step), and the poll events to wait for (POLLIN and/or
 * POLLOUT).  Once connected, it is the socket, and stays it.  -ENOTCONN
 * when there is nothing to wait on. */
int broker_tls_get_fd(const broker_tls *t);
int broker_tls_get_events(const broker_tls *t);

/* Milliseconds left before the connect timeout, or -1 if there is none (or
 * nothing is in progress): suitable as poll()'s timeout. */
int broker_tls_get_timeout(const broker_tls *t);

/* The status of the last network operation (BROKER_TLS_OK after success),
 * and a detail text from the failing layer ("" if none).  The text is valid
 * until the next call on t. */
enum broker_tls_status broker_tls_get_status(const broker_tls *t);
const char *broker_tls_get_detail(const broker_tls *t);

/* What was actually negotiated.  Strings point into t and are valid until
 * broker_tls_free().  Available after success and, as far as the handshake
 * got, after failure (e.g. the subject of a certificate that was refused). */
typedef struct broker_tls_info {
	enum broker_tls_level level;   /* asked for */
	bool encrypted;                /* a TLS session was established */
	unsigned version;              /* 0x0303 TLS 1.2, 0x0304 TLS 1.3, 0 none */
	const char *protocol;          /* "TLS1.3", "TLS1.2", "none" */
	const char *cipher;            /* "AES-256-GCM", ...; "none" without TLS (never "NULL") */
	const char *description;       /* GnuTLS's one-line summary, "" if none */
	bool peer_verified;            /* chain trusted, in date, and issued for verify_name */
	unsigned cert_problems;        /* BROKER_TLS_PROBLEM_* found (some may have been ignored) */
	const char *peer_subject;      /* the server certificate's subject DN (RFC 4514), "" if none */
	const char *verify_name;       /* the name the certificate was checked against, "" if none */
	bool client_cert_requested;    /* the server asked for a client certificate */
	bool client_cert_sent;         /* and we sent one */
	unsigned addresses_tried;      /* addresses connect() tried, the successful one included */
	const char *peer_address;      /* "127.0.0.1:443", "[::1]:443"; "" if unknown */
} broker_tls_info;

int broker_tls_get_info(const broker_tls *t, broker_tls_info *ret);

/* ---- Data -------------------------------------------------------------- */

/* Read up to len bytes.  Returns the count, 0 at the end of the stream (TLS
 * close_notify, or the peer's FIN without TLS), or a negative errno:
 * -EAGAIN (non-blocking: wait for broker_tls_get_events()), -ETIMEDOUT
 * (blocking: nothing within io_ms; status TIMED_OUT, but the connection
 * stays usable), or the status's errno.  A TLS stream cut without close_notify is CONNECTION_RESET.
 * Under TLS 1.3 a server that insists on a client certificate may only say so
 * after the handshake: the first read then fails with
 * CLIENT_CERTIFICATE_REQUIRED (info: client_cert_requested, !client_cert_sent).
 * In non-blocking mode read until -EAGAIN: decrypted data may wait inside the
 * library where poll() cannot see it (broker_tls_pending()). */
ssize_t broker_tls_read(broker_tls *t, void *buf, size_t len);

/* Bytes already decrypted and waiting to be read. */
size_t broker_tls_pending(const broker_tls *t);

/* Write len bytes.  Blocking mode writes all of them or fails; non-blocking
 * mode may write fewer, and after -EAGAIN the same buffer must be passed
 * again.  Errors as broker_tls_read(), except that a blocking write that
 * timed out finishes the connection (a TLS record may be half sent). */
ssize_t broker_tls_write(broker_tls *t, const void *buf, size_t len);

/* End the TLS session: send close_notify and clear the transfer guard.  The
 * socket stays open (broker_tls_take_fd() can now hand it out); reads and
 * writes on the handle return -ESHUTDOWN from now on.  Without TLS it does
 * nothing.  Returns 0 (also when already shut down), -EAGAIN (non-blocking)
 * or a status's errno. */
int broker_tls_shutdown(broker_tls *t);

/* Hand the socket out: the caller owns the returned fd (in blocking mode
 * again) and the handle forgets it.  For plain and holdable connections (the
 * keeper's local stream), and after broker_tls_shutdown().  Errors:
 * -EBADFD (an active TLS session: its state cannot leave this process),
 * -ENOTCONN (no socket). */
int broker_tls_take_fd(broker_tls *t);

#ifdef __cplusplus
}
#endif

#endif
