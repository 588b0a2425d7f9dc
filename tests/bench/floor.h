/* SPDX-License-Identifier: MIT */
/* The raw SCM_RIGHTS floors the hand-off and storm scenarios compare with. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

/* One message of len bytes with fd attached (fd < 0: none).  0 or -errno. */
int floor_send(int s, const void *buf, size_t len, int fd, int flags);
/* One message; *ret_fd is the fd that came with it or -1.  Bytes or -errno. */
ssize_t floor_recv(int s, void *buf, size_t cap, int *ret_fd);

/* A holder process at the other end of a SOCK_SEQPACKET socketpair. */
struct floor {
	int sock;
	pid_t pid;
};
int floor_start(struct floor *f);
/* Transfer fd (consumed) and claim it back: the floor's two round trips.
 * Returns the fd as it came back, or a negative errno. */
int floor_handoff(struct floor *f, int fd);
void floor_stop(struct floor *f);

/* Stream fd n times to a receiver process that acknowledges and closes each
 * copy; milliseconds until the last acknowledgement, or -1. */
double floor_pipelined(int fd, unsigned n);

/* floor_pipelined() three times with one real TCP socket (a pair made
 * through listener) as the fd; the median, in milliseconds.  Dies if the
 * floor fails. */
double floor_pipelined_median(int listener, uint16_t port, unsigned n);
