/* SPDX-License-Identifier: MIT */
/* Network statuses produced for real on loopback, the plain level, every
 * address tried in turn, non-blocking mode, and argument errors. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "tiny-server.h"

START_TEST(plain_level)
{
	int r;
	struct tiny srv;
	tiny_start(&srv, TINY_PLAIN_ECHO, false);
	broker_tls *t = dial(BROKER_TLS_LEVEL_PLAIN, "localhost", srv.port, NULL, NULL, &r);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_OK);
	broker_tls_info i;
	ck_assert_int_eq(broker_tls_get_info(t, &i), 0);
	ck_assert(!i.encrypted);
	ck_assert(!i.peer_verified);
	ck_assert_uint_eq(i.version, 0);
	ck_assert_str_eq(i.protocol, "none");
	ck_assert_str_eq(i.cipher, "none");
	ck_assert_str_eq(i.peer_subject, "");
	ck_assert_str_eq(i.verify_name, "");
	ck_assert_uint_eq(i.addresses_tried, 1);
	exchange(t, "in the clear\n", "in the clear\n");
	/* Plain streams can be handed out (to brokerd, say), in blocking mode. */
	int fd = broker_tls_take_fd(t);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(broker_tls_get_fd(t), -ENOTCONN);
	broker_tls_free(t);
	ck_assert_int_eq(write(fd, "x", 1), 1);   /* still open: free did not close it */
	close(fd);
	tiny_finish(&srv, 0);
}
END_TEST

START_TEST(connection_refused)
{
	int fds = fd_count(), port, r;
	int bound = tcp_socket(-1, &port);   /* bound, not listening: RST */
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "127.0.0.1", port, NULL, NULL, &r);
	expect_failure(t, r, BROKER_TLS_CONNECTION_REFUSED);
	ck_assert(broker_tls_status_retry_may_help(BROKER_TLS_CONNECTION_REFUSED));
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_uint_eq(i.addresses_tried, 1);
	ck_assert_uint_eq(i.version, 0);
	broker_tls_free(t);
	close(bound);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

START_TEST(host_not_found)
{
	int fds = fd_count(), r;
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "no-such-host.invalid", 443, NULL, NULL, &r);
	expect_failure(t, r, BROKER_TLS_HOST_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(broker_tls_get_detail(t), "no-such-host.invalid"));
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_uint_eq(i.addresses_tried, 0);
	broker_tls_free(t);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

static broker_tls *dial_with_timeout(int port, int ms, int *ret)
{
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, NULL);
	ck_assert_int_eq(broker_tls_set_timeouts(t, ms, -1), 0);
	*ret = broker_tls_connect(t, "127.0.0.1", service(port));
	return t;
}

/* The kernel completes the TCP handshake; nobody ever answers the
 * ClientHello. */
START_TEST(timed_out_in_handshake)
{
	int fds = fd_count(), port, r;
	int l = tcp_socket(4, &port);
	broker_tls *t = dial_with_timeout(port, 200, &r);
	expect_failure(t, r, BROKER_TLS_TIMED_OUT);
	ck_assert_ptr_nonnull(strstr(broker_tls_get_detail(t), "TLS handshake"));
	broker_tls_free(t);
	close(l);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* A full accept queue: the kernel drops our SYN, connect() never ends. */
START_TEST(timed_out_connecting)
{
	int fds = fd_count(), port, r;
	int l = tcp_socket(0, &port);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(connect(filler, (struct sockaddr *)&sin, sizeof(sin)), 0);
	broker_tls *t = dial_with_timeout(port, 200, &r);
	expect_failure(t, r, BROKER_TLS_TIMED_OUT);
	ck_assert_ptr_nonnull(strstr(broker_tls_get_detail(t), "connecting"));
	broker_tls_free(t);
	close(filler);
	close(l);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

static void expect_dropped(enum tiny_script script, const char *detail)
{
	int r;
	struct tiny srv;
	tiny_start(&srv, script, false);
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "127.0.0.1", srv.port, NULL, NULL, &r);
	expect_failure(t, r, BROKER_TLS_CONNECTION_RESET);
	ck_assert_msg(strstr(broker_tls_get_detail(t), detail), "%s", broker_tls_get_detail(t));
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}

START_TEST(reset_in_handshake)
{
	expect_dropped(TINY_RESET, "Connection reset by peer");
}
END_TEST

START_TEST(closed_in_handshake)
{
	expect_dropped(TINY_CLOSE, "closed the connection during the TLS handshake");
}
END_TEST

/* In a network namespace of our own, with no interface up, no address is
 * reachable.  Needs CAP_SYS_ADMIN (CI runs as root). */
START_TEST(network_unreachable)
{
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "# network_unreachable: unshare(CLONE_NEWNET): %m; not checked\n");
		return;
	}
	int fds = fd_count(), r;
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "192.0.2.1", 443, NULL, NULL, &r);
	expect_failure(t, r, BROKER_TLS_NETWORK_UNREACHABLE);
	ck_assert_ptr_nonnull(strstr(broker_tls_get_detail(t), "192.0.2.1:443"));
	broker_tls_free(t);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* After the handshake, bytes that are not TLS: nothing a retry can fix. */
