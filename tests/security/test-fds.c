/* SPDX-License-Identifier: MIT */
/* Hostile input, fd level: wrong counts, too many for the control buffer,
 * fds that are not sockets, sockets nobody may hold, dead peers.  Every fd
 * that brokerd does not keep is closed (proved from the other end where
 * there is one, and by brokerd's fd count). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "sec.h"
#include "wire.h"

#define NET_APP "com.example.net"

static uint8_t buf[4096];

static void begin(struct hb *b)
{
	sec_setup(b, NULL);
	sec_app_simple(b, SEC_GOOD_APP, 0, "localSocket");
	sec_app_simple(b, NET_APP, 0, "localSocket privateNetworkClientServer");
	hb_start(b);
	sec_good_client(b, SEC_GOOD_APP);
}

/* Encode a TRANSFER of id, then claim nfds_declared in the header. */
static size_t transfer_packet(uint32_t seq, const char *id, unsigned nfds_declared)
{
	struct bp_transfer t = { 0 };
	struct bp_field f[2] = { { id, (uint32_t)strlen(id) }, { NULL, 0 } };
	size_t n = sec_encode(buf, sizeof(buf), BP_TRANSFER, seq, &t, sizeof(t), f, 2, 1);
	struct bp_header h;
	memcpy(&h, buf, sizeof(h));
	h.nfds = (uint16_t)nfds_declared;
	memcpy(buf, &h, sizeof(h));
	return n;
}

/* Transfer fd as id; expect error err and return its text. */
static const char *transfer_refused(int c, uint32_t seq, const char *id, int fd, int err)
{
	size_t n = transfer_packet(seq, id, 1);
	sec_raw_send(c, buf, n, &fd, 1);
	return sec_expect_error(c, seq, err);
}

START_TEST(wrong_fd_counts)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);

	size_t n = transfer_packet(10, "x", 1);          /* says 1, sends none */
	sec_raw_send(c, buf, n, NULL, 0);
	sec_expect_error(c, 10, -ETOOMANYREFS);
	n = transfer_packet(11, "x", 0);                 /* says 0, sends 1 */
	sec_raw_send(c, buf, n, &sv[1], 1);
	sec_expect_error(c, 11, -ETOOMANYREFS);
	n = transfer_packet(12, "x", 2);                 /* says 2, sends 2 */
	int two[2] = { sv[1], sv[1] };
	sec_raw_send(c, buf, n, two, 2);
	sec_expect_error(c, 12, -ETOOMANYREFS);
	n = transfer_packet(13, "x", 1);                 /* says 1, sends 2 */
	sec_raw_send(c, buf, n, two, 2);
	sec_expect_error(c, 13, -ETOOMANYREFS);

	sec_expect_released(sv);
	close(c);
	sec_end(&b);
}
END_TEST

START_TEST(fds_with_verbs_that_take_none)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	struct bp_field f2[2] = { { "", 0 }, { "x", 1 } };
	struct bp_list l = { 0 };
	struct bp_hello h = { .version = BP_VERSION };
	const struct {
		unsigned type;
		const void *fixed;
		size_t fixed_size;
		unsigned nfields;
	} t[] = {
		{ BP_REGISTER, NULL, 0, 1 }, { BP_STATUS, NULL, 0, 0 }, { BP_LIST, &l, sizeof(l), 1 },
		{ BP_SHOW, NULL, 0, 2 }, { BP_CLAIM, NULL, 0, 1 }, { BP_APPS, NULL, 0, 0 },
		{ BP_MONITOR, NULL, 0, 0 }, { BP_HELLO, &h, sizeof(h), 1 }, { BP_TRIGGER, NULL, 0, 2 },
		{ BP_DROP, NULL, 0, 2 }, { BP_RELOAD, NULL, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		for (unsigned declared = 0; declared < 2; declared++) {
			uint32_t seq = 20 + 2 * (uint32_t)i + declared;
			size_t n = sec_encode(buf, sizeof(buf), t[i].type, seq, t[i].fixed, t[i].fixed_size,
					      f2, t[i].nfields, 0);
			struct bp_header hd;
			memcpy(&hd, buf, sizeof(hd));
			hd.nfds = (uint16_t)declared;
			memcpy(buf, &hd, sizeof(hd));
			sec_raw_send(c, buf, n, &sv[1], 1);
			sec_expect_error(c, seq, -ETOOMANYREFS);
		}
	sec_expect_released(sv);
	close(c);
	sec_end(&b);
}
END_TEST

START_TEST(more_fds_than_the_control_buffer)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	static const size_t counts[] = { 3, 16, 253 };   /* 253: SCM_MAX_FD */
	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		sec_pair(SOCK_STREAM, sv);
		int fds[253];
		for (size_t k = 0; k < counts[i]; k++)
			fds[k] = sv[1];
		size_t n = transfer_packet(30 + i, "x", 1);
		sec_raw_send(c, buf, n, fds, counts[i]);
		sec_expect_error(c, 30 + i, -ETOOMANYREFS);
		sec_expect_released(sv);
	}
	close(c);
	sec_end(&b);
}
END_TEST

