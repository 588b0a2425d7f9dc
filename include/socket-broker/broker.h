/* SPDX-License-Identifier: MIT */
/*
 * libbroker: hand sockets to brokerd, get them back when something happens.
 *
 * Conventions, for every function below unless its comment says otherwise:
 *   - int results are >= 0 on success and a negative errno on failure;
 *     broker_strerror() turns any of them into a sentence;
 *   - out-parameters (ret_*) are written only on success;
 *   - functions that free take NULL and return NULL;
 *   - every fd the library creates or receives is O_CLOEXEC;
 *   - the library never logs and never raises signals (MSG_NOSIGNAL).
 * Each function says what happens to fds passed in or out.
 *
 * A handle is not thread-safe; use one per thread or lock around it.
 */
#ifndef BROKER_H
#define BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BROKER_ID_MAX        255   /* protocol ceiling for app and socket ids */
#define BROKER_CONTEXT_MAX   4096  /* brokerd's default context cap (configurable) */

/* What a held socket is.  brokerd decides from the socket itself. */
enum broker_kind {
	BROKER_KIND_NONE = 0,
	BROKER_KIND_STREAM = 1,      /* connected SOCK_STREAM or SOCK_SEQPACKET */
	BROKER_KIND_DATAGRAM = 2,    /* SOCK_DGRAM */
	BROKER_KIND_LISTENER = 3,    /* listening SOCK_STREAM or SOCK_SEQPACKET */
};

/* Why an app was woken. */
enum broker_reason {
	BROKER_REASON_NONE = 0,
	BROKER_REASON_SOCKET_ACTIVITY = 1,      /* data queued on a stream or datagram socket */
	BROKER_REASON_CONNECTION_ACCEPTED = 2,  /* a listener has a pending connection */
	BROKER_REASON_SOCKET_CLOSED = 3,        /* the peer closed, or the socket errored */
	BROKER_REASON_KEEPALIVE_EXPIRED = 4,    /* no activity for the keep-alive interval */
	BROKER_REASON_ADMIN_TRIGGER = 5,        /* `brokerctl trigger` on a quiet socket */
};

/* Where a held socket is in its cycle. */
enum broker_state {
	BROKER_STATE_WATCHING = 1,     /* brokerd waits for activity */
	BROKER_STATE_TRIGGERED = 2,    /* activity seen; waiting for the app to be started */
	BROKER_STATE_HANDING_BACK = 3, /* sent to the app; waiting for its acknowledgement */
	BROKER_STATE_LENT = 4,         /* lent to a listen-fds/inetd program while it runs */
};

/* An app's activation state as brokerd sees it. */
enum broker_app_state {
	BROKER_APP_IDLE = 0,        /* nothing running that brokerd started or connected to */
	BROKER_APP_STARTING = 1,    /* started or connected; waiting for it to say hello */
	BROKER_APP_RUNNING = 2,     /* has an activation connection */
	BROKER_APP_BACKOFF = 3,     /* the last activation failed; waiting to retry */
	BROKER_APP_THROTTLED = 4,   /* started too often (its trigger limit); waiting */
	BROKER_APP_ATTACHED = 5,    /* a running instance attached itself (broker_attach()) */
};

/* Events that `brokerctl monitor` shows. */
enum broker_event_type {
	BROKER_EVENT_TRANSFER = 1,
	BROKER_EVENT_TRIGGER = 2,
	BROKER_EVENT_ACTIVATE = 3,
	BROKER_EVENT_HANDBACK = 4,   /* sent to the app */
	BROKER_EVENT_ACK = 5,        /* the app acknowledged; brokerd let go */
	BROKER_EVENT_CLAIM = 6,
	BROKER_EVENT_DROP = 7,
	BROKER_EVENT_FAILURE = 8,    /* activation failed; error and detail say why */
	BROKER_EVENT_EXIT = 9,       /* a broker-started instance exited */
	BROKER_EVENT_RELOAD = 10,
	BROKER_EVENT_THROTTLED = 11, /* an app reached its trigger limit; detail says which */
	BROKER_EVENT_ATTACH = 12,    /* a running instance (pid) attached itself */
	BROKER_EVENT_THAW = 13,      /* the instance was suspended: thawed (error 0) or left so (error, detail) */
};

