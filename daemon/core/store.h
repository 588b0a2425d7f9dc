/* SPDX-License-Identifier: MIT */
/*
 * Durability: held sockets in flight in socketpair "buckets" of up to 253,
 * each bucket's receiving end in systemd's fd store (store-bucket.c), the
 * registry's metadata in a memfd log stored next to them (reglog.h).  Without systemd (no $NOTIFY_SOCKET) every call is a
 * no-op that succeeds.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct held;

/* Called once at start, after the manifests are loaded: take fds (the
 * array's fds are consumed) and rebuild the held sockets they and the
 * metadata describe; re-arm watches, keep-alive deadlines and pending
 * triggers.  Fds without metadata are logged, closed and removed from the
 * fd store.  Returns 0 or a negative errno (out of memory). */
int store_restore(struct daemon *d, int *fds, char **names, int nfds);

/* Is name one that store_restore() takes (a bucket's, the registry's, or a
 * held socket's stored on its own by a brokerd before buckets)? */
bool store_owns_name(const char *name);

/* A new held socket: its metadata and its fd are stored before it is
 * acknowledged.  On failure nothing is stored. */
int store_put(struct daemon *d, struct held *h);

/* h replaced an entry of the same socket and keeps its stored copy
 * (h->stored_as carried over): h is its holder from now on. */
void store_carry(struct daemon *d, struct held *h);

/* h's state, reason or deadline changed. */
void store_update(struct daemon *d, struct held *h);

/* h is gone (handed back, claimed, dropped, replaced).  Not called while
 * brokerd stops: the next start takes everything back. */
void store_del(struct daemon *d, struct held *h);

/* Check that the service manager stores every held socket (store-audit.c):
 * now (after a restore), or after this burst of store operations (in
 * builds that audit).  A shortfall is logged and the sockets stored again. */
void store_audit_now(struct daemon *d);
void store_audit_soon(struct daemon *d);

/* For STATUS: held sockets in the fd store (UINT32_MAX without one), and
 * fds the manager was found to have dropped since brokerd started. */
void store_counts(const struct daemon *d, uint32_t *ret_stored, uint32_t *ret_lost);

/* Release the store's memory (the fd store itself stays as it is). */
void store_free(struct daemon *d);

/* The fd store name for a serial: base64url digits, at most 11 characters.
 * Short names matter: systemd passes them all in one LISTEN_FDNAMES
 * environment string, which the kernel caps at 128 KiB. */
void store_fdname(uint64_t serial, char buf[static 12]);
int store_serial_from_fdname(const char *name, uint64_t *ret);

/* Test-only (BROKER_TEST_TEAR): "bucket-sent" kills brokerd in the next
 * bucket rewrite after the new bucket has the fds, "bucket-stored" after
 * it is stored and before the old one is removed.  0 or -EINVAL. */
int store_bucket_tear(const char *name);

#define STORE_REGISTRY_NAME "registry.v1"
