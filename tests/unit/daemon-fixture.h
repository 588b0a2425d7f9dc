/* SPDX-License-Identifier: MIT */
/* A struct daemon for the daemon's unit suites (daemon_init(), a libev loop
 * of its own), and helpers to hold real sockets in it and run its loop. */
#pragma once

#include <string.h>
#include <sys/socket.h>

#include "app.h"
#include "daemon.h"
#include "held.h"
#include "lifecycle.h"
#include "registry.h"
#include "testutil.h"
#include "util.h"

static struct daemon d;
static int fds_at_start;

static inline void daemon_setup(void)
{
	/* The default loop: only it has child watchers. */
	ck_assert_int_eq(daemon_init(&d, ev_default_loop(EVFLAG_AUTO), false), 0);
	ck_assert_ptr_nonnull(d.loop);
	fds_at_start = count_fds();
}

/* Tear everything down as brokerd does at exit, and insist that nothing
 * is left: no app, no socket, no fd. */
static inline void daemon_teardown(void)
{
	registry_shutdown(&d);
	ck_assert_uint_eq(d.napps, 0);
	ck_assert_uint_eq(d.nheld, 0);
	ck_assert_int_le(count_fds(), fds_at_start);
	struct ev_loop *loop = d.loop;
	daemon_free(&d);
	ev_loop_destroy(loop);
}

/* A connected AF_UNIX stream pair: [0] for brokerd, [1] the peer. */
static inline void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Has the peer seen brokerd's end closed?  (It holds the only copy.) */
static inline bool peer_sees_eof(int peer)
{
	char c;
	return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static inline struct held *add(struct app *a, const char *id, int fd, const char *ctx, uint32_t keepalive)
{
	struct held *h = NULL;
	int r = held_add(&d, a, id, fd, ctx, ctx ? (uint32_t)strlen(ctx) : 0, keepalive, 1000, &h);
	ck_assert_msg(r == 0, "held_add %s: %d", id, r);
	ck_assert_ptr_nonnull(h);
	return h;
}

/* App id with a manifest (user: this test's), whose sections after [app]'s
 * id and user are text (e.g. "[activation]\ncommand = /bin/true\n"). */
static inline struct app *app_with_manifest(const char *id, const char *text)
{
	char m[1024], err[256];
	snprintf(m, sizeof(m), "[app]\nid = %s\nuser = %u\n%s", id, (unsigned)getuid(), text);
	struct app *a = app_get(&d, id);
	ck_assert_ptr_nonnull(a);
	ck_assert_msg(manifest_parse_string(m, "test", true, &a->m, err, sizeof(err)) == 0, "%s", err);
	return a;
}

/* brokerd lets go of h (as a drop or a claim would). */
static inline void drop(struct held *h)
{
	lifecycle_remove(&d, &(struct event){ .type = EVENT_REMOVED, .held = h });
}

static inline void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until *done, for at most 10 s. */
static inline void run_until(const bool *done)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 10., 0.);
	ev_timer_start(d.loop, &guard);
	while (!*done && ev_is_active(&guard))
		ev_run(d.loop, EVRUN_ONCE);
	ev_timer_stop(d.loop, &guard);
	ck_assert_msg(*done, "not done within 10 s");
}

/* Run the loop until h leaves WATCHING, for at most 10 s. */
static inline void run_until_triggered(struct held *h)
{
	ev_timer guard;
	ev_timer_init(&guard, on_guard, 10., 0.);
	ev_timer_start(d.loop, &guard);
	while (h->state == BROKER_STATE_WATCHING && ev_is_active(&guard))
		ev_run(d.loop, EVRUN_ONCE);
	ev_timer_stop(d.loop, &guard);
	ck_assert_uint_ne(h->state, BROKER_STATE_WATCHING);
}

/* Let the loop run what is ready now, a few times over. */
static inline void spin(void)
{
	for (int i = 0; i < 5; i++)
		ev_run(d.loop, EVRUN_NOWAIT);
}
