/* SPDX-License-Identifier: MIT */
/* Hostile input, load: clients that dawdle, clients that never read, a
 * thousand at once, and the connection limits.  A well-behaved client is
 * served while each of them does its worst. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sec.h"
#include "wire.h"

/* One byte a second, as many one-byte packets: on SOCK_SEQPACKET a
 * message arrives whole or not at all, so each is malformed on its own. */
START_TEST(one_byte_a_second)
{
	struct hb b;
	sec_begin(&b, "[limits]\nclient-timeout-ms = 2500\n");
	int dawdler = sec_raw_connect(&b);   /* never says hello */
	int chatty = sec_raw_hello(&b);      /* said hello, then dribbles */
	bool dropped = false;
	for (int second = 0; second < 30 && !dropped; second++) {
		if (send(dawdler, "h", 1, MSG_NOSIGNAL) == 1) {
			struct bp_msg m;
			int r = sec_raw_recv(dawdler, &m);
			ck_assert_int_eq(r, 1);
			ck_assert_uint_eq(m.type, BP_ERROR);
			if (m.u.error.error == -ETIMEDOUT) {
				ck_assert_str_eq(bp_msg_str(&m, 0), "no hello within 2500 ms");
				dropped = true;
			} else {
				ck_assert_int_eq(m.u.error.error, -EBADMSG);
			}
		} else {
			dropped = true;   /* closed between two bytes; the error is queued */
		}
		ck_assert_int_eq(send(chatty, "h", 1, MSG_NOSIGNAL), 1);
		sec_expect_error(chatty, 0, -EBADMSG);
		sec_good_client(&b, SEC_GOOD_APP);
		if (!dropped)
			usleep(1000000);
	}
	ck_assert_msg(dropped, "a client without hello was never dropped");
	sec_expect_eof(dawdler);
	close(dawdler);
	/* the one that said hello is slow, not wrong: still served */
	sec_raw_msg(chatty, BP_STATUS, 9, NULL, 0, NULL, 0, NULL, 0);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(chatty, &m), 1);
	ck_assert_uint_eq(m.type, BP_STATUS_REPLY);
	close(chatty);
	sec_end(&b);
}
END_TEST

START_TEST(never_reads_its_replies)
{
	struct hb b;
	sec_begin(&b, "[limits]\nclient-timeout-ms = 1500\n");
	int deaf = sec_raw_hello(&b);
	/* requests until the kernel will take no more: brokerd has stopped
	 * reading from this client because its replies do not go out */
	uint8_t buf[64];
	size_t n = sec_encode(buf, sizeof(buf), BP_STATUS, 5, NULL, 0, NULL, 0, 0);
	int sent = 0;
	for (;;) {
		ssize_t r = send(deaf, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			struct pollfd p = { .fd = deaf, .events = POLLOUT };
			if (poll(&p, 1, 200) == 0)
				break;   /* stuck for good */
			continue;
		}
		sent++;
	}
	ck_assert_int_gt(sent, 0);
	sec_good_client(&b, SEC_GOOD_APP);   /* while the deaf one is stuck */
	/* dropped after client-timeout-ms (reading first would unstick it) */
	ck_assert(sec_log_has(&b, "did not read its replies in time", 1));
	sec_expect_eof(deaf);
	close(deaf);

	/* The same with a reply stream: a LIST of many sockets, never read. */
	broker *c;
	ck_assert_int_eq(broker_open(b.socket, &c), 0);
	ck_assert_int_eq(broker_register(c, SEC_GOOD_APP), 0);
	/* 200 x 4 KB of context: more than a socket buffer takes */
	static char ctx[4000];
	int peers[200];
	for (int i = 0; i < 200; i++) {
		int sv[2];
		sec_pair(SOCK_STREAM, sv);
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		ck_assert_int_eq(broker_transfer(c, id, sv[1], ctx, sizeof(ctx), 0), 0);
		peers[i] = sv[0];
	}
	deaf = sec_raw_hello(&b);
	struct bp_list l = { .flags = BP_LIST_ALL };
	struct bp_field f = { "", 0 };
	sec_raw_msg(deaf, BP_LIST, 6, &l, sizeof(l), &f, 1, NULL, 0);
	sec_good_client(&b, SEC_GOOD_APP);
	ck_assert(sec_log_has(&b, "did not read its replies in time", 2));
	sec_expect_eof(deaf);
	close(deaf);
	broker_info **list;
	ck_assert_int_eq(broker_list(c, "", &list), 200);   /* nothing lost */
	broker_info_list_free(list);
	for (int i = 0; i < 200; i++) {
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		int fd = broker_claim(c, id, NULL);
		ck_assert_int_ge(fd, 0);
		close(fd);
		close(peers[i]);
	}
	broker_close(c);
	sec_end(&b);
}
END_TEST

