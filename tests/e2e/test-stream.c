/* SPDX-License-Identifier: MIT */
/*
 * A connected TCP stream held for an app: data (including bytes sent while
 * the app starts), the peer closing, the keep-alive, answers, re-transfer
 * and repeated cycles.  Also reports how long one full cycle takes.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.stream"

static const char ctx[] = "ctx\0with\x01" "binary\xff" "bytes";
#define CTX_LEN (sizeof(ctx) - 1)

START_TEST(tcp_data_answer_and_second_cycle)
{
	struct hb b;
	hb_init(&b, "tcp-data", NULL);
	hb_testapp(&b, APP, "--wait-file go --read-min 11 --answer pong --retransfer");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, ctx, CTX_LEN, 0);
	hb_send(peer, "hello", 5);

	/* Started by brokerd with the sd_listen_fds protocol... */
	hb_report_get(rep, "start", 0, line);
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "app", APP);
	hb_expect(line, "fds", "1");
	hb_expect(line, "names", "socket-broker");
	hb_expect(line, "pid_ok", "1");
	/* ...and these bytes arrive while it is still starting. */
	hb_send(peer, " world", 6);
	hb_touch(hb_path(&b, "go"));

	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "app", APP);
	hb_expect(line, "id", "conn");
	hb_expect(line, "kind", "stream");
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "ctx", hb_esc(ctx, CTX_LEN));
	hb_expect(line, "ctxlen", "21");
	hb_expect(line, "keepalive", "0");
	hb_expect(line, "data", hb_esc("hello world", 11));
	hb_expect(line, "eof", "0");
	unsigned long long serial1 = strtoull(hb_field(line, "serial"), NULL, 10);
	hb_expect_recv(peer, "pong");
	hb_report_get(rep, "retransfer", 0, line);
	hb_expect(line, "result", "0");

	/* The re-transferred socket works the same way again. */
	hb_send(peer, "hello again", 11);
	hb_report_get(rep, "handback", 1, line);
	hb_expect(line, "id", "conn");
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "ctx", hb_esc(ctx, CTX_LEN));
	hb_expect(line, "data", hb_esc("hello again", 11));
	ck_assert_uint_gt(strtoull(hb_field(line, "serial"), NULL, 10), serial1);
	hb_expect_recv(peer, "pong");
	hb_report_get(rep, "retransfer", 1, line);

	/* The peer goes: the app hears it and lets the socket go. */
	close(peer);
	hb_report_get(rep, "handback", 2, line);
	hb_expect(line, "reason", "socket-closed");
	hb_expect(line, "data", "");
	hb_expect(line, "eof", "1");
	ck_assert(HB_WAIT(hb_report_count(rep, "exit") == hb_report_count(rep, "start"), HB_WAIT_MS));
	ck_assert_int_eq(hb_report_count(rep, "retransfer"), 2);
	ck_assert_ptr_null(hb_show(&b, APP, "conn"));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(tcp_peer_closes)
{
	struct hb b;
	hb_init(&b, "tcp-close", NULL);
	hb_testapp(&b, APP, "--retransfer");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, "c", 1, 0);
	close(peer);
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "reason", "socket-closed");
	hb_expect(line, "kind", "stream");
	hb_expect(line, "ctx", "c");
	hb_expect(line, "data", "");
	hb_expect(line, "eof", "1");
	hb_report_get(rep, "exit", 0, line);
	ck_assert_int_eq(hb_report_count(rep, "start"), 1);
	ck_assert_ptr_null(hb_show(&b, APP, "conn"));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

START_TEST(tcp_keepalive_expires)
{
	struct hb b;
	hb_init(&b, "tcp-keepalive", NULL);
	hb_testapp(&b, APP, "--answer ka");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 1);
	/* The peer stays silent; after a second the app is woken to speak. */
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "reason", "keepalive-timer-expired");
	hb_expect(line, "keepalive", "1");
	hb_expect(line, "ctxlen", "0");
	hb_expect(line, "data", "");
	hb_expect(line, "eof", "0");
	hb_expect_recv(peer, "ka");
	/* The app closed its copy and brokerd let go: the peer sees the end. */
	ck_assert(hb_eof(peer, HB_WAIT_MS));
	close(peer);
	hb_report_get(rep, "exit", 0, line);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

/* A manifest's command may be longer than libinih's default line (200). */
START_TEST(tcp_long_command_line)
{
	char answer[301];
	for (size_t i = 0; i < sizeof(answer) - 1; i++)
		answer[i] = (char)('a' + i % 26);
	answer[sizeof(answer) - 1] = 0;
	struct hb b;
	hb_init(&b, "long-command", NULL);
	hb_testapp(&b, APP, "--read-min 1 --answer %s", answer);
	hb_start(&b);
	char line[HB_LINE_MAX];

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	hb_send(peer, "?", 1);
	hb_expect_recv(peer, answer);
	hb_report_get(hb_report(&b, APP), "exit", 0, line);
	close(peer);
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Informational: peer sends -> brokerd starts the app -> the app answers. */
START_TEST(tcp_cycle_time)
{
	enum { CYCLES = 15 };
	struct hb b;
	hb_init(&b, "tcp-cycle", NULL);
	hb_testapp(&b, APP, "--read-min 4 --answer pong --retransfer");
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX], buf[4];

	int held, peer;
	hb_tcp_pair(&held, &peer);
	hb_transfer(&b, APP, "conn", held, NULL, 0, 0);
	uint64_t us[CYCLES];
	for (int i = 0; i < CYCLES; i++) {
		uint64_t t0 = hb_now_us();
		hb_send(peer, "ping", 4);
		ck_assert(hb_recv_exact(peer, buf, 4, HB_WAIT_MS));
		us[i] = hb_now_us() - t0;
		ck_assert_mem_eq(buf, "pong", 4);
		/* the next cycle starts from an idle app with the socket held */
		hb_report_get(rep, "retransfer", i, line);
		hb_expect(line, "result", "0");
		ck_assert(HB_WAIT(hb_report_count(rep, "exit") == i + 1, HB_WAIT_MS));
	}
	qsort(us, CYCLES, sizeof(us[0]), cmp_u64);
	hb_diag("cycle tcp-stream (peer sends -> brokerd starts the app -> peer has its answer): "
		"median %.2f ms, min %.2f ms, max %.2f ms over %d cycles",
		us[CYCLES / 2] / 1000., us[0] / 1000., us[CYCLES - 1] / 1000., CYCLES);
	ck_assert_int_eq(hb_report_count(rep, "start"), CYCLES);
	close(peer);
	hb_report_get(rep, "handback", CYCLES, line);
	hb_expect(line, "reason", "socket-closed");
	ck_assert(HB_WAIT(hb_report_count(rep, "exit") == CYCLES + 1, HB_WAIT_MS));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-stream");
	TCase *tc = tcase_create("tcp");
	tcase_add_test(tc, tcp_data_answer_and_second_cycle);
	tcase_add_test(tc, tcp_peer_closes);
	tcase_add_test(tc, tcp_keepalive_expires);
	tcase_add_test(tc, tcp_long_command_line);
	tcase_add_test(tc, tcp_cycle_time);
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
