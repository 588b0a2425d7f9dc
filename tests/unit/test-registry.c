/* SPDX-License-Identifier: MIT */
/* The registry: apps and held sockets, with real sockets and a real libev
 * loop; one-shot watching and the keep-alive timer; reload of apps.d. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "brokerd.h"
#include "testutil.h"
#include "util.h"

static struct daemon d;
static int fds_at_start;

static void setup(void)
{
	memset(&d, 0, sizeof(d));
	d.loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(d.loop);
	ev_set_userdata(d.loop, &d);
	d.control_fd = -1;
	TAILQ_INIT(&d.apps);
	TAILQ_INIT(&d.all);
	TAILQ_INIT(&d.clients);
	ck_assert_int_eq(config_defaults(&d.cfg, false), 0);
	fds_at_start = count_fds();
}

/* Tear everything down as brokerd does at exit, and insist that nothing
 * is left: no app, no socket, no fd. */
static void teardown(void)
{
	registry_shutdown(&d);
	ck_assert_uint_eq(d.napps, 0);
	ck_assert_uint_eq(d.nheld, 0);
	ck_assert_int_le(count_fds(), fds_at_start);
	config_free(&d.cfg);
	ev_loop_destroy(d.loop);
}

/* A connected AF_UNIX stream pair: [0] for brokerd, [1] the peer. */
static void pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Has the peer seen brokerd's end closed?  (It holds the only copy.) */
static bool peer_sees_eof(int peer)
{
	char c;
	return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static struct held *add(struct app *a, const char *id, int fd, const char *ctx, uint32_t keepalive)
{
	struct held *h = NULL;
	int r = held_add(&d, a, id, fd, ctx, ctx ? (uint32_t)strlen(ctx) : 0, keepalive, 1000, &h);
	ck_assert_msg(r == 0, "held_add %s: %d", id, r);
	ck_assert_ptr_nonnull(h);
	return h;
}

START_TEST(add_find_remove)
{
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "com.example.push");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(app_get(&d, "com.example.push"), a);
	ck_assert_ptr_eq(app_find(&d, "com.example.push"), a);
	ck_assert_ptr_null(app_find(&d, "com.example"));
	ck_assert_uint_eq(d.napps, 1);

	struct held *h = add(a, "sock-1", sv[0], "context\0bytes", 0);
	ck_assert_ptr_eq(held_find(a, "sock-1"), h);
	ck_assert_ptr_null(held_find(a, "sock-2"));
	ck_assert_ptr_null(held_find(a, ""));
	ck_assert_str_eq(held_id(h), "sock-1");
	ck_assert_uint_eq(h->ctx_len, 7);
	ck_assert_mem_eq(held_ctx(h), "context", 7);
	ck_assert_int_eq(held_fd(h), sv[0]);
	ck_assert_ptr_eq(h->app, a);
	ck_assert_uint_eq(h->kind, BROKER_KIND_STREAM);
	ck_assert_uint_eq(h->family, AF_UNIX);
	ck_assert_uint_eq(h->sotype, SOCK_STREAM);
	ck_assert_uint_eq(h->state, BROKER_STATE_WATCHING);
	ck_assert_uint_eq(h->owner, 1000);
	ck_assert_uint_eq(h->serial, 1);
	ck_assert_uint_gt(h->held_since, 0);
	ck_assert_uint_eq(h->last_trigger, 0);
	ck_assert(held_watched(h));
	ck_assert(!held_timer(h) || !ev_is_active(held_timer(h)));
	ck_assert_uint_eq(a->nheld, 1);
	ck_assert_uint_eq(d.nheld, 1);
	ck_assert_uint_eq(held_count_state(&d, BROKER_STATE_WATCHING), 1);
	ck_assert(!peer_sees_eof(sv[1]));

	held_remove(&d, h);
	ck_assert_ptr_null(held_find(a, "sock-1"));
	ck_assert_uint_eq(a->nheld, 0);
	ck_assert_uint_eq(d.nheld, 0);
	ck_assert_uint_eq(held_count_state(&d, BROKER_STATE_WATCHING), 0);
	ck_assert(peer_sees_eof(sv[1]));   /* brokerd's copy is closed */

	/* no manifest and no sockets: the app goes */
	app_maybe_free(&d, a);
	ck_assert_ptr_null(app_find(&d, "com.example.push"));
	ck_assert_uint_eq(d.napps, 0);
	close(sv[1]);
}
END_TEST

