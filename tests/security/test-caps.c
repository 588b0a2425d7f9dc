/* SPDX-License-Identifier: MIT */
/* Capabilities, decided from real sockets: loopback and AF_UNIX here, and
 * public addresses on lo inside a private network namespace. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "caps.h"
#include "sec.h"
#include "manifest.h"

#define ALL_CAPS (CAP_INTERNET_CLIENT | CAP_INTERNET_CLIENT_SERVER | CAP_PRIVATE_NETWORK | CAP_LOCAL)

static int need(int fd)
{
	struct sock_facts f;
	int r = sock_facts_get(fd, &f);
	return r < 0 ? r : caps_required(&f, NULL, 0);
}

static struct sockaddr_storage addr(const char *ip, unsigned port, socklen_t *ret_len)
{
	struct sockaddr_storage ss = { 0 };
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
		*ret_len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
		*ret_len = sizeof(*in);
	}
	return ss;
}

/* A socket of family/type bound to ip:0 (NULL: not bound). */
static int bound(int family, int type, const char *ip)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (ip) {
		socklen_t len;
		struct sockaddr_storage ss = addr(ip, 0, &len);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
	}
	return fd;
}

static int listener(int family, const char *ip)
{
	int fd = bound(family, SOCK_STREAM, ip);
	ck_assert_int_eq(listen(fd, 8), 0);
	return fd;
}

/* Connect a new socket of family to where lfd listens, reached at ip. */
static int connect_to(int family, int lfd, const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
	unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	struct sockaddr_storage to = addr(ip, port, &len);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, len), 0);
	return fd;
}

static int scope_of(const char *ip)
{
	socklen_t len;
	struct sockaddr_storage ss = addr(ip, 0, &len);
	return addr_scope((struct sockaddr *)&ss);
}

START_TEST(address_scopes)
{
	static const struct {
		const char *ip;
		int scope;
	} t[] = {
		{ "0.0.0.0", SCOPE_WILDCARD }, { "::", SCOPE_WILDCARD },
		{ "10.1.2.3", SCOPE_PRIVATE }, { "172.16.0.1", SCOPE_PRIVATE }, { "172.31.255.255", SCOPE_PRIVATE },
		{ "172.32.0.1", SCOPE_PUBLIC }, { "172.15.255.255", SCOPE_PUBLIC },
		{ "192.168.1.1", SCOPE_PRIVATE }, { "192.169.0.1", SCOPE_PUBLIC },
		{ "127.0.0.1", SCOPE_PRIVATE }, { "127.255.0.9", SCOPE_PRIVATE },
		{ "169.254.9.9", SCOPE_PRIVATE }, { "100.64.0.1", SCOPE_PRIVATE }, { "100.128.0.1", SCOPE_PUBLIC },
		{ "224.0.0.251", SCOPE_PRIVATE }, { "239.1.2.3", SCOPE_PRIVATE }, { "224.0.1.1", SCOPE_PUBLIC },
		{ "255.255.255.255", SCOPE_PRIVATE },
		{ "8.8.8.8", SCOPE_PUBLIC }, { "203.0.113.7", SCOPE_PUBLIC }, { "11.0.0.1", SCOPE_PUBLIC },
		{ "::1", SCOPE_PRIVATE }, { "fe80::1", SCOPE_PRIVATE }, { "febf::1", SCOPE_PRIVATE },
		{ "fec0::1", SCOPE_PRIVATE }, { "fc00::1", SCOPE_PRIVATE }, { "fdff::1", SCOPE_PRIVATE },
		{ "fe00::1", SCOPE_PUBLIC }, { "2001:db8::1", SCOPE_PUBLIC }, { "2a00:1450::1", SCOPE_PUBLIC },
		{ "ff02::1", SCOPE_PRIVATE }, { "ff05::2", SCOPE_PRIVATE }, { "ff0e::1", SCOPE_PUBLIC },
		/* IPv4-mapped: as the IPv4 address */
		{ "::ffff:10.0.0.1", SCOPE_PRIVATE }, { "::ffff:127.0.0.1", SCOPE_PRIVATE },
		{ "::ffff:8.8.8.8", SCOPE_PUBLIC }, { "::ffff:0.0.0.0", SCOPE_WILDCARD },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(scope_of(t[i].ip) == t[i].scope, "%s: scope %d, want %d", t[i].ip,
			      scope_of(t[i].ip), t[i].scope);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	ck_assert_int_eq(addr_scope((struct sockaddr *)&un), -EAFNOSUPPORT);
}
END_TEST

START_TEST(cover_matrix)
{
	ck_assert(caps_cover(CAP_INTERNET_CLIENT, CAP_INTERNET_CLIENT));
	ck_assert(caps_cover(CAP_INTERNET_CLIENT_SERVER, CAP_INTERNET_CLIENT));
	ck_assert(!caps_cover(CAP_INTERNET_CLIENT, CAP_INTERNET_CLIENT_SERVER));
	ck_assert(!caps_cover(CAP_INTERNET_CLIENT_SERVER, CAP_PRIVATE_NETWORK));
	ck_assert(!caps_cover(CAP_PRIVATE_NETWORK, CAP_INTERNET_CLIENT));
	ck_assert(!caps_cover(CAP_PRIVATE_NETWORK | CAP_INTERNET_CLIENT_SERVER, CAP_LOCAL));
	ck_assert(caps_cover(CAP_LOCAL, CAP_LOCAL));
	ck_assert(!caps_cover(0, CAP_LOCAL));
	ck_assert(!caps_cover(0, CAP_INTERNET_CLIENT));
}
END_TEST

START_TEST(unix_sockets)
{
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM };
	for (size_t i = 0; i < 3; i++) {
		int sv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, types[i] | SOCK_CLOEXEC, 0, sv), 0);
		ck_assert_int_eq(need(sv[0]), CAP_LOCAL);
		close(sv[0]);
		close(sv[1]);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(need(fd), -ENOTCONN);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "broker-test-caps-%d", (int)getpid());
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(need(fd), CAP_LOCAL);
	close(fd);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);   /* unconnected, unbound */
	ck_assert_int_eq(need(fd), CAP_LOCAL);

	char why[256] = "";
	ck_assert_int_eq(caps_check(fd, CAP_INTERNET_CLIENT_SERVER | CAP_PRIVATE_NETWORK, why, sizeof(why)), -EACCES);
	ck_assert_str_eq(why, "missing capability localSocket for an AF_UNIX socket");
	ck_assert_int_eq(caps_check(fd, CAP_LOCAL, why, sizeof(why)), 0);
	close(fd);
}
END_TEST

