/* SPDX-License-Identifier: MIT */
/* Held sockets: found by app and id, made from a transfer or from the
 * registry log.  Their transitions are lifecycle.h's. */
#pragma once

#include "caps.h"
#include "core.h"

struct reglog_entry;

struct held *held_find(struct app *a, const char *id);
/* The held socket that is the same socket as fd (same inode), or NULL. */
struct held *held_find_file(struct daemon *d, uint64_t ino);
/* a's socket in flight (HANDING_BACK) with this serial, or NULL. */
struct held *held_find_inflight(struct app *a, uint64_t serial);
/* fd's inode in *ret; 0 or a negative errno. */
int held_ino(int fd, uint64_t *ret);
/* The orders of an app's index (by id), of d->file_index (by inode) and
 * of an app's inflight_index (by serial). */
int held_cmp(const void *a, const void *b);
int held_file_cmp(const void *a, const void *b);
int held_serial_cmp(const void *a, const void *b);
/* A zeroed held with its id, context and (keepalive_sec > 0) timer in place. */
struct held *held_alloc(const char *id, size_t id_len, const void *ctx, uint32_t ctx_len,
			uint32_t keepalive_sec);

/* Hold socket fd, whose facts f are (sock_facts_get) and whose inode is ino
 * (0: look it up), for app a under id, transferred by who; WATCHING.  It
 * replaces what a holds under id; if that is the same socket, its fd store
 * entry carries over to the new one (systemd drops a second copy of a
 * stored socket).  fd is consumed on success and on failure.  Returns 0
 * with *ret set (if ret), or a negative errno: sock_facts_kind()'s,
 * -EEXIST (the same socket is held under another id), -ENOMEM, or the
 * store's or the poll set's. */
int held_add_facts(struct daemon *d, struct app *a, const char *id, int fd, const struct sock_facts *f,
		   uint64_t ino, const void *ctx, uint32_t ctx_len, uint32_t keepalive_sec,
		   const struct identity *who, struct held **ret);
/* The same, reading the facts first (owner: the uid it is held for). */
int held_add(struct daemon *d, struct app *a, const char *id, int fd, const void *ctx,
	     uint32_t ctx_len, uint32_t keepalive_sec, uid_t owner, struct held **ret);

/* Hold fd again as the restored entry e describes (consumed on success and
 * on failure), in its state (lifecycle_restore).  An entry of the same id,
 * or of the same socket, is replaced: the later transfer wins. */
int held_restore(struct daemon *d, struct app *a, const struct reglog_entry *e, int fd,
		 struct held **ret);

unsigned held_count_state(struct daemon *d, int state);

/* An admin dropped the socket fd: remember it (its SO_COOKIE, never reused;
 * the last 64), so that its app cannot hold it again by transferring it
 * back, say from a hand-back that was in flight. */
void held_remember_dropped(struct daemon *d, int fd);
bool held_dropped_before(const struct daemon *d, int fd);
