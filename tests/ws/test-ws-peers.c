/* SPDX-License-Identifier: MIT */
/*
 * libbroker-ws against python3-websockets over ws:// and wss:// (the run's
 * PKI): messages and streams with exact bytes, subprotocol negotiation and
 * its refusals, Basic credentials, ping/pong both ways, the network
 * statuses, and a hand-off that leaves the unread frames in the socket;
 * and frames that arrive in pieces, on a socketpair.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ws-fixture.h"

static void connected(broker_ws *w, const char *url)
{
	int r = broker_ws_connect(w, url);
	ck_assert_msg(r == 0, "connect %s: %d %s", url, r, broker_ws_get_detail(w));
}

static void echo(broker_ws *w, int type, const char *text)
{
	char buf[256];
	int got = -1;
	size_t n = strlen(text);
	ck_assert_int_eq(broker_ws_send(w, type, text, n), (ssize_t)n);
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &got), (ssize_t)n);
	ck_assert_int_eq(got, type);
	ck_assert_mem_eq(buf, text, n);
}

START_TEST(messages_and_streams)
{
	int before = fd_count();
	struct wsp s;
	wsp_start(&s, _i, NULL);
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	connected(w, s.url);
	broker_ws_info i;
	broker_ws_get_info(w, &i);
	ck_assert(i.encrypted == (bool)_i);
	ck_assert(i.peer_verified == (bool)_i);
	ck_assert_int_eq(i.http_status, 101);
	ck_assert_str_eq(i.protocol, "");
	echo(w, BROKER_WS_TEXT, "hello, server");
	wsp_expect(&s, "recv text 'hello, server'");
	echo(w, BROKER_WS_BINARY, "\x01\x02\x03");
	wsp_expect(&s, "recv binary b'\\x01\\x02\\x03'");
	/* A message that needs the 16-bit length, one byte short of too long for buf. */
	static char big[70000], back[70000];
	for (size_t k = 0; k < sizeof(big); k++)
		big[k] = (char)('a' + k % 26);
	int type;
	ck_assert_int_eq(broker_ws_send(w, BROKER_WS_TEXT, big, sizeof(big)), (ssize_t)sizeof(big));
	ck_assert_int_eq(broker_ws_recv(w, back, sizeof(back) - 1, &type), -EMSGSIZE);
	ck_assert_int_eq(broker_ws_next_length(w), (ssize_t)sizeof(big));
	ck_assert_int_eq(broker_ws_recv(w, back, sizeof(back), &type), (ssize_t)sizeof(big));
	ck_assert_mem_eq(back, big, sizeof(big));
	/* The server closes: the end, with its code. */
	wsp_command(&s, "close");
	char buf[16];
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 0);
	ck_assert_int_eq(type, 0);
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.close_code, 1000);
	broker_ws_free(w);

	/* Stream mode: bytes across messages, in order. */
	w = ws_handle(BROKER_WS_STREAM);
	connected(w, s.url);
	ck_assert_int_eq(broker_ws_send(w, BROKER_WS_TEXT, "abc", 3), 3);
	ck_assert_int_eq(broker_ws_send(w, BROKER_WS_TEXT, "defg", 4), 4);
	wsp_expect(&s, "recv binary b'defg'");
	char got[8] = { 0 };
	size_t have = 0;
	while (have < 7) {
		ssize_t n = broker_ws_recv(w, got + have, 2, NULL);
		ck_assert_int_gt(n, 0);
		ck_assert_int_le(n, 2);
		have += (size_t)n;
	}
	ck_assert_str_eq(got, "abcdefg");
	ck_assert_int_eq(broker_ws_close(w, 0, "bye"), 0);
	wsp_expect(&s, "closed 1000");
	broker_ws_free(w);
	wsp_stop(&s);
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

START_TEST(subprotocols)
{
	struct wsp s;
	wsp_start(&s, false, "--protocols", "chat.v2,chat.v1", NULL);
	const char *offer[] = { "chat.v1", "other" };
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_protocols(w, offer, 2), 0);
	connected(w, s.url);
	broker_ws_info i;
	broker_ws_get_info(w, &i);
	ck_assert_str_eq(i.protocol, "chat.v1");
	wsp_expect(&s, "open chat.v1");
	echo(w, BROKER_WS_TEXT, "in chat.v1");
	broker_ws_free(w);

	/* The server picks none of ours and carries on without: refused here. */
	const char *wrong[] = { "mqtt" };
	w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_protocols(w, wrong, 1), 0);
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EPROTONOSUPPORT,
			  BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.http_status, 101);
	ck_assert_str_eq(i.server_protocol, "");
	ck_assert(!broker_ws_status_retry_may_help(broker_ws_get_status(w)));
	broker_ws_free(w);
	wsp_stop(&s);

	/* A server that refuses and names what it expects. */
	wsp_start(&s, false, "--protocols", "chat.v2", "--refuse-others", NULL);
	w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_protocols(w, wrong, 1), 0);
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EPROTONOSUPPORT,
			  BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.http_status, 400);
	ck_assert_str_eq(i.server_protocol, "chat.v2");
	ck_assert_ptr_nonnull(strstr(broker_ws_get_detail(w), "\"chat.v2\""));
	wsp_expect(&s, "refused mqtt");
	broker_ws_free(w);
	wsp_stop(&s);

	/* Not tokens, too many. */
	w = ws_handle(BROKER_WS_MESSAGE);
	const char *bad[] = { "a b" };
	ck_assert_int_eq(broker_ws_set_protocols(w, bad, 1), -EINVAL);
	const char *many[BROKER_WS_MAX_PROTOCOLS + 1];
	for (size_t k = 0; k <= BROKER_WS_MAX_PROTOCOLS; k++)
		many[k] = "p";
	ck_assert_int_eq(broker_ws_set_protocols(w, many, BROKER_WS_MAX_PROTOCOLS + 1), -E2BIG);
	ck_assert_int_eq(broker_ws_set_protocols(w, many, BROKER_WS_MAX_PROTOCOLS), 0);
	broker_ws_free(w);
}
END_TEST