START_TEST(replace_same_id)
{
	int old[2], new[2];
	pair(old);
	pair(new);
	struct app *a = app_get(&d, "app");
	struct held *h1 = add(a, "conn", old[0], "first", 0);
	struct held *h2 = add(a, "conn", new[0], "second, longer", 30);
	ck_assert_ptr_eq(held_find(a, "conn"), h2);
	ck_assert_ptr_ne(h1, h2);
	ck_assert_uint_eq(h2->serial, 2);
	ck_assert_uint_eq(h2->keepalive_sec, 30);
	ck_assert_mem_eq(held_ctx(h2), "second, longer", 14);
	ck_assert_uint_eq(a->nheld, 1);
	ck_assert_uint_eq(d.nheld, 1);
	ck_assert(peer_sees_eof(old[1]));   /* the old socket is let go */
	ck_assert(!peer_sees_eof(new[1]));
	ck_assert_ptr_eq(TAILQ_FIRST(&d.all), h2);
	ck_assert_ptr_null(TAILQ_NEXT(h2, all));
	close(old[1]);
	close(new[1]);
}
END_TEST

START_TEST(serial_order_and_counts)
{
	int sv[4][2];
	struct app *a = app_get(&d, "app.a"), *b = app_get(&d, "app.b");
	for (int i = 0; i < 4; i++)
		pair(sv[i]);
	add(a, "x", sv[0][0], NULL, 0);
	add(b, "x", sv[1][0], NULL, 0);   /* the same id in another app is another socket */
	add(a, "y", sv[2][0], NULL, 0);
	ck_assert_uint_eq(a->nheld, 2);
	ck_assert_uint_eq(b->nheld, 1);
	ck_assert_uint_eq(d.nheld, 3);
	ck_assert_ptr_ne(held_find(a, "x"), held_find(b, "x"));

	add(b, "x", sv[3][0], NULL, 0);   /* replacing moves it to the end, with a new serial */
	static const struct { const char *app, *id; uint64_t serial; } want[] = {
		{ "app.a", "x", 1 }, { "app.a", "y", 3 }, { "app.b", "x", 4 },
	};
	struct held *h;
	size_t i = 0;
	TAILQ_FOREACH(h, &d.all, all) {
		ck_assert_uint_lt(i, ARRAY_SIZE(want));
		ck_assert_str_eq(h->app->id, want[i].app);
		ck_assert_str_eq(held_id(h), want[i].id);
		ck_assert_uint_eq(h->serial, want[i].serial);
		i++;
	}
	ck_assert_uint_eq(i, 3);
	ck_assert_uint_eq(d.nheld, 3);
	ck_assert_uint_eq(held_count_state(&d, BROKER_STATE_WATCHING), 3);
	ck_assert_uint_eq(held_count_state(&d, BROKER_STATE_TRIGGERED), 0);
	for (int k = 0; k < 4; k++)
		close(sv[k][1]);
}
END_TEST

/* held_add consumes the fd on failure too, and changes nothing else. */
START_TEST(add_failures_consume_fd)
{
	struct app *a = app_get(&d, "app");
	int before = count_fds();
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	struct held *sentinel = (struct held *)0x1234, *h = sentinel;
	ck_assert_int_eq(held_add(&d, a, "pipe", p[0], NULL, 0, 0, 0, &h), -ENOTSOCK);
	ck_assert_ptr_eq(h, sentinel);
	close(p[1]);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(held_add(&d, a, "unconnected", s, NULL, 0, 0, 0, &h), -ENOTCONN);
	ck_assert_ptr_eq(h, sentinel);
	ck_assert_int_eq(count_fds(), before);
	ck_assert_uint_eq(a->nheld, 0);
	ck_assert_uint_eq(d.nheld, 0);
	ck_assert_uint_eq(d.next_serial, 0);
	ck_assert_ptr_null(TAILQ_FIRST(&d.all));
}
END_TEST

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until h leaves WATCHING, for at most 10 s. */
static void run_until_triggered(struct held *h)
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
static void spin(void)
{
	for (int i = 0; i < 5; i++)
		ev_run(d.loop, EVRUN_NOWAIT);
}

