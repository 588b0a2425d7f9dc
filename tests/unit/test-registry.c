/* SPDX-License-Identifier: MIT */
/* The registry and the lifecycle (core alone): apps and held sockets, with
 * real sockets and a real libev loop; the keep-alive timer; a socket that
 * cannot be armed; reload of apps.d.  Triggers by readiness are
 * test-trigger's (they need the cycle's classifier). */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "daemon-fixture.h"
#include "pollset.h"
#include "reglog.h"

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

	drop(h);
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

	/* The timer's end is the trigger (rather than wait an hour). */
	ev_timer_stop(d.loop, held_timer(h));
	ev_timer_set(held_timer(h), 0., 0.);
	ev_timer_start(d.loop, held_timer(h));
	run_until_triggered(h);
	ck_assert_uint_eq(h->reason, BROKER_REASON_KEEPALIVE_EXPIRED);
	ck_assert_uint_eq(h->deadline, 0);
	ck_assert(!held_timer(h) || !ev_is_active(held_timer(h)));
	ck_assert(!held_watched(h));
	ck_assert_uint_eq(a->npending, 1);
	ck_assert_uint_eq(d.triggers_total, 1);
	close(sv[1]);
}
END_TEST

/* A socket restored with a keep-alive deadline that passed while brokerd
 * was away triggers at once. */
START_TEST(keepalive_restored_past_deadline)
{
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "app");
	struct reglog_entry e = {
		.serial = 7, .held_since = 1, .deadline = now_usec(CLOCK_MONOTONIC) - 1, .keepalive_sec = 3600,
		.owner = 1000, .kind = BROKER_KIND_STREAM, .state = BROKER_STATE_WATCHING, .sotype = SOCK_STREAM,
		.family = AF_UNIX, .app_len = 3, .id_len = 1, .app_id = "app", .id = "s", .ctx = "",
	};
	struct held *h;
	ck_assert_int_eq(held_restore(&d, a, &e, sv[0], &h), 0);
	ck_assert_uint_eq(h->serial, 7);
	ck_assert(held_watched(h));
	ck_assert(held_timer(h) && ev_is_active(held_timer(h)));
	run_until_triggered(h);
	ck_assert_uint_eq(h->reason, BROKER_REASON_KEEPALIVE_EXPIRED);
	ck_assert_uint_eq(a->npending, 1);
	close(sv[1]);
}
END_TEST

/* Replace the poll set with an fd that is no epoll set: every arm fails. */
static int break_pollset(void)
{
	int real = d.held_ep;
	d.held_ep = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(d.held_ep, 0);
	return real;
}

static void mend_pollset(int real)
{
	close(d.held_ep);
	d.held_ep = real;
}

/* A transfer brokerd cannot watch is refused: the fd is closed, nothing is
 * held, and the socket it would have replaced stays held and watched. */
START_TEST(unarmable_transfer_refused)
{
	int old[2], new[2];
	pair(old);
	pair(new);
	struct app *a = app_get(&d, "app");
	struct held *h = add(a, "s", old[0], "old", 0);
	int fds = count_fds();
	int real = break_pollset();
	struct held *sentinel = (struct held *)0x1234, *got = sentinel;
	ck_assert_int_eq(held_add(&d, a, "s", new[0], NULL, 0, 0, 1000, &got), -EINVAL);
	ck_assert_ptr_eq(got, sentinel);
	ck_assert_int_eq(count_fds(), fds);   /* new[0] closed; the /dev/null stand-in open */
	mend_pollset(real);
	ck_assert(peer_sees_eof(new[1]));
	ck_assert_ptr_eq(held_find(a, "s"), h);
	ck_assert(held_watched(h));
	ck_assert_uint_eq(a->nheld, 1);
	ck_assert_uint_eq(d.nheld, 1);
	ck_assert(!peer_sees_eof(old[1]));
	close(old[1]);
	close(new[1]);
}
END_TEST

/* A socket that cannot be armed again (its listen-fds program exited, say)
 * is not left unwatched: it goes back to its app, triggered as closed. */
