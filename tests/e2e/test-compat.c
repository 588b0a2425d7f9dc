/* SPDX-License-Identifier: MIT */
/*
 * Programs never written for the broker:
 *   listen-fds  Debian's systemd-socket-proxyd, written for systemd socket
 *               activation, gets the held listener in LISTEN_FDS and
 *               forwards to a loopback backend that the test runs;
 *   inetd       /bin/cat as an echo server, once per connection on a held
 *               listener, and once on a held connected stream.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.compat"
#define PROXYD "/lib/systemd/systemd-socket-proxyd"

START_TEST(listen_fds_socket_proxyd)
{
	ck_assert_msg(hb_exists(PROXYD), "%s is missing (package systemd)", PROXYD);
	struct hb b;
	hb_init(&b, "listen-fds", NULL);
	uint16_t backend_port, front_port;
	int backend = hb_tcp_listener(&backend_port);
	char command[256];
	snprintf(command, sizeof(command), "%s --exit-idle-time=200ms 127.0.0.1:%u", PROXYD, backend_port);
	hb_app(&b, APP, "listen-fds", command);
	hb_start(&b);
	broker *mon = hb_monitor(&b);

	int front = hb_tcp_listener(&front_port);
	hb_transfer(&b, APP, "web", front, NULL, 0, 0);
	for (int round = 0; round < 2; round++) {
		int client = hb_tcp_connect(front_port);
		hb_send(client, "hello", 5);
		/* brokerd starts the proxy with the listener; it connects to us. */
		ck_assert(hb_readable(backend, HB_WAIT_MS));
		int upstream = accept4(backend, NULL, NULL, SOCK_CLOEXEC);
		ck_assert_int_ge(upstream, 0);
		hb_expect_recv(upstream, "hello");
		ck_assert(hb_held_state(&b, APP, "web") == BROKER_STATE_LENT);
		hb_send(upstream, "world", 5);
		hb_expect_recv(client, "world");
		close(client);
		ck_assert(hb_eof(upstream, HB_WAIT_MS));
		close(upstream);
		/* Idle, the proxy exits; brokerd watches the listener again. */
		unsigned n[HB_EVENT_TYPES] = { 0 };
		ck_assert(hb_events_until(mon, BROKER_EVENT_EXIT, 1, n));
		ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 1);
		ck_assert(HB_WAIT(hb_held_state(&b, APP, "web") == BROKER_STATE_WATCHING, HB_WAIT_MS));
	}
	broker_info *i = hb_show(&b, APP, "web");
	ck_assert_int_eq(i->last_reason, BROKER_REASON_CONNECTION_ACCEPTED);
	broker_info_free(i);
	hb_drop(&b, APP, "web");
	broker_close(mon);
	close(backend);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* Send text, end our side, and expect cat to echo exactly it and finish. */
static void echo_round(int fd, const char *text)
{
	size_t len = strlen(text);
	hb_send(fd, text, len);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	hb_expect_recv(fd, text);
	ck_assert(hb_eof(fd, HB_WAIT_MS));
	close(fd);
}

START_TEST(inetd_cat_on_listener)
{
	struct hb b;
	hb_init(&b, "inetd-listener", NULL);
	hb_app(&b, APP, "inetd", "/bin/cat");
	hb_start(&b);
	broker *mon = hb_monitor(&b);

	uint16_t port;
	int l = hb_tcp_listener(&port);
	hb_transfer(&b, APP, "echo", l, NULL, 0, 0);
	const char *texts[2] = { "first connection", "second connection" };
	for (int round = 0; round < 2; round++) {
		echo_round(hb_tcp_connect(port), texts[round]);
		unsigned n[HB_EVENT_TYPES] = { 0 };
		ck_assert(hb_events_until(mon, BROKER_EVENT_EXIT, 1, n));
		ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 1);
		ck_assert(HB_WAIT(hb_held_state(&b, APP, "echo") == BROKER_STATE_WATCHING, HB_WAIT_MS));
	}
	hb_drop(&b, APP, "echo");
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(inetd_cat_on_stream)
{
	struct hb b;
	hb_init(&b, "inetd-stream", NULL);
	hb_app(&b, APP, "inetd", "/bin/cat");
	hb_start(&b);
	broker *mon = hb_monitor(&b);

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	/* The connection is given to cat for good: brokerd forgets it. */
	echo_round(peer, "bytes for cat");
	unsigned n[HB_EVENT_TYPES] = { 0 };
	ck_assert(hb_events_until(mon, BROKER_EVENT_EXIT, 1, n));
	ck_assert_uint_eq(n[BROKER_EVENT_ACTIVATE], 1);
	ck_assert_ptr_null(hb_show(&b, APP, "conn"));
	broker_close(mon);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-compat");
	TCase *tc = tcase_create("compat");
	tcase_add_test(tc, listen_fds_socket_proxyd);
	tcase_add_test(tc, inetd_cat_on_listener);
	tcase_add_test(tc, inetd_cat_on_stream);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