START_TEST(unknown_after_handshake)
{
	int r;
	struct tiny srv;
	tiny_start(&srv, TINY_GARBAGE, false);
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", srv.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	char buf[64];
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), -EIO);
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_UNKNOWN);
	ck_assert(!broker_tls_status_retry_may_help(BROKER_TLS_UNKNOWN));
	ck_assert_int_eq(broker_tls_write(t, "x", 1), -EIO);   /* finished */
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}
END_TEST

/* A private /etc/hosts (mount namespace, CAP_SYS_ADMIN) where multi.test
 * has two addresses, in this order. */
static bool private_hosts(void)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "# every_address_tried: no mount namespace: %m; not checked\n");
		return false;
	}
	FILE *f = fopen(pki("hosts"), "we");
	ck_assert_ptr_nonnull(f);
	fputs("127.0.0.2 multi.test\n127.0.0.3 multi.test\n", f);
	fclose(f);
	ck_assert_int_eq(mount(pki("hosts"), "/etc/hosts", NULL, MS_BIND, NULL), 0);
	return true;
}

START_TEST(every_address_tried)
{
	if (!private_hosts())
		return;
	int fds = fd_count(), port, r;

	/* Nothing listens on either address: both are tried, both refuse. */
	int bound = tcp_socket(-1, &port);
	broker_tls *t = dial(BROKER_TLS_LEVEL_PLAIN, "multi.test", port, NULL, NULL, &r);
	expect_failure(t, r, BROKER_TLS_CONNECTION_REFUSED);
	broker_tls_info i;
	broker_tls_get_info(t, &i);
	ck_assert_uint_eq(i.addresses_tried, 2);
	broker_tls_free(t);
	close(bound);

	/* Only the second address listens: the first refusal is not the end. */
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000003) };
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	pid_t server = tiny_server(l, TINY_PLAIN_ECHO);
	t = dial(BROKER_TLS_LEVEL_PLAIN, "multi.test", ntohs(sin.sin_port), NULL, NULL, &r);
	ck_assert_int_eq(r, 0);
	broker_tls_get_info(t, &i);
	ck_assert_uint_eq(i.addresses_tried, 2);
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.3:%d", ntohs(sin.sin_port));
	ck_assert_str_eq(i.peer_address, addr);
	exchange(t, "second\n", "second\n");
	broker_tls_free(t);
	ck_assert_int_eq(tiny_server_wait(server), 0);
	close(l);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* What an event loop does: wait for the fd and events the handle names,
 * within its timeout, and step. */
START_TEST(nonblocking_event_loop)
{
	struct tiny srv;
	tiny_start(&srv, TINY_TLS_ECHO, false);
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_nonblocking(t, true), 0);
	int r = broker_tls_connect(t, "localhost", service(srv.port));
	ck_assert_int_eq(r, -EAGAIN);   /* a handshake needs at least one round trip */
	r = step_until_done(t, r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	expect_tls(t, 0x0304, "CN=localhost,O=socket-broker tests");
	ck_assert_int_eq(broker_tls_get_timeout(t), -1);

	char buf[16];
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), -EAGAIN);
	ck_assert_int_eq(broker_tls_get_events(t), POLLIN);
	ck_assert_int_eq(broker_tls_write(t, "nb\n", 3), 3);
	size_t got = 0;
	while (got < 3) {
		struct pollfd p = { .fd = broker_tls_get_fd(t), .events = (short)broker_tls_get_events(t) };
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		ssize_t n = broker_tls_read(t, buf + got, sizeof(buf) - got);
		if (n != -EAGAIN) {
			ck_assert_int_gt(n, 0);
			got += (size_t)n;
		}
	}
	ck_assert_mem_eq(buf, "nb\n", 3);
	ck_assert_uint_eq(broker_tls_pending(t), 0);
	ck_assert_int_eq(broker_tls_shutdown(t), 0);
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-net");
	TCase *tc = tcase_create("net");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, plain_level);
	tcase_add_test(tc, connection_refused);
	tcase_add_test(tc, host_not_found);
	tcase_add_test(tc, timed_out_in_handshake);
	tcase_add_test(tc, timed_out_connecting);
	tcase_add_test(tc, reset_in_handshake);
	tcase_add_test(tc, closed_in_handshake);
	tcase_add_test(tc, network_unreachable);
	tcase_add_test(tc, unknown_after_handshake);
	tcase_add_test(tc, every_address_tried);
	tcase_add_test(tc, nonblocking_event_loop);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