/* Names as used in the environment, logs, JSON and brokerctl, e.g.
 * "socket-activity", "stream", "watching".  Unknown values give "unknown". */
const char *broker_kind_name(int kind);
const char *broker_reason_name(int reason);
const char *broker_state_name(int state);
const char *broker_app_state_name(int state);
const char *broker_event_name(int event);

/* Parse a reason name back ("socket-activity" -> BROKER_REASON_SOCKET_ACTIVITY);
 * -EINVAL if unknown. */
int broker_reason_from_name(const char *name);

/* A sentence describing err (negative or positive errno), never NULL.
 * Covers every error brokerd or this library returns, in broker terms. */
const char *broker_strerror(int err);

/* ------------------------------------------------------------------------
 * The control connection
 */
typedef struct broker broker;

/* Connect to brokerd's control socket.  path: explicit socket path, or NULL
 * for $BROKER_SOCKET, else the default (uid 0: /run/socket-broker/control;
 * others: $XDG_RUNTIME_DIR/socket-broker/control).  Performs the protocol
 * hello.  Blocking.  Errors: -ENOENT/-ECONNREFUSED (no brokerd there),
 * -EPROTONOSUPPORT (version mismatch), -ENAMETOOLONG, other socket errors. */
int broker_open(const char *path, broker **ret);

/* How long a call waits for brokerd unless told otherwise: for the connect
 * (room in a full backlog), for each send and for each reply.  A brokerd
 * that is stopped (SIGSTOP), hung or overloaded then gives -ETIMEDOUT, with
 * a sentence in broker_last_message(), instead of a call that never returns. */
#define BROKER_DEFAULT_TIMEOUT_MS 10000

/* broker_open() with timeout_ms (-1: wait forever) instead of the default.
 * Errors as broker_open(), -ETIMEDOUT, and -EINVAL for timeout_ms < -1. */
int broker_open_timeout(const char *path, int timeout_ms, broker **ret);

/* broker_open_timeout() and broker_register(b, app_id) in one round trip:
 * the hello carries the app id, and brokerd checks it exactly as it checks
 * broker_register() (a later broker_register() of the same id then costs
 * nothing).  app_id NULL: a plain broker_open_timeout().  Errors as both,
 * and -EINVAL for an empty app_id; a refused app id leaves no handle, so
 * brokerd's sentence is in broker_last_message(NULL). */
int broker_open_app(const char *path, const char *app_id, int timeout_ms, broker **ret);

/* Change b's timeout for the calls that follow (-1: wait forever).
 * broker_next_event() takes its own timeout.  A reply that comes after its
 * call timed out is dropped by the next call; brokerd may still have done
 * what was asked (a late claim's socket is then closed: give claims time).
 * Errors: -EINVAL. */
int broker_set_timeout(broker *b, int timeout_ms);

/* Close the connection.  Returns NULL. */
broker *broker_close(broker *b);

/* The default control socket path for this process, as broker_open(NULL)
 * would use it; NULL only if it cannot be determined (no $XDG_RUNTIME_DIR
 * for a non-root user). */
const char *broker_default_socket(void);

/* What went wrong in the last call on b, in words: brokerd's own (for
 * example, which capability is missing) or the library's (a bad argument,
 * a timeout); "" if that call succeeded or had nothing to add.  b NULL:
 * why this thread's last broker_open*() failed. */
const char *broker_last_message(const broker *b);

/* The uid brokerd saw for this connection, and whether it granted admin. */
uid_t broker_peer_uid(const broker *b);
bool broker_is_admin(const broker *b);

/* Act as app_id on this connection from now on.  brokerd checks that this
 * process may (manifest user, and unit where the manifest names one), and
 * checks again on every later verb that acts as the app.
 * Errors: -ENOENT (no such app, or none that this user may act as: the two
 * look the same), -EPERM (an admin who may see the app but not act as it,
 * or the wrong unit), -EALREADY (this connection is already another app). */
int broker_register(broker *b, const char *app_id);