START_TEST(unarmable_watch_goes_back)
{
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "app");
	struct held *h = add(a, "s", sv[0], NULL, 0);
	send(sv[1], "x", 1, MSG_NOSIGNAL);
	for (int i = 0; i < 100 && h->poll != POLL_FIRED; i++)
		ev_run(d.loop, EVRUN_ONCE);   /* the set reports it; nobody classifies in core */
	ck_assert_uint_eq(h->poll, POLL_FIRED);
	ck_assert_uint_eq(h->state, BROKER_STATE_WATCHING);
	lifecycle_lend(&d, h);
	ck_assert_uint_eq(h->state, BROKER_STATE_LENT);
	int real = break_pollset();
	lifecycle_watch(&d, h);
	mend_pollset(real);
	ck_assert_uint_eq(h->state, BROKER_STATE_TRIGGERED);
	ck_assert_uint_eq(h->reason, BROKER_REASON_SOCKET_CLOSED);
	ck_assert_ptr_eq(TAILQ_FIRST(&a->pending), h);
	ck_assert_uint_eq(a->npending, 1);
	ck_assert_uint_eq(d.triggers_total, 1);
	ck_assert(!held_watched(h));
	close(sv[1]);
}
END_TEST

static unsigned seen[EVENT_MAX];
static void count_event(struct daemon *dd, const struct event *ev)
{
	(void)dd;
	seen[ev->type]++;
}

/* One event per transition, in order, with the socket still there. */
START_TEST(events_per_transition)
{
	memset(seen, 0, sizeof(seen));
	ck_assert_int_eq(event_subscribe(&d, count_event, EVENT_ALL), 0);
	int sv[2];
	pair(sv);
	struct app *a = app_get(&d, "app");
	struct held *h = add(a, "s", sv[0], NULL, 0);
	ck_assert_uint_eq(seen[EVENT_TRANSFER], 1);
	lifecycle_trigger(&d, h, BROKER_REASON_SOCKET_ACTIVITY);
	lifecycle_trigger(&d, h, BROKER_REASON_SOCKET_ACTIVITY);   /* one-shot */
	ck_assert_uint_eq(seen[EVENT_TRIGGER], 1);
	lifecycle_send(&d, h);
	ck_assert_uint_eq(h->state, BROKER_STATE_HANDING_BACK);
	ck_assert_uint_eq(a->ninflight, 1);
	ck_assert_uint_eq(a->npending, 0);
	lifecycle_requeue(&d, a);
	ck_assert_uint_eq(seen[EVENT_REQUEUED], 1);
	ck_assert_uint_eq(h->state, BROKER_STATE_TRIGGERED);
	ck_assert_uint_eq(a->npending, 1);
	lifecycle_send(&d, h);
	ck_assert_uint_eq(seen[EVENT_HANDBACK], 2);
	lifecycle_remove(&d, &(struct event){ .type = EVENT_ACK, .held = h });
	ck_assert_uint_eq(seen[EVENT_ACK], 1);
	ck_assert_uint_eq(a->acked, 1);
	ck_assert_uint_eq(a->ninflight, 0);
	ck_assert_uint_eq(d.handbacks_total, 1);
	ck_assert(peer_sees_eof(sv[1]));
	app_maybe_free(&d, a);
	ck_assert_uint_eq(seen[EVENT_APP_GONE], 1);
	close(sv[1]);
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
	ck_assert_int_eq(registry_reload(&d), 0);
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
	ck_assert_int_eq(registry_reload(&d), 0);
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
	ck_assert_int_eq(registry_reload(&d), -ENOTDIR);
	ck_assert_ptr_nonnull(app_find(&d, "app.one")->m);
	ck_assert_uint_eq(d.napps, 3);

	/* an empty apps.d: apps without sockets go, two keeps its socket */
	free(d.cfg.apps_dir);
	snprintf(path, sizeof(path), "%s/empty", TEMP_DIR);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	d.cfg.apps_dir = strdup(path);
	ck_assert_int_eq(registry_reload(&d), 0);
	ck_assert_uint_eq(d.napps, 1);
	ck_assert_ptr_eq(app_find(&d, "app.two"), two);
	ck_assert_ptr_null(app_find(&d, "app.one"));
	drop(h);
	app_maybe_free(&d, two);
	ck_assert_uint_eq(d.napps, 0);
	close(sv[1]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, add_find_remove);
	tcase_add_test(tc, replace_same_id);
	tcase_add_test(tc, serial_order_and_counts);
	tcase_add_test(tc, add_failures_consume_fd);
	tcase_add_test(tc, keepalive_timer);
	tcase_add_test(tc, keepalive_restored_past_deadline);
	tcase_add_test(tc, unarmable_transfer_refused);
	tcase_add_test(tc, unarmable_watch_goes_back);
	tcase_add_test(tc, events_per_transition);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_checked_fixture(tc, temp_dir_setup, temp_dir_teardown);
	tcase_add_test(tc, reload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
