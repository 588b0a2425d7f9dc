/* SPDX-License-Identifier: MIT */
/*
 * Holdable connections in the ways apps use them: STARTTLS and a client
 * certificate through the keeper, a handshake the keeper refuses, 16 MiB
 * under back-pressure, and push-client --tls --hold woken by brokerd
 * without loading GnuTLS.
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
#include "tiny-server.h"

#include "keeper-fixture.h"

/* STARTTLS and a client certificate, holdable: the keeper upgrades the
 * app's stream, and loads the certificate the app names. */
START_TEST(starttls_and_client_cert)
{
	struct hb b;
	hb_init(&b, "starttls", keeper_conf());
	hb_start(&b);
	keeper_start(&b);

	struct tiny srv;
	tiny_start(&srv, TINY_STARTTLS, false);
	int fd = hb_tcp_connect((uint16_t)srv.port);
	char buf[64];
	ck_assert(hb_recv_exact(fd, buf, 11, HB_WAIT_MS));
	ck_assert_mem_eq(buf, "220 ready\r\n", 11);
	hb_send(fd, "STARTTLS\r\n", 10);
	ck_assert(hb_recv_exact(fd, buf, 14, HB_WAIT_MS));
	ck_assert_mem_eq(buf, "220 go ahead\r\n", 14);
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS13, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_holdable(t, true), 0);
	int r = broker_tls_upgrade(t, fd, "localhost");
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_str_eq(i.verify_name, "localhost");
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv.port);
	ck_assert_str_eq(i.peer_address, addr);
	exchange(t, "now secret\n", "now secret\n");
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), 0);   /* its close_notify: the stream ends */
	broker_tls_free(t);
	tiny_finish(&srv, 0);

	/* A server that requires a client certificate from our CA. */
	tiny_start(&srv, TINY_PUSH, false);
	t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_holdable(t, true), 0);
	ck_assert_int_eq(broker_tls_set_client_cert(t, pki("client.pem"), pki("client.key")), 0);
	r = broker_tls_connect(t, "localhost", service(srv.port));
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	broker_tls_get_info(t, &i);
	ck_assert(i.client_cert_requested);
	ck_assert(i.client_cert_sent);
	exchange(t, "hello from push-client\n", "news 1\n");
	ck_assert_int_eq(broker_tls_write(t, "ack 7\n", 6), 6);
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), 0);
	broker_tls_free(t);
	tiny_finish(&srv, 0);

	/* Refused by the keeper's handshake: the status comes back as if the
	 * library had connected itself. */
	t = tls_handle(BROKER_TLS_LEVEL_TLS, NULL);   /* the system store lacks our CA */
	ck_assert_int_eq(broker_tls_set_holdable(t, true), 0);
	tiny_start(&srv, TINY_TLS_ECHO, false);
	expect_failure(t, broker_tls_connect(t, "localhost", service(srv.port)), BROKER_TLS_CERTIFICATE_UNTRUSTED);
	broker_tls_get_info(t, &i);
	ck_assert_str_eq(i.peer_subject, SUBJECT);
	broker_tls_free(t);
	tiny_finish(&srv, 11);
	keeper_kill();
	hb_finish(&b);
}
END_TEST

/* 16 MiB to a server that reads slowly and late: the keeper's buffers stay
 * bounded (the app's writes wait), and every byte arrives. */
