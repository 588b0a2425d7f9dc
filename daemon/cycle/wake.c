/* SPDX-License-Identifier: MIT */
/*
 * The libbroker hand-off: triggered sockets go over an activation
 * connection (handback.c).  Without one, the app is started: brokerd execs
 * its command with one end of a socketpair as LISTEN_FDS, or connects to
 * the wake socket its systemd .socket unit listens on; delivery then waits
 * for the app's ACT_HELLO, which also gathers the triggers that arrive
 * meanwhile into one start.  An app that runs already may attach itself
 * instead (wake_attach): its connection is served the same way, and a
 * suspended instance is thawed first if the manifest allows (thaw.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activate.h"
#include "app.h"
#include "backoff.h"
#include "handback.h"
#include "handoff.h"
#include "lifecycle.h"
#include "log.h"
#include "spawn.h"
#include "thaw.h"
#include "util.h"
#include "wake.h"
#include "wire.h"

/* How often brokerd looks again at an instance it may not thaw. */
#define SUSPENDED_RECHECK_SEC 1.

/* A wake socket's listener: it must be the service manager (root) or the
 * app's own user, not a squatter.  A connected fd, or a negative errno. */
static int connect_wake_socket(const struct manifest *m)
{
	/* Non-blocking: a full backlog is a failed attempt, not a stall. */
	int fd = bp_connect_unix(m->wake_socket, SOCK_SEQPACKET | SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != m->uid)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Exec the command with one end of a socketpair; brokerd's end, or a
 * negative errno.  activate.c waits for the child. */
static int exec_command(struct daemon *d, struct app *a, int reason)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	/* Only brokerd's end is non-blocking: they are two open files. */
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	const char *name = "socket-broker";
	int r = spawn_command(d, a, &sv[1], &name, 1, -1, reason, &a->pid);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	return sv[0];
}

static int start(struct daemon *d, struct app *a)
{
	struct manifest *m = a->m;
	int reason = TAILQ_FIRST(&a->pending)->reason;
	int fd = m->activation == ACTIVATION_WAKE_SOCKET ? connect_wake_socket(m) : exec_command(d, a, reason);
	if (fd < 0)
		return fd;
	if (handback_open(d, a, fd) < 0) {
		close(fd);
		return -ENOMEM;
	}
	lifecycle_app_state(d, a, BROKER_APP_STARTING);
	backoff_arm(d, a, (double)backoff_timeout_ms(d, a) / 1000.);
	lifecycle_app_activated(d, a, reason, manifest_activation_name(m->activation));
	return 0;
}

static void on_suspended(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	activate_kick(ev_userdata(loop), container_of(w, struct app, suspended));
}

static void wake_deliver(struct daemon *d, struct app *a)
{
	if (a->conn) {
		if (!a->conn->hello)
			return;   /* starting: hello will flush */
		if (thaw_instance(d, a, thaw_instance_pid(a)) < 0) {
			/* Held, with its data: look again later, never start a
			 * second instance beside this one. */
			ev_timer_stop(d->loop, &a->suspended);
			ev_timer_init(&a->suspended, on_suspended, SUSPENDED_RECHECK_SEC, 0.);
			ev_timer_start(d->loop, &a->suspended);
			return;
		}
		handback_flush(d, a->conn);
		return;
	}
	if (a->state == BROKER_APP_BACKOFF || a->state == BROKER_APP_THROTTLED || instance_alive(&a->inst))
		return;   /* the retry timer or the instance's end comes back here */
	if (backoff_throttle(d, a))
		return;
	if (d->nstarting >= d->cfg.max_pending_activations) {
		log_full(LOG_NOTICE, a->id, NULL, 0, "waiting: %u activations are already starting", d->nstarting);
		return;
	}
	int r = start(d, a);
	if (r < 0) {
		char why[512];
		if (a->m->activation == ACTIVATION_WAKE_SOCKET && r == -EPERM)
			snprintf(why, sizeof(why), "wake socket %s is served by neither root nor the app's user %s",
				 a->m->wake_socket, a->m->user);
		else if (a->m->activation == ACTIVATION_WAKE_SOCKET)
			snprintf(why, sizeof(why), "cannot connect to wake socket %s: %s", a->m->wake_socket, strerror(-r));
		else
			snprintf(why, sizeof(why), "cannot start %s: %s", a->m->argv[0], strerror(-r));
		backoff_fail(d, a, r, why);
	}
}

static void wake_child_exited(struct daemon *d, struct app *a, int status)
{
	(void)status;
	if (a->conn)
		return;   /* the connection's end decides */
	if (a->state != BROKER_APP_BACKOFF && a->state != BROKER_APP_THROTTLED) {
		ev_timer_stop(d->loop, &a->timer);
		lifecycle_app_state(d, a, BROKER_APP_IDLE);
	}
	app_maybe_free(d, a);
}

int wake_attach(struct daemon *d, struct app *a, int fd, pid_t pid, char *why, size_t len)
{
	_cleanup_close_ int conn = fd;
	int type = 0, domain = 0;
	socklen_t tl = sizeof(type), dl = sizeof(domain);
	if (!a->m || a->m->handoff != HANDOFF_LIBBROKER) {
		snprintf(why, len, "%s's hand-off is %s: only an app with the libbroker hand-off attaches", a->id,
			 a->m ? manifest_handoff_name(a->m->handoff) : "gone");
		return -EOPNOTSUPP;
	}
	if (getsockopt(conn, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    getsockopt(conn, SOL_SOCKET, SO_DOMAIN, &domain, &dl) < 0 || type != SOCK_SEQPACKET || domain != AF_UNIX) {
		snprintf(why, len, "attach with one end of an AF_UNIX SOCK_SEQPACKET socket pair");
		return -EPROTOTYPE;
	}
	/* An instance that closed its activation just now: take in its end
	 * (and its last acks) before telling this one it is too late. */
	if (a->conn)
		handback_read(d, a->conn);
	if (a->conn) {
		if (a->attached)
			snprintf(why, len, "pid %d is attached as %s already", (int)a->attached, a->id);
		else
			snprintf(why, len, "%s has an instance connected already (started by brokerd, %s); "
				 "it receives the triggers", a->id, a->conn->hello ? "running" : "starting");
		return -EBUSY;
	}
	if (fcntl(conn, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	if (handback_open(d, a, conn) < 0)
		return -ENOMEM;
	conn = -1;   /* the exchange's now */
	lifecycle_app_attached(d, a, pid);
	backoff_arm(d, a, (double)backoff_timeout_ms(d, a) / 1000.);   /* for its ACT_HELLO */
	return 0;
}

const struct handoff_ops wake_ops = {
	.deliver = wake_deliver,
	.child_exited = wake_child_exited,
};
