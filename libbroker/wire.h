/* SPDX-License-Identifier: MIT */
/* Sending and receiving one SOCK_SEQPACKET message with its fds. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "proto.h"

/* Send one packet with nfds fds (the fds stay the caller's: the kernel
 * duplicates them).  MSG_NOSIGNAL always; flags adds e.g. MSG_DONTWAIT.
 * Retries EINTR.  Returns 0 or a negative errno (-EAGAIN, -EPIPE, ...). */
int bp_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);

/* The kernel's limit of fds in one SCM_RIGHTS message (SCM_MAX_FD), which
 * is the protocol's too. */
#define BP_SCM_MAX_FD 253
_Static_assert(BP_FDS_MAX == BP_SCM_MAX_FD, "a message carries what SCM_RIGHTS can");

/* bp_send() for a packet that need not be a protocol message (the store's
 * buckets, the tests and fuzzers that send wrong ones): up to
 * BP_SCM_MAX_FD fds. */
int bp_send_any(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);

/* Receive one packet into buf (cap bytes) and decode it into *ret.
 * Always MSG_CMSG_CLOEXEC.  Returns 1 with a message (its fds in ret->fds,
 * now owned by the caller), 0 on end of stream, or a negative errno:
 *   -EMSGSIZE      the packet was larger than cap (MSG_TRUNC)
 *   -ETOOMANYREFS  more fds than BP_FDS_MAX arrived (MSG_CTRUNC), or the
 *                  count does not match the header
 *   -EBADMSG, -EOPNOTSUPP from bp_decode()
 *   -EAGAIN and other recvmsg() errors
 * On every error, every fd that arrived has been closed and *ret is
 * untouched.  On -EBADMSG/-EOPNOTSUPP/-ETOOMANYREFS/-EMSGSIZE the header's
 * type and seq are put in *ret_type and *ret_seq when the packet had a header
 * (so the caller can still address an error reply); both may be NULL. */
int bp_recv(int sock, void *buf, size_t cap, int flags, struct bp_msg *ret,
	    unsigned *ret_type, uint32_t *ret_seq);

/* Encode and send in one step, with buf as scratch space. */
int bp_send_msg(int sock, void *buf, size_t cap, unsigned type, uint32_t seq,
		const void *fixed, size_t fixed_size,
		const struct bp_field *fields, unsigned nfields,
		const int *fds, unsigned nfds, int flags);

/* Connect a new CLOEXEC AF_UNIX socket of the given type to path (blocking
 * connect).  Returns the fd, -ENAMETOOLONG, or connect()'s errno. */
int bp_connect_unix(const char *path, int type);
/* The same, bounded: connect waits at most timeout_ms (>= 0) for room in
 * a full backlog (-ETIMEDOUT), and the socket keeps that bound for every
 * blocking send (SO_SNDTIMEO: a send that waits longer fails -EAGAIN). */
int bp_connect_unix_timeout(const char *path, int type, int timeout_ms);
