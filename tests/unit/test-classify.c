/* SPDX-License-Identifier: MIT */
/* What a held socket is (sock_facts_get and sock_facts_kind, the one
 * classifier transfers use) and why it woke (trigger_classify),
 * on real sockets of every kind brokerd holds; and that classifying never
 * consumes a byte, a datagram or a pending connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "caps.h"
#include "core.h"
#include "trigger.h"
#include "testutil.h"
#include "util.h"

#define WAIT_MS 10000   /* upper bound for the kernel to deliver; never reached */

/* Poll until fd shows one of events; fail after WAIT_MS. */
static void wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;
	do
		r = poll(&p, 1, WAIT_MS);
	while (r < 0 && errno == EINTR);
	ck_assert_msg(r == 1 && (p.revents & (events | POLLERR | POLLHUP)), "fd %d never became ready", fd);
}

static void send_all(int fd, const void *data, size_t len)
{
	ck_assert_int_eq(send(fd, data, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Everything queued on fd now, without blocking; must be exactly want. */
static void expect_queued(int fd, const char *want, size_t len)
{
	char got[256];
	size_t have = 0;
	for (;;) {
		ssize_t n = recv(fd, got + have, sizeof(got) - have, MSG_DONTWAIT);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	ck_assert_uint_eq(have, len);
	ck_assert_mem_eq(got, want, len);
}

/* The kind of held socket fd is, or the error that refuses it. */
static int describe(int fd, int *ret_family, int *ret_sotype)
{
	struct sock_facts f;
	int r = sock_facts_get(fd, &f);
	if (r < 0)
		return r;
	*ret_family = f.family;
	*ret_sotype = f.sotype;
	return sock_facts_kind(&f);
}

static void expect_kind(int fd, int kind, int family, int sotype)
{
	int f = -1, t = -1;
	ck_assert_int_eq(describe(fd, &f, &t), kind);
	ck_assert_int_eq(f, family);
	ck_assert_int_eq(t, sotype);
}

/* fd is refused with err; sock_facts_get writes nothing when it fails. */
static void expect_refused(int fd, int err)
{
	struct sock_facts f;
	memset(&f, 0x77, sizeof(f));
	int r = sock_facts_get(fd, &f);
	if (r < 0) {
		ck_assert_int_eq(r, err);
		ck_assert_int_eq(f.family, 0x77777777);
		ck_assert_int_eq(f.sotype, 0x77777777);
		return;
	}
	ck_assert_int_eq(sock_facts_kind(&f), err);
}

/* A listener on the loopback address of family, port 0. */
static int loopback_listener(int family, int type)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len;
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		len = sizeof(struct sockaddr_in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (type == SOCK_STREAM && listen(fd, 8) < 0)) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int connect_to(int listener, int type)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&ss, &len), 0);
	int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&ss, len), 0);
	return fd;
}

/* A connected TCP pair over loopback: *held is brokerd's end. */
static bool tcp_pair(int family, int *held, int *peer)
{
	int l = loopback_listener(family, SOCK_STREAM);
	if (l < 0)
		return false;
	*peer = connect_to(l, SOCK_STREAM);
	*held = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*held, 0);
	close(l);
	return true;
}

START_TEST(tcp_stream_data)
{
	int held, peer;
	ck_assert(tcp_pair(AF_INET, &held, &peer));
	expect_kind(held, BROKER_KIND_STREAM, AF_INET, SOCK_STREAM);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_NONE);
	send_all(peer, "hello, world", 12);
	wait_for(held, POLLIN);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_SOCKET_ACTIVITY);
	expect_queued(held, "hello, world", 12);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_NONE);
	close(held);
	close(peer);
}
END_TEST

