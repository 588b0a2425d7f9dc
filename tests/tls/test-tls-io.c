/* SPDX-License-Identifier: MIT */
/* Reads and writes on open connections: writes that must wait for the
 * peer (blocking and non-blocking), a read that times out and leaves the
 * connection usable, end of stream. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "tiny-server.h"

static char *payload(void)
{
	char *p = malloc(TINY_SINK_BYTES);
	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < TINY_SINK_BYTES; i++)
		p[i] = (char)('a' + i % 26);
	return p;
}

static void expect_got(broker_tls *t)
{
	char want[32], buf[32];
	int len = snprintf(want, sizeof(want), "got %u\n", TINY_SINK_BYTES);
	size_t got = 0;
	while (got < (size_t)len) {
		ssize_t n = broker_tls_read(t, buf + got, (size_t)len - got);
		if (n == -EAGAIN) {
			struct pollfd p = { .fd = broker_tls_get_fd(t), .events = (short)broker_tls_get_events(t) };
			ck_assert_int_eq(poll(&p, 1, 10000), 1);
			continue;
		}
		ck_assert_msg(n > 0, "%zd: %s", n, broker_tls_get_detail(t));
		got += (size_t)n;
	}
	ck_assert_mem_eq(buf, want, got);
}

/* Blocking writes of 16 MiB: far more than the socket buffers hold, so
 * they wait for writability (a wait for the wrong event would hang). */
static void blocking_write(enum broker_tls_level level, enum tiny_script script)
{
	int r;
	struct tiny srv;
	tiny_start(&srv, script, true);
	broker_tls *t = dial(level, "localhost", srv.port, pki("ca.pem"), NULL, &r);
	ck_assert_msg(r == 0, "%s", broker_tls_get_detail(t));
	char *p = payload();
	ck_assert_int_eq(broker_tls_write(t, p, TINY_SINK_BYTES), (ssize_t)TINY_SINK_BYTES);
	free(p);
	expect_got(t);
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}

START_TEST(blocking_write_plain)
{
	blocking_write(BROKER_TLS_LEVEL_PLAIN, TINY_SINK);
}
END_TEST

START_TEST(blocking_write_tls)
{
	blocking_write(BROKER_TLS_LEVEL_TLS, TINY_TLS_SINK);
}
END_TEST

/* Non-blocking: short counts, -EAGAIN with POLLOUT, the rest passed again.
 * The sink reads nothing until we have seen -EAGAIN. */
START_TEST(nonblocking_write_tls)
{
	int r, gate[2];
	int fds = fd_count();
	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	tiny_sink_gate = gate[0];
	struct tiny srv;
	tiny_start(&srv, TINY_TLS_SINK, true);
	srv.fds = fds;   /* the gate is closed by then */
	close(gate[0]);
	broker_tls *t = dial(BROKER_TLS_LEVEL_TLS, "localhost", srv.port, pki("ca.pem"), NULL, &r);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(broker_tls_set_nonblocking(t, true), 0);
	char *p = payload();
	size_t done = 0;
	bool waited = false;
	while (done < TINY_SINK_BYTES) {
		ssize_t n = broker_tls_write(t, p + done, TINY_SINK_BYTES - done);
		if (n == -EAGAIN) {
			ck_assert_int_eq(broker_tls_get_events(t), POLLOUT);
			if (!waited)
				ck_assert_int_eq(write(gate[1], "go", 1), 1);
			waited = true;
			struct pollfd pfd = { .fd = broker_tls_get_fd(t), .events = POLLOUT };
			ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
			continue;
		}
		ck_assert_msg(n > 0, "%zd: %s", n, broker_tls_get_detail(t));
		done += (size_t)n;
	}
	free(p);
	ck_assert(waited);
	close(gate[1]);
	expect_got(t);
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}
END_TEST

START_TEST(read_timeout_keeps_connection)
{
	struct tiny srv;
	tiny_start(&srv, TINY_TLS_ECHO, false);
	broker_tls *t = tls_handle(BROKER_TLS_LEVEL_TLS, pki("ca.pem"));
	ck_assert_int_eq(broker_tls_set_timeouts(t, 10000, 50), 0);
	ck_assert_int_eq(broker_tls_connect(t, "localhost", service(srv.port)), 0);
	char buf[8];
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), -ETIMEDOUT);
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_TIMED_OUT);
	ck_assert_int_ge(broker_tls_get_fd(t), 0);
	exchange(t, "still here\n", "still here\n");
	ck_assert_int_eq(broker_tls_get_status(t), BROKER_TLS_OK);
	/* End of stream: close_notify from us, the server's back, then 0. */
	ck_assert_int_eq(broker_tls_shutdown(t), 0);
	ck_assert_int_eq(broker_tls_shutdown(t), 0);   /* once is enough; twice is harmless */
	ck_assert_int_eq(broker_tls_read(t, buf, sizeof(buf)), -ESHUTDOWN);
	broker_tls_free(t);
	tiny_finish(&srv, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tls-io");
	TCase *tc = tcase_create("io");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, blocking_write_plain);
	tcase_add_test(tc, blocking_write_tls);
	tcase_add_test(tc, nonblocking_write_tls);
	tcase_add_test(tc, read_timeout_keeps_connection);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
