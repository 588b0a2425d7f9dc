/* SPDX-License-Identifier: MIT */
/* Durability: held sockets in systemd's fd store, metadata in a memfd.
 * Without systemd (no $NOTIFY_SOCKET) every call is a no-op that succeeds. */
#pragma once

struct daemon;
struct held;

/* Called once at start, after the control socket is set up: take back
 * held sockets from LISTEN_FDS and their metadata. */
int store_restore(struct daemon *d, int *fds, char **names, int nfds);

/* A new held socket: store its fd and its metadata before it is acknowledged. */
int store_put(struct daemon *d, struct held *h);

/* h's state, reason or deadline changed. */
void store_update(struct daemon *d, struct held *h);

/* h is gone (handed back, claimed, dropped, replaced). */
void store_del(struct daemon *d, struct held *h);