START_TEST(tcp_eof)
{
	int held, peer;
	ck_assert(tcp_pair(AF_INET, &held, &peer));
	ck_assert_int_eq(shutdown(peer, SHUT_WR), 0);
	wait_for(held, POLLIN);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_SOCKET_CLOSED);
	close(held);
	close(peer);

	/* data, then the peer closes: the data comes first, and stays */
	ck_assert(tcp_pair(AF_INET, &held, &peer));
	send_all(peer, "last words", 10);
	close(peer);
	wait_for(held, POLLRDHUP);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_SOCKET_ACTIVITY);
	expect_queued(held, "last words", 10);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_SOCKET_CLOSED);
	close(held);
}
END_TEST

START_TEST(tcp_reset)
{
	int held, peer;
	ck_assert(tcp_pair(AF_INET, &held, &peer));
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	ck_assert_int_eq(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(peer);   /* RST, not FIN */
	wait_for(held, POLLIN | POLLERR);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_SOCKET_CLOSED);
	close(held);
}
END_TEST

START_TEST(tcp_listener)
{
	int l = loopback_listener(AF_INET, SOCK_STREAM);
	ck_assert_int_ge(l, 0);
	expect_kind(l, BROKER_KIND_LISTENER, AF_INET, SOCK_STREAM);
	int c = connect_to(l, SOCK_STREAM);
	wait_for(l, POLLIN);
	ck_assert_int_eq(trigger_classify(l, BROKER_KIND_LISTENER), BROKER_REASON_CONNECTION_ACCEPTED);
	/* the pending connection is still there to accept, with its bytes */
	send_all(c, "hi", 2);
	int a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	ck_assert_int_ge(a, 0);
	wait_for(a, POLLIN);
	expect_queued(a, "hi", 2);
	close(a);
	close(c);
	close(l);
}
END_TEST

START_TEST(tcp6_stream)
{
	int held, peer;
	if (!tcp_pair(AF_INET6, &held, &peer))
		return;   /* no IPv6 loopback on this machine */
	expect_kind(held, BROKER_KIND_STREAM, AF_INET6, SOCK_STREAM);
	send_all(peer, "six", 3);
	wait_for(held, POLLIN);
	ck_assert_int_eq(trigger_classify(held, BROKER_KIND_STREAM), BROKER_REASON_SOCKET_ACTIVITY);
	expect_queued(held, "six", 3);
	char text[128];
	ck_assert_int_eq(sockaddr_text(held, false, text, sizeof(text)), 0);
	ck_assert_int_eq(strncmp(text, "[::1]:", 6), 0);
	close(held);
	close(peer);
}
END_TEST

START_TEST(udp)
{
	int u = loopback_listener(AF_INET, SOCK_DGRAM);
	ck_assert_int_ge(u, 0);
	expect_kind(u, BROKER_KIND_DATAGRAM, AF_INET, SOCK_DGRAM);   /* unconnected is fine */
	ck_assert_int_eq(trigger_classify(u, BROKER_KIND_DATAGRAM), BROKER_REASON_NONE);
	int c = connect_to(u, SOCK_DGRAM);
	send_all(c, "one", 3);
	send_all(c, "two!", 4);
	wait_for(u, POLLIN);
	ck_assert_int_eq(trigger_classify(u, BROKER_KIND_DATAGRAM), BROKER_REASON_SOCKET_ACTIVITY);
	char got[16];
	ck_assert_int_eq(recv(u, got, sizeof(got), MSG_DONTWAIT), 3);   /* whole, and in order */
	ck_assert_mem_eq(got, "one", 3);
	ck_assert_int_eq(recv(u, got, sizeof(got), MSG_DONTWAIT), 4);
	ck_assert_mem_eq(got, "two!", 4);

	/* an empty datagram is activity too, and is still there afterwards */
	send_all(c, "", 0);
	wait_for(u, POLLIN);
	ck_assert_int_eq(trigger_classify(u, BROKER_KIND_DATAGRAM), BROKER_REASON_SOCKET_ACTIVITY);
	ck_assert_int_eq(recv(u, got, sizeof(got), MSG_DONTWAIT), 0);
	ck_assert_int_eq(recv(u, got, sizeof(got), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(c);
	close(u);
}
END_TEST

START_TEST(udp_refused)
{
	/* a connected UDP socket whose peer port has nobody: ICMP port unreachable */
	int gone = loopback_listener(AF_INET, SOCK_DGRAM);
	ck_assert_int_ge(gone, 0);
	int u = connect_to(gone, SOCK_DGRAM);
	close(gone);
	send_all(u, "anyone?", 7);
	wait_for(u, POLLERR);
	ck_assert_int_eq(trigger_classify(u, BROKER_KIND_DATAGRAM), BROKER_REASON_SOCKET_CLOSED);
	close(u);
}
END_TEST

START_TEST(unix_stream)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	expect_kind(sv[0], BROKER_KIND_STREAM, AF_UNIX, SOCK_STREAM);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_NONE);
	send_all(sv[1], "abc", 3);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_SOCKET_ACTIVITY);
	expect_queued(sv[0], "abc", 3);
	close(sv[1]);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_SOCKET_CLOSED);
	close(sv[0]);
}
END_TEST