START_TEST(credentials)
{
	struct wsp s;
	wsp_start(&s, _i, "--user", "alice", "--password", "s3cret:x", NULL);
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_credentials(w, "alice", "s3cret:x",
						   _i ? 0 : BROKER_WS_CREDENTIALS_ALLOW_PLAIN), 0);
	connected(w, s.url);
	echo(w, BROKER_WS_TEXT, "authenticated");
	broker_ws_free(w);

	w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_credentials(w, "alice", "wrong", BROKER_WS_CREDENTIALS_ALLOW_PLAIN), 0);
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EACCES, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_ws_info i;
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.http_status, 401);
	broker_ws_free(w);

	w = ws_handle(BROKER_WS_MESSAGE);   /* none at all */
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EACCES, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_ws_free(w);

	if (!_i) {
		/* Over ws:// only when forced: refused before anything is sent. */
		w = ws_handle(BROKER_WS_MESSAGE);
		ck_assert_int_eq(broker_ws_set_credentials(w, "alice", "s3cret:x", 0), 0);
		ck_assert_int_eq(broker_ws_connect(w, s.url), -EPERM);
		broker_ws_free(w);
		ck_assert_int_eq(broker_ws_new(BROKER_WS_MESSAGE, &w), 0);
		ck_assert_int_eq(broker_ws_set_credentials(w, "al:ice", "x", 0), -EINVAL);
		broker_ws_free(w);
	}
	wsp_stop(&s);
}
END_TEST

START_TEST(ping_pong)
{
	struct wsp s;
	wsp_start(&s, _i, NULL);
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	connected(w, s.url);
	ck_assert_int_eq(broker_ws_ping(w, "are you there", 13), 0);
	char buf[200];
	int type;
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 13);
	ck_assert_int_eq(type, BROKER_WS_PONG);
	ck_assert_mem_eq(buf, "are you there", 13);
	ck_assert_int_eq(broker_ws_ping(w, buf, 126), -EINVAL);
	/* The server pings: the library answers while it reads. */
	wsp_command(&s, "ping hello");
	wsp_command(&s, "push after the ping");
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 14);
	ck_assert_mem_eq(buf, "after the ping", 14);
	wsp_expect(&s, "pong");
	broker_ws_info i;
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.pongs, 1);
	broker_ws_free(w);
	wsp_stop(&s);
}
END_TEST

START_TEST(statuses)
{
	int port;
	int fd = tcp_socket(-1, &port);   /* bound, not listening */
	char url[64];
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	ws_expect_failure(w, broker_ws_connect(w, url), -ECONNREFUSED, BROKER_TLS_CONNECTION_REFUSED);
	ck_assert(broker_ws_status_retry_may_help(broker_ws_get_status(w)));
	ck_assert_str_eq(broker_ws_status_name(broker_ws_get_status(w)), "connection-refused");
	broker_ws_free(w);
	close(fd);

	w = ws_handle(BROKER_WS_MESSAGE);
	ws_expect_failure(w, broker_ws_connect(w, "ws://no-such-host.invalid/"), -ENXIO,
			  BROKER_TLS_HOST_NOT_FOUND);
	broker_ws_free(w);

	/* A listener that never answers the upgrade: the connect timeout. */
	fd = tcp_socket(8, &port);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
	w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_timeouts(w, 300, -1), 0);
	ws_expect_failure(w, broker_ws_connect(w, url), -ETIMEDOUT, BROKER_TLS_TIMED_OUT);
	broker_ws_free(w);
	close(fd);

	/* wss:// with a certificate from a CA we do not trust. */
	struct wsp s;
	wsp_start(&s, true, NULL);
	w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_ca_file(w, pki("otherca.pem")), 0);
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EKEYREJECTED, BROKER_TLS_CERTIFICATE_UNTRUSTED);
	broker_ws_free(w);
	wsp_stop(&s);

	const char *bad[] = { "http://x/", "ws://", "ws://h:0/", "ws://h:65536/", "ws://u@h/",
			      "ws://h/a b", "ws://h/#f", "ws://[::1/", "ws://h:12a/" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		w = ws_handle(BROKER_WS_MESSAGE);
		ck_assert_msg(broker_ws_connect(w, bad[k]) == -EINVAL, "%s", bad[k]);
		broker_ws_free(w);
	}
}
END_TEST

