/* SPDX-License-Identifier: MIT */
/* Socket addresses as text, for logs, records and refusals. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "sockaddr.h"

void sockaddr_format(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	buf[0] = 0;
	switch (ss->ss_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t plen = len > off ? len - off : 0;
		if (plen == 0)
			break;   /* unnamed */
		if (un->sun_path[0] == 0)
			snprintf(buf, size, "@%.*s", (int)plen - 1, un->sun_path + 1);
		else
			snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, plen), un->sun_path);
		break;
	}
	}
}

int sockaddr_text(int fd, bool peer, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	buf[0] = 0;
	if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	sockaddr_format(&ss, len, buf, size);
	return 0;
}
