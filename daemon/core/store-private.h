/* SPDX-License-Identifier: MIT */
/* Shared by store.c and store-restore.c. */
#pragma once

#include <ev.h>

#include "reglog.h"
#include "store.h"

struct store {
	struct reglog log;
	bool ready;                  /* restored and compacted: appends go to the log */
	ev_timer compact;            /* compaction waits for the next loop iteration */
	uint64_t compactions;
};

/* Send one notification to the service manager, with fd (or -1). */
int store_notify(const char *text, int fd);
/* Tell systemd to drop the stored fd(s) called name. */
void store_forget_name(const char *name);
/* Write a snapshot of d->all as a new log now. */
int store_compact_now(struct daemon *d);
void store_entry_of(const struct held *h, struct reglog_entry *e);