START_TEST(loopback_is_private)
{
	int l4 = listener(AF_INET, "127.0.0.1");
	ck_assert_int_eq(need(l4), CAP_PRIVATE_NETWORK);
	int c4 = connect_to(AF_INET, l4, "127.0.0.1");
	int a4 = accept4(l4, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_eq(need(c4), CAP_PRIVATE_NETWORK);
	ck_assert_int_eq(need(a4), CAP_PRIVATE_NETWORK);

	int l6 = listener(AF_INET6, "::1");
	ck_assert_int_eq(need(l6), CAP_PRIVATE_NETWORK);
	int c6 = connect_to(AF_INET6, l6, "::1");
	ck_assert_int_eq(need(c6), CAP_PRIVATE_NETWORK);

	/* IPv4-mapped: an AF_INET6 socket talking to 127.0.0.1 */
	int cm = connect_to(AF_INET6, l4, "::ffff:127.0.0.1");
	ck_assert_int_eq(need(cm), CAP_PRIVATE_NETWORK);

	char why[256];
	ck_assert_int_eq(caps_check(c4, CAP_INTERNET_CLIENT_SERVER, why, sizeof(why)), -EACCES);
	ck_assert_msg(strstr(why, "privateNetworkClientServer") && strstr(why, "127.0.0.1"), "%s", why);
	ck_assert_int_eq(caps_check(c4, CAP_PRIVATE_NETWORK, why, sizeof(why)), 0);
	int fds[] = { l4, c4, a4, l6, c6, cm };
	for (size_t i = 0; i < 6; i++)
		close(fds[i]);
}
END_TEST

START_TEST(wildcard_and_udp)
{
	int l4 = listener(AF_INET, "0.0.0.0");
	int l6 = listener(AF_INET6, "::");
	ck_assert_int_eq(need(l4), CAP_INTERNET_CLIENT_SERVER);
	ck_assert_int_eq(need(l6), CAP_INTERNET_CLIENT_SERVER);
	char why[256];
	ck_assert_int_eq(caps_check(l4, CAP_PRIVATE_NETWORK | CAP_INTERNET_CLIENT, why, sizeof(why)), -EACCES);
	ck_assert_msg(strstr(why, "missing capability internetClientServer for a TCP listener on 0.0.0.0:"), "%s", why);

	int u_unbound = bound(AF_INET, SOCK_DGRAM, NULL);
	int u_any = bound(AF_INET6, SOCK_DGRAM, "::");
	int u_lo = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
	ck_assert_int_eq(need(u_unbound), CAP_INTERNET_CLIENT_SERVER);
	ck_assert_int_eq(need(u_any), CAP_INTERNET_CLIENT_SERVER);
	ck_assert_int_eq(need(u_lo), CAP_PRIVATE_NETWORK);

	/* A connected datagram socket is classified by its peer, even when bound to the wildcard. */
	socklen_t len;
	struct sockaddr_storage to = addr("::1", 9, &len);
	ck_assert_int_eq(connect(u_any, (struct sockaddr *)&to, len), 0);
	ck_assert_int_eq(need(u_any), CAP_PRIVATE_NETWORK);

	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(need(tcp), -ENOTCONN);
	int fds[] = { l4, l6, u_unbound, u_any, u_lo, tcp };
	for (size_t i = 0; i < 6; i++)
		close(fds[i]);
}
END_TEST

START_TEST(refused_families_and_types)
{
	char why[256];
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(nl, 0);
	ck_assert_int_eq(caps_check(nl, ALL_CAPS, why, sizeof(why)), -EAFNOSUPPORT);
	ck_assert_msg(strstr(why, "address family 16 (netlink)"), "%s", why);
	close(nl);

	int pk = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);   /* needs CAP_NET_RAW */
	if (pk >= 0) {
		ck_assert_int_eq(caps_check(pk, ALL_CAPS, why, sizeof(why)), -EAFNOSUPPORT);
		close(pk);
	}
	int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP);
	if (raw >= 0) {
		ck_assert_int_eq(caps_check(raw, ALL_CAPS, why, sizeof(why)), -EPROTOTYPE);
		close(raw);
	}
	int sctp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP);
	if (sctp >= 0) {
		ck_assert_int_eq(need(sctp), -EPROTOTYPE);
		close(sctp);
	}
	int ping = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (ping >= 0) {
		ck_assert_int_eq(need(ping), -EPROTOTYPE);
		close(ping);
	}
	/* MPTCP behaves as TCP */
	int mp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
	if (mp >= 0) {
		socklen_t len;
		struct sockaddr_storage ss = addr("127.0.0.1", 0, &len);
		ck_assert_int_eq(bind(mp, (struct sockaddr *)&ss, len), 0);
		ck_assert_int_eq(listen(mp, 1), 0);
		ck_assert_int_eq(need(mp), CAP_PRIVATE_NETWORK);
		close(mp);
	}
	int pipefd[2];
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	ck_assert_int_eq(caps_check(pipefd[0], ALL_CAPS, why, sizeof(why)), -ENOTSOCK);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

