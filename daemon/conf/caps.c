/* SPDX-License-Identifier: MIT */
/* Capabilities, decided from the socket itself; the table is in caps.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <socket-broker/broker.h>

#include "caps.h"
#include "manifest.h"
#include "sockaddr.h"
#include "util.h"

static int scope_v4(uint32_t a)
{
	if (a == 0)
		return SCOPE_WILDCARD;
	if ((a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||  /* this network, RFC 1918, loopback */
	    (a & 0xfff00000u) == 0xac100000u ||                        /* 172.16/12 */
	    (a & 0xffff0000u) == 0xc0a80000u ||                        /* 192.168/16 */
	    (a & 0xffff0000u) == 0xa9fe0000u ||                        /* 169.254/16 link-local */
	    (a & 0xffc00000u) == 0x64400000u ||                        /* 100.64/10 CGNAT */
	    (a & 0xffffff00u) == 0xe0000000u ||                        /* 224.0.0/24 local multicast */
	    (a >> 24) == 239 ||                                        /* admin-scoped multicast */
	    a == 0xffffffffu)                                          /* limited broadcast */
		return SCOPE_PRIVATE;
	return SCOPE_PUBLIC;
}

static int scope_v6(const struct in6_addr *a)
{
	const uint8_t *b = a->s6_addr;
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return SCOPE_WILDCARD;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		uint32_t v4;
		memcpy(&v4, b + 12, sizeof(v4));
		return scope_v4(ntohl(v4));
	}
	if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
	    (b[0] & 0xfe) == 0xfc)                                     /* fc00::/7 ULA */
		return SCOPE_PRIVATE;
	if (IN6_IS_ADDR_MULTICAST(a))                                  /* scope nibble: up to site-local */
		return (b[1] & 0x0f) <= 5 ? SCOPE_PRIVATE : SCOPE_PUBLIC;
	return SCOPE_PUBLIC;
}

int addr_scope(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return scope_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family == AF_INET6)
		return scope_v6(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return -EAFNOSUPPORT;
}

static int sockopt_int(int fd, int opt, int *ret)
{
	int v = 0;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) < 0)
		return -errno;
	*ret = v;
	return 0;
}

/* The kernel keeps no flag for "accepted".  A connected TCP socket counts
 * as inbound when a listener in brokerd's network namespace owns its local
 * port, on its local address or the wildcard.  1, 0 or a negative errno. */
