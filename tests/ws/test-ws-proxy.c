/* SPDX-License-Identifier: MIT */
/*
 * libbroker-ws through tinyproxy with BasicAuth: CONNECT with the right
 * credentials (ws:// and wss:// inside the tunnel), with wrong ones and
 * without, and to a server that is not there.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ws-fixture.h"

static struct peer proxy;
static char proxy_conf[64];

static void proxy_start(void)
{
	snprintf(proxy_conf, sizeof(proxy_conf), "/tmp/tinyproxy-conf.XXXXXX");
	int fd = mkstemp(proxy_conf);
	ck_assert_int_ge(fd, 0);
	close(fd);
	const char *argv[] = { getenv("WS_TINYPROXY"), "@PORT@", "proxyuser", "proxy-pass", proxy_conf, NULL };
	ck_assert_ptr_nonnull(argv[0]);
	peer_start(&proxy, argv);
}

static void proxy_stop(void)
{
	peer_stop(&proxy);
	unlink(proxy_conf);
}

static broker_ws *through_proxy(const char *user, const char *password)
{
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_proxy(w, "127.0.0.1", proxy.port_text, user, password), 0);
	return w;
}

START_TEST(connect_with_credentials)
{
	int before = fd_count();
	proxy_start();
	struct wsp s;
	wsp_start(&s, _i, NULL);
	broker_ws *w = through_proxy("proxyuser", "proxy-pass");
	int r = broker_ws_connect(w, s.url);
	ck_assert_msg(r == 0, "%d %s", r, broker_ws_get_detail(w));
	broker_ws_info i;
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.proxy_status, 200);
	ck_assert_int_eq(i.http_status, 101);
	ck_assert(i.encrypted == (bool)_i);
	ck_assert(i.peer_verified == (bool)_i);
	ck_assert_int_eq(broker_ws_send(w, BROKER_WS_TEXT, "through the tunnel", 18), 18);
	char buf[64];
	int type;
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 18);
	ck_assert_mem_eq(buf, "through the tunnel", 18);
	wsp_expect(&s, "recv text 'through the tunnel'");
	broker_ws_free(w);
	wsp_stop(&s);
	proxy_stop();
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

START_TEST(connect_refused)
{
	int before = fd_count();
	proxy_start();
	struct wsp s;
	wsp_start(&s, false, NULL);
	broker_ws_info i;

	broker_ws *w = through_proxy("proxyuser", "not-the-password");
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EACCES, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.proxy_status, 401);   /* tinyproxy's answer to wrong credentials */
	ck_assert_int_eq(i.http_status, 0);
	ck_assert_ptr_nonnull(strstr(broker_ws_get_detail(w), "refused the credentials"));
	broker_ws_free(w);

	w = through_proxy(NULL, NULL);
	ws_expect_failure(w, broker_ws_connect(w, s.url), -EACCES, BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED);
	broker_ws_get_info(w, &i);
	ck_assert_int_eq(i.proxy_status, 407);
	ck_assert_ptr_nonnull(strstr(broker_ws_get_detail(w), "wants credentials"));
	broker_ws_free(w);

	/* The proxy cannot reach the server: a retry may help. */
	int port;
	close(tcp_socket(-1, &port));
	char url[64];
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/", port);
	w = through_proxy("proxyuser", "proxy-pass");
	ws_expect_failure(w, broker_ws_connect(w, url), -ECONNREFUSED, BROKER_TLS_CONNECTION_REFUSED);
	broker_ws_get_info(w, &i);
	ck_assert_int_ge(i.proxy_status, 500);
	ck_assert(broker_ws_status_retry_may_help(broker_ws_get_status(w)));
	broker_ws_free(w);

	/* No proxy there at all. */
	w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_proxy(w, "127.0.0.1", service(port), NULL, NULL), 0);
	ws_expect_failure(w, broker_ws_connect(w, s.url), -ECONNREFUSED, BROKER_TLS_CONNECTION_REFUSED);
	broker_ws_free(w);

	wsp_stop(&s);
	proxy_stop();
	ck_assert_int_eq(fd_count(), before);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ws-proxy");
	TCase *tc = tcase_create("tinyproxy");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, connect_with_credentials, 0, 2);   /* ws://, wss:// */
	tcase_add_test(tc, connect_refused);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