START_TEST(fds_that_are_not_sockets)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/regular", b.dir);
	int pipefd[2];
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	struct {
		int fd;
		const char *kind;
	} t[] = {
		{ open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), "a regular file" },
		{ pipefd[1], "a pipe" },
		{ eventfd(0, EFD_CLOEXEC), "an anonymous file" },
		{ epoll_create1(EPOLL_CLOEXEC), "an anonymous file" },
		{ memfd_create("broker-test", MFD_CLOEXEC), "a regular file (or memfd)" },
		{ timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), "an anonymous file" },
		{ open("/dev/null", O_RDWR | O_CLOEXEC), "a character device" },
		{ open(b.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), "a directory" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_ge(t[i].fd, 0);
		const char *text = transfer_refused(c, 40 + i, "x", t[i].fd, -ENOTSOCK);
		ck_assert_msg(strstr(text, t[i].kind) && strstr(text, "not a socket"), "%zu: %s", i, text);
		close(t[i].fd);
	}
	/* brokerd's copy of the pipe's write end is gone too: the reader sees EOF */
	char ch;
	ck_assert_int_eq(read(pipefd[0], &ch, 1), 0);
	close(pipefd[0]);
	close(c);
	sec_end(&b);
}
END_TEST

START_TEST(sockets_nobody_may_hold)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	const char *text = transfer_refused(c, 50, "x", fd, -EAFNOSUPPORT);
	ck_assert_msg(strstr(text, "address family 16 (netlink)"), "%s", text);
	close(fd);
	if ((fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
		text = transfer_refused(c, 51, "x", fd, -EAFNOSUPPORT);
		ck_assert_msg(strstr(text, "(packet)"), "%s", text);
		close(fd);
	}
	if ((fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
		transfer_refused(c, 52, "x", fd, -EAFNOSUPPORT);
		close(fd);
	}
	if ((fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP)) >= 0) {
		text = transfer_refused(c, 53, "x", fd, -EPROTOTYPE);
		ck_assert_msg(strstr(text, "TCP and UDP sockets only"), "%s", text);
		close(fd);
	}
	/* AF_UNIX of a type brokerd does not hold: not creatable; a stream
	 * socket that is neither connected nor listening is refused. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	transfer_refused(c, 54, "x", fd, -ENOTCONN);
	close(fd);

	/* Capabilities: the good app has localSocket only. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	text = transfer_refused(c, 55, "x", fd, -EACCES);
	ck_assert_msg(strstr(text, "app " SEC_GOOD_APP ": missing capability internetClientServer "
				   "for an unconnected UDP socket on 0.0.0.0:0"), "%s", text);
	close(fd);
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&lo, sizeof(lo)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	text = transfer_refused(c, 56, "x", fd, -EACCES);
	ck_assert_msg(strstr(text, "missing capability privateNetworkClientServer for a TCP listener on 127.0.0.1:"),
		      "%s", text);
	close(c);

	/* ... and an app that has it may hand the same listener over. */
	c = sec_raw_registered(&b, NET_APP);
	size_t n = transfer_packet(57, "lo-listener", 1);
	sec_raw_send(c, buf, n, &fd, 1);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	close(fd);
	struct bp_field f[2] = { { NET_APP, sizeof(NET_APP) - 1 }, { "lo-listener", 11 } };
	sec_raw_msg(c, BP_DROP, 58, NULL, 0, f, 2, NULL, 0);
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	close(c);
	sec_end(&b);
}
END_TEST

/* SHOW app/id until it is triggered; its last reason. */
static int wait_triggered(int c, const char *app, const char *id)
{
	for (int i = 0; i < 500; i++) {
		struct bp_field f[2] = { { app, (uint32_t)strlen(app) }, { id, (uint32_t)strlen(id) } };
		sec_raw_msg(c, BP_SHOW, 60, NULL, 0, f, 2, NULL, 0);
		struct bp_msg m;
		ck_assert_int_eq(sec_raw_recv(c, &m), 1);
		ck_assert_uint_eq(m.type, BP_INFO);
		if (m.u.info.state != BROKER_STATE_WATCHING)
			return (int)m.u.info.last_reason;
		usleep(10000);
	}
	ck_abort_msg("%s/%s never triggered", app, id);
	return 0;
}

static void tcp_pair(int *ret_client, int *ret_server)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(lo);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&lo, sizeof(lo)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&lo, &len), 0);
	*ret_client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(*ret_client, (struct sockaddr *)&lo, sizeof(lo)), 0);
	*ret_server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*ret_server, 0);
	close(l);
}