static int port_has_listener(const struct sock_facts *f)
{
	const void *addr;
	size_t alen;
	uint16_t port;
	if (f->family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&f->local;
		addr = &in->sin_addr, alen = 4, port = in->sin_port;
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&f->local;
		addr = &in6->sin6_addr, alen = 16, port = in6->sin6_port;
	}

	_cleanup_close_ int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q = {
		.nlh = { .nlmsg_len = sizeof(q), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.req = { .sdiag_family = (uint8_t)f->family, .sdiag_protocol = IPPROTO_TCP,
			 .idiag_states = 1u << TCP_LISTEN, .id.idiag_sport = port },
	};
	if (send(nl, &q, sizeof(q), MSG_NOSIGNAL) < 0)
		return -errno;

	static const uint8_t zero[16];
	union {
		struct nlmsghdr align;
		uint8_t buf[16384];
	} u;
	for (;;) {
		ssize_t n = recv(nl, u.buf, sizeof(u.buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		size_t left = (size_t)n;
		for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EIO;
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				continue;
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			if (m->id.idiag_sport == port &&
			    (memcmp(m->id.idiag_src, zero, alen) == 0 || memcmp(m->id.idiag_src, addr, alen) == 0))
				return 1;
		}
	}
}

int sock_facts_get(int fd, struct sock_facts *ret)
{
	struct sock_facts f = { 0 };
	int listening = 0, r;
	/* Few calls: every transfer pays for them.  The type first, so a
	 * non-socket fails at once with -ENOTSOCK. */
	if ((r = sockopt_int(fd, SO_TYPE, &f.sotype)) < 0 || (r = sockopt_int(fd, SO_PROTOCOL, &f.protocol)) < 0)
		return r;
	/* The local address tells the family, where the family has one. */
	socklen_t len = sizeof(f.local);
	if (getsockname(fd, (struct sockaddr *)&f.local, &len) == 0 && len >= sizeof(sa_family_t))
		f.family = f.local.ss_family;
	else if ((r = sockopt_int(fd, SO_DOMAIN, &f.family)) < 0)
		return r;
	if (f.family != AF_INET && f.family != AF_INET6 && f.family != AF_UNIX) {
		*ret = f;   /* refused by family: addresses do not matter (and packet sockets have no peer) */
		return 0;
	}
	len = sizeof(f.peer);
	if (getpeername(fd, (struct sockaddr *)&f.peer, &len) == 0)
		f.connected = true;
	else if (errno != ENOTCONN)
		return -errno;
	/* A connected socket cannot be listening: ask only the others. */
	if (!f.connected) {
		if ((r = sockopt_int(fd, SO_ACCEPTCONN, &listening)) < 0)
			return r;
		f.listening = listening;
	}

	if (f.connected && f.sotype == SOCK_STREAM &&
	    (f.family == AF_INET || f.family == AF_INET6) &&
	    addr_scope((struct sockaddr *)&f.peer) == SCOPE_PUBLIC) {
		/* Where the direction cannot be told, assume the stricter one. */
		r = port_has_listener(&f);
		f.inbound = r != 0;
	}
	*ret = f;
	return 0;
}

int sock_facts_kind(const struct sock_facts *f)
{
	if (f->family != AF_INET && f->family != AF_INET6 && f->family != AF_UNIX)
		return -EAFNOSUPPORT;
	if (f->sotype == SOCK_DGRAM)
		return BROKER_KIND_DATAGRAM;
	if (f->sotype != SOCK_STREAM && f->sotype != SOCK_SEQPACKET)
		return -EPROTOTYPE;
	if (f->connected)
		return BROKER_KIND_STREAM;
	return f->listening ? BROKER_KIND_LISTENER : -ENOTCONN;
}

static const char *family_name(int family)
{
	switch (family) {
	case AF_NETLINK: return "netlink";
	case AF_PACKET: return "packet";
	case AF_VSOCK: return "vsock";
	case AF_ALG: return "alg";
	case AF_BLUETOOTH: return "bluetooth";
	case AF_CAN: return "can";
	case AF_TIPC: return "tipc";
	case AF_XDP: return "xdp";
	default: return "unknown";
	}
}

#define SAY(...) (why ? (void)snprintf(why, len, __VA_ARGS__) : (void)0)

/* Listeners and unconnected datagram sockets: by the address they receive on. */
static int required_by_local(const struct sock_facts *f, const char *what, char *why, size_t len)
{
	char addr[128] = "";
	if (why)
		sockaddr_format(&f->local, sizeof(f->local), addr, sizeof(addr));
	switch (addr_scope((const struct sockaddr *)&f->local)) {
	case SCOPE_PRIVATE:
		SAY("%s on %s (a private address)", what, addr);
		return CAP_PRIVATE_NETWORK;
	case SCOPE_WILDCARD:
		SAY("%s on %s (every address of the host, public ones included)", what, addr);
		return CAP_INTERNET_CLIENT_SERVER;
	default:
		SAY("%s on %s (a public address)", what, addr);
		return CAP_INTERNET_CLIENT_SERVER;
	}
}

int caps_required(const struct sock_facts *f, char *why, size_t len)
{
	bool stream = f->sotype == SOCK_STREAM || f->sotype == SOCK_SEQPACKET;

	if (f->family == AF_UNIX) {
		if (!stream && f->sotype != SOCK_DGRAM) {
			SAY("brokerd holds no AF_UNIX sockets of type %d", f->sotype);
			return -EPROTOTYPE;
		}
		if (stream && !f->listening && !f->connected) {
			SAY("the AF_UNIX socket is neither connected nor listening");
			return -ENOTCONN;
		}
		SAY("an AF_UNIX socket");
		return CAP_LOCAL;
	}
	if (f->family != AF_INET && f->family != AF_INET6) {
		SAY("brokerd holds no sockets of address family %d (%s): no capability covers it",
		    f->family, family_name(f->family));
		return -EAFNOSUPPORT;
	}
	const char *proto;
	if (f->sotype == SOCK_STREAM && (f->protocol == IPPROTO_TCP || f->protocol == IPPROTO_MPTCP))
		proto = "TCP";
	else if (f->sotype == SOCK_DGRAM && f->protocol == IPPROTO_UDP)
		proto = "UDP";
	else {
		SAY("brokerd holds TCP and UDP sockets only, not type %d protocol %d: no capability covers it",
		    f->sotype, f->protocol);
		return -EPROTOTYPE;
	}
	if (f->listening)
		return required_by_local(f, "a TCP listener", why, len);
	if (!f->connected) {
		if (stream) {
			SAY("the TCP socket is neither connected nor listening");
			return -ENOTCONN;
		}
		return required_by_local(f, "an unconnected UDP socket", why, len);
	}

	char addr[128] = "";
	if (why)
		sockaddr_format(&f->peer, sizeof(f->peer), addr, sizeof(addr));
	if (addr_scope((const struct sockaddr *)&f->peer) != SCOPE_PUBLIC) {
		SAY("a %s connection with %s (a private address)", proto, addr);
		return CAP_PRIVATE_NETWORK;
	}
	if (f->inbound) {
		SAY("a %s connection accepted from %s (a public address)", proto, addr);
		return CAP_INTERNET_CLIENT_SERVER;
	}
	SAY("a %s connection to %s (a public address)", proto, addr);
	return CAP_INTERNET_CLIENT;
}

bool caps_cover(unsigned granted, unsigned required)
{
	if (required == CAP_INTERNET_CLIENT)
		return granted & (CAP_INTERNET_CLIENT | CAP_INTERNET_CLIENT_SERVER);
	return granted & required;
}

int caps_check(int fd, unsigned granted, char *why, size_t len)
{
	struct sock_facts f;
	int r = sock_facts_get(fd, &f);
	if (r < 0)
		return r;
	return caps_check_facts(&f, granted, why, len);
}

int caps_check_facts(const struct sock_facts *f, unsigned granted, char *why, size_t len)
{
	char what[256];
	int need = caps_required(f, why ? what : NULL, sizeof(what));   /* no text nobody reads */
	if (need < 0) {
		SAY("%s", what);
		return need;
	}
	if (caps_cover(granted, (unsigned)need))
		return 0;
	SAY("missing capability %s for %s", manifest_cap_name((unsigned)need), what);
	return -EACCES;
}
