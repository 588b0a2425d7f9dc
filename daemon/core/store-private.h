/* SPDX-License-Identifier: MIT */
/* Shared by store.c and store-restore.c. */
#pragma once

#include <ev.h>
#include <systemd/sd-bus.h>

#include "reglog.h"
#include "store.h"

struct store {
	struct reglog log;
	bool ready;                  /* restored and compacted: appends go to the log */
	ev_timer compact;            /* compaction waits for the next loop iteration */
	uint64_t compactions;
	unsigned stored;             /* held sockets put in the fd store and not taken out */
	unsigned manager_stored;     /* what the manager said it stores, at the last audit */
	unsigned lost;               /* fds found missing from the manager's store, in all */
	ev_timer audit;              /* store-audit.c */
	bool audit_recheck;
	bool no_manager_count;       /* said once that the manager cannot be asked */
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
