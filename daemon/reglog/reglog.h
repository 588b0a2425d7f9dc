/* SPDX-License-Identifier: MIT */
/*
 * The registry's metadata log: one record per held socket and per change,
 * appended to a memfd that systemd keeps in brokerd's fd store.  Appending
 * costs the size of one record; a snapshot every so often bounds the log
 * (amortised, each record is copied a constant number of times).  A crash
 * at any instant leaves either the old or the new state of the record
 * being written, never a corrupt registry.  reglog.c describes the format.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One held socket's metadata, as the log stores it. */
struct reglog_entry {
	uint64_t serial;
	uint64_t stored_as;          /* the serial whose fd store name holds the socket */
	uint64_t held_since;         /* CLOCK_REALTIME usec */
	uint64_t last_trigger;       /* CLOCK_REALTIME usec, 0 = never */
	uint64_t deadline;           /* keep-alive deadline, CLOCK_MONOTONIC usec, 0 = none */
	uint32_t keepalive_sec;
	uint32_t owner;
	uint8_t kind, state, reason, sotype;
	uint16_t family;
	uint16_t app_len, id_len;    /* the strings are not NUL-terminated in the log */
	uint32_t ctx_len;
	const char *app_id;
	const char *id;
	const void *ctx;
};

/* What a replay finds, in log order.  A callback that fails stops the
 * replay with its error. */
struct reglog_replay {
	int (*put)(void *ud, const struct reglog_entry *e);
	int (*update)(void *ud, uint64_t serial, uint8_t state, uint8_t reason,
		      uint64_t deadline, uint64_t last_trigger);
	int (*remove)(void *ud, uint64_t serial);
};

/* Test-only: which write to tear (see reglog_tear()). */
enum reglog_write {
	REGLOG_WRITE_NONE = 0,
	REGLOG_WRITE_PUT,
	REGLOG_WRITE_UPDATE,
	REGLOG_WRITE_REMOVE,
	REGLOG_WRITE_SNAPSHOT,
	REGLOG_WRITE_HEADER,
};

struct reglog {
	int fd;                      /* the memfd, owned */
	uint64_t gen;                /* of the header slot in force */
	uint32_t version;            /* of the log in force (replay reads older ones) */
	uint64_t epoch;              /* records of the current log carry it */
	uint64_t start, tail;        /* the current log: [start, tail) */
	uint64_t seq;                /* the next record's sequence number */
	uint64_t live;               /* bytes a snapshot of the live entries takes */
	uint64_t next_serial;        /* replay: above every serial the log mentions */
	uint64_t records, dropped;   /* replay: records read; bytes after the last valid one */
	uint8_t *buf;                /* scratch for one record or a batch of them */
	size_t buf_size;
};

/* A new memfd holding an empty log.  l->fd is the caller's to store. */
int reglog_create(struct reglog *l);

/* Take fd (consumed on success and on failure) as an existing log and
 * replay it into cb.  The log stays as it was: call reglog_compact() before
 * appending.  Returns 0, -EBADMSG when neither header slot is valid or the
 * log does not begin with a snapshot, or a callback's error. */
int reglog_load(struct reglog *l, int fd, const struct reglog_replay *cb, void *ud);

/* Write a snapshot of every live entry (each() fills *e and returns 1, or
 * 0 when there are no more, or a negative errno) as a new log after the
 * current one, then switch the header to it and free the old log's pages. */
int reglog_compact(struct reglog *l, uint64_t next_serial,
		   int (*each)(void *ud, struct reglog_entry *e), void *ud);

/* Is the log long enough, against the live entries, to be worth compacting? */
bool reglog_wants_compaction(const struct reglog *l);

int reglog_put(struct reglog *l, const struct reglog_entry *e);
int reglog_update(struct reglog *l, uint64_t serial, uint8_t state, uint8_t reason,
		  uint64_t deadline, uint64_t last_trigger);
/* put_size: reglog_put_size() of the entry being removed. */
int reglog_remove(struct reglog *l, uint64_t serial, size_t put_size);
size_t reglog_put_size(size_t app_len, size_t id_len, size_t ctx_len);

void reglog_close(struct reglog *l);

/* Test-only (BROKER_TEST_TEAR): the next write of this kind, by any log,
 * writes half of itself and then the process kills itself with SIGKILL. */
void reglog_tear(enum reglog_write what);
int reglog_write_from_name(const char *name);
