/* SPDX-License-Identifier: MIT */
/*
 * Held TLS through the TLS keeper, against peers we did not write
 * (openssl s_server, gnutls-serv) and a real brokerd: a holdable
 * connection is handed to brokerd, and the e2e test app (libbroker only, no
 * GnuTLS) is woken for server data, keep-alive and close, three times in a
 * row on one TLS session; capabilities of the real connection; the keeper
 * killed under 20 held connections; the keeper started on demand.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "harness.h"
#include "peer.h"

#include "keeper-fixture.h"

/* openssl s_server on a free port: what we write to *ret_in it sends (or
 * takes as a command, alone on a line), what it receives goes to the file
 * out, line-buffered so that its reports can be waited for. */
static void s_server(struct peer *p, const char *out, int *ret_in)
{
	int in[2];
	ck_assert_int_eq(pipe2(in, O_CLOEXEC), 0);
	int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(o, 0);
	const char *argv[] = { "stdbuf", "-oL", "openssl", "s_server", "-naccept", "1", "-accept", "@PORT@",
			       "-cert", pki("server.pem"), "-key", pki("server.key"), NULL };
	peer_start_io(p, argv, in[0], o);
	close(in[0]);
	close(o);
	*ret_in = in[1];
}

/* One wake: the server pushes push, the woken app reads exactly it, and
 * answers "ack", which the server receives. */
static void push_cycle(struct hb *b, int n, int server_in, const char *server_out)
{
	char push[32], line[HB_LINE_MAX];
	snprintf(push, sizeof(push), "push %d\n", n);
	ck_assert_int_eq(write(server_in, push, strlen(push)), (ssize_t)strlen(push));
	hb_report_get(hb_report(b, APP), "handback", n - 1, line);
	hb_expect(line, "id", "tls");
	hb_expect(line, "kind", "stream");
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "data", hb_esc(push, strlen(push)));
	hb_expect(line, "eof", "0");
	ck_assert_msg(HB_WAIT(occurrences(server_out, "ack") == n, HB_WAIT_MS), "server got %d acks",
		      occurrences(server_out, "ack"));
	hb_report_get(hb_report(b, APP), "retransfer", n - 1, line);
	hb_expect(line, "result", "0");
}