START_TEST(back_pressure)
{
	struct hb b;
	hb_init(&b, "pressure", keeper_conf());
	hb_start(&b);
	keeper_start(&b);
	int gate[2];
	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	tiny_sink_gate = gate[0];
	struct tiny srv;
	tiny_start(&srv, TINY_TLS_SINK, true);
	broker_tls *t = held_dial("localhost", srv.port, 0);
	ck_assert_int_eq(broker_tls_set_nonblocking(t, true), 0);
	static char chunk[65536];
	memset(chunk, 'x', sizeof(chunk));
	size_t sent = 0;
	/* Until the server reads, only the buffers in between fill up. */
	for (;;) {
		ssize_t n = broker_tls_write(t, chunk, sizeof(chunk));
		if (n == -EAGAIN)
			break;
		ck_assert_int_gt(n, 0);
		sent += (size_t)n;
		ck_assert_uint_lt(sent, TINY_SINK_BYTES);
	}
	hb_diag("%zu bytes buffered before the server read any", sent);
	ck_assert_int_eq(write(gate[1], "g", 1), 1);
	ck_assert_int_eq(broker_tls_set_nonblocking(t, false), 0);
	while (sent < TINY_SINK_BYTES) {
		size_t n = TINY_SINK_BYTES - sent < sizeof(chunk) ? TINY_SINK_BYTES - sent : sizeof(chunk);
		ck_assert_int_eq(broker_tls_write(t, chunk, n), (ssize_t)n);
		sent += n;
	}
	char line[32];
	snprintf(line, sizeof(line), "got %u\n", TINY_SINK_BYTES);
	char buf[32];
	size_t got = 0;
	while (got < strlen(line)) {
		ssize_t n = broker_tls_read(t, buf + got, strlen(line) - got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_mem_eq(buf, line, got);
	broker_tls_free(t);
	tiny_finish(&srv, 0);
	close(gate[0]);
	close(gate[1]);
	tiny_sink_gate = -1;
	keeper_kill();
	hb_finish(&b);
}
END_TEST

/* push-client --tls --hold: the flagship case.  It connects through the
 * keeper with a client certificate, greets, hands the stream to brokerd
 * and exits; the server's news wakes it (without libbroker-tls), it
 * answers, and the server's close wakes it once more. */
START_TEST(push_client_hold)
{
	struct hb b;
	hb_init(&b, "push", keeper_conf());
	/* The instances brokerd wakes write what they load to ld.PID. */
	char ld[PATH_MAX];
	snprintf(ld, sizeof(ld), "%s", hb_path(&b, "ld"));
	hb_write(hb_path(&b, "apps.d/org.example.push.conf"), "[app]\nid = org.example.push\nuser = %u\n"
		 "capabilities = privateNetworkClientServer\n[activation]\nmethod = exec\ncommand = %s\n"
		 "environment = LD_DEBUG=files LD_DEBUG_OUTPUT=%s\n", (unsigned)getuid(), getenv("PUSH_CLIENT"), ld);
	hb_start(&b);
	keeper_start(&b);
	struct tiny srv;
	tiny_start(&srv, TINY_PUSH, false);
	char target[32];
	snprintf(target, sizeof(target), "localhost:%d", srv.port);
	const char *out = hb_path(&b, "push-client.out");
	char out_path[PATH_MAX];
	snprintf(out_path, sizeof(out_path), "%s", out);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		const char *exe = getenv("PUSH_CLIENT");
		execl(exe, exe, "--tls", "--hold", "--ca", pki("ca.pem"), "--client-cert", pki("client.pem"),
		      "--client-key", pki("client.key"), "--control", b.socket, target, (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "push-client failed");
	ck_assert(hb_file_contains(out_path, "with TLS1.3, "));
	ck_assert(hb_file_contains(out_path, "server verified: " SUBJECT "\n"));
	ck_assert(hb_file_contains(out_path, "the TLS keeper holds the session"));
	ck_assert(hb_file_contains(out_path, "handed to brokerd as org.example.push/push"));
	/* Greeting, "news 1" to the woken instance, its "ack 7", bye: all exact. */
	tiny_finish(&srv, 0);
	/* Two wakes (the news, the close: the socket is gone after it), and
	 * neither loaded GnuTLS. */
	char cmd[3 * PATH_MAX + 128];
	snprintf(cmd, sizeof(cmd), "test $(ls %s.* 2>/dev/null | wc -l) -ge 2", ld);
	ck_assert(HB_WAIT(system(cmd) == 0, HB_WAIT_MS));
	ck_assert(HB_WAIT(hb_gone(&b, "org.example.push", "push"), HB_WAIT_MS));
	snprintf(cmd, sizeof(cmd), "grep -q 'file=libbroker.so.1' %s.* && ! grep -q -e gnutls -e libbroker-tls %s.*",
		 ld, ld);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
	keeper_kill();
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = { starttls_and_client_cert, back_pressure, push_client_hold };
	return keeper_run_suite("tls-keeper-io", tests, sizeof(tests) / sizeof(tests[0]));
}