START_TEST(public_addresses)
{
	hb_public_netns();
	static const struct {
		int family;
		const char *ip, *reach;
	} t[] = {
		{ AF_INET, "203.0.113.7", "203.0.113.7" },
		{ AF_INET6, "2001:db8::7", "2001:db8::7" },
		{ AF_INET6, "::", "::ffff:203.0.113.7" },   /* mapped, on a dual-stack listener */
	};
	for (size_t i = 0; i < 3; i++) {
		int l = listener(t[i].family, t[i].ip);
		ck_assert_int_eq(need(l), CAP_INTERNET_CLIENT_SERVER);
		int out = connect_to(t[i].family, l, t[i].reach);
		int in = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		ck_assert_int_ge(in, 0);
		ck_assert_msg(need(out) == CAP_INTERNET_CLIENT, "%s outbound", t[i].reach);
		ck_assert_msg(need(in) == CAP_INTERNET_CLIENT_SERVER, "%s inbound", t[i].reach);

		char why[256];
		ck_assert_int_eq(caps_check(out, CAP_INTERNET_CLIENT, why, sizeof(why)), 0);
		ck_assert_int_eq(caps_check(out, CAP_INTERNET_CLIENT_SERVER, why, sizeof(why)), 0);
		ck_assert_int_eq(caps_check(out, CAP_PRIVATE_NETWORK, why, sizeof(why)), -EACCES);
		ck_assert_msg(strstr(why, "missing capability internetClient for a TCP connection to "), "%s", why);
		ck_assert_int_eq(caps_check(in, CAP_INTERNET_CLIENT, why, sizeof(why)), -EACCES);
		ck_assert_msg(strstr(why, "missing capability internetClientServer for a TCP connection accepted from"),
			      "%s", why);
		ck_assert_int_eq(caps_check(in, CAP_INTERNET_CLIENT_SERVER, why, sizeof(why)), 0);
		close(l);
		close(out);
		close(in);
	}

	/* UDP bound to a public address receives from the internet. */
	int u = bound(AF_INET, SOCK_DGRAM, "203.0.113.7");
	ck_assert_int_eq(need(u), CAP_INTERNET_CLIENT_SERVER);
	socklen_t len;
	struct sockaddr_storage to = addr("203.0.113.7", 9, &len);
	ck_assert_int_eq(connect(u, (struct sockaddr *)&to, len), 0);
	ck_assert_int_eq(need(u), CAP_INTERNET_CLIENT);
	close(u);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("caps");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, address_scopes);
	tcase_add_test(tc, cover_matrix);
	tcase_add_test(tc, unix_sockets);
	tcase_add_test(tc, loopback_is_private);
	tcase_add_test(tc, wildcard_and_udp);
	tcase_add_test(tc, refused_families_and_types);
	tcase_add_test(tc, public_addresses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return hb_run_suite(suite());
}
