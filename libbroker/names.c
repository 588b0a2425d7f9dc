/* SPDX-License-Identifier: MIT */
/* Names of the protocol's enums, and sentences for its error codes. */
#include <errno.h>
#include <string.h>

#include <socket-broker/broker.h>

#define NAME(table, v) ((v) >= 0 && (size_t)(v) < sizeof(table) / sizeof(table[0]) && table[v] ? table[v] : "unknown")

static const char *const kinds[] = {
	[BROKER_KIND_NONE] = "none",
	[BROKER_KIND_STREAM] = "stream",
	[BROKER_KIND_DATAGRAM] = "datagram",
	[BROKER_KIND_LISTENER] = "listener",
};

static const char *const reasons[] = {
	[BROKER_REASON_NONE] = "none",
	[BROKER_REASON_SOCKET_ACTIVITY] = "socket-activity",
	[BROKER_REASON_CONNECTION_ACCEPTED] = "connection-accepted",
	[BROKER_REASON_SOCKET_CLOSED] = "socket-closed",
	[BROKER_REASON_KEEPALIVE_EXPIRED] = "keepalive-timer-expired",
	[BROKER_REASON_ADMIN_TRIGGER] = "admin-trigger",
};

static const char *const states[] = {
	[BROKER_STATE_WATCHING] = "watching",
	[BROKER_STATE_TRIGGERED] = "triggered",
	[BROKER_STATE_HANDING_BACK] = "handing-back",
	[BROKER_STATE_LENT] = "lent",
};

static const char *const app_states[] = {
	[BROKER_APP_IDLE] = "idle",
	[BROKER_APP_STARTING] = "starting",
	[BROKER_APP_RUNNING] = "running",
	[BROKER_APP_BACKOFF] = "backoff",
	[BROKER_APP_THROTTLED] = "throttled",
	[BROKER_APP_ATTACHED] = "attached",
};

static const char *const events[] = {
	[BROKER_EVENT_TRANSFER] = "transfer",
	[BROKER_EVENT_TRIGGER] = "trigger",
	[BROKER_EVENT_ACTIVATE] = "activate",
	[BROKER_EVENT_HANDBACK] = "handback",
	[BROKER_EVENT_ACK] = "ack",
	[BROKER_EVENT_CLAIM] = "claim",
	[BROKER_EVENT_DROP] = "drop",
	[BROKER_EVENT_FAILURE] = "failure",
	[BROKER_EVENT_EXIT] = "exit",
	[BROKER_EVENT_RELOAD] = "reload",
	[BROKER_EVENT_THROTTLED] = "throttled",
	[BROKER_EVENT_ATTACH] = "attach",
	[BROKER_EVENT_THAW] = "thaw",
};

const char *broker_kind_name(int kind) { return NAME(kinds, kind); }
const char *broker_reason_name(int reason) { return NAME(reasons, reason); }
const char *broker_state_name(int state) { return NAME(states, state); }
const char *broker_app_state_name(int state) { return NAME(app_states, state); }
const char *broker_event_name(int event) { return NAME(events, event); }

int broker_reason_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i] && strcmp(reasons[i], name) == 0)
			return (int)i;
	return -EINVAL;
}

/* Every code that brokerd sends or libbroker returns, in the words of the
 * broker.  docs/protocol.md lists the same codes per verb. */
static const struct {
	int err;
	const char *text;
} errors[] = {
	{ ENOENT, "not found: no such app or socket id, no control socket at that path, or (activation) not started by brokerd" },
	{ ECONNREFUSED, "nobody is listening on that socket (brokerd's control socket, or an app's wake socket)" },
	{ EPERM, "not allowed: this user or unit may not act as that app, or the verb needs root or the admin group" },
	{ EACCES, "permission denied: no capability in the app's manifest covers this socket, or no access to the control socket" },
	{ EAFNOSUPPORT, "refused: brokerd does not hold sockets of this address family" },
	{ EPROTOTYPE, "refused: brokerd does not hold sockets of this type" },
	{ ENOTSOCK, "the file descriptor is not a socket" },
	{ EBADF, "the file descriptor is not open" },
	{ ENOTCONN, "the socket is neither connected nor listening" },
	{ EDESTADDRREQ, "register as an app first" },
	{ EALREADY, "this connection is already registered as another app" },
	{ EINVAL, "invalid argument: bad id, keep-alive on a listener, or a value out of range" },
	{ ENAMETOOLONG, "too long: an id longer than brokerd allows, or a socket path longer than 107 bytes" },
	{ E2BIG, "the context is larger than brokerd allows" },
	{ EDQUOT, "the app already holds as many sockets as its limit allows" },
	{ ENOSPC, "brokerd already holds as many sockets as it is allowed to" },
	{ EBUSY, "busy: the socket is being handed back to the app right now, or the app has a running instance connected already" },
	{ EEXIST, "brokerd holds this socket already, under another id or for another app" },
	{ ECANCELED, "an admin dropped this socket: brokerd does not hold it again" },
	{ EBADFD, "the socket carries a userspace TLS session, whose state would be lost if it were handed over" },
	{ EBADMSG, "malformed message (or, at activation, malformed LISTEN_FDS, LISTEN_PID or LISTEN_FDNAMES)" },
	{ EOPNOTSUPP, "unknown request: libbroker and brokerd versions differ" },
	{ ETOOMANYREFS, "too many file descriptors: another number than the message allows, or (from the kernel) "
			"this user's fds in flight in AF_UNIX sockets are at its RLIMIT_NOFILE, the per-user in-flight limit" },
	{ EMSGSIZE, "message larger than brokerd accepts" },
	{ EPROTONOSUPPORT, "libbroker and brokerd speak different protocol versions" },
	{ EPROTO, "protocol violation: a message that was not expected now" },
	{ EUSERS, "too many connections: from this user to brokerd, of monitors, or to one activation" },
	{ ENOBUFS, "brokerd is at its connection limit" },
	{ EAGAIN, "temporarily unavailable (a full socket buffer or backlog); try again" },
	{ ETIMEDOUT, "timed out waiting for brokerd or the app" },
	{ EPIPE, "brokerd closed the connection" },
	{ ECONNRESET, "brokerd closed the connection" },
	{ ENOMEM, "out of memory" },
	{ EIO, "internal error in brokerd" },
	{ EADDRINUSE, "another brokerd already answers on that control socket" },
	{ ECHILD, "the app's program exited with an error" },
	{ ENOEXEC, "the app's manifest gives no command to run" },
};

const char *broker_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "success";
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].err == err)
			return errors[i].text;
	return strerror(err);
}
