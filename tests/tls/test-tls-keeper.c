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
#include "tiny-server.h"

#define APP "org.test.tls"
#define SUBJECT "CN=localhost,O=socket-broker tests"

static pid_t keeper_pid;

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	close(fd);
	return -1;
}

/* The reason of the last handback in the report, "" if none. */
static const char *last_reason(const char *rep)
{
	static char reason[64];
	char line[HB_LINE_MAX];
	int n = hb_report_count(rep, "handback");
	reason[0] = 0;
	if (n > 0 && hb_report_wait(rep, "handback", n - 1, line) && hb_field(line, "reason"))
		snprintf(reason, sizeof(reason), "%s", hb_field(line, "reason"));
	return reason;
}

static const char *keeper_conf(void)
{
	static char conf[512];
	snprintf(conf, sizeof(conf), "[broker]\ntls-keeper = %s\n", getenv("BROKER_TLS_KEEPER"));
	return conf;
}

/* brokerd's socket and the keeper's, for this process and what it starts. */
static void keeper_env(const struct hb *b)
{
	setenv("BROKER_SOCKET", b->socket, 1);
	setenv("BROKER_TLS_KEEPER_SOCKET", hb_path(b, "keeper"), 1);
}

/* The keeper, started by the test (it dies with the test), telling the
 * brokerd at broker_socket. */
static void keeper_start_with(const struct hb *b, const char *broker_socket)
{
	keeper_env(b);
	setenv("BROKER_SOCKET", broker_socket, 1);
	const char *exe = getenv("BROKER_TLS_KEEPER"), *path = hb_path(b, "keeper");
	pid_t parent = getpid();
	keeper_pid = fork();
	ck_assert_int_ge(keeper_pid, 0);
	if (keeper_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		execl(exe, exe, "--listen", path, "--idle-exit", "0", (char *)NULL);
		_exit(127);
	}
	int fd = -1;
	ck_assert(HB_WAIT((fd = unix_connect(path)) >= 0, HB_WAIT_MS));
	close(fd);
	setenv("BROKER_SOCKET", b->socket, 1);
}

static void keeper_start(const struct hb *b)
{
	keeper_start_with(b, b->socket);
}

/* Gone, and its connection to brokerd with it. */
static void keeper_kill(void)
{
	kill(keeper_pid, SIGKILL);
	waitpid(keeper_pid, NULL, 0);
}

static broker_tls *held_dial(const char *host, int port, unsigned ignorable)
{
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_holdable(t, true), 0);
	ck_assert_int_eq(broker_tls_set_ignorable(t, ignorable), 0);
	int r = broker_tls_connect(t, host, service(port));
	ck_assert_msg(r == 0, "%s: %s", broker_tls_status_name(broker_tls_get_status(t)), broker_tls_get_detail(t));
	return t;
}

/* The held connection's fd: a local stream, which brokerd takes. */
static int take_stream(broker_tls *t)
{
	int fd = broker_tls_take_fd(t);
	ck_assert_int_ge(fd, 0);
	int type = 0;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(type), slen = sizeof(ss);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	ck_assert_int_eq(type, SOCK_STREAM);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &slen), 0);
	ck_assert_int_eq(ss.ss_family, AF_UNIX);
	return fd;
}

/* Count of text in the file at path. */
static int occurrences(const char *path, const char *text)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	int count = 0;
	buf[n > 0 ? n : 0] = 0;
	for (const char *p = buf; (p = strstr(p, text)); p += strlen(text))
		count++;
	return count;
}

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
	ck_assert(HB_WAIT(hb_show(&b, APP, "tls") == NULL, HB_WAIT_MS));
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
	ck_assert(HB_WAIT(hb_show(&b, APP, "tls") == NULL, HB_WAIT_MS));
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
		ck_assert(HB_WAIT(hb_show(&b, id, "tls") == NULL, HB_WAIT_MS));
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
	ck_assert(HB_WAIT(hb_show(&b, "org.example.push", "push") == NULL, HB_WAIT_MS));
	snprintf(cmd, sizeof(cmd), "grep -q 'file=libbroker.so.1' %s.* && ! grep -q -e gnutls -e libbroker-tls %s.*",
		 ld, ld);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
	keeper_kill();
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-keeper");
	TCase *tc = tcase_create("keeper");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, openssl_three_cycles_then_close);
	tcase_add_test(tc, gnutls_echo_cycles_keepalive_reset);
	tcase_add_test(tc, capabilities_of_the_real_connection);
	tcase_add_test(tc, keeper_killed_under_twenty);
	tcase_add_test(tc, keeper_started_on_demand);
	tcase_add_test(tc, starttls_and_client_cert);
	tcase_add_test(tc, back_pressure);
	tcase_add_test(tc, push_client_hold);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	pki_setup();
	int r = hb_run_suite(suite());
	pki_cleanup();
	return r;
}