START_TEST(peer_already_gone)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, NET_APP);
	struct bp_msg m;

	/* AF_UNIX stream whose peer closed: held, and at once socket-closed */
	int sv[2];
	sec_pair(SOCK_STREAM, sv);
	close(sv[0]);
	size_t n = transfer_packet(61, "unix-gone", 1);
	sec_raw_send(c, buf, n, &sv[1], 1);
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	close(sv[1]);
	ck_assert_int_eq(wait_triggered(c, NET_APP, "unix-gone"), BROKER_REASON_SOCKET_CLOSED);

	/* TCP whose peer sent FIN: connected still (CLOSE_WAIT), held, socket-closed */
	int cl, sv_tcp;
	tcp_pair(&cl, &sv_tcp);
	close(sv_tcp);
	n = transfer_packet(62, "tcp-fin", 1);
	sec_raw_send(c, buf, n, &cl, 1);
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	close(cl);
	ck_assert_int_eq(wait_triggered(c, NET_APP, "tcp-fin"), BROKER_REASON_SOCKET_CLOSED);

	/* TCP reset by its peer: no longer connected, refused */
	tcp_pair(&cl, &sv_tcp);
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	ck_assert_int_eq(setsockopt(sv_tcp, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(sv_tcp);   /* RST */
	char ch;
	ck_assert_int_eq(recv(cl, &ch, 1, 0), -1);   /* ECONNRESET: the reset has arrived */
	transfer_refused(c, 63, "tcp-rst", cl, -ENOTCONN);
	close(cl);

	/* the app takes back what it holds; brokerd lets go */
	static const char *const ids[] = { "unix-gone", "tcp-fin" };
	for (size_t i = 0; i < 2; i++) {
		struct bp_field f = { ids[i], (uint32_t)strlen(ids[i]) };
		sec_raw_msg(c, BP_CLAIM, 64 + i, NULL, 0, &f, 1, NULL, 0);
		ck_assert_int_eq(sec_raw_recv(c, &m), 1);
		ck_assert_uint_eq(m.type, BP_INFO);
		ck_assert_uint_eq(m.nfds, 1);
		bp_msg_close_fds(&m);
	}
	close(c);
	sec_end(&b);
}
END_TEST

/* ATTACH takes one end of an AF_UNIX SOCK_SEQPACKET pair and nothing
 * else: each wrong fd is closed, the app stays unattached, and a right
 * one attaches it. */
START_TEST(attach_with_a_wrong_fd)
{
	struct hb b;
	begin(&b);
	int c = sec_raw_registered(&b, SEC_GOOD_APP);
	int wrong[3][2];
	sec_pair(SOCK_STREAM, wrong[0]);
	hb_tcp_pair(&wrong[1][0], &wrong[1][1]);
	sec_pair(SOCK_DGRAM, wrong[2]);
	for (unsigned i = 0; i < 3; i++) {
		sec_raw_msg(c, BP_ATTACH, 30 + i, NULL, 0, NULL, 0, &wrong[i][1], 1);
		ck_assert_str_eq(sec_expect_error(c, 30 + i, -EPROTOTYPE),
				 "attach with one end of an AF_UNIX SOCK_SEQPACKET socket pair");
		close(wrong[i][1]);
		if (i < 2)   /* brokerd kept no copy (the datagram one: sec_end's fd count) */
			ck_assert(sec_peer_closed(wrong[i][0]));
		close(wrong[i][0]);
	}
	size_t n = sec_encode(buf, sizeof(buf), BP_ATTACH, 40, NULL, 0, NULL, 0, 1);
	sec_raw_send(c, buf, n, NULL, 0);   /* one fd declared, none sent */
	sec_expect_error(c, 40, -ETOOMANYREFS);
	broker_app **list;
	ck_assert_int_eq(hb_app_entry(&b, SEC_GOOD_APP, &list)->state, BROKER_APP_IDLE);
	broker_app_list_free(list);

	int sv[2];
	sec_pair(SOCK_SEQPACKET, sv);
	sec_raw_msg(c, BP_ATTACH, 41, NULL, 0, NULL, 0, &sv[1], 1);
	struct bp_msg m;
	ck_assert_int_eq(sec_raw_recv(c, &m), 1);
	ck_assert_uint_eq(m.type, BP_OK);
	close(sv[1]);
	ck_assert_int_eq(hb_app_entry(&b, SEC_GOOD_APP, &list)->state, BROKER_APP_ATTACHED);
	broker_app_list_free(list);
	close(sv[0]);   /* before its hello: a failed attachment, the app backs off */
	close(c);
	sec_end(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("fds");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, wrong_fd_counts);
	tcase_add_test(tc, fds_with_verbs_that_take_none);
	tcase_add_test(tc, more_fds_than_the_control_buffer);
	tcase_add_test(tc, fds_that_are_not_sockets);
	tcase_add_test(tc, sockets_nobody_may_hold);
	tcase_add_test(tc, peer_already_gone);
	tcase_add_test(tc, attach_with_a_wrong_fd);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
