/* SPDX-License-Identifier: MIT */
/* Harness: loopback sockets for the peers of held sockets, and a network
 * namespace with public addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/ipv6.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static struct sockaddr_in loopback(uint16_t port)
{
	return (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
}

uint16_t hb_local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

int hb_tcp_listener(uint16_t *ret_port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = loopback(0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	if (ret_port)
		*ret_port = hb_local_port(fd);
	return fd;
}

int hb_tcp_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = loopback(port);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect to port %u: %s",
		      port, strerror(errno));
	return fd;
}

void hb_tcp_pair(int *ret_a, int *ret_b)
{
	uint16_t port;
	int l = hb_tcp_listener(&port);
	*ret_a = hb_tcp_connect(port);
	*ret_b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(*ret_b, 0);
	close(l);
}

void hb_udp_pair(int *ret_held, int *ret_peer)
{
	int held = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int peer = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert(held >= 0 && peer >= 0);
	struct sockaddr_in sa = loopback(0);
	ck_assert_int_eq(bind(held, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(bind(peer, (struct sockaddr *)&sa, sizeof(sa)), 0);
	sa = loopback(hb_local_port(held));
	ck_assert_int_eq(connect(peer, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*ret_held = held;
	*ret_peer = peer;
}

void hb_unix_pair(int type, int *ret_a, int *ret_b)
{
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	*ret_a = sv[0];
	*ret_b = sv[1];
}

static struct sockaddr_un unix_addr(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	return sa;
}

int hb_unix_listener(int type, const char *path)
{
	struct sockaddr_un sa = unix_addr(path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

int hb_unix_connect(int type, const char *path)
{
	struct sockaddr_un sa = unix_addr(path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s", path,
		      strerror(errno));
	return fd;
}

void hb_send(int fd, const void *data, size_t len)
{
	ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
	ck_assert_msg(n == (ssize_t)len, "send of %zu bytes: %zd (%s)", len, n, n < 0 ? strerror(errno) : "short");
}

bool hb_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t end = hb_now_ms() + (uint64_t)ms;
	for (;;) {
		uint64_t now = hb_now_ms();
		int r = poll(&p, 1, now < end ? (int)(end - now) : 0);
		if (r > 0)
			return true;
		if (r == 0 || errno != EINTR)
			return false;
	}
}

bool hb_recv_exact(int fd, void *buf, size_t len, int ms)
{
	uint64_t end = hb_now_ms() + (uint64_t)ms;
	size_t got = 0;
	while (got < len) {
		uint64_t now = hb_now_ms();
		if (!hb_readable(fd, now < end ? (int)(end - now) : 0))
			return false;
		ssize_t n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

ssize_t hb_recv_record(int fd, void *buf, size_t cap, int ms)
{
	if (!hb_readable(fd, ms))
		return -1;
	ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
	return n < 0 ? -1 : n;
}

bool hb_recv_is(int fd, const void *want, size_t len)
{
	char buf[4096];
	int type = 0;
	socklen_t tl = sizeof(type);
	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
	if (type == SOCK_STREAM)
		return hb_recv_exact(fd, buf, len, HB_WAIT_MS) && memcmp(buf, want, len) == 0;
	return hb_recv_record(fd, buf, sizeof(buf), HB_WAIT_MS) == (ssize_t)len && memcmp(buf, want, len) == 0;
}

uint64_t hb_http_get(uint16_t port, char *body, size_t size)
{
	uint64_t t0 = hb_now_ms();
	int fd = hb_tcp_connect(port);
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	hb_send(fd, req, sizeof(req) - 1);
	char buf[2048];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(buf) - 1 && hb_readable(fd, 20000) && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = 0;
	close(fd);
	const char *p = strstr(buf, "\r\n\r\n");
	ck_assert_msg(strncmp(buf, "HTTP/1.", 7) == 0 && strncmp(buf + 8, " 200 OK", 7) == 0 && p,
		      "answered: '%s'", buf);
	snprintf(body, size, "%s", p + 4);
	return hb_now_ms() - t0;
}

bool hb_eof(int fd, int ms)
{
	if (!hb_readable(fd, ms))
		return false;
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

void hb_public_netns(void)
{
	ck_assert_int_eq(unshare(CLONE_NEWNET), 0);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo:1");
	struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
	in->sin_family = AF_INET;
	inet_pton(AF_INET, "203.0.113.7", &in->sin_addr);
	ck_assert_int_eq(ioctl(s, SIOCSIFADDR, &ifr), 0);
	close(s);

	s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct in6_ifreq r6 = { .ifr6_prefixlen = 128, .ifr6_ifindex = (int)if_nametoindex("lo") };
	inet_pton(AF_INET6, "2001:db8::7", &r6.ifr6_addr);
	ck_assert_int_eq(ioctl(s, SIOCSIFADDR, &r6), 0);
	close(s);

	/* The kernel makes a new IPv6 address usable a moment later: wait for it. */
	struct sockaddr_in6 ss = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET6, "2001:db8::7", &ss.sin6_addr);
	int r = -1;
	for (int i = 0; i < 400 && r < 0; i++) {
		s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = bind(s, (struct sockaddr *)&ss, sizeof(ss));
		close(s);
		if (r < 0)
			usleep(5000);
	}
	ck_assert_int_eq(r, 0);
}

void hb_raise_nofile(unsigned at_least)
{
	struct rlimit rl;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_uint_ge(rl.rlim_cur, at_least);
}
