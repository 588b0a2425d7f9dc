/* SPDX-License-Identifier: MIT */
/*
 * A held wss:// connection: push-client --ws connects to python3-websockets
 * through the TLS keeper, hands the keeper's stream to a real brokerd and
 * exits; three server pushes each wake a new instance, which adopts the
 * stream, reads the message and answers, with exact bytes both ways and no
 * GnuTLS loaded; then the server's close wakes the last one.  And a
 * holdable wss:// connection through tinyproxy.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "harness.h"
#include "keeper-fixture.h"
#include "ws-fixture.h"

#define PUSH_APP "org.example.push"

static void run_push_client(const struct hb *b, const char *out, const char *url, const char *protocol,
			    int expect_exit)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		const char *exe = getenv("PUSH_CLIENT");
		execl(exe, exe, "--ws", url, "--protocol", protocol, "--ca", pki("ca.pem"), "--control",
		      b->socket, (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == expect_exit, "push-client exited %d",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Held, and no instance of the app runs. */
static bool held_and_exited(const struct hb *b)
{
	return hb_held_state(b, PUSH_APP, "push") == BROKER_STATE_WATCHING && hb_app_pid(b, PUSH_APP) <= 0;
}

START_TEST(three_pushes_while_exited)
{
	struct hb b;
	hb_init(&b, "wsheld", keeper_conf());
	char ld[PATH_MAX];
	snprintf(ld, sizeof(ld), "%s", hb_path(&b, "ld"));
	hb_write(hb_path(&b, "apps.d/" PUSH_APP ".conf"), "[app]\nid = " PUSH_APP "\nuser = %u\n"
		 "capabilities = privateNetworkClientServer\n[activation]\nmethod = exec\ncommand = %s\n"
		 "environment = LD_DEBUG=files LD_DEBUG_OUTPUT=%s\n", (unsigned)getuid(), getenv("PUSH_CLIENT"), ld);
	hb_start(&b);
	keeper_start(&b);
	struct wsp s;
	wsp_start(&s, true, "--protocols", "push.v1", "--no-echo", NULL);
	char out[PATH_MAX];
	snprintf(out, sizeof(out), "%s", hb_path(&b, "push-client.out"));

	/* The wrong protocol first: refused, and the server's choice named. */
	run_push_client(&b, out, s.url, "push.v0", 1);
	ck_assert(hb_file_contains(out, "protocol-negotiation-failed"));

	run_push_client(&b, out, s.url, "push.v1", 0);
	ck_assert(hb_file_contains(out, "with protocol push.v1; the TLS keeper holds the session"));
	ck_assert(hb_file_contains(out, "handed to brokerd as " PUSH_APP "/push"));
	wsp_expect(&s, "open push.v1");
	wsp_expect(&s, "recv text 'hello from push-client'");
	ck_assert(HB_WAIT(held_and_exited(&b), HB_WAIT_MS));

	const char *news[] = { "news 1", "news 22", "news 333" };
	for (int i = 0; i < 3; i++) {
		char cmd[32], ack[40];
		snprintf(cmd, sizeof(cmd), "push %s", news[i]);
		wsp_command(&s, cmd);
		snprintf(ack, sizeof(ack), "recv text 'ack %zu'", strlen(news[i]));
		wsp_expect(&s, ack);
		ck_assert_int_eq(occurrences(s.log, "recv text "), 2 + i);   /* nothing else came */
		ck_assert(HB_WAIT(held_and_exited(&b), HB_WAIT_MS));
	}
	ck_assert_int_eq(hb_activations(&b), 3);

	/* The server closes: the woken instance reads the close, and the stream is gone. */
	wsp_command(&s, "close");
	wsp_expect(&s, "closed 1000");
	ck_assert(HB_WAIT(hb_gone(&b, PUSH_APP, "push"), HB_WAIT_MS));

	/* Four woken instances loaded libbroker-ws, and none GnuTLS. */
	char sh[3 * PATH_MAX + 160];
	snprintf(sh, sizeof(sh), "test $(grep -l 'file=libbroker-ws.so.1' %s.* | wc -l) -ge 4 && "
		 "! grep -q -e gnutls -e libbroker-tls %s.*", ld, ld);
	ck_assert(HB_WAIT(system(sh) == 0, HB_WAIT_MS));
	wsp_stop(&s);
	keeper_kill();
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* Holdable wss:// through tinyproxy: the keeper upgrades the tunnel, and
 * the stream it relays carries on in another handle, as in a woken app. */
START_TEST(held_through_proxy)
{
	struct hb b;
	hb_init(&b, "wsproxy", keeper_conf());
	hb_start(&b);
	keeper_start(&b);
	char conf[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s", hb_path(&b, "tinyproxy.conf"));
	struct peer proxy;
	const char *argv[] = { getenv("WS_TINYPROXY"), "@PORT@", "u", "p", conf, NULL };
	peer_start(&proxy, argv);
	struct wsp s;
	wsp_start(&s, true, NULL);
	broker_ws *w = ws_handle(BROKER_WS_MESSAGE);
	ck_assert_int_eq(broker_ws_set_proxy(w, "127.0.0.1", proxy.port_text, "u", "p"), 0);
	ck_assert_int_eq(broker_ws_set_holdable(w, true), 0);
	int r = broker_ws_connect(w, s.url);
	ck_assert_msg(r == 0, "%d %s", r, broker_ws_get_detail(w));
	broker_ws_info i;
	broker_ws_get_info(w, &i);
	ck_assert(i.encrypted && i.relayed && i.peer_verified);
	ck_assert_int_eq(i.proxy_status, 200);
	int fd = broker_ws_take_fd(w);
	ck_assert_int_ge(fd, 0);
	broker_ws_free(w);
	ck_assert_int_eq(broker_ws_new(BROKER_WS_MESSAGE, &w), 0);
	ck_assert_int_eq(broker_ws_adopt(w, fd), 0);
	ck_assert_int_eq(broker_ws_set_timeouts(w, 0, 0), -EBUSY);
	ck_assert_int_eq(broker_ws_send(w, BROKER_WS_TEXT, "via proxy and keeper", 20), 20);
	char buf[64];
	int type;
	ck_assert_int_eq(broker_ws_recv(w, buf, sizeof(buf), &type), 20);
	ck_assert_mem_eq(buf, "via proxy and keeper", 20);
	broker_ws_free(w);
	wsp_expect(&s, "recv text 'via proxy and keeper'");
	wsp_stop(&s);
	peer_stop(&proxy);
	keeper_kill();
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = { three_pushes_while_exited, held_through_proxy };
	return keeper_run_suite("ws-held", tests, sizeof(tests) / sizeof(tests[0]));
}
