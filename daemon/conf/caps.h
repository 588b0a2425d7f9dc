/* SPDX-License-Identifier: MIT */
/*
 * Capabilities: which manifest capability covers a socket, decided from the
 * socket itself (family, type, protocol, listening or connected, local and
 * peer address), never from what the app says about it.
 *
 *   socket                                              needs
 *   AF_UNIX, any type                                    localSocket
 *   connected, peer private (see addr_scope)             privateNetworkClientServer
 *   connected outbound, peer public                      internetClient (or internetClientServer)
 *   connected inbound (accepted), peer public            internetClientServer
 *   listener or unconnected datagram, local private      privateNetworkClientServer
 *   listener or unconnected datagram, local public       internetClientServer
 *   listener or unconnected datagram, wildcard/unbound   internetClientServer
 *
 * A wildcard-bound (or unbound) listener or datagram socket receives on every
 * address the host has, public ones included, so it needs the server
 * capability for the internet.  A connected datagram socket only exchanges
 * with its peer and is classified by it, as outbound.  IPv4-mapped IPv6
 * addresses are classified as the IPv4 address they carry.  Docs:
 * docs/security.md.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "sockaddr.h"

enum addr_scope {
	SCOPE_WILDCARD = 0,   /* 0.0.0.0, ::: every address the host has */
	SCOPE_PRIVATE = 1,    /* RFC 1918, CGNAT, loopback, link-local, ULA, local multicast */
	SCOPE_PUBLIC = 2,     /* everything else */
};

/* What brokerd looks at.  inbound is worked out only where it decides
 * something: a connected TCP socket with a public peer. */
struct sock_facts {
	int family;
	int sotype;
	int protocol;
	bool listening;
	bool connected;
	bool inbound;       /* accepted: a listener owns its local port (sock_diag) */
	struct sockaddr_storage local, peer;
};

/* The scope of an AF_INET or AF_INET6 address; -EAFNOSUPPORT otherwise. */
int addr_scope(const struct sockaddr *sa);

/* Read the facts of socket fd: brokerd's one socket classifier, for
 * transfers, capabilities and the held socket's kind.  Errors: -ENOTSOCK,
 * -EBADF and other getsockopt/getsockname errors.  *ret is written only on
 * success. */
int sock_facts_get(int fd, struct sock_facts *ret);

/* The kind of held socket (BROKER_KIND_*) that a socket with these facts
 * is, or -EAFNOSUPPORT (not AF_INET, AF_INET6 or AF_UNIX), -EPROTOTYPE (not
 * stream, seqpacket or datagram), -ENOTCONN (a stream neither connected
 * nor listening). */
int sock_facts_kind(const struct sock_facts *f);

/* The one capability bit (CAP_*) that covers a socket with these facts, or
 * -EAFNOSUPPORT (a family no capability covers), -EPROTOTYPE (a type or
 * protocol no capability covers), -ENOTCONN (a stream neither connected nor
 * listening).  why (may be NULL) gets one sentence about the socket. */
int caps_required(const struct sock_facts *f, char *why, size_t len);

/* Does a manifest granting `granted` cover a socket that needs `required`? */
bool caps_cover(unsigned granted, unsigned required);

/* Check socket fd against the granted capabilities: 0, -EACCES with why
 * naming the missing capability, or an error of sock_facts_get() or
 * caps_required() with why saying what is wrong with the socket. */
int caps_check(int fd, unsigned granted, char *why, size_t len);
/* The same, for facts already read. */
int caps_check_facts(const struct sock_facts *f, unsigned granted, char *why, size_t len);

