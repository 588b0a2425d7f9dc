/* SPDX-License-Identifier: MIT */
/* The control connection: open, register, transfer, list, claim. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "client.h"
#include "util.h"
#include "wire.h"

const char *broker_default_socket(void)
{
	static __thread char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *env = getenv("BROKER_SOCKET");
	if (env && *env)
		return env;
	if (geteuid() == 0)
		return "/run/socket-broker/control";
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (!rt || rt[0] != '/')
		return NULL;
	int n = snprintf(path, sizeof(path), "%s/socket-broker/control", rt);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return path;
}

/* The socket's own receive timeout is b's (SO_RCVTIMEO): a reply then costs
 * one recvmsg, not a poll before it.  0 ms there would mean for ever. */
static int set_rcvtimeo(broker *b, int timeout_ms)
{
	struct timeval tv = { timeout_ms > 0 ? timeout_ms / 1000 : 0, timeout_ms > 0 ? (timeout_ms % 1000) * 1000 : 0 };
	if (setsockopt(b->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	b->rcvtimeo = timeout_ms != 0;
	return 0;
}

int bc_recv(broker *b, int timeout_ms)
{
	bool by_socket = b->rcvtimeo && timeout_ms == b->timeout_ms;
	for (;;) {
		if (timeout_ms >= 0 && !by_socket) {
			struct pollfd p = { .fd = b->fd, .events = POLLIN };
			int r = poll(&p, 1, timeout_ms);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -ETIMEDOUT;
		}
		bp_msg_close_fds(&b->reply);
		int r = bp_recv(b->fd, b->buf, sizeof(b->buf), 0, &b->reply, NULL, NULL);
		if (r == 0)
			return -EPIPE;
		if (r == -EAGAIN && by_socket)
			return -ETIMEDOUT;
		return r < 0 ? r : 0;
	}
}

int bc_fail(broker *b, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->message, sizeof(b->message), fmt, ap);
	va_end(ap);
	return err;
}

/* A wait for brokerd ran out: say so in words that name the likely cause. */
static int timed_out(broker *b, const char *what)
{
	return bc_fail(b, -ETIMEDOUT, "brokerd did not %s within %d ms (is it stopped or overloaded?)", what,
		       b->timeout_ms);
}

/* sendmsg() refused the fd: the kernel's per-user limit of fds in flight
 * (a user's sockets that brokerd holds in its buckets count too). */
static int in_flight_limit(broker *b)
{
	struct rlimit rl;
	char lim[32] = "its";
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)rl.rlim_cur);
	return bc_fail(b, -ETOOMANYREFS, "the kernel refused to pass the fd: this user already has as many fds in "
		       "flight in AF_UNIX sockets as RLIMIT_NOFILE (%s) allows, the per-user in-flight limit "
		       "(under a user instance, the sockets brokerd holds count too)", lim);
}

int bc_request(broker *b, unsigned type, const void *fixed, size_t fixed_size,
	       const struct bp_field *fields, unsigned nfields, const int *fds, unsigned nfds)
{
	if (b->monitoring)
		return -EPROTO;
	b->message[0] = 0;
	uint32_t seq = ++b->seq;
	int r = bp_send_msg(b->fd, b->buf, sizeof(b->buf), type, seq, fixed, fixed_size,
			    fields, nfields, fds, nfds, 0);
	if (r == -EAGAIN)   /* SO_SNDTIMEO: brokerd reads nothing */
		return timed_out(b, "take the request");
	if (r == -ETOOMANYREFS)
		return in_flight_limit(b);
	if (r < 0)
		return r;
	return bc_reply(b);
}

int bc_reply(broker *b)
{
	bool conn_error;
	for (;;) {
		int r = bc_recv(b, b->timeout_ms);
		if (r == -ETIMEDOUT)
			return timed_out(b, "answer");
		if (r < 0)
			return r;
		/* seq 0: an error about the connection itself (a limit, a timeout) */
		conn_error = b->reply.type == BP_ERROR && b->reply.seq == 0;
		if (b->reply.seq == b->seq || conn_error)
			break;
		/* A late reply to a request that timed out: its moment has passed. */
		bp_msg_close_fds(&b->reply);
		if (b->reply.seq > b->seq)
			return -EPROTO;
	}
	if (b->reply.type == BP_ERROR) {
		snprintf(b->message, sizeof(b->message), "%s", bp_msg_str(&b->reply, 0));
		int e = b->reply.u.error.error;
		return e < 0 ? e : -EIO;
	}
	return 0;
}

int broker_open(const char *path, broker **ret)
{
	return broker_open_app(path, NULL, BROKER_DEFAULT_TIMEOUT_MS, ret);
}