/* Hand a socket to brokerd under id, with an optional opaque context of
 * context_len bytes (brokerd's cap, 4 KiB by default) and an optional
 * keep-alive in seconds (0 = none; must be 0 for listeners).  A keep-alive
 * fires up to 1/16 of its interval (at most 1 s) late, so that brokerd
 * wakes once for the keep-alives that fall due together.  An id that is
 * already held is replaced: brokerd closes its old copy.
 * fd ownership: on success fd has been closed (only after brokerd has
 * acknowledged holding it).  On failure fd is untouched and still the
 * caller's.  Errors: -EDESTADDRREQ (not registered), -ENOENT (the app's
 * manifest is gone; root only), -EPERM (this user may no longer act as the
 * app: its manifest changed or went away), -ENOTSOCK, -EINVAL (bad id, keep-alive on a listener
 * or above brokerd's limit), -ENAMETOOLONG, -E2BIG (context),
 * -ENOTCONN (neither connected nor listening), -EAFNOSUPPORT /
 * -EPROTOTYPE (a family or type no capability covers), -EACCES (the
 * manifest lacks the capability the socket needs; broker_last_message()
 * names it), -EDQUOT /
 * -ENOSPC (app or global limit), -EBADFD (the socket carries an active
 * userspace TLS session; see broker_fd_guard()).  docs/security.md has
 * the capability rules. */
int broker_transfer(broker *b, const char *id, int fd,
		    const void *context, size_t context_len, uint32_t keepalive_sec);

/* What brokerd knows about one held socket.  One allocation; strings and
 * context live inside it.  Free with broker_info_free(). */
typedef struct broker_info {
	const char *app_id;
	const char *id;
	enum broker_kind kind;
	enum broker_state state;
	enum broker_reason last_reason;   /* BROKER_REASON_NONE if never triggered */
	uint32_t keepalive_sec;
	uid_t owner_uid;                  /* uid that transferred it */
	int family;                       /* AF_INET, AF_INET6, AF_UNIX, ... */
	int sotype;                       /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint64_t held_since_usec;         /* CLOCK_REALTIME, microseconds */
	uint64_t last_trigger_usec;       /* CLOCK_REALTIME, 0 = never */
	uint64_t serial;                  /* unique per transfer, grows */
	const void *context;
	size_t context_len;
	const char *local;                /* local address as text, "" if none */
	const char *peer;                 /* peer address as text, "" if none */
} broker_info;

broker_info *broker_info_free(broker_info *info);

/* List held sockets.  app_id NULL or "": this connection's registered app
 * (or, for an admin that has not registered, every app).  On success
 * *ret_list is a NULL-terminated array (free it with broker_info_list_free())
 * and the count is returned.  Errors: -EDESTADDRREQ, -EPERM, -ENOENT (no
 * such app, or one this user may not see). */
int broker_list(broker *b, const char *app_id, broker_info ***ret_list);
broker_info **broker_info_list_free(broker_info **list);

/* One held socket.  app_id NULL or "" means this connection's app.
 * Errors: -ENOENT (no such app or id), -EPERM. */
int broker_show(broker *b, const char *app_id, const char *id, broker_info **ret_info);

/* Take a held socket back.  On success returns the fd (now the caller's,
 * O_CLOEXEC, blocking mode as it was transferred) and, if ret_info is not
 * NULL, its info; that info's local and peer are "" (ask the socket itself:
 * brokerd saves the two lookups).  brokerd stops watching it and forgets it.
 * Errors: -EDESTADDRREQ, -ENOENT, -EBUSY (being handed back right now, or
 * lent to a listen-fds/inetd program). */
int broker_claim(broker *b, const char *id, broker_info **ret_info);

/* ------------------------------------------------------------------------
 * Bulk hand-over: a server that is upgraded or restarted hands all its
 * connections to brokerd, each with its context, and its next version
 * claims them all back.  Up to 253 sockets travel in one message; the
 * library splits longer lists.  Each socket gets the checks of
 * broker_transfer() or broker_claim() and a result of its own: one that
 * fails does not fail the others.
 */

/* One socket for broker_transfer_many(): broker_transfer()'s arguments. */
typedef struct broker_transfer_item {
	const char *id;
	int fd;
	const void *context;
	size_t context_len;
	uint32_t keepalive_sec;
} broker_transfer_item;

/* One socket's outcome in a bulk call; the library allocates the array
 * and its strings: free it with broker_results_free(). */
typedef struct broker_result {
	const char *id;
	int error;            /* 0, or this socket's negative errno */
	const char *message;  /* on error, brokerd's or the library's sentence; else "" */
	int fd;               /* broker_claim_many() on success: the socket, now the caller's; else -1 */
	broker_info *info;    /* broker_claim_many() on success: its info, local and peer "";
	                         else NULL.  Freed with the array */
} broker_result;

