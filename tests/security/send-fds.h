/* SPDX-License-Identifier: MIT */
/* Send one packet with any number of fds (up to SCM_MAX_FD, 253): what
 * libbroker's bp_send() refuses to do, for tests and fuzzers that must. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define SEND_FDS_MAX 253   /* BP_SCM_MAX_FD */

/* bp_send_any() with sendmsg()'s conventions: len, or -1 and errno. */
ssize_t send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);
