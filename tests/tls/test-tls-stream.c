/* SPDX-License-Identifier: MIT */
/* STARTTLS against a server written here; a TLS stream refused by a real
 * brokerd with -EBADFD (and the guard gone once TLS ends); push-client
 * --tls, and plain push-client never loading GnuTLS. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "peer.h"
#include "tiny-server.h"

#define SUBJECT "CN=localhost,O=socket-broker tests"

static int plain_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* One plaintext line, byte by byte so that nothing after it is consumed. */
static void expect_line(int fd, const char *line)
{
	char buf[64];
	size_t n = 0;
	while (n < strlen(line) && read(fd, buf + n, 1) == 1)
		n++;
	ck_assert_uint_eq(n, strlen(line));
	ck_assert_mem_eq(buf, line, n);
}

static int starttls_prelude(int port)
{
	int fd = plain_connect(port);
	expect_line(fd, "220 ready\r\n");
	ck_assert_int_eq(write(fd, "STARTTLS\r\n", 10), 10);
	expect_line(fd, "220 go ahead\r\n");
	return fd;
}

START_TEST(starttls)
{
	struct tiny srv;
	tiny_start(&srv, TINY_STARTTLS, false);
	int fd = starttls_prelude(srv.port);
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS13, pki("ca.pem"));
	int r = broker_tls_upgrade(t, fd, "localhost");
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, SUBJECT);
	ck_assert_int_eq(broker_tls_get_fd(t), fd);
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_str_eq(i.verify_name, "localhost");
	ck_assert_uint_eq(i.addresses_tried, 0);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", srv.port);
	ck_assert_str_eq(i.peer_address, addr);
	exchange(t, "now secret\n", "now secret\n");
	char buf[8];
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), 0);   /* the server's close_notify */
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}
END_TEST

START_TEST(starttls_wrong_name)
{
	struct tiny srv;
	tiny_start(&srv, TINY_STARTTLS, false);
	int fd = starttls_prelude(srv.port);
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	expect_failure(t, broker_tls_upgrade(t, fd, "mail.example"), BROKER_TLS_HOSTNAME_MISMATCH);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);   /* the handle owned it, and closed it */
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_str_eq(i.verify_name, "mail.example");
	ck_assert_str_eq(i.peer_subject, SUBJECT);
	broker_tls_free(t);
	tiny_finish(&srv, 11);   /* its handshake failed too */
}
END_TEST

/* A brokerd of our own, with one app this user may act as. */
static pid_t brokerd;
static char control[200];

static broker *start_brokerd(void)
{
	const char *exe = getenv("BROKERD");
	ck_assert_ptr_nonnull(exe);
	char dir[200], conf[200];
	snprintf(dir, sizeof(dir), "%s", pki("apps.d"));
	mkdir(dir, 0700);
	snprintf(control, sizeof(control), "%s", pki("control"));
	snprintf(conf, sizeof(conf), "%s", pki("brokerd.conf"));
	FILE *f = fopen(conf, "we");
	fprintf(f, "[broker]\nsocket = %s\napps-dir = %s\n", control, dir);
	fclose(f);
	f = fopen(pki("apps.d/tls.conf"), "we");
	fprintf(f, "[app]\nid = org.example.tls\nuser = %s\ncapabilities = privateNetworkClientServer\n"
		   "[activation]\nmethod = exec\ncommand = /bin/true\n", getpwuid(getuid())->pw_name);
	fclose(f);
	pid_t parent = getpid();
	brokerd = fork();
	if (brokerd == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(open("/dev/null", O_WRONLY | O_CLOEXEC), 1);
		execl(exe, exe, "--config", conf, (char *)NULL);
		_exit(127);
	}
	broker *b = NULL;
	for (int i = 0; i < 2000 && broker_open(control, &b) < 0; i++) {
		ck_assert_int_eq(waitpid(brokerd, NULL, WNOHANG), 0);
		poll(NULL, 0, 5);
	}
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(broker_register(b, "org.example.tls"), 0);
	return b;
}

static void stop_brokerd(broker *b)
{
	broker_close(b);
	kill(brokerd, SIGTERM);
	waitpid(brokerd, NULL, 0);
}

static int held(broker *b)
{
	broker_info **list;
	int n = broker_list(b, NULL, &list);
	ck_assert_int_ge(n, 0);
	broker_info_list_free(list);
	return n;
}

START_TEST(transfer_of_tls_stream_refused)
{
	int r;
	struct tiny srv;
	tiny_start(&srv, TINY_TLS_ECHO, false);
	broker *b = start_brokerd();
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", srv.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	int fd = broker_tls_get_fd(t);

	ck_assert_int_eq(broker_transfer(b, "tls-stream", fd, "ctx", 3, 0), -EBADFD);
	ck_assert_ptr_nonnull(strstr(broker_strerror(-EBADFD), "TLS session"));
	ck_assert_int_eq(held(b), 0);
	/* Still open, still the caller's, and the session goes on. */
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	exchange(t, "still mine\n", "still mine\n");
	ck_assert_int_eq(broker_tls_take_fd(t), -EBADFD);

	/* Once TLS has ended the guard is gone: the bare TCP stream can go. */
	ck_assert_int_eq(broker_tls_shutdown(t), 0);
	int bare = broker_tls_take_fd(t);
	ck_assert_int_eq(bare, fd);
	ck_assert_int_eq(broker_transfer(b, "after-tls", bare, NULL, 0, 0), 0);
	ck_assert_int_eq(held(b), 1);
	broker_tls_free(t);
	stop_brokerd(b);
	tiny_finish(&srv, 0);
}
END_TEST