/* Hand n sockets to brokerd, as n calls of broker_transfer() would, in as
 * few messages as fit (253 sockets each).  Returns how many brokerd now
 * holds, and in *ret_results (if not NULL) one result per item, in order.
 * fd ownership: each item whose result is 0 has had its fd closed (after
 * brokerd acknowledged it); every other item's fd is untouched and still
 * the caller's.  Per item, the errors of broker_transfer(); when the whole
 * connection fails, the items not yet answered get its error (-ETIMEDOUT:
 * brokerd may still have taken them, and then both hold the socket: keep
 * the fd and transfer it again).
 * Errors of the call itself, with nothing sent: -EINVAL (b or items NULL
 * with n > 0), -ENOMEM. */
int broker_transfer_many(broker *b, const broker_transfer_item *items, size_t n,
			 broker_result **ret_results);

/* Take back the sockets named by ids[0..n-1], or with ids NULL every socket
 * the registered app holds (n is then ignored).  Returns the number of
 * results in *ret_results: n for a list, in its order; for all, one per
 * socket in the order they were held.  Each result with error 0 carries
 * its socket (fd, O_CLOEXEC, now the caller's: broker_results_free() does
 * not close it) and its info; brokerd no longer holds it.  Per socket,
 * broker_claim()'s errors (-ENOENT, also for an id named a second time:
 * the first took the socket; -EBUSY: it is being handed back, so
 * the app's activation gets it, or lent).  If the connection fails partway,
 * what arrived is returned and the ids not answered get its error; with
 * ids NULL, a last result with id "" carries it (the sockets brokerd did
 * not send stay held).
 * Errors of the call itself: -EINVAL, -ENOMEM, -EDESTADDRREQ and -EPERM
 * (as broker_claim()), -EOPNOTSUPP (a brokerd without bulk verbs), and any
 * connection error before the first result arrived. */
int broker_claim_many(broker *b, const char *const *ids, size_t n, broker_result **ret_results);

/* Free n results (the infos too, never the fds).  Returns NULL. */
broker_result *broker_results_free(broker_result *results, size_t n);

/* Broker-wide counters. */
typedef struct broker_status {
	uint32_t apps, held, watching, triggered, handing_back;
	uint32_t clients, running, max_held, max_held_per_app;
	pid_t pid;
	uint64_t uptime_usec;
	uint64_t triggers_total, activations_total, handbacks_total;
	/* Held sockets brokerd keeps in systemd's fd store (all of them when
	 * all is well; BROKER_NO_STORE when brokerd runs without one), and
	 * stored fds the service manager was found to have dropped since
	 * brokerd started (brokerd stored them again). */
	uint32_t stored, store_lost;
	/* Apps with an attached instance; suspended instances thawed before
	 * a delivery, and deliveries held because the instance was suspended
	 * and brokerd was not allowed (manifest) or able to thaw it. */
	uint32_t attached;
	uint64_t thaws_total, thaws_held;
	char version[32];
	char socket_path[108];
} broker_status;

#define BROKER_NO_STORE UINT32_MAX

int broker_get_status(broker *b, broker_status *ret);

/* Apps brokerd knows (admins: all; others: the ones they may act as). */
/* One process of an app's instance. */
typedef struct broker_process {
	pid_t pid;
	char comm[16];              /* its command name (/proc/PID/comm), NUL-terminated */
} broker_process;

typedef struct broker_app {
	const char *id;
	const char *user;
	const char *unit;           /* "" if none */
	const char *activation;     /* "exec" or "wake-socket" */
	const char *handoff;        /* "libbroker", "listen-fds" or "inetd" */
	const char *target;         /* command line or wake socket path */
	const char *capabilities;   /* space-separated */
	uid_t uid;
	uint32_t held, max_sockets, failures;
	pid_t pid;                  /* broker-started or attached instance, 0 = none */
	enum broker_app_state state;
	uint64_t retry_usec;        /* CLOCK_REALTIME of next retry, 0 = none */
	/* Every process of the instance brokerd started (up to 64), the main
	 * one first while it runs; what a daemonizing program leaves running
	 * is listed too.  nprocs is 0 when the app has no instance. */
	unsigned nprocs;
	const broker_process *procs;
} broker_app;

