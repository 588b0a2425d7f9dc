/* SPDX-License-Identifier: MIT */
/* Shared by store.c and store-restore.c. */
#pragma once

#include <ev.h>
#include <systemd/sd-bus.h>

#include "reglog.h"
#include "store.h"

/* store-bucket.c: held sockets in flight in a socketpair, one fd store
 * entry per bucket. */
#define STORE_USER_BUDGET 512       /* sockets in buckets under a user manager */
#define BUCKET_MAX 253             /* SCM_RIGHTS' limit per message (SCM_MAX_FD) */
#define BUCKET_NAME_MAX 20         /* "bucket." and 11 digits */

struct bslot {
	uint64_t key;                /* the serial the socket is stored as */
	struct held *h;              /* its holder; NULL: gone, still in the bucket */
};

struct bucket {
	uint64_t gen;                /* its fd store name: "bucket." and gen's digits */
	int rfd;                     /* the receiving end, stored (brokerd's copy) */
	int sfd;                     /* the sending end (-1 in a bucket restored) */
	uint16_t used, live;         /* slots written; of them, still held */
	bool dirty;                  /* has gone slots: rewrite it */
	bool foreign;                /* has tombstones of other buckets' sockets: rewritten
	                                only once no other bucket has gone slots */
	struct bslot slot[BUCKET_MAX];
};

/* One message in a bucket: the keys of its nfds fds, in SCM_RIGHTS order,
 * then ndead keys of sockets removed since (tombstones, for any bucket). */
#define BUCKET_MAGIC 0x3155425au   /* "ZBU1" */
struct bucket_msg {
	uint32_t magic;
	uint16_t nfds, ndead;
	uint64_t keys[];
};

enum bucket_tear { BUCKET_TEAR_NONE, BUCKET_TEAR_SENT, BUCKET_TEAR_STORED };

struct store {
	struct reglog log;
	struct bucket **buckets;     /* held->bucket is an index + 1 */
	unsigned table_size, nbuckets;
	unsigned open;               /* index + 1 of the bucket appends go to, 0 = none */
	uint64_t bucket_gen;         /* the last bucket name given */
	unsigned bucket_budget;      /* held sockets in buckets at most (fds in flight) */
	ev_timer rewrite;            /* dirty buckets, a moment after the first removal */
	bool ready;                  /* restored and compacted: appends go to the log */
	ev_timer compact;            /* compaction waits for the next loop iteration */
	uint64_t compactions;
	unsigned stored;             /* held sockets put in the fd store and not taken out */
	unsigned manager_stored;     /* what the manager said it stores, at the last audit */
	unsigned lost;               /* fds found missing from the manager's store, in all */
	ev_timer audit;              /* store-audit.c */
	bool audit_recheck;
	bool no_manager_count;       /* said once that the manager cannot be asked */
	unsigned ask_tries;          /* asks this audit that the manager did not answer */
	sd_bus *bus;
	char *unit_path;
};

/* store-audit.c */
void store_audit_init(struct daemon *d);
void store_audit_done(struct daemon *d);

/* Send one notification to the service manager, with fd (or -1). */
int store_notify(const char *text, int fd);
/* Tell systemd to drop the stored fd(s) called name. */
void store_forget_name(const char *name);
/* Write a snapshot of d->all as a new log now. */
int store_compact_now(struct daemon *d);
void store_entry_of(const struct held *h, struct reglog_entry *e);

/* Test-only: BROKER_TEST_TEAR's bucket steps (store_bucket_tear()). */
void store_maybe_tear(enum bucket_tear at);
/* From now on (after the restore), store_maybe_tear() tears. */
void store_tear_ready(void);

/* store-bucket.c */
void bucket_init(struct daemon *d);
/* Put h's socket (under h->stored_as) in the open bucket; sets h->bucket.
 * Durable when it returns 0; -ETOOMANYREFS past the in-flight limit. */
int bucket_add(struct daemon *d, struct held *h);
/* h took over its socket's slot from an entry it replaced (same socket). */
void bucket_carry(struct daemon *d, struct held *h);
/* h's socket leaves its bucket: a tombstone makes that durable at once
 * (or the bucket is rewritten now), the bucket is rewritten without it a
 * moment later, and so the socket's last copy goes. */
void bucket_drop(struct daemon *d, struct held *h);
/* A stored bucket in the table (rfd and sfd consumed, sfd may be -1). */
int bucket_insert(struct store *s, int rfd, int sfd, uint64_t gen, unsigned *ret_idx);
/* After a restore: slots no held socket has are gone, dirty buckets are
 * rewritten (a bucket with room takes appends again), sockets stored on
 * their own (before buckets) move in. */
void bucket_settle(struct daemon *d);
/* Rewrite every dirty bucket now, those with foreign tombstones last;
 * or after `after` seconds. */
void bucket_rewrite_dirty(struct daemon *d);
void bucket_schedule(struct daemon *d, double after);
/* FDSTORE=1 of a bucket's receiving end under its name. */
int bucket_pair_store(int rfd, uint64_t gen);
/* Held sockets in buckets. */
unsigned bucket_total(const struct store *s);
void bucket_name(uint64_t gen, char buf[static BUCKET_NAME_MAX]);
int bucket_gen_from_name(const char *name, uint64_t *ret);

/* store-bucket-load.c: limits at start (max-held, the bucket budget), and
 * every fd of a stored bucket, read without taking it. */
void store_fit_to_manager(struct daemon *d);
unsigned store_bucket_budget(void);
struct bucket_fd {
	int fd;
	uint32_t bucket;             /* index + 1 */
	uint64_t key;
};
struct bucket_fds {
	struct bucket_fd *v;
	size_t n, cap;
	uint64_t *dead;              /* tombstones, any bucket's */
	size_t ndead, dead_cap;
};
/* Read bucket rfd (consumed) into the table and its fds into out. */
int bucket_load(struct daemon *d, int rfd, uint64_t gen, struct bucket_fds *out);