int broker_open_timeout(const char *path, int timeout_ms, broker **ret)
{
	return broker_open_app(path, NULL, timeout_ms, ret);
}

/* HELLO, with the app id when there is one: one round trip for both. */
static int hello(broker *b, const char *app_id)
{
	struct bp_hello h = { .version = BP_VERSION };
	const struct bp_field f[2] = {
		{ program_invocation_short_name, strlen(program_invocation_short_name) },
		{ app_id, app_id ? strlen(app_id) : 0 },
	};
	int r = bc_request(b, BP_HELLO, &h, sizeof(h), f, app_id ? 2 : 1, NULL, 0);
	if (r == -EBADMSG && app_id) {   /* a version-2 brokerd's word for the app id field */
		char said[sizeof(b->message)];
		snprintf(said, sizeof(said), "%s", b->message);
		return bc_fail(b, -EPROTONOSUPPORT, "brokerd does not speak protocol version %u (it is older than "
			       "this libbroker: restart it after an upgrade): %s", BP_VERSION, said);
	}
	if (r == 0 && b->reply.type != BP_HELLO_REPLY)
		r = -EPROTO;
	if (r == 0 && b->reply.u.hello_reply.version != BP_VERSION)
		r = bc_fail(b, -EPROTONOSUPPORT, "brokerd answered in protocol version %u, not %u",
			    b->reply.u.hello_reply.version, BP_VERSION);
	if (r < 0)
		return r;
	if (app_id && !(b->app = strdup(app_id)))
		return -ENOMEM;
	b->registered = app_id != NULL;
	b->uid = b->reply.u.hello_reply.uid;
	b->admin = b->reply.u.hello_reply.flags & BP_HELLO_ADMIN;
	return 0;
}

/* Why the last broker_open*() in this thread failed: its handle is gone. */
static __thread char open_message[sizeof(((broker *)0)->message)];

int broker_open_app(const char *path, const char *app_id, int timeout_ms, broker **ret)
{
	open_message[0] = 0;
	if (!ret || timeout_ms < -1 || (app_id && !*app_id))
		return -EINVAL;
	if (!path)
		path = broker_default_socket();
	if (!path)
		return -ENOENT;

	/* Zero all but the 64 KiB buffer: a connection per operation pays
	 * for every byte cleared here. */
	broker *b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	memset(b, 0, offsetof(broker, buf));
	b->reply.nfds = 0;
	b->timeout_ms = timeout_ms;
	b->fd = bp_connect_unix_timeout(path, SOCK_SEQPACKET, timeout_ms);
	if (b->fd < 0) {
		int r = b->fd;
		free(b);
		return r;
	}
	int r = set_rcvtimeo(b, timeout_ms);
	if (r == 0)
		r = hello(b, app_id);
	if (r < 0) {
		snprintf(open_message, sizeof(open_message), "%s", b->message);
		broker_close(b);
		return r;
	}
	*ret = b;
	return 0;
}

broker *broker_close(broker *b)
{
	if (!b)
		return NULL;
	bp_msg_close_fds(&b->reply);
	if (b->fd >= 0)
		close(b->fd);
	free(b->app);
	free(b);
	return NULL;
}

