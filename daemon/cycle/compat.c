/* SPDX-License-Identifier: MIT */
/*
 * Hand-offs for programs never written for the broker (exec only):
 *   listen-fds  every socket the app holds becomes a LISTEN_FDS entry named
 *               by its id, as systemd's socket activation would pass it.
 *               The sockets are lent: brokerd keeps its copies and watches
 *               them again when the program exits.
 *   inetd       one triggered socket becomes stdin and stdout.  A listener
 *               gets one accepted connection per start; a connected stream
 *               is given away; a datagram socket is lent.
 * One instance runs per app at a time, until its last process is gone;
 * what triggers meanwhile waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"
#include "app.h"
#include "handoff.h"
#include "lifecycle.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

/* A stream whose peer is gone cannot be told to a program that knows
 * nothing of the broker: let it go. */
static bool drop_if_closed(struct daemon *d, struct held *h)
{
	if (h->reason != BROKER_REASON_SOCKET_CLOSED || h->kind != BROKER_KIND_STREAM)
		return false;
	lifecycle_remove(d, &(struct event){ .type = EVENT_PEER_GONE, .held = h, .reason = h->reason });
	return true;
}

static int started(struct daemon *d, struct app *a, int reason)
{
	lifecycle_app_state(d, a, BROKER_APP_RUNNING);
	lifecycle_app_activated(d, a, reason, manifest_handoff_name(a->m->handoff));
	return 0;
}

static bool lendable(const struct held *h, const struct app *a)
{
	return h->app == a && (h->state == BROKER_STATE_WATCHING || h->state == BROKER_STATE_TRIGGERED);
}

static int start_listen_fds(struct daemon *d, struct app *a)
{
	int reason = TAILQ_FIRST(&a->pending)->reason;
	int *fds = calloc(a->nheld, sizeof(*fds));
	const char **names = calloc(a->nheld, sizeof(*names));
	unsigned n = 0;
	struct held *h;
	int r = -ENOMEM;
	if (!fds || !names)
		goto out;
	TAILQ_FOREACH(h, &d->all, all)
		if (lendable(h, a)) {
			fds[n] = held_fd(h);
			names[n++] = held_id(h);
		}
	r = spawn_command(d, a, fds, names, n, -1, reason, &a->pid);
	if (r < 0)
		goto out;
	TAILQ_FOREACH(h, &d->all, all)
		if (lendable(h, a))
			lifecycle_lend(d, h);
	started(d, a, reason);
out:
	free(fds);
	free(names);
	return r;
}

static int start_inetd(struct daemon *d, struct app *a, struct held *h)
{
	int r, reason = h->reason;
	if (h->kind == BROKER_KIND_LISTENER) {
		int conn = accept4(held_fd(h), NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno != EAGAIN && errno != ECONNABORTED)
				log_full_errno(LOG_WARNING, errno, a->id, held_id(h), reason, "accept failed: %m");
			lifecycle_watch(d, h);   /* nothing to serve after all: watch again */
			return 0;
		}
		r = spawn_command(d, a, NULL, NULL, 0, conn, reason, &a->pid);
		close(conn);
		if (r < 0)
			return r;
		lifecycle_lend(d, h);   /* watched again when this connection's program exits */
		return started(d, a, reason);
	}
	r = spawn_command(d, a, NULL, NULL, 0, held_fd(h), reason, &a->pid);
	if (r < 0)
		return r;
	started(d, a, reason);
	if (h->kind == BROKER_KIND_STREAM)   /* the connection is the program's now */
		lifecycle_remove(d, &(struct event){ .type = EVENT_GIVEN, .held = h, .reason = reason, .pid = a->pid });
	else
		lifecycle_lend(d, h);
	return 0;
}

static void deliver(struct daemon *d, struct app *a, bool listen_fds)
{
	if (instance_alive(&a->inst) || a->state == BROKER_APP_BACKOFF || a->state == BROKER_APP_THROTTLED)
		return;   /* one at a time; the instance's end or the retry comes back here */
	struct held *h, *next;
	TAILQ_FOREACH_SAFE(h, &a->pending, queue, next)
		drop_if_closed(d, h);
	h = TAILQ_FIRST(&a->pending);
	if (!h || backoff_throttle(d, a))
		return;
	int r = listen_fds ? start_listen_fds(d, a) : start_inetd(d, a, h);
	if (r < 0) {
		char why[512];
		snprintf(why, sizeof(why), "cannot start %s: %s", a->m->argv[0], strerror(-r));
		backoff_fail(d, a, r, why);
	}
}

static void deliver_listen_fds(struct daemon *d, struct app *a)
{
	deliver(d, a, true);
}

static void deliver_inetd(struct daemon *d, struct app *a)
{
	deliver(d, a, false);
}

static void child_exited(struct daemon *d, struct app *a, int status)
{
	ev_timer_stop(d->loop, &a->timer);   /* a stop's deadline */
	/* Everything lent comes back and is watched again. */
	struct held *h, *next;
	TAILQ_FOREACH_SAFE(h, &d->all, all, next)
		if (h->app == a && h->state == BROKER_STATE_LENT)
			lifecycle_watch(d, h);
	lifecycle_app_state(d, a, BROKER_APP_IDLE);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char why[160];
		if (WIFEXITED(status))
			snprintf(why, sizeof(why), "%s exited with status %d; its sockets are watched again",
				 a->m ? a->m->argv[0] : "the program", WEXITSTATUS(status));
		else
			snprintf(why, sizeof(why), "%s was killed by signal %d (%s); its sockets are watched again",
				 a->m ? a->m->argv[0] : "the program", WTERMSIG(status), strsignal(WTERMSIG(status)));
		backoff_fail(d, a, -ECHILD, why);
		return;
	}
	lifecycle_app_succeeded(a);
	app_maybe_free(d, a);
}

const struct handoff_ops compat_listen_fds_ops = {
	.deliver = deliver_listen_fds,
	.child_exited = child_exited,
};

const struct handoff_ops compat_inetd_ops = {
	.deliver = deliver_inetd,
	.child_exited = child_exited,
};
