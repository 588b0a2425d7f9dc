/* SPDX-License-Identifier: MIT */
/* Loopback TCP for broker-bench: listeners, pairs, the app's answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

int tcp_listener(uint16_t *ret_port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("tcp listener: %m");
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

void tcp_pair(int listener, uint16_t port, int *client, int *server)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect to 127.0.0.1:%u: %m", port);
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		die("accept: %m");
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*client = c;
	*server = s;
}

int tcp_connect(uint16_t port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0)
		die("socket: %m");
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c);
		return -1;
	}
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return c;
}

void expect_answer(int c, const char *who)
{
	char ch;
	if (!wait_readable(c, 20000) || read(c, &ch, 1) != 1 || ch != 'A')
		die("%s: no answer from the app", who);
}

void expect_close(int c, const char *who)
{
	char ch;
	if (!wait_readable(c, 20000) || read(c, &ch, 1) != 0)
		die("%s: the app did not close the connection", who);
	close(c);
}

uint16_t free_port(void)
{
	uint16_t port;
	int fd = tcp_listener(&port);
	close(fd);
	return port;
}

bool wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return true;
		if (r == 0)
			return false;
		if (errno != EINTR)
			die("poll: %m");
	}
}