START_TEST(unix_seqpacket)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	expect_kind(sv[0], BROKER_KIND_STREAM, AF_UNIX, SOCK_SEQPACKET);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_NONE);
	send_all(sv[1], "record", 6);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_SOCKET_ACTIVITY);
	char got[16];
	ck_assert_int_eq(recv(sv[0], got, sizeof(got), MSG_DONTWAIT), 6);
	ck_assert_mem_eq(got, "record", 6);

	/* an empty record is a message, not the end of the connection */
	send_all(sv[1], "", 0);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_SOCKET_ACTIVITY);
	ck_assert_int_eq(recv(sv[0], got, sizeof(got), MSG_DONTWAIT), 0);   /* still there */
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_NONE);

	close(sv[1]);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_STREAM), BROKER_REASON_SOCKET_CLOSED);
	close(sv[0]);
}
END_TEST

START_TEST(unix_datagram)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	expect_kind(sv[0], BROKER_KIND_DATAGRAM, AF_UNIX, SOCK_DGRAM);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_DATAGRAM), BROKER_REASON_NONE);
	send_all(sv[1], "dgram", 5);
	send_all(sv[1], "", 0);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_DATAGRAM), BROKER_REASON_SOCKET_ACTIVITY);
	char got[16];
	ck_assert_int_eq(recv(sv[0], got, sizeof(got), MSG_DONTWAIT), 5);
	ck_assert_mem_eq(got, "dgram", 5);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_DATAGRAM), BROKER_REASON_SOCKET_ACTIVITY);
	ck_assert_int_eq(recv(sv[0], got, sizeof(got), MSG_DONTWAIT), 0);
	/* A datagram peer that goes away leaves no sign to read: the kernel
	 * reports nothing until this end sends (ECONNREFUSED then). */
	close(sv[1]);
	ck_assert_int_eq(trigger_classify(sv[0], BROKER_KIND_DATAGRAM), BROKER_REASON_NONE);
	close(sv[0]);
}
END_TEST

START_TEST(unix_listeners)
{
	char *dir = make_temp_dir();
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/l%zu", dir, i);
		int l = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
		/* bound, not yet listening: neither connected nor listening */
		expect_refused(l, -ENOTCONN);
		ck_assert_int_eq(listen(l, 4), 0);
		expect_kind(l, BROKER_KIND_LISTENER, AF_UNIX, types[i]);
		int c = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);
		ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(trigger_classify(l, BROKER_KIND_LISTENER), BROKER_REASON_CONNECTION_ACCEPTED);
		int a = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		ck_assert_int_ge(a, 0);   /* not consumed */
		char text[128];
		ck_assert_int_eq(sockaddr_text(l, false, text, sizeof(text)), 0);
		ck_assert_str_eq(text, sa.sun_path);
		ck_assert_int_eq(sockaddr_text(c, true, text, sizeof(text)), 0);
		ck_assert_str_eq(text, sa.sun_path);
		ck_assert_int_eq(sockaddr_text(c, false, text, sizeof(text)), 0);
		ck_assert_str_eq(text, "");   /* unnamed */
		close(a);
		close(c);
		close(l);
	}
	remove_tree(dir);
}
END_TEST