/* Frames the library has not read stay in the socket, byte for byte. */
START_TEST(hand_off_leaves_frames)
{
	struct wsp s;
	wsp_start(&s, false, NULL);
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	connected(w, s.url);
	wsp_command(&s, "push one");
	wsp_command(&s, "push two");
	wsp_expect(&s, "pushed two");
	char buf[16];
	int type;
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 3);
	ck_assert_mem_eq(buf, "one", 3);
	int fd = broker_ws_take_fd(w);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(broker_ws_take_fd(w), -ENOTCONN);
	broker_ws_free(w);
	struct pollfd p = { fd, POLLIN, 0 };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 5);
	ck_assert_mem_eq(buf, "\x81\x03two", 5);   /* FIN text, 3 bytes, unmasked */

	/* The stream goes on in another handle, as in a woken app. */
	ck_assert_int_eq(broker_ws_new(BROKER_WS_MESSAGE, &w), 0);
	ck_assert_int_eq(broker_ws_adopt(w, fd), 0);
	ck_assert_int_eq(broker_ws_set_timeouts(w, 10000, 10000), -EBUSY);
	echo(w, BROKER_WS_TEXT, "adopted");
	broker_ws_free(w);

	/* TLS in this process cannot be handed out. */
	wsp_stop(&s);
	wsp_start(&s, true, NULL);
	w = ws_handle(BROKER_WS_MESSAGE);
	connected(w, s.url);
	ck_assert_int_eq(broker_ws_take_fd(w), -EBADFD);
	broker_ws_free(w);
	wsp_stop(&s);
}
END_TEST

/* Frames that arrive in pieces (written by hand here, on a socketpair):
 * take_fd refuses mid-frame and mid-message, and never takes a byte of
 * the next frame out of the socket. */
START_TEST(partial_frames)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	broker_ws *w;
	ck_assert_int_eq(broker_ws_new(BROKER_WS_MESSAGE, &w), 0);
	ck_assert_int_eq(broker_ws_adopt(w, sv[0]), 0);
	ck_assert_int_eq(broker_ws_set_nonblocking(w, true), 0);
	char buf[64];
	int type;
	/* Half a header, then half a payload: -EAGAIN, and the hand-off refused. */
	ck_assert_int_eq(write(sv[1], "\x81", 1), 1);
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), -EAGAIN);
	ck_assert_int_eq(broker_ws_take_fd(w), -EBUSY);
	ck_assert_int_eq(write(sv[1], "\x05" "he", 3), 3);
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), -EAGAIN);
	ck_assert_int_eq(broker_ws_take_fd(w), -EBUSY);
	/* The rest, and right behind it the first fragment of another message
	 * and a ping: the message comes, the rest stays unread. */
	ck_assert_int_eq(write(sv[1], "llo\x01\x02" "ab\x89\x01" "p", 10), 10);
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(type, BROKER_WS_TEXT);
	char peek[16];
	ck_assert_int_eq(recv(sv[0], peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT), 7);
	ck_assert_mem_eq(peek, "\x01\x02" "ab\x89\x01" "p", 7);
	/* Read on: the fragment and the ping (answered) leave a message half
	 * read, which must not be handed out. */
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), -EAGAIN);
	ck_assert_int_eq(broker_ws_take_fd(w), -EBUSY);
	ck_assert_int_eq(recv(sv[1], peek, sizeof(peek), MSG_DONTWAIT), 7);   /* the masked pong */
	ck_assert_mem_eq(peek, "\x8a\x81", 2);
	ck_assert_int_eq(write(sv[1], "\x80\x01" "c\x82\x01" "z", 6), 6);   /* the last fragment, a binary message */
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 3);
	ck_assert_mem_eq(buf, "abc", 3);
	int fd = broker_ws_take_fd(w);
	ck_assert_int_eq(fd, sv[0]);
	broker_ws_free(w);
	ck_assert_int_eq(recv(fd, peek, sizeof(peek), MSG_DONTWAIT), 3);
	ck_assert_mem_eq(peek, "\x82\x01" "z", 3);
	close(fd);
	close(sv[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ws-peers");
	TCase *tc = tcase_create("websockets");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, messages_and_streams, 0, 2);   /* ws://, wss:// */
	tcase_add_test(tc, subprotocols);
	tcase_add_loop_test(tc, credentials, 0, 2);
	tcase_add_loop_test(tc, ping_pong, 0, 2);
	tcase_add_test(tc, statuses);
	tcase_add_test(tc, hand_off_leaves_frames);
	tcase_add_test(tc, partial_frames);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