START_TEST(a_thousand_clients_at_once)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	struct hb b;
	sec_begin(&b, "[limits]\nmax-clients = 1100\nmax-clients-per-uid = 1100\n");
	static int fds[1000];
	for (int i = 0; i < 1000; i++)
		fds[i] = sec_raw_connect(&b);
	struct bp_hello h = { .version = BP_VERSION };
	struct bp_field name = { "crowd", 5 };
	for (int i = 0; i < 1000; i++)
		sec_raw_msg(fds[i], BP_HELLO, (uint32_t)i + 1, &h, sizeof(h), &name, 1, NULL, 0);
	sec_good_client(&b, SEC_GOOD_APP);   /* in the middle of the crowd */
	for (int i = 0; i < 1000; i++) {
		struct bp_msg m;
		ck_assert_int_eq(sec_raw_recv(fds[i], &m), 1);
		ck_assert_uint_eq(m.type, BP_HELLO_REPLY);
		ck_assert_uint_eq(m.seq, (uint32_t)i + 1);
	}
	ck_assert_int_eq(hb_fds(&b), b.base_fds + 1000);
	for (int i = 0; i < 1000; i++)
		close(fds[i]);
	sec_end(&b);
}
END_TEST

/* Open n connections; expect the first ok ones to be served and the rest
 * refused with err.  Leaves the served ones open in fds. */
static void crowd(const struct hb *b, int *fds, int n, int ok, int err)
{
	uint8_t buf[64];
	struct bp_hello h = { .version = BP_VERSION };
	struct bp_field name = { "crowd", 5 };
	size_t len = sec_encode(buf, sizeof(buf), BP_HELLO, 1, &h, sizeof(h), &name, 1, 0);
	for (int i = 0; i < n; i++) {
		fds[i] = sec_raw_connect(b);
		/* a refused one may be closed already: its error waits to be read */
		ssize_t sent = send(fds[i], buf, len, MSG_NOSIGNAL);
		ck_assert(sent == (ssize_t)len || (i >= ok && errno == EPIPE));
		if (i < ok) {
			struct bp_msg m;
			ck_assert_int_eq(sec_raw_recv(fds[i], &m), 1);
			ck_assert_uint_eq(m.type, BP_HELLO_REPLY);
		} else {
			sec_expect_error(fds[i], 0, err);
			sec_expect_eof(fds[i]);
			close(fds[i]);
			fds[i] = -1;
		}
	}
}

static void other_user_crowd(const struct hb *b, void *arg)
{
	int fds[8];
	crowd(b, fds, 6, *(int *)arg, -ENOBUFS);
}

START_TEST(connection_limits)
{
	struct hb b;
	sec_begin(&b, "[limits]\nmax-clients = 15\nmax-clients-per-uid = 10\n");
	int mine[11];
	crowd(&b, mine, 11, 10, -EUSERS);   /* root: 10, then "too many from this user" */
	/* another user is not held back by root's crowd: 5 more fit in all */
	int ok = 5;
	ck_assert_int_eq(sec_as_user(65534, 65534, other_user_crowd, &b, &ok), 0);
	for (int i = 0; i < 10; i++)
		close(mine[i]);
	hb_assert_fds(&b, b.base_fds);   /* brokerd has seen them go: root may connect again */
	sec_end(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("load");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, one_byte_a_second);
	tcase_add_test(tc, never_reads_its_replies);
	tcase_add_test(tc, a_thousand_clients_at_once);
	tcase_add_test(tc, connection_limits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