int broker_set_timeout(broker *b, int timeout_ms)
{
	if (!b || timeout_ms < -1)
		return -EINVAL;
	bc_begin(b);
	struct timeval tv = { timeout_ms < 0 ? 0 : timeout_ms / 1000, timeout_ms < 0 ? 0 : (timeout_ms % 1000) * 1000 };
	if (setsockopt(b->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	int r = set_rcvtimeo(b, timeout_ms);
	if (r < 0)
		return r;
	b->timeout_ms = timeout_ms;
	return 0;
}

const char *broker_last_message(const broker *b)
{
	return b ? b->message : open_message;
}

uid_t broker_peer_uid(const broker *b)
{
	return b->uid;
}

bool broker_is_admin(const broker *b)
{
	return b->admin;
}

int broker_get_fd(const broker *b)
{
	return b ? b->fd : -EINVAL;
}

static struct bp_field str_field(const char *s)
{
	return (struct bp_field){ s ? s : "", s ? strlen(s) : 0 };
}

static int expect_ok(broker *b, int r)
{
	if (r == 0 && b->reply.type != BP_OK)
		r = -EPROTO;
	bp_msg_close_fds(&b->reply);
	return r;
}

int broker_register(broker *b, const char *app_id)
{
	if (!b || !app_id)
		return -EINVAL;
	bc_begin(b);
	if (b->app && strcmp(b->app, app_id) == 0)
		return 0;   /* the hello registered it; every verb checks the right again */
	struct bp_field f = str_field(app_id);
	int r = expect_ok(b, bc_request(b, BP_REGISTER, NULL, 0, &f, 1, NULL, 0));
	if (r == 0) {
		b->registered = true;
		free(b->app);
		if (!(b->app = strdup(app_id)))
			return -ENOMEM;
	}
	return r;
}

int broker_attach(broker *b, broker_activation **ret)
{
	if (!b || !ret)
		return -EINVAL;
	bc_begin(b);
	/* The activation is a connection of its own, so that it outlives b
	 * and brokerd serves it like one it made for a start. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return bc_fail(b, -errno, "socketpair: %m");
	int r = expect_ok(b, bc_request(b, BP_ATTACH, NULL, 0, NULL, 0, &sv[1], 1));
	close(sv[1]);
	if (r == 0) {
		r = broker_activation_open_fd(sv[0], ret);
		if (r < 0)
			bc_fail(b, r, "the attached activation could not be opened: %s", broker_strerror(r));
	}
	if (r < 0)
		close(sv[0]);   /* brokerd sees the end: not attached */
	return r;
}

int broker_transfer(broker *b, const char *id, int fd,
		    const void *context, size_t context_len, uint32_t keepalive_sec)
{
	if (!b)
		return -EINVAL;
	bc_begin(b);
	if (!id)
		return bc_fail(b, -EINVAL, "no socket id");
	if (fd < 0)
		return bc_fail(b, -EINVAL, "fd %d is not a file descriptor", fd);
	if (context_len && !context)
		return bc_fail(b, -EINVAL, "context_len is %zu but context is NULL", context_len);
	if (context_len > BP_MSG_MAX)
		return bc_fail(b, -E2BIG, "a context of %zu bytes cannot fit in one message", context_len);
	if (bg_is_guarded(fd))
		return bc_fail(b, -EBADFD, "fd %d carries a userspace TLS session", fd);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return bc_fail(b, -errno, "fd %d: %m", fd);
	if (!S_ISSOCK(st.st_mode))
		return bc_fail(b, -ENOTSOCK, "fd %d is not a socket", fd);

	struct bp_transfer t = { .keepalive_sec = keepalive_sec };
	struct bp_field f[2] = { str_field(id), { context, (uint32_t)context_len } };
	int r = expect_ok(b, bc_request(b, BP_TRANSFER, &t, sizeof(t), f, 2, &fd, 1));
	if (r < 0)
		return r;
	/* brokerd holds its own copy now; ours can go. */
	close(fd);
	return 0;
}

int broker_trigger(broker *b, const char *app_id, const char *id)
{
	if (!b || !app_id || !id)
		return -EINVAL;
	bc_begin(b);
	struct bp_field f[2] = { str_field(app_id), str_field(id) };
	return expect_ok(b, bc_request(b, BP_TRIGGER, NULL, 0, f, 2, NULL, 0));
}

int broker_drop(broker *b, const char *app_id, const char *id)
{
	if (!b || !app_id || !id)
		return -EINVAL;
	bc_begin(b);
	struct bp_field f[2] = { str_field(app_id), str_field(id) };
	return expect_ok(b, bc_request(b, BP_DROP, NULL, 0, f, 2, NULL, 0));
}

int broker_reload(broker *b)
{
	if (!b)
		return -EINVAL;
	bc_begin(b);
	return expect_ok(b, bc_request(b, BP_RELOAD, NULL, 0, NULL, 0, NULL, 0));
}

int broker_get_status(broker *b, broker_status *ret)
{
	if (!b || !ret)
		return -EINVAL;
	bc_begin(b);
	int r = bc_request(b, BP_STATUS, NULL, 0, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	if (b->reply.type != BP_STATUS_REPLY)
		return -EPROTO;
	const struct bp_status *s = &b->reply.u.status;
	broker_status st = {
		.apps = s->apps, .held = s->held, .watching = s->watching,
		.triggered = s->triggered, .handing_back = s->handing_back,
		.clients = s->clients, .running = s->running, .max_held = s->max_held,
		.max_held_per_app = s->max_held_per_app, .pid = (pid_t)s->pid,
		.uptime_usec = s->uptime_usec, .triggers_total = s->triggers_total,
		.activations_total = s->activations_total, .handbacks_total = s->handbacks_total,
		.stored = s->stored, .store_lost = s->store_lost,
		.attached = s->attached, .thaws_total = s->thaws_total, .thaws_held = s->thaws_held,
	};
	snprintf(st.version, sizeof(st.version), "%s", bp_msg_str(&b->reply, 0));
	snprintf(st.socket_path, sizeof(st.socket_path), "%s", bp_msg_str(&b->reply, 1));
	*ret = st;
	return 0;
}
