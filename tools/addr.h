/* SPDX-License-Identifier: MIT */
/* Addresses that brokerctl listen creates sockets at. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

struct listen_addr {
	const char *scheme;      /* "tcp", "udp", "unix", "seqpacket", "unixgram" */
	int family;              /* AF_UNIX, or AF_UNSPEC until resolved */
	int type;                /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	char host[256], port[32];        /* tcp/udp; host "" or "*": any */
	struct sockaddr_un un;           /* unix kinds */
	socklen_t un_len;
};

/* Parse ADDR; -EINVAL or -ENAMETOOLONG if it is not one, -ERANGE for a
 * numeric port above 65535.  *ret only on success. */
int addr_parse(const char *text, struct listen_addr *ret);

/* Create a socket bound at a (listening, for stream and seqpacket; TCP with
 * SO_REUSEADDR).  Returns the fd (O_CLOEXEC, the caller's) or a negative
 * errno; name-resolution errors also leave a sentence in err. */
int addr_bind(const struct listen_addr *a, int backlog, char *err, size_t errlen);

/* The address fd is bound at, written as ADDR ("tcp:[::1]:41234"). */
int addr_format(int fd, const struct listen_addr *a, char *buf, size_t size);

/* The port fd is bound at, or a negative errno for non-IP sockets. */
int addr_port(int fd);
