/* SPDX-License-Identifier: MIT */
/* Addresses for brokerctl listen: tcp:HOST:PORT, udp:HOST:PORT (IPv6 in
 * brackets), unix:/path, seqpacket:/path, unixgram:/path (@name: abstract). */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "addr.h"
#include "util.h"

static const struct {
	const char *scheme;
	int family, type;
} schemes[] = {
	{ "tcp", AF_UNSPEC, SOCK_STREAM },
	{ "udp", AF_UNSPEC, SOCK_DGRAM },
	{ "unix", AF_UNIX, SOCK_STREAM },
	{ "seqpacket", AF_UNIX, SOCK_SEQPACKET },
	{ "unixgram", AF_UNIX, SOCK_DGRAM },
};

static int parse_unix(const char *path, struct listen_addr *a)
{
	size_t n = strlen(path);
	a->un.sun_family = AF_UNIX;
	if (n == 0 || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	if (n >= sizeof(a->un.sun_path))
		return -ENAMETOOLONG;
	memcpy(a->un.sun_path, path, n);
	if (path[0] == '@') {
		a->un.sun_path[0] = 0;   /* abstract: no NUL at the end */
		a->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		a->un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* PORT is a number from 0 to 65535, or a service name ([A-Za-z][A-Za-z0-9-]*,
 * as in /etc/services).  getaddrinfo() itself would take 99999 and bind
 * port 34463. */
static int check_port(const char *p)
{
	size_t n = strlen(p);
	if (p[0] >= '0' && p[0] <= '9') {
		if (strspn(p, "0123456789") != n)
			return -EINVAL;
		return n > 5 || strtoul(p, NULL, 10) > 65535 ? -ERANGE : 0;
	}
	if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z')))
		return -EINVAL;
	return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n ? 0 : -EINVAL;
}

static int parse_inet(const char *rest, struct listen_addr *a)
{
	const char *colon;
	size_t hlen;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		rest++;
		hlen = (size_t)(close - rest);
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (!colon || memchr(rest, ':', (size_t)(colon - rest)))
			return -EINVAL;   /* IPv6 needs brackets */
		hlen = (size_t)(colon - rest);
	}
	if (hlen >= sizeof(a->host) || strlen(colon + 1) >= sizeof(a->port) || !colon[1])
		return strspn(colon + 1, "0123456789") == strlen(colon + 1) && colon[1] ? -ERANGE : -EINVAL;
	int r = check_port(colon + 1);
	if (r < 0)
		return r;
	memcpy(a->host, rest, hlen);
	a->host[hlen] = 0;
	snprintf(a->port, sizeof(a->port), "%s", colon + 1);
	return 0;
}

int addr_parse(const char *text, struct listen_addr *ret)
{
	const char *colon = strchr(text, ':');
	if (!colon)
		return -EINVAL;
	struct listen_addr a = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
		if (strlen(schemes[i].scheme) != (size_t)(colon - text) ||
		    strncmp(text, schemes[i].scheme, (size_t)(colon - text)) != 0)
			continue;
		a.scheme = schemes[i].scheme;
		a.family = schemes[i].family;
		a.type = schemes[i].type;
		int r = a.family == AF_UNIX ? parse_unix(colon + 1, &a) : parse_inet(colon + 1, &a);
		if (r < 0)
			return r;
		*ret = a;
		return 0;
	}
	return -EINVAL;
}

/* A socket bound (and listening, for stream types) at one address. */
static int bind_one(int family, int type, const struct sockaddr *sa, socklen_t len, int backlog)
{
	_cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (family != AF_UNIX && type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, sa, len) < 0)
		return -errno;
	if (type != SOCK_DGRAM && listen(fd, backlog) < 0)
		return -errno;
	return TAKE_FD(fd);
}

int addr_bind(const struct listen_addr *a, int backlog, char *err, size_t errlen)
{
	err[0] = 0;
	if (a->family == AF_UNIX)
		return bind_one(AF_UNIX, a->type, (const struct sockaddr *)&a->un, a->un_len, backlog);

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = a->type, .ai_flags = AI_PASSIVE };
	struct addrinfo *res;
	bool any = !a->host[0] || strcmp(a->host, "*") == 0;
	int g = getaddrinfo(any ? NULL : a->host, a->port, &hints, &res);
	if (g != 0) {
		snprintf(err, errlen, "%s", gai_strerror(g));
		return g == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
	}
	int fd = -EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
		fd = bind_one(ai->ai_family, a->type, ai->ai_addr, ai->ai_addrlen, backlog);
	freeaddrinfo(res);
	return fd;
}

int addr_format(int fd, const struct listen_addr *a, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		size_t plen = len - offsetof(struct sockaddr_un, sun_path);
		if (plen > 0 && un->sun_path[0] == 0)
			snprintf(buf, size, "%s:@%.*s", a->scheme, (int)plen - 1, un->sun_path + 1);
		else
			snprintf(buf, size, "%s:%.*s", a->scheme, (int)strnlen(un->sun_path, plen), un->sun_path);
		return 0;
	}
	char host[NI_MAXHOST], port[NI_MAXSERV];
	int g = getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	if (g != 0)
		return -EINVAL;
	bool v6 = ss.ss_family == AF_INET6;
	snprintf(buf, size, "%s:%s%s%s:%s", a->scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
	return 0;
}

int addr_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}
