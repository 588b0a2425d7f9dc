/* SPDX-License-Identifier: MIT */
/* The status table as documented in broker-tls.h, level names, and
 * argument errors (with fds left untouched where the header says so). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"

START_TEST(status_table)
{
	static const struct {
		enum broker_tls_status status;
		const char *name;
		int err;
		bool retry;
	} table[] = {
		{ BROKER_TLS_OK, "ok", 0, false },
		{ BROKER_TLS_HOST_NOT_FOUND, "host-not-found", -ENXIO, true },
		{ BROKER_TLS_CONNECTION_REFUSED, "connection-refused", -ECONNREFUSED, true },
		{ BROKER_TLS_TIMED_OUT, "timed-out", -ETIMEDOUT, true },
		{ BROKER_TLS_NETWORK_UNREACHABLE, "network-unreachable", -ENETUNREACH, true },
		{ BROKER_TLS_CONNECTION_RESET, "connection-reset", -ECONNRESET, true },
		{ BROKER_TLS_CERTIFICATE_UNTRUSTED, "certificate-untrusted", -EKEYREJECTED, false },
		{ BROKER_TLS_CERTIFICATE_EXPIRED, "certificate-expired", -EKEYEXPIRED, false },
		{ BROKER_TLS_HOSTNAME_MISMATCH, "hostname-mismatch", -EKEYREJECTED, false },
		{ BROKER_TLS_PROTOCOL_NEGOTIATION_FAILED, "protocol-negotiation-failed", -EPROTO, false },
		{ BROKER_TLS_CLIENT_CERTIFICATE_REQUIRED, "client-certificate-required", -ENOKEY, false },
		{ BROKER_TLS_UNKNOWN, "unknown", -EIO, false },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		ck_assert_int_eq(table[i].status, (int)i);
		ck_assert_str_eq(broker_tls_status_name(table[i].status), table[i].name);
		ck_assert_int_eq(broker_tls_status_errno(table[i].status), table[i].err);
		ck_assert(broker_tls_status_retry_may_help(table[i].status) == table[i].retry);
		const char *m = broker_tls_status_message(table[i].status);
		ck_assert_uint_gt(strlen(m), 10);
		ck_assert_int_eq(m[strlen(m) - 1], '.');
	}
	/* Out of range is unknown, and fatal. */
	ck_assert_str_eq(broker_tls_status_name(-1), "unknown");
	ck_assert_str_eq(broker_tls_status_name(BROKER_TLS_UNKNOWN + 1), "unknown");
	ck_assert(!broker_tls_status_retry_may_help(999));
	ck_assert_int_eq(broker_tls_status_errno(999), -EIO);
}
END_TEST

START_TEST(level_names)
{
	for (int l = BROKER_TLS_LEVEL_PLAIN; l <= BROKER_TLS_LEVEL_TLS13; l++)
		ck_assert_int_eq(broker_tls_level_from_name(broker_tls_level_name(l)), l);
	ck_assert_str_eq(broker_tls_level_name(BROKER_TLS_LEVEL_TLS13), "tls13");
	ck_assert_str_eq(broker_tls_level_name(3), "unknown");
	ck_assert_int_eq(broker_tls_level_from_name("ssl3"), -EINVAL);
	ck_assert_int_eq(broker_tls_level_from_name(NULL), -EINVAL);
}
END_TEST

START_TEST(misuse)
{
	int fds = fd_count();
	broker_tls *t = (broker_tls *)0x1;
	ck_assert_int_eq(broker_tls_new(3, &t), -EINVAL);
	ck_assert_ptr_eq(t, (broker_tls *)0x1);   /* untouched on failure */
	ck_assert_ptr_null(broker_tls_free(NULL));
	ck_assert_int_eq(broker_tls_new(BROKER_TLS_LEVEL_TLS, &t), 0);
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_OK);
	ck_assert_str_eq(broker_tls_get_detail(t), "");
	ck_assert_int_eq(broker_tls_get_fd(t), -ENOTCONN);
	ck_assert_int_eq(broker_tls_get_timeout(t), -1);
	char buf[4];
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), -ENOTCONN);
	ck_assert_int_eq(broker_tls_write(t, "x", 1), -ENOTCONN);
	ck_assert_int_eq(broker_tls_take_fd(t), -ENOTCONN);
	ck_assert_int_eq(broker_tls_set_ignorable(t, 1u << 7), -EINVAL);
	ck_assert_int_eq(broker_tls_connect(t, "", "443"), -EINVAL);
	ck_assert_int_eq(broker_tls_connect(t, "localhost", NULL), -EINVAL);

	/* One connection per handle; settings only before it. */
	int port;
	int bound = tcp_socket(-1, &port);
	ck_assert_int_eq(broker_tls_connect(t, "127.0.0.1", service(port)), -ECONNREFUSED);
	ck_assert_int_eq(broker_tls_connect(t, "127.0.0.1", service(port)), -EBUSY);
	ck_assert_int_eq(broker_tls_set_timeouts(t, 1, 1), -EBUSY);
	ck_assert_int_eq(broker_tls_set_ca_file(t, NULL), -EBUSY);
	ck_assert_int_eq(broker_tls_set_ignorable(t, 0), -EBUSY);
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_CONNECTION_REFUSED);   /* misuse left it */
	broker_tls_free(t);
	close(bound);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* broker_tls_upgrade() refusals leave the caller's fd alone. */
START_TEST(upgrade_argument_errors)
{
	int fds = fd_count(), pipefd[2], port;
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	int unconnected = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int bound = tcp_socket(-1, &port);
	broker_tls *plain, *t;
	ck_assert_int_eq(broker_tls_new(BROKER_TLS_LEVEL_PLAIN, &plain), 0);
	ck_assert_int_eq(broker_tls_new(BROKER_TLS_LEVEL_TLS, &t), 0);

	ck_assert_int_eq(broker_tls_upgrade(plain, unconnected, "localhost"), -EINVAL);
	ck_assert_int_eq(broker_tls_upgrade(t, unconnected, ""), -EINVAL);
	ck_assert_int_eq(broker_tls_upgrade(t, pipefd[0], "localhost"), -ENOTSOCK);
	ck_assert_int_eq(broker_tls_upgrade(t, unconnected, "localhost"), -ENOTCONN);
	ck_assert_int_eq(broker_tls_upgrade(t, -1, "localhost"), -EINVAL);
	for (int fd = 0; fd < 3; fd++)
		ck_assert_int_ge(fcntl((int[]){ pipefd[0], unconnected, bound }[fd], F_GETFD), 0);
	ck_assert_int_eq(fcntl(unconnected, F_GETFL) & O_NONBLOCK, 0);

	broker_tls_free(plain);
	broker_tls_free(t);
	close(pipefd[0]);
	close(pipefd[1]);
	close(unconnected);
	close(bound);
	ck_assert_int_eq(fd_count(), fds);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-api");
	TCase *tc = tcase_create("api");
	tcase_add_test(tc, status_table);
	tcase_add_test(tc, level_names);
	tcase_add_test(tc, misuse);
	tcase_add_test(tc, upgrade_argument_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