START_TEST(watch_triggers_once)
{
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "app");
	struct held *h = add(a, "s", sv[0], NULL, 0);
	spin();
	ck_assert_uint_eq(h->state, BROKER_STATE_WATCHING);   /* quiet: nothing happens */

	send(sv[1], "ping", 4, MSG_NOSIGNAL);
	run_until_triggered(h);
	ck_assert_uint_eq(h->state, BROKER_STATE_TRIGGERED);
	ck_assert_uint_eq(h->reason, BROKER_REASON_SOCKET_ACTIVITY);
	ck_assert_uint_gt(h->last_trigger, 0);
	ck_assert_uint_eq(a->npending, 1);
	ck_assert_ptr_eq(TAILQ_FIRST(&a->pending), h);
	ck_assert_uint_eq(d.triggers_total, 1);
	ck_assert(!held_watched(h));

	/* one-shot: more data, more loop iterations, no second trigger */
	send(sv[1], "pong", 4, MSG_NOSIGNAL);
	spin();
	ck_assert_uint_eq(d.triggers_total, 1);
	ck_assert_uint_eq(a->npending, 1);
	ck_assert_uint_eq(held_count_state(&d, BROKER_STATE_TRIGGERED), 1);
	/* and not a byte was read */
	char got[16];
	ck_assert_int_eq(recv(held_fd(h), got, sizeof(got), MSG_DONTWAIT), 8);
	ck_assert_mem_eq(got, "pingpong", 8);

	/* removing a triggered socket takes it off the pending queue */
	held_remove(&d, h);
	ck_assert_uint_eq(a->npending, 0);
	ck_assert_ptr_null(TAILQ_FIRST(&a->pending));
	close(sv[1]);
}
END_TEST

/* A socket brokerd lets go of while someone else keeps it (a claim, an
 * acknowledged hand-back) leaves brokerd's epoll set: its traffic from
 * then on is not brokerd's business and must not wake it. */
START_TEST(let_go_socket_leaves_the_set)
{
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "app");
	int kept = dup(sv[0]);   /* the app's copy */
	ck_assert_int_ge(kept, 0);
	struct held *h = add(a, "armed", sv[0], NULL, 0);
	ck_assert(held_watched(h));
	held_remove(&d, h);
	send(sv[1], "ping", 4, MSG_NOSIGNAL);
	struct epoll_event ev;
	ck_assert_int_eq(epoll_wait(d.held_ep, &ev, 1, 0), 0);
	spin();

	/* Triggered first (its one-shot event spent), then let go: still silent. */
	int kept2 = dup(kept);
	h = add(a, "fired", kept, NULL, 0);
	run_until_triggered(h);   /* "ping" is waiting */
	held_remove(&d, h);
	send(sv[1], "pong", 4, MSG_NOSIGNAL);
	ck_assert_int_eq(epoll_wait(d.held_ep, &ev, 1, 0), 0);
	spin();
	char got[16];
	ck_assert_int_eq(recv(kept2, got, sizeof(got), MSG_DONTWAIT), 8);   /* nothing read */
	close(kept2);
	close(sv[1]);
}
END_TEST

START_TEST(watch_sees_close)
{
	int sv[2];
	pair(sv);
	struct held *h = add(app_get(&d, "app"), "s", sv[0], NULL, 0);
	close(sv[1]);
	run_until_triggered(h);
	ck_assert_uint_eq(h->reason, BROKER_REASON_SOCKET_CLOSED);
}
END_TEST

START_TEST(keepalive_timer)
{
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "app");
	struct held *h = add(a, "s", sv[0], NULL, 3600);
	ck_assert(held_timer(h) && ev_is_active(held_timer(h)));
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	ck_assert_uint_gt(h->deadline, now + 3599ull * 1000000u);
	ck_assert_uint_le(h->deadline, now + 3600ull * 1000000u);

	/* Rather than wait an hour: the deadline has passed. */
	held_unwatch(&d, h);
	h->deadline = now;
	held_watch(&d, h);
	run_until_triggered(h);
	ck_assert_uint_eq(h->reason, BROKER_REASON_KEEPALIVE_EXPIRED);
	ck_assert_uint_eq(h->deadline, 0);
	ck_assert(!held_timer(h) || !ev_is_active(held_timer(h)));
	ck_assert(!held_watched(h));
	close(sv[1]);
}
END_TEST