/* The mark goes with the session: a later socket with the same fd number,
 * after broker_tls_free() or after a failed handshake, is not refused. */
START_TEST(guard_cleared_with_session)
{
	int r;
	struct tiny srv;
	tiny_start(&srv, TINY_TLS_ECHO, false);
	broker *b = start_brokerd();
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", srv.port, pki("ca.pem"), NULL, &r);
	ck_assert_int_eq(r, 0);
	int number = broker_tls_get_fd(t);
	broker_tls_free(t);
	ck_assert_int_eq(tiny_server_wait(srv.pid), 0);
	int fresh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(fresh, number);   /* the lowest free number comes back */
	ck_assert_int_eq(broker_transfer(b, "fresh", fresh, NULL, 0, 0), -ENOTCONN);   /* brokerd's verdict */
	close(fresh);

	/* A handshake that fails: untrusted (the system store lacks our CA). */
	srv.pid = tiny_server(srv.listen_fd, TINY_TLS_ECHO);
	t = tls_handle(BROKER_TLS_LEVEL_TLS, NULL);
	ck_assert_int_eq(broker_tls_set_nonblocking(t, true), 0);
	r = broker_tls_connect(t, "127.0.0.1", service(srv.port));
	number = broker_tls_get_fd(t);
	expect_failure(t, step_until_done(t, r), BROKER_TLS_CERTIFICATE_UNTRUSTED);
	fresh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(fresh, number);
	ck_assert_int_eq(broker_transfer(b, "fresh", fresh, NULL, 0, 0), -ENOTCONN);
	close(fresh);
	broker_tls_free(t);
	stop_brokerd(b);
	tiny_finish(&srv, 11);   /* our client refused its certificate */
}
END_TEST

/* Run push-client with args, env_extra ("NAME=value" or NULL) added;
 * stdout and stderr into out.  Returns its exit status. */
static int run_push_client(const char *env_extra, const char *const *args, char *out, size_t size)
{
	const char *exe = getenv("PUSH_CLIENT");
	ck_assert_ptr_nonnull(exe);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		if (env_extra)
			putenv((char *)env_extra);
		char *argv[16] = { (char *)exe };
		for (int i = 0; args[i] && i < 14; i++)
			argv[i + 1] = (char *)args[i];
		execv(exe, argv);
		_exit(127);
	}
	close(p[1]);
	size_t n = 0;
	for (ssize_t r; n + 1 < size && (r = read(p[0], out + n, size - 1 - n)) > 0;)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

START_TEST(push_client_tls)
{
	struct tiny srv;
	tiny_start(&srv, TINY_PUSH, false);
	char target[32], out[8192];
	snprintf(target, sizeof(target), "localhost:%d", srv.port);
	int status = run_push_client(NULL, (const char *const[]){ "--tls", "--ca", pki("ca.pem"), "--client-cert",
				     pki("client.pem"), "--client-key", pki("client.key"), target, NULL },
				     out, sizeof(out));
	ck_assert_msg(status == 0, "%s", out);
	ck_assert_int_eq(tiny_server_wait(srv.pid), 0);   /* greeting, news, ack: all exact */
	ck_assert_ptr_nonnull(strstr(out, "with TLS1.3, "));
	ck_assert_ptr_nonnull(strstr(out, "server verified: " SUBJECT "\n"));
	ck_assert_ptr_nonnull(strstr(out, "asked for a client certificate; sent\n"));
	ck_assert_ptr_nonnull(strstr(out, "not handing the connection to brokerd"));
	ck_assert_ptr_nonnull(strstr(out, "received 7 byte(s): news 1\n"));
	ck_assert_ptr_nonnull(strstr(out, "the server closed the connection\n"));

	/* Without the certificate the server says no, and push-client says why. */
	srv.pid = tiny_server(srv.listen_fd, TINY_PUSH);
	status = run_push_client(NULL, (const char *const[]){ "--tls", "--ca", pki("ca.pem"), target, NULL },
				 out, sizeof(out));
	ck_assert_int_eq(status, 1);
	ck_assert_msg(strstr(out, "client-certificate-required"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "none sent"));
	tiny_finish(&srv, 11);   /* it got an empty certificate */
}
END_TEST

/* brokerd starts push-client on every activation: without --tls it must
 * not even load GnuTLS. */
START_TEST(plain_push_client_never_loads_gnutls)
{
	int port;
	int bound = tcp_socket(-1, &port);
	char target[32], out[65536];
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	int status = run_push_client("LD_DEBUG=files", (const char *const[]){ target, NULL }, out, sizeof(out));
	ck_assert_int_eq(status, 1);   /* refused */
	ck_assert_ptr_nonnull(strstr(out, "file=libbroker.so.1"));
	ck_assert_msg(!strstr(out, "gnutls") && !strstr(out, "libbroker-tls"), "%s", out);
	status = run_push_client("LD_DEBUG=files", (const char *const[]){ "--tls", target, NULL }, out, sizeof(out));
	ck_assert_int_eq(status, 1);
	ck_assert_ptr_nonnull(strstr(out, "file=libbroker-tls.so.1"));
	ck_assert_ptr_nonnull(strstr(out, "file=libgnutls.so.30"));
	ck_assert_ptr_nonnull(strstr(out, "connection-refused"));
	close(bound);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-stream");
	TCase *tc = tcase_create("stream");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, starttls);
	tcase_add_test(tc, starttls_wrong_name);
	tcase_add_test(tc, transfer_of_tls_stream_refused);
	tcase_add_test(tc, guard_cleared_with_session);
	tcase_add_test(tc, push_client_tls);
	tcase_add_test(tc, plain_push_client_never_loads_gnutls);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
