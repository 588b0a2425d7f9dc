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
 * One program runs per app at a time; what triggers meanwhile waits for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "store.h"
#include "util.h"

static void lend(struct daemon *d, struct held *h)
{
	if (h->state == BROKER_STATE_TRIGGERED) {
		TAILQ_REMOVE(&h->app->pending, h, queue);
		h->app->npending--;
	} else {
		held_unwatch(d, h);
	}
	h->state = BROKER_STATE_LENT;
	store_update(d, h);
}

/* A stream whose peer is gone cannot be told to a program that knows
 * nothing of the broker: let it go. */
static bool drop_if_closed(struct daemon *d, struct held *h)
{
	if (h->reason != BROKER_REASON_SOCKET_CLOSED || h->kind != BROKER_KIND_STREAM)
		return false;
	log_full(LOG_INFO, h->app->id, held_id(h), h->reason,
		 "peer closed; dropped (the %s program has no way to be told)", handoff_name(h->app->m->handoff));
	monitor_emit(d, BROKER_EVENT_DROP, h->app, h, h->reason, 0, 0, "peer closed");
	held_remove(d, h);
	return true;
}

static int started(struct daemon *d, struct app *a, int reason)
{
	ev_child_set(&a->child, a->pid, 0);
	ev_child_start(d->loop, &a->child);
	a->state = BROKER_APP_RUNNING;
	d->activations_total++;
	log_full(LOG_INFO, a->id, NULL, reason, "started %s (pid %d, %s)", a->m->argv[0], (int)a->pid,
		 handoff_name(a->m->handoff));
	monitor_emit(d, BROKER_EVENT_ACTIVATE, a, NULL, reason, 0, a->pid, "%s", handoff_name(a->m->handoff));
	return 0;
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
		if (h->app == a && (h->state == BROKER_STATE_WATCHING || h->state == BROKER_STATE_TRIGGERED)) {
			fds[n] = held_fd(h);
			names[n++] = held_id(h);
		}
	r = spawn_command(d, a, fds, names, n, -1, reason, &a->pid);
	if (r < 0)
		goto out;
	TAILQ_FOREACH(h, &d->all, all)
		if (h->app == a && (h->state == BROKER_STATE_WATCHING || h->state == BROKER_STATE_TRIGGERED))
			lend(d, h);
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
				log_full(LOG_WARNING, a->id, held_id(h), reason, "accept failed: %m");
			/* nothing to serve after all: watch again */
			TAILQ_REMOVE(&a->pending, h, queue);
			a->npending--;
			held_watch(d, h);
			store_update(d, h);
			return 0;
		}
		r = spawn_command(d, a, NULL, NULL, 0, conn, reason, &a->pid);
		close(conn);
		if (r < 0)
			return r;
		lend(d, h);   /* watched again when this connection's program exits */
		return started(d, a, reason);
	}
	r = spawn_command(d, a, NULL, NULL, 0, held_fd(h), reason, &a->pid);
	if (r < 0)
		return r;
	started(d, a, reason);
	if (h->kind == BROKER_KIND_STREAM) {
		monitor_emit(d, BROKER_EVENT_ACK, a, h, reason, 0, a->pid, "given to the inetd program");
		held_remove(d, h);   /* the connection is the program's now */
	} else {
		lend(d, h);
	}
	return 0;
}

void compat_deliver(struct daemon *d, struct app *a)
{
	if (a->pid || a->state == BROKER_APP_BACKOFF)
		return;   /* one at a time; the exit or the retry comes back here */
	struct held *h, *next;
	TAILQ_FOREACH_SAFE(h, &a->pending, queue, next)
		drop_if_closed(d, h);
	h = TAILQ_FIRST(&a->pending);
	if (!h)
		return;
	int r = a->m->handoff == HANDOFF_LISTEN_FDS ? start_listen_fds(d, a) : start_inetd(d, a, h);
	if (r < 0) {
		char why[512];
		snprintf(why, sizeof(why), "cannot start %s: %s", a->m->argv[0], strerror(-r));
		app_failed(d, a, r, why);
	}
}

void compat_child_exited(struct daemon *d, struct app *a, int status)
{
	/* Everything lent comes back and is watched again. */
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all)
		if (h->app == a && h->state == BROKER_STATE_LENT) {
			h->deadline = 0;
			held_watch(d, h);
			store_update(d, h);
		}
	a->state = BROKER_APP_IDLE;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		app_failed(d, a, -ECHILD, "the program failed; its sockets are watched again");
		return;
	}
	a->failures = 0;
	if (a->npending)
		app_kick(d, a);
	app_maybe_free(d, a);
}