START_TEST(listener_has_no_keepalive_timer)
{
	/* an abstract name of this process's own: nothing to clean up */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "broker-test-registry-%d", (int)getpid());
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, len), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	struct held *h = add(app_get(&d, "app"), "l", l, NULL, 60);
	ck_assert_uint_eq(h->kind, BROKER_KIND_LISTENER);
	ck_assert(!held_timer(h) || !ev_is_active(held_timer(h)));
	int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, len), 0);
	run_until_triggered(h);
	ck_assert_uint_eq(h->reason, BROKER_REASON_CONNECTION_ACCEPTED);
	int acc = accept4(held_fd(h), NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(acc, 0);   /* still pending for the app */
	close(acc);
	close(c);
}
END_TEST

static void write_manifest(const char *name, const char *id)
{
	char text[512];
	snprintf(text, sizeof(text), "[app]\nid = %s\nuser = 0\n[activation]\ncommand = /bin/true %s\n", id, id);
	write_temp_file(name, text);
}

START_TEST(reload)
{
	free(d.cfg.apps_dir);
	d.cfg.apps_dir = strdup(TEMP_DIR);
	write_manifest("one.conf", "app.one");
	write_manifest("two.conf", "app.two");
	ck_assert_int_eq(daemon_reload(&d), 0);
	ck_assert_uint_eq(d.napps, 2);
	struct app *one = app_find(&d, "app.one"), *two = app_find(&d, "app.two");
	ck_assert_ptr_nonnull(one);
	ck_assert_ptr_nonnull(two);
	ck_assert_str_eq(one->m->argv[1], "app.one");

	int sv[2];
	pair(sv);
	struct held *h = add(two, "s", sv[0], NULL, 0);

	/* two's manifest goes: the app stays while it holds a socket */
	char path[4096];
	snprintf(path, sizeof(path), "%s/two.conf", TEMP_DIR);
	ck_assert_int_eq(unlink(path), 0);
	write_manifest("three.conf", "app.three");
	ck_assert_int_eq(daemon_reload(&d), 0);
	ck_assert_ptr_eq(app_find(&d, "app.two"), two);
	ck_assert_ptr_null(two->m);
	ck_assert_ptr_eq(held_find(two, "s"), h);
	ck_assert_uint_eq(h->state, BROKER_STATE_WATCHING);
	ck_assert_ptr_eq(app_find(&d, "app.one"), one);   /* the same app, a fresh manifest */
	ck_assert_ptr_nonnull(one->m);
	ck_assert_ptr_nonnull(app_find(&d, "app.three"));
	ck_assert_uint_eq(d.napps, 3);

	/* a directory that cannot be read: the manifests in force stay */
	free(d.cfg.apps_dir);
	d.cfg.apps_dir = strdup(path);   /* the removed file's path, now a file */
	write_manifest("two.conf", "app.two");
	ck_assert_int_eq(daemon_reload(&d), -ENOTDIR);
	ck_assert_ptr_nonnull(app_find(&d, "app.one")->m);
	ck_assert_uint_eq(d.napps, 3);

	/* an empty apps.d: apps without sockets go, two keeps its socket */
	free(d.cfg.apps_dir);
	snprintf(path, sizeof(path), "%s/empty", TEMP_DIR);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	d.cfg.apps_dir = strdup(path);
	ck_assert_int_eq(daemon_reload(&d), 0);
	ck_assert_uint_eq(d.napps, 1);
	ck_assert_ptr_eq(app_find(&d, "app.two"), two);
	ck_assert_ptr_null(app_find(&d, "app.one"));
	held_remove(&d, h);
	app_maybe_free(&d, two);
	ck_assert_uint_eq(d.napps, 0);
	close(sv[1]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, add_find_remove);
	tcase_add_test(tc, replace_same_id);
	tcase_add_test(tc, serial_order_and_counts);
	tcase_add_test(tc, add_failures_consume_fd);
	tcase_add_test(tc, watch_triggers_once);
	tcase_add_test(tc, watch_sees_close);
	tcase_add_test(tc, let_go_socket_leaves_the_set);
	tcase_add_test(tc, keepalive_timer);
	tcase_add_test(tc, listener_has_no_keepalive_timer);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_checked_fixture(tc, temp_dir_setup, temp_dir_teardown);
	tcase_add_test(tc, reload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
