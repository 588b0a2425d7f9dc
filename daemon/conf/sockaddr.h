/* SPDX-License-Identifier: MIT */
/* Socket addresses as text. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* An address as text: "1.2.3.4:80", "[::1]:80", "/path", "@abstract", ""
 * for an unnamed AF_UNIX socket. */
void sockaddr_format(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t size);

/* The local (peer false) or peer address of socket fd as text; on error
 * buf is "" and the result a negative errno. */
int sockaddr_text(int fd, bool peer, char *buf, size_t size);