START_TEST(unconnected_streams)
{
	static const struct { int family, type; } v[] = {
		{ AF_INET, SOCK_STREAM }, { AF_UNIX, SOCK_STREAM }, { AF_UNIX, SOCK_SEQPACKET },
	};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		int fd = socket(v[i].family, v[i].type | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fd, 0);
		expect_refused(fd, -ENOTCONN);
		close(fd);
	}
	/* bound to a port, never listening or connected */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	expect_refused(fd, -ENOTCONN);
	close(fd);
}
END_TEST

START_TEST(refused_families_and_types)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ck_assert_int_ge(fd, 0);
	expect_refused(fd, -EAFNOSUPPORT);
	close(fd);
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
	ck_assert_int_ge(fd, 0);
	expect_refused(fd, -EAFNOSUPPORT);
	close(fd);
	/* these need CAP_NET_RAW: tried where the test may create them */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		expect_refused(fd, -EAFNOSUPPORT);
		close(fd);
	}
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (fd >= 0) {
		expect_refused(fd, -EPROTOTYPE);
		close(fd);
	}
	fd = socket(AF_UNIX, SOCK_RAW | SOCK_CLOEXEC, 0);   /* the kernel maps it to SOCK_DGRAM */
	if (fd >= 0) {
		int f, t;
		ck_assert_int_eq(describe(fd, &f, &t), BROKER_KIND_DATAGRAM);
		ck_assert_int_eq(t, SOCK_DGRAM);
		close(fd);
	}
}
END_TEST

START_TEST(not_sockets)
{
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	expect_refused(p[0], -ENOTSOCK);
	int e = eventfd(0, EFD_CLOEXEC);
	expect_refused(e, -ENOTSOCK);
	int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
	expect_refused(f, -ENOTSOCK);
	close(p[0]);
	close(p[1]);
	close(e);
	close(f);
	expect_refused(p[0], -EBADF);   /* closed */
	expect_refused(-1, -EBADF);
}
END_TEST

START_TEST(address_text)
{
	int held, peer;
	ck_assert(tcp_pair(AF_INET, &held, &peer));
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	ck_assert_int_eq(getsockname(peer, (struct sockaddr *)&sin, &len), 0);
	char text[64], want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%u", ntohs(sin.sin_port));
	ck_assert_int_eq(sockaddr_text(held, true, text, sizeof(text)), 0);
	ck_assert_str_eq(text, want);
	close(peer);
	close(held);

	/* abstract AF_UNIX names get an '@' */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, "\0broker-test-abstract", 22);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, offsetof(struct sockaddr_un, sun_path) + 22), 0);
	ck_assert_int_eq(sockaddr_text(fd, false, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "@broker-test-abstract");
	/* no peer: an error, and an empty text */
	ck_assert_int_eq(sockaddr_text(fd, true, text, sizeof(text)), -ENOTCONN);
	ck_assert_str_eq(text, "");
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("classify");
	TCase *tc = tcase_create("inet");
	tcase_add_test(tc, tcp_stream_data);
	tcase_add_test(tc, tcp_eof);
	tcase_add_test(tc, tcp_reset);
	tcase_add_test(tc, tcp_listener);
	tcase_add_test(tc, tcp6_stream);
	tcase_add_test(tc, udp);
	tcase_add_test(tc, udp_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("unix");
	tcase_add_test(tc, unix_stream);
	tcase_add_test(tc, unix_seqpacket);
	tcase_add_test(tc, unix_datagram);
	tcase_add_test(tc, unix_listeners);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_test(tc, unconnected_streams);
	tcase_add_test(tc, refused_families_and_types);
	tcase_add_test(tc, not_sockets);
	tcase_add_test(tc, address_text);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(suite());
}