int broker_list_apps(broker *b, broker_app ***ret_list);
broker_app **broker_app_list_free(broker_app **list);

/* Admin verbs.  Errors: -EPERM (not root or admin group), -ENOENT. */
int broker_trigger(broker *b, const char *app_id, const char *id);
int broker_drop(broker *b, const char *app_id, const char *id);
int broker_reload(broker *b);

/* Live events.  After broker_monitor() succeeds the connection carries only
 * events: wait for broker_get_fd() to be readable, then call
 * broker_next_event() until it returns 0.  timeout_ms < 0 blocks.
 * broker_monitor() fails with -EUSERS when brokerd has its limit of monitors. */
typedef struct broker_event {
	enum broker_event_type type;
	enum broker_reason reason;
	enum broker_kind kind;
	int error;                  /* negative errno, 0 if none */
	pid_t pid;
	uint64_t time_usec;         /* CLOCK_REALTIME */
	const char *app_id, *id, *detail;
} broker_event;

int broker_monitor(broker *b);
int broker_get_fd(const broker *b);
/* Returns 1 with an event, 0 if none arrived within timeout_ms, -EPIPE when
 * brokerd closed the connection. */
int broker_next_event(broker *b, int timeout_ms, broker_event **ret);
broker_event *broker_event_free(broker_event *ev);

/* Mark fd as unsafe to hand to brokerd (why: any text, for the reader of
 * the caller's code; libbroker neither stores nor shows it), or clear the
 * mark with why == NULL.  broker_transfer() refuses a marked fd with
 * -EBADFD.  libbroker-tls marks every fd that carries a
 * userspace TLS session, whose state would be lost in a transfer. */
int broker_fd_guard(int fd, const char *why);

/* ------------------------------------------------------------------------
 * Activation: the app side of a wake-up.
 *
 * brokerd starts an app with the sd_listen_fds protocol; one of its fds,
 * named "socket-broker", is the activation.  Over it brokerd sends every
 * triggered socket, then a batch end.  Typical simple app:
 *
 *	broker_activation *a;
 *	if (broker_activation_open(&a) == 0) {
 *		broker_handback *h;
 *		while (broker_activation_receive(a, 5000, &h) > 0) {
 *			int fd = broker_handback_accept(a, h);   // acknowledges
 *			... use fd, h's id/reason/context ...
 *			broker_handback_free(h);
 *		}
 *		broker_activation_close(a);
 *	}
 *
 * An app with an event loop watches broker_activation_get_fd() and calls
 * broker_activation_dispatch() when it is readable; later wake-ups reach
 * the running app the same way.
 */
typedef struct broker_activation broker_activation;

typedef struct broker_handback {
	const char *app_id;
	const char *id;
	enum broker_kind kind;
	enum broker_reason reason;
	uint32_t keepalive_sec;
	uint64_t held_since_usec;
	uint64_t serial;
	const void *context;
	size_t context_len;
	int fd;            /* owned by the handback until accepted; see below */
} broker_handback;

/* Attach this running process to brokerd as its registered app's instance
 * (broker_register() first: the same rights apply, and are checked again).
 * From now on brokerd delivers the app's triggers over the returned
 * activation, exactly as to an instance it started, instead of starting
 * one: watch broker_activation_get_fd() and call
 * broker_activation_dispatch(), or broker_activation_receive().  The
 * first batch (what is pending now, maybe nothing) ends with a batch end.
 * The attachment lasts until the activation is closed or the process
 * exits, not as long as b: b may be closed.  Then brokerd activates the
 * app normally again; a hand-back not yet accepted stays held.  If the
 * manifest says `thaw = yes`, brokerd thaws this process (SIGCONT, its
 * cgroup or its systemd unit) before it delivers.
 * Errors: -EDESTADDRREQ (not registered), -EPERM, -ENOENT (as for
 * broker_register()), -EBUSY (the app has an instance connected already:
 * attached, or started by brokerd with its activation open),
 * -EOPNOTSUPP (the app's hand-off is listen-fds or inetd), -ENOMEM,
 * socket errors. */
int broker_attach(broker *b, broker_activation **ret);

