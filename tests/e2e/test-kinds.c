/* SPDX-License-Identifier: MIT */
/*
 * Every other kind of socket through a full cycle: UDP, AF_UNIX stream,
 * seqpacket and datagram (data, empty datagrams, and the peer closing where
 * the kernel lets anyone see it), and listeners (TCP, AF_UNIX stream and
 * seqpacket) whose pending connection the app accepts and talks to.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define APP "org.test.kinds"

struct connected_case {
	const char *name;
	int type;            /* AF_UNIX type; 0 = UDP */
	bool records;        /* read and answered record by record */
	bool empty_record;   /* an empty datagram means something */
	bool sees_close;     /* the kernel shows the peer's close */
	const char *kind;    /* as brokerd names it */
};

static const struct connected_case connected[] = {
	{ "udp", 0, true, true, false, "datagram" },
	{ "unix-stream", SOCK_STREAM, false, false, true, "stream" },
	{ "unix-seqpacket", SOCK_SEQPACKET, true, false, true, "stream" },
	{ "unix-dgram", SOCK_DGRAM, true, true, false, "datagram" },
};

/* What the app reports for the two sends a and b. */
static const char *expected(const struct connected_case *k, const char *a, const char *b)
{
	static char out[256];
	if (!k->records)
		snprintf(out, sizeof(out), "%s%s", a, b);
	else
		snprintf(out, sizeof(out), "%s%s", hb_rec(a, strlen(a)), hb_rec(b, strlen(b)));
	return out;
}

START_TEST(connected_kinds)
{
	const struct connected_case *k = &connected[_i];
	struct hb b;
	hb_init(&b, k->name, NULL);
	hb_testapp(&b, APP, "--read-min %d --answer ok --retransfer", k->records ? 2 : 4);
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	char line[HB_LINE_MAX];

	int held, peer;
	if (k->type)
		hb_unix_pair(k->type, &held, &peer);
	else
		hb_udp_pair(&held, &peer);
	hb_transfer(&b, APP, "s", held, k->name, strlen(k->name), 0);

	hb_send(peer, "ab", 2);
	hb_send(peer, "cd", 2);
	hb_report_get(rep, "handback", 0, line);
	hb_expect(line, "id", "s");
	hb_expect(line, "kind", k->kind);
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "ctx", k->name);
	hb_expect(line, "data", expected(k, "ab", "cd"));
	hb_expect_recv(peer, "ok");
	hb_report_get(rep, "retransfer", 0, line);
	hb_expect(line, "result", "0");

	/* Second cycle: an empty datagram first, where that is a thing. */
	const char *first = k->empty_record ? "" : "ef";
	hb_send(peer, first, strlen(first));
	hb_send(peer, "gh", 2);
	hb_report_get(rep, "handback", 1, line);
	hb_expect(line, "reason", "socket-activity");
	hb_expect(line, "data", expected(k, first, "gh"));
	hb_expect_recv(peer, "ok");
	hb_report_get(rep, "retransfer", 1, line);

	if (k->sees_close) {
		close(peer);
		hb_report_get(rep, "handback", 2, line);
		hb_expect(line, "reason", "socket-closed");
		hb_expect(line, "data", "");
		hb_expect(line, "eof", "1");
	} else {
		hb_drop(&b, APP, "s");
		close(peer);
	}
	ck_assert(HB_WAIT(hb_report_count(rep, "exit") == hb_report_count(rep, "start"), HB_WAIT_MS));
	ck_assert_ptr_null(hb_show(&b, APP, "s"));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

struct listener_case {
	const char *name;
	int type;            /* AF_UNIX type; 0 = TCP */
};

static const struct listener_case listeners[] = {
	{ "tcp-listener", 0 },
	{ "unix-listener", SOCK_STREAM },
	{ "seqpacket-listener", SOCK_SEQPACKET },
};

START_TEST(listener_kinds)
{
	const struct listener_case *k = &listeners[_i];
	struct hb b;
	hb_init(&b, k->name, NULL);
	/* seqpacket: one record; stream: both bytes */
	hb_testapp(&b, APP, "--accept --read-min %d --answer welcome --retransfer", k->type == SOCK_SEQPACKET ? 1 : 2);
	hb_start(&b);
	const char *rep = hb_report(&b, APP);
	const char *path = hb_path(&b, "listener.sock");
	char line[HB_LINE_MAX];

	uint16_t port = 0;
	int l = k->type ? hb_unix_listener(k->type, path) : hb_tcp_listener(&port);
	hb_transfer(&b, APP, "l", l, NULL, 0, 0);

	for (int i = 0; i < 2; i++) {
		/* The connection waits in the backlog until the app accepts it. */
		int c = k->type ? hb_unix_connect(k->type, path) : hb_tcp_connect(port);
		hb_send(c, "hi", 2);
		hb_report_get(rep, "handback", i, line);
		hb_expect(line, "id", "l");
		hb_expect(line, "kind", "listener");
		hb_expect(line, "reason", "connection-accepted");
		hb_expect(line, "conn", "1");
		hb_expect(line, "data", k->type == SOCK_SEQPACKET ? hb_rec("hi", 2) : "hi");
		hb_expect_recv(c, "welcome");
		ck_assert(hb_eof(c, HB_WAIT_MS));   /* the app closed the accepted one */
		close(c);
		hb_report_get(rep, "retransfer", i, line);
		hb_expect(line, "result", "0");
	}
	hb_drop(&b, APP, "l");
	ck_assert(HB_WAIT(hb_report_count(rep, "exit") == hb_report_count(rep, "start"), HB_WAIT_MS));
	hb_assert_fds(&b, b.base_fds);
	hb_finish(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("e2e-kinds");
	TCase *tc = tcase_create("kinds");
	tcase_add_loop_test(tc, connected_kinds, 0, sizeof(connected) / sizeof(connected[0]));
	tcase_add_loop_test(tc, listener_kinds, 0, sizeof(listeners) / sizeof(listeners[0]));
	suite_add_tcase(s, tc);
	return hb_run_suite(s);
}