START_TEST(openssl_three_cycles_then_close)
{
	struct hb b;
	struct peer srv;
	int server_in;
	hb_init(&b, "ossl", keeper_conf());
	hb_testapp(&b, APP, "--read-min 7 --answer ack --retransfer");
	hb_start(&b);
	keeper_start(&b);
	const char *out = hb_path(&b, "server.out");
	char server_out[PATH_MAX];
	snprintf(server_out, sizeof(server_out), "%s", out);
	s_server(&srv, server_out, &server_in);

	broker_tls *t = held_dial("localhost", srv.port, 0);
	expect_tls(t, 0x0304, SUBJECT);
	broker_tls_info i;
	ck_assert_int_eq(broker_tls_get_info(t, &i), 0);
	ck_assert_str_eq(i.verify_name, "localhost");
	ck_assert_uint_ge(i.addresses_tried, 1);
	ck_assert_int_eq(broker_tls_write(t, "hello\n", 6), 6);
	ck_assert(HB_WAIT(occurrences(server_out, "hello\n") == 1, HB_WAIT_MS));
	hb_transfer(&b, APP, "tls", take_stream(t), "ctx", 3, 0);
	broker_tls_free(t);

	/* The app exits after each wake; the session goes on. */
	for (int n = 1; n <= 3; n++)
		push_cycle(&b, n, server_in, server_out);
	ck_assert_int_eq(hb_report_count(hb_report(&b, APP), "start"), 3);

	/* A TLS 1.3 KeyUpdate (asking for ours too) is no application data: it
	 * does not wake the app, so the next wake is the next push. */
	ck_assert_int_eq(write(server_in, "K\n", 2), 2);
	/* s_server takes a command only alone on its line: wait until it is done. */
	ck_assert(HB_WAIT(occurrences(server_out, "SSL_do_handshake -> 1") == 1, HB_WAIT_MS));
	push_cycle(&b, 4, server_in, server_out);
	ck_assert_int_eq(hb_report_count(hb_report(&b, APP), "start"), 4);

	/* The server ends the connection (close_notify): socket-closed. */
	char line[HB_LINE_MAX];
	ck_assert_int_eq(write(server_in, "Q\n", 2), 2);
	hb_report_get(hb_report(&b, APP), "handback", 4, line);
	hb_expect(line, "reason", "socket-closed");
	hb_expect(line, "eof", "1");
	ck_assert(HB_WAIT(hb_gone(&b, APP, "tls"), HB_WAIT_MS));
	close(server_in);
	peer_stop(&srv);
	keeper_kill();
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* gnutls-serv --echo: what the woken app answers comes back and wakes it
 * again; the app answers twice, so three wakes, all exact.  Then a
 * keep-alive wakes it with no data, and the server dying (no
 * close_notify) is socket-closed. */
START_TEST(gnutls_echo_cycles_keepalive_reset)
{
	struct hb b;
	struct peer srv;
	hb_init(&b, "gnutls", keeper_conf());
	hb_testapp(&b, APP, "--read-min 5 --answer-line pong --answer-starts 2 --retransfer");
	hb_start(&b);
	keeper_start(&b);
	const char *argv[] = { "gnutls-serv", "--echo", "--port", "@PORT@", "--x509certfile", pki("server.pem"),
			       "--x509keyfile", pki("server.key"), NULL };
	peer_start(&srv, argv);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	broker_tls *t = held_dial("localhost", srv.port, 0);
	expect_tls(t, 0x0304, SUBJECT);
	exchange(t, "ping\n", "ping\n");   /* the held stream carries both ways before the hand-off */
	ck_assert_int_eq(broker_tls_write(t, "ping\n", 5), 5);
	hb_transfer(&b, APP, "tls", take_stream(t), NULL, 0, 0);
	broker_tls_free(t);

	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "data", hb_esc("ping\n", 5));
	for (int n = 1; n <= 2; n++) {
		hb_report_get(rep, "handback", n, line);
		hb_expect(line, "reason", "socket-activity");
		hb_expect(line, "data", hb_esc("pong\n", 5));
	}
	hb_report_get(rep, "retransfer", 2, line);
	ck_assert_int_eq(hb_report_count(rep, "start"), 3);

	/* Reclaim it and hand it over again with a keep-alive. */
	broker *c = hb_open(&b, APP);
	broker_info *info;
	int fd = broker_claim(c, "tls", &info);
	ck_assert_int_ge(fd, 0);
	broker_info_free(info);
	ck_assert_int_eq(broker_transfer(c, "tls", fd, NULL, 0, 1), 0);
	broker_close(c);
	hb_report_get(rep, "handback", 3, line);
	hb_expect(line, "reason", "keepalive-timer-expired");
	hb_expect(line, "data", "");

	/* The server goes away without close_notify. */
	ck_assert(HB_WAIT(hb_report_count(rep, "retransfer") == 4, HB_WAIT_MS));
	peer_stop(&srv);
	ck_assert(HB_WAIT(strcmp(last_reason(rep), "socket-closed") == 0, HB_WAIT_MS));
	hb_report_get(rep, "handback", hb_report_count(rep, "handback") - 1, line);
	hb_expect(line, "eof", "1");
	hb_expect(line, "data", "");
	ck_assert(HB_WAIT(hb_gone(&b, APP, "tls"), HB_WAIT_MS));
	keeper_kill();
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* brokerd judges a keeper's stream by the real connection: an app without
 * internetClient cannot have brokerd hold a connection to the internet
 * through the keeper, nor one without privateNetworkClientServer a
 * connection to a private address. */
START_TEST(capabilities_of_the_real_connection)
{
	hb_public_netns();
	struct hb b;
	struct peer srv;
	hb_init(&b, "caps", keeper_conf());
	const char *user = getpwuid(getuid())->pw_name;
	hb_write(hb_path(&b, "apps.d/org.test.private.conf"), "[app]\nid = org.test.private\nuser = %s\n"
		 "capabilities = privateNetworkClientServer\n[activation]\nmethod = exec\ncommand = /bin/true\n",
		 user);
	hb_write(hb_path(&b, "apps.d/org.test.local.conf"), "[app]\nid = org.test.local\nuser = %s\n"
		 "capabilities = localSocket\n[activation]\nmethod = exec\ncommand = /bin/true\n", user);
	hb_write(hb_path(&b, "apps.d/org.test.internet.conf"), "[app]\nid = org.test.internet\nuser = %s\n"
		 "capabilities = internetClient\n[activation]\nmethod = exec\ncommand = /bin/true\n", user);
	hb_start(&b);
	keeper_start(&b);
	const char *argv[] = { "gnutls-serv", "--echo", "--port", "@PORT@", "--x509certfile", pki("server.pem"),
			       "--x509keyfile", pki("server.key"), NULL };
	peer_start(&srv, argv);

	/* To the internet (203.0.113.7; the certificate names 127.0.0.1). */
	broker_tls *t = held_dial("203.0.113.7", srv.port, BROKER_TLS_PROBLEM_HOSTNAME);
	int fd = broker_tls_get_fd(t);
	broker *c = hb_open(&b, "org.test.private");
	ck_assert_int_eq(broker_transfer(c, "web", fd, NULL, 0, 0), -EACCES);
	char expect[160];
	snprintf(expect, sizeof(expect), "missing capability internetClient for a TCP connection to 203.0.113.7:%d "
		 "(a public address), relayed by the TLS keeper", srv.port);
	ck_assert_msg(strstr(broker_last_message(c), expect), "%s", broker_last_message(c));
	broker_close(c);
	c = hb_open(&b, "org.test.local");
	ck_assert_int_eq(broker_transfer(c, "web", fd, NULL, 0, 0), -EACCES);   /* not "an AF_UNIX socket" */
	broker_close(c);
	exchange(t, "still mine\n", "still mine\n");   /* a refusal leaves the stream the app's */
	c = hb_open(&b, "org.test.internet");
	ck_assert_int_eq(broker_transfer(c, "web", broker_tls_take_fd(t), NULL, 0, 0), 0);
	broker_close(c);
	broker_tls_free(t);

	/* To a private address. */
	t = held_dial("127.0.0.1", srv.port, 0);
	fd = broker_tls_get_fd(t);
	c = hb_open(&b, "org.test.internet");
	ck_assert_int_eq(broker_transfer(c, "lan", fd, NULL, 0, 0), -EACCES);
	ck_assert_msg(strstr(broker_last_message(c), "missing capability privateNetworkClientServer"), "%s",
		      broker_last_message(c));
	broker_close(c);
	c = hb_open(&b, "org.test.private");
	ck_assert_int_eq(broker_transfer(c, "lan", broker_tls_take_fd(t), NULL, 0, 0), 0);
	broker_close(c);
	broker_tls_free(t);

	/* A stream of the keeper that brokerd was never told of: refused.  (A
	 * keeper that cannot reach brokerd: point it at nothing.) */
	keeper_kill();
	unlink(hb_path(&b, "keeper"));
	setenv("BROKER_SOCKET", hb_path(&b, "nobody-here"), 1);
	keeper_start_with(&b, hb_path(&b, "nobody-here"));
	t = held_dial("127.0.0.1", srv.port, 0);
	c = hb_open(&b, "org.test.private");
	ck_assert_int_eq(broker_transfer(c, "unknown", broker_tls_get_fd(t), NULL, 0, 0), -ENOLINK);
	ck_assert_msg(strstr(broker_last_message(c), "has not told brokerd"), "%s", broker_last_message(c));
	/* Once the keeper has let go of it (the server went), it leads nowhere:
	 * held, and the app is told it closed. */
	peer_stop(&srv);
	struct pollfd p = { .fd = broker_tls_get_fd(t), .events = POLLIN };
	ck_assert(HB_WAIT(poll(&p, 1, 0) == 1 && (p.revents & POLLHUP), HB_WAIT_MS));
	ck_assert_int_eq(broker_transfer(c, "unknown", broker_tls_take_fd(t), NULL, 0, 0), 0);
	broker_close(c);
	broker_tls_free(t);
	hb_finish(&b);
}
END_TEST

#define MANY 20

/* The keeper dies holding 20 sessions: every stream closes, so brokerd wakes
 * every app with socket-closed, and nothing waits for anything. */
START_TEST(keeper_killed_under_twenty)
{
	struct hb b;
	struct peer srv;
	hb_init(&b, "kill", keeper_conf());
	char id[32];
	for (int i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "org.test.k%02d", i);
		hb_testapp(&b, id, "--retransfer");
	}
	hb_start(&b);
	keeper_start(&b);
	/* A server that holds every connection and says nothing. */
	const char *argv[] = { "gnutls-serv", "--echo", "--port", "@PORT@", "--x509certfile", pki("server.pem"),
			       "--x509keyfile", pki("server.key"), NULL };
	peer_start(&srv, argv);
	for (int i = 0; i < MANY; i++) {
		broker_tls *t = held_dial("localhost", srv.port, 0);
		snprintf(id, sizeof(id), "org.test.k%02d", i);
		hb_transfer(&b, id, "tls", take_stream(t), NULL, 0, 0);
		broker_tls_free(t);
	}
	for (int i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "org.test.k%02d", i);
		ck_assert_int_eq(hb_held_state(&b, id, "tls"), BROKER_STATE_WATCHING);
	}
	keeper_kill();
	for (int i = 0; i < MANY; i++) {
		char line[HB_LINE_MAX];
		snprintf(id, sizeof(id), "org.test.k%02d", i);
		hb_report_get(hb_report(&b, id), "handback", 0, line);
		hb_expect(line, "reason", "socket-closed");
		hb_expect(line, "eof", "1");
		ck_assert_int_eq(hb_report_count(hb_report(&b, id), "handback"), 1);
	}
	for (int i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "org.test.k%02d", i);
		ck_assert(HB_WAIT(hb_gone(&b, id, "tls"), HB_WAIT_MS));
	}
	peer_stop(&srv);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* No keeper running: libbroker-tls starts one ($BROKER_TLS_KEEPER), which
 * goes to the background and serves every later connection of the user;
 * asked to go, it closes its streams. */