/* Find the "socket-broker" fd in LISTEN_FDS/LISTEN_FDNAMES (checking
 * LISTEN_PID), and open the activation on it.  It may be a connected
 * socket (exec activation) or a listener (wake-socket activation, where
 * brokerd's connections are accepted as they come).  The LISTEN_*
 * variables are left alone, so other code may still use the other fds.
 * fd ownership: the activation owns the socket-broker fd from now on.
 * Errors: -ENOENT (not started by brokerd), -EBADMSG (bad LISTEN_* values). */
int broker_activation_open(broker_activation **ret);

/* Same, on an fd the caller got some other way.  Consumes fd on success;
 * on failure fd is untouched. */
int broker_activation_open_fd(int fd, broker_activation **ret);

/* Close the activation.  Handbacks not yet accepted are not acknowledged:
 * brokerd keeps those sockets and activates again later.  Returns NULL. */
broker_activation *broker_activation_close(broker_activation *a);

/* Take the activation's connection out of a, for a program that execs its
 * next version in the same process (an upgrade: examples/upgrade-echo.c).
 * Returns the connection's fd, now the caller's (still O_CLOEXEC: clear it
 * for the exec), and frees a.  The next version opens it with
 * broker_activation_open_fd(); brokerd sees the attached process (the
 * same pid) say hello again and carries on, so an attachment
 * (broker_attach()) lasts across the exec: only an attached process may.  Handbacks that the next version has not accepted are sent
 * again after the acknowledgement timeout.  Errors (a untouched):
 * -EINVAL, -EBADFD (a wake-socket activation, whose listener is not one
 * connection, or no connection open), -EBUSY (more than one open). */
int broker_activation_take_fd(broker_activation *a);

/* An fd to poll for readability (stable for the activation's lifetime). */
int broker_activation_get_fd(const broker_activation *a);

/* Wait up to timeout_ms (< 0: forever) for the next handed-back socket.
 * Returns 1 with *ret set, 0 when brokerd has sent everything pending
 * (batch end) or the timeout passed, -EPIPE when brokerd closed the
 * activation connection and nothing else is pending. */
int broker_activation_receive(broker_activation *a, int timeout_ms, broker_handback **ret);

/* The same for up to max (>= 1) handbacks into ret[0..): those brokerd sent
 * in one message (up to 253) come out together; accept them with
 * broker_handback_accept_many().  Returns how many (>= 1), else as
 * broker_activation_receive(). */
int broker_activation_receive_many(broker_activation *a, int timeout_ms, broker_handback **ret, size_t max);

/* Read what is ready without blocking and call cb for each handed-back
 * socket; cb owns the handback (accept it and/or free it).  Returns the
 * number of handbacks delivered, or a negative errno. */
typedef void (*broker_handback_cb)(broker_activation *a, broker_handback *h, void *userdata);
int broker_activation_dispatch(broker_activation *a, broker_handback_cb cb, void *userdata);

/* Acknowledge the handback: brokerd lets go of its copy.  Returns the fd,
 * which is now the caller's (h->fd becomes -1).  If acknowledging fails the
 * fd stays in h and brokerd keeps its copy.  One message to brokerd; for
 * many sockets at once, broker_handback_accept_many(). */
int broker_handback_accept(broker_activation *a, broker_handback *h);

/* Acknowledge h[0..n) at once: one message to brokerd for up to 1024 of
 * them that came on one connection, instead of one each (a storm's
 * thousands of sockets).  fds[i] gets h[i]'s fd, now the caller's (h[i]->fd
 * becomes -1), or a negative errno where that one could not be
 * acknowledged (-EINVAL: NULL, accepted already, or named twice in h;
 * -EPIPE: its connection is gone; a send's error): that socket stays in
 * h[i], and brokerd keeps its copy.  The acknowledgement goes before the caller has any fd, as with
 * broker_handback_accept().  Returns how many were accepted, or -EINVAL
 * (a NULL argument). */
int broker_handback_accept_many(broker_activation *a, broker_handback **h, size_t n, int *fds);

/* Free a handback; closes its fd if it was never accepted.  Returns NULL. */
broker_handback *broker_handback_free(broker_handback *h);

/* The reason brokerd put in $BROKER_REASON when it started this process, or
 * BROKER_REASON_NONE. */
enum broker_reason broker_activation_env_reason(void);

#ifdef __cplusplus
}
#endif

#endif
