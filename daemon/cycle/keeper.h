/* SPDX-License-Identifier: MIT */
/*
 * Streams relayed by the TLS keeper (broker-tls-keeper(8)).  An app's
 * holdable TLS connection is an AF_UNIX stream to the keeper, which holds
 * the real TCP connection.  The keeper tells brokerd, for each stream, the
 * inode of the app's end and the TCP socket itself (BP_KEEPER); brokerd
 * reads that socket's facts with its own classifier and keeps them, so a
 * transfer of the stream is judged by the real connection's capability.
 *
 * Only the keeper executable brokerd.conf names (tls-keeper=) is believed:
 * its pid, from SO_PEERCRED of the control connection, must run that file.
 * A stream whose peer (SO_PEERCRED: the socketpair's creator) runs the
 * keeper but which it never registered is refused, so an app cannot pass
 * the internet off as a local socket; unless the keeper has closed its end
 * already (its session ended and it forgot the stream): that stream leads
 * nowhere, needs no capability, and wakes its app with socket-closed.
 */
#pragma once

#include "caps.h"
#include "core.h"

/* BP_KEEPER from identity who on control connection owner: note that the
 * keeper's stream with app end inode ino goes through TCP socket tcp_fd
 * (consumed), or with tcp_fd < 0 forget it.  0, or -EPERM (not the
 * keeper), -EPROTOTYPE (not a connected TCP socket), -ENOSPC (too many),
 * -ENOENT (forget: not known), with why. */
int keeper_note(struct daemon *d, const struct identity *who, const void *owner, uint64_t ino,
		int tcp_fd, char *why, size_t len);

/* The control connection owner is gone: forget what it registered. */
void keeper_forget_owner(struct daemon *d, const void *owner);

/* For a transfer of fd, a connected AF_UNIX stream: 1 with the real
 * connection's facts in *ret if it is a keeper's registered stream,
 * KEEPER_GONE if it is the keeper's but the keeper has closed its end, 0 if
 * it is no keeper's, -ENOLINK (with why) if it is the keeper's, open, but
 * unknown. */
#define KEEPER_GONE 2
int keeper_facts(struct daemon *d, int fd, struct sock_facts *ret, char *why, size_t len);