START_TEST(keeper_started_on_demand)
{
	struct hb b;
	struct peer srv;
	hb_init(&b, "demand", keeper_conf());
	hb_start(&b);
	keeper_env(&b);
	const char *argv[] = { "gnutls-serv", "--echo", "--port", "@PORT@", "--x509certfile", pki("server.pem"),
			       "--x509keyfile", pki("server.key"), NULL };
	peer_start(&srv, argv);
	broker_tls *t1 = held_dial("localhost", srv.port, 0), *t2 = held_dial("localhost", srv.port, 0);
	exchange(t1, "one\n", "one\n");
	exchange(t2, "two\n", "two\n");
	/* One keeper served both: the streams' peer is the same process. */
	struct ucred c1, c2;
	socklen_t len = sizeof(c1);
	ck_assert_int_eq(getsockopt(broker_tls_get_fd(t1), SOL_SOCKET, SO_PEERCRED, &c1, &len), 0);
	ck_assert_int_eq(getsockopt(broker_tls_get_fd(t2), SOL_SOCKET, SO_PEERCRED, &c2, &len), 0);
	ck_assert_int_eq(c1.pid, c2.pid);
	ck_assert_int_ne(c1.pid, getpid());
	ck_assert_int_eq(kill(c1.pid, SIGTERM), 0);
	char buf[8];
	ck_assert_int_eq(broker_tls_read(t1, buf, sizeof(buf)), 0);
	ck_assert_int_eq(broker_tls_read(t2, buf, sizeof(buf)), 0);
	broker_tls_free(t1);
	broker_tls_free(t2);
	peer_stop(&srv);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {
		openssl_three_cycles_then_close, gnutls_echo_cycles_keepalive_reset,
		capabilities_of_the_real_connection, keeper_killed_under_twenty, keeper_started_on_demand,
	};
	return keeper_run_suite("tls-keeper", tests, sizeof(tests) / sizeof(tests[0]));
}
