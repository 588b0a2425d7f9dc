/* SPDX-License-Identifier: MIT */
/* Triggers (core and cycle, no control): held sockets watched in the poll
 * set and classified when they wake, with real sockets and a real libev
 * loop; one-shot; the socket leaves the set when brokerd lets go; an
 * admin's trigger. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "daemon-fixture.h"
#include "trigger.h"

static void setup(void)
{
	daemon_setup();
	ck_assert_int_eq(trigger_init(&d), 0);
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
	drop(h);
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
	drop(h);
	send(sv[1], "ping", 4, MSG_NOSIGNAL);
	struct epoll_event ev;
	ck_assert_int_eq(epoll_wait(d.held_ep, &ev, 1, 0), 0);
	spin();

	/* Triggered first (its one-shot event spent), then let go: still silent. */
	int kept2 = dup(kept);
	h = add(a, "fired", kept, NULL, 0);
	run_until_triggered(h);   /* "ping" is waiting */
	drop(h);
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

/* brokerctl trigger: data shows as activity; a quiet socket or a listener
 * as an admin's trigger; anything not WATCHING is left as it is. */
START_TEST(admin_trigger)
{
	int sv[2], quiet[2];
	pair(sv);
	pair(quiet);
	struct app *a = app_get(&d, "app");
	struct held *h = add(a, "data", sv[0], NULL, 0), *q = add(a, "quiet", quiet[0], NULL, 0);
	send(sv[1], "x", 1, MSG_NOSIGNAL);
	trigger_admin(&d, h);
	ck_assert_uint_eq(h->state, BROKER_STATE_TRIGGERED);
	ck_assert_uint_eq(h->reason, BROKER_REASON_SOCKET_ACTIVITY);
	trigger_admin(&d, q);
	ck_assert_uint_eq(q->reason, BROKER_REASON_ADMIN_TRIGGER);
	trigger_admin(&d, q);   /* triggered already: nothing */
	ck_assert_uint_eq(d.triggers_total, 2);
	ck_assert_uint_eq(a->npending, 2);
	ck_assert_ptr_eq(TAILQ_FIRST(&a->pending), h);
	close(sv[1]);
	close(quiet[1]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("trigger");
	TCase *tc = tcase_create("trigger");
	tcase_add_checked_fixture(tc, setup, daemon_teardown);
	tcase_add_test(tc, watch_triggers_once);
	tcase_add_test(tc, watch_sees_close);
	tcase_add_test(tc, let_go_socket_leaves_the_set);
	tcase_add_test(tc, listener_has_no_keepalive_timer);
	tcase_add_test(tc, admin_trigger);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
